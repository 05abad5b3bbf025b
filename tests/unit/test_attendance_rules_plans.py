"""A2 one by one: a plan's window, the plans of a check-in's day, whose plan a check-in names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Column, ColumnElement, DateTime, MetaData, String, Table
from sqlalchemy.dialects import sqlite

from salesguard.errors import InvalidInput
from salesguard_attendance.rules.plans import (
    MAX_WINDOW,
    check_window,
    covering,
    is_own_plan,
    overlapping,
    overlaps_day,
)

START = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
PLANS = Table(
    "visit_plans",
    MetaData(),
    Column("window_start", DateTime(timezone=True)),
    Column("window_end", DateTime(timezone=True)),
)


def sql(clause: ColumnElement[bool]) -> str:
    return str(clause.compile(dialect=sqlite.dialect()))


def test_a_window_ends_after_it_starts_within_a_day() -> None:
    end = START + timedelta(hours=2)
    assert check_window(START, end) == (START, end)
    assert check_window(START, START + MAX_WINDOW) == (START, START + MAX_WINDOW)


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        (None, START, "window_start"),
        (START, None, "window_start"),
        (START, START, "window_end"),
        (START, START - timedelta(minutes=1), "window_end"),
        (START, START + MAX_WINDOW + timedelta(seconds=1), "window_end"),
    ],
)
def test_a_bad_window_names_its_field(
    start: datetime | None, end: datetime | None, field: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_window(start, end)
    assert refused.value.field == field


def test_plans_overlapping_a_period_either_end_open() -> None:
    columns = (PLANS.c.window_start, PLANS.c.window_end)
    assert overlapping(*columns, None, None) == []
    (ends_after,) = overlapping(*columns, START, None)
    assert sql(ends_after).startswith("visit_plans.window_end >")
    (starts_before,) = overlapping(*columns, None, START)
    assert sql(starts_before).startswith("visit_plans.window_start <")
    day = sql(overlaps_day(*columns, START, START + timedelta(days=1)))
    assert "visit_plans.window_end >" in day and "visit_plans.window_start <" in day


def test_a_check_in_names_only_its_employees_own_plan() -> None:
    assert is_own_plan("rep", "rep")
    assert not is_own_plan("mate", "rep")
    assert not is_own_plan(None, "rep")


def test_a_covering_plan_is_someone_else_s_and_holds_the_check_in_within_the_tolerance() -> None:
    table = Table(
        "covering_plans",
        MetaData(),
        Column("window_start", DateTime(timezone=True)),
        Column("window_end", DateTime(timezone=True)),
        Column("created_by", String(64)),
    )
    at, tolerance = START + timedelta(hours=1), timedelta(minutes=30)
    made_by_another, starts, ends = covering(
        table.c.window_start, table.c.window_end, table.c.created_by, "rep-1", at, tolerance
    )
    assert sql(made_by_another) == "covering_plans.created_by != ?"
    assert made_by_another.compile().params == {"created_by_1": "rep-1"}
    assert sql(starts) == "covering_plans.window_start <= ?"
    assert starts.compile().params == {"window_start_1": at + tolerance}
    assert sql(ends) == "covering_plans.window_end >= ?"
    assert ends.compile().params == {"window_end_1": at - tolerance}
