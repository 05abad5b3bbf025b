"""How a check-in is judged (A3): the facts gathered about it in, reasons and a verdict out.

Pure functions, so every rule is tested on its own. The service
(:mod:`salesguard_attendance.visits`) gathers the facts (nearby customers, the previous
check-in, the photos and what earlier check-ins used, the devices seen, the day's plans)
and stores whatever comes out: a check-in is kept whatever its verdict. Here too: which
reasons become alerts (:func:`check_in_alerts`), ``SHORT_VISIT`` at check-out, and how
the reason codes are stored for filtering (:func:`codes_column`, :func:`reason_filter`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, SQLColumnExpression

from salesguard.alerts import AlertDraft
from salesguard.geo import haversine_m
from salesguard.vocabulary import CheckInReasonCode as Code


class Verdict(StrEnum):
    VERIFIED = "VERIFIED"
    SUSPICIOUS = "SUSPICIOUS"
    REJECTED = "REJECTED"


UNREGISTERED_SITE = Code.UNREGISTERED_SITE
UNLINKED_CUSTOMER_SITE = Code.UNLINKED_CUSTOMER_SITE
NEW_DEVICE = Code.NEW_DEVICE

# Reasons that make a check-in untrustworthy rather than merely doubtful. A reused
# photo rejects only when it is the same file: a perceptual match may be a retake
# from the same spot, which hashing cannot tell apart, so it is suspicious.
REJECTING = frozenset({Code.MOCK_LOCATION, Code.IMPOSSIBLE_TRAVEL, Code.LOCATION_MISMATCH})
# Reasons HR should see as alerts too (the rest stay on the check-in).
ALERTING = frozenset(
    {
        Code.MOCK_LOCATION,
        Code.IMPOSSIBLE_TRAVEL,
        Code.PHOTO_REUSED,
        Code.LOCATION_MISMATCH,
        UNLINKED_CUSTOMER_SITE,
        NEW_DEVICE,
    }
)


@dataclass(frozen=True)
class Reason:
    code: str
    message: str
    detail: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "detail": self.detail}


@dataclass(frozen=True)
class Thresholds:
    geofence_radius_m: float
    max_travel_speed_kmh: float
    exif_max_distance_m: float
    exif_max_minutes: float
    max_accuracy_m: float
    min_visit_minutes: float
    plan_tolerance_minutes: float
    photo_retake_minutes: float


@dataclass(frozen=True)
class NearbyCustomer:
    customer_id: str
    owner_id: str
    distance_m: float


@dataclass(frozen=True)
class EarlierPosition:
    check_in_id: str
    at: datetime
    lat: float
    lng: float


@dataclass(frozen=True)
class PhotoEvidence:
    key: str
    taken_at: datetime | None
    exif_location: tuple[float, float] | None


@dataclass(frozen=True)
class ReusedPhoto:
    key: str
    earlier_check_in_id: str
    earlier_employee_id: str
    earlier_key: str
    same_bytes: bool
    distance_bits: int
    # The earlier photo's check-in: its linked customer and time.
    earlier_customer_id: str | None = None
    earlier_at: datetime | None = None


@dataclass(frozen=True)
class PlanWindow:
    plan_id: str
    customer_id: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class CheckInFacts:
    employee_id: str
    at: datetime
    lat: float
    lng: float
    accuracy_m: float
    mock_location: bool
    device_id: str
    linked_customer_id: str | None
    # The linked customer's distance, when it has a registered location.
    linked_distance_m: float | None
    nearby: list[NearbyCustomer]
    previous: EarlierPosition | None
    photos: list[PhotoEvidence]
    reused: list[ReusedPhoto]
    device_is_new: bool
    # Plans of the employee for the check-in's day; the named plan, if any.
    day_plans: list[PlanWindow]
    named_plan: PlanWindow | None


def assess(facts: CheckInFacts, limits: Thresholds) -> list[Reason]:
    """Every A3 reason that applies, in a stable order."""
    reasons: list[Reason] = []
    reasons += _site(facts, limits)
    if not facts.photos:
        reasons.append(Reason(Code.NO_PHOTO, "The check-in has no photo."))
    reasons += _exif(facts, limits)
    reasons += [_reused(reuse, facts, limits) for reuse in facts.reused]
    travel = _travel(facts, limits)
    if travel is not None:
        reasons.append(travel)
    if facts.mock_location:
        reasons.append(
            Reason(Code.MOCK_LOCATION, "The device reported a mock (simulated) location.")
        )
    plan = _plan(facts, limits)
    if plan is not None:
        reasons.append(plan)
    if facts.accuracy_m > limits.max_accuracy_m:
        reasons.append(
            Reason(
                Code.LOW_ACCURACY,
                f"The position is accurate to {facts.accuracy_m:.0f} m only (limit {limits.max_accuracy_m:.0f} m).",
                {"accuracy_m": round(facts.accuracy_m, 1), "limit_m": limits.max_accuracy_m},
            )
        )
    if facts.device_is_new:
        reasons.append(
            Reason(
                NEW_DEVICE,
                "Checked in from a device never used before.",
                {"device_id": facts.device_id},
            )
        )
    return reasons


def verdict_of(reasons: list[Reason] | list[dict[str, Any]]) -> Verdict:
    found = [r.as_dict() if isinstance(r, Reason) else r for r in reasons]
    codes = {r["code"] for r in found}
    same_file = any(
        r["code"] == Code.PHOTO_REUSED and (r.get("detail") or {}).get("same_bytes") for r in found
    )
    if codes & REJECTING or same_file:
        return Verdict.REJECTED
    return Verdict.SUSPICIOUS if codes else Verdict.VERIFIED


def _site(facts: CheckInFacts, limits: Thresholds) -> list[Reason]:
    radius = limits.geofence_radius_m
    if facts.linked_customer_id is not None:
        if facts.linked_distance_m is None or facts.linked_distance_m <= radius:
            return []
        return [
            Reason(
                Code.LOCATION_MISMATCH,
                f"Checked in {facts.linked_distance_m:.0f} m from the linked customer "
                f"(geofence {radius:.0f} m).",
                {
                    "customer_id": facts.linked_customer_id,
                    "distance_m": round(facts.linked_distance_m, 1),
                    "radius_m": radius,
                },
            )
        ]
    within = [customer for customer in facts.nearby if customer.distance_m <= radius]
    if within:
        nearest = min(within, key=lambda customer: customer.distance_m)
        return [
            Reason(
                UNLINKED_CUSTOMER_SITE,
                f"Checked in {nearest.distance_m:.0f} m from a registered customer "
                "without linking the visit to it.",
                {
                    "customer_id": nearest.customer_id,
                    "owner_id": nearest.owner_id,
                    "distance_m": round(nearest.distance_m, 1),
                    "radius_m": radius,
                },
            )
        ]
    return [
        Reason(
            UNREGISTERED_SITE,
            f"No customer is linked and none is registered within {radius:.0f} m.",
            {"radius_m": radius},
        )
    ]


def _exif(facts: CheckInFacts, limits: Thresholds) -> list[Reason]:
    reasons = []
    for photo in facts.photos:
        detail: dict[str, Any] = {"key": photo.key}
        problems = []
        if photo.exif_location is not None:
            distance = haversine_m(facts.lat, facts.lng, *photo.exif_location)
            if distance > limits.exif_max_distance_m:
                detail["distance_m"] = round(distance, 1)
                detail["limit_m"] = limits.exif_max_distance_m
                problems.append(f"taken {distance:.0f} m away")
        if photo.taken_at is not None:
            minutes = abs((photo.taken_at - facts.at).total_seconds()) / 60
            if minutes > limits.exif_max_minutes:
                detail["minutes_apart"] = round(minutes, 1)
                detail["limit_minutes"] = limits.exif_max_minutes
                problems.append(f"taken {minutes:.0f} minutes apart")
        if problems:
            reasons.append(
                Reason(
                    Code.PHOTO_EXIF_MISMATCH,
                    f"Photo {photo.key.rsplit('/', 1)[-1]} was {' and '.join(problems)} from the check-in.",
                    detail,
                )
            )
    return reasons


def _reused(reuse: ReusedPhoto, facts: CheckInFacts, limits: Thresholds) -> Reason:
    retake = is_retake(reuse, facts, limits)
    if reuse.same_bytes:
        how = "the same file"
    elif retake:
        how = f"a retake ({reuse.distance_bits} bits apart)"
    else:
        how = f"a copy ({reuse.distance_bits} bits apart)"
    return Reason(
        Code.PHOTO_REUSED,
        f"A photo is {how} of a photo of an earlier check-in.",
        {
            "key": reuse.key,
            "earlier_check_in_id": reuse.earlier_check_in_id,
            "earlier_employee_id": reuse.earlier_employee_id,
            "earlier_key": reuse.earlier_key,
            "same_bytes": reuse.same_bytes,
            "distance_bits": reuse.distance_bits,
            "retake": retake,
        },
    )


def is_retake(reuse: ReusedPhoto, facts: CheckInFacts, limits: Thresholds) -> bool:
    """A look-alike (not the same file) of the employee's own photo of the same customer,
    taken at most ``photo_retake_minutes`` before: the visit checked in again with the
    photo shot anew from the same spot, which hashing cannot tell from a copy. The
    earliest matching photo is the one compared, so retakes cannot be chained into a
    visit that never ends."""
    if reuse.same_bytes or reuse.earlier_at is None or facts.linked_customer_id is None:
        return False
    minutes = (facts.at - reuse.earlier_at).total_seconds() / 60
    return (
        reuse.earlier_employee_id == facts.employee_id
        and reuse.earlier_customer_id == facts.linked_customer_id
        and 0 <= minutes <= limits.photo_retake_minutes
    )


def _travel(facts: CheckInFacts, limits: Thresholds) -> Reason | None:
    previous = facts.previous
    if previous is None:
        return None
    distance_m = haversine_m(previous.lat, previous.lng, facts.lat, facts.lng)
    hours = abs((facts.at - previous.at).total_seconds()) / 3600
    # Within a minute a GPS jump of a few hundred metres is noise, not travel.
    if distance_m < 1000 and hours < 1 / 60:
        return None
    speed = distance_m / 1000 / hours if hours > 0 else float("inf")
    if speed <= limits.max_travel_speed_kmh:
        return None
    return Reason(
        Code.IMPOSSIBLE_TRAVEL,
        f"{distance_m / 1000:.1f} km from the previous check-in in {hours * 60:.0f} minutes "
        f"({'instantly' if hours == 0 else f'{speed:.0f} km/h'}; limit {limits.max_travel_speed_kmh:.0f} km/h).",
        {
            "previous_check_in_id": previous.check_in_id,
            "distance_km": round(distance_m / 1000, 2),
            "minutes": round(hours * 60, 1),
            "speed_kmh": None if hours == 0 else round(speed, 1),
            "limit_kmh": limits.max_travel_speed_kmh,
        },
    )


def _plan(facts: CheckInFacts, limits: Thresholds) -> Reason | None:
    tolerance = timedelta(minutes=limits.plan_tolerance_minutes)
    candidates = [facts.named_plan] if facts.named_plan is not None else facts.day_plans
    if not candidates:
        return None  # plans are optional: a day without any is not "outside" one
    for plan in candidates:
        same_customer = facts.linked_customer_id in (None, plan.customer_id)
        if same_customer and plan.start - tolerance <= facts.at <= plan.end + tolerance:
            return None
    return Reason(
        Code.OUTSIDE_PLAN,
        "The check-in matches none of the day's visit plans.",
        {"plan_ids": [plan.plan_id for plan in candidates]},
    )


def short_visit(
    checked_in_at: datetime, checked_out_at: datetime, min_minutes: float
) -> Reason | None:
    minutes = (checked_out_at - checked_in_at).total_seconds() / 60
    if minutes >= min_minutes:
        return None
    return Reason(
        Code.SHORT_VISIT,
        f"Checked out {minutes:.0f} minutes after checking in (minimum {min_minutes:.0f}).",
        {"minutes": round(minutes, 1), "minimum_minutes": min_minutes},
    )


# -- how reasons are stored and alerted ------------------------------------------------------


def codes_column(reasons: list[Reason] | list[dict[str, Any]]) -> str:
    """Reason codes space-delimited with a space on both ends, for a portable LIKE filter."""
    codes = [r.code if isinstance(r, Reason) else r["code"] for r in reasons]
    return f" {' '.join(codes)} " if codes else " "


def has_reason(codes: str, code: str) -> bool:
    """Whether a :func:`codes_column` value holds ``code``."""
    return f" {code} " in codes


def reason_filter(codes: SQLColumnExpression[str], code: str) -> ColumnElement[bool]:
    """:func:`has_reason` as SQL over the column :func:`codes_column` fills."""
    return codes.like(f"% {code} %")


@dataclass(frozen=True)
class RecordedCheckIn:
    """A stored check-in, as its alerts name it."""

    id: str
    employee_id: str
    customer_id: str | None
    branch_id: str | None
    device_id: str
    at: datetime
    local_day: date
    recorded_at: datetime


def check_in_alerts(check_in: RecordedCheckIn, reasons: list[Reason]) -> list[AlertDraft]:
    """An alert for each :data:`ALERTING` reason. A site left unlinked alerts once per
    customer and day, a new device once per device; anything else once per check-in. A
    retaken photo (:func:`is_retake`) stays on the check-in only."""
    alerts = []
    for reason in reasons:
        if reason.code not in ALERTING or reason.detail.get("retake"):
            continue
        customer_id = reason.detail.get("customer_id") or check_in.customer_id
        if reason.code == UNLINKED_CUSTOMER_SITE:
            subject = f"{check_in.employee_id}:{customer_id}:{check_in.local_day.isoformat()}"
        elif reason.code == NEW_DEVICE:
            subject = f"{check_in.employee_id}:{check_in.device_id}"
        else:
            subject = check_in.id
        alerts.append(
            AlertDraft(
                kind=reason.code,
                dedupe_key=f"{reason.code}:{subject}",
                employee_id=check_in.employee_id,
                customer_id=customer_id,
                branch_id=check_in.branch_id,
                detected_at=check_in.recorded_at,
                evidence={
                    **reason.detail,
                    "check_in_id": check_in.id,
                    "at": check_in.at.isoformat(),
                },
            )
        )
    return alerts
