"""The incremental run (the daily job's) leaves what a full run leaves, on PostgreSQL.

Two databases get the same history (the reconciliation benchmark's mix, at a small size),
the same full run, then the same mixed day: payments quoting an order, paying half, paying
too much, from another payer, in another currency, by customer + amount (two ranked in one
group and a third left over), stated, matching nothing; an order approved and a payment
reversed through the write path (reconciled at once, as the service does); the calendar
moving on. One database then runs incrementally, the other fully: every order's state,
every payment's match and every alert must be the same.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from benchmarks.reconciliation import SEED_ORDERS, SEED_PAYMENTS, SEED_SHIPMENTS
from salesguard import migrations
from salesguard.db import Database
from salesguard_orders.matching import FakeDealThresholds, Reconciler, Touched
from salesguard_orders.models import Order, Payment
from salesguard_orders.reconciliation import SINCE_OVERLAP
from salesguard_orders.server import service as orders_app
from tests.support.servers import PostgresDatabases

SIZE = 3_000
TODAY = date.today()
NOW = datetime.now(UTC)
THRESHOLDS = FakeDealThresholds(grace_days=3)
# Two approved orders of one customer key and total, due apart: a group ranked by due day.
RANKED_KEY = "ranked customer"
RANKED_TOTAL = 77_700
# The order a payment quoted before it was submitted, paying part of it (only its code
# matches it).
FUTURE = SIZE + 3
FUTURE_TOTAL = 60_000
FUTURE_PAID = 55_500


def total(n: int) -> int:
    """The benchmark seed's total of order ``n``."""
    return 10000 + (n * 7919) % 9990000


async def seeded(postgres: PostgresDatabases, name: str) -> Database:
    db = Database(await postgres.create(name))
    await migrations.upgrade(db.engine, orders_app.migrations_dir)
    params = {"orders": SIZE, "payments": SIZE}
    async with db.transaction() as session:
        await session.execute(text(SEED_ORDERS), params)
        await session.execute(text(SEED_SHIPMENTS))
        await session.execute(text(SEED_PAYMENTS), params)
        for number, due in ((SIZE + 1, 40), (SIZE + 2, 20)):
            session.add(
                Order(
                    number=number,
                    id=f"ranked-{number}",
                    customer_id="ranked",
                    submitted_by="rep-ranked",
                    currency="CNY",
                    total_minor=RANKED_TOTAL,
                    order_date=TODAY - timedelta(days=90),
                    expected_payment_date=TODAY - timedelta(days=due),
                    source_claim="WEBSITE",
                    registered_source="WEBSITE",
                    status="APPROVED",
                    customer_name_key=RANKED_KEY,
                )
            )
        # Recorded three days ago quoting an order nobody has submitted yet.
        session.add(
            payment("future", FUTURE_PAID, payer="future customer", quoted=FUTURE, hours_ago=72)
        )
    # The history reconciled fully, as of two months ago.
    async with db.transaction() as session:
        await Reconciler(db).run_all(session, TODAY - timedelta(days=60), THRESHOLDS, NOW)
    return db


def payment(
    reference: str,
    amount_minor: int,
    *,
    payer: str,
    quoted: int | None = None,
    stated: str | None = None,
    currency: str = "CNY",
    hours_ago: int = 1,
) -> Payment:
    paid_at = NOW - timedelta(hours=hours_ago)
    return Payment(
        id=f"day-{reference}",
        bank_reference=f"DAY-{reference}",
        payer_name=payer,
        payer_key=payer,
        amount_minor=amount_minor,
        currency=currency,
        paid_at=paid_at,
        reference_text=f"Payment for O-{quoted:06d}" if quoted else "",
        quoted_order_number=quoted,
        stated_order_id=stated,
        recorded_at=paid_at,
        recorded_by="finance",
    )


async def order_id(db: Database, number: int) -> str:
    async with db.read() as session:
        found = await session.scalar(
            text("SELECT id FROM orders WHERE number = :number"), {"number": number}
        )
    assert found is not None
    return str(found)


async def a_day(db: Database) -> None:
    """The day's writes, the same on every database."""
    reconciler = Reconciler(db)
    stated = await order_id(db, 2904)
    async with db.transaction() as session:
        session.add_all(
            [
                # An approved, unpaid order paid in full by its code; another paid half.
                payment("full", total(2901), payer="customer 2901", quoted=2901),
                payment("half", total(2902) // 2, payer="customer 2902", quoted=2902),
                # Another payer quoting a fulfilled order: PAYER_MISMATCH.
                payment("other-payer", total(2940), payer="someone else", quoted=2940),
                # By customer + amount only; stated when recorded; nobody's.
                payment("by-amount", total(2903), payer="customer 2903"),
                payment("stated", total(2904), payer="customer 2904", stated=stated),
                payment("nobody", 12_345, payer="nobody at all"),
                # Too much for an order already reconciled; another currency for an order.
                payment("extra", 1_000, payer="customer 10", quoted=10),
                payment("dollars", total(2905), payer="customer 2905", quoted=2905, currency="USD"),
                # Three payments of one group for two open orders: the earliest two take
                # them by due day, the third stays open.
                payment("ranked-1", RANKED_TOTAL, payer=RANKED_KEY, hours_ago=5),
                payment("ranked-2", RANKED_TOTAL, payer=RANKED_KEY, hours_ago=3),
                payment("ranked-3", RANKED_TOTAL, payer=RANKED_KEY, hours_ago=2),
            ]
        )
    # Through the write path: a submitted order approved (its customer + amount payment
    # waits for it), the order an older payment quoted approved, a payment reversed; each
    # reconciles what it touched.
    async with db.transaction() as session:
        session.add(
            Order(
                number=FUTURE,
                id="future",
                customer_id="future",
                submitted_by="rep-future",
                currency="CNY",
                total_minor=FUTURE_TOTAL,
                order_date=TODAY,
                expected_payment_date=TODAY + timedelta(days=30),
                source_claim="WEBSITE",
                registered_source="WEBSITE",
                status="APPROVED",
                customer_name_key="future customer",
            )
        )
    async with db.transaction() as session:
        await reconciler.lock(session, order_ids=["future"])
        await reconciler.reconcile(session, Touched(order_ids=frozenset({"future"})), NOW)
    approved = await order_id(db, 2790)
    async with db.transaction() as session:
        await reconciler.lock(session, order_ids=[approved])
        await session.execute(
            text("UPDATE orders SET status = 'APPROVED' WHERE id = :id"), {"id": approved}
        )
        await reconciler.reconcile(session, Touched(order_ids=frozenset({approved})), NOW)
    reversed_order = await order_id(db, 5)
    async with db.transaction() as session:
        await reconciler.lock(session, order_ids=[reversed_order])
        reversed_payment = await session.scalar(
            text("UPDATE payments SET reversed = true WHERE order_id = :id RETURNING id"),
            {"id": reversed_order},
        )
        await reconciler.reconcile(
            session,
            Touched(
                payment_ids=frozenset({str(reversed_payment)}),
                order_ids=frozenset({reversed_order}),
            ),
            NOW,
        )


async def outcome(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every order's state, every payment's match, every alert but its ID and time."""
    queries = {
        "orders": """SELECT o.number, coalesce(s.payment_state, 'UNPAID'),
                            coalesce(s.paid_minor, 0), s.fully_paid_at
                     FROM orders o
                     LEFT JOIN order_payment_states s ON s.order_number = o.number""",
        "payments": "SELECT id, order_id, customer_id, branch_id, matched_by FROM payments",
        "alerts": """SELECT dedupe_key, kind, rule, severity, status, employee_id, customer_id,
                            order_id, branch_id, evidence::text FROM alerts""",
    }
    async with db.read() as session:
        return {
            name: sorted(tuple(row) for row in await session.execute(text(query)))
            for name, query in queries.items()
        }


@pytest.fixture
async def twins(postgres: PostgresDatabases) -> AsyncIterator[tuple[Database, Database]]:
    incremental = await seeded(postgres, "incremental")
    full = await seeded(postgres, "full")
    try:
        yield incremental, full
    finally:
        await incremental.dispose()
        await full.dispose()


async def test_an_incremental_run_leaves_what_a_full_run_leaves(
    twins: tuple[Database, Database],
) -> None:
    incremental, full = twins
    assert await outcome(incremental) == await outcome(full)
    for db in twins:
        await a_day(db)
    async with incremental.transaction() as session:
        day = await Reconciler(incremental).run_incremental(
            session, TODAY, THRESHOLDS, NOW, since=NOW - SINCE_OVERLAP
        )
    async with full.transaction() as session:
        everything = await Reconciler(full).run_all(session, TODAY, THRESHOLDS, NOW)
    assert day.matched == everything.matched
    assert day.raised == everything.raised
    assert day.raised["PAYER_MISMATCH"] == 1
    assert day.raised["FAKE_DEAL_SUSPECTED"] > 0
    # All but "nobody" and "ranked-3"; "future" though recorded before the window.
    assert sum(day.matched.values()) == 10
    after_day, after_full = await outcome(incremental), await outcome(full)
    assert after_day == after_full
    states = {number: state for number, state, _, _ in after_day["orders"]}
    assert states[2901] == "RECONCILED"
    assert states[2902] == "PARTIALLY_PAID"
    assert states[10] == "OVERPAID"
    assert states[5] == "UNPAID"
    assert states[SIZE + 1] == states[SIZE + 2] == "RECONCILED"
    assert states[FUTURE] == "PARTIALLY_PAID"
    matched = {payment_id: order for payment_id, order, _, _, _ in after_day["payments"]}
    # The group's earliest payment takes the order due first.
    assert matched["day-ranked-1"] == f"ranked-{SIZE + 1}"
    assert matched["day-ranked-2"] == f"ranked-{SIZE + 2}"
    assert matched["day-ranked-3"] is None
    # A second incremental run changes nothing.
    async with incremental.transaction() as session:
        again = await Reconciler(incremental).run_incremental(
            session, TODAY, THRESHOLDS, NOW, since=NOW - SINCE_OVERLAP
        )
    assert sum(again.matched.values()) == again.classified == sum(again.raised.values()) == 0
    assert await outcome(incremental) == after_day
