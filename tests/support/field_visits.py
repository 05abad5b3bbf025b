"""Field visits as a rep makes them, through the gateway: the check-in and call-log
operations, working days and local times of the make_org branches (Asia/Shanghai), a
check-in's input and its codes, and the alerts a caller reads.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tests.harness import Suite, employee_id

SHANGHAI = ZoneInfo("Asia/Shanghai")
# A customer's site on the Bund.
SITE = (31.2400, 121.4900)
CHECK_IN = """
mutation($input: CheckInInput!) {
  checkIn(input: $input) {
    checkIn { id verdict reasons { code message detail } photos { key sha256 url } }
  }
}
"""
CHECK_INS = """
query($filter: CheckInFilter) {
  checkIns(first: 50, filter: $filter) {
    totalCount
    edges { node { id verdict reasons { code } employee { id } photos { key url } } }
  }
}
"""
ALERTS = """
query($filter: AlertFilter) { alerts(first: 50, filter: $filter) { edges { node { kind evidence employee { id } } } } }
"""


def recent_working_days(count: int) -> list[date]:
    """The last ``count`` consecutive working days before today (Shanghai), oldest first."""
    day = datetime.now(SHANGHAI).date() - timedelta(days=1)
    days: list[date] = []
    while len(days) < count:
        if day.weekday() < 5:
            days.append(day)
        day -= timedelta(days=1)
    return sorted(days)


def at_local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=SHANGHAI)


def check_in_input(point: tuple[float, float], at: datetime, **extra: Any) -> dict[str, Any]:
    return {
        "at": at.isoformat(),
        "location": {"lat": point[0], "lng": point[1]},
        "accuracyM": 15.0,
        "deviceId": "phone-1",
        **extra,
    }


async def check_in(
    suite: Suite, as_: str, point: tuple[float, float], at: datetime, **extra: Any
) -> dict[str, Any]:
    data = (await suite.gql(CHECK_IN, {"input": check_in_input(point, at, **extra)}, as_=as_)).ok()
    return dict(data["checkIn"]["checkIn"])


def codes(check_in: dict[str, Any]) -> set[str]:
    return {reason["code"] for reason in check_in["reasons"]}


async def alerts(suite: Suite, as_: str, **filter_: Any) -> list[dict[str, Any]]:
    result = await suite.gql(ALERTS, {"filter": filter_}, as_=as_)
    return [edge["node"] for edge in result.ok()["alerts"]["edges"]]


IMPORT_CALLS = """
mutation($input: ImportCallLogsInput!) {
  importCallLogs(input: $input) { accepted duplicates rejected { index field reason } alertsRaised }
}
"""


def call(employee: str, number: str, started_at: datetime, seconds: int = 120) -> dict[str, Any]:
    """A call log entry of ``employee`` (their HR key)."""
    return {
        "employeeId": employee_id(employee),
        "number": number,
        "direction": "OUTGOING",
        "startedAt": started_at.isoformat(),
        "durationSeconds": seconds,
    }
