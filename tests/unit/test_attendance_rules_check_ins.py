"""A3 beyond the verdict: which reasons alert and how often, and how reason codes are stored."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Column, ColumnElement, MetaData, String, Table
from sqlalchemy.dialects import sqlite

from salesguard_attendance.verification import (
    NEW_DEVICE,
    UNLINKED_CUSTOMER_SITE,
    Reason,
    RecordedCheckIn,
    check_in_alerts,
    codes_column,
    has_reason,
    reason_filter,
)

AT = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
CHECK_IN = RecordedCheckIn(
    id="ci-1",
    employee_id="rep",
    customer_id=None,
    branch_id="sh",
    device_id="phone-2",
    at=AT,
    local_day=date(2026, 11, 24),
    recorded_at=AT + timedelta(seconds=1),
)
CHECK_INS = Table("check_ins", MetaData(), Column("reason_codes", String))


def sql(clause: ColumnElement[bool]) -> str:
    return str(clause.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))


def test_reasons_that_only_describe_a_check_in_raise_no_alert() -> None:
    reasons = [
        Reason("NO_PHOTO", "no photo"),
        Reason("LOW_ACCURACY", "coarse"),
        Reason("OUTSIDE_PLAN", "x"),
    ]
    assert check_in_alerts(CHECK_IN, reasons) == []


def test_an_alerting_reason_names_the_check_in_and_its_evidence() -> None:
    (alert,) = check_in_alerts(CHECK_IN, [Reason("MOCK_LOCATION", "mocked", {"x": 1})])
    assert alert.kind == "MOCK_LOCATION"
    assert alert.dedupe_key == "MOCK_LOCATION:ci-1"
    assert alert.employee_id == "rep" and alert.branch_id == "sh"
    assert alert.detected_at == CHECK_IN.recorded_at
    assert alert.evidence == {"x": 1, "check_in_id": "ci-1", "at": AT.isoformat()}


def test_a_site_left_unlinked_alerts_once_per_customer_and_day() -> None:
    reason = Reason(UNLINKED_CUSTOMER_SITE, "near c-9", {"customer_id": "c-9"})
    (alert,) = check_in_alerts(CHECK_IN, [reason])
    assert alert.customer_id == "c-9"
    assert alert.dedupe_key == f"{UNLINKED_CUSTOMER_SITE}:rep:c-9:2026-11-24"


def test_a_new_device_alerts_once_per_device() -> None:
    (alert,) = check_in_alerts(CHECK_IN, [Reason(NEW_DEVICE, "new", {"device_id": "phone-2"})])
    assert alert.dedupe_key == f"{NEW_DEVICE}:rep:phone-2"


def test_reason_codes_are_stored_space_delimited_for_an_exact_match() -> None:
    column = codes_column([Reason("NO_PHOTO", "x"), Reason("UNREGISTERED_SITE", "y")])
    assert column == " NO_PHOTO UNREGISTERED_SITE "
    # Stored reasons come back as dicts (a check-out adds SHORT_VISIT to them).
    assert codes_column([{"code": "NO_PHOTO", "message": "x"}]) == " NO_PHOTO "
    assert codes_column([]) == " "
    assert has_reason(column, "NO_PHOTO")
    assert not has_reason(column, "PHOTO")
    assert sql(reason_filter(CHECK_INS.c.reason_codes, "NO_PHOTO")) == (
        "check_ins.reason_codes LIKE '% NO_PHOTO %'"
    )
