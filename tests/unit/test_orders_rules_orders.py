"""O1 one by one: the status machine, the order date, when an order is due."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from salesguard.errors import InvalidInput
from salesguard_orders.rules.orders import (
    can_move,
    check_order_date,
    leads_anywhere,
    needs_reason,
    noted_transition,
    payment_due,
)

TODAY = date(2026, 12, 5)


@pytest.mark.parametrize(
    ("source", "target"),
    [
        ("APPROVED", "FULFILLED"),
        ("FULFILLED", "CLOSED"),
        ("SUBMITTED", "CANCELLED"),
        ("APPROVED", "CANCELLED"),
    ],
)
def test_the_moves_the_status_machine_makes(source: str, target: str) -> None:
    assert can_move(source, target)


@pytest.mark.parametrize(
    ("source", "target"),
    [
        ("SUBMITTED", "FULFILLED"),  # not approved yet
        ("APPROVED", "CLOSED"),  # not fulfilled yet
        ("FULFILLED", "CANCELLED"),  # too late to cancel
        ("REJECTED", "CANCELLED"),
        ("CLOSED", "FULFILLED"),
        ("CANCELLED", "SUBMITTED"),
        ("SUBMITTED", "APPROVED"),  # a decision, not a transition
    ],
)
def test_moves_the_status_machine_refuses(source: str, target: str) -> None:
    assert not can_move(source, target)


def test_approval_and_rejection_are_no_transitions() -> None:
    assert not leads_anywhere("APPROVED")
    assert not leads_anywhere("REJECTED")
    assert not leads_anywhere("SUBMITTED")
    assert leads_anywhere("FULFILLED")
    assert leads_anywhere("CANCELLED")


def test_only_a_cancellation_needs_a_reason() -> None:
    assert needs_reason("CANCELLED")
    assert not needs_reason("FULFILLED")
    assert not needs_reason("CLOSED")


def test_a_transition_reason_is_appended_to_the_note() -> None:
    at = datetime(2026, 12, 5, 9, tzinfo=UTC)
    assert noted_transition("", "CANCELLED", at, "m-1", "duplicate") == (
        "[CANCELLED 2026-12-05 by m-1] duplicate"
    )
    assert noted_transition("call first", "CANCELLED", at, "m-1", "duplicate") == (
        "call first\n[CANCELLED 2026-12-05 by m-1] duplicate"
    )
    assert noted_transition("call first", "FULFILLED", at, "m-1", "") == "call first"


def test_an_order_is_dated_today_or_earlier() -> None:
    assert check_order_date(TODAY, TODAY) == TODAY
    assert check_order_date(date(2026, 1, 1), TODAY) == date(2026, 1, 1)
    with pytest.raises(InvalidInput) as refused:
        check_order_date(date(2026, 12, 6), TODAY)
    assert refused.value.field == "order_date"


def test_an_order_is_due_on_its_expected_date_or_after_the_payment_terms() -> None:
    assert payment_due(None, TODAY, 30) == date(2027, 1, 4)
    assert payment_due(date(2026, 12, 20), TODAY, 30) == date(2026, 12, 20)
    assert payment_due(TODAY, TODAY, 30) == TODAY
    with pytest.raises(InvalidInput) as refused:
        payment_due(date(2026, 12, 4), TODAY, 30)
    assert refused.value.field == "expected_payment_date"
