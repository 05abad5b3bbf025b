"""The people directory (A1): branches, teams, employees, and principals for the gateway."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from salesguard import validation
from salesguard.attendance.v1 import directory_pb2 as pb
from salesguard.commissions.v1 import commissions_pb2, commissions_pb2_grpc
from salesguard.customers.v1 import (
    customers_pb2,
    customers_pb2_grpc,
    handover_pb2,
    handover_pb2_grpc,
)
from salesguard.db import Database, lock_keys, utcnow
from salesguard.directory import CHANGES_CHANNEL, HEARTBEAT_SECONDS, changes_message, not_active
from salesguard.errors import Forbidden, InvalidInput, NotFound
from salesguard.feeds import ChangeFeed
from salesguard.pagination import count_if_asked, decode_cursor, keyset_page
from salesguard.policy import ScopeColumns, scope_filter
from salesguard.principal import Principal, acting_as, current_principal
from salesguard.service import Runtime
from salesguard.timeutil import to_timestamp
from salesguard_attendance.models import Branch, Employee, Team
from salesguard_attendance.settings import AttendanceSettings

SCOPE = ScopeColumns(owner=Employee.id, team=Employee.team_id, branch=Employee.branch_id)
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

ROLES = validation.enum_names(pb.Role, "ROLE_")
STATUSES = validation.enum_names(pb.EmployeeStatus, "EMPLOYEE_STATUS_")
LEFT = "LEFT"
# The reason on the audit entries of the customers moved and on the frozen commission lines.
DEPARTURE = "departure"


def check_id(field: str, value: str) -> str:
    if not _ID.match(value):
        raise InvalidInput(field, f"{field} must be 1–64 letters, digits, '.', '_' or '-'")
    return value


def _date(field: str, value: str) -> date | None:
    return validation.civil_date(field, value) if value else None


def _optional_positive(field: str, value: float, maximum: float) -> float | None:
    """A per-branch override; 0 means "use the service default"."""
    if value == 0:
        return None
    if not 0 < value <= maximum:  # NaN fails too
        raise InvalidInput(field, f"{field} must be between 0 and {maximum}")
    return value


def directory_changes(db: Database) -> ChangeFeed:
    """The feed of the ``directory_changes`` rows the triggers of migration 0005 write."""
    return ChangeFeed(
        db,
        table="directory_changes",
        column="subject",
        channel=CHANGES_CHANNEL,
        what="directory changes",
    )


async def require_active(
    session: AsyncSession, employee_id: str, *, field: str | None = None
) -> Employee:
    """The employee, if active, read in the writing transaction: SPEC §2, nothing new is
    owned by an employee who is not active. On PostgreSQL the row is share-locked, so a
    change of the employee in flight (``upsert_employee`` holds it for update) is waited
    for, not missed. Refused as in :func:`salesguard.directory.not_active`."""
    row = await session.get(Employee, employee_id, with_for_update={"read": True})
    if row is None or row.status != "ACTIVE":
        raise not_active(employee_id, field)
    return row


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


def _handover_request(
    employee_id: str, status: str, request: pb.UpsertEmployeeRequest
) -> handover_pb2.HandOverCustomersRequest | None:
    """Where a leaving employee's customers go, as the customers service's request."""
    destination = request.WhichOneof("handover")
    if destination is None or (destination == "to_pool" and not request.to_pool):
        return None
    if status != LEFT:
        raise InvalidInput(destination, f"{destination} only applies when the status is LEFT")
    if destination == "to_pool":
        return handover_pb2.HandOverCustomersRequest(employee_id=employee_id, to_pool=True)
    # The customers service checks the successor against the directory (active, same branch).
    successor_id = check_id("successor_id", request.successor_id)
    return handover_pb2.HandOverCustomersRequest(employee_id=employee_id, successor_id=successor_id)


class Directory:
    def __init__(self, runtime: Runtime[AttendanceSettings]) -> None:
        self.db = runtime.db
        self.policy = runtime.policy
        self.settings = runtime.settings
        self._customers = customers_pb2_grpc.CustomersServiceStub(
            runtime.channels.channel("customers")
        )
        self._handover = handover_pb2_grpc.HandoverServiceStub(
            runtime.channels.channel("customers")
        )
        self._commissions = commissions_pb2_grpc.CommissionsServiceStub(
            runtime.channels.channel("commissions")
        )
        self._caller = Principal.system(runtime.name)
        self.changes = runtime.feed("directory", directory_changes)

    async def ensure_bootstrap_admin(self) -> None:
        """An empty directory gets the bootstrap admin, to create everyone else through the API."""
        async with self.db.transaction() as session:
            if await session.scalar(select(func.count()).select_from(Employee)):
                return
            session.add(
                Employee(
                    id=self.settings.bootstrap_admin,
                    name="Bootstrap administrator",
                    roles=["ADMIN"],
                    status="ACTIVE",
                    updated_at=utcnow(),
                )
            )

    # -- writes ---------------------------------------------------------------

    async def upsert_branch(self, branch: pb.Branch) -> pb.Branch:
        principal = current_principal()
        (await self.policy.decide(principal, "directory.branches.write")).require(
            "directory.branches.write"
        )
        branch_id = check_id("branch.id", branch.id)
        name = validation.text("branch.name", branch.name, required=True, max_length=200)
        time_zone = validation.text(
            "branch.time_zone", branch.time_zone, required=True, max_length=64
        )
        try:
            ZoneInfo(time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidInput(
                "branch.time_zone", f"{time_zone!r} is not an IANA time zone"
            ) from None
        if time_zone not in available_timezones():
            raise InvalidInput("branch.time_zone", f"{time_zone!r} is not an IANA time zone")
        radius = _optional_positive("branch.geofence_radius_m", branch.geofence_radius_m, 5000)
        min_visit = _optional_positive("branch.min_visit_minutes", branch.min_visit_minutes, 600)
        async with self.db.transaction() as session:
            # Upserts of one new ID one at a time: the second updates what the first inserted.
            await lock_keys(session, f"branch:{branch_id}")
            row = await session.get(Branch, branch_id) or Branch(id=branch_id)
            row.name, row.time_zone, row.headquarters = name, time_zone, branch.headquarters
            row.geofence_radius_m, row.min_visit_minutes = radius, min_visit
            row.updated_at = utcnow()
            session.add(row)
        # Principals carry their branch's headquarters flag.
        await self.changes.sync()
        return branch_to_proto(row)

    async def upsert_team(self, team: pb.Team) -> pb.Team:
        principal = current_principal()
        (
            await self.policy.decide(
                principal, "directory.teams.write", {"branch_id": team.branch_id or None}
            )
        ).require("directory.teams.write")
        team_id = check_id("team.id", team.id)
        branch_id = check_id("team.branch_id", team.branch_id)
        name = validation.text("team.name", team.name, required=True, max_length=200)
        async with self.db.transaction() as session:
            if await session.get(Branch, branch_id) is None:
                raise InvalidInput("team.branch_id", f"branch {branch_id} does not exist")
            await lock_keys(session, f"team:{team_id}")
            row = await session.get(Team, team_id) or Team(id=team_id)
            row.name, row.branch_id, row.updated_at = name, branch_id, utcnow()
            session.add(row)
        return team_to_proto(row)

    async def upsert_employee(self, request: pb.UpsertEmployeeRequest) -> pb.Employee:
        """Create or change an employee; one who leaves hands their customers over (C6).

        Status LEFT needs a destination for the employee's customers (``successor_id`` or
        ``to_pool``) unless the stored status is LEFT already. The order makes a failure
        safe to retry and never leaves a departed employee owning customers:

        1. the employee row is locked and changed, not committed;
        2. customers moves all their customers (one call, its own transaction, audited
           with the reason "departure" and the caller as actor);
        3. commissions freezes their open lines to PENDING_REVIEW (one call);
        4. the status LEFT commits;
        5. customers moves again what became theirs while 2–4 ran (customers checks the
           owner's status under a lock that the handover takes too, so after 4 nothing
           new becomes theirs and 5 finds whatever did before).

        If 2 or 3 fails, the directory rolls back: the employee is not LEFT, and whatever
        moved or froze stays so. Repeating the request completes what is missing: both
        calls act only on what is still the employee's (customers still owned, lines not
        yet frozen), so a retry moves, audits and freezes nothing twice. A request for an
        employee who already left that names a destination repeats 2 and 3 the same way;
        if 5 fails, the employee is LEFT and the request's error says so: repeating it
        completes the handover.
        """
        principal = current_principal()
        employee = request.employee
        # Authorised before the input is judged (issue 11 item 12).
        if employee.id == principal.id:
            # Nobody raises their own privileges or reactivates themselves.
            raise Forbidden("nobody changes their own directory entry; ask HR or an administrator")
        if pb.ROLE_ADMIN in employee.roles and not principal.has_role("ADMIN"):
            raise Forbidden("only an administrator grants the ADMIN role")
        (
            await self.policy.decide(
                principal, "directory.employees.write", {"branch_id": employee.branch_id or None}
            )
        ).require("directory.employees.write")
        employee_id = check_id("employee.id", employee.id)
        name = validation.text("employee.name", employee.name, required=True, max_length=200)
        email = validation.text("employee.email", employee.email, max_length=254).lower()
        roles = sorted(
            {validation.enum_value("employee.roles", role, ROLES) for role in employee.roles}
        )
        if not roles:
            raise InvalidInput("employee.roles", "an employee needs at least one role")
        status = validation.enum_value(
            "employee.status", employee.status or pb.EMPLOYEE_STATUS_ACTIVE, STATUSES
        )
        branch_id = (
            check_id("employee.branch_id", employee.branch_id) if employee.branch_id else None
        )
        team_id = check_id("employee.team_id", employee.team_id) if employee.team_id else None
        manager_id = (
            check_id("employee.manager_id", employee.manager_id) if employee.manager_id else None
        )
        hire_date = _date("employee.hire_date", employee.hire_date)
        leave_date = _date("employee.leave_date", employee.leave_date)
        if hire_date and leave_date and leave_date < hire_date:
            raise InvalidInput("employee.leave_date", "leave_date is before hire_date")
        handover = _handover_request(employee_id, status, request)
        async with self.db.transaction() as session:
            await self._check_affiliation(session, branch_id, team_id, manager_id, employee_id)
            # FOR UPDATE locks nothing while the row does not exist yet.
            await lock_keys(session, f"employee:{employee_id}")
            row = await session.get(Employee, employee_id, with_for_update=True)
            if status == LEFT and handover is None and (row is None or row.status != LEFT):
                raise InvalidInput(
                    "successor_id",
                    "an employee who leaves hands their customers over: "
                    "name a successor (successor_id) or the branch pool (to_pool)",
                )
            moved = row is not None and (row.team_id, row.branch_id) != (team_id, branch_id)
            row = row or Employee(id=employee_id)
            row.name, row.email, row.roles, row.status = name, email, roles, status
            row.team_id, row.branch_id, row.manager_id = team_id, branch_id, manager_id
            row.hire_date, row.leave_date, row.updated_at = hire_date, leave_date, utcnow()
            session.add(row)
            await session.flush()
            if moved:
                # Customers carry their owner's team and branch for scope filters: move them
                # before committing, so a failure leaves both sides as they were.
                with acting_as(self._caller):
                    await self._customers.SyncOwner(
                        customers_pb2.SyncOwnerRequest(
                            employee_id=employee_id,
                            team_id=team_id or "",
                            branch_id=branch_id or "",
                        )
                    )
            if handover is not None:
                # As the person who sets LEFT: they are the actor on the audit trail.
                await self._handover.HandOverCustomers(handover)
                await self._commissions.FreezeEmployeeLines(
                    commissions_pb2.FreezeEmployeeLinesRequest(
                        employee_id=employee_id, reason=DEPARTURE
                    )
                )
        if handover is not None:
            # 5. Once more, now that LEFT is committed: a customer registered, claimed or
            # reassigned to the employee while step 2 ran had seen them still ACTIVE.
            await self._handover.HandOverCustomers(handover)
        # Committed: answer once this process's watchers (gateways, services) have been sent
        # the change, so the employee's next request meets it on every replica watching here.
        await self.changes.sync()
        return employee_to_proto(row)

    async def _check_affiliation(
        self,
        session: AsyncSession,
        branch_id: str | None,
        team_id: str | None,
        manager_id: str | None,
        employee_id: str,
    ) -> None:
        if branch_id is not None and await session.get(Branch, branch_id) is None:
            raise InvalidInput("employee.branch_id", f"branch {branch_id} does not exist")
        if team_id is not None:
            team = await session.get(Team, team_id)
            if team is None:
                raise InvalidInput("employee.team_id", f"team {team_id} does not exist")
            if team.branch_id != branch_id:
                raise InvalidInput(
                    "employee.team_id", f"team {team_id} belongs to branch {team.branch_id}"
                )
        if manager_id is not None:
            if manager_id == employee_id:
                raise InvalidInput("employee.manager_id", "an employee is not their own manager")
            if await session.get(Employee, manager_id) is None:
                raise InvalidInput("employee.manager_id", f"employee {manager_id} does not exist")

    # -- reads ------------------------------------------------------------------

    async def _read_decision(self) -> Any:
        return (await self.policy.decide(current_principal(), "directory.read")).require(
            "directory.read"
        )

    async def get_employee(self, employee_id: str) -> pb.Employee:
        decision = await self._read_decision()
        async with self.db.read() as session:
            row = await session.scalar(
                select(Employee).where(Employee.id == employee_id, scope_filter(decision, SCOPE))
            )
        if row is None:
            raise NotFound(f"employee {employee_id} not found")
        return employee_to_proto(row)

    async def batch_get_employees(self, ids: list[str]) -> list[pb.Employee]:
        wanted = list(dict.fromkeys(ids))
        if len(wanted) > 500:
            raise InvalidInput("ids", "at most 500 IDs per call")
        decision = await self._read_decision()
        async with self.db.read() as session:
            rows = (
                await session.scalars(
                    select(Employee).where(Employee.id.in_(wanted), scope_filter(decision, SCOPE))
                )
            ).all()
        by_id = {row.id: row for row in rows}
        return [employee_to_proto(by_id[i]) for i in wanted if i in by_id]

    async def list_employees(self, request: pb.ListEmployeesRequest) -> pb.ListEmployeesResponse:
        requested = validation.page_size(
            "page.page_size", request.page.page_size, self.settings.page_limits
        )
        decision = await self._read_decision()
        size = decision.page_size(requested)
        employee_filter = request.filter
        conditions: list[Any] = [scope_filter(decision, SCOPE)]
        query_text = validation.text("filter.text", employee_filter.text, max_length=200)
        if query_text:
            pattern = (
                "%"
                + query_text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                + "%"
            )
            conditions.append(
                or_(
                    func.lower(Employee.name).like(pattern, escape="\\"),
                    func.lower(Employee.id).like(pattern, escape="\\"),
                )
            )
        if employee_filter.branch_id:
            conditions.append(Employee.branch_id == employee_filter.branch_id)
        if employee_filter.team_id:
            conditions.append(Employee.team_id == employee_filter.team_id)
        if employee_filter.statuses:
            conditions.append(
                Employee.status.in_(
                    [
                        validation.enum_value("filter.statuses", s, STATUSES)
                        for s in employee_filter.statuses
                    ]
                )
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
                    .outerjoin(Branch, and_(Branch.id == Employee.branch_id))
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
        return pb.ResolvePrincipalResponse(
            principal=principal.to_proto(),
            status=pb.EmployeeStatus.Value(f"EMPLOYEE_STATUS_{employee.status}"),
            name=employee.name,
        )
