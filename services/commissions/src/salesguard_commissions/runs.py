"""Commission runs (M2–M5): lines from the valid orders of a period, deterministic and locked.

A run of a period handles each branch on its own, in the branch's time zone:

1. the withholding alert targets and the plan in force are loaded once per run;
2. in one transaction per branch, the period row is locked (a LOCKED period
   is refused), the frozen employees are read (under the lock a freeze takes, so
   a departure during the run waits for it and then freezes what it wrote), the
   period's lines are deleted, and the valid orders paid in
   the month are streamed from orders batch by batch: each batch's customers
   get their registered source in calls of at most 1000 IDs, each order one
   line, written in chunked multi-row INSERTs (memory stays bounded by a batch
   and a chunk);
3. reversals up to the month's end (looking back ``clawback_lookback_days``,
   so one made after its own month was locked is caught too; streamed once per
   run, when the first branch needs them) of payments whose
   order has a PAYABLE commission line in a LOCKED earlier period, and no
   clawback in another period yet, add CLAWBACK lines (M4);
4. the per-period cap is applied set-based, in order of (fully_paid_at, order
   code), and the period row records the run and a summary.

Line IDs derive from (period, branch, order, kind), so the same inputs give
byte-identical lines (M5). A locked period never changes again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from opentelemetry import trace
from sqlalchemy import and_, delete, exists, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from salesguard import validation
from salesguard.attendance.v1 import directory_pb2
from salesguard.commissions.v1 import commissions_pb2 as pb
from salesguard.db import conflict_insert, lock_keys, utcnow
from salesguard.errors import FailedPrecondition, NotFound
from salesguard.money import to_proto
from salesguard.orders.v1 import payments_pb2
from salesguard.principal import current_principal
from salesguard.service import Runtime
from salesguard.timeutil import from_timestamp, to_timestamp
from salesguard_commissions import rules
from salesguard_commissions.lines import LineRow, LineWriter
from salesguard_commissions.models import FrozenEmployee, Line, Period
from salesguard_commissions.peers import SOURCE_NAMES, Peers, Withholding
from salesguard_commissions.plans import Plans
from salesguard_commissions.rules import (
    CLAWBACK,
    COMMISSION,
    LOCKED,
    OPEN,
    PAYABLE,
    PENDING_REVIEW,
    WITHHELD,
    PlanTerms,
)
from salesguard_commissions.settings import CommissionsSettings

log = logging.getLogger(__name__)
_tracer = trace.get_tracer(__name__)

RUN_ACTION = "commissions.run"
LOCK_ACTION = "commissions.lock"
FREEZE_ACTION = "commissions.freeze"
# Runs read who is frozen under it (shared), a freeze changes that under it (exclusive).
FREEZE_LOCK = "commissions:freeze"
PERIOD_STATUSES = {OPEN: pb.PERIOD_STATUS_OPEN, LOCKED: pb.PERIOD_STATUS_LOCKED}
# Reversals' orders looked up per query.
REVERSAL_CHUNK = 500
# Batches whose lookups run ahead of the one being priced and written.
LOOKUPS_AHEAD = 2


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def summary_to_proto(row: Period) -> pb.PeriodSummary:
    """A period as the API shows it. The amounts are set when the period's lines are in one
    currency (the usual case); per-currency totals stay in ``summary`` and the statements."""
    summary = row.summary or {}
    totals: dict[str, dict[str, int]] = summary.get("totals", {})
    amounts: dict[str, Any] = {}
    if len(totals) <= 1:
        single = next(iter(totals.values()), {})
        amounts = {name: to_proto(int(single.get(name, 0))) for name in rules.TOTAL_BUCKETS}
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


@dataclass
class RunContext:
    """What one run loads once and every branch shares."""

    period: rules.Period
    plan: PlanTerms
    withholding: Withholding
    # Employees whose lines go to review, read in each branch's transaction.
    frozen: dict[str, str] = field(default_factory=dict)
    teams: dict[str, str | None] = field(default_factory=dict)
    # Registered source by customer (None: unknown to the registry), for this run only.
    sources: dict[str, str | None] = field(default_factory=dict)
    # [from, to) covering every branch's reversal window, and the reversals in it (oldest
    # first, every branch's): streamed once per run, when the first branch needs them.
    reversal_window: tuple[datetime, datetime] | None = None
    reversals: list[payments_pb2.PaymentReversal] | None = None
    # What the run did, branch by branch: its summaries, the branches whose lines changed
    # and those left alone because their period is locked.
    summaries: list[pb.PeriodSummary] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    locked: list[str] = field(default_factory=list)


class Runs:
    def __init__(self, runtime: Runtime[CommissionsSettings], plans: Plans) -> None:
        self.runtime = runtime
        self.plans = plans
        self.db = runtime.db
        self.policy = runtime.policy
        self.settings = runtime.settings
        self.peers = Peers(runtime.channels, runtime.settings.stream_timeout_seconds)

    # ------------------------------------------------------------------ run

    async def run(self, period: str, branch_id: str) -> list[pb.PeriodSummary]:
        principal = current_principal()
        (await self.policy.decide(principal, RUN_ACTION)).require(RUN_ACTION)
        month = rules.Period.parse(period)
        branch_id = validation.text("branch_id", branch_id, max_length=64)

        branches = await self.peers.branches()
        if branch_id:
            branches = [branch for branch in branches if branch.id == branch_id]
            if not branches:
                raise NotFound(f"branch {branch_id} not found")
            status = await self._status(branch_id, str(month))
            if status == LOCKED:
                raise FailedPrecondition(
                    f"period {month} of branch {branch_id} is locked; corrections go into a later period",
                    details={"period": str(month), "branch_id": branch_id},
                )

        context = await self._run_period(
            month, branches, explicit=bool(branch_id), actor=principal.id
        )
        return context.summaries

    async def draft_current_periods(self, as_of: datetime) -> list[RunContext]:
        """The scheduled draft (M2): each branch's current month in its own time zone, run
        like RunCommissions of every branch; a locked month is left as it is (locking stays
        a human act). One run per month the branches are in (two around a month's turn)."""
        branches = await self.peers.branches()
        by_month: dict[rules.Period, list[directory_pb2.Branch]] = {}
        for branch in branches:
            local = as_of.astimezone(rules.zone_of(branch.time_zone)).date()
            by_month.setdefault(rules.Period(local.year, local.month), []).append(branch)
        actor = current_principal().id
        return [
            await self._run_period(month, group, explicit=False, actor=actor)
            for month, group in sorted(by_month.items(), key=lambda item: str(item[0]))
        ]

    async def _run_period(
        self,
        month: rules.Period,
        branches: Sequence[directory_pb2.Branch],
        *,
        explicit: bool,
        actor: str,
    ) -> RunContext:
        context = RunContext(
            period=month,
            plan=await self.plans.terms_for(month.first_day),
            withholding=await self.peers.withholding(
                self.settings.withholding_alert_kinds, self.settings.withholding_alert_sources
            ),
            reversal_window=self._reversal_window(month, branches),
        )
        for branch in branches:
            context.summaries.append(
                await self._run_branch(context, branch, explicit=explicit, actor=actor)
            )
        return context

    def _reversal_window(
        self, month: rules.Period, branches: Sequence[directory_pb2.Branch]
    ) -> tuple[datetime, datetime] | None:
        """Reversals since well before the month (in every branch's zone) up to its end:
        one made in a month after that month was locked is clawed back by the next run (M4)."""
        if not branches:
            return None
        bounds = [month.bounds(rules.zone_of(branch.time_zone)) for branch in branches]
        lookback = timedelta(days=self.settings.clawback_lookback_days)
        return min(start for start, _ in bounds) - lookback, max(end for _, end in bounds)

    async def _status(self, branch_id: str, period: str) -> str | None:
        async with self.db.read() as session:
            status: str | None = await session.scalar(
                select(Period.status).where(Period.branch_id == branch_id, Period.period == period)
            )
        return status

    @staticmethod
    async def _frozen(session: AsyncSession) -> dict[str, str]:
        """The frozen employees, read after taking the freeze lock (shared: runs do not wait
        for each other): a freeze waits for the runs under way, then freezes their lines."""
        await lock_keys(session, FREEZE_LOCK, shared=True)
        rows = (
            await session.execute(select(FrozenEmployee.employee_id, FrozenEmployee.reason))
        ).all()
        return {str(employee_id): str(reason) for employee_id, reason in rows}

    async def _run_branch(
        self, context: RunContext, branch: directory_pb2.Branch, *, explicit: bool, actor: str
    ) -> pb.PeriodSummary:
        period = str(context.period)
        start, end = context.period.bounds(rules.zone_of(branch.time_zone))
        started = time.monotonic()
        with _tracer.start_as_current_span(
            "commissions.run_branch", attributes={"branch_id": branch.id, "period": period}
        ):
            async with self.db.transaction() as session:
                # Before any line is touched: a freeze holding the lock updates lines too.
                context.frozen = await self._frozen(session)
                row = await self._lock_period_row(session, branch.id, period)
                if row.status == LOCKED:
                    if explicit:
                        raise FailedPrecondition(
                            f"period {period} of branch {branch.id} is locked",
                            details={"period": period, "branch_id": branch.id},
                        )
                    context.locked.append(branch.id)
                    return summary_to_proto(row)  # a run of every branch leaves locked ones be
                before = _without_actor(row.summary)
                await session.execute(
                    delete(Line).where(Line.period == period, Line.branch_id == branch.id)
                )
                writer = LineWriter(session, self.settings.write_batch_size)
                stamp_from, stamp_to = to_timestamp(start), to_timestamp(end)
                assert stamp_from is not None and stamp_to is not None
                # Each batch's lookups run while the batch before it is priced and written.
                ahead: deque[
                    tuple[Sequence[payments_pb2.ValidOrder], asyncio.Task[dict[str, str | None]]]
                ] = deque()
                try:
                    async for orders in self.peers.valid_orders(branch.id, stamp_from, stamp_to):
                        ahead.append((orders, asyncio.create_task(self._look_up(context, orders))))
                        if len(ahead) > LOOKUPS_AHEAD:
                            await self._write_batch(writer, context, branch.id, *ahead.popleft())
                    while ahead:
                        await self._write_batch(writer, context, branch.id, *ahead.popleft())
                finally:
                    for _, task in ahead:
                        task.cancel()
                    await asyncio.gather(*(task for _, task in ahead), return_exceptions=True)
                await writer.flush()
                # Reversals since well before this month: one made in a month after that
                # month was locked is clawed back by the next run (M4), once.
                clawbacks = await self._clawback_rows(
                    session,
                    context,
                    branch.id,
                    start - timedelta(days=self.settings.clawback_lookback_days),
                    end,
                )
                await writer.extend(clawbacks)
                await writer.flush()
                if context.plan.cap_per_period_minor:
                    await _apply_period_cap(
                        session, period, branch.id, context.plan.cap_per_period_minor
                    )
                row.summary = {**await _summarize(session, period, branch.id), "run_by": actor}
                if row.run_count == 0 or _without_actor(row.summary) != before:
                    context.changed.append(branch.id)
                row.run_count += 1
                row.last_run_at = utcnow()
                row.plan_version = context.plan.version
        log.info(
            "commission run",
            extra={
                "period": period,
                "branch_id": branch.id,
                "lines": writer.written,
                "seconds": round(time.monotonic() - started, 3),
            },
        )
        return summary_to_proto(row)

    async def _lock_period_row(self, session: AsyncSession, branch_id: str, period: str) -> Period:
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

    async def _look_up(
        self, context: RunContext, orders: Sequence[payments_pb2.ValidOrder]
    ) -> dict[str, str | None]:
        """The registered source of the batch's customers (None: unknown to the registry) and
        the current team of its submitters; only what this run has not seen yet is asked,
        by unique IDs, at most 1000 per call."""
        cache = context.sources
        wanted = {order.customer_id for order in orders}
        sources = {customer_id: cache[customer_id] for customer_id in wanted & cache.keys()}
        missing = sorted(wanted - sources.keys())
        if missing:
            found = await self.peers.registered_sources(missing, self.settings.facts_batch_size)
            if len(cache) + len(missing) > self.settings.facts_cache_size:
                cache.clear()  # bounded memory: a huge month asks again
            for customer_id in missing:
                sources[customer_id] = cache[customer_id] = found.get(customer_id)
        new_reps = {order.submitted_by for order in orders} - context.teams.keys()
        if new_reps:
            employees = await self.peers.employees(new_reps)
            for employee_id in new_reps:
                employee = employees.get(employee_id)
                context.teams[employee_id] = (employee.team_id or None) if employee else None
        return sources

    async def _write_batch(
        self,
        writer: LineWriter,
        context: RunContext,
        branch_id: str,
        orders: Sequence[payments_pb2.ValidOrder],
        looked_up: asyncio.Task[dict[str, str | None]],
    ) -> None:
        sources = await looked_up
        await writer.extend(self._commission_rows(context, branch_id, orders, sources))

    def _commission_rows(
        self,
        context: RunContext,
        branch_id: str,
        orders: Sequence[payments_pb2.ValidOrder],
        sources: dict[str, str | None],
    ) -> list[LineRow]:
        """One COMMISSION line per valid order of the batch, once its lookups are done.

        The hot loop of a run (a million orders): names are bound locally and the
        common case (no alert, no cap, nobody frozen) builds no strings.
        """
        plan = context.plan
        period = str(context.period)
        withholding = context.withholding
        by_order = withholding.by_order
        by_customer = withholding.by_customer
        frozen = context.frozen
        teams = context.teams
        cap = plan.cap_per_order_minor
        version = plan.version
        line_id = rules.line_id
        to_minor = rules.decimal_to_minor
        commission = rules.commission_minor
        source_names = SOURCE_NAMES
        pricing_cache: dict[tuple[str | None, str], rules.Pricing] = {}
        rows: list[LineRow] = []
        append = rows.append
        for order in orders:
            order_id = order.order_id
            customer_id = order.customer_id
            employee_id = order.submitted_by
            registered = sources.get(customer_id)
            claim = source_names.get(order.source_claim, "")
            pricing = pricing_cache.get((registered, claim))
            if pricing is None:
                pricing = pricing_cache[registered, claim] = rules.price(plan, registered, claim)
            base = to_minor(order.total.value)
            amount = commission(base, pricing.rate_bp)
            status = PENDING_REVIEW if pricing.needs_review else PAYABLE
            reason = pricing.reason
            alert_ids: list[str] = []
            if cap is not None and amount > cap:
                amount = cap
                reason = rules.join_reasons(reason, rules.CAPPED_PER_ORDER)
            if order_id in by_order or customer_id in by_customer:
                concerning = withholding.concerning(order_id, customer_id)
                if concerning:
                    status = WITHHELD
                    alert_ids = [alert_id for alert_id, _ in concerning]
                    reason = rules.join_reasons(*sorted({kind for _, kind in concerning}), reason)
            if employee_id in frozen and status != WITHHELD:
                status = PENDING_REVIEW
                reason = rules.join_reasons(reason, rules.frozen_reason(frozen[employee_id]))
            paid = order.fully_paid_at
            append(
                (
                    line_id(period, branch_id, order_id, COMMISSION),
                    period,
                    branch_id,
                    employee_id,
                    teams.get(employee_id) or order.team_id or None,
                    order_id,
                    order.code,
                    customer_id,
                    COMMISSION,
                    status,
                    base,
                    pricing.rate_bp,
                    amount,
                    order.currency,
                    reason,
                    alert_ids,
                    claim,
                    registered or "",
                    version,
                    _EPOCH + timedelta(seconds=paid.seconds, microseconds=paid.nanos // 1000)
                    if paid.seconds or paid.nanos
                    else None,
                )
            )
        return rows

    async def _clawback_rows(
        self,
        session: AsyncSession,
        context: RunContext,
        branch_id: str,
        start: datetime,
        end: datetime,
    ) -> list[LineRow]:
        """CLAWBACK lines for reversals in [start, end) of orders paid out in a locked
        period and not clawed back in another period yet (M4)."""
        reversed_orders: dict[str, payments_pb2.PaymentReversal] = {}
        for reversal in await self._reversals(context):
            if reversal.branch_id and reversal.branch_id != branch_id:
                continue  # another branch's order: its own run claws it back
            reversed_at = from_timestamp(reversal.reversed_at, "reversed_at")
            if reversed_at is None or not start <= reversed_at < end:
                continue  # outside this branch's window (another time zone's)
            if reversal.order_id and reversal.order_id not in reversed_orders:
                reversed_orders[reversal.order_id] = reversal
        if not reversed_orders:
            return []
        period = str(context.period)
        earlier = Line.__table__.alias("earlier")
        locked = Period.__table__.alias("locked")
        other = Line.__table__.alias("other")
        originals: dict[str, Any] = {}
        order_ids = sorted(reversed_orders)
        for offset in range(0, len(order_ids), REVERSAL_CHUNK):
            chunk = order_ids[offset : offset + REVERSAL_CHUNK]
            query = (
                select(earlier)
                .join(
                    locked,
                    and_(
                        locked.c.branch_id == earlier.c.branch_id,
                        locked.c.period == earlier.c.period,
                    ),
                )
                .where(
                    earlier.c.order_id.in_(chunk),
                    earlier.c.branch_id == branch_id,
                    earlier.c.kind == COMMISSION,
                    earlier.c.status == PAYABLE,
                    earlier.c.period < period,
                    locked.c.status == LOCKED,
                    ~exists().where(
                        other.c.order_id == earlier.c.order_id,
                        other.c.kind == CLAWBACK,
                        ~and_(other.c.period == period, other.c.branch_id == branch_id),
                    ),
                )
                .order_by(earlier.c.order_id, earlier.c.period.desc())
            )
            for line in (await session.execute(query)).all():
                originals.setdefault(line.order_id, line)  # the latest locked period's line
        rows: list[LineRow] = []
        missing_teams = [line.employee_id for line in originals.values()]
        found = await self.peers.employees(set(missing_teams) - context.teams.keys())
        for employee_id, employee in found.items():
            context.teams[employee_id] = employee.team_id or None
        for order_id in sorted(originals):
            line = originals[order_id]
            reversal = reversed_orders[order_id]
            kind = payments_pb2.ReversalKind.Name(reversal.kind).removeprefix("REVERSAL_KIND_")
            rows.append(
                (
                    rules.line_id(period, branch_id, order_id, CLAWBACK),
                    period,
                    branch_id,
                    line.employee_id,
                    context.teams.get(line.employee_id) or line.team_id,
                    order_id,
                    line.order_code,
                    line.customer_id,
                    CLAWBACK,
                    PAYABLE,
                    line.base_minor,
                    line.rate_bp,
                    -line.amount_minor,
                    line.currency,
                    rules.join_reasons(
                        f"CLAWBACK of {line.period}",
                        f"payment {reversal.payment_id} reversed ({kind})",
                    ),
                    [],
                    line.source_claim,
                    line.registered_source,
                    line.plan_version,
                    line.fully_paid_at,
                )
            )
        return rows

    async def _reversals(self, context: RunContext) -> list[payments_pb2.PaymentReversal]:
        """The run's reversals, streamed from orders on the first call (one stream per run,
        not one per branch)."""
        if context.reversals is None:
            assert context.reversal_window is not None
            window_from, window_to = map(to_timestamp, context.reversal_window)
            assert window_from is not None and window_to is not None
            context.reversals = [
                reversal
                async for batch in self.peers.reversals(window_from, window_to)
                for reversal in batch
            ]
        return context.reversals

    # ------------------------------------------------------------------ lock

    async def lock(self, period: str, branch_id: str) -> pb.PeriodSummary:
        principal = current_principal()
        (await self.policy.decide(principal, LOCK_ACTION)).require(LOCK_ACTION)
        month = str(rules.Period.parse(period))
        branch_id = validation.text("branch_id", branch_id, required=True, max_length=64)
        async with self.db.transaction() as session:
            row = await session.get(Period, (branch_id, month), with_for_update=True)
            if row is None or row.run_count == 0:
                raise FailedPrecondition(
                    f"period {month} of branch {branch_id} has not run yet; run it before locking",
                    details={"period": month, "branch_id": branch_id},
                )
            if row.status != LOCKED:
                row.status = LOCKED
                row.locked_at = utcnow()
                row.locked_by = principal.id
        return summary_to_proto(row)

    # ------------------------------------------------------------------ freeze

    async def freeze_employee(self, employee_id: str, reason: str) -> int:
        principal = current_principal()
        (await self.policy.decide(principal, FREEZE_ACTION)).require(FREEZE_ACTION)
        employee_id = validation.text("employee_id", employee_id, required=True, max_length=64)
        reason = validation.text("reason", reason, max_length=500)
        async with self.db.transaction() as session:
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
                .where(
                    Line.employee_id == employee_id,
                    Line.kind == COMMISSION,
                    Line.status.in_([PAYABLE, PENDING_REVIEW]),
                    exists().where(
                        Period.branch_id == Line.branch_id,
                        Period.period == Line.period,
                        Period.status == OPEN,
                    ),
                )
                .values(
                    status=PENDING_REVIEW,
                    reason=Line.reason + rules.REASON_SEPARATOR + rules.frozen_reason(reason),
                )
                .execution_options(synchronize_session=False)
            )
            return int(result.rowcount)  # type: ignore[attr-defined]


def _without_actor(summary: dict[str, Any] | None) -> dict[str, Any]:
    """A period's summary without who ran it: what two runs compare."""
    return {key: value for key, value in (summary or {}).items() if key != "run_by"}


async def _apply_period_cap(session: AsyncSession, period: str, branch_id: str, cap: int) -> None:
    """Cap each employee's commission in the period (per currency), in order of
    (fully_paid_at, order code): a line gets what the cap leaves after the earlier ones."""
    await session.execute(
        text(
            """
            UPDATE lines SET
                amount_minor = capped.new_amount,
                reason = lines.reason || :suffix
            FROM (
                SELECT id, amount_minor AS amount,
                    CASE
                        WHEN :cap - earlier <= 0 THEN 0
                        WHEN amount_minor <= :cap - earlier THEN amount_minor
                        ELSE :cap - earlier
                    END AS new_amount
                FROM (
                    SELECT id, amount_minor,
                        SUM(amount_minor) OVER (
                            PARTITION BY employee_id, currency
                            ORDER BY fully_paid_at, order_code, id
                            ROWS UNBOUNDED PRECEDING
                        ) - amount_minor AS earlier
                    FROM lines
                    WHERE period = :period AND branch_id = :branch_id AND kind = :kind
                ) AS running
            ) AS capped
            WHERE lines.id = capped.id AND capped.new_amount <> capped.amount
            """
        ),
        {
            "cap": cap,
            "period": period,
            "branch_id": branch_id,
            "kind": COMMISSION,
            "suffix": rules.REASON_SEPARATOR + rules.CAPPED_PER_PERIOD,
        },
    )


async def _summarize(session: AsyncSession, period: str, branch_id: str) -> dict[str, Any]:
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
        bucket = totals.setdefault(currency, rules.empty_totals())
        bucket[rules.total_bucket(kind, status)] += int(amount or 0)
        lines += int(count)
        if kind == COMMISSION:
            orders += int(count)
    return {"lines": lines, "orders": orders, "totals": totals}
