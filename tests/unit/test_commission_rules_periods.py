"""The period of a commission run: a month in the branch's time zone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from salesguard.errors import InvalidInput
from salesguard_commissions.rules.periods import Period, month_of, zone_of


def test_a_period_is_a_month_in_the_branch_time_zone() -> None:
    month = Period.parse("2026-03")
    assert str(month) == "2026-03" and month.first_day.isoformat() == "2026-03-01"
    start, end = month.bounds(zone_of("Asia/Shanghai"))
    assert start == datetime(2026, 2, 28, 16, tzinfo=UTC)
    assert end == datetime(2026, 3, 31, 16, tzinfo=UTC)
    # New York switches to summer time within March: the month is an hour shorter.
    start, end = month.bounds(zone_of("America/New_York"))
    assert (start, end) == (
        datetime(2026, 3, 1, 5, tzinfo=UTC),
        datetime(2026, 4, 1, 4, tzinfo=UTC),
    )
    assert Period.parse("2026-12").next() == Period(2027, 1)
    assert zone_of("Not/AZone") == zone_of("")
    for bad in ("2026-13", "2026-1", "26-01", "2026/01", "", "1999-12"):
        with pytest.raises(InvalidInput):
            Period.parse(bad)


def test_the_month_of_an_instant_is_the_branch_local_month() -> None:
    turn = datetime(2026, 3, 31, 17, tzinfo=UTC)  # 1 April, 01:00 in Shanghai
    assert month_of(turn, "Asia/Shanghai") == Period(2026, 4)
    assert month_of(turn, "America/New_York") == Period(2026, 3)
    assert month_of(turn, "") == Period(2026, 3)
