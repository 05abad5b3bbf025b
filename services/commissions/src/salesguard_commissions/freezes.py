"""Frozen employees: someone who left has their open lines held for review.

A freeze and the runs take one advisory lock: runs share it (they do not wait for each
other), a freeze takes it alone, so a departure during a run waits for it and then
freezes what it wrote, and a run reads who is frozen before it touches a line.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from salesguard import validation
from salesguard.db import Database, lock_keys, utcnow
from salesguard.policy import PolicyClient
from salesguard.principal import current_principal
from salesguard_commissions.models import FrozenEmployee, Line, Period
from salesguard_commissions.rules import withholding

FREEZE_ACTION = "commissions.freeze"
FREEZE_LOCK = "commissions:freeze"


async def frozen_employees(session: AsyncSession) -> dict[str, str]:
    """The frozen employees and why, read under the freeze lock (shared)."""
    await lock_keys(session, FREEZE_LOCK, shared=True)
    rows = (await session.execute(select(FrozenEmployee.employee_id, FrozenEmployee.reason))).all()
    return {str(employee_id): str(reason) for employee_id, reason in rows}


async def freeze_employee(db: Database, policy: PolicyClient, employee_id: str, reason: str) -> int:
    """FreezeEmployeeLines: the employee's lines of open periods go to review, now and in
    every later run; the number of lines changed (0 when frozen already)."""
    principal = current_principal()
    (await policy.decide(principal, FREEZE_ACTION)).require(FREEZE_ACTION)
    employee_id = validation.directory_id("employee_id", employee_id, required=True)
    reason = validation.text("reason", reason)
    async with db.transaction() as session:
        await lock_keys(session, FREEZE_LOCK)
        if await session.get(FrozenEmployee, employee_id, with_for_update=True) is not None:
            return 0
        session.add(
            FrozenEmployee(
                employee_id=employee_id,
                reason=reason,
                frozen_at=utcnow(),
                frozen_by=principal.id,
            )
        )
        await session.flush()
        result = await session.execute(
            update(Line)
            .where(*withholding.freezable_lines(Line.__table__, Period.__table__, employee_id))
            .values(withholding.frozen_values(Line.__table__, reason))
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]
