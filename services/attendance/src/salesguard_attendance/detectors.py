"""Pattern detectors (A5, A6): photo-less streaks, repeated unregistered sites, call patterns.

They run on write (after a check-in, after a call-log import) and as a
re-runnable batch over a time range. Every alert has a dedupe key derived from
the evidence itself (the first day of a streak, the first visit of a cluster,
the call), so the two paths and any number of re-runs raise each alert once.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from salesguard import geo
from salesguard.alerts import AlertDraft, raise_alert
from salesguard.customers.v1 import lookups_pb2, lookups_pb2_grpc
from salesguard.policy import PolicyClient
from salesguard.principal import Principal, acting_as
from salesguard.service import Runtime
from salesguard.timeutil import from_timestamp, to_timestamp
from salesguard_attendance import SERVICE_NAME
from salesguard_attendance.models import Alert, CallLog, CheckIn, Employee
from salesguard_attendance.settings import AttendanceSettings

REP_ROLES = frozenset({"SALES_JUNIOR", "SALES_SENIOR"})


@dataclass(frozen=True)
class FieldVisitThresholds:
    photo_missing_streak_days: int = 3
    unregistered_site_repeats: int = 3
    unregistered_site_window_days: int = 30
    unregistered_site_radius_m: float = 150.0


@dataclass(frozen=True)
class CallThresholds:
    unregistered_number_repeats: int = 5
    unregistered_number_window_days: int = 7
    long_call_factor: float = 3.0
    long_call_min_history: int = 5
    long_call_history_days: int = 90


_Thresholds = TypeVar("_Thresholds", FieldVisitThresholds, CallThresholds)


def _from_policy(kind: type[_Thresholds], values: Mapping[str, Any]) -> _Thresholds:
    """The policy data's values over the defaults, each cast to its default's type."""
    defaults = kind()
    return kind(
        **{
            name: type(getattr(defaults, name))(values.get(name, getattr(defaults, name)))
            for name in defaults.__dataclass_fields__
        }
    )


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


@dataclass(frozen=True)
class FollowUpMark:
    employee_id: str
    customer_id: str
    at: datetime


class Detectors:
    def __init__(self, runtime: Runtime[AttendanceSettings]) -> None:
        self.db = runtime.db
        self.policy: PolicyClient = runtime.policy
        self._lookups = lookups_pb2_grpc.CustomerLookupServiceStub(
            runtime.channels.channel("customers")
        )
        self._system = Principal.system(SERVICE_NAME)

    async def field_thresholds(self) -> FieldVisitThresholds:
        values = await self.policy.threshold("field_visits")
        return _from_policy(FieldVisitThresholds, values)

    async def call_thresholds(self) -> CallThresholds:
        values = await self.policy.threshold("call_patterns")
        return _from_policy(CallThresholds, values)

    async def _raise(self, session: AsyncSession, draft: AlertDraft) -> int:
        return int(await raise_alert(session, Alert, draft, source=SERVICE_NAME))

    # -- A5 on write and in batch ---------------------------------------------------

    async def after_check_in(
        self, session: AsyncSession, row: CheckIn, thresholds: FieldVisitThresholds
    ) -> int:
        raised = await self.check_photo_streak(
            session, row.employee_id, row.branch_id, row.local_day, thresholds
        )
        if " UNREGISTERED_SITE " in row.reason_codes:
            raised += await self.check_unregistered_site(session, row, thresholds)
        return raised

    async def check_photo_streak(
        self,
        session: AsyncSession,
        employee_id: str,
        branch_id: str | None,
        day: date,
        thresholds: FieldVisitThresholds,
    ) -> int:
        # Enough calendar days back to hold the streak and the weekends inside it.
        since = day - timedelta(days=thresholds.photo_missing_streak_days * 2 + 4)
        rows = (
            await session.execute(
                select(CheckIn.local_day, func.max(case((CheckIn.has_photo, 1), else_=0)))
                .where(
                    CheckIn.employee_id == employee_id,
                    CheckIn.local_day >= since,
                    CheckIn.local_day <= day,
                )
                .group_by(CheckIn.local_day)
            )
        ).all()
        streak = photo_missing_streak(day, {row[0]: bool(row[1]) for row in rows})
        if len(streak) < thresholds.photo_missing_streak_days:
            return 0
        first, last = streak[-1], streak[0]
        return await self._raise(
            session,
            AlertDraft(
                kind="PHOTO_MISSING_STREAK",
                # One alert per streak, however long it grows.
                dedupe_key=f"PHOTO_MISSING_STREAK:{employee_id}:{first.isoformat()}",
                employee_id=employee_id,
                branch_id=branch_id,
                evidence={
                    "days": len(streak),
                    "first_day": first.isoformat(),
                    "last_day": last.isoformat(),
                    "threshold_days": thresholds.photo_missing_streak_days,
                },
            ),
        )

    async def check_unregistered_site(
        self, session: AsyncSession, row: CheckIn, thresholds: FieldVisitThresholds
    ) -> int:
        radius = thresholds.unregistered_site_radius_m
        window_start = row.at - timedelta(days=thresholds.unregistered_site_window_days)
        ranges = geo.prefix_ranges(geo.covering_cells(row.lat, row.lng, radius))
        in_cells = or_(
            *(
                and_(CheckIn.geohash >= low, CheckIn.geohash < high)
                if high
                else CheckIn.geohash >= low
                for low, high in ranges
            )
        )
        candidates = (
            await session.scalars(
                select(CheckIn)
                .where(
                    CheckIn.employee_id == row.employee_id,
                    CheckIn.at >= window_start,
                    CheckIn.at <= row.at,
                    CheckIn.reason_codes.like("% UNREGISTERED_SITE %"),
                    in_cells,
                )
                .order_by(CheckIn.at, CheckIn.id)
            )
        ).all()
        visits = [
            c for c in candidates if geo.haversine_m(c.lat, c.lng, row.lat, row.lng) <= radius
        ]
        if len(visits) < thresholds.unregistered_site_repeats:
            return 0
        return await self._raise(
            session,
            AlertDraft(
                kind="UNREGISTERED_SITE_REPEATED",
                dedupe_key=f"UNREGISTERED_SITE_REPEATED:{row.employee_id}:{visits[0].id}",
                employee_id=row.employee_id,
                branch_id=row.branch_id,
                detected_at=row.recorded_at,
                evidence={
                    "visits": len(visits),
                    "window_days": thresholds.unregistered_site_window_days,
                    "check_in_ids": [visit.id for visit in visits],
                    "lat": round(row.lat, 6),
                    "lng": round(row.lng, 6),
                },
            ),
        )

    # -- A6 ------------------------------------------------------------------------------

    async def follow_up_marks(
        self, employee_ids: Iterable[str], start: datetime, end: datetime
    ) -> list[FollowUpMark]:
        ids = sorted(set(employee_ids))
        if not ids:
            return []
        with acting_as(self._system):
            response = await self._lookups.ListFollowUpMarks(
                lookups_pb2.ListFollowUpMarksRequest(
                    employee_ids=ids, to=to_timestamp(end), **{"from": to_timestamp(start)}
                )
            )
        return [
            FollowUpMark(mark.employee_id, mark.customer_id, from_timestamp(mark.at, "at") or start)
            for mark in response.marks
        ]

    async def check_call_patterns(
        self,
        session: AsyncSession,
        employee: Employee,
        calls: list[CallLog],
        marks: list[FollowUpMark],
        thresholds: CallThresholds,
    ) -> int:
        raised = 0
        raised += await self._calls_to_others_customers(session, employee, calls)
        raised += await self._repeated_unregistered_numbers(session, employee, calls, thresholds)
        raised += await self._long_calls_without_follow_up(
            session, employee, calls, marks, thresholds
        )
        return raised

    async def _raise_for_call(
        self, session: AsyncSession, call: CallLog, dedupe: str, evidence: dict[str, Any]
    ) -> int:
        """An ABNORMAL_CALL_PATTERN about one call (the call's employee, customer, branch)."""
        return await self._raise(
            session,
            AlertDraft(
                kind="ABNORMAL_CALL_PATTERN",
                dedupe_key=f"ABNORMAL_CALL_PATTERN:{dedupe}",
                employee_id=call.employee_id,
                customer_id=call.customer_id,
                branch_id=call.branch_id,
                detected_at=call.started_at,
                evidence={**evidence, "call_id": call.id},
            ),
        )

    async def _calls_to_others_customers(
        self, session: AsyncSession, employee: Employee, calls: list[CallLog]
    ) -> int:
        if not set(employee.roles) <= REP_ROLES:
            return 0  # managers and HR call customers of their people as part of the job
        raised = 0
        for call in calls:
            if (
                call.direction != "OUTGOING"
                or call.customer_id is None
                or call.customer_owner_id in (None, employee.id)
            ):
                continue
            raised += await self._raise_for_call(
                session,
                call,
                f"others:{employee.id}:{call.customer_id}:{call.started_at.date()}",
                {
                    "pattern": "OTHERS_CUSTOMER",
                    "owner_id": call.customer_owner_id,
                    "duration_seconds": call.duration_seconds,
                    "summary": f"Called a customer owned by {call.customer_owner_id}.",
                    "summary_zh": f"致电了 {call.customer_owner_id} 名下的客户。",
                },
            )
        return raised

    async def _repeated_unregistered_numbers(
        self,
        session: AsyncSession,
        employee: Employee,
        calls: list[CallLog],
        thresholds: CallThresholds,
    ) -> int:
        window = timedelta(days=thresholds.unregistered_number_window_days)
        # Each unregistered number's latest call here; its window ends there.
        latest: dict[str, datetime] = {}
        for call in calls:
            if call.customer_id is None:
                seen = latest.get(call.number_index)
                latest[call.number_index] = (
                    call.started_at if seen is None else max(seen, call.started_at)
                )
        if not latest:
            return 0
        # One read for every number, each number's own window applied below.
        rows = (
            await session.scalars(
                select(CallLog)
                .where(
                    CallLog.employee_id == employee.id,
                    CallLog.number_index.in_(sorted(latest)),
                    CallLog.started_at > min(latest.values()) - window,
                    CallLog.started_at <= max(latest.values()),
                )
                .order_by(CallLog.started_at, CallLog.id)
            )
        ).all()
        histories: dict[str, list[CallLog]] = defaultdict(list)
        for row in rows:
            end = latest[row.number_index]
            if end - window < row.started_at <= end:
                histories[row.number_index].append(row)
        raised = 0
        for number_index in sorted(latest):
            history = histories[number_index]
            if len(history) < thresholds.unregistered_number_repeats:
                continue
            raised += await self._raise(
                session,
                AlertDraft(
                    kind="ABNORMAL_CALL_PATTERN",
                    dedupe_key=f"ABNORMAL_CALL_PATTERN:unregistered:{employee.id}:{history[0].id}",
                    employee_id=employee.id,
                    branch_id=history[-1].branch_id,
                    detected_at=history[-1].started_at,
                    evidence={
                        "pattern": "UNREGISTERED_NUMBER",
                        "number": history[-1].number_masked,
                        "calls": len(history),
                        "window_days": thresholds.unregistered_number_window_days,
                        "summary": f"{len(history)} calls to the unregistered number {history[-1].number_masked} "
                        f"within {thresholds.unregistered_number_window_days} days.",
                        "summary_zh": f"{thresholds.unregistered_number_window_days} 天内 {len(history)} 次致电"
                        f"未登记号码 {history[-1].number_masked}。",
                    },
                ),
            )
        return raised

    async def _long_calls_without_follow_up(
        self,
        session: AsyncSession,
        employee: Employee,
        calls: list[CallLog],
        marks: list[FollowUpMark],
        thresholds: CallThresholds,
    ) -> int:
        own_calls = [
            c
            for c in calls
            if c.customer_id and c.customer_owner_id == employee.id and c.duration_seconds > 0
        ]
        if not own_calls:
            return 0
        earliest = min(call.started_at for call in own_calls)
        history = (
            await session.scalars(
                select(CallLog.duration_seconds).where(
                    CallLog.employee_id == employee.id,
                    CallLog.customer_id.is_not(None),
                    CallLog.duration_seconds > 0,
                    CallLog.started_at
                    >= earliest - timedelta(days=thresholds.long_call_history_days),
                    CallLog.started_at < earliest,
                )
            )
        ).all()
        if len(history) < thresholds.long_call_min_history:
            return 0  # no usual length to compare with yet
        usual = statistics.median(history)
        followed: dict[str, list[datetime]] = defaultdict(list)
        for mark in marks:
            if mark.employee_id == employee.id:
                followed[mark.customer_id].append(mark.at)
        raised = 0
        for call in own_calls:
            if call.duration_seconds <= thresholds.long_call_factor * usual:
                continue
            if any(
                abs(at - call.started_at) <= timedelta(days=1)
                for at in followed.get(call.customer_id or "", [])
            ):
                continue
            raised += await self._raise_for_call(
                session,
                call,
                f"long:{call.id}",
                {
                    "pattern": "LONG_CALL_WITHOUT_FOLLOW_UP",
                    "duration_seconds": call.duration_seconds,
                    "usual_seconds": round(usual),
                    "summary": f"A {call.duration_seconds // 60}-minute call, {call.duration_seconds / usual:.1f}× "
                    "the usual, with no follow-up recorded.",
                    "summary_zh": f"通话 {call.duration_seconds // 60} 分钟，为平时的 {call.duration_seconds / usual:.1f} 倍，且无跟进记录。",
                },
            )
        return raised

    # -- batch --------------------------------------------------------------------------

    async def run(self, start: datetime, end: datetime, employee_id: str | None) -> tuple[int, int]:
        """Re-run every detector over [start, end); returns (alerts raised, employees checked)."""
        field = await self.field_thresholds()
        call_thresholds = await self.call_thresholds()
        async with self.db.read() as session:
            check_in_filter = [CheckIn.at >= start, CheckIn.at < end]
            call_filter = [CallLog.started_at >= start, CallLog.started_at < end]
            if employee_id:
                check_in_filter.append(CheckIn.employee_id == employee_id)
                call_filter.append(CallLog.employee_id == employee_id)
            employees = set(
                (
                    await session.scalars(
                        select(CheckIn.employee_id).where(*check_in_filter).distinct()
                    )
                ).all()
            )
            employees |= set(
                (
                    await session.scalars(
                        select(CallLog.employee_id).where(*call_filter).distinct()
                    )
                ).all()
            )
            # Every employee's directory entry in one read, not one per employee.
            people = {
                person.id: person
                for person in (
                    await session.scalars(
                        select(Employee).where(Employee.id.in_(sorted(employees)))
                    )
                ).all()
            }
        marks = await self.follow_up_marks(
            employees, start - timedelta(days=1), end + timedelta(days=1)
        )
        raised = 0
        for employee_key in sorted(employees):
            async with self.db.transaction() as session:
                check_ins = (
                    await session.scalars(
                        select(CheckIn)
                        .where(CheckIn.employee_id == employee_key, *check_in_filter)
                        .order_by(CheckIn.at)
                    )
                ).all()
                for day, branch_id in sorted({(c.local_day, c.branch_id) for c in check_ins}):
                    raised += await self.check_photo_streak(
                        session, employee_key, branch_id, day, field
                    )
                for check_in in check_ins:
                    if " UNREGISTERED_SITE " in check_in.reason_codes:
                        raised += await self.check_unregistered_site(session, check_in, field)
                employee = people.get(employee_key)
                calls = list(
                    (
                        await session.scalars(
                            select(CallLog)
                            .where(CallLog.employee_id == employee_key, *call_filter)
                            .order_by(CallLog.started_at)
                        )
                    ).all()
                )
                if employee is not None and calls:
                    raised += await self.check_call_patterns(
                        session, employee, calls, marks, call_thresholds
                    )
        return raised, len(employees)
