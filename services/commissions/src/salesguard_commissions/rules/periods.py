"""The period of a run: a calendar month ``YYYY-MM`` in the branch's time zone."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from salesguard.errors import InvalidInput

PERIOD_PATTERN = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


@dataclass(frozen=True, slots=True)
class Period:
    """A month: ``2026-03``."""

    year: int
    month: int

    @classmethod
    def parse(cls, text: str, field: str = "period") -> Period:
        match = PERIOD_PATTERN.match(text.strip())
        if match is None:
            raise InvalidInput(field, f"{field} must be a month written YYYY-MM, e.g. 2026-03")
        year, month = int(match.group(1)), int(match.group(2))
        if year < 2000 or year > 2999:
            raise InvalidInput(field, f"{field} lies outside the years 2000 to 2999")
        return cls(year, month)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    def next(self) -> Period:
        return Period(self.year + self.month // 12, self.month % 12 + 1)

    def bounds(self, zone: ZoneInfo) -> tuple[datetime, datetime]:
        """[start, end) of the month in ``zone``, as UTC instants."""
        following = self.next()
        start = datetime(self.year, self.month, 1, tzinfo=zone)
        end = datetime(following.year, following.month, 1, tzinfo=zone)
        return start.astimezone(UTC), end.astimezone(UTC)


def zone_of(name: str) -> ZoneInfo:
    """A branch's IANA time zone; UTC when it names none or an unknown one."""
    if not name:
        return ZoneInfo("UTC")
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError, OSError):
        return ZoneInfo("UTC")


def month_of(moment: datetime, time_zone: str) -> Period:
    """The month ``moment`` falls in, in the branch's time zone."""
    local = moment.astimezone(zone_of(time_zone)).date()
    return Period(local.year, local.month)
