"""One range for every date and time that comes in (1900 to 2200): the gateway's scalars
and the services' own checks refuse the same values, from ``salesguard.timeutil``."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from salesguard import validation
from salesguard.errors import ErrorCode, InvalidInput
from salesguard.timeutil import (
    EARLIEST,
    LATEST,
    check_moment,
    from_timestamp,
    moment_in_range,
    parse_day,
    set_timestamp,
    to_timestamp,
)
from salesguard_api.customers.v1 import customers_pb2
from salesguard_gateway.inputs import InvalidScalar
from salesguard_gateway.schema.common import parse_date, parse_datetime, parse_decimal

PLUS_14 = timezone(timedelta(hours=14))
MINUS_14 = timezone(timedelta(hours=-14))


def test_the_range_is_1900_to_2200() -> None:
    assert datetime(1900, 1, 1, tzinfo=UTC) == EARLIEST
    assert datetime(2200, 1, 1, tzinfo=UTC) == LATEST


@pytest.mark.parametrize(
    ("moment", "inside"),
    [
        (EARLIEST, True),
        (LATEST, True),
        (EARLIEST - timedelta(microseconds=1), False),
        (LATEST + timedelta(microseconds=1), False),
        (datetime(1900, 1, 1, 8, tzinfo=timezone(timedelta(hours=8))), True),
        (datetime(1900, 1, 1, 7, 59, tzinfo=timezone(timedelta(hours=8))), False),
        # The ends of Python's calendar, where converting to UTC overflows: compared, not converted.
        (datetime(1, 1, 1, tzinfo=PLUS_14), False),
        (datetime(9999, 12, 31, 23, 59, 59, tzinfo=MINUS_14), False),
    ],
)
def test_moment_in_range(moment: datetime, inside: bool) -> None:
    assert moment_in_range(moment) is inside


def test_check_moment_names_the_field() -> None:
    assert check_moment("paid_at", EARLIEST) == EARLIEST
    with pytest.raises(InvalidInput) as raised:
        check_moment("paid_at", datetime(1, 1, 1, tzinfo=PLUS_14))
    assert raised.value.field == "paid_at"
    assert raised.value.code is ErrorCode.VALIDATION


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("0001-01-01", "between 1900-01-01 and 2200-01-01"),
        ("1899-12-31", "between"),
        ("2200-01-02", "between"),
        ("0000-00-00", "not a calendar date"),
        ("2025-02-30", "not a calendar date"),
        ("20250101", "YYYY-MM-DD"),
        ("2025-W01-1", "YYYY-MM-DD"),
        ("", "YYYY-MM-DD"),
    ],
)
def test_parse_day_refuses(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_day(text)


def test_parse_day_accepts_the_bounds() -> None:
    assert parse_day("1900-01-01") == date(1900, 1, 1)
    assert parse_day("2200-01-01") == date(2200, 1, 1)


def test_services_civil_dates_are_bounded_and_named() -> None:
    assert validation.civil_date("order_date", " 2025-05-01 ") == date(2025, 5, 1)
    with pytest.raises(InvalidInput) as raised:
        validation.civil_date("order_date", "0001-01-01")
    assert raised.value.field == "order_date"
    assert "order_date must be between 1900-01-01 and 2200-01-01" in raised.value.message


def seconds(moment: datetime) -> int:
    return int((moment - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds())


@pytest.mark.parametrize(
    "stamp",
    [
        Timestamp(seconds=-62135596800),  # 0001-01-01
        Timestamp(seconds=-62135596800 - 86_400),  # before any Timestamp protobuf allows
        Timestamp(seconds=seconds(EARLIEST) - 1),
        Timestamp(seconds=seconds(LATEST), nanos=1),
        Timestamp(seconds=10**15),
        Timestamp(seconds=seconds(EARLIEST), nanos=-1),
    ],
)
def test_from_timestamp_refuses_out_of_range(stamp: Timestamp) -> None:
    with pytest.raises(InvalidInput) as raised:
        from_timestamp(stamp, "first_contact_at")
    assert raised.value.field == "first_contact_at"


def test_from_timestamp_reads_the_range_and_unset() -> None:
    assert from_timestamp(None, "at") is None
    assert from_timestamp(Timestamp(), "at") is None
    assert from_timestamp(Timestamp(seconds=seconds(EARLIEST)), "at") == EARLIEST
    assert from_timestamp(Timestamp(seconds=seconds(LATEST)), "at") == LATEST
    moment = datetime(2025, 5, 1, 9, 30, 15, 123456, tzinfo=UTC)
    assert from_timestamp(to_timestamp(moment), "at") == moment


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2025, 5, 1, 9, 30, 15, 123456, tzinfo=timezone(timedelta(hours=8))),
        datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(1, 1, 1, tzinfo=PLUS_14),
        datetime(9999, 12, 31, 23, 59, 59, tzinfo=MINUS_14),
    ],
)
def test_to_timestamp_is_exact_and_never_overflows(moment: datetime) -> None:
    stamp = to_timestamp(moment)
    assert stamp is not None
    delta = timedelta(seconds=stamp.seconds, microseconds=stamp.nanos // 1000)
    assert moment - datetime(1970, 1, 1, tzinfo=UTC) == delta


def test_set_timestamp_writes_what_to_timestamp_makes() -> None:
    for moment in (
        datetime(2025, 5, 1, 9, 30, 15, 123456, tzinfo=timezone(timedelta(hours=8))),
        datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2025, 1, 1),
    ):
        message = customers_pb2.Customer()
        set_timestamp(message.registered_at, moment)
        assert message.registered_at == to_timestamp(moment)
    unset = customers_pb2.Customer()
    set_timestamp(unset.pooled_at, None)
    assert not unset.HasField("pooled_at")


def test_to_timestamp_takes_naive_times_as_utc() -> None:
    assert to_timestamp(datetime(2025, 1, 1)) == to_timestamp(datetime(2025, 1, 1, tzinfo=UTC))
    assert to_timestamp(None) is None


# -- the gateway's scalars refuse exactly what the services refuse ------------------------------


@pytest.mark.parametrize(
    "written",
    [
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59-14:00",
        "1899-12-31T23:59:59Z",
        "2200-01-01T00:00:00.000001Z",
        "2026-01-01T00:00:00",
        "0000-00-00",
        "2025-01-01T00:00:00+25:00",
        "",
        "x" * 65,
    ],
)
def test_date_time_scalar_refuses(written: str) -> None:
    with pytest.raises(InvalidScalar) as raised:
        parse_datetime(written)
    assert raised.value.value is written
    assert raised.value.code is ErrorCode.VALIDATION


@pytest.mark.parametrize("written", ["1900-01-01T00:00:00Z", "2200-01-01T08:00:00+08:00"])
def test_date_time_scalar_and_services_agree_at_the_bounds(written: str) -> None:
    parsed = parse_datetime(written)
    assert from_timestamp(to_timestamp(parsed), "at") == parsed


@pytest.mark.parametrize("value", [12, None, 1.5, ["2025-01-01T00:00:00Z"]])
def test_date_time_scalar_refuses_other_types(value: object) -> None:
    with pytest.raises(InvalidScalar):
        parse_datetime(value)


@pytest.mark.parametrize(
    "written", ["0001-01-01", "2200-01-02", "0000-00-00", "20250101", 20250101]
)
def test_date_scalar_refuses(written: object) -> None:
    with pytest.raises(InvalidScalar):
        parse_date(written)


def test_date_scalar_accepts_the_bounds() -> None:
    assert parse_date("1900-01-01") == date(1900, 1, 1)
    assert parse_date("2200-01-01") == date(2200, 1, 1)


@pytest.mark.parametrize(
    "written", ["abc", "NaN", "Infinity", "-inf", "1e999999999", "1e18", "1e-19", "", 1234, 12.5]
)
def test_decimal_scalar_refuses(written: object) -> None:
    with pytest.raises(InvalidScalar):
        parse_decimal(written)


@pytest.mark.parametrize("written", ["1234.50", "0", "-0.00", "999999999999999999.99", "1e-18"])
def test_decimal_scalar_accepts(written: str) -> None:
    assert parse_decimal(written) == Decimal(written)
