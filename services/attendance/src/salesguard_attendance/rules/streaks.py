"""Streak detectors (A5): ``PHOTO_MISSING_STREAK`` and ``UNREGISTERED_SITE_REPEATED``.

- ``PHOTO_MISSING_STREAK``: field check-ins on ``photo_missing_streak_days`` (3)
  consecutive working days without any photo. Weekends neither count nor break a
  streak; a working day without field check-ins breaks it.
- ``UNREGISTERED_SITE_REPEATED``: ``unregistered_site_repeats`` (3) check-ins with
  ``UNREGISTERED_SITE`` within ``unregistered_site_radius_m`` of one another's place
  inside ``unregistered_site_window_days``.

Facts in (each day's check-ins, the unregistered-site visits near one), alerts out. Each
alert's dedupe key comes from its evidence (the first day of a streak, the first visit
of a cluster), so the write path, the hourly job and any re-run raise it once. Pure: the
orchestration (:mod:`salesguard_attendance.detectors`) reads the facts and raises.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, SQLColumnExpression

from salesguard.alerts import AlertDraft
from salesguard.geo import haversine_m
from salesguard_attendance.verification import UNREGISTERED_SITE, has_reason, reason_filter

PHOTO_MISSING_STREAK = "PHOTO_MISSING_STREAK"
UNREGISTERED_SITE_REPEATED = "UNREGISTERED_SITE_REPEATED"


@dataclass(frozen=True)
class FieldVisitThresholds:
    photo_missing_streak_days: int = 3
    unregistered_site_repeats: int = 3
    unregistered_site_window_days: int = 30
    unregistered_site_radius_m: float = 150.0


# -- photo-less streaks ------------------------------------------------------------------


def previous_working_day(day: date) -> date:
    day -= timedelta(days=1)
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return day


def photo_missing_streak(day: date, days_with_photos: dict[date, bool]) -> list[date]:
    """Consecutive working days up to ``day`` with field check-ins and no photo, newest first.

    ``days_with_photos`` maps each day with field check-ins to whether any had a
    photo. Weekends neither count nor break a streak; a working day without
    field check-ins breaks it.
    """
    if day.weekday() >= 5:
        return []
    streak = []
    while days_with_photos.get(day) is False:
        streak.append(day)
        day = previous_working_day(day)
    return streak


def streak_lookback(day: date, thresholds: FieldVisitThresholds) -> date:
    """The first day whose check-ins can belong to a streak ending on ``day``: enough
    calendar days back to hold the streak and the weekends inside it."""
    return day - timedelta(days=thresholds.photo_missing_streak_days * 2 + 4)


def photo_streak_alert(
    employee_id: str,
    branch_id: str | None,
    day: date,
    days_with_photos: dict[date, bool],
    thresholds: FieldVisitThresholds,
    detected_at: datetime,
) -> AlertDraft | None:
    """``PHOTO_MISSING_STREAK`` for a streak ending on ``day``, once it is long enough."""
    streak = photo_missing_streak(day, days_with_photos)
    if len(streak) < thresholds.photo_missing_streak_days:
        return None
    first, last = streak[-1], streak[0]
    return AlertDraft(
        kind=PHOTO_MISSING_STREAK,
        # One alert per streak, however long it grows.
        dedupe_key=f"{PHOTO_MISSING_STREAK}:{employee_id}:{first.isoformat()}",
        employee_id=employee_id,
        branch_id=branch_id,
        detected_at=detected_at,
        evidence={
            "days": len(streak),
            "first_day": first.isoformat(),
            "last_day": last.isoformat(),
            "threshold_days": thresholds.photo_missing_streak_days,
        },
    )


# -- repeated unregistered sites -----------------------------------------------------------


@dataclass(frozen=True)
class SiteVisit:
    """A check-in as the site detector sees it."""

    id: str
    employee_id: str
    branch_id: str | None
    at: datetime
    lat: float
    lng: float
    recorded_at: datetime


def counts_toward_site(reason_codes: str) -> bool:
    """Whether a check-in (its reason-codes column) is a visit to an unregistered site."""
    return has_reason(reason_codes, UNREGISTERED_SITE)


def site_visit_filter(reason_codes: SQLColumnExpression[str]) -> ColumnElement[bool]:
    """:func:`counts_toward_site` as SQL over the reason-codes column."""
    return reason_filter(reason_codes, UNREGISTERED_SITE)


def site_window_start(visit: SiteVisit, thresholds: FieldVisitThresholds) -> datetime:
    """The earliest check-in that counts with ``visit``."""
    return visit.at - timedelta(days=thresholds.unregistered_site_window_days)


def repeated_site_alert(
    visit: SiteVisit, earlier: list[SiteVisit], thresholds: FieldVisitThresholds
) -> AlertDraft | None:
    """``UNREGISTERED_SITE_REPEATED`` when enough unregistered-site visits of the window
    (``earlier``, oldest first, ``visit`` among them) lie within the radius of ``visit``."""
    radius = thresholds.unregistered_site_radius_m
    visits = [
        other
        for other in earlier
        if haversine_m(other.lat, other.lng, visit.lat, visit.lng) <= radius
    ]
    if len(visits) < thresholds.unregistered_site_repeats:
        return None
    evidence: dict[str, Any] = {
        "visits": len(visits),
        "window_days": thresholds.unregistered_site_window_days,
        "check_in_ids": [other.id for other in visits],
        "lat": round(visit.lat, 6),
        "lng": round(visit.lng, 6),
    }
    return AlertDraft(
        kind=UNREGISTERED_SITE_REPEATED,
        # The cluster's first visit: later visits to the same place raise nothing new.
        dedupe_key=f"{UNREGISTERED_SITE_REPEATED}:{visit.employee_id}:{visits[0].id}",
        employee_id=visit.employee_id,
        branch_id=visit.branch_id,
        detected_at=visit.recorded_at,
        evidence=evidence,
    )
