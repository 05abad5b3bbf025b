"""Reconciliation (O5) as set-based SQL, and the stream of valid orders for commissions.

A run is a handful of statements in one transaction, each over whole tables,
none looping over orders or payments in Python:

1. match the unmatched, non-reversed payments to orders: the order the payment
   states, else the order code it quotes, else customer + amount (below);
2. classify every approved, fulfilled or closed order from the sum of its
   matched, non-reversed payments (in its currency): paid amount, state, and
   the moment the running sum first reached the total (a window function);
3. raise FAKE_DEAL_SUSPECTED and PAYER_MISMATCH with INSERT … SELECT … ON
   CONFLICT (dedupe_key) DO NOTHING, the same rows ``raise_alert`` writes.

Every statement is idempotent: matched payments keep their match, the
classification only writes rows whose values change, alerts have stable
dedupe keys. A second run over the same data changes nothing.

Customer + amount stays set-based by ranking both sides: within a group
(payer key, currency, amount) the unmatched payments are numbered by
(paid_at, id) and the open orders — approved/fulfilled/closed, no payment
matched yet, one of the customer's keys equal to the payer key — by
(expected_payment_date, number); the n-th payment takes the n-th order. So the
oldest payment pays the order due first, deterministically, each order takes
one payment and each payment one order. (An order whose name key and company
key are both payer keys of the same amount sits in two groups; it then keeps
only its earliest payment, the other stays unmatched.) A payment matched
through the order it states or the code it quotes is ``ORDER_CODE`` (the
contract's two values), one matched by payer and amount ``CUSTOMER_AMOUNT``.

The statements are the same text on PostgreSQL and SQLite except for a few
fragments (:mod:`salesguard_orders.sqlparts`). On PostgreSQL a run takes an
advisory lock (runs are serialised), raises ``work_mem`` for its transaction
(sorts and hashes over a million rows stay in memory) and refreshes the
statistics of a table it has just changed wholesale, so later statements are
planned for the rows they will meet, not for the ones before the run.

GetReconciliation lists orders within the caller's scope (own, team, branch,
all). Unmatched payments belong to no branch until matched, so only an "all"
grant sees them (the scope filter over their branch yields exactly that): a
branch manager must not browse every customer's incoming money.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Date,
    Integer,
    Row,
    String,
    TextClause,
    and_,
    bindparam,
    func,
    or_,
    select,
    text,
)
from sqlalchemy.engine import Result
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import TypeEngine

from salesguard import alerts, validation
from salesguard.alerts import CATALOG
from salesguard.db import UtcDateTime, utcnow
from salesguard.errors import InvalidInput
from salesguard.money import to_proto
from salesguard.orders.v1 import payments_pb2 as pb
from salesguard.pagination import count_if_asked, decode_cursor, keyset_page
from salesguard.policy import Decision, scope_filter
from salesguard.principal import current_principal
from salesguard.service import Runtime
from salesguard.timeutil import from_timestamp
from salesguard.validation import enum_value, page_size
from salesguard_orders import SERVICE_NAME
from salesguard_orders.models import Order, Payment, ReconciliationRun
from salesguard_orders.ordering import (
    ORDER_SCOPE,
    PAYMENT_STATES,
    SOURCES,
    Orders,
    present_orders,
)
from salesguard_orders.payments import PAYMENT_SCOPE, payment_to_proto
from salesguard_orders.peers import caller_today, caller_zone, day_end, local_today
from salesguard_orders.settings import OrdersSettings
from salesguard_orders.sqlparts import SqlDialect, dialect_of

log = logging.getLogger(__name__)

# Orders that reconciliation classifies (a fake deal hides behind APPROVED or FULFILLED).
CLASSIFIED = ("APPROVED", "FULFILLED", "CLOSED")
VALID_STATES = ("RECONCILED", "OVERPAID")
STATE_VALUES = {name: number for number, name in PAYMENT_STATES.items()}
SOURCE_VALUES = {name: number for number, name in SOURCES.items()}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Sorts and hashes over a million rows stay in memory for the run's transaction.
RUN_WORK_MEM = "256MB"
# Serialises runs: two at once would race for the same unmatched payments.
RUN_LOCK_KEY = 0x5A1E5_0005
# After changing this many rows, a statement refreshes the planner's statistics (in the
# transaction, so later statements of the run plan with the counts they will meet).
ANALYZE_AFTER_ROWS = 10_000

_IN_CLASSIFIED = "('APPROVED', 'FULFILLED', 'CLOSED')"


@dataclass(frozen=True)
class FakeDealThresholds:
    grace_days: int = 0


@dataclass
class RunFigures:
    """What a run's statements did: rows matched per rule, orders changed, alerts, seconds."""

    matched: dict[str, int] = field(default_factory=dict)
    classified: int = 0
    raised: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def _statements(d: SqlDialect) -> dict[str, str]:
    """The run's statements in this dialect."""
    match_stated = """
        UPDATE payments
        SET order_id = o.id, customer_id = o.customer_id, branch_id = o.branch_id,
            matched_by = 'ORDER_CODE'
        FROM orders o
        WHERE payments.order_id IS NULL AND NOT payments.reversed
          AND payments.stated_order_id = o.id
    """
    match_quoted = """
        UPDATE payments
        SET order_id = o.id, customer_id = o.customer_id, branch_id = o.branch_id,
            matched_by = 'ORDER_CODE'
        FROM orders o
        WHERE payments.order_id IS NULL AND NOT payments.reversed
          AND payments.quoted_order_number = o.number
    """
    keyed_orders = " UNION ".join(
        f"""
            SELECT o.id, o.number, o.customer_id, o.branch_id, o.currency, o.total_minor,
                   o.expected_payment_date, o.{key} AS payer_key
            FROM orders o
            WHERE o.status IN {_IN_CLASSIFIED} AND o.{key} <> ''
              AND (o.{key}, o.currency, o.total_minor) IN
                  (SELECT payer_key, currency, amount_minor FROM open_payments)
        """  # noqa: S608 (constant fragments, no input)
        for key in ("customer_name_key", "customer_company_key")
    )
    match_customer_amount = f"""
        WITH open_payments AS (
            SELECT id, payer_key, currency, amount_minor, paid_at,
                   row_number() OVER (
                       PARTITION BY payer_key, currency, amount_minor ORDER BY paid_at, id
                   ) AS rank
            FROM payments
            WHERE order_id IS NULL AND NOT reversed AND payer_key <> ''
        ),
        keyed_orders AS ({keyed_orders}),
        open_orders AS (
            SELECT k.*,
                   row_number() OVER (
                       PARTITION BY k.payer_key, k.currency, k.total_minor
                       ORDER BY k.expected_payment_date, k.number
                   ) AS rank
            FROM keyed_orders k
            WHERE NOT EXISTS (
                SELECT 1 FROM payments m WHERE m.order_id = k.id AND NOT m.reversed
            )
        ),
        pairs AS (
            SELECT p.id AS payment_id, o.id AS order_id, o.customer_id, o.branch_id,
                   row_number() OVER (PARTITION BY o.id ORDER BY p.paid_at, p.id) AS take
            FROM open_payments p
            JOIN open_orders o
              ON o.payer_key = p.payer_key AND o.currency = p.currency
             AND o.total_minor = p.amount_minor AND o.rank = p.rank
        )
        UPDATE payments
        SET order_id = pairs.order_id, customer_id = pairs.customer_id,
            branch_id = pairs.branch_id, matched_by = 'CUSTOMER_AMOUNT'
        FROM pairs
        WHERE payments.id = pairs.payment_id AND pairs.take = 1
    """  # noqa: S608 (constant fragments, no input)
    # Keyed by the order number (an integer) rather than the text ID: cheaper to sort and hash.
    classify = f"""
        WITH matched AS (
            SELECT o.number, o.total_minor, p.amount_minor, p.paid_at,
                   sum(p.amount_minor) OVER (
                       PARTITION BY o.number ORDER BY p.paid_at, p.id ROWS UNBOUNDED PRECEDING
                   ) AS running
            FROM payments p
            JOIN orders o ON o.id = p.order_id
            WHERE NOT p.reversed AND p.currency = o.currency AND o.status IN {_IN_CLASSIFIED}
        ),
        sums AS (
            SELECT number, max(total_minor) AS total_minor, sum(amount_minor) AS paid,
                   min(CASE WHEN running >= total_minor THEN paid_at END) AS fully_paid_at
            FROM matched
            GROUP BY number
        ),
        target AS (
            SELECT number, total_minor, paid, fully_paid_at FROM sums
            UNION ALL
            -- orders that were paid and are no longer (a reversal, a rematch)
            SELECT o.number, o.total_minor, 0, NULL
            FROM orders o
            WHERE o.status IN {_IN_CLASSIFIED}
              AND (o.paid_minor <> 0 OR o.payment_state <> 'UNPAID' OR o.fully_paid_at IS NOT NULL)
              AND o.number NOT IN (SELECT number FROM sums)
        ),
        classified AS (
            SELECT number, paid, fully_paid_at,
                   CASE WHEN paid = 0 THEN 'UNPAID'
                        WHEN paid < total_minor THEN 'PARTIALLY_PAID'
                        WHEN paid = total_minor THEN 'RECONCILED'
                        ELSE 'OVERPAID' END AS state
            FROM target
        )
        UPDATE orders
        SET paid_minor = classified.paid, payment_state = classified.state,
            fully_paid_at = classified.fully_paid_at
        FROM classified
        WHERE orders.number = classified.number
          AND (orders.paid_minor <> classified.paid OR orders.payment_state <> classified.state
               OR orders.fully_paid_at {d.differs} classified.fully_paid_at)
    """  # noqa: S608 (constant fragments, no input)
    alert_columns = (
        "id, kind, rule, severity, status, employee_id, customer_id, order_id, branch_id,"
        " detected_at, evidence, dedupe_key"
    )
    fake_deals = f"""
        INSERT INTO alerts ({alert_columns})
        SELECT {d.new_id}, :kind, :rule, :severity, 'OPEN', o.submitted_by, o.customer_id, o.id,
               o.branch_id, :now,
               {d.json_object}(
                   'order_code', {d.order_code("o.number")},
                   'total', {d.money("o.total_minor")},
                   'currency', o.currency,
                   'order_date', o.order_date,
                   'expected_payment_date', o.expected_payment_date,
                   'days_past_due', {d.days_between(":as_of", "o.expected_payment_date")},
                   'grace_days', :grace_days,
                   'as_of', :as_of_text,
                   'status', o.status
               ),
               'FAKE_DEAL_SUSPECTED:' || o.id
        FROM orders o
        WHERE o.status IN ('APPROVED', 'FULFILLED') AND o.expected_payment_date < :cutoff
          AND o.payment_state = 'UNPAID' AND o.paid_minor = 0 AND NOT o.shipped
          AND NOT EXISTS (SELECT 1 FROM shipments s WHERE s.order_id = o.id)
        ON CONFLICT (dedupe_key) DO NOTHING
        RETURNING {alert_columns}
    """  # noqa: S608 (constant fragments, no input)
    payer_mismatches = f"""
        INSERT INTO alerts ({alert_columns})
        SELECT {d.new_id}, :kind, :rule, :severity, 'OPEN', o.submitted_by, o.customer_id, o.id,
               o.branch_id, :now,
               {d.json_object}(
                   'payment_id', p.id,
                   'bank_reference', p.bank_reference,
                   'payer_name', p.payer_name,
                   'amount', {d.money("p.amount_minor")},
                   'currency', p.currency,
                   'paid_at', p.paid_at,
                   'order_code', {d.order_code("o.number")},
                   'customer_code', o.customer_code
               ),
               'PAYER_MISMATCH:' || p.id
        FROM payments p
        JOIN orders o ON o.id = p.order_id
        WHERE p.matched_by = 'ORDER_CODE'
          AND p.payer_key <> o.customer_name_key AND p.payer_key <> o.customer_company_key
        ON CONFLICT (dedupe_key) DO NOTHING
        RETURNING {alert_columns}
    """  # noqa: S608 (constant fragments, no input)
    order_counts = f"""
        SELECT payment_state, count(*) FROM orders
        WHERE status IN {_IN_CLASSIFIED} GROUP BY payment_state
    """  # noqa: S608 (constant fragments, no input)
    payment_counts = """
        SELECT count(order_id), count(*) - count(order_id) FROM payments WHERE NOT reversed
    """
    return {
        "match_stated": match_stated,
        "match_quoted": match_quoted,
        "match_customer_amount": match_customer_amount,
        "classify": classify,
        "fake_deals": fake_deals,
        "payer_mismatches": payer_mismatches,
        "order_counts": order_counts,
        "payment_counts": payment_counts,
    }


# Every parameter typed: PostgreSQL cannot infer one inside json_build_object(VARIADIC "any").
PARAMETER_TYPES: dict[str, TypeEngine[Any]] = {
    "now": UtcDateTime(),
    "as_of": Date(),
    "cutoff": Date(),
    "grace_days": Integer(),
    "as_of_text": String(),
    "kind": String(),
    "rule": String(),
    "severity": String(),
}


def typed(statement: str) -> TextClause:
    """The statement with its parameters typed (a ``::cast`` is no parameter)."""
    names = set(re.findall(r"(?<![:\w]):(\w+)", statement))
    return text(statement).bindparams(
        *(bindparam(name, type_=PARAMETER_TYPES[name]) for name in sorted(names))
    )


def _alert_values(row: Row[Any]) -> dict[str, Any]:
    values = dict(row._mapping)
    if isinstance(values.get("evidence"), str):
        values["evidence"] = json.loads(values["evidence"])
    return values


def _announce(rows: Sequence[Row[Any]]) -> None:
    """What raise_alert does after a write, for alerts written set-based."""
    alerts.announce_raised(SERVICE_NAME, [_alert_values(row) for row in rows])


class Reconciliation:
    def __init__(self, runtime: Runtime[OrdersSettings], orders: Orders) -> None:
        self.runtime = runtime
        self.orders = orders
        self.db = runtime.db
        self.policy = runtime.policy
        self._sql = {
            name: typed(statement)
            for name, statement in _statements(dialect_of(self.db.engine.dialect.name)).items()
        }

    async def fake_deal_thresholds(self) -> FakeDealThresholds:
        values = await self.policy.threshold("fake_deal")
        return FakeDealThresholds(grace_days=int(values.get("grace_days", 0)))

    # -- RunReconciliation ---------------------------------------------------------------

    async def run(self, request: pb.RunReconciliationRequest) -> pb.RunReconciliationResponse:
        principal = current_principal()
        (await self.policy.decide(principal, "reconciliation.run")).require("reconciliation.run")
        as_of = (
            validation.civil_date("as_of", request.as_of)
            if request.as_of
            # Today where the caller works (UTC for a service, or without the directory).
            else await caller_today(self.orders.zones, principal)
        )
        thresholds = await self.fake_deal_thresholds()
        started_at = utcnow()
        async with self.db.transaction() as session:
            figures = await self.reconcile(session, as_of, thresholds, started_at)
            states = {
                state: int(count)
                for state, count in await session.execute(self._sql["order_counts"])
            }
            payments_matched, payments_unmatched = (
                await session.execute(self._sql["payment_counts"])
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
                    run_by=principal.id,
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
                        "seconds": figures.seconds,
                    },
                )
            )
        log.info(
            "reconciliation run",
            extra={"as_of": as_of.isoformat(), "seconds": (utcnow() - started_at).total_seconds()},
        )
        return response

    async def reconcile(
        self, session: AsyncSession, as_of: date, thresholds: FakeDealThresholds, now: datetime
    ) -> RunFigures:
        """Match, classify, raise: the run's statements in the caller's transaction."""
        figures = RunFigures()
        postgres = not self.db.is_sqlite
        if postgres:
            await session.execute(text(f"SET LOCAL work_mem = '{RUN_WORK_MEM}'"))
            await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": RUN_LOCK_KEY})
        for name in ("match_stated", "match_quoted", "match_customer_amount"):
            figures.matched[name] = await self._rowcount(session, name, figures)
            if postgres and name == "match_quoted" and figures.matched[name] > ANALYZE_AFTER_ROWS:
                # The planner would still see every payment unmatched and pick nested loops.
                await self._timed(session, "analyze_payments", text("ANALYZE payments"), figures)
        figures.classified = await self._rowcount(session, "classify", figures)
        if postgres and figures.classified > ANALYZE_AFTER_ROWS:
            await self._timed(session, "analyze_orders", text("ANALYZE orders"), figures)
        figures.raised = await self._raise(session, as_of, thresholds, now, figures)
        return figures

    async def _timed(
        self,
        session: AsyncSession,
        name: str,
        statement: TextClause,
        figures: RunFigures,
        params: dict[str, Any] | None = None,
    ) -> Result[Any]:
        started = time.perf_counter()
        result = await session.execute(statement, params)
        figures.seconds[name] = round(time.perf_counter() - started, 3)
        return result

    async def _rowcount(self, session: AsyncSession, name: str, figures: RunFigures) -> int:
        result = await self._timed(session, name, self._sql[name], figures)
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def _raise(
        self,
        session: AsyncSession,
        as_of: date,
        thresholds: FakeDealThresholds,
        now: datetime,
        figures: RunFigures,
    ) -> dict[str, int]:
        raised: dict[str, int] = {}
        for kind, name, extra in (
            (
                "FAKE_DEAL_SUSPECTED",
                "fake_deals",
                {
                    # Due before as_of − grace: a payment may take `grace` days to arrive.
                    "cutoff": as_of - timedelta(days=thresholds.grace_days),
                    "as_of": as_of,
                    "as_of_text": as_of.isoformat(),
                    "grace_days": thresholds.grace_days,
                },
            ),
            ("PAYER_MISMATCH", "payer_mismatches", {}),
        ):
            entry = CATALOG[kind]
            params = {"kind": kind, "rule": entry.rule, "severity": entry.severity, "now": now}
            rows = (
                await self._timed(session, name, self._sql[name], figures, params | extra)
            ).all()
            _announce(rows)
            raised[kind] = len(rows)
        return raised

    # -- GetReconciliation ---------------------------------------------------------------

    async def get(self, request: pb.GetReconciliationRequest) -> pb.GetReconciliationResponse:
        principal = current_principal()
        decision = (await self.policy.decide(principal, "reconciliation.read")).require(
            "reconciliation.read"
        )
        size = decision.page_size(page_size("page.page_size", request.page.page_size))
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
            conditions.append(Order.payment_state.in_(states))
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
            unmatched = (
                await self._unmatched_payments(session, decision, as_of, zone, size)
                if not request.page.page_token
                else []
            )
        items = []
        for row, order in zip(page.rows, protos, strict=True):
            due = max(row.total_minor - row.paid_minor, 0)
            items.append(
                pb.ReconciliationItem(
                    order=order,
                    state=STATE_VALUES.get(row.payment_state, 0),  # type: ignore[arg-type]
                    paid=to_proto(row.paid_minor),
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

    # -- StreamValidOrders ---------------------------------------------------------------

    async def stream_valid_orders(
        self, request: pb.StreamValidOrdersRequest
    ) -> AsyncIterator[pb.StreamValidOrdersResponse]:
        decision = (await self.policy.decide(current_principal(), "orders.stream_valid")).require(
            "orders.stream_valid"
        )
        paid_from = from_timestamp(request.paid_from, "paid_from")
        paid_to = from_timestamp(request.paid_to, "paid_to")
        if paid_from is None or paid_to is None:
            raise InvalidInput("paid_from", "paid_from and paid_to are required")
        if paid_from >= paid_to:
            raise InvalidInput("paid_to", "paid_to must be after paid_from")
        conditions: list[Any] = [
            scope_filter(decision, ORDER_SCOPE),
            Order.status.in_(CLASSIFIED),
            Order.payment_state.in_(VALID_STATES),
            Order.fully_paid_at >= paid_from,
            Order.fully_paid_at < paid_to,
        ]
        if request.branch_id:
            conditions.append(Order.branch_id == request.branch_id)
        batch = self.runtime.settings.stream_batch_size
        query = (
            select(
                Order.id,
                Order.number,
                Order.customer_id,
                Order.submitted_by,
                Order.team_id,
                Order.branch_id,
                Order.total_minor,
                Order.currency,
                Order.fully_paid_at,
                Order.source_claim,
            )
            .where(*conditions)
            .order_by(Order.fully_paid_at, Order.number)
            .execution_options(yield_per=batch)
        )
        async with self.db.read() as session:
            result = await session.stream(query)
            async for rows in result.partitions(batch):
                yield valid_orders_batch(rows)


def valid_orders_batch(rows: Sequence[Row[Any]]) -> pb.StreamValidOrdersResponse:
    """One message of the stream, built field by field (the hot loop of a million orders)."""
    response = pb.StreamValidOrdersResponse()
    add = response.orders.add
    sources = SOURCE_VALUES
    for (
        order_id,
        number,
        customer_id,
        submitted_by,
        team_id,
        branch_id,
        total_minor,
        currency,
        fully_paid_at,
        source_claim,
    ) in rows:
        order = add(
            order_id=order_id,
            code=f"O-{number:06d}",
            customer_id=customer_id,
            submitted_by=submitted_by,
            team_id=team_id or "",
            branch_id=branch_id or "",
            currency=currency,
            source_claim=sources.get(source_claim, 0),
        )
        whole, cents = divmod(total_minor, 100)
        order.total.value = f"{whole}.{cents:02d}"
        delta = fully_paid_at - EPOCH
        stamp = order.fully_paid_at
        stamp.seconds = delta.days * 86_400 + delta.seconds
        stamp.nanos = delta.microseconds * 1000
    return response
