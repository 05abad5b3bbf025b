"""Attribution (O3): an order is flagged, never refused, when it is credited doubtfully.

- ``ATTRIBUTION_MISMATCH``: the submitter is not the customer's owner.
- ``UNREGISTERED_CUSTOMER``: the customer was registered after the order date (at or
  after the end of that day in the branch's time zone).

Each flag raises one alert of its kind per order. Pure: the ordering module asks the
customers service for the owner and registration, and stores and raises what these return.
"""

from __future__ import annotations

from datetime import date, datetime, tzinfo
from typing import Any

from salesguard import money

ATTRIBUTION_MISMATCH = "ATTRIBUTION_MISMATCH"
UNREGISTERED_CUSTOMER = "UNREGISTERED_CUSTOMER"


def attribution_flags(
    *,
    submitted_by: str,
    owner_id: str | None,
    registered_at: datetime | None,
    order_day_end: datetime,
) -> list[str]:
    """O3: the flags of an order, in a stable order (``order_day_end``: the first instant
    after the order date where the order is made)."""
    flags: list[str] = []
    if owner_id != submitted_by:
        flags.append(ATTRIBUTION_MISMATCH)
    if registered_at is not None and registered_at >= order_day_end:
        flags.append(UNREGISTERED_CUSTOMER)
    return flags


def flag_dedupe_key(kind: str, order_id: str) -> str:
    """One alert per flag and order."""
    return f"{kind}:{order_id}"


def flag_evidence(
    *,
    order_code: str,
    customer_code: str,
    submitted_by: str,
    owner_id: str | None,
    order_date: date,
    total_minor: int,
    currency: str,
    registered_at: datetime | None,
    zone: tzinfo,
    source_claim: str,
    registered_source: str,
) -> dict[str, Any]:
    """What an alert raised at submission (O3, and ``SOURCE_CONFLICT``) shows: the
    order, who submitted it, who owns the customer, the source channel the order claims
    and the one the registry holds, and when the customer was registered (also as a day
    where the order was made)."""
    evidence: dict[str, Any] = {
        "order_code": order_code,
        "customer_code": customer_code,
        "submitted_by": submitted_by,
        "owner_id": owner_id or "—",
        "order_date": order_date.isoformat(),
        "total": str(money.minor_to_decimal(total_minor)),
        "currency": currency,
        "source_claim": source_claim,
        "registered_source": registered_source,
    }
    if registered_at is not None:
        evidence["registered_at"] = registered_at.isoformat()
        evidence["registered_on"] = registered_at.astimezone(zone).date().isoformat()
    return evidence
