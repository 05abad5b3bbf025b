"""A5 one by one: photo-less streaks and repeated visits to an unregistered site."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from salesguard_attendance.rules.calls import CallThresholds
from salesguard_attendance.rules.streaks import (
    PHOTO_MISSING_STREAK,
    UNREGISTERED_SITE_REPEATED,
    FieldVisitThresholds,
    SiteVisit,
    counts_toward_site,
    photo_streak_alert,
    previous_working_day,
    repeated_site_alert,
    site_window_start,
    streak_lookback,
)
from salesguard_attendance.rules.thresholds import from_policy

LIMITS = FieldVisitThresholds()
MONDAY = date(2026, 11, 23)
AT = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)


def test_the_working_day_before_a_monday_is_the_friday() -> None:
    assert previous_working_day(MONDAY) == MONDAY - timedelta(days=3)
    assert previous_working_day(MONDAY + timedelta(days=1)) == MONDAY


def test_three_photo_less_working_days_across_a_weekend_raise_one_alert() -> None:
    friday, thursday = MONDAY - timedelta(days=3), MONDAY - timedelta(days=4)
    days = {thursday: True, friday: False, MONDAY: False, MONDAY + timedelta(days=1): False}
    alert = photo_streak_alert("rep", "sh", MONDAY + timedelta(days=1), days, LIMITS, AT)
    assert alert is not None
    assert alert.kind == PHOTO_MISSING_STREAK
    assert alert.evidence == {
        "days": 3,
        "first_day": friday.isoformat(),
        "last_day": (MONDAY + timedelta(days=1)).isoformat(),
        "threshold_days": 3,
    }
    # Named by its first day: the streak growing raises nothing new.
    assert alert.dedupe_key == f"{PHOTO_MISSING_STREAK}:rep:{friday.isoformat()}"


def test_a_short_streak_or_a_day_with_a_photo_raises_nothing() -> None:
    days = {MONDAY: False, MONDAY + timedelta(days=1): False}
    assert photo_streak_alert("rep", "sh", MONDAY + timedelta(days=1), days, LIMITS, AT) is None
    days[MONDAY - timedelta(days=3)] = True
    assert photo_streak_alert("rep", "sh", MONDAY + timedelta(days=1), days, LIMITS, AT) is None


def test_the_lookback_holds_the_streak_and_its_weekends() -> None:
    assert streak_lookback(MONDAY, LIMITS) == MONDAY - timedelta(days=10)


def visit(number: int, metres_north: float, days_ago: float = 0) -> SiteVisit:
    return SiteVisit(
        id=f"ci-{number}",
        employee_id="rep",
        branch_id="sh",
        at=AT - timedelta(days=days_ago),
        lat=31.2 + metres_north / 111_320,
        lng=121.5,
        recorded_at=AT,
    )


def test_three_unregistered_visits_to_one_place_raise_one_alert() -> None:
    visits = [visit(1, 0, 20), visit(2, 50, 10), visit(3, 20)]
    alert = repeated_site_alert(visits[-1], visits, LIMITS)
    assert alert is not None
    assert alert.kind == UNREGISTERED_SITE_REPEATED
    assert alert.evidence["check_in_ids"] == ["ci-1", "ci-2", "ci-3"]
    assert alert.dedupe_key == f"{UNREGISTERED_SITE_REPEATED}:rep:ci-1"


def test_visits_beyond_the_radius_do_not_count() -> None:
    visits = [visit(1, 400, 20), visit(2, 50, 10), visit(3, 0)]
    assert repeated_site_alert(visits[-1], visits, LIMITS) is None


def test_the_window_and_what_counts_as_an_unregistered_site() -> None:
    assert site_window_start(visit(1, 0), LIMITS) == AT - timedelta(days=30)
    assert counts_toward_site(" NO_PHOTO UNREGISTERED_SITE ")
    assert not counts_toward_site(" UNREGISTERED_SITE_REPEATED ")
    assert not counts_toward_site(" ")


def test_policy_data_overrides_thresholds_cast_to_their_defaults_types() -> None:
    field = from_policy(FieldVisitThresholds, {"photo_missing_streak_days": "4"})
    assert field == FieldVisitThresholds(photo_missing_streak_days=4)
    calls = from_policy(CallThresholds, {"long_call_factor": 2, "unknown": 1})
    assert calls.long_call_factor == 2.0 and isinstance(calls.long_call_factor, float)
    assert calls.unregistered_number_repeats == 5
