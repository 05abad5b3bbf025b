"""O4 one by one: quoted order codes, one payment per bank reference, reversals, shipments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from salesguard.errors import InvalidInput
from salesguard_orders.rules.payments import (
    can_reverse,
    can_ship,
    check_delivery,
    conflicting_field,
    delivery_to_add,
    quoted_order_number,
)

SHIPPED = datetime(2026, 12, 1, 9, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("O-000123", 123),
        ("payment for o-000123, thanks", 123),
        ("O000123", 123),
        ("O–000123", 123),  # en dash
        ("O－000123", 123),  # full-width hyphen
        ("O 000123", 123),
        ("O-000123 and again O-000123", 123),
    ],
)
def test_a_remittance_quotes_an_order_code(text: str, number: int) -> None:
    assert quoted_order_number(text) == number


@pytest.mark.parametrize(
    "text",
    [
        "",
        "no code here",
        "O-000123 and O-000124",  # two orders: none
        "PO-000123",  # inside a longer word
        "O-0001234567890",  # too long
        "O-00012",  # too short
        "O-000000",
    ],
)
def test_a_remittance_quoting_no_single_order_quotes_none(text: str) -> None:
    assert quoted_order_number(text) is None


def test_a_bank_reference_again_is_a_duplicate_unless_amount_or_currency_differ() -> None:
    assert conflicting_field(100, "CNY", 100, "CNY") is None
    assert conflicting_field(100, "CNY", 101, "CNY") == "amount"
    assert conflicting_field(100, "CNY", 100, "USD") == "currency"


def test_a_payment_is_reversed_once() -> None:
    assert can_reverse(False)
    assert not can_reverse(True)


def test_only_approved_or_fulfilled_orders_ship() -> None:
    assert can_ship("APPROVED")
    assert can_ship("FULFILLED")
    for status in ("SUBMITTED", "REJECTED", "CLOSED", "CANCELLED"):
        assert not can_ship(status)


def test_a_parcel_is_not_delivered_before_it_ships() -> None:
    assert check_delivery(SHIPPED, None) is None
    assert check_delivery(SHIPPED, SHIPPED) == SHIPPED
    with pytest.raises(InvalidInput) as refused:
        check_delivery(SHIPPED, SHIPPED - timedelta(seconds=1))
    assert refused.value.field == "delivered_at"


def test_the_same_parcel_again_only_adds_an_unknown_delivery_time() -> None:
    later = SHIPPED + timedelta(days=2)
    assert delivery_to_add(None, later)
    assert not delivery_to_add(later, later + timedelta(days=1))
    assert not delivery_to_add(None, None)
