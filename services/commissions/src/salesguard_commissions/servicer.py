"""gRPC servicer of the commissions service: a thin adapter over the domain modules (each RPC
answered by one domain method, :meth:`Servicer.answering`)."""

from __future__ import annotations

from salesguard.grpc_server import Servicer, respond
from salesguard_api.commissions.v1 import commissions_pb2 as pb
from salesguard_api.commissions.v1 import commissions_pb2_grpc
from salesguard_commissions.plans import Plans
from salesguard_commissions.runs import Runs
from salesguard_commissions.statements import Statements


def commissions_servicer(plans: Plans, runs: Runs, statements: Statements) -> Servicer:
    return Servicer.answering(
        commissions_pb2_grpc.CommissionsServiceServicer,
        UpsertCommissionPlan=respond(pb.UpsertCommissionPlanResponse, plan=plans.upsert),
        ListCommissionPlans=respond(
            pb.ListCommissionPlansResponse, plans=lambda _: plans.list_plans()
        ),
        RunCommissions=respond(
            pb.RunCommissionsResponse,
            periods=lambda request: runs.run(request.period, request.branch_id),
        ),
        LockCommissionPeriod=respond(
            pb.LockCommissionPeriodResponse,
            period=lambda request: runs.lock(request.period, request.branch_id),
        ),
        GetCommissionStatement=respond(
            pb.GetCommissionStatementResponse,
            statement=lambda request: statements.statement(request.employee_id, request.period),
        ),
        ExportCommissionPeriod=lambda request: statements.export(request.period, request.branch_id),
        FreezeEmployeeLines=respond(
            pb.FreezeEmployeeLinesResponse,
            lines_frozen=lambda request: runs.freeze_employee(request.employee_id, request.reason),
        ),
    )
