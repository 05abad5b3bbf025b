"""Reads of the people directory: employees in the caller's scope, branches, teams, the
change watch, and principals for the gateway."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import func, or_, select

from salesguard import validation
from salesguard.db import Database
from salesguard.directory import CHANGES_CHANNEL, HEARTBEAT_SECONDS, changes_message
from salesguard.errors import InvalidInput, NotFound
from salesguard.feeds import ChangeFeed
from salesguard.listing import enum_filter, equal_to, scoped_page_size
from salesguard.pagination import count_if_asked, decode_cursor, keyset_page
from salesguard.policy import Decision, ScopeColumns, scope_filter
from salesguard.principal import Principal, current_principal
from salesguard.reads import distinct_ids, one_by_id, rows_by_id
from salesguard.service import Runtime
from salesguard.timeutil import to_timestamp
from salesguard_api.attendance.v1 import directory_pb2 as pb
from salesguard_attendance.models import Branch, Employee, Team
from salesguard_attendance.settings import AttendanceSettings

SCOPE = ScopeColumns(owner=Employee.id, team=Employee.team_id, branch=Employee.branch_id)
ROLES = validation.enum_names(pb.Role, "ROLE_")
STATUSES = validation.enum_names(pb.EmployeeStatus, "EMPLOYEE_STATUS_")
MAX_BATCH = 500


def directory_changes(db: Database) -> ChangeFeed:
    """The feed of the ``directory_changes`` rows the triggers of migration 0005 write."""
    return ChangeFeed(
        db,
        table="directory_changes",
        column="subject",
        channel=CHANGES_CHANNEL,
        what="directory changes",
    )


def branch_to_proto(row: Branch) -> pb.Branch:
    return pb.Branch(
        id=row.id,
        name=row.name,
        time_zone=row.time_zone,
        headquarters=row.headquarters,
        geofence_radius_m=row.geofence_radius_m or 0.0,
        min_visit_minutes=row.min_visit_minutes or 0.0,
    )


def team_to_proto(row: Team) -> pb.Team:
    return pb.Team(id=row.id, name=row.name, branch_id=row.branch_id)


def employee_to_proto(row: Employee) -> pb.Employee:
    return pb.Employee(
        id=row.id,
        name=row.name,
        email=row.email,
        roles=[pb.Role.Value(f"ROLE_{role}") for role in row.roles],
        team_id=row.team_id or "",
        branch_id=row.branch_id or "",
        manager_id=row.manager_id or "",
        status=pb.EmployeeStatus.Value(f"EMPLOYEE_STATUS_{row.status}"),
        hire_date=row.hire_date.isoformat() if row.hire_date else "",
        leave_date=row.leave_date.isoformat() if row.leave_date else "",
        updated_at=to_timestamp(row.updated_at),
    )


def _contains(text: str) -> str:
    """A LIKE pattern (escape ``\\``) for a case-folded substring."""
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


# The policy's refusal of an action asked about with no resource (authz.rego).
RESOURCE_REQUIRED = "RESOURCE_REQUIRED"
MAX_ACTION_CHARS = 100
MAX_ACTIONS = 50


class DirectoryReads:
    def __init__(self, runtime: Runtime[AttendanceSettings]) -> None:
        self.db = runtime.db
        self.policy = runtime.policy
        self.settings = runtime.settings
        self.changes = runtime.feed("directory", directory_changes)

    async def _read_decision(self) -> Decision:
        return (await self.policy.decide(current_principal(), "directory.read")).require(
            "directory.read"
        )

    async def permitted_actions(self, actions: list[str]) -> list[str]:
        """Those of ``actions`` the policy grants the caller somewhere: decided with no
        resource, so an action that needs one counts when that is the only refusal (an
        unknown action is refused, UNKNOWN_ACTION, and left out)."""
        principal = current_principal()
        asked = list(dict.fromkeys(actions))  # each once, in the order asked
        if any(len(action) > MAX_ACTION_CHARS for action in asked):
            raise InvalidInput("actions", "an action name is at most 100 characters")
        # The decisions are independent: asked at once, the answer waits for the slowest.
        decisions = await asyncio.gather(
            *(self.policy.decide(principal, action) for action in asked)
        )
        # RESOURCE_REQUIRED alone: a role of theirs is permitted and has a scope, and the
        # policy refused only for want of the object each call names.
        return [
            action
            for action, decision in zip(asked, decisions, strict=True)
            if decision.allow or decision.reasons == (RESOURCE_REQUIRED,)
        ]

    async def get_employee(self, employee_id: str) -> pb.Employee:
        decision = await self._read_decision()
        async with self.db.read() as session:
            row = await one_by_id(
                session, Employee, employee_id, scope_filter(decision, SCOPE), noun="employee"
            )
        return employee_to_proto(row)

    async def batch_get_employees(self, ids: list[str]) -> list[pb.Employee]:
        wanted = distinct_ids(ids, limit=MAX_BATCH)
        decision = await self._read_decision()
        async with self.db.read() as session:
            rows = await rows_by_id(session, Employee, wanted, scope_filter(decision, SCOPE))
        return [employee_to_proto(row) for row in rows]

    async def list_employees(self, request: pb.ListEmployeesRequest) -> pb.ListEmployeesResponse:
        decision, size = await scoped_page_size(
            self.policy, "directory.read", request.page, self.settings.page_limits
        )
        employee_filter = request.filter
        conditions: list[Any] = [scope_filter(decision, SCOPE)]
        query_text = validation.text(
            "filter.text", employee_filter.text, max_length=validation.NAME_LENGTH
        )
        if query_text:
            pattern = _contains(query_text)
            conditions.append(
                or_(
                    func.lower(Employee.name).like(pattern, escape="\\"),
                    func.lower(Employee.id).like(pattern, escape="\\"),
                )
            )
        conditions += equal_to(
            (Employee.branch_id, employee_filter.branch_id),
            (Employee.team_id, employee_filter.team_id),
        )
        conditions += enum_filter(
            Employee.status, "filter.statuses", employee_filter.statuses, STATUSES
        )
        query = select(Employee).where(*conditions)
        if request.page.page_token:
            (after_id,) = decode_cursor(request.page.page_token, 1)
            query = query.where(Employee.id > str(after_id))
        wanted_roles = {
            validation.enum_value("filter.roles", r, ROLES) for r in employee_filter.roles
        }
        total: int | None
        async with self.db.read() as session:
            if wanted_roles:
                # Roles are a small JSON list per employee: filter in Python over the scoped rows.
                rows = [
                    row
                    for row in (await session.scalars(query.order_by(Employee.id))).all()
                    if wanted_roles & set(row.roles)
                ]
                total = len(rows)
                rows = rows[: size + 1]
            else:
                rows = list(
                    (await session.scalars(query.order_by(Employee.id).limit(size + 1))).all()
                )
                total = await count_if_asked(
                    request.page,
                    session,
                    select(func.count()).select_from(Employee).where(*conditions),
                )
        page = keyset_page(rows, size, lambda row: (row.id,))
        return pb.ListEmployeesResponse(
            employees=[employee_to_proto(row) for row in page.rows],
            cursors=page.cursors,
            page_info=page.page_info(total),
        )

    async def list_branches(self) -> list[pb.Branch]:
        await self._read_decision()
        async with self.db.read() as session:
            return [
                branch_to_proto(row)
                for row in (await session.scalars(select(Branch).order_by(Branch.id))).all()
            ]

    async def list_teams(self, branch_id: str) -> list[pb.Team]:
        await self._read_decision()
        query = select(Team).order_by(Team.id)
        if branch_id:
            query = query.where(Team.branch_id == branch_id)
        async with self.db.read() as session:
            return [team_to_proto(row) for row in (await session.scalars(query)).all()]

    async def watch_changes(self) -> AsyncIterator[pb.WatchDirectoryChangesResponse]:
        """Every change of an employee or a branch committed from now on (SYSTEM callers:
        gateways and services that cache principals or employees). The first message says
        the watch is live; a quiet watch gets a heartbeat every HEARTBEAT_SECONDS."""
        (await self.policy.decide(current_principal(), "directory.resolve")).require(
            "directory.resolve"
        )
        async with self.changes.watch() as watcher:
            yield pb.WatchDirectoryChangesResponse(
                watching=True, heartbeat_seconds=HEARTBEAT_SECONDS
            )
            while True:
                # Nothing within a heartbeat: an empty message, the heartbeat.
                yield changes_message(await watcher.next_batch(quiet_seconds=HEARTBEAT_SECONDS))

    async def resolve_principal(self, employee_id: str) -> pb.ResolvePrincipalResponse:
        """Roles, team and branch for a token's subject (the gateway, acting as SYSTEM)."""
        (await self.policy.decide(current_principal(), "directory.resolve")).require(
            "directory.resolve"
        )
        async with self.db.read() as session:
            row = (
                await session.execute(
                    select(Employee, Branch.headquarters)
                    .outerjoin(Branch, Branch.id == Employee.branch_id)
                    .where(Employee.id == employee_id)
                )
            ).first()
        if row is None:
            raise NotFound(f"employee {employee_id} not found")
        employee, headquarters = row
        principal = Principal(
            id=employee.id,
            roles=tuple(employee.roles),
            team_id=employee.team_id,
            branch_id=employee.branch_id,
            hq=bool(headquarters),
        )
        # Their own record, under the rule GetEmployee applies when they ask for it, so the
        # gateway answers `me` without asking again (this answer is cached with the principal
        # and dropped with it when the row changes).
        readable = await self.policy.decide(principal, "directory.read")
        own = readable.allow and (
            readable.covering_grant(employee.id, employee.team_id, employee.branch_id) is not None
        )
        return pb.ResolvePrincipalResponse(
            principal=principal.to_proto(),
            status=pb.EmployeeStatus.Value(f"EMPLOYEE_STATUS_{employee.status}"),
            name=employee.name,
            employee=employee_to_proto(employee) if own else None,
        )
