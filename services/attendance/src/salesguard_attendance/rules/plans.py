"""Visit plans (A2): an employee, a customer, a planned time window.

A plan is made for an active employee and a customer the planner may read; its window
ends after it starts, within :data:`MAX_WINDOW`. A check-in is judged against the
plans of its day (``OUTSIDE_PLAN``, :mod:`salesguard_attendance.verification`): those
whose window overlaps the day (:func:`overlapping`), or the one it names, which must be
the employee's own (:func:`is_own_plan`).

A plan also lets its employee cover a colleague's customer (:func:`covering`): a
check-in may link a customer the employee cannot read when someone else (a manager,
who may read the customer, or planning would have been refused) planned this employee's
visit to that customer in a window that, give or take the ``OUTSIDE_PLAN`` tolerance,
holds the check-in's time. It links the visit and nothing more: the customer stays
outside the employee's read scope.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, SQLColumnExpression, and_

from salesguard.errors import InvalidInput

MAX_WINDOW = timedelta(hours=24)


def check_window(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    if start is None or end is None:
        raise InvalidInput("window_start", "a plan needs a start and an end")
    if not start < end <= start + MAX_WINDOW:
        raise InvalidInput("window_end", "a plan's window ends after it starts, within 24 hours")
    return start, end


def overlapping(
    window_start: SQLColumnExpression[datetime],
    window_end: SQLColumnExpression[datetime],
    start: datetime | None,
    end: datetime | None,
) -> list[ColumnElement[bool]]:
    """The plans whose window overlaps [start, end) (either end may be open)."""
    conditions = []
    if start is not None:
        conditions.append(window_end > start)
    if end is not None:
        conditions.append(window_start < end)
    return conditions


def overlaps_day(
    window_start: SQLColumnExpression[datetime],
    window_end: SQLColumnExpression[datetime],
    day_start: datetime,
    day_end: datetime,
) -> ColumnElement[bool]:
    """The plans a check-in of the day [day_start, day_end) is judged against."""
    return and_(*overlapping(window_start, window_end, day_start, day_end))


def is_own_plan(plan_employee_id: str | None, employee_id: str) -> bool:
    """Whether a check-in by ``employee_id`` may name the plan (None: no such plan)."""
    return plan_employee_id == employee_id


def covering(
    window_start: SQLColumnExpression[datetime],
    window_end: SQLColumnExpression[datetime],
    created_by: SQLColumnExpression[str],
    employee_id: str,
    at: datetime,
    tolerance: timedelta,
) -> list[ColumnElement[bool]]:
    """The plans that let ``employee_id`` link a check-in at ``at`` to a customer outside
    their scope: made by someone else, their window holding ``at`` within ``tolerance``
    (the bounds ``OUTSIDE_PLAN`` keeps)."""
    return [
        created_by != employee_id,
        window_start <= at + tolerance,
        window_end >= at - tolerance,
    ]
