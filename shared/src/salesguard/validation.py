"""Checks at the edge of every service: bad input gets a typed error naming the field."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Protocol, TypeVar

from salesguard.errors import InvalidInput
from salesguard.settings import PageLimits
from salesguard.timeutil import parse_day
from salesguard_api.common.v1 import common_pb2

# IDs one batch call (GetCustomers, GetOrders, SummariseAlerts, ...) takes at most: what
# the gateway's loaders send per call. A page of any size is fetched in such batches.
MAX_BATCH = 100
MAX_TEXT = 500
MAX_NOTE = 4000
# An ID the suite makes (``db.new_id``) is 32 characters; the IDs of people, teams and
# branches come from the directory (HR's own numbering) and may be up to 64. One length
# each, everywhere.
RECORD_ID_LENGTH = 32
DIRECTORY_ID_LENGTH = 64
# A client's idempotency key: room for a UUID with a prefix, not for a payload.
IDEMPOTENCY_KEY_LENGTH = 128
# Lengths of the text fields several services take, each written once (the columns that
# store them use the same constants).
NAME_LENGTH = 200  # a person's, customer's, company's, branch's or team's name; a search
EMAIL_LENGTH = 254  # RFC 5321's longest address
PHONE_LENGTH = 40  # as typed, before normalising
REASON_LENGTH = 1000  # a reason, note or comment given with a decision
OBJECT_KEY_LENGTH = 512  # a key in the object store (photos, vouchers, statements)


def text(field: str, value: str, *, required: bool = False, max_length: int = MAX_TEXT) -> str:
    value = value.strip()
    if required and not value:
        raise InvalidInput(field, f"{field} is required")
    if len(value) > max_length:
        raise InvalidInput(field, f"{field} is longer than {max_length} characters")
    if any(ord(ch) < 32 and ch not in "\n\t" for ch in value):
        raise InvalidInput(field, f"{field} contains control characters")
    return value


def record_id(field: str, value: str, *, required: bool = False) -> str:
    """The ID of a record the suite made (a customer, order, check-in, ...)."""
    return text(field, value, required=required, max_length=RECORD_ID_LENGTH)


def directory_id(field: str, value: str, *, required: bool = False) -> str:
    """The ID of an employee, a team or a branch: the people directory numbers all three."""
    return text(field, value, required=required, max_length=DIRECTORY_ID_LENGTH)


def not_in_future(field: str, at: datetime, *, now: datetime, skew_seconds: int) -> datetime:
    """Refuse a moment later than now by more than the clocks may disagree (a device's
    clock runs ahead; a timestamp from tomorrow is a forged or broken one)."""
    if at > now + timedelta(seconds=skew_seconds):
        raise InvalidInput(field, f"{field} is in the future")
    return at


def civil_date(field: str, value: str) -> date:
    """A required calendar date written YYYY-MM-DD (no other ISO form: clients send one),
    within the range every date must lie in (``timeutil.RANGE``)."""
    written = value.strip()
    if not written:
        raise InvalidInput(field, f"{field} is required (a date YYYY-MM-DD)")
    try:
        return parse_day(written)
    except ValueError as error:
        raise InvalidInput(field, f"{field} {error}") from None


def page_size(field: str, requested: int, limits: PageLimits) -> int:
    """The size of the page asked for (0: the default), refused beyond the maximum."""
    if requested < 0 or requested > limits.maximum:
        raise InvalidInput(field, f"{field} must be between 1 and {limits.maximum}")
    return requested or limits.default


def geo_point(field: str, point: common_pb2.GeoPoint) -> tuple[float, float]:
    lat, lng = point.lat, point.lng
    if not (math.isfinite(lat) and math.isfinite(lng)):
        raise InvalidInput(field, f"{field} must be finite numbers")
    if not -90.0 <= lat <= 90.0:
        raise InvalidInput(field, f"{field}.lat must be between -90 and 90")
    if not -180.0 <= lng <= 180.0:
        raise InvalidInput(field, f"{field}.lng must be between -180 and 180")
    return lat, lng


def decimal(field: str, value: str, *, places: int = 2, minimum: Decimal | None = None) -> Decimal:
    """A required Decimal with at most ``places`` decimals; never a float."""
    written = value.strip()
    if not written:
        raise InvalidInput(field, f"{field} is required")
    try:
        number = Decimal(written)
    except InvalidOperation:
        raise InvalidInput(field, f"{field} is not a decimal number: {written!r}") from None
    if not number.is_finite():
        raise InvalidInput(field, f"{field} must be a finite number")
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > places:
        raise InvalidInput(field, f"{field} has more than {places} decimal places: {written}")
    if minimum is not None and number < minimum:
        raise InvalidInput(field, f"{field} must be at least {minimum}")
    return number


E = TypeVar("E")


class ProtoEnum(Protocol):
    """A generated protobuf enum (its metaclass lists the names and numbers)."""

    def items(self) -> Sequence[tuple[str, int]]: ...


def enum_names(enum: ProtoEnum, prefix: str) -> dict[int, str]:
    """A proto enum's specified values by number, named without the prefix: {1: "WEBSITE"}."""
    return {
        value: name.removeprefix(prefix)
        for name, value in enum.items()
        if not name.endswith("_UNSPECIFIED")
    }


def enum_value(field: str, value: int, allowed: dict[int, E]) -> E:
    """A known, specified enum value."""
    if value not in allowed:
        raise InvalidInput(field, f"{field} has an unknown or unspecified value ({value})")
    return allowed[value]


def name_key(name: str) -> str:
    """A name as a matching key: lower-cased, whitespace folded ("ACME  Ltd" = "acme ltd")."""
    return " ".join(name.lower().split())
