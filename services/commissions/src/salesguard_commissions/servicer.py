"""gRPC servicer of the commissions service: a thin adapter over the domain modules."""

from __future__ import annotations

from salesguard.grpc_server import ServicerContext as Context
from salesguard_api.commissions.v1 import commissions_pb2 as pb
from salesguard_api.commissions.v1 import commissions_pb2_grpc
from salesguard_commissions.plans import Plans
from salesguard_commissions.runs import Runs
from salesguard_commissions.statements import Statements


class CommissionsServicer(commissions_pb2_grpc.CommissionsServiceServicer):
    def __init__(self, plans: Plans, runs: Runs, statements: Statements) -> None:
        self._plans = plans
        self._runs = runs
        self._statements = statements

    async def UpsertCommissionPlan(
        self, request: pb.UpsertCommissionPlanRequest, context: Context
    ) -> pb.UpsertCommissionPlanResponse:
        return pb.UpsertCommissionPlanResponse(plan=await self._plans.upsert(request))

    async def ListCommissionPlans(
        self, request: pb.ListCommissionPlansRequest, context: Context
    ) -> pb.ListCommissionPlansResponse:
        return pb.ListCommissionPlansResponse(plans=await self._plans.list_plans())

    async def RunCommissions(
        self, request: pb.RunCommissionsRequest, context: Context
    ) -> pb.RunCommissionsResponse:
        return pb.RunCommissionsResponse(
            periods=await self._runs.run(request.period, request.branch_id)
        )

    async def LockCommissionPeriod(
        self, request: pb.LockCommissionPeriodRequest, context: Context
    ) -> pb.LockCommissionPeriodResponse:
        return pb.LockCommissionPeriodResponse(
            period=await self._runs.lock(request.period, request.branch_id)
        )

    async def GetCommissionStatement(
        self, request: pb.GetCommissionStatementRequest, context: Context
    ) -> pb.GetCommissionStatementResponse:
        return pb.GetCommissionStatementResponse(
            statement=await self._statements.statement(request.employee_id, request.period)
        )

    async def ExportCommissionPeriod(
        self, request: pb.ExportCommissionPeriodRequest, context: Context
    ) -> pb.ExportCommissionPeriodResponse:
        return await self._statements.export(request.period, request.branch_id)

    async def FreezeEmployeeLines(
        self, request: pb.FreezeEmployeeLinesRequest, context: Context
    ) -> pb.FreezeEmployeeLinesResponse:
        return pb.FreezeEmployeeLinesResponse(
            lines_frozen=await self._runs.freeze_employee(request.employee_id, request.reason)
        )
