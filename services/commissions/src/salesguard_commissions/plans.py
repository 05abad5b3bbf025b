"""Commission plans (M1): versioned, effective-dated rates by source class, optional caps."""

from __future__ import annotations

from salesguard.commissions.v1 import commissions_pb2 as pb
from salesguard.service import Runtime
from salesguard_commissions.settings import CommissionsSettings


class Plans:
    def __init__(self, runtime: Runtime[CommissionsSettings]) -> None:
        self.runtime = runtime

    async def upsert(self, request: pb.UpsertCommissionPlanRequest) -> pb.CommissionPlan:
        raise NotImplementedError

    async def list_plans(self) -> list[pb.CommissionPlan]:
        raise NotImplementedError
