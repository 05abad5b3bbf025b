"""The CLAWBACK lines of a run of one branch's period: the reversals streamed from orders
once per run, each branch's originals found set-based, the lines built by the rule."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from salesguard.batching import chunks
from salesguard.timeutil import from_timestamp, to_timestamp
from salesguard_api.orders.v1 import payments_pb2
from salesguard_commissions.lines import NO_ALERT_IDS, LineRow
from salesguard_commissions.models import Line, Period
from salesguard_commissions.peers import Peers
from salesguard_commissions.rules import clawback, locking
from salesguard_commissions.rules.vocabulary import CLAWBACK, PAYABLE
from salesguard_commissions.run_context import RunContext

# Reversals' orders looked up per query.
REVERSAL_CHUNK = 500


class Clawbacks:
    def __init__(self, peers: Peers) -> None:
        self.peers = peers
        # The branches of a run ask at once; the first streams the reversals.
        self._streaming = asyncio.Lock()

    async def rows(
        self,
        session: AsyncSession,
        context: RunContext,
        branch_id: str,
        window: tuple[datetime, datetime],
    ) -> list[LineRow]:
        """CLAWBACK lines for this branch's reversals in ``window`` whose order has an
        original line (:func:`~salesguard_commissions.rules.clawback.originals_query`)."""
        reversed_orders: dict[str, payments_pb2.PaymentReversal] = {}
        for reversal in await self._reversals(context):
            reversed_at = from_timestamp(reversal.reversed_at, "reversed_at")
            if not clawback.reversal_applies(reversal.branch_id, branch_id, reversed_at, window):
                continue
            if reversal.order_id and reversal.order_id not in reversed_orders:
                reversed_orders[reversal.order_id] = reversal
        if not reversed_orders:
            return []
        period = str(context.period)
        originals: dict[str, Any] = {}
        order_ids = sorted(reversed_orders)
        for chunk in chunks(order_ids, REVERSAL_CHUNK):
            query = clawback.originals_query(
                Line.__table__,
                Period.__table__,
                chunk,
                branch_id,
                period,
            )
            for line in (await session.execute(query)).all():
                originals.setdefault(line.order_id, line)  # the latest locked period's line
        found = await self.peers.employees(
            {line.employee_id for line in originals.values()} - context.teams.keys()
        )
        for employee_id, employee in found.items():
            context.teams[employee_id] = employee.team_id or None
        rows: list[LineRow] = []
        for order_id in sorted(originals):
            line = originals[order_id]
            reversal = reversed_orders[order_id]
            kind = payments_pb2.ReversalKind.Name(reversal.kind).removeprefix("REVERSAL_KIND_")
            rows.append(
                (
                    locking.line_id(period, branch_id, order_id, CLAWBACK),
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
                    clawback.clawback_amount(line.amount_minor),
                    line.currency,
                    clawback.clawback_reason(line.period, reversal.payment_id, kind),
                    NO_ALERT_IDS,
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
        async with self._streaming:
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
