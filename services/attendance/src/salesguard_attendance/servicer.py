"""gRPC servicer of the people directory: a thin adapter over :class:`Directory`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

from salesguard.errors import InvalidInput
from salesguard.grpc_server import ServicerContext as Context
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


class DirectoryServicer(directory_pb2_grpc.DirectoryServiceServicer):
    def __init__(self, directory: Directory, reads: DirectoryReads) -> None:
        self._directory = directory
        self._reads = reads

    async def UpsertBranch(
        self, request: pb.UpsertBranchRequest, context: Context
    ) -> pb.UpsertBranchResponse:
        return pb.UpsertBranchResponse(branch=await self._directory.upsert_branch(request.branch))

    async def UpsertTeam(
        self, request: pb.UpsertTeamRequest, context: Context
    ) -> pb.UpsertTeamResponse:
        return pb.UpsertTeamResponse(team=await self._directory.upsert_team(request.team))

    async def UpsertEmployee(
        self, request: pb.UpsertEmployeeRequest, context: Context
    ) -> pb.UpsertEmployeeResponse:
        return pb.UpsertEmployeeResponse(employee=await self._directory.upsert_employee(request))

    async def GetEmployee(
        self, request: pb.GetEmployeeRequest, context: Context
    ) -> pb.GetEmployeeResponse:
        return pb.GetEmployeeResponse(employee=await self._reads.get_employee(request.id))

    async def BatchGetEmployees(
        self, request: pb.BatchGetEmployeesRequest, context: Context
    ) -> pb.BatchGetEmployeesResponse:
        return pb.BatchGetEmployeesResponse(
            employees=await self._reads.batch_get_employees(list(request.ids))
        )

    async def ListEmployees(
        self, request: pb.ListEmployeesRequest, context: Context
    ) -> pb.ListEmployeesResponse:
        return await self._reads.list_employees(request)

    async def ListBranches(
        self, request: pb.ListBranchesRequest, context: Context
    ) -> pb.ListBranchesResponse:
        return pb.ListBranchesResponse(branches=await self._reads.list_branches())

    async def ListTeams(
        self, request: pb.ListTeamsRequest, context: Context
    ) -> pb.ListTeamsResponse:
        return pb.ListTeamsResponse(teams=await self._reads.list_teams(request.branch_id))

    async def ResolvePrincipal(
        self, request: pb.ResolvePrincipalRequest, context: Context
    ) -> pb.ResolvePrincipalResponse:
        return await self._reads.resolve_principal(request.employee_id)

    async def ListPermittedActions(
        self, request: pb.ListPermittedActionsRequest, context: Context
    ) -> pb.ListPermittedActionsResponse:
        if len(request.actions) > MAX_ACTIONS:
            raise InvalidInput("actions", f"at most {MAX_ACTIONS} actions at once")
        return pb.ListPermittedActionsResponse(
            actions=await self._reads.permitted_actions(list(request.actions))
        )

    async def WatchDirectoryChanges(
        self, request: pb.WatchDirectoryChangesRequest, context: Context
    ) -> AsyncIterator[pb.WatchDirectoryChangesResponse]:
        async for message in self._reads.watch_changes():
            yield message


@dataclass
class VisitsServicer(visits_pb2_grpc.VisitsServiceServicer):
    visits: Visits
    plans: VisitPlans
    photos: Photos
    call_logs: CallLogs
    detectors: Detectors
    contacts: Contacts
    policy: PolicyClient

    async def CreatePhotoUpload(
        self, request: visits_pb2.CreatePhotoUploadRequest, context: Context
    ) -> visits_pb2.CreatePhotoUploadResponse:
        return await self.photos.create_upload(request)

    async def PlanVisit(
        self, request: visits_pb2.PlanVisitRequest, context: Context
    ) -> visits_pb2.PlanVisitResponse:
        return visits_pb2.PlanVisitResponse(visit_plan=await self.plans.plan_visit(request))

    async def ListVisitPlans(
        self, request: visits_pb2.ListVisitPlansRequest, context: Context
    ) -> visits_pb2.ListVisitPlansResponse:
        return await self.plans.list_visit_plans(request)

    async def CheckIn(
        self, request: visits_pb2.CheckInRequest, context: Context
    ) -> visits_pb2.CheckInResponse:
        return await self.visits.check_in(request)

    async def CheckOut(
        self, request: visits_pb2.CheckOutRequest, context: Context
    ) -> visits_pb2.CheckOutResponse:
        return await self.visits.check_out(request)

    async def GetCheckIn(
        self, request: visits_pb2.GetCheckInRequest, context: Context
    ) -> visits_pb2.GetCheckInResponse:
        return visits_pb2.GetCheckInResponse(check_in=await self.visits.get_check_in(request))

    async def ListCheckIns(
        self, request: visits_pb2.ListCheckInsRequest, context: Context
    ) -> visits_pb2.ListCheckInsResponse:
        return await self.visits.list_check_ins(request)

    async def ImportCallLogs(
        self, request: visits_pb2.ImportCallLogsRequest, context: Context
    ) -> visits_pb2.ImportCallLogsResponse:
        return await self.call_logs.import_logs(request)

    async def ListCallLogs(
        self, request: visits_pb2.ListCallLogsRequest, context: Context
    ) -> visits_pb2.ListCallLogsResponse:
        return await self.call_logs.list_logs(request)

    async def RunDetectors(
        self, request: visits_pb2.RunDetectorsRequest, context: Context
    ) -> visits_pb2.RunDetectorsResponse:
        (await self.policy.decide(current_principal(), "detectors.run")).require("detectors.run")
        start, end = (
            from_timestamp(getattr(request, "from"), "from"),
            from_timestamp(request.to, "to"),
        )
        if start is None or end is None or not start < end:
            raise InvalidInput("from", "a range with from before to is required")
        if end - start > MAX_DETECTOR_RANGE:
            raise InvalidInput("to", f"at most {MAX_DETECTOR_RANGE.days} days per run")
        raised, employees = await self.detectors.run(start, end, request.employee_id or None)
        return visits_pb2.RunDetectorsResponse(alerts_raised=raised, employees_checked=employees)

    async def SummarizeContacts(
        self, request: visits_pb2.SummarizeContactsRequest, context: Context
    ) -> visits_pb2.SummarizeContactsResponse:
        return await self.contacts.summarize(request)
