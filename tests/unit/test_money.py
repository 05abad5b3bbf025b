"""Money at the edges: Decimal strings in, exact integer minor units out, one message per mistake."""

from __future__ import annotations

from decimal import Decimal

import pytest

from salesguard import money
from salesguard.errors import InvalidInput
from salesguard_api.common.v1 import common_pb2


def test_amounts_become_exact_cents_and_come_back_with_two_decimals() -> None:
    assert money.amount_to_minor("total", " 1234.5 ") == 123450
    assert money.amount_to_minor("total", common_pb2.Decimal(value="0.10")) == 10
    assert money.amount_to_minor("total", "0", allow_zero=True) == 0
    assert money.to_proto(123450).value == "1234.50"
    assert money.quantity_to_milli("quantity", "1.25") == 1250
    assert money.quantity_to_proto(1250).value == "1.25"
    assert money.percent_to_basis_points("discount", "12.5") == 1250
    assert money.percent_to_basis_points("discount", "") == 0
    # 3 × 0.34 less 1.5 % = 1.0047; half a cent rounds up.
    assert money.line_total_minor(3000, 34, 150) == 100
    assert money.line_total_minor(1000, 1, 5000) == 1
    assert money.parse_decimal("price", "9.99", places=2) == Decimal("9.99")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("  ", "price is required"),
        ("ten", "price is not a decimal number: 'ten'"),
        ("NaN", "price must be a finite number"),
        ("1.005", "price has more than 2 decimal places: 1.005"),
        ("0", "price must be positive"),
        ("-1", "price must be positive"),
        ("100000000000.01", "price is too large"),
    ],
)
def test_a_bad_amount_is_refused_with_what_is_wrong(value: str, message: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        money.amount_to_minor("price", value)
    assert refused.value.field == "price"
    assert refused.value.message == message
