"""The pattern detectors, run: photo-less streaks and repeated unregistered sites
(:mod:`.rules.streaks`), call patterns (:mod:`.rules.calls`).

They run on write (after a check-in, after a call-log import) and as a re-runnable
batch over a time range. This module reads the facts each rule needs and raises the
alerts the rules return; every alert has a dedupe key derived from its evidence, so
the two paths and any number of re-runs raise each alert once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from salesguard import geo
from salesguard.alerts import AlertDraft, raise_alert
from salesguard.db import utcnow
from salesguard.policy import PolicyClient
from salesguard.service import Runtime
from salesguard_attendance import SERVICE_NAME
from salesguard_attendance.customer_lookups import CustomerLookups
from salesguard_attendance.facts import facts_of
from salesguard_attendance.models import Alert, CallLog, CheckIn, Employee
from salesguard_attendance.rules import calls as call_rules
from salesguard_attendance.rules import streaks
from salesguard_attendance.rules.calls import Call, CallThresholds, FollowUpMark
from salesguard_attendance.rules.streaks import FieldVisitThresholds, SiteVisit
from salesguard_attendance.rules.thresholds import from_policy
from salesguard_attendance.settings import AttendanceSettings


async def raise_all(session: AsyncSession, drafts: Iterable[AlertDraft | None]) -> int:
    """Raise each alert a rule returned; how many were new."""
    raised = 0
    for draft in drafts:
        if draft is not None:
            raised += int(await raise_alert(session, Alert, draft, source=SERVICE_NAME))
    return raised


class Detectors:
    def __init__(self, runtime: Runtime[AttendanceSettings], lookups: CustomerLookups) -> None:
        self.db = runtime.db
        self.policy: PolicyClient = runtime.policy
        self.lookups = lookups

    async def field_thresholds(self) -> FieldVisitThresholds:
        return from_policy(FieldVisitThresholds, await self.policy.threshold("field_visits"))

    async def call_thresholds(self) -> CallThresholds:
        return from_policy(CallThresholds, await self.policy.threshold("call_patterns"))

    # -- check-ins, on write and in batch ------------------------------------------------

    async def after_check_in(
        self, session: AsyncSession, row: CheckIn, thresholds: FieldVisitThresholds
    ) -> int:
        return await self.check_check_ins(session, row.employee_id, [row], thresholds)

    async def check_check_ins(
        self,
        session: AsyncSession,
        employee_id: str,
        check_ins: Sequence[CheckIn],
        thresholds: FieldVisitThresholds,
    ) -> int:
        """The streaks of the days of ``check_ins`` and the sites they visited."""
        raised = 0
        for day, branch_id in sorted({(c.local_day, c.branch_id) for c in check_ins}):
            raised += await self.check_photo_streak(
                session, employee_id, branch_id, day, thresholds
            )
        for check_in in check_ins:
            if streaks.counts_toward_site(check_in.reason_codes):
                raised += await self.check_unregistered_site(session, check_in, thresholds)
        return raised

    async def check_photo_streak(
        self,
        session: AsyncSession,
        employee_id: str,
        branch_id: str | None,
        day: date,
        thresholds: FieldVisitThresholds,
    ) -> int:
        rows = (
            await session.execute(
                select(CheckIn.local_day, func.max(case((CheckIn.has_photo, 1), else_=0)))
                .where(
                    CheckIn.employee_id == employee_id,
                    CheckIn.local_day >= streaks.streak_lookback(day, thresholds),
                    CheckIn.local_day <= day,
                )
                .group_by(CheckIn.local_day)
            )
        ).all()
        days_with_photos = {row[0]: bool(row[1]) for row in rows}
        return await raise_all(
            session,
            [
                streaks.photo_streak_alert(
                    employee_id, branch_id, day, days_with_photos, thresholds, utcnow()
                )
            ],
        )

    async def check_unregistered_site(
        self, session: AsyncSession, row: CheckIn, thresholds: FieldVisitThresholds
    ) -> int:
        visit = facts_of(SiteVisit, row)
        ranges = geo.prefix_ranges(
            geo.covering_cells(row.lat, row.lng, thresholds.unregistered_site_radius_m)
        )
        in_cells = or_(
            *(
                and_(CheckIn.geohash >= low, CheckIn.geohash < high)
                if high
                else CheckIn.geohash >= low
                for low, high in ranges
            )
        )
        earlier = (
            await session.scalars(
                select(CheckIn)
                .where(
                    CheckIn.employee_id == row.employee_id,
                    CheckIn.at >= streaks.site_window_start(visit, thresholds),
                    CheckIn.at <= row.at,
                    streaks.site_visit_filter(CheckIn.reason_codes),
                    in_cells,
                )
                .order_by(CheckIn.at, CheckIn.id)
            )
        ).all()
        return await raise_all(
            session,
            [
                streaks.repeated_site_alert(
                    visit, [facts_of(SiteVisit, other) for other in earlier], thresholds
                )
            ],
        )

    # -- calls ----------------------------------------------------------------------------------

    async def check_call_patterns(
        self,
        session: AsyncSession,
        employee: Employee,
        rows: Sequence[CallLog],
        marks: list[FollowUpMark],
        thresholds: CallThresholds,
    ) -> int:
        calls = [facts_of(Call, row) for row in rows]
        raised = await raise_all(
            session, call_rules.calls_to_others_customers(employee.id, employee.roles, calls)
        )
        raised += await self._repeated_unregistered_numbers(session, employee, calls, thresholds)
        raised += await self._long_calls_without_follow_up(
            session, employee, calls, marks, thresholds
        )
        return raised

    async def _repeated_unregistered_numbers(
        self,
        session: AsyncSession,
        employee: Employee,
        calls: list[Call],
        thresholds: CallThresholds,
    ) -> int:
        latest = call_rules.unregistered_numbers(calls)
        if not latest:
            return 0
        history = (
            await session.scalars(
                select(CallLog)
                .where(
                    CallLog.employee_id == employee.id,
                    CallLog.number_index.in_(sorted(latest)),
                    call_rules.unregistered_history_filter(CallLog.started_at, latest, thresholds),
                )
                .order_by(CallLog.started_at, CallLog.id)
            )
        ).all()
        return await raise_all(
            session,
            call_rules.repeated_unregistered_numbers(
                employee.id, latest, [facts_of(Call, row) for row in history], thresholds
            ),
        )

    async def _long_calls_without_follow_up(
        self,
        session: AsyncSession,
        employee: Employee,
        calls: list[Call],
        marks: list[FollowUpMark],
        thresholds: CallThresholds,
    ) -> int:
        own_calls = call_rules.own_customer_calls(employee.id, calls)
        if not own_calls:
            return 0
        history = (
            await session.scalars(
                select(CallLog.duration_seconds).where(
                    CallLog.employee_id == employee.id,
                    call_rules.long_call_history_filter(
                        CallLog.customer_id,
                        CallLog.duration_seconds,
                        CallLog.started_at,
                        own_calls,
                        thresholds,
                    ),
                )
            )
        ).all()
        return await raise_all(
            session,
            call_rules.long_calls_without_follow_up(
                employee.id, own_calls, history, marks, thresholds
            ),
        )

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
        marks = await self.lookups.follow_up_marks(
            employees, start - call_rules.FOLLOW_UP_WINDOW, end + call_rules.FOLLOW_UP_WINDOW
        )
        check_ins_in_range = select(CheckIn).where(*check_in_filter).order_by(CheckIn.at)
        calls_in_range = select(CallLog).where(*call_filter).order_by(CallLog.started_at)
        raised = 0
        for employee_key in sorted(employees):
            async with self.db.transaction() as session:
                check_ins = (
                    await session.scalars(
                        check_ins_in_range.where(CheckIn.employee_id == employee_key)
                    )
                ).all()
                raised += await self.check_check_ins(session, employee_key, check_ins, field)
                employee = people.get(employee_key)
                calls = (
                    await session.scalars(calls_in_range.where(CallLog.employee_id == employee_key))
                ).all()
                if employee is not None and calls:
                    raised += await self.check_call_patterns(
                        session, employee, calls, marks, call_thresholds
                    )
        return raised, len(employees)
