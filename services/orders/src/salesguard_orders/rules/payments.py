"""Payments and shipments (O4): what a remittance quotes, one payment per bank reference,
reversals, shipments.

- A remittance text may quote an order code ("O-000123", also "O000123", "o-000123",
  "O–000123" with an en dash or "O－000123" full-width); a text quoting two different
  codes quotes none.
- A bank reference is recorded once: recording it again is a duplicate, answered with
  the first record, unless amount or currency differ (a conflict).
- A payment is never deleted; a refund or chargeback reverses it, once.
- Only an APPROVED or FULFILLED order ships; a delivery does not precede its shipment,
  and recording the same parcel again only adds a delivery time not known before.

Pure: the payments, statements and shipments modules validate, read and store.
"""

from __future__ import annotations

import re
from datetime import datetime

from salesguard.errors import InvalidInput

# An order code quoted in a remittance text, not inside a longer word or number.
_QUOTED_CODE = re.compile(r"(?<![0-9A-Za-z])[Oo]\s?[-\u2013\u2014\uff0d_]?\s?(\d{6,12})(?![0-9])")
# Orders that may ship.
SHIPPABLE = ("APPROVED", "FULFILLED")


def quoted_order_number(reference_text: str) -> int | None:
    """O4: the order number a remittance text quotes; None when it quotes none, or several."""
    numbers = {int(match) for match in _QUOTED_CODE.findall(reference_text)}
    numbers.discard(0)
    return numbers.pop() if len(numbers) == 1 else None


def conflicting_field(
    recorded_amount_minor: int, recorded_currency: str, amount_minor: int, currency: str
) -> str | None:
    """O4: the field in which a payment differs from the one already recorded under its bank
    reference (a conflict); None when it is the same payment again (a duplicate)."""
    if recorded_amount_minor != amount_minor:
        return "amount"
    if recorded_currency != currency:
        return "currency"
    return None


def can_reverse(reversed_already: bool) -> bool:
    """O4: a payment is reversed once (and never deleted)."""
    return not reversed_already


def can_ship(order_status: str) -> bool:
    """O4: only an approved or fulfilled order ships."""
    return order_status in SHIPPABLE


def check_delivery(shipped_at: datetime, delivered_at: datetime | None) -> datetime | None:
    """O4: a parcel is not delivered before it is shipped."""
    if delivered_at is not None and delivered_at < shipped_at:
        raise InvalidInput("delivered_at", "delivered_at precedes shipped_at")
    return delivered_at


def delivery_to_add(known: datetime | None, reported: datetime | None) -> bool:
    """O4: the same parcel recorded again only adds a delivery time not known before."""
    return reported is not None and known is None
