"""Commission runs (M2–M5): lines from the valid orders of a period, deterministic and locked."""

from __future__ import annotations

from salesguard.commissions.v1 import commissions_pb2 as pb
from salesguard.service import Runtime
from salesguard_commissions.plans import Plans
from salesguard_commissions.settings import CommissionsSettings


class Runs:
    def __init__(self, runtime: Runtime[CommissionsSettings], plans: Plans) -> None:
        self.runtime = runtime
        self.plans = plans

    async def run(self, period: str, branch_id: str) -> list[pb.PeriodSummary]:
        raise NotImplementedError

    async def lock(self, period: str, branch_id: str) -> pb.PeriodSummary:
        raise NotImplementedError

    async def freeze_employee(self, employee_id: str, reason: str) -> int:
        raise NotImplementedError
