"""Call logs and their patterns (A6): ``ABNORMAL_CALL_PATTERN``.

A call log is imported from telephony (employee, number, direction, start, duration)
and matched to a customer by the number's blind index. An employee's calls raise
``ABNORMAL_CALL_PATTERN`` when

- ``OTHERS_CUSTOMER``: a sales rep calls a customer owned by someone else (managers and
  HR call their people's customers as part of the job);
- ``UNREGISTERED_NUMBER``: a number that is no customer's is called
  ``unregistered_number_repeats`` (5) times within ``unregistered_number_window_days`` (7);
- ``LONG_CALL_WITHOUT_FOLLOW_UP``: a call to one's own customer lasts more than
  ``long_call_factor`` (3) times the employee's usual (the median of their calls to
  customers over ``long_call_history_days``, once there are ``long_call_min_history``
  of them) and no follow-up of that customer lies within a day of it.

Facts in (the calls, their history, the follow-up marks), alerts out; each alert's dedupe
key comes from its evidence, so the import and the hourly job raise it once. Pure: the
orchestration (:mod:`salesguard_attendance.detectors`, :mod:`salesguard_attendance.calllogs`)
reads the facts and raises.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, SQLColumnExpression, and_

from salesguard.alerts import AlertDraft
from salesguard.errors import InvalidInput

ABNORMAL_CALL_PATTERN = "ABNORMAL_CALL_PATTERN"
REP_ROLES = frozenset({"SALES_JUNIOR", "SALES_SENIOR"})
MAX_DURATION_SECONDS = 24 * 3600
# How close to a long call a follow-up of its customer must be to explain it.
FOLLOW_UP_WINDOW = timedelta(days=1)


@dataclass(frozen=True)
class CallThresholds:
    unregistered_number_repeats: int = 5
    unregistered_number_window_days: int = 7
    long_call_factor: float = 3.0
    long_call_min_history: int = 5
    long_call_history_days: int = 90


@dataclass(frozen=True)
class Call:
    """One imported call, as the detectors see it."""

    id: str
    employee_id: str
    branch_id: str | None
    direction: str
    started_at: datetime
    duration_seconds: int
    number_index: str
    number_masked: str
    customer_id: str | None
    customer_owner_id: str | None


@dataclass(frozen=True)
class FollowUpMark:
    employee_id: str
    customer_id: str
    at: datetime


# -- import -----------------------------------------------------------------------------------


def check_duration(seconds: int) -> int:
    if not 0 <= seconds <= MAX_DURATION_SECONDS:
        raise InvalidInput(
            "duration_seconds", f"duration_seconds must be 0 to {MAX_DURATION_SECONDS}"
        )
    return seconds


def unique_matches(
    matches: Iterable[tuple[str, str, str]],
) -> dict[str, tuple[str, str]]:
    """Blind index → (customer, owner) from (index, customer, owner) matches; a number
    shared by several customers matches none (nobody can tell whose the call was)."""
    found: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for index, customer_id, owner_id in matches:
        found[index].append((customer_id, owner_id))
    return {index: pairs[0] for index, pairs in found.items() if len(pairs) == 1}


# -- patterns ---------------------------------------------------------------------------------


def _call_alert(call: Call, dedupe: str, evidence: dict[str, Any]) -> AlertDraft:
    """An alert about one call (the call's employee, customer, branch)."""
    return AlertDraft(
        kind=ABNORMAL_CALL_PATTERN,
        dedupe_key=f"{ABNORMAL_CALL_PATTERN}:{dedupe}",
        employee_id=call.employee_id,
        customer_id=call.customer_id,
        branch_id=call.branch_id,
        detected_at=call.started_at,
        evidence={**evidence, "call_id": call.id},
    )


def calls_to_others_customers(
    employee_id: str, roles: Iterable[str], calls: Sequence[Call]
) -> list[AlertDraft]:
    """``OTHERS_CUSTOMER``: a rep's outgoing calls to a customer someone else owns."""
    if not set(roles) <= REP_ROLES:
        return []  # managers and HR call customers of their people as part of the job
    alerts = []
    for call in calls:
        if (
            call.direction != "OUTGOING"
            or call.customer_id is None
            or call.customer_owner_id in (None, employee_id)
        ):
            continue
        alerts.append(
            _call_alert(
                call,
                f"others:{employee_id}:{call.customer_id}:{call.started_at.date()}",
                {
                    "pattern": "OTHERS_CUSTOMER",
                    "owner_id": call.customer_owner_id,
                    "duration_seconds": call.duration_seconds,
                    "summary": f"Called a customer owned by {call.customer_owner_id}.",
                    "summary_zh": f"致电了 {call.customer_owner_id} 名下的客户。",
                },
            )
        )
    return alerts


def unregistered_numbers(calls: Iterable[Call]) -> dict[str, datetime]:
    """Each unregistered number called (blind index) → its latest call here; that
    number's window ends there."""
    latest: dict[str, datetime] = {}
    for call in calls:
        if call.customer_id is None:
            seen = latest.get(call.number_index)
            latest[call.number_index] = (
                call.started_at if seen is None else max(seen, call.started_at)
            )
    return latest


def unregistered_history_filter(
    started_at: SQLColumnExpression[datetime],
    latest: dict[str, datetime],
    thresholds: CallThresholds,
) -> ColumnElement[bool]:
    """The calls that can count towards any number's window (each number's own window is
    applied by :func:`repeated_unregistered_numbers`): one read for every number."""
    window = timedelta(days=thresholds.unregistered_number_window_days)
    return and_(started_at > min(latest.values()) - window, started_at <= max(latest.values()))


def repeated_unregistered_numbers(
    employee_id: str,
    latest: dict[str, datetime],
    history: Sequence[Call],
    thresholds: CallThresholds,
) -> list[AlertDraft]:
    """``UNREGISTERED_NUMBER``: ``history`` holds the employee's calls to the numbers of
    ``latest`` (oldest first); each number's calls within its window are counted."""
    window = timedelta(days=thresholds.unregistered_number_window_days)
    windows: dict[str, list[Call]] = defaultdict(list)
    for call in history:
        end = latest[call.number_index]
        if end - window < call.started_at <= end:
            windows[call.number_index].append(call)
    alerts = []
    days = thresholds.unregistered_number_window_days
    for number_index in sorted(latest):
        calls = windows[number_index]
        if len(calls) < thresholds.unregistered_number_repeats:
            continue
        number = calls[-1].number_masked
        alerts.append(
            AlertDraft(
                kind=ABNORMAL_CALL_PATTERN,
                dedupe_key=f"{ABNORMAL_CALL_PATTERN}:unregistered:{employee_id}:{calls[0].id}",
                employee_id=employee_id,
                branch_id=calls[-1].branch_id,
                detected_at=calls[-1].started_at,
                evidence={
                    "pattern": "UNREGISTERED_NUMBER",
                    "number": number,
                    "calls": len(calls),
                    "window_days": days,
                    "summary": f"{len(calls)} calls to the unregistered number {number} "
                    f"within {days} days.",
                    "summary_zh": f"{days} 天内 {len(calls)} 次致电未登记号码 {number}。",
                },
            )
        )
    return alerts


def own_customer_calls(employee_id: str, calls: Iterable[Call]) -> list[Call]:
    """The calls the long-call rule judges: answered calls to the employee's own customers."""
    return [
        call
        for call in calls
        if call.customer_id and call.customer_owner_id == employee_id and call.duration_seconds > 0
    ]


def long_call_history_filter(
    customer_id: SQLColumnExpression[str | None],
    duration_seconds: SQLColumnExpression[int],
    started_at: SQLColumnExpression[datetime],
    own_calls: Sequence[Call],
    thresholds: CallThresholds,
) -> ColumnElement[bool]:
    """The calls that make an employee's usual length: answered calls to customers over
    ``long_call_history_days`` before the earliest call judged."""
    earliest = min(call.started_at for call in own_calls)
    return and_(
        customer_id.is_not(None),
        duration_seconds > 0,
        started_at >= earliest - timedelta(days=thresholds.long_call_history_days),
        started_at < earliest,
    )


def long_calls_without_follow_up(
    employee_id: str,
    own_calls: Sequence[Call],
    history_seconds: Sequence[int],
    marks: Iterable[FollowUpMark],
    thresholds: CallThresholds,
) -> list[AlertDraft]:
    """``LONG_CALL_WITHOUT_FOLLOW_UP`` for ``own_calls`` (:func:`own_customer_calls`),
    given the durations of the history (:func:`long_call_history_filter`)."""
    if len(history_seconds) < thresholds.long_call_min_history:
        return []  # no usual length to compare with yet
    usual = statistics.median(history_seconds)
    followed: dict[str, list[datetime]] = defaultdict(list)
    for mark in marks:
        if mark.employee_id == employee_id:
            followed[mark.customer_id].append(mark.at)
    alerts = []
    for call in own_calls:
        if call.duration_seconds <= thresholds.long_call_factor * usual:
            continue
        if any(
            abs(at - call.started_at) <= FOLLOW_UP_WINDOW
            for at in followed.get(call.customer_id or "", [])
        ):
            continue
        minutes, times = call.duration_seconds // 60, call.duration_seconds / usual
        alerts.append(
            _call_alert(
                call,
                f"long:{call.id}",
                {
                    "pattern": "LONG_CALL_WITHOUT_FOLLOW_UP",
                    "duration_seconds": call.duration_seconds,
                    "usual_seconds": round(usual),
                    "summary": f"A {minutes}-minute call, {times:.1f}× "
                    "the usual, with no follow-up recorded.",
                    "summary_zh": f"通话 {minutes} 分钟，为平时的 {times:.1f} 倍，且无跟进记录。",
                },
            )
        )
    return alerts
