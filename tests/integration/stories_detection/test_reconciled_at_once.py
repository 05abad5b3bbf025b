"""Detection that happens by itself (O5): payments reconcile their orders at once.

- Reversals, statement imports, customer + amount matches and approvals reconcile at once;
  two payments racing on one order end in the right state.
- The incremental path reads what it touches, not the history (rows read, on PostgreSQL).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncSession

from salesguard import migrations
from salesguard.db import Database, new_id, utcnow
from salesguard_orders.matching import FakeDealThresholds, Reconciler, Touched
from salesguard_orders.models import Order
from salesguard_orders.payment_fields import payment_from_fields
from salesguard_orders.payments import insert_payments
from salesguard_orders.server import service as orders_app
from tests.harness import Suite, unique
from tests.integration.stories_detection.support import (
    DECIDE,
    HEADER,
    IMPORT_PAYMENTS,
    REVERSE_PAYMENT,
    UNMATCHED,
    approved_order,
    moment,
    order_state,
    paid_moment,
    record_payment,
)
from tests.integration.test_stories_deals import submit
from tests.org import make_org, register
from tests.photos import upload_payment_file
from tests.support.orders_history import seed_history
from tests.support.servers import PostgresDatabases

# -- what each write reconciles at once -------------------------------------------------------------


async def test_reversals_take_the_order_back_at_once(suite: Suite) -> None:
    org = await make_org(suite)
    customer = (await register(suite, org.junior))["id"]
    order = await approved_order(suite, org, customer, "1000.00")
    first = await record_payment(
        suite, org, "400.00", paid_moment(2), referenceText=f"{order['code']} part 1"
    )
    last_paid = paid_moment(1)
    second = await record_payment(
        suite, org, "600.00", last_paid, referenceText=f"{order['code']} part 2"
    )
    state = await order_state(suite, org, order["id"])
    assert (state["paymentState"], state["paidAmount"]["amount"]) == ("RECONCILED", "1000.00")
    assert moment(state["fullyPaidAt"]) == last_paid

    async def reverse(payment: dict[str, Any], kind: str) -> None:
        values = {"paymentId": payment["id"], "kind": kind, "reason": "the bank took it back"}
        reversed_ = (await suite.gql(REVERSE_PAYMENT, {"input": values}, as_=org.finance)).ok()
        assert reversed_["reversePayment"]["payment"]["reversed"] is True

    await reverse(second, "CHARGEBACK")
    state = await order_state(suite, org, order["id"])
    assert (state["paymentState"], state["paidAmount"]["amount"], state["fullyPaidAt"]) == (
        "PARTIALLY_PAID",
        "400.00",
        None,
    )
    await reverse(first, "REFUND")
    state = await order_state(suite, org, order["id"])
    assert (state["paymentState"], state["paidAmount"]["amount"]) == ("UNPAID", "0.00")


async def test_a_statement_import_reconciles_every_order_it_touches(suite: Suite) -> None:
    org = await make_org(suite)
    name = unique("Hangzhou Lianhua")
    customer = (await register(suite, org.junior, name=name, company=f"{name} Co"))["id"]
    exact, partial, over, by_amount, untouched = [
        await approved_order(suite, org, customer, total)
        for total in ("100.00", "200.00", "300.00", "412.34", "500.00")
    ]
    stray = unique("BR")
    rows = [
        (unique("BR"), paid_moment(4), "100.00", name, f"Payment {exact['code']}"),
        (unique("BR"), paid_moment(3), "50.00", name, f"{partial['code']} first instalment"),
        (unique("BR"), paid_moment(2), "350.00", name, f"Invoice {over['code']}"),
        (unique("BR"), paid_moment(1), "412.34", f" {name.upper()} ", "goods received"),
        (stray, paid_moment(1), "77.77", unique("Unknown Payer"), "misc"),
    ]
    lines = [
        f"{reference},{when.isoformat()},{amount},CNY,{payer},6222000011112222,{note}"
        for reference, when, amount, payer, note in rows
    ]
    data = "\r\n".join([HEADER, *lines, ""]).encode()
    key = await upload_payment_file(suite, org.finance, "STATEMENT", "text/csv", data)
    imported = (
        await suite.gql(IMPORT_PAYMENTS, {"input": {"statementKey": key}}, as_=org.finance)
    ).ok()["importPayments"]
    assert (imported["applied"], imported["accepted"], imported["rejected"]) == (True, 5, [])

    expected = {
        exact["id"]: ("RECONCILED", "100.00"),
        partial["id"]: ("PARTIALLY_PAID", "50.00"),
        over["id"]: ("OVERPAID", "350.00"),
        by_amount["id"]: ("RECONCILED", "412.34"),
        untouched["id"]: ("UNPAID", "0.00"),
    }
    for order_id, (state_name, paid) in expected.items():
        state = await order_state(suite, org, order_id)
        assert (state["paymentState"], state["paidAmount"]["amount"]) == (state_name, paid), (
            order_id
        )
    unmatched = (await suite.gql(UNMATCHED, as_=org.finance)).ok()["reconciliation"]
    assert stray in {payment["bankReference"] for payment in unmatched["unmatchedPayments"]}


async def test_a_payment_without_a_code_is_matched_by_customer_and_amount_at_once(
    suite: Suite,
) -> None:
    org = await make_org(suite)
    name = unique("Ningbo Harbour")
    customer = (await register(suite, org.junior, name=name, company=f"{name} Co"))["id"]
    order = await approved_order(suite, org, customer, "880.00")
    payment = await record_payment(suite, org, "880.00", paid_moment(), payerName=name)
    assert (payment["matchedBy"], payment["order"]) == ("CUSTOMER_AMOUNT", {"id": order["id"]})
    assert (await order_state(suite, org, order["id"]))["paymentState"] == "RECONCILED"

    # Money that arrives before the approval waits for it; the approval reconciles it.
    waiting = await submit(suite, org.junior, customer, "990.00")
    early = await record_payment(suite, org, "990.00", paid_moment(), payerName=f"{name} Co")
    assert early["matchedBy"] is None and early["order"] is None
    values = {"orderId": waiting["id"], "approve": True, "comment": "fine"}
    decided = (await suite.gql(DECIDE, {"input": values}, as_=org.manager)).ok()["decideOrder"]
    assert (decided["order"]["status"], decided["order"]["paymentState"]) == (
        "APPROVED",
        "RECONCILED",
    )
    assert decided["order"]["paidAmount"]["amount"] == "990.00"


# -- two payments at once -----------------------------------------------------------------------------


async def test_two_payments_on_one_order_at_once_end_in_the_right_state(suite: Suite) -> None:
    org = await make_org(suite)
    customer = (await register(suite, org.junior))["id"]
    orders = [await approved_order(suite, org, customer, "600.00") for _ in range(4)]
    earlier, later = paid_moment(2), paid_moment(1)
    await asyncio.gather(
        *(
            record_payment(suite, org, "300.00", when, referenceText=f"{order['code']} {half}")
            for order in orders
            for half, when in (("first half", earlier), ("second half", later))
        )
    )
    for order in orders:
        state = await order_state(suite, org, order["id"])
        assert (state["paymentState"], state["paidAmount"]["amount"]) == ("RECONCILED", "600.00")
        assert moment(state["fullyPaidAt"]) == later

    # Two payments of one payer and amount race for that payer's two open orders: one each.
    name = unique("Suzhou Silk")
    payer = (await register(suite, org.junior, name=name, company=f"{name} Co"))["id"]
    pair = [await approved_order(suite, org, payer, "450.00") for _ in range(2)]
    payments = await asyncio.gather(
        *(record_payment(suite, org, "450.00", when, payerName=name) for when in (earlier, later))
    )
    assert {payment["order"]["id"] for payment in payments} == {order["id"] for order in pair}
    for order in pair:
        state = await order_state(suite, org, order["id"])
        assert (state["paymentState"], state["paidAmount"]["amount"]) == ("RECONCILED", "450.00")


# -- what a payment costs: what it touches, not the history ---------------------------------------

READS = text(
    """SELECT relname, seq_scan, seq_tup_read, coalesce(idx_tup_fetch, 0)
       FROM pg_stat_xact_user_tables WHERE relname IN ('orders', 'payments')"""
)


async def rows_read(session: AsyncSession) -> dict[str, tuple[int, int, int]]:
    """(sequential scans, rows they read, rows fetched by index) per table, so far in this
    transaction (what PostgreSQL counts for it; diffs are this transaction's own)."""
    return {row[0]: (int(row[1]), int(row[2]), int(row[3])) for row in await session.execute(READS)}


def spent(
    after: dict[str, tuple[int, int, int]], before: dict[str, tuple[int, int, int]]
) -> dict[str, tuple[int, ...]]:
    zero = (0, 0, 0)
    return {
        table: tuple(
            a - b for a, b in zip(after.get(table, zero), before.get(table, zero), strict=True)
        )
        for table in ("orders", "payments")
    }


@pytest.fixture
async def history_db(postgres: PostgresDatabases) -> AsyncIterator[Database]:
    """An orders database holding 10 000 settled orders and 11 000 payments."""
    db = Database(await postgres.create("history"))
    try:
        await migrations.upgrade(db.engine, orders_app.migrations_dir)
        await seed_history(db, 10_000)
        yield db
    finally:
        await db.dispose()


async def test_a_payment_reads_what_it_touches_not_the_history(history_db: Database) -> None:
    db = history_db
    reconciler = Reconciler(db)
    async with db.transaction() as session:
        order = Order(
            customer_id=new_id(),
            customer_code="C-777777",
            submitted_by="rep-new",
            currency="CNY",
            total_minor=50_000,
            order_date=date.today(),
            expected_payment_date=date.today() + timedelta(days=30),
            source_claim="WEBSITE",
            registered_source="WEBSITE",
            status="APPROVED",
            customer_name_key="history customer 7",
            customer_company_key="history company 7",
        )
        session.add(order)
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    for reference in (f"payment for {order.code}", ""):  # by its code; by customer + amount
        if not reference:
            async with db.transaction() as session:  # the first payment's reversal
                await session.execute(
                    text("UPDATE payments SET reversed = true WHERE order_id = :id"),
                    {"id": order.id},
                )
                await reconciler.reconcile(
                    session, Touched(order_ids=frozenset({order.id})), utcnow()
                )
        fields = payment_from_fields(
            bank_reference=new_id(),
            amount="500.00",
            currency="CNY",
            paid_at=utcnow(),
            currencies={"CNY": Decimal(1)},
            payer_name="History Customer 7",
            reference_text=reference,
            skew_seconds=300,
        )
        event.listen(db.engine.sync_engine, "before_cursor_execute", count)
        try:
            async with db.transaction() as session:
                before = await rows_read(session)
                statements.clear()
                inserted = await insert_payments(session, [fields.to_row(recorded_by="finance")])
                await reconciler.lock(session, groups=[fields.group])
                figures = await reconciler.reconcile(
                    session, Touched(payment_ids=frozenset(inserted)), utcnow()
                )
                issued = list(statements)
                used = spent(await rows_read(session), before)
                state = await session.scalar(
                    text(
                        "SELECT s.payment_state FROM orders o JOIN order_payment_states s"
                        " ON s.order_number = o.number WHERE o.id = :id"
                    ),
                    {"id": order.id},
                )
        finally:
            event.remove(db.engine.sync_engine, "before_cursor_execute", count)
        assert state == "RECONCILED", (reference, figures)
        assert sum(figures.matched.values()) == 1 and figures.classified == 1
        # No table read whole; a handful of rows fetched by index, with 21 000 rows present.
        for table, (scans, scanned, fetched) in used.items():
            assert (scans, scanned) == (0, 0), (reference, table, used)
            assert fetched <= 20, (reference, table, used)
        # A fixed number of statements: the insert, the run's, the group's and the order's
        # locks, three matching steps, the classification (the state rows of orders without
        # one, then the states), the payer check.
        assert len(issued) == 10, issued

    # The full run, for contrast, reads every order and payment.
    async with db.transaction() as session:
        before = await rows_read(session)
        await reconciler.run_all(session, date.today(), FakeDealThresholds(), utcnow())
        used = spent(await rows_read(session), before)
    assert used["orders"][1] + used["orders"][2] >= 10_000
    assert used["payments"][1] + used["payments"][2] >= 10_000
