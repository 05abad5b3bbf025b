"""Settings of the attendance service (on top of the shared ones).

Verification thresholds are settings; the geofence radius and the minimum
visit length can be overridden per branch (``Branch.geofence_radius_m``,
``Branch.min_visit_minutes``). The detectors' alert thresholds are
policy data (``thresholds.field_visits``, ``thresholds.call_patterns``), which
the security team tunes like every other alert threshold.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from salesguard.settings import Settings


class AttendanceSettings(Settings):
    # Call logs index phone numbers the way customers does, to match them.
    secrets_used: ClassVar[frozenset[str]] = frozenset({"internal_secret", "blind_index_key"})
    # verification: a check-in farther than this from the linked customer is LOCATION_MISMATCH;
    # an unlinked one within it of a registered customer is UNLINKED_CUSTOMER_SITE.
    geofence_radius_m: float = Field(default=300.0, gt=0, le=5000)
    # verification: faster than this from the previous check-in is IMPOSSIBLE_TRAVEL.
    max_travel_speed_kmh: float = Field(default=200.0, gt=0)
    # verification: a photo's EXIF position or time this far from the check-in is PHOTO_EXIF_MISMATCH.
    exif_max_distance_m: float = Field(default=500.0, gt=0)
    exif_max_minutes: float = Field(default=30.0, gt=0)
    # verification: a reported accuracy worse than this is LOW_ACCURACY.
    max_accuracy_m: float = Field(default=100.0, gt=0)
    # verification: a check-out sooner than this after the check-in is SHORT_VISIT.
    min_visit_minutes: float = Field(default=5.0, ge=0)
    # verification: how far the plan's window may be missed before OUTSIDE_PLAN.
    plan_tolerance_minutes: float = Field(default=30.0, ge=0)
    # A check-in in the future beyond this is refused; one older than the backlog too.
    max_backlog_days: int = Field(default=7, ge=1)
    # photos: uploads.
    photo_max_bytes: int = Field(default=15 * 1024 * 1024, ge=1024)
    photo_upload_ttl_minutes: int = Field(default=15, ge=1, le=120)
    photo_url_ttl_seconds: int = Field(default=300, ge=10, le=3600)
    max_photos_per_check_in: int = Field(default=10, ge=1)
    # photos: pictures whose perceptual hashes differ in at most this many bits are the same
    # image. 7 catches re-encoded, resized and slightly cropped copies; unrelated photos
    # measured 15 bits apart at the closest. The band lookup supports up to 11.
    photo_match_max_distance: int = Field(default=7, ge=0, le=11)
    # A look-alike of one's own photo of the same customer taken this many minutes
    # before is a retake (the visit checked in again): PHOTO_REUSED stays on the
    # check-in, no alert is raised. A copied file, or an older photo, still alerts.
    photo_retake_minutes: float = Field(default=30.0, ge=0)
    max_call_logs_per_import: int = Field(default=5000, ge=1)
    # Telephony numbers without a country code are read as numbers of this region.
    default_phone_region: str = "CN"
