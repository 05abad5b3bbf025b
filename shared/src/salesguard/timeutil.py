"""Conversions between protobuf Timestamps and aware datetimes, and the range of dates the suite accepts.

Every date and time that comes in (the gateway's ``DateTime`` and ``Date`` scalars,
the services' request fields) must lie within ``EARLIEST`` … ``LATEST``: outside it
lie only typos and attacks, and Python's datetimes overflow near years 1 and 9999
(``0001-01-01T00:00:00+14:00`` cannot even be converted to UTC).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from google.protobuf.timestamp_pb2 import Timestamp

from salesguard.errors import InvalidInput

EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
EARLIEST_DAY = EARLIEST.date()
LATEST_DAY = LATEST.date()
RANGE = f"between {EARLIEST_DAY} and {LATEST_DAY}"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EARLIEST_SECONDS = int((EARLIEST - _EPOCH).total_seconds())
_LATEST_SECONDS = int((LATEST - _EPOCH).total_seconds())
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def moment_in_range(value: datetime) -> bool:
    """Whether an aware datetime lies within the accepted range (any UTC offset, no overflow)."""
    return EARLIEST <= value <= LATEST


def check_moment(field: str, value: datetime) -> datetime:
    """``value`` (aware), or VALIDATION naming ``field`` when outside the accepted range."""
    if not moment_in_range(value):
        raise InvalidInput(field, f"{field} must be a time {RANGE}")
    return value


def day_in_range(value: date) -> bool:
    return EARLIEST_DAY <= value <= LATEST_DAY


def parse_day(text: str) -> date:
    """A calendar date written YYYY-MM-DD within the accepted range.

    ValueError says what is wrong, as a predicate: "must be a date YYYY-MM-DD: '…'".
    """
    if not _ISO_DATE.fullmatch(text):
        raise ValueError(f"must be a date YYYY-MM-DD: {text!r}")
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"is not a calendar date: {text!r}") from None
    if not day_in_range(day):
        raise ValueError(f"must be {RANGE}: {text!r}")
    return day


def _seconds_nanos(value: datetime) -> tuple[int, int]:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    # Subtracting aware datetimes works on offsets, not on a UTC copy, so unlike
    # astimezone() it cannot overflow at the ends of the calendar.
    delta = value - _EPOCH
    return delta.days * 86_400 + delta.seconds, delta.microseconds * 1000


def to_timestamp(value: datetime | None) -> Timestamp | None:
    """A Timestamp of an aware datetime (naive ones are taken as UTC); never overflows."""
    if value is None:
        return None
    seconds, nanos = _seconds_nanos(value)
    return Timestamp(seconds=seconds, nanos=nanos)


def set_timestamp(target: Timestamp, value: datetime | None) -> None:
    """:func:`to_timestamp` written into a message's field in place (left unset for None):
    a Timestamp passed to a message's constructor is copied, which costs as much again."""
    if value is not None:
        target.seconds, target.nanos = _seconds_nanos(value)


def from_timestamp(stamp: Timestamp | None, field: str) -> datetime | None:
    """The request field ``field`` as an aware UTC datetime; None when unset (zero).

    Refused (VALIDATION naming ``field``) outside the accepted range.
    """
    if stamp is None:
        return None
    seconds, nanos = stamp.seconds, stamp.nanos
    if seconds == 0 and nanos == 0:
        return None
    if not (
        seconds >= _EARLIEST_SECONDS
        and (seconds, nanos) <= (_LATEST_SECONDS, 0)
        and 0 <= nanos < 1_000_000_000
    ):
        raise InvalidInput(field, f"{field} must be a time {RANGE}")
    return _EPOCH + timedelta(seconds=seconds, microseconds=nanos // 1000)
