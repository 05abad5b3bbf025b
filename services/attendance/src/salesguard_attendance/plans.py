"""Visit plans, made and listed; the rules a plan meets are
:mod:`salesguard_attendance.rules.plans`'s."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from salesguard import validation
from salesguard.db import new_id, utcnow
from salesguard.directory import not_active
from salesguard.errors import InvalidInput
from salesguard.idempotency import IdempotentWrites
from salesguard.listing import equal_to, scoped_page_size
from salesguard.policy import ScopeColumns, scope_filter
from salesguard.principal import current_principal
from salesguard.reads import Listing
from salesguard.service import Runtime
from salesguard.timeutil import from_timestamp, to_timestamp
from salesguard_api.attendance.v1 import visits_pb2 as pb
from salesguard_attendance.context import BranchContext
from salesguard_attendance.customer_lookups import CustomerLookups
from salesguard_attendance.directory import require_active
from salesguard_attendance.models import Employee, IdempotencyKey, VisitPlan
from salesguard_attendance.rules import people
from salesguard_attendance.rules import plans as rules
from salesguard_attendance.settings import AttendanceSettings
from salesguard_attendance.verification import PlanWindow

PLAN_SCOPE = ScopeColumns(
    owner=VisitPlan.employee_id, team=VisitPlan.team_id, branch=VisitPlan.branch_id
)
# Plans by window, soonest first.
PLAN_LISTING = Listing(VisitPlan, VisitPlan.window_start, VisitPlan.id, newest_first=False)


def plan_to_proto(row: VisitPlan) -> pb.VisitPlan:
    return pb.VisitPlan(
        id=row.id,
        employee_id=row.employee_id,
        customer_id=row.customer_id,
        window_start=to_timestamp(row.window_start),
        window_end=to_timestamp(row.window_end),
        note=row.note,
        created_at=to_timestamp(row.created_at),
    )


def plan_window(row: VisitPlan) -> PlanWindow:
    return PlanWindow(row.id, row.customer_id, row.window_start, row.window_end)


async def day_plans(
    session: AsyncSession, employee_id: str, context: BranchContext, day: date
) -> list[PlanWindow]:
    """The employee's plans a check-in of ``day`` is judged against."""
    start, end = context.day_bounds(day)
    rows = (
        await session.scalars(
            select(VisitPlan).where(
                VisitPlan.employee_id == employee_id,
                rules.overlaps_day(VisitPlan.window_start, VisitPlan.window_end, start, end),
            )
        )
    ).all()
    return [plan_window(row) for row in rows]


async def covering_plan(
    session: AsyncSession,
    employee_id: str,
    customer_id: str,
    at: datetime,
    tolerance: timedelta,
) -> str | None:
    """The plan that lets ``employee_id`` link a check-in at ``at`` to ``customer_id``,
    which they may not read (:func:`~salesguard_attendance.rules.plans.covering`): made
    for them by another employee still active, for that customer, around that time."""
    plan_id: str | None = await session.scalar(
        select(VisitPlan.id)
        .join(Employee, Employee.id == VisitPlan.created_by)
        .where(
            VisitPlan.employee_id == employee_id,
            VisitPlan.customer_id == customer_id,
            Employee.status == people.ACTIVE,
            *rules.covering(
                VisitPlan.window_start,
                VisitPlan.window_end,
                VisitPlan.created_by,
                employee_id,
                at,
                tolerance,
            ),
        )
        .order_by(VisitPlan.window_start, VisitPlan.id)
        .limit(1)
    )
    return plan_id


async def named_plan(
    session: AsyncSession, employee_id: str, plan_id: str | None
) -> PlanWindow | None:
    """The plan a check-in names, refused unless it is the employee's own."""
    if plan_id is None:
        return None
    plan = await session.get(VisitPlan, plan_id)
    if plan is None or not rules.is_own_plan(plan.employee_id, employee_id):
        raise InvalidInput("visit_plan_id", f"visit plan {plan_id} is not one of yours")
    return plan_window(plan)


class VisitPlans:
    def __init__(self, runtime: Runtime[AttendanceSettings], lookups: CustomerLookups) -> None:
        self.db = runtime.db
        self.idempotent = IdempotentWrites(self.db, IdempotencyKey)
        self.policy = runtime.policy
        self.settings = runtime.settings
        self.lookups = lookups

    async def plan_visit(self, request: pb.PlanVisitRequest) -> pb.VisitPlan:
        principal = current_principal()
        employee_id = validation.directory_id("employee_id", request.employee_id) or principal.id
        # Planning one's own visits: FORBIDDEN once not active; someone else's: VALIDATION.
        named = None if employee_id == principal.id else "employee_id"
        async with self.db.read() as session:
            employee = await session.get(Employee, employee_id)
        # Authorised first: whether someone outside the caller's scope exists or is
        # active is not the caller's to learn (an unknown ID is in nobody's scope).
        resource = {
            "employee_id": employee_id,
            "team_id": employee.team_id if employee is not None else None,
            "branch_id": employee.branch_id if employee is not None else None,
        }
        (await self.policy.decide(principal, "visits.plan", resource)).require("visits.plan")
        if employee is None or not people.is_active(employee.status):
            raise not_active(employee_id, named)
        window_start, window_end = rules.check_window(
            from_timestamp(request.window_start, "window_start"),
            from_timestamp(request.window_end, "window_end"),
        )
        customer_id = validation.record_id("customer_id", request.customer_id, required=True)
        note = validation.text("note", request.note, max_length=validation.MAX_NOTE)
        await self.lookups.require_readable(customer_id)

        async def insert(session: AsyncSession) -> pb.PlanVisitResponse:
            # Still active as the plan is written (the check above chose the policy's resource).
            await require_active(session, employee.id, field=named)
            row = VisitPlan(
                id=new_id(),
                employee_id=employee.id,
                team_id=employee.team_id,
                branch_id=employee.branch_id,
                customer_id=customer_id,
                window_start=window_start,
                window_end=window_end,
                note=note,
                created_by=principal.id,
                created_at=utcnow(),
            )
            session.add(row)
            await session.flush()
            return pb.PlanVisitResponse(visit_plan=plan_to_proto(row))

        response = await self.idempotent.run(principal.id, request, pb.PlanVisitResponse, insert)
        return response.visit_plan

    async def list_visit_plans(
        self, request: pb.ListVisitPlansRequest
    ) -> pb.ListVisitPlansResponse:
        decision, size = await scoped_page_size(
            self.policy, "visits.read", request.page, self.settings.page_limits
        )
        conditions: list[Any] = [
            scope_filter(decision, PLAN_SCOPE),
            *equal_to((VisitPlan.employee_id, request.employee_id)),
        ]
        conditions += rules.overlapping(
            VisitPlan.window_start,
            VisitPlan.window_end,
            from_timestamp(getattr(request, "from"), "from"),
            from_timestamp(request.to, "to"),
        )
        page, total = await PLAN_LISTING.read_in(self.db, conditions, request.page, size)
        return pb.ListVisitPlansResponse(
            visit_plans=[plan_to_proto(row) for row in page.rows],
            cursors=page.cursors,
            page_info=page.page_info(total),
        )
