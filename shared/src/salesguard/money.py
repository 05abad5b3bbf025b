"""Money as exact integers of minor units (cents), Decimal at the edges, never float (orders, commissions).

Every supported currency has two decimals. Amounts travel as Decimal strings
("1234.50"), are validated (at most two decimals, finite, in range) and stored
as integer cents, so sums in SQL are exact on every database. Rounding is
stated once: line totals round half-up to the cent.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from salesguard import validation
from salesguard.errors import InvalidInput
from salesguard_api.common.v1 import common_pb2

CENT = Decimal("0.01")
# 10^13 cents: well inside a signed 64-bit integer after summing millions of rows.
MAX_MINOR = 10**13
QUANTITY_SCALE = 1000  # quantities have up to three decimals


def parse_decimal(field: str, value: common_pb2.Decimal | str, *, places: int) -> Decimal:
    text = value.value if isinstance(value, common_pb2.Decimal) else value
    return validation.decimal(field, text, places=places)


def amount_to_minor(
    field: str, value: common_pb2.Decimal | str, *, allow_zero: bool = False
) -> int:
    """A money amount (two decimals at most, positive) as integer cents."""
    amount = parse_decimal(field, value, places=2)
    if amount < 0 or (amount == 0 and not allow_zero):
        raise InvalidInput(field, f"{field} must be {'zero or ' if allow_zero else ''}positive")
    minor = int(amount * 100)
    if minor > MAX_MINOR:
        raise InvalidInput(field, f"{field} is too large")
    return minor


def quantity_to_milli(field: str, value: common_pb2.Decimal | str) -> int:
    quantity = parse_decimal(field, value, places=3)
    if quantity <= 0:
        raise InvalidInput(field, f"{field} must be positive")
    milli = int(quantity * QUANTITY_SCALE)
    if milli > MAX_MINOR:
        raise InvalidInput(field, f"{field} is too large")
    return milli


def percent_to_basis_points(field: str, value: common_pb2.Decimal | str) -> int:
    text = value.value if isinstance(value, common_pb2.Decimal) else value
    if not text.strip():
        return 0
    percent = parse_decimal(field, value, places=2)
    if not 0 <= percent <= 100:
        raise InvalidInput(field, f"{field} must be between 0 and 100")
    return int(percent * 100)


def line_total_minor(quantity_milli: int, unit_price_minor: int, discount_basis_points: int) -> int:
    """quantity × unit price × (1 − discount), rounded half-up to the cent."""
    exact = (
        Decimal(quantity_milli)
        / QUANTITY_SCALE
        * Decimal(unit_price_minor)
        * (Decimal(10_000 - discount_basis_points) / 10_000)
    )
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def minor_to_decimal(minor: int) -> Decimal:
    return (Decimal(minor) / 100).quantize(CENT)


def to_proto(minor: int) -> common_pb2.Decimal:
    return common_pb2.Decimal(value=str(minor_to_decimal(minor)))


def quantity_to_proto(milli: int) -> common_pb2.Decimal:
    return common_pb2.Decimal(value=format((Decimal(milli) / QUANTITY_SCALE).normalize(), "f"))


def percent_to_proto(basis_points: int) -> common_pb2.Decimal:
    return common_pb2.Decimal(value=str((Decimal(basis_points) / 100).quantize(CENT)))
