"""Reconciliation as an API (the stream of valid orders for commissions: :mod:`.valid_orders`).

RunReconciliation (finance, and the daily job ``orders.reconciliation``) runs the full
reconciliation of :mod:`salesguard_orders.matching` with the fake-deal check and records
the run. Payments need no run to be matched: recording, importing and reversing them
reconciles the orders they touch at once (the same statements, narrowed).

GetReconciliation lists orders within the caller's scope (own, team, branch,
all). Unmatched payments belong to no branch until matched, so only an "all"
grant sees them (the scope filter over their branch yields exactly that): a
branch manager must not browse every customer's incoming money.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from salesguard import validation
from salesguard.db import utcnow
from salesguard.errors import InvalidInput
from salesguard.listing import scoped_page_size
from salesguard.money import to_proto
from salesguard.pagination import count_if_asked, decode_cursor, keyset_page
from salesguard.policy import Decision, scope_filter
from salesguard.principal import current_principal
from salesguard.validation import enum_value
from salesguard_api.orders.v1 import payments_pb2 as pb
from salesguard_orders.matching import RunFigures, fake_deal_thresholds
from salesguard_orders.models import (
    UNPAID_STATE,
    Order,
    Payment,
    ReconciliationRun,
    payment_state_of,
)
from salesguard_orders.ordering import ORDER_SCOPE, OrdersPart
from salesguard_orders.payments import PAYMENT_SCOPE, payment_to_proto
from salesguard_orders.peers import as_of_day, caller_zone, day_end, local_today
from salesguard_orders.presentation import PAYMENT_STATES, payment_states, present_orders
from salesguard_orders.rules.reconciliation import CLASSIFIED

log = logging.getLogger(__name__)

STATE_VALUES = {name: number for number, name in PAYMENT_STATES.items()}
# An incremental run reads what was recorded since the last run began, less this: a write
# around the service whose transaction began before that run and committed after it.
SINCE_OVERLAP = timedelta(days=1)


@dataclass(frozen=True)
class RunOutcome:
    """A full run: the answer RunReconciliation gives, and what the run's statements did."""

    response: pb.RunReconciliationResponse
    figures: RunFigures
    grace_days: int


class Reconciliation(OrdersPart):
    # -- RunReconciliation ---------------------------------------------------------------

    async def run(self, request: pb.RunReconciliationRequest) -> pb.RunReconciliationResponse:
        principal = current_principal()
        (await self.policy.decide(principal, "reconciliation.run")).require("reconciliation.run")
        as_of = await as_of_day(self.orders.zones, principal, request.as_of)
        return (
            await self.execute(as_of, run_by=principal.id, incremental=request.incremental)
        ).response

    async def execute(self, as_of: date, *, run_by: str, incremental: bool = False) -> RunOutcome:
        """The run as of ``as_of``, recorded; the caller has been authorised. Incremental
        (:meth:`.Reconciler.run_incremental`, since the last run began) once a run has been
        recorded, else full. An incremental run counts the orders it matched payments to."""
        thresholds = await fake_deal_thresholds(self.policy)
        started_at = utcnow()
        async with self.db.transaction() as session:
            last_run = (
                await session.scalar(select(func.max(ReconciliationRun.started_at)))
                if incremental
                else None
            )
            if last_run is not None:
                figures = await self.reconciler.run_incremental(
                    session, as_of, thresholds, started_at, since=last_run - SINCE_OVERLAP
                )
                states, payments_unmatched = await self.reconciler.incremental_counts(
                    session, figures
                )
                payments_matched = sum(figures.matched.values())
            else:
                figures = await self.reconciler.run_all(session, as_of, thresholds, started_at)
                states = {
                    state: int(count)
                    for state, count in await session.execute(
                        self.reconciler.statement("order_counts")
                    )
                }
                payments_matched, payments_unmatched = (
                    await session.execute(self.reconciler.statement("payment_counts"))
                ).one()
            response = pb.RunReconciliationResponse(
                orders=sum(states.values()),
                payments_matched=int(payments_matched or 0),
                payments_unmatched=int(payments_unmatched or 0),
                reconciled=states.get("RECONCILED", 0),
                partially_paid=states.get("PARTIALLY_PAID", 0),
                unpaid=states.get("UNPAID", 0),
                overpaid=states.get("OVERPAID", 0),
                alerts_raised=sum(figures.raised.values()),
            )
            session.add(
                ReconciliationRun(
                    as_of=as_of,
                    started_at=started_at,
                    finished_at=utcnow(),
                    run_by=run_by,
                    summary={
                        "orders": response.orders,
                        "payments_matched": response.payments_matched,
                        "payments_unmatched": response.payments_unmatched,
                        "reconciled": response.reconciled,
                        "partially_paid": response.partially_paid,
                        "unpaid": response.unpaid,
                        "overpaid": response.overpaid,
                        "alerts_raised": response.alerts_raised,
                        "newly_matched": {
                            "stated_order": figures.matched["match_stated"],
                            "order_code": figures.matched["match_quoted"],
                            "customer_amount": figures.matched["match_customer_amount"],
                        },
                        "orders_changed": figures.classified,
                        "alerts_by_kind": figures.raised,
                        "grace_days": thresholds.grace_days,
                        "incremental": last_run is not None,
                        "seconds": figures.seconds,
                    },
                )
            )
        log.info(
            "reconciliation run",
            extra={"as_of": as_of.isoformat(), "seconds": (utcnow() - started_at).total_seconds()},
        )
        return RunOutcome(response, figures, thresholds.grace_days)

    # -- GetReconciliation ---------------------------------------------------------------

    async def get(self, request: pb.GetReconciliationRequest) -> pb.GetReconciliationResponse:
        principal = current_principal()
        decision, size = await scoped_page_size(
            self.policy, "reconciliation.read", request.page, self.runtime.settings.page_limits
        )
        # Days are the caller's: as_of defaults to their today and ends at their midnight.
        zone = await caller_zone(self.orders.zones, principal)
        as_of = (
            validation.civil_date("as_of", request.as_of) if request.as_of else local_today(zone)
        )
        states = [enum_value("states", value, PAYMENT_STATES) for value in request.states]
        conditions: list[Any] = [
            scope_filter(decision, ORDER_SCOPE),
            Order.status.in_(CLASSIFIED),
            Order.order_date <= as_of,
        ]
        if states:
            conditions.append(payment_state_of(Order.number).in_(states))
        query = select(Order).where(*conditions)
        if request.page.page_token:
            after_due, after_number = decode_cursor(request.page.page_token, 2)
            try:
                due_day = date.fromisoformat(str(after_due))
            except ValueError:
                raise InvalidInput("page.page_token", "the page token is malformed") from None
            if not isinstance(after_number, int) or isinstance(after_number, bool):
                raise InvalidInput("page.page_token", "the page token is malformed")
            query = query.where(
                or_(
                    Order.expected_payment_date > due_day,
                    and_(Order.expected_payment_date == due_day, Order.number > after_number),
                )
            )
        # The longest overdue first: what finance chases.
        query = query.order_by(Order.expected_payment_date, Order.number).limit(size + 1)
        async with self.db.read() as session:
            rows = list((await session.scalars(query)).all())
            total = await count_if_asked(
                request.page, session, select(func.count()).select_from(Order).where(*conditions)
            )
            page = keyset_page(
                rows, size, lambda row: (row.expected_payment_date.isoformat(), row.number)
            )
            protos = await present_orders(session, page.rows)
            paid = await payment_states(session, (row.number for row in page.rows))
            unmatched = (
                await self._unmatched_payments(session, decision, as_of, zone, size)
                if not request.page.page_token
                else []
            )
        items = []
        for row, order in zip(page.rows, protos, strict=True):
            state = paid.get(row.number)
            paid_minor = state.paid_minor if state else 0
            due = max(row.total_minor - paid_minor, 0)
            items.append(
                pb.ReconciliationItem(
                    order=order,
                    state=STATE_VALUES.get(  # type: ignore[arg-type]
                        state.payment_state if state else UNPAID_STATE, 0
                    ),
                    paid=to_proto(paid_minor),
                    due=to_proto(due),
                    expected_payment_date=row.expected_payment_date.isoformat(),
                    past_due=due > 0 and row.expected_payment_date < as_of,
                )
            )
        return pb.GetReconciliationResponse(
            items=items,
            cursors=page.cursors,
            page_info=page.page_info(total),
            unmatched_payments=unmatched,
        )

    async def _unmatched_payments(
        self, session: AsyncSession, decision: Decision, as_of: date, zone: ZoneInfo, size: int
    ) -> list[pb.Payment]:
        """Unmatched payments received up to the end of as_of in ``zone``, newest first (an
        "all" grant only)."""
        until = day_end(as_of, zone)
        query = (
            select(Payment)
            .where(
                scope_filter(decision, PAYMENT_SCOPE),
                Payment.order_id.is_(None),
                Payment.reversed.is_(False),
                Payment.paid_at < until,
            )
            .order_by(Payment.paid_at.desc(), Payment.id.desc())
            .limit(size)
        )
        rows = (await session.scalars(query)).all()
        return [payment_to_proto(row) for row in rows]
