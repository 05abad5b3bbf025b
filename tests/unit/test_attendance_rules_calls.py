"""A6 one by one: call imports, and each ABNORMAL_CALL_PATTERN pattern."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Column, ColumnElement, DateTime, Integer, MetaData, String, Table
from sqlalchemy.dialects import sqlite

from salesguard.errors import InvalidInput
from salesguard_attendance.rules.calls import (
    ABNORMAL_CALL_PATTERN,
    Call,
    CallThresholds,
    FollowUpMark,
    calls_to_others_customers,
    check_duration,
    long_call_history_filter,
    long_calls_without_follow_up,
    own_customer_calls,
    repeated_unregistered_numbers,
    unique_matches,
    unregistered_history_filter,
    unregistered_numbers,
)

AT = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
LIMITS = CallThresholds()
CALL = Call(
    id="call-1",
    employee_id="rep",
    branch_id="sh",
    direction="OUTGOING",
    started_at=AT,
    duration_seconds=120,
    number_index="n-1",
    number_masked="+86 *** 0001",
    customer_id="c-1",
    customer_owner_id="rep",
)
CALLS = Table(
    "call_logs",
    MetaData(),
    Column("customer_id", String),
    Column("duration_seconds", Integer),
    Column("started_at", DateTime(timezone=True)),
)


def sql(clause: ColumnElement[bool]) -> str:
    return str(clause.compile(dialect=sqlite.dialect()))


def test_a_duration_is_zero_to_a_day() -> None:
    assert check_duration(0) == 0
    assert check_duration(86400) == 86400
    for wrong in (-1, 86401):
        with pytest.raises(InvalidInput) as refused:
            check_duration(wrong)
        assert refused.value.field == "duration_seconds"


def test_a_number_shared_by_several_customers_matches_none() -> None:
    matches = unique_matches([("n-1", "c-1", "rep"), ("n-2", "c-2", "mate"), ("n-2", "c-3", "rep")])
    assert matches == {"n-1": ("c-1", "rep")}


def test_a_rep_calling_a_customer_owned_by_someone_else_is_abnormal() -> None:
    others = replace(CALL, customer_owner_id="mate")
    (alert,) = calls_to_others_customers("rep", ["SALES_JUNIOR"], [CALL, others])
    assert alert.kind == ABNORMAL_CALL_PATTERN
    assert alert.evidence["pattern"] == "OTHERS_CUSTOMER"
    assert alert.evidence["owner_id"] == "mate"
    assert alert.evidence["call_id"] == "call-1"
    assert alert.customer_id == "c-1"
    assert alert.dedupe_key == f"{ABNORMAL_CALL_PATTERN}:others:rep:c-1:2026-11-24"


def test_only_outgoing_calls_of_reps_to_someone_elses_registered_customer_count() -> None:
    others = replace(CALL, customer_owner_id="mate")
    assert calls_to_others_customers("lead", ["SALES_MANAGER"], [others]) == []
    assert calls_to_others_customers("rep", ["SALES_SENIOR", "HR"], [others]) == []
    assert (
        calls_to_others_customers("rep", ["SALES_JUNIOR"], [replace(others, direction="INCOMING")])
        == []
    )
    unregistered = replace(others, customer_id=None, customer_owner_id=None)
    assert calls_to_others_customers("rep", ["SALES_JUNIOR"], [unregistered]) == []


def unregistered_call(number: str, minutes: int) -> Call:
    return replace(
        CALL,
        id=f"{number}-{minutes}",
        number_index=number,
        started_at=AT + timedelta(minutes=minutes),
        customer_id=None,
        customer_owner_id=None,
    )


def test_each_unregistered_numbers_window_ends_at_its_latest_call() -> None:
    calls = [unregistered_call("n-9", 0), unregistered_call("n-9", 30), CALL]
    assert unregistered_numbers(calls) == {"n-9": AT + timedelta(minutes=30)}


def test_an_unregistered_number_called_repeatedly_within_the_window_is_abnormal() -> None:
    history = [unregistered_call("n-9", minutes) for minutes in range(0, 5 * 60, 60)]
    latest = unregistered_numbers(history)
    (alert,) = repeated_unregistered_numbers("rep", latest, history, LIMITS)
    assert alert.evidence["pattern"] == "UNREGISTERED_NUMBER"
    assert alert.evidence["calls"] == 5
    # The first call of the window names the alert: a sixth call raises nothing new.
    assert alert.dedupe_key == f"{ABNORMAL_CALL_PATTERN}:unregistered:rep:n-9-0"
    assert repeated_unregistered_numbers("rep", latest, history[:4], LIMITS) == []


def test_calls_before_the_window_do_not_count() -> None:
    old = replace(unregistered_call("n-9", 0), started_at=AT - timedelta(days=8))
    history = [old] + [unregistered_call("n-9", minutes) for minutes in range(0, 4 * 60, 60)]
    assert (
        repeated_unregistered_numbers("rep", unregistered_numbers(history), history, LIMITS) == []
    )


def test_the_history_read_covers_every_numbers_window() -> None:
    latest = {"n-1": AT, "n-2": AT + timedelta(days=2)}
    text = sql(unregistered_history_filter(CALLS.c.started_at, latest, LIMITS))
    assert "call_logs.started_at >" in text and "call_logs.started_at <=" in text


def long_call(seconds: int) -> Call:
    return replace(CALL, id="long", duration_seconds=seconds)


def test_a_call_far_longer_than_usual_without_a_follow_up_is_abnormal() -> None:
    (alert,) = long_calls_without_follow_up("rep", [long_call(1900)], [600] * 5, [], LIMITS)
    assert alert.evidence["pattern"] == "LONG_CALL_WITHOUT_FOLLOW_UP"
    assert alert.evidence["usual_seconds"] == 600
    assert alert.dedupe_key == f"{ABNORMAL_CALL_PATTERN}:long:long"


def test_a_long_call_is_explained_by_a_follow_up_within_a_day() -> None:
    near = FollowUpMark("rep", "c-1", AT + timedelta(hours=20))
    far = FollowUpMark("rep", "c-1", AT + timedelta(days=2))
    someone_else = FollowUpMark("mate", "c-1", AT)
    assert long_calls_without_follow_up("rep", [long_call(1900)], [600] * 5, [near], LIMITS) == []
    assert (
        len(
            long_calls_without_follow_up(
                "rep", [long_call(1900)], [600] * 5, [far, someone_else], LIMITS
            )
        )
        == 1
    )


def test_no_usual_length_without_enough_history_and_three_times_is_not_more() -> None:
    assert long_calls_without_follow_up("rep", [long_call(1900)], [600] * 4, [], LIMITS) == []
    assert long_calls_without_follow_up("rep", [long_call(1800)], [600] * 5, [], LIMITS) == []


def test_only_answered_calls_to_ones_own_customers_are_judged_for_length() -> None:
    calls = [
        CALL,
        replace(CALL, id="others", customer_owner_id="mate"),
        replace(CALL, id="unanswered", duration_seconds=0),
        replace(CALL, id="unregistered", customer_id=None, customer_owner_id=None),
    ]
    assert [call.id for call in own_customer_calls("rep", calls)] == ["call-1"]


def test_the_usual_length_comes_from_answered_customer_calls_before_the_earliest_judged() -> None:
    text = sql(
        long_call_history_filter(
            CALLS.c.customer_id, CALLS.c.duration_seconds, CALLS.c.started_at, [CALL], LIMITS
        )
    )
    assert "call_logs.customer_id IS NOT NULL" in text
    assert "call_logs.duration_seconds >" in text
    assert "call_logs.started_at >=" in text and "call_logs.started_at <" in text
