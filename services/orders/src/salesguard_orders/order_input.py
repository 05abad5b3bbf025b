"""A submitted order's fields, validated: lines in integer cents, currency, note, dates.

Bad input is refused with InvalidInput naming the field (``lines[2].quantity``); the
rules on an order's dates are :mod:`salesguard_orders.rules.orders`.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date

from salesguard import money, validation
from salesguard.errors import InvalidInput
from salesguard_api.customers.v1 import customers_pb2
from salesguard_api.orders.v1 import orders_pb2 as pb
from salesguard_orders.presentation import SOURCES
from salesguard_orders.rules import orders as rules
from salesguard_orders.settings import OrdersSettings

MAX_SKU = 64
MAX_DESCRIPTION = 500
_ORDER_CODE = re.compile(r"O-(\d{1,15})", re.IGNORECASE)


def parse_order_code(field: str, value: str) -> int:
    """The number of an order code such as "O-000123"."""
    match = _ORDER_CODE.fullmatch(value.strip())
    if match is None:
        raise InvalidInput(field, f"{field} is not an order code like O-000123: {value!r}")
    return int(match.group(1))


@dataclass(frozen=True)
class LineInput:
    sku: str
    description: str
    quantity_milli: int
    unit_price_minor: int
    discount_basis_points: int
    total_minor: int


@dataclass(frozen=True)
class OrderInput:
    lines: list[LineInput]
    currency: str
    order_date: str
    expected_payment_date: str
    source_claim: str | None
    note: str

    @property
    def total_minor(self) -> int:
        return sum(line.total_minor for line in self.lines)

    @property
    def max_discount_basis_points(self) -> int:
        return max((line.discount_basis_points for line in self.lines), default=0)


def validate_currency(field: str, value: str, currencies: Collection[str]) -> str:
    """A supported currency code (``currencies``: the settings' rates), upper-cased."""
    currency = value.strip().upper()
    if not currency:
        raise InvalidInput(field, f"{field} is required")
    if currency not in currencies:
        known = ", ".join(sorted(currencies))
        raise InvalidInput(field, f"{field} {value!r} is not supported (one of {known})")
    return currency


def validate_line(index: int, line: pb.OrderLine) -> LineInput:
    prefix = f"lines[{index}]"
    quantity = money.quantity_to_milli(f"{prefix}.quantity", line.quantity)
    price = money.amount_to_minor(f"{prefix}.unit_price", line.unit_price, allow_zero=True)
    discount = money.percent_to_basis_points(f"{prefix}.discount_percent", line.discount_percent)
    total = money.line_total_minor(quantity, price, discount)
    if total > money.MAX_MINOR:
        raise InvalidInput(f"{prefix}.unit_price", f"the total of {prefix} is too large")
    return LineInput(
        sku=validation.text(f"{prefix}.sku", line.sku, required=True, max_length=MAX_SKU),
        description=validation.text(
            f"{prefix}.description", line.description, max_length=MAX_DESCRIPTION
        ),
        quantity_milli=quantity,
        unit_price_minor=price,
        discount_basis_points=discount,
        total_minor=total,
    )


def validate_order(request: pb.SubmitOrderRequest, settings: OrdersSettings) -> OrderInput:
    """The order's lines, currency, source claim and note (its dates: :func:`order_dates`)."""
    if not request.lines:
        raise InvalidInput("lines", "an order needs at least one line")
    if len(request.lines) > settings.max_order_lines:
        raise InvalidInput("lines", f"an order has at most {settings.max_order_lines} lines")
    lines = [validate_line(index, line) for index, line in enumerate(request.lines)]
    if sum(line.total_minor for line in lines) > money.MAX_MINOR:
        raise InvalidInput("lines", "the order total is too large")
    source_claim = (
        validation.enum_value("source_claim", request.source_claim, SOURCES)
        if request.source_claim != customers_pb2.SOURCE_CHANNEL_UNSPECIFIED
        else None
    )
    return OrderInput(
        lines=lines,
        currency=validate_currency("currency", request.currency, settings.currency_rates_to_cny),
        order_date=request.order_date,
        expected_payment_date=request.expected_payment_date,
        source_claim=source_claim,
        note=validation.text("note", request.note, max_length=validation.MAX_NOTE),
    )


def order_dates(given: OrderInput, today: date, payment_terms_days: int) -> tuple[date, date]:
    """The order date (today when none is given) and the expected payment date."""
    order_date = rules.check_order_date(
        validation.civil_date("order_date", given.order_date)
        if given.order_date.strip()
        else today,
        today,
    )
    expected = (
        validation.civil_date("expected_payment_date", given.expected_payment_date)
        if given.expected_payment_date.strip()
        else None
    )
    return order_date, rules.payment_due(expected, order_date, payment_terms_days)
