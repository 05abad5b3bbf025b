"""Reconciliation run set-based: over every order, or over what a write touched.

What is decided — which order a payment pays, each order's payment state, suspected
fake deals, payer mismatches — is :mod:`salesguard_orders.rules.reconciliation`; the
statements that say it in SQL over whole tables are
:mod:`salesguard_orders.reconciliation_statements`. This module runs them:

1. match the open payments to orders, in the rules' order of precedence;
2. classify the orders those matches and the write touched: each classified order's
   payment state is a narrow row of ``order_payment_states`` (given, unpaid, to an order
   without one first), never the wide order row, and only a state that differs is written;
3. raise the alerts through the suite's one alert writer
   (``salesguard.alerts.raise_alerts_selected``: rule and severity from the catalogue,
   idempotent on the dedupe keys, announced).

A full run (the daily job, or finance) is a handful of statements in one transaction,
each over whole tables, none looping over orders or payments in Python, and makes the
fake-deal check, which depends on the calendar rather than on a write. Recording,
importing or reversing a payment, approving an order and recording a shipment run the
same statements in their own transaction, narrowed to what they touched
(:class:`Touched`): a write costs what it touched, not what history holds.

The daily job's run is incremental (:meth:`Reconciler.run_incremental`): the same
statements over the open payments recorded since the last run (or quoting an order
submitted since), the orders they match, the payers of what they matched and the orders
that may be fake deals (a partial index of them), so a day costs the day's payments; as
every write reconciled what it touched, it leaves what a full run would.

Every statement is idempotent: matched payments keep their match, the classification
only writes state rows whose values change, alerts have stable dedupe keys. A second run over
the same data changes nothing.

Locks (PostgreSQL; SQLite runs one writer at a time anyway): a full run and a
statement import hold the run lock exclusively; every other write holds it shared,
then the locks of the customer + amount groups it may match in, then those of the
orders it will classify — in that order, and before any row lock on an order or an
existing payment, so two writers never wait for each other crosswise. Two payments
of one group thus rank one after the other, and two payments of one order are
classified one after the other, each seeing the other's.

On PostgreSQL a full run raises ``work_mem`` for its transaction (sorts and hashes over
a million rows stay in memory) and, after changing a table wholesale, refreshes the
statistics of the columns its later statements read, so they are planned for the rows
they will meet, not for the ones before the run. On SQLite a full run refreshes approximate statistics, without
which SQLite would find a write's orders by status rather than by ID.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import TextClause, select, text
from sqlalchemy.engine import Result
from sqlalchemy.ext.asyncio import AsyncSession

from salesguard.alerts import raise_alerts_selected
from salesguard.db import Database, lock_keys
from salesguard.policy import PolicyClient
from salesguard_orders import SERVICE_NAME
from salesguard_orders.models import Alert, Order
from salesguard_orders.reconciliation_statements import (
    MATCH_WRITES,
    OPEN_PAYMENT_COUNT,
    ORDER_COUNTS,
    PAYMENT_COUNTS,
    STATE_WRITES,
    AlertRows,
    fake_deal_rows,
    full_scope,
    match_statements,
    matched_order_counts,
    payer_mismatch_rows,
    shipment_overdue_rows,
    since_scope,
    touched_scope,
    typed,
)
from salesguard_orders.rules import reconciliation as rules
from salesguard_orders.sqlparts import dialect_of

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


@dataclass(frozen=True)
class FakeDealThresholds:
    grace_days: int = 0
    # How long after its due date a back-order may promise to ship.
    back_order_max_days: int = 60
    # Whole days an approved order has to ship, be back-ordered or paid (SHIPMENT_OVERDUE).
    ship_within_days: int = 7


async def fake_deal_thresholds(policy: PolicyClient) -> FakeDealThresholds:
    """The fake-deal check's policy data (``fake_deal``)."""
    values = await policy.threshold("fake_deal")
    return FakeDealThresholds(
        grace_days=int(values.get("grace_days", 0)),
        back_order_max_days=int(
            values.get("back_order_max_days", FakeDealThresholds.back_order_max_days)
        ),
        ship_within_days=int(values.get("ship_within_days", FakeDealThresholds.ship_within_days)),
    )


@dataclass
class RunFigures:
    """What a run's statements did: rows matched per rule, orders changed, alerts, seconds."""

    matched: dict[str, int] = field(default_factory=dict)
    classified: int = 0
    raised: dict[str, int] = field(default_factory=dict)
    # An incremental run's: the orders it matched payments to.
    matched_orders: frozenset[str] = frozenset()
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


def _analyze(table: str, columns: Iterable[str]) -> TextClause:
    """PostgreSQL's ANALYZE of the columns the run's later statements read, after a
    statement rewrote them: a fraction of a whole table's (the columns' statistics are
    half the cost), the same plans after."""
    return text(f"ANALYZE {table} ({', '.join(columns)})")


# What the run's figures call each alert statement.
ALERT_STEPS = {
    rules.FAKE_DEAL_SUSPECTED: "fake_deals",
    rules.SHIPMENT_OVERDUE: "overdue_shipments",
    rules.PAYER_MISMATCH: "payer_mismatches",
}


class Reconciler:
    """The reconciliation statements of one database, run in the caller's transaction."""

    def __init__(self, db: Database) -> None:
        self.db = db
        dialect = self._dialect = dialect_of(db.engine.dialect.name)
        self._full = {
            name: typed(sql)
            for name, sql in {
                **match_statements(dialect, full_scope()),
                "order_counts": ORDER_COUNTS,
                "payment_counts": PAYMENT_COUNTS,
            }.items()
        }
        # The incremental run's matching, each match returned; its counts.
        self._since = {
            name: typed(sql)
            for name, sql in match_statements(dialect, since_scope()).items()
            if name in rules.MATCH_PRECEDENCE
        }
        self._since_counts = {
            "order_counts": typed(matched_order_counts(dialect)),
            "payment_counts": typed(OPEN_PAYMENT_COUNT),
        }
        self._touched = {
            name: typed(sql)
            for name, sql in match_statements(dialect, touched_scope(dialect)).items()
        }
        self._full_alerts = {
            rules.FAKE_DEAL_SUSPECTED: self._alert_statement(fake_deal_rows(dialect)),
            rules.SHIPMENT_OVERDUE: self._alert_statement(shipment_overdue_rows(dialect)),
            rules.PAYER_MISMATCH: self._alert_statement(payer_mismatch_rows(dialect, full_scope())),
        }
        self._touched_alerts = {
            rules.PAYER_MISMATCH: self._alert_statement(
                payer_mismatch_rows(dialect, touched_scope(dialect))
            )
        }

    @staticmethod
    def _alert_statement(rows: AlertRows) -> TextClause:
        return typed(rows.select())

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
        for name in rules.MATCH_PRECEDENCE:
            figures.matched[name] = await self._rowcount(session, name, figures)
            if postgres and name == "match_quoted" and figures.matched[name] > ANALYZE_AFTER_ROWS:
                # The planner would still see every payment unmatched and pick nested loops.
                await self._timed(
                    session, "analyze_payments", _analyze("payments", MATCH_WRITES), figures
                )
        # An order given its (unpaid) row is not changed: without one it was unpaid.
        await self._rowcount(session, "state_rows", figures)
        figures.classified = await self._rowcount(session, "classify", figures)
        if postgres and figures.classified > ANALYZE_AFTER_ROWS:
            await self._timed(
                session,
                "analyze_payment_states",
                _analyze("order_payment_states", STATE_WRITES),
                figures,
            )
        figures.raised = await self._raise_full(session, as_of, thresholds, now, figures)
        if not postgres:
            # Without statistics SQLite would look up a write's orders by status, not by ID.
            # Approximate ones (a bounded sample) are enough, and cheap.
            await session.execute(text(f"PRAGMA analysis_limit = {SQLITE_ANALYSIS_LIMIT}"))
            for table in ("orders", "order_payment_states", "payments"):
                await self._timed(session, f"analyze_{table}", text(f"ANALYZE {table}"), figures)
        return figures

    async def run_incremental(
        self,
        session: AsyncSession,
        as_of: date,
        thresholds: FakeDealThresholds,
        now: datetime,
        since: datetime,
    ) -> RunFigures:
        """What a full run would change, reading only what can change it: the open payments
        recorded ``since`` (or quoting an order submitted since), the orders they match, the
        payments they match checked for their payer, the orders that may be fake deals.

        Equal to :meth:`run_all` when every write before ``since`` went through the service
        (each reconciled what it touched; an older open payment waits for nothing a write
        did not try); a full run repairs anything written around it.
        """
        figures = RunFigures()
        postgres = not self.db.is_sqlite
        await lock_keys(session, RUN_LOCK)
        if postgres:
            await session.execute(text(f"SET LOCAL work_mem = '{RUN_WORK_MEM}'"))
        payments: set[str] = set()
        orders: set[str] = set()
        for name in rules.MATCH_PRECEDENCE:
            result = await self._timed(session, name, self._since[name], figures, {"since": since})
            matched = result.all()
            figures.matched[name] = len(matched)
            payments.update(payment_id for payment_id, _ in matched)
            orders.update(order_id for _, order_id in matched)
        figures.matched_orders = frozenset(orders)
        if orders:
            await self._classify(session, orders, figures)
        raised = await self._raise_full(session, as_of, thresholds, now, figures, checks=False)
        raised[rules.PAYER_MISMATCH] = (
            await self._raise(
                session,
                rules.PAYER_MISMATCH,
                self._touched_alerts,
                now,
                figures,
                {"payment_ids": self._dialect.id_list(payments)},
            )
            if payments
            else 0
        )
        figures.raised = raised
        return figures

    async def incremental_counts(
        self, session: AsyncSession, figures: RunFigures
    ) -> tuple[dict[str, int], int]:
        """An incremental run's counts: the orders it matched payments to by state, and the
        payments still open."""
        states = {
            str(state): int(count)
            for state, count in await session.execute(
                self._since_counts["order_counts"],
                {"order_ids": self._dialect.id_list(figures.matched_orders)},
            )
        }
        unmatched = await session.scalar(self._since_counts["payment_counts"])
        return states, int(unmatched or 0)

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

    async def _classify(
        self, session: AsyncSession, order_ids: Iterable[str], figures: RunFigures
    ) -> None:
        """Classify the orders a match touched (their payment state from their payments)."""
        params = {"order_ids": self._dialect.id_list(order_ids)}
        await self._timed(session, "state_rows", self._touched["state_rows"], figures, params)
        result = await self._timed(session, "classify", self._touched["classify"], figures, params)
        figures.classified = int(result.rowcount)  # type: ignore[attr-defined]

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
        *,
        checks: bool = True,
    ) -> dict[str, int]:
        """The fake-deal and overdue-shipment checks and, with ``checks``, every matched
        payment's payer check."""
        fake_deal_params = {
            "cutoff": rules.fake_deal_cutoff(as_of, thresholds.grace_days),
            "as_of": as_of,
            "as_of_text": as_of.isoformat(),
            "grace_days": thresholds.grace_days,
        }
        overdue_params = {
            "ship_cutoff": rules.shipping_cutoff(as_of, thresholds.ship_within_days),
            "ship_within_days": thresholds.ship_within_days,
            "as_of": as_of,
            "as_of_text": as_of.isoformat(),
        }
        raised = {
            rules.FAKE_DEAL_SUSPECTED: await self._raise(
                session,
                rules.FAKE_DEAL_SUSPECTED,
                self._full_alerts,
                now,
                figures,
                fake_deal_params,
            ),
            rules.SHIPMENT_OVERDUE: await self._raise(
                session, rules.SHIPMENT_OVERDUE, self._full_alerts, now, figures, overdue_params
            ),
        }
        if checks:
            raised[rules.PAYER_MISMATCH] = await self._raise(
                session, rules.PAYER_MISMATCH, self._full_alerts, now, figures, {}
            )
        return raised

    async def _raise(
        self,
        session: AsyncSession,
        kind: str,
        statements: dict[str, TextClause],
        now: datetime,
        figures: RunFigures,
        params: dict[str, Any],
    ) -> int:
        """Raise the alerts of ``kind`` its statement selects, through the alert writer."""
        started = time.perf_counter()
        raised = await raise_alerts_selected(
            session, Alert, kind, statements[kind], params, detected_at=now, source=SERVICE_NAME
        )
        figures.seconds[ALERT_STEPS[kind]] = round(time.perf_counter() - started, 3)
        return len(raised)

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
        # Without payments of its own a write matches only by customer + amount (the
        # groups of its orders): nothing names an order that was not named before.
        steps = rules.MATCH_PRECEDENCE if touched.payment_ids else rules.MATCH_PRECEDENCE[-1:]
        for name in steps:
            result = await self._timed(session, name, self._touched[name], figures, params)
            matched = [order_id for order_id in result.scalars().all() if order_id]
            figures.matched[name] = len(matched)
            orders.update(matched)
        # The orders a match found: classified one writer at a time, each seeing the other's.
        if not holding_all:
            found = orders - touched.order_ids
            await lock_keys(session, *(order_lock_key(order_id) for order_id in found))
        if orders:
            await self._classify(session, orders, figures)
        if touched.payment_ids:
            figures.raised[rules.PAYER_MISMATCH] = await self._raise(
                session,
                rules.PAYER_MISMATCH,
                self._touched_alerts,
                now,
                figures,
                {"payment_ids": params["payment_ids"]},
            )
        return figures
