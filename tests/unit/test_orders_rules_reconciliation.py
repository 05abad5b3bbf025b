"""O5 one by one: matching precedence, payment states, fake deals, payer mismatches.

The set-based statements say the same in SQL; each fragment is checked here against its
pure twin by evaluating it over one row in an in-memory SQLite (no service, no schema
beyond the row itself).
"""

from __future__ import annotations

import itertools
import sqlite3
from datetime import UTC, date, datetime, timedelta

import pytest

from salesguard_orders.rules.reconciliation import (
    CUSTOMER_AMOUNT,
    MATCH_PRECEDENCE,
    ORDER_CODE,
    OrderFacts,
    PaymentFacts,
    dedupe_key,
    dedupe_key_sql,
    fake_deal_cutoff,
    fake_deal_sql,
    fully_paid_at,
    is_fake_deal,
    is_open_for,
    is_payer_mismatch,
    is_shipment_overdue,
    is_valid_order,
    latest_promise,
    pair_in_group,
    payer_mismatch_sql,
    payment_state,
    payment_state_sql,
    shipment_overdue_sql,
    shipping_cutoff,
    stated_or_quoted,
)

AS_OF = date(2026, 12, 5)
PAID = datetime(2026, 12, 1, 9, tzinfo=UTC)


def order(number: int, **changes: object) -> OrderFacts:
    values: dict[str, object] = {
        "id": f"o{number}",
        "number": number,
        "status": "APPROVED",
        "currency": "CNY",
        "total_minor": 100_00,
        "expected_payment_date": AS_OF,
        "customer_name_key": "acme",
        "customer_company_key": "acme ltd",
    }
    return OrderFacts(**(values | changes))  # type: ignore[arg-type]


def payment(name: str, **changes: object) -> PaymentFacts:
    values: dict[str, object] = {
        "id": name,
        "paid_at": PAID,
        "payer_key": "acme",
        "currency": "CNY",
        "amount_minor": 100_00,
    }
    return PaymentFacts(**(values | changes))  # type: ignore[arg-type]


# -- matching --------------------------------------------------------------------------------


def test_matching_tries_the_stated_order_then_the_quoted_code_then_customer_and_amount() -> None:
    assert MATCH_PRECEDENCE == ("match_stated", "match_quoted", "match_customer_amount")
    orders = [order(1), order(2)]
    both = payment("p", stated_order_id="o1", quoted_order_number=2)
    assert stated_or_quoted(both, orders) == orders[0]
    assert stated_or_quoted(payment("p", quoted_order_number=2), orders) == orders[1]
    assert stated_or_quoted(payment("p", quoted_order_number=9), orders) is None
    assert stated_or_quoted(payment("p"), orders) is None


def test_a_named_order_is_matched_whatever_its_status() -> None:
    cancelled = order(1, status="CANCELLED")
    assert stated_or_quoted(payment("p", quoted_order_number=1), [cancelled]) == cancelled


def test_customer_and_amount_needs_an_open_order_of_that_payer_currency_and_total() -> None:
    assert is_open_for(order(1), "acme", "CNY", 100_00)
    assert is_open_for(order(1), "acme ltd", "CNY", 100_00)  # the company pays
    assert not is_open_for(order(1), "someone else", "CNY", 100_00)
    assert not is_open_for(order(1), "acme", "USD", 100_00)
    assert not is_open_for(order(1), "acme", "CNY", 99_99)
    assert not is_open_for(order(1, has_payment=True), "acme", "CNY", 100_00)
    assert not is_open_for(order(1, status="SUBMITTED"), "acme", "CNY", 100_00)
    assert not is_open_for(order(1, customer_name_key=""), "", "CNY", 100_00)


def test_the_oldest_payment_pays_the_order_due_first() -> None:
    payments = [payment("late", paid_at=PAID + timedelta(days=1)), payment("early")]
    orders = [
        order(2, expected_payment_date=AS_OF),
        order(1, expected_payment_date=AS_OF + timedelta(days=3)),
        order(3, expected_payment_date=AS_OF),
    ]
    assert pair_in_group(payments, orders) == [("early", "o2"), ("late", "o3")]
    assert pair_in_group(payments, []) == []


# -- classification --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("paid", "state"),
    [(0, "UNPAID"), (1, "PARTIALLY_PAID"), (100_00, "RECONCILED"), (100_01, "OVERPAID")],
)
def test_an_order_is_classified_by_what_its_payments_sum_to(paid: int, state: str) -> None:
    assert payment_state(paid, 100_00) == state


def test_an_order_is_fully_paid_when_the_running_sum_reaches_its_total() -> None:
    later = PAID + timedelta(days=2)
    assert fully_paid_at([(later, "b", 60_00), (PAID, "a", 50_00)], 100_00) == later
    assert fully_paid_at([(PAID, "a", 100_00), (later, "b", 1)], 100_00) == PAID
    assert fully_paid_at([(PAID, "a", 99_99)], 100_00) is None


def test_a_valid_order_is_classified_and_paid_in_full() -> None:
    assert is_valid_order("CLOSED", "RECONCILED")
    assert is_valid_order("APPROVED", "OVERPAID")
    assert not is_valid_order("APPROVED", "PARTIALLY_PAID")
    assert not is_valid_order("CANCELLED", "RECONCILED")


# -- FAKE_DEAL_SUSPECTED ---------------------------------------------------------------------


def fake(**changes: object) -> bool:
    values: dict[str, object] = {
        "status": "APPROVED",
        "expected_payment_date": AS_OF - timedelta(days=10),
        "cutoff": fake_deal_cutoff(AS_OF, 3),
        "payment_state": "UNPAID",
        "paid_minor": 0,
        "shipped": False,
        "shipments": 0,
    }
    return is_fake_deal(**(values | changes))  # type: ignore[arg-type]


def test_an_approved_order_past_due_unpaid_and_unshipped_is_a_suspected_fake() -> None:
    assert fake()
    assert fake(status="FULFILLED")


def test_what_clears_a_suspected_fake() -> None:
    assert not fake(status="CLOSED")
    assert not fake(status="SUBMITTED")
    assert not fake(payment_state="PARTIALLY_PAID", paid_minor=1)
    assert not fake(shipped=True)
    assert not fake(shipments=1)
    # Due within the grace period: a payment may still be on its way.
    assert not fake(expected_payment_date=AS_OF - timedelta(days=3))
    assert fake(expected_payment_date=AS_OF - timedelta(days=4))


def test_a_back_order_defers_past_due_to_its_promised_shipping_day() -> None:
    cutoff = fake_deal_cutoff(AS_OF, 3)
    # Promised for a day not yet before the cutoff: the goods are late for a known reason.
    assert not fake(promised_ship_date=cutoff)
    assert not fake(promised_ship_date=AS_OF + timedelta(days=5))
    # The promise broken as well: suspected again.
    assert fake(promised_ship_date=cutoff - timedelta(days=1))
    # A promise never brings forward an order not yet due.
    assert not fake(
        expected_payment_date=AS_OF - timedelta(days=3),
        promised_ship_date=AS_OF - timedelta(days=20),
    )


def test_a_back_order_promises_at_most_the_maximum_after_the_due_date() -> None:
    assert latest_promise(date(2026, 12, 1), 60) == date(2027, 1, 30)


def test_the_cutoff_leaves_the_grace_days() -> None:
    assert fake_deal_cutoff(AS_OF, 0) == AS_OF
    assert fake_deal_cutoff(AS_OF, 3) == date(2026, 12, 2)


# -- SHIPMENT_OVERDUE ------------------------------------------------------------------------

SHIP_CUTOFF = shipping_cutoff(AS_OF, 7)


def overdue(**changes: object) -> bool:
    values: dict[str, object] = {
        "status": "APPROVED",
        "approved_at": SHIP_CUTOFF - timedelta(minutes=1),
        "cutoff": SHIP_CUTOFF,
        "payment_state": "UNPAID",
        "paid_minor": 0,
        "shipped": False,
        "shipments": 0,
        "promised_ship_date": None,
    }
    return is_shipment_overdue(**(values | changes))  # type: ignore[arg-type]


def test_an_order_approved_a_week_ago_neither_shipped_back_ordered_nor_paid_is_overdue() -> None:
    # Seven whole days before the run's day, from its start in UTC.
    assert shipping_cutoff(AS_OF, 7) == datetime(2026, 11, 28, tzinfo=UTC)
    assert overdue()
    assert overdue(status="FULFILLED")
    # Approved on the cutoff's day: it has not had seven whole days yet.
    assert not overdue(approved_at=SHIP_CUTOFF)
    assert not overdue(approved_at=None)
    assert not overdue(status="SUBMITTED")
    assert not overdue(status="CLOSED")
    assert not overdue(shipped=True)
    assert not overdue(shipments=1)
    assert not overdue(payment_state="PARTIALLY_PAID", paid_minor=1)
    # Back-ordered: the warehouse said why, and the fake-deal check waits for its day.
    assert not overdue(promised_ship_date=AS_OF)


# -- PAYER_MISMATCH --------------------------------------------------------------------------


def test_a_payer_who_is_neither_the_customer_nor_its_company_is_a_mismatch() -> None:
    keys = {"customer_name_key": "acme", "customer_company_key": "acme ltd"}
    assert is_payer_mismatch(matched_by=ORDER_CODE, payer_key="mallory", **keys)
    assert not is_payer_mismatch(matched_by=ORDER_CODE, payer_key="acme", **keys)
    assert not is_payer_mismatch(matched_by=ORDER_CODE, payer_key="acme ltd", **keys)
    assert not is_payer_mismatch(matched_by=CUSTOMER_AMOUNT, payer_key="mallory", **keys)


def test_one_alert_per_order_or_payment() -> None:
    assert dedupe_key("FAKE_DEAL_SUSPECTED", "o1") == "FAKE_DEAL_SUSPECTED:o1"


# -- the SQL fragments say what the functions say ---------------------------------------------


@pytest.fixture(scope="module")
def sqlite() -> sqlite3.Connection:
    connection = sqlite3.connect(":memory:")
    connection.executescript(
        """
        CREATE TABLE orders (id TEXT, number INTEGER, status TEXT, expected_payment_date TEXT,
            shipped BOOLEAN, customer_name_key TEXT, customer_company_key TEXT,
            promised_ship_date TEXT);
        CREATE TABLE order_payment_states (order_number INTEGER, payment_state TEXT,
            paid_minor INTEGER);
        CREATE TABLE payments (id TEXT, matched_by TEXT, payer_key TEXT);
        CREATE TABLE shipments (order_id TEXT);
        CREATE TABLE approval_steps (order_id TEXT, decided_at TEXT);
        """
    )
    return connection


def store_state(connection: sqlite3.Connection, state: str) -> tuple[str, int]:
    """Order 1's payment state as stored (a classified order has one); what the rules see."""
    connection.execute("DELETE FROM order_payment_states")
    paid = 0 if state == "UNPAID" else 1
    connection.execute("INSERT INTO order_payment_states VALUES (1, ?, ?)", (state, paid))
    return state, paid


def evaluate(connection: sqlite3.Connection, predicate: str, **params: object) -> bool:
    row = connection.execute(
        f"SELECT CASE WHEN {predicate} THEN 1 ELSE 0 END"
        " FROM orders o JOIN order_payment_states ps ON ps.order_number = o.number, payments p",
        params,
    ).fetchone()
    return bool(row[0])


def test_the_payment_state_fragment_agrees(sqlite: sqlite3.Connection) -> None:
    for paid, total in itertools.product((0, 1, 99, 100, 101), (1, 100)):
        sql = f"SELECT {payment_state_sql(str(paid), str(total))}"
        assert sqlite.execute(sql).fetchone()[0] == payment_state(paid, total)


def test_the_fake_deal_fragment_agrees(sqlite: sqlite3.Connection) -> None:
    cutoff = fake_deal_cutoff(AS_OF, 3)
    cases = itertools.product(
        ("SUBMITTED", "APPROVED", "FULFILLED", "CLOSED"),
        (AS_OF - timedelta(days=10), cutoff),
        ("UNPAID", "PARTIALLY_PAID"),
        (False, True),
        (0, 1),
        (None, AS_OF - timedelta(days=10), cutoff),
    )
    for status, due, stored_state, shipped, shipments, promised in cases:
        sqlite.execute("DELETE FROM orders")
        sqlite.execute("DELETE FROM payments")
        sqlite.execute("DELETE FROM shipments")
        state, paid = store_state(sqlite, stored_state)
        sqlite.execute(
            "INSERT INTO orders VALUES ('o1', 1, ?, ?, ?, '', '', ?)",
            (status, due.isoformat(), shipped, promised and promised.isoformat()),
        )
        sqlite.execute("INSERT INTO payments VALUES ('p1', '', '')")
        sqlite.executemany("INSERT INTO shipments VALUES ('o1')", [()] * shipments)
        expected = is_fake_deal(
            status=status,
            expected_payment_date=due,
            cutoff=cutoff,
            payment_state=state,
            paid_minor=paid,
            shipped=shipped,
            shipments=shipments,
            promised_ship_date=promised,
        )
        assert evaluate(sqlite, fake_deal_sql("o", "ps"), cutoff=cutoff.isoformat()) == expected


def test_the_overdue_shipment_fragment_agrees(sqlite: sqlite3.Connection) -> None:
    cases = itertools.product(
        ("SUBMITTED", "APPROVED", "FULFILLED"),
        (None, SHIP_CUTOFF - timedelta(seconds=1), SHIP_CUTOFF),
        ("UNPAID", "PARTIALLY_PAID"),
        (False, True),
        (0, 1),
        (None, AS_OF),
    )
    stored = "%Y-%m-%d %H:%M:%S.%f"  # a UtcDateTime as SQLite holds it
    for status, approved_at, stored_state, shipped, shipments, promised in cases:
        for table in ("orders", "payments", "shipments", "approval_steps"):
            sqlite.execute(f"DELETE FROM {table}")
        state, paid = store_state(sqlite, stored_state)
        sqlite.execute("INSERT INTO payments VALUES ('p1', '', '')")
        sqlite.execute(
            "INSERT INTO orders VALUES ('o1', 1, ?, '2026-12-01', ?, '', '', ?)",
            (status, shipped, promised and promised.isoformat()),
        )
        sqlite.executemany("INSERT INTO shipments VALUES ('o1')", [()] * shipments)
        if approved_at is not None:
            # An earlier step, then the last one: the approval is the last decision.
            earlier = (approved_at - timedelta(days=3)).strftime(stored)
            last = approved_at.strftime(stored)
            sqlite.executemany("INSERT INTO approval_steps VALUES ('o1', ?)", [(earlier,), (last,)])
        expected = is_shipment_overdue(
            status=status,
            approved_at=approved_at,
            cutoff=SHIP_CUTOFF,
            payment_state=state,
            paid_minor=paid,
            shipped=shipped,
            shipments=shipments,
            promised_ship_date=promised,
        )
        found = evaluate(
            sqlite, shipment_overdue_sql("o", "ps"), ship_cutoff=SHIP_CUTOFF.strftime(stored)
        )
        assert found == expected, (status, approved_at, state, shipped, shipments, promised)


def test_the_payer_mismatch_fragment_agrees(sqlite: sqlite3.Connection) -> None:
    for matched_by, payer in itertools.product((ORDER_CODE, CUSTOMER_AMOUNT), ("acme", "x", "")):
        store_state(sqlite, "UNPAID")
        sqlite.execute("DELETE FROM orders")
        sqlite.execute("DELETE FROM payments")
        sqlite.execute("INSERT INTO orders VALUES ('o1', 1, '', '', 0, 'acme', 'acme ltd', NULL)")
        sqlite.execute("INSERT INTO payments VALUES ('p1', ?, ?)", (matched_by, payer))
        expected = is_payer_mismatch(
            matched_by=matched_by,
            payer_key=payer,
            customer_name_key="acme",
            customer_company_key="acme ltd",
        )
        assert evaluate(sqlite, payer_mismatch_sql("p", "o")) == expected


def test_the_dedupe_key_fragment_agrees(sqlite: sqlite3.Connection) -> None:
    fragment = dedupe_key_sql("PAYER_MISMATCH", "'p1'")
    sql = f"SELECT {fragment}"
    assert sqlite.execute(sql).fetchone()[0] == dedupe_key("PAYER_MISMATCH", "p1")
