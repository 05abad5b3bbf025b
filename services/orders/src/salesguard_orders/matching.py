"""Reconciliation's rules (O5) as set-based SQL: over every order, or over what a write touched.

A full run is a handful of statements in one transaction, each over whole tables, none
looping over orders or payments in Python:

1. match the unmatched, non-reversed payments to orders: the order the payment
   states, else the order code it quotes, else customer + amount (below);
2. classify every approved, fulfilled or closed order from the sum of its
   matched, non-reversed payments (in its currency): paid amount, state, and
   the moment the running sum first reached the total (a window function);
3. raise FAKE_DEAL_SUSPECTED and PAYER_MISMATCH with INSERT … SELECT … ON
   CONFLICT (dedupe_key) DO NOTHING, the same rows ``raise_alert`` writes.

Recording, importing or reversing a payment, approving an order and recording a
shipment run the same statements in their own transaction, narrowed to what they
touched (:class:`Touched`): the payments they wrote are matched, the customer + amount
groups of those payments and of the touched orders are ranked, the orders matched and
touched are classified and the payments checked for a payer mismatch. The statements
are rendered once per scope from one text: the full run's scope is ``1 = 1``, the
touched scope an ``IN`` over a JSON array parameter, so a write costs what it touched,
not what history holds. The fake-deal check depends on the calendar, not on a write:
only the full run (the daily job, or finance) makes it.

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

Locks (PostgreSQL; SQLite runs one writer at a time anyway): a full run and a
statement import hold the run lock exclusively; every other write holds it shared,
then the locks of the customer + amount groups it may match in, then those of the
orders it will classify — in that order, and before any row lock on an order or an
existing payment, so two writers never wait for each other crosswise. Two payments
of one group thus rank one after the other, and two payments of one order are
classified one after the other, each seeing the other's.

The statements are the same text on PostgreSQL and SQLite except for a few
fragments (:mod:`salesguard_orders.sqlparts`). On PostgreSQL a full run raises
``work_mem`` for its transaction (sorts and hashes over a million rows stay in memory)
and refreshes the statistics of a table it has just changed wholesale, so later
statements are planned for the rows they will meet, not for the ones before the run.
On SQLite a full run refreshes approximate statistics, without which SQLite would find
a write's orders by status rather than by ID.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Date, Integer, Row, String, TextClause, bindparam, select, text
from sqlalchemy.engine import Result
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import TypeEngine

from salesguard import alerts
from salesguard.alerts import CATALOG
from salesguard.db import Database, UtcDateTime, lock_keys
from salesguard_orders import SERVICE_NAME
from salesguard_orders.models import Order
from salesguard_orders.sqlparts import SqlDialect, dialect_of

# Orders that reconciliation classifies (a fake deal hides behind APPROVED or FULFILLED).
CLASSIFIED = ("APPROVED", "FULFILLED", "CLOSED")
# Sorts and hashes over a million rows stay in memory for the run's transaction.
RUN_WORK_MEM = "256MB"
# Exclusive for a full run or an import, shared for every other write: a full run's
# classification, computed from one snapshot, must not overwrite what a write committed.
RUN_LOCK = "reconciliation:run"
# After changing this many rows, a statement refreshes the planner's statistics (in the
# transaction, so later statements of the run plan with the counts they will meet).
ANALYZE_AFTER_ROWS = 10_000

# Rows of each index SQLite's ANALYZE samples.
SQLITE_ANALYSIS_LIMIT = 1000

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


@dataclass(frozen=True)
class Touched:
    """What one write touched: payments it recorded or reversed, orders it approved or
    shipped or whose payment it reversed."""

    payment_ids: frozenset[str] = frozenset()
    order_ids: frozenset[str] = frozenset()


@dataclass(frozen=True)
class PaymentGroup:
    """A customer + amount group: the payments of one payer key, currency and amount, and
    the orders of that customer key, currency and total."""

    payer_key: str
    currency: str
    amount_minor: int

    @property
    def lock_key(self) -> str:
        return f"reconciliation:group:{self.currency}:{self.amount_minor}:{self.payer_key}"


def order_lock_key(order_id: str) -> str:
    return f"reconciliation:order:{order_id}"


@dataclass(frozen=True)
class _Scope:
    """Where the statements look, as SQL predicates (see the module docstring)."""

    # The payments (the UPDATE's ``payments``) matched by the order they state or quote.
    payments: str
    # The customer + amount groups ranked, over open payments' columns.
    groups: str
    # The orders (``o``) classified.
    orders: str
    # The payments (``p``) checked for a payer mismatch.
    payer_checks: str
    # What the match statements return: the orders they matched, to classify them next.
    returning: str


def _everything() -> _Scope:
    return _Scope(
        payments="1 = 1", groups="1 = 1", orders="1 = 1", payer_checks="1 = 1", returning=""
    )


def _touched(d: SqlDialect) -> _Scope:
    # Groups of the touched payments still open, and of the touched orders (both keys).
    groups = " UNION ".join(
        [
            f"""SELECT t.payer_key, t.currency, t.amount_minor FROM payments t
                WHERE {d.in_ids("t.id", ":payment_ids")}
                  AND t.order_id IS NULL AND NOT t.reversed""",  # noqa: S608
            *(
                f"""SELECT t.{key}, t.currency, t.total_minor FROM orders t
                    WHERE {d.in_ids("t.id", ":order_ids")}"""  # noqa: S608 (constant fragments)
                for key in ("customer_name_key", "customer_company_key")
            ),
        ]
    )
    return _Scope(
        payments=d.in_ids("payments.id", ":payment_ids"),
        groups=f"(payer_key, currency, amount_minor) IN ({groups})",
        orders=d.in_ids("o.id", ":order_ids"),
        payer_checks=d.in_ids("p.id", ":payment_ids"),
        returning="RETURNING payments.order_id",
    )


def _match_statements(d: SqlDialect, s: _Scope) -> dict[str, str]:
    """Matching (1. above) and classification (2.) within a scope."""
    match_stated = f"""
        UPDATE payments
        SET order_id = o.id, customer_id = o.customer_id, branch_id = o.branch_id,
            matched_by = 'ORDER_CODE'
        FROM orders o
        WHERE payments.order_id IS NULL AND NOT payments.reversed
          AND payments.stated_order_id = o.id AND {s.payments}
        {s.returning}
    """  # noqa: S608 (constant fragments, no input)
    match_quoted = f"""
        UPDATE payments
        SET order_id = o.id, customer_id = o.customer_id, branch_id = o.branch_id,
            matched_by = 'ORDER_CODE'
        FROM orders o
        WHERE payments.order_id IS NULL AND NOT payments.reversed
          AND payments.quoted_order_number = o.number AND {s.payments}
        {s.returning}
    """  # noqa: S608 (constant fragments, no input)
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
            WHERE order_id IS NULL AND NOT reversed AND payer_key <> '' AND {s.groups}
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
        {s.returning}
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
              AND {s.orders}
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
            WHERE o.status IN {_IN_CLASSIFIED} AND {s.orders}
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
    return {
        "match_stated": match_stated,
        "match_quoted": match_quoted,
        "match_customer_amount": match_customer_amount,
        "classify": classify,
    }


_ALERT_COLUMNS = (
    "id, kind, rule, severity, status, employee_id, customer_id, order_id, branch_id,"
    " detected_at, evidence, dedupe_key"
)


def _payer_mismatches(d: SqlDialect, s: _Scope) -> str:
    return f"""
        INSERT INTO alerts ({_ALERT_COLUMNS})
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
        WHERE p.matched_by = 'ORDER_CODE' AND {s.payer_checks}
          AND p.payer_key <> o.customer_name_key AND p.payer_key <> o.customer_company_key
        ON CONFLICT (dedupe_key) DO NOTHING
        RETURNING {_ALERT_COLUMNS}
    """  # noqa: S608 (constant fragments, no input)


def _full_run_statements(d: SqlDialect) -> dict[str, str]:
    """Everything a full run executes: matching and classification over every row, the
    fake-deal check, payer mismatches, and the counts it reports."""
    everything = _everything()
    fake_deals = f"""
        INSERT INTO alerts ({_ALERT_COLUMNS})
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
        RETURNING {_ALERT_COLUMNS}
    """  # noqa: S608 (constant fragments, no input)
    order_counts = f"""
        SELECT payment_state, count(*) FROM orders
        WHERE status IN {_IN_CLASSIFIED} GROUP BY payment_state
    """  # noqa: S608 (constant fragments, no input)
    payment_counts = """
        SELECT count(order_id), count(*) - count(order_id) FROM payments WHERE NOT reversed
    """
    return {
        **_match_statements(d, everything),
        "fake_deals": fake_deals,
        "payer_mismatches": _payer_mismatches(d, everything),
        "order_counts": order_counts,
        "payment_counts": payment_counts,
    }


def _touched_statements(d: SqlDialect) -> dict[str, str]:
    touched = _touched(d)
    return {**_match_statements(d, touched), "payer_mismatches": _payer_mismatches(d, touched)}


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
    # Lists of IDs (SqlDialect.id_list): what a write touched.
    "payment_ids": String(),
    "order_ids": String(),
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


class Reconciler:
    """The reconciliation statements of one database, run in the caller's transaction."""

    def __init__(self, db: Database) -> None:
        self.db = db
        dialect = self._dialect = dialect_of(db.engine.dialect.name)
        self._full = {name: typed(sql) for name, sql in _full_run_statements(dialect).items()}
        self._touched = {name: typed(sql) for name, sql in _touched_statements(dialect).items()}

    def statement(self, name: str) -> TextClause:
        """One of the full run's statements (the run's counts read them too)."""
        return self._full[name]

    # -- the full run ----------------------------------------------------------------

    async def run_all(
        self, session: AsyncSession, as_of: date, thresholds: FakeDealThresholds, now: datetime
    ) -> RunFigures:
        """Match, classify, raise over every order and payment."""
        figures = RunFigures()
        postgres = not self.db.is_sqlite
        await lock_keys(session, RUN_LOCK)
        if postgres:
            await session.execute(text(f"SET LOCAL work_mem = '{RUN_WORK_MEM}'"))
        for name in ("match_stated", "match_quoted", "match_customer_amount"):
            figures.matched[name] = await self._rowcount(session, name, figures)
            if postgres and name == "match_quoted" and figures.matched[name] > ANALYZE_AFTER_ROWS:
                # The planner would still see every payment unmatched and pick nested loops.
                await self._timed(session, "analyze_payments", text("ANALYZE payments"), figures)
        figures.classified = await self._rowcount(session, "classify", figures)
        if postgres and figures.classified > ANALYZE_AFTER_ROWS:
            await self._timed(session, "analyze_orders", text("ANALYZE orders"), figures)
        figures.raised = await self._raise_full(session, as_of, thresholds, now, figures)
        if not postgres:
            # Without statistics SQLite would look up a write's orders by status, not by ID.
            # Approximate ones (a bounded sample) are enough, and cheap.
            await session.execute(text(f"PRAGMA analysis_limit = {SQLITE_ANALYSIS_LIMIT}"))
            for table in ("orders", "payments"):
                await self._timed(session, f"analyze_{table}", text(f"ANALYZE {table}"), figures)
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
        result = await self._timed(session, name, self._full[name], figures)
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def _raise_full(
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
            raised[kind] = await self._raise(
                session, kind, self._full[name], now, figures, extra, name
            )
        return raised

    async def _raise(
        self,
        session: AsyncSession,
        kind: str,
        statement: TextClause,
        now: datetime,
        figures: RunFigures,
        extra: dict[str, Any],
        name: str,
    ) -> int:
        entry = CATALOG[kind]
        params = {"kind": kind, "rule": entry.rule, "severity": entry.severity, "now": now}
        rows = (await self._timed(session, name, statement, figures, params | extra)).all()
        _announce(rows)
        return len(rows)

    # -- what a write touched ----------------------------------------------------------

    async def lock(
        self,
        session: AsyncSession,
        *,
        groups: Iterable[PaymentGroup] = (),
        order_ids: Collection[str] = (),
    ) -> None:
        """Take a write's locks, before it locks any order or existing payment row: the run
        lock (shared), the groups of its payments and of ``order_ids``, those orders.
        Orders a match finds later are locked by :meth:`reconcile`."""
        keys = {group.lock_key for group in groups if group.payer_key}
        if order_ids:
            rows = await session.execute(
                select(
                    Order.customer_name_key,
                    Order.customer_company_key,
                    Order.currency,
                    Order.total_minor,
                ).where(Order.id.in_(sorted(order_ids)))
            )
            for name_key, company_key, currency, total in rows:
                keys |= {
                    PaymentGroup(key, currency, total).lock_key
                    for key in (name_key, company_key)
                    if key
                }
        await lock_keys(session, RUN_LOCK, shared=True)
        await lock_keys(session, *keys)
        await lock_keys(session, *(order_lock_key(order_id) for order_id in order_ids))

    async def lock_all(self, session: AsyncSession) -> None:
        """Hold off every other write's reconciliation (a statement import: many groups
        and orders at once)."""
        await lock_keys(session, RUN_LOCK)

    async def reconcile(
        self, session: AsyncSession, touched: Touched, now: datetime, *, holding_all: bool = False
    ) -> RunFigures:
        """Match the touched payments, rank the touched groups, classify the orders matched
        and touched, check the payers: the full run's statements, narrowed to ``touched``.

        The caller holds the locks of :meth:`lock`, or with ``holding_all`` the one of
        :meth:`lock_all` (then no order needs a lock of its own: nobody else reconciles).
        """
        figures = RunFigures()
        params = {
            "payment_ids": self._dialect.id_list(touched.payment_ids),
            "order_ids": self._dialect.id_list(touched.order_ids),
        }
        orders = set(touched.order_ids)
        steps = ("match_stated", "match_quoted") if touched.payment_ids else ()
        for name in (*steps, "match_customer_amount"):
            result = await self._timed(session, name, self._touched[name], figures, params)
            matched = [order_id for order_id in result.scalars().all() if order_id]
            figures.matched[name] = len(matched)
            orders.update(matched)
        # The orders a match found: classified one writer at a time, each seeing the other's.
        if not holding_all:
            found = orders - touched.order_ids
            await lock_keys(session, *(order_lock_key(order_id) for order_id in found))
        if orders:
            result = await self._timed(
                session,
                "classify",
                self._touched["classify"],
                figures,
                {"order_ids": self._dialect.id_list(orders)},
            )
            figures.classified = int(result.rowcount)  # type: ignore[attr-defined]
        if touched.payment_ids:
            figures.raised["PAYER_MISMATCH"] = await self._raise(
                session,
                "PAYER_MISMATCH",
                self._touched["payer_mismatches"],
                now,
                figures,
                {"payment_ids": params["payment_ids"]},
                "payer_mismatches",
            )
        return figures
