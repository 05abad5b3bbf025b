"""An order's payment state is a narrow row of its own (``order_payment_states``, issue 16).

Reconciliation classifies into those rows, never into the wide order rows: a full run
leaves every order row as it was, gives every classified order exactly one state row (an
order never classified has none and reads as unpaid), and a second run over the same data
writes no row at all. The migration that moved the state copies it from the orders.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import bindparam, select, text

from benchmarks.reconciliation import SEED_ORDERS, SEED_PAYMENTS, SEED_SHIPMENTS
from salesguard import migrations
from salesguard.db import Database, UtcDateTime
from salesguard.principal import acting_as
from salesguard.timeutil import to_timestamp
from salesguard_api.orders.v1 import payments_pb2
from salesguard_orders.matching import FakeDealThresholds, Reconciler
from salesguard_orders.models import OrderPaymentState
from salesguard_orders.reconciliation_statements import ORDER_COUNTS
from salesguard_orders.server import service as orders_app
from tests.harness import Suite, unique
from tests.integration.reconciliation.support import (
    RECONCILED,
    Client,
    ago,
    customer,
    people_of,
)
from tests.org import make_org
from tests.support.databases import empty_database
from tests.support.orders_service import dec
from tests.support.servers import PostgresDatabases

SIZE = 2_000
TODAY = date.today()
RECONCILED_STATE = "RECONCILED"
NOW = datetime.now(UTC)


async def row_versions(db: Database, table: str, key: str) -> dict[int, str]:
    """Each row's version (PostgreSQL's xmin): it changes whenever the row is written."""
    async with db.read() as session:
        rows = await session.execute(text(f"SELECT {key}, xmin::text FROM {table}"))
        return {int(number): str(version) for number, version in rows}


async def full_run(db: Database) -> int:
    async with db.transaction() as session:
        figures = await Reconciler(db).run_all(session, TODAY, FakeDealThresholds(), NOW)
    return figures.classified


async def test_classification_writes_only_changed_state_rows(postgres: PostgresDatabases) -> None:
    db = Database(await postgres.create("payment_state_rows"))
    try:
        await migrations.upgrade(db.engine, orders_app.migrations_dir)
        params = {"orders": SIZE, "payments": SIZE}
        async with db.transaction() as session:
            await session.execute(text(SEED_ORDERS), params)
            await session.execute(text(SEED_SHIPMENTS))
            await session.execute(text(SEED_PAYMENTS), params)
            # Approved orders as written around the service: no state row yet.
            await session.execute(
                text(
                    "DELETE FROM order_payment_states WHERE order_number IN"
                    " (SELECT number FROM orders WHERE status = 'APPROVED' AND number % 2 = 0)"
                )
            )
        orders_before = await row_versions(db, "orders", "number")

        assert await full_run(db) > SIZE // 2
        # The wide order rows are not written by classification.
        assert await row_versions(db, "orders", "number") == orders_before
        async with db.read() as session:
            classified = set(
                (
                    await session.scalars(
                        text(
                            "SELECT number FROM orders"
                            " WHERE status IN ('APPROVED', 'FULFILLED', 'CLOSED')"
                        )
                    )
                ).all()
            )
            with_state = set(
                (await session.scalars(text("SELECT order_number FROM order_payment_states"))).all()
            )
            counts = {
                str(state): int(count) for state, count in await session.execute(text(ORDER_COUNTS))
            }
        assert with_state == classified
        assert sum(counts.values()) == len(classified) and counts["UNPAID"] > 0

        states_before = await row_versions(db, "order_payment_states", "order_number")
        assert await full_run(db) == 0
        assert await row_versions(db, "order_payment_states", "order_number") == states_before
        assert await row_versions(db, "orders", "number") == orders_before
    finally:
        await db.dispose()


ORDER_0008 = """
INSERT INTO orders (number, id, customer_id, customer_code, submitted_by, currency,
    total_minor, order_date, expected_payment_date, source_claim, registered_source, status,
    flags, customer_name_key, customer_company_key, note, submitted_at, updated_at,
    payment_state, paid_minor, fully_paid_at, shipped, branch_id)
VALUES (:number, :id, 'c', 'C-1', 'rep', 'CNY', 10000, :day, :day, 'WEBSITE', 'WEBSITE',
    :status, '[]', 'k', 'k', '', :at, :at, :state, :paid, :fully_paid_at, false, :branch)
"""


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_the_migration_copies_the_states(
    backend: str, tmp_path: Path, postgres: PostgresDatabases
) -> None:
    paid_at = datetime(2026, 11, 2, 8, 30, tzinfo=UTC)
    # number: status, state, paid, fully paid
    orders = {
        1: ("SUBMITTED", "UNPAID", 0, None),
        2: ("APPROVED", "UNPAID", 0, None),
        3: ("CLOSED", "RECONCILED", 10000, paid_at),
        4: ("FULFILLED", "PARTIALLY_PAID", 4000, None),
        5: ("CANCELLED", "OVERPAID", 12000, paid_at),
    }
    async with empty_database(backend, tmp_path, postgres, "payment_state_migration") as db:
        await migrations.upgrade(db.engine, orders_app.migrations_dir, "0008")
        async with db.transaction() as session:
            for number, (status, state, paid, fully_paid_at) in orders.items():
                await session.execute(
                    text(ORDER_0008).bindparams(
                        bindparam("at", type_=UtcDateTime()),
                        bindparam("fully_paid_at", type_=UtcDateTime()),
                    ),
                    {
                        "number": number,
                        "id": f"order-{number}",
                        "day": date(2026, 10, 1) + timedelta(days=number),
                        "at": paid_at - timedelta(days=30),
                        "status": status,
                        "state": state,
                        "paid": paid,
                        "fully_paid_at": fully_paid_at,
                        "branch": f"branch-{number}",
                    },
                )
        await migrations.upgrade(db.engine, orders_app.migrations_dir)
        async with db.read() as session:
            rows = await session.execute(
                select(
                    OrderPaymentState.order_number,
                    OrderPaymentState.payment_state,
                    OrderPaymentState.paid_minor,
                    OrderPaymentState.fully_paid_at,
                    OrderPaymentState.branch_id,
                )
            )
            copied = {
                int(number): (state, int(paid), stamp, branch)
                for number, state, paid, stamp, branch in rows
            }
    # Every classified order and every order with a state, with its branch (a commission
    # run streams by it); the never-approved unpaid one not.
    assert copied == {
        number: (state, paid, fully_paid_at, f"branch-{number}")
        for number, (_, state, paid, fully_paid_at) in orders.items()
        if number != 1
    }


async def test_twenty_part_payments_at_once_leave_one_state_row_that_adds_them_all(
    suite: Suite, client: Client
) -> None:
    """Each payment's write classifies the order it matched (giving it its state row if it
    has none): twenty at once must leave one row, with every payment counted."""
    people = people_of(await make_org(suite))
    buyer = await customer(suite, people, unique("Instalment Buyer"))
    order = await client.approved_order(
        people, buyer, "200.00", order_date=TODAY - timedelta(days=3)
    )
    number = int(order.code.removeprefix("O-"))
    async with suite.running["orders"].runtime.db.transaction() as session:
        # As before its first classification: no state row yet.
        await session.execute(
            text("DELETE FROM order_payment_states WHERE order_number = :number"),
            {"number": number},
        )

    async def pay(part: int) -> None:
        with acting_as(people.finance):
            await client.payments.RecordPayment(
                payments_pb2.RecordPaymentRequest(
                    bank_reference=unique("BR"),
                    payer_name="Instalment Payer",
                    amount=dec("10.00"),
                    currency="CNY",
                    paid_at=to_timestamp(ago(1) + timedelta(minutes=part)),
                    order_id=order.id,
                )
            )

    await asyncio.gather(*(pay(part) for part in range(20)))
    async with suite.running["orders"].runtime.db.read() as session:
        rows = (
            await session.execute(
                select(OrderPaymentState.payment_state, OrderPaymentState.paid_minor).where(
                    OrderPaymentState.order_number == number
                )
            )
        ).all()
    assert [(state, int(paid)) for state, paid in rows] == [(RECONCILED_STATE, 20_000)]
    stored = await client.order(people.finance, order.id)
    assert (stored.payment_state, stored.paid_amount.value) == (RECONCILED, "200.00")
