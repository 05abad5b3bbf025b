"""A branch's period as stored: its row (created OPEN, locked for a run), its summary,
the per-period cap applied to its lines, and locking it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from salesguard import validation
from salesguard.db import Database, conflict_insert, utcnow
from salesguard.errors import FailedPrecondition
from salesguard.money import to_proto
from salesguard.policy import PolicyClient
from salesguard.principal import current_principal
from salesguard.timeutil import to_timestamp
from salesguard_api.commissions.v1 import commissions_pb2 as pb
from salesguard_commissions.models import Line, Period
from salesguard_commissions.rules import locking, rates
from salesguard_commissions.rules.periods import Period as Month
from salesguard_commissions.rules.vocabulary import (
    COMMISSION,
    LOCKED,
    OPEN,
    TOTAL_BUCKETS,
    empty_totals,
    total_bucket,
)

LOCK_ACTION = "commissions.lock"
PERIOD_STATUSES = {OPEN: pb.PERIOD_STATUS_OPEN, LOCKED: pb.PERIOD_STATUS_LOCKED}


def summary_to_proto(row: Period) -> pb.PeriodSummary:
    """A period as the API shows it. The amounts are set when the period's lines are in one
    currency (the usual case; zero, without a currency, for no lines); per-currency totals
    stay in ``summary`` and the statements."""
    summary = row.summary or {}
    totals: dict[str, dict[str, int]] = summary.get("totals", {})
    amounts: dict[str, Any] = {}
    if len(totals) <= 1:
        single = next(iter(totals.values()), {})
        amounts = {name: to_proto(int(single.get(name, 0))) for name in TOTAL_BUCKETS}
    if len(totals) == 1:
        amounts["currency"] = next(iter(totals))
    return pb.PeriodSummary(
        period=row.period,
        branch_id=row.branch_id,
        status=PERIOD_STATUSES.get(row.status, pb.PERIOD_STATUS_UNSPECIFIED),
        lines=int(summary.get("lines", 0)),
        orders=int(summary.get("orders", 0)),
        last_run_at=to_timestamp(row.last_run_at),
        locked_at=to_timestamp(row.locked_at),
        locked_by=row.locked_by or "",
        plan_version=row.plan_version or 0,
        **amounts,
    )


def without_actor(summary: dict[str, Any] | None) -> dict[str, Any]:
    """A period's summary without who ran it: what two runs compare."""
    return {key: value for key, value in (summary or {}).items() if key != "run_by"}


async def status_of(db: Database, branch_id: str, period: str) -> str | None:
    async with db.read() as session:
        status: str | None = await session.scalar(
            select(Period.status).where(Period.branch_id == branch_id, Period.period == period)
        )
    return status


async def lock_period_row(session: AsyncSession, branch_id: str, period: str) -> Period:
    """The period row, created OPEN when missing, locked for this transaction."""
    await session.execute(
        conflict_insert(session, Period)
        .values(branch_id=branch_id, period=period, status=OPEN, run_count=0, summary={})
        .on_conflict_do_nothing(index_elements=["branch_id", "period"])
    )
    row = await session.get(
        Period, (branch_id, period), with_for_update=True, populate_existing=True
    )
    assert row is not None
    return row


async def apply_period_cap(
    session: AsyncSession, period: str, branch_id: str, cap: int, table: str = "lines"
) -> None:
    """The plan's cap per period over the period's lines (:func:`rates.cap_per_period`), in
    ``table`` (the lines, or a run's staging copy)."""
    statement, parameters = rates.period_cap(period, branch_id, cap, table)
    await session.execute(statement, parameters)


async def summarize(session: AsyncSession, period: str, branch_id: str) -> dict[str, Any]:
    """Counts and per-currency totals of the period's lines, summed in SQL (exact cents)."""
    rows = (
        await session.execute(
            select(Line.currency, Line.kind, Line.status, func.count(), func.sum(Line.amount_minor))
            .where(Line.period == period, Line.branch_id == branch_id)
            .group_by(Line.currency, Line.kind, Line.status)
            .order_by(Line.currency, Line.kind, Line.status)
        )
    ).all()
    totals: dict[str, dict[str, int]] = {}
    lines = orders = 0
    for currency, kind, status, count, amount in rows:
        bucket = totals.setdefault(currency, empty_totals())
        bucket[total_bucket(kind, status)] += int(amount or 0)
        lines += int(count)
        if kind == COMMISSION:
            orders += int(count)
    return {"lines": lines, "orders": orders, "totals": totals}


async def lock(db: Database, policy: PolicyClient, period: str, branch_id: str) -> pb.PeriodSummary:
    """LockCommissionPeriod: the period never changes again (it must have run first)."""
    principal = current_principal()
    (await policy.decide(principal, LOCK_ACTION)).require(LOCK_ACTION)
    month = str(Month.parse(period))
    branch_id = validation.directory_id("branch_id", branch_id, required=True)
    async with db.transaction() as session:
        row = await session.get(Period, (branch_id, month), with_for_update=True)
        if row is None or not locking.may_lock(row.run_count):
            raise FailedPrecondition(
                f"period {month} of branch {branch_id} has not run yet; run it before locking",
                details={"period": month, "branch_id": branch_id},
            )
        if row.status != LOCKED:
            row.status = LOCKED
            row.locked_at = utcnow()
            row.locked_by = principal.id
    return summary_to_proto(row)
