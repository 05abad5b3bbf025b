"""The A3 rules one by one, and the A5 streak over working days."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from salesguard_attendance.rules.streaks import photo_missing_streak
from salesguard_attendance.verification import (
    CheckInFacts,
    EarlierPosition,
    NearbyCustomer,
    PhotoEvidence,
    PlanWindow,
    RecordedCheckIn,
    ReusedPhoto,
    Thresholds,
    Verdict,
    assess,
    check_in_alerts,
    short_visit,
    verdict_of,
)

AT = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
LIMITS = Thresholds(
    geofence_radius_m=300,
    max_travel_speed_kmh=200,
    exif_max_distance_m=500,
    exif_max_minutes=30,
    max_accuracy_m=100,
    min_visit_minutes=5,
    plan_tolerance_minutes=30,
    photo_retake_minutes=30,
)
BASE = CheckInFacts(
    employee_id="e-1",
    at=AT,
    lat=31.24,
    lng=121.49,
    accuracy_m=10,
    mock_location=False,
    device_id="phone",
    linked_customer_id="c-1",
    linked_distance_m=20,
    nearby=[],
    previous=None,
    photos=[PhotoEvidence("photos/e/1.jpg", AT, (31.24, 121.49))],
    reused=[],
    device_is_new=False,
    day_plans=[],
    named_plan=None,
)


def codes(facts: CheckInFacts) -> list[str]:
    return [reason.code for reason in assess(facts, LIMITS)]


def test_a_clean_visit_is_verified() -> None:
    assert codes(BASE) == []
    assert verdict_of(assess(BASE, LIMITS)) is Verdict.VERIFIED


def test_unlinked_visit_near_a_customer_and_one_near_none() -> None:
    near = replace(
        BASE,
        linked_customer_id=None,
        linked_distance_m=None,
        nearby=[NearbyCustomer("c-9", "e-2", 120)],
    )
    [reason] = assess(near, LIMITS)
    assert (reason.code, reason.detail["customer_id"], reason.detail["distance_m"]) == (
        "UNLINKED_CUSTOMER_SITE",
        "c-9",
        120,
    )
    alone = replace(near, nearby=[])
    assert codes(alone) == ["UNREGISTERED_SITE"]
    assert verdict_of(assess(alone, LIMITS)) is Verdict.SUSPICIOUS


def test_mismatch_mock_location_and_travel_reject() -> None:
    assert codes(replace(BASE, linked_distance_m=300.0)) == []
    assert codes(replace(BASE, linked_distance_m=300.5)) == ["LOCATION_MISMATCH"]
    mocked = replace(BASE, mock_location=True)
    assert verdict_of(assess(mocked, LIMITS)) is Verdict.REJECTED
    flown = replace(BASE, previous=EarlierPosition("ci-0", AT - timedelta(minutes=30), 39.9, 116.4))
    [travel] = assess(flown, LIMITS)
    assert travel.code == "IMPOSSIBLE_TRAVEL"
    assert travel.detail["speed_kmh"] > 2000


def test_gps_jitter_within_a_minute_is_not_travel() -> None:
    jitter = replace(
        BASE, previous=EarlierPosition("ci-0", AT - timedelta(seconds=20), 31.2430, 121.49)
    )
    assert codes(jitter) == []


def test_photo_exif_time_and_place_and_missing_photos() -> None:
    late = replace(BASE, photos=[PhotoEvidence("k", AT - timedelta(hours=2), None)])
    assert codes(late) == ["PHOTO_EXIF_MISMATCH"]
    assert codes(replace(BASE, photos=[])) == ["NO_PHOTO"]
    # Without EXIF there is nothing to contradict.
    assert codes(replace(BASE, photos=[PhotoEvidence("k", None, None)])) == []


def test_a_reused_file_rejects_a_look_alike_is_suspicious() -> None:
    same = ReusedPhoto("k", "ci-1", "e-1", "k0", same_bytes=True, distance_bits=0)
    alike = replace(same, same_bytes=False, distance_bits=4)
    assert verdict_of(assess(replace(BASE, reused=[same]), LIMITS)) is Verdict.REJECTED
    assert verdict_of(assess(replace(BASE, reused=[alike]), LIMITS)) is Verdict.SUSPICIOUS


def test_a_retake_of_ones_own_photo_minutes_ago_stays_on_the_check_in() -> None:
    """The visit checked in again with the photo shot anew from the same spot: PHOTO_REUSED
    (the spec's reason) on a suspicious check-in, but no alert. A copied file, another's
    photo, another customer's, or one older than the retake window still alerts."""
    retake = ReusedPhoto(
        "k",
        "ci-1",
        "e-1",
        "k0",
        same_bytes=False,
        distance_bits=3,
        earlier_customer_id="c-1",
        earlier_at=AT - timedelta(minutes=8),
    )
    check_in = RecordedCheckIn("ci-2", "e-1", "c-1", "b-1", "phone", AT, AT.date(), AT)

    def alerted(reuse: ReusedPhoto) -> list[str]:
        reasons = assess(replace(BASE, reused=[reuse]), LIMITS)
        assert [r.code for r in reasons] == ["PHOTO_REUSED"]
        return [draft.kind for draft in check_in_alerts(check_in, reasons)]

    reasons = assess(replace(BASE, reused=[retake]), LIMITS)
    assert verdict_of(reasons) is Verdict.SUSPICIOUS
    assert reasons[0].detail["retake"] is True
    assert "a retake (3 bits apart)" in reasons[0].message
    assert alerted(retake) == []
    for copy in (
        replace(retake, same_bytes=True, distance_bits=0),
        replace(retake, earlier_employee_id="e-2"),
        replace(retake, earlier_customer_id="c-2"),
        replace(retake, earlier_at=AT - timedelta(minutes=31)),
        replace(retake, earlier_at=AT + timedelta(minutes=1)),
        replace(retake, earlier_at=None),
    ):
        assert alerted(copy) == ["PHOTO_REUSED"], copy
    unlinked = assess(replace(BASE, linked_customer_id=None, reused=[retake]), LIMITS)
    assert [r.detail.get("retake") for r in unlinked if r.code == "PHOTO_REUSED"] == [False]


def test_plans_accuracy_devices_and_short_visits() -> None:
    plan = PlanWindow("p-1", "c-1", AT - timedelta(hours=1), AT - timedelta(minutes=20))
    assert codes(replace(BASE, day_plans=[plan])) == []  # within the 30-minute tolerance
    missed = replace(plan, end=AT - timedelta(minutes=31))
    assert codes(replace(BASE, day_plans=[missed])) == ["OUTSIDE_PLAN"]
    assert codes(replace(BASE, accuracy_m=150)) == ["LOW_ACCURACY"]
    assert codes(replace(BASE, device_is_new=True)) == ["NEW_DEVICE"]
    short = short_visit(AT, AT + timedelta(minutes=2), 5)
    assert short is not None
    assert (short.code, short.detail) == ("SHORT_VISIT", {"minutes": 2.0, "minimum_minutes": 5})
    assert verdict_of([short]) is Verdict.SUSPICIOUS
    assert short_visit(AT, AT + timedelta(minutes=5), 5) is None


def test_photo_missing_streak_counts_working_days_only() -> None:
    thursday, friday, monday = date(2026, 11, 19), date(2026, 11, 20), date(2026, 11, 23)
    days = {thursday: False, friday: False, date(2026, 11, 21): True, monday: False}
    # The weekend (a Saturday visit with a photo included) neither counts nor breaks it.
    assert photo_missing_streak(monday, days) == [monday, friday, thursday]
    # A working day without field check-ins breaks it.
    assert photo_missing_streak(monday, {thursday: False, monday: False}) == [monday]
    # A day with a photo breaks it.
    assert photo_missing_streak(monday, {**days, friday: True}) == [monday]
