"""Commission statements and the payroll export of a period."""

from __future__ import annotations

from salesguard.commissions.v1 import commissions_pb2 as pb
from salesguard.service import Runtime
from salesguard_commissions.settings import CommissionsSettings


class Statements:
    def __init__(self, runtime: Runtime[CommissionsSettings]) -> None:
        self.runtime = runtime

    async def statement(self, employee_id: str, period: str) -> pb.CommissionStatement:
        raise NotImplementedError

    async def export(self, period: str, branch_id: str) -> pb.ExportCommissionPeriodResponse:
        raise NotImplementedError
