"""gRPC servicers of the attendance service: thin adapters over :class:`Directory`, the
visits and the detectors (each RPC answered by one domain method, :meth:`Servicer.answering`)."""

from __future__ import annotations

from datetime import timedelta

from salesguard.errors import InvalidInput
from salesguard.grpc_server import Servicer, respond
from salesguard.policy import PolicyClient
from salesguard.principal import current_principal
from salesguard.timeutil import from_timestamp
from salesguard_api.attendance.v1 import directory_pb2 as pb
from salesguard_api.attendance.v1 import directory_pb2_grpc, visits_pb2, visits_pb2_grpc
from salesguard_attendance.calllogs import CallLogs
from salesguard_attendance.contacts import Contacts
from salesguard_attendance.detectors import Detectors
from salesguard_attendance.directory import Directory
from salesguard_attendance.directory_reads import MAX_ACTIONS, DirectoryReads
from salesguard_attendance.photo_evidence import Photos
from salesguard_attendance.plans import VisitPlans
from salesguard_attendance.visits import Visits

MAX_DETECTOR_RANGE = timedelta(days=92)


def directory_servicer(directory: Directory, reads: DirectoryReads) -> Servicer:
    async def permitted_actions(request: pb.ListPermittedActionsRequest) -> list[str]:
        if len(request.actions) > MAX_ACTIONS:
            raise InvalidInput("actions", f"at most {MAX_ACTIONS} actions at once")
        return await reads.permitted_actions(list(request.actions))

    return Servicer.answering(
        directory_pb2_grpc.DirectoryServiceServicer,
        UpsertBranch=respond(
            pb.UpsertBranchResponse,
            branch=lambda request: directory.upsert_branch(request.branch),
        ),
        UpsertTeam=respond(
            pb.UpsertTeamResponse, team=lambda request: directory.upsert_team(request.team)
        ),
        UpsertEmployee=respond(pb.UpsertEmployeeResponse, employee=directory.upsert_employee),
        GetEmployee=respond(
            pb.GetEmployeeResponse, employee=lambda request: reads.get_employee(request.id)
        ),
        BatchGetEmployees=respond(
            pb.BatchGetEmployeesResponse,
            employees=lambda request: reads.batch_get_employees(list(request.ids)),
        ),
        ListEmployees=reads.list_employees,
        ListBranches=respond(pb.ListBranchesResponse, branches=lambda _: reads.list_branches()),
        ListTeams=respond(
            pb.ListTeamsResponse, teams=lambda request: reads.list_teams(request.branch_id)
        ),
        ResolvePrincipal=lambda request: reads.resolve_principal(request.employee_id),
        ListPermittedActions=respond(pb.ListPermittedActionsResponse, actions=permitted_actions),
        WatchDirectoryChanges=lambda _: reads.watch_changes(),
    )


def visits_servicer(
    visits: Visits,
    plans: VisitPlans,
    photos: Photos,
    call_logs: CallLogs,
    detectors: Detectors,
    contacts: Contacts,
    policy: PolicyClient,
) -> Servicer:
    async def run_detectors(
        request: visits_pb2.RunDetectorsRequest,
    ) -> visits_pb2.RunDetectorsResponse:
        (await policy.decide(current_principal(), "detectors.run")).require("detectors.run")
        start, end = (
            from_timestamp(getattr(request, "from"), "from"),
            from_timestamp(request.to, "to"),
        )
        if start is None or end is None or not start < end:
            raise InvalidInput("from", "a range with from before to is required")
        if end - start > MAX_DETECTOR_RANGE:
            raise InvalidInput("to", f"at most {MAX_DETECTOR_RANGE.days} days per run")
        raised, employees = await detectors.run(start, end, request.employee_id or None)
        return visits_pb2.RunDetectorsResponse(alerts_raised=raised, employees_checked=employees)

    return Servicer.answering(
        visits_pb2_grpc.VisitsServiceServicer,
        CreatePhotoUpload=photos.create_upload,
        PlanVisit=respond(visits_pb2.PlanVisitResponse, visit_plan=plans.plan_visit),
        ListVisitPlans=plans.list_visit_plans,
        CheckIn=visits.check_in,
        CheckOut=visits.check_out,
        GetCheckIn=respond(visits_pb2.GetCheckInResponse, check_in=visits.get_check_in),
        ListCheckIns=visits.list_check_ins,
        ImportCallLogs=call_logs.import_logs,
        ListCallLogs=call_logs.list_logs,
        RunDetectors=run_detectors,
        SummarizeContacts=contacts.summarize,
    )
