"""Commission runs: lines from the valid orders of a period, deterministic and locked.

A run of a period handles each branch on its own, in the branch's time zone:

1. the withholding alert targets and the plan in force are loaded once per run;
2. a few branches at a time (``branch_concurrency``, 4 by default: while one waits on
   a peer or a database another is priced), each in a transaction of its own: the frozen
   employees are read (under the freeze lock, :mod:`.freezes`), the period row is locked
   (a LOCKED period is refused, or left alone by a run of every branch), the period's
   lines are deleted (a re-run on PostgreSQL stages its lines instead and writes back only
   those that changed, :mod:`.lines`), and the valid orders paid in the month are
   streamed from orders batch by batch, regrouped by about 5000 orders: each group's
   customers get their registered source in one call while the group before is priced
   (:mod:`.commission_lines`), each order one line, written chunk by chunk with a binary
   COPY (:mod:`.lines`; memory stays bounded by a batch and a chunk per branch);
3. the reversals of the run's window add CLAWBACK lines (:mod:`.clawbacks`);
4. the plan's cap per period is applied set-based, and the period row records the run
   and a summary (:mod:`.periods`).

What each line says is decided in :mod:`salesguard_commissions.rules`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Sequence
from datetime import datetime

from opentelemetry import trace
from sqlalchemy import delete

from salesguard import validation
from salesguard.db import utcnow
from salesguard.errors import FailedPrecondition, NotFound
from salesguard.principal import current_principal
from salesguard.service import Runtime
from salesguard.timeutil import to_timestamp
from salesguard_api.attendance.v1 import directory_pb2
from salesguard_api.commissions.v1 import commissions_pb2 as pb
from salesguard_api.orders.v1 import payments_pb2
from salesguard_commissions import freezes, lines, periods
from salesguard_commissions.clawbacks import Clawbacks
from salesguard_commissions.commission_lines import commission_rows, look_up
from salesguard_commissions.lines import LineWriter
from salesguard_commissions.models import Line
from salesguard_commissions.peers import Peers
from salesguard_commissions.plans import Plans
from salesguard_commissions.rules import clawback, locking
from salesguard_commissions.rules.periods import Period, month_of, zone_of
from salesguard_commissions.run_context import RunContext
from salesguard_commissions.settings import CommissionsSettings

log = logging.getLogger(__name__)
_tracer = trace.get_tracer(__name__)

RUN_ACTION = "commissions.run"
# Batches whose lookups run ahead of the one being priced and written.
LOOKUPS_AHEAD = 2

_Batch = tuple[Sequence[payments_pb2.ValidOrder], asyncio.Task[dict[str, str | None]]]


async def _regrouped(
    batches: AsyncIterator[Sequence[payments_pb2.ValidOrder]], size: int
) -> AsyncIterator[list[payments_pb2.ValidOrder]]:
    """The streamed orders in groups of at least ``size`` (the last one smaller): one lookup
    per group, since each call costs the customers service far more than an ID in it."""
    group: list[payments_pb2.ValidOrder] = []
    async for batch in batches:
        group.extend(batch)
        if len(group) >= size:
            yield group
            group = []
    if group:
        yield group


class Runs:
    def __init__(self, runtime: Runtime[CommissionsSettings], plans: Plans) -> None:
        self.runtime = runtime
        self.plans = plans
        self.db = runtime.db
        self.policy = runtime.policy
        self.settings = runtime.settings
        self.peers = Peers(runtime.channels, runtime.settings.stream_timeout_seconds)
        self.clawbacks = Clawbacks(self.peers)

    async def run(self, period: str, branch_id: str) -> list[pb.PeriodSummary]:
        principal = current_principal()
        (await self.policy.decide(principal, RUN_ACTION)).require(RUN_ACTION)
        month = Period.parse(period)
        branch_id = validation.directory_id("branch_id", branch_id)

        branches = await self.peers.branches()
        if branch_id:
            branches = [branch for branch in branches if branch.id == branch_id]
            if not branches:
                raise NotFound(f"branch {branch_id} not found")
            if not locking.may_change(await periods.status_of(self.db, branch_id, str(month))):
                raise FailedPrecondition(
                    f"period {month} of branch {branch_id} is locked; corrections go into a later period",
                    details={"period": str(month), "branch_id": branch_id},
                )

        context = await self._run_period(
            month, branches, explicit=bool(branch_id), actor=principal.id
        )
        return context.summaries

    async def draft_current_periods(self, as_of: datetime) -> list[RunContext]:
        """The scheduled draft: each branch's current month in its own time zone, run like
        RunCommissions of every branch; a locked month is left as it is (locking stays a
        human act). One run per month the branches are in (two around a month's turn)."""
        by_month: dict[Period, list[directory_pb2.Branch]] = {}
        for branch in await self.peers.branches():
            by_month.setdefault(month_of(as_of, branch.time_zone), []).append(branch)
        actor = current_principal().id
        return [
            await self._run_period(month, group, explicit=False, actor=actor)
            for month, group in sorted(by_month.items(), key=lambda item: str(item[0]))
        ]

    async def _run_period(
        self,
        month: Period,
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
            reversal_window=clawback.reversal_window(
                (month.bounds(zone_of(branch.time_zone)) for branch in branches),
                self.settings.clawback_lookback_days,
            ),
        )
        # A few branches at once, each in its own transaction: while one waits on orders'
        # stream or its database, another's lines are priced, so the processes of the run
        # (this one, orders, customers and both databases) work side by side.
        gate = asyncio.Semaphore(self.settings.branch_concurrency)

        async def run_branch(branch: directory_pb2.Branch) -> pb.PeriodSummary:
            async with gate:
                return await self._run_branch(context, branch, explicit=explicit, actor=actor)

        tasks = [asyncio.create_task(run_branch(branch)) for branch in branches]
        try:
            context.summaries.extend(await asyncio.gather(*tasks))
        except BaseException:
            # The first failure is the run's; the branches still running roll back.
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        order = {branch.id: index for index, branch in enumerate(branches)}
        context.changed.sort(key=order.__getitem__)
        context.locked.sort(key=order.__getitem__)
        return context

    async def _run_branch(
        self, context: RunContext, branch: directory_pb2.Branch, *, explicit: bool, actor: str
    ) -> pb.PeriodSummary:
        period = str(context.period)
        start, end = context.period.bounds(zone_of(branch.time_zone))
        started = time.monotonic()
        with _tracer.start_as_current_span(
            "commissions.run_branch", attributes={"branch_id": branch.id, "period": period}
        ):
            async with self.db.transaction() as session:
                # Before any line is touched: a freeze holding the lock updates lines too.
                frozen = await freezes.frozen_employees(session)
                row = await periods.lock_period_row(session, branch.id, period)
                if not locking.may_change(row.status):
                    if explicit:
                        raise FailedPrecondition(
                            f"period {period} of branch {branch.id} is locked",
                            details={"period": period, "branch_id": branch.id},
                        )
                    context.locked.append(branch.id)
                    return periods.summary_to_proto(row)  # a run of every branch leaves it be
                before = periods.without_actor(row.summary)
                # A re-run on PostgreSQL stages its lines and writes back what changed.
                rerun = row.run_count > 0 and session.bind.dialect.name == "postgresql"
                if rerun:
                    table = await lines.stage(session)
                else:
                    table = lines.LINES
                    await session.execute(
                        delete(Line).where(Line.period == period, Line.branch_id == branch.id)
                    )
                writer = LineWriter(session, self.settings.write_batch_size, table)
                await self._write_commissions(writer, context, frozen, branch.id, start, end)
                lookback = clawback.lookback_from(start, self.settings.clawback_lookback_days)
                await writer.extend(
                    await self.clawbacks.rows(session, context, branch.id, (lookback, end))
                )
                await writer.flush()
                if context.plan.cap_per_period_minor:
                    await periods.apply_period_cap(
                        session, period, branch.id, context.plan.cap_per_period_minor, table
                    )
                if rerun:
                    await lines.merge_staged(session, period, branch.id)
                row.summary = {
                    **await periods.summarize(session, period, branch.id),
                    "run_by": actor,
                }
                if row.run_count == 0 or periods.without_actor(row.summary) != before:
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
        return periods.summary_to_proto(row)

    async def _write_commissions(
        self,
        writer: LineWriter,
        context: RunContext,
        frozen: dict[str, str],
        branch_id: str,
        start: datetime,
        end: datetime,
    ) -> None:
        """The COMMISSION lines of the valid orders paid in [start, end); each batch's
        lookups run while the batch before it is priced and written."""
        stamp_from, stamp_to = to_timestamp(start), to_timestamp(end)
        assert stamp_from is not None and stamp_to is not None
        ahead: deque[_Batch] = deque()
        stream = self.peers.valid_orders(branch_id, stamp_from, stamp_to)
        try:
            async for orders in _regrouped(stream, self.settings.facts_batch_size):
                ahead.append((orders, asyncio.create_task(self._look_up(context, orders))))
                if len(ahead) > LOOKUPS_AHEAD:
                    await self._write_batch(writer, context, frozen, branch_id, *ahead.popleft())
            while ahead:
                await self._write_batch(writer, context, frozen, branch_id, *ahead.popleft())
        finally:
            for _, task in ahead:
                task.cancel()
            await asyncio.gather(*(task for _, task in ahead), return_exceptions=True)
        await writer.flush()

    async def _look_up(
        self, context: RunContext, orders: Sequence[payments_pb2.ValidOrder]
    ) -> dict[str, str | None]:
        return await look_up(
            self.peers,
            context,
            orders,
            batch_size=self.settings.facts_batch_size,
            cache_size=self.settings.facts_cache_size,
        )

    @staticmethod
    async def _write_batch(
        writer: LineWriter,
        context: RunContext,
        frozen: dict[str, str],
        branch_id: str,
        orders: Sequence[payments_pb2.ValidOrder],
        looked_up: asyncio.Task[dict[str, str | None]],
    ) -> None:
        sources = await looked_up
        await writer.extend(commission_rows(context, frozen, branch_id, orders, sources))

    async def lock(self, period: str, branch_id: str) -> pb.PeriodSummary:
        return await periods.lock(self.db, self.policy, period, branch_id)

    async def freeze_employee(self, employee_id: str, reason: str) -> int:
        return await freezes.freeze_employee(self.db, self.policy, employee_id, reason)
