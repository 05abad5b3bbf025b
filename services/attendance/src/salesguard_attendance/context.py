"""What a check-in is judged by: its branch's time zone and thresholds (the service's
settings, with the branch's own geofence radius and minimum visit length when set)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from salesguard_attendance.models import Branch
from salesguard_attendance.settings import AttendanceSettings
from salesguard_attendance.verification import Thresholds


@dataclass(frozen=True)
class BranchContext:
    zone: ZoneInfo
    thresholds: Thresholds

    def local_day(self, at: datetime) -> date:
        return at.astimezone(self.zone).date()

    def day_bounds(self, day: date) -> tuple[datetime, datetime]:
        start = datetime.combine(day, time.min, tzinfo=self.zone)
        return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)


async def branch_context(
    session: AsyncSession, branch_id: str | None, settings: AttendanceSettings
) -> BranchContext:
    branch = await session.get(Branch, branch_id) if branch_id else None
    return BranchContext(
        zone=ZoneInfo(branch.time_zone if branch is not None else "UTC"),
        thresholds=Thresholds(
            geofence_radius_m=(
                branch.geofence_radius_m
                if branch and branch.geofence_radius_m
                else settings.geofence_radius_m
            ),
            max_travel_speed_kmh=settings.max_travel_speed_kmh,
            exif_max_distance_m=settings.exif_max_distance_m,
            exif_max_minutes=settings.exif_max_minutes,
            max_accuracy_m=settings.max_accuracy_m,
            min_visit_minutes=(
                branch.min_visit_minutes
                if branch is not None and branch.min_visit_minutes is not None
                else settings.min_visit_minutes
            ),
            plan_tolerance_minutes=settings.plan_tolerance_minutes,
            photo_retake_minutes=settings.photo_retake_minutes,
        ),
    )
