"""The people directory, written: branches, teams, employees, and a leaver's handover.

The rules an entry must meet are :mod:`salesguard_attendance.rules.people`'s; the reads
are :mod:`salesguard_attendance.directory_reads`'s.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from salesguard import validation
from salesguard.db import lock_keys, utcnow
from salesguard.directory import not_active
from salesguard.errors import Forbidden, InvalidInput
from salesguard.principal import Principal, acting_as, current_principal
from salesguard.service import Runtime
from salesguard_api.attendance.v1 import directory_pb2 as pb
from salesguard_api.commissions.v1 import commissions_pb2, commissions_pb2_grpc
from salesguard_api.customers.v1 import (
    customers_pb2,
    customers_pb2_grpc,
    handover_pb2,
    handover_pb2_grpc,
)
from salesguard_attendance.directory_reads import (
    ROLES,
    STATUSES,
    branch_to_proto,
    directory_changes,
    employee_to_proto,
    team_to_proto,
)
from salesguard_attendance.models import Branch, Employee, Team
from salesguard_attendance.rules import people
from salesguard_attendance.rules.people import check_id, optional_id
from salesguard_attendance.settings import AttendanceSettings

# The reason on the audit entries of the customers moved and on the frozen commission lines.
DEPARTURE = "departure"


def _date(field: str, value: str) -> date | None:
    return validation.civil_date(field, value) if value else None


async def require_active(
    session: AsyncSession, employee_id: str, *, field: str | None = None
) -> Employee:
    """The employee, if active, read in the writing transaction: SPEC §2, nothing new is
    owned by an employee who is not active. On PostgreSQL the row is share-locked, so a
    change of the employee in flight (``upsert_employee`` holds it for update) is waited
    for, not missed. Refused as in :func:`salesguard.directory.not_active`."""
    row = await session.get(Employee, employee_id, with_for_update={"read": True})
    if row is None or not people.is_active(row.status):
        raise not_active(employee_id, field)
    return row


def _handover_request(
    employee_id: str, status: str, request: pb.UpsertEmployeeRequest
) -> handover_pb2.HandOverCustomersRequest | None:
    """Where a leaving employee's customers go, as the customers service's request."""
    destination = people.handover_destination(
        status, request.WhichOneof("handover"), request.to_pool
    )
    if destination is None:
        return None
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
                    status=people.ACTIVE,
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
        name = validation.text(
            "branch.name", branch.name, required=True, max_length=validation.NAME_LENGTH
        )
        time_zone = people.check_time_zone(
            "branch.time_zone",
            validation.text("branch.time_zone", branch.time_zone, required=True, max_length=64),
        )
        radius = people.optional_override(
            "branch.geofence_radius_m", branch.geofence_radius_m, people.MAX_GEOFENCE_RADIUS_M
        )
        min_visit = people.optional_override(
            "branch.min_visit_minutes", branch.min_visit_minutes, people.MAX_MIN_VISIT_MINUTES
        )
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
        name = validation.text(
            "team.name", team.name, required=True, max_length=validation.NAME_LENGTH
        )
        async with self.db.transaction() as session:
            if await session.get(Branch, branch_id) is None:
                raise InvalidInput("team.branch_id", f"branch {branch_id} does not exist")
            await lock_keys(session, f"team:{team_id}")
            row = await session.get(Team, team_id) or Team(id=team_id)
            row.name, row.branch_id, row.updated_at = name, branch_id, utcnow()
            session.add(row)
        return team_to_proto(row)

    async def upsert_employee(self, request: pb.UpsertEmployeeRequest) -> pb.Employee:
        """Create or change an employee; one who leaves hands their customers over.

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
        refusal = people.edit_refusal(
            principal.id,
            principal.has_role(people.ADMIN),
            employee.id,
            pb.ROLE_ADMIN in employee.roles,
        )
        if refusal is not None:
            raise Forbidden(refusal)
        (
            await self.policy.decide(
                principal, "directory.employees.write", {"branch_id": employee.branch_id or None}
            )
        ).require("directory.employees.write")
        employee_id = check_id("employee.id", employee.id)
        name = validation.text(
            "employee.name", employee.name, required=True, max_length=validation.NAME_LENGTH
        )
        email = validation.text(
            "employee.email", employee.email, max_length=validation.EMAIL_LENGTH
        ).lower()
        roles = sorted(
            {validation.enum_value("employee.roles", role, ROLES) for role in employee.roles}
        )
        if not roles:
            raise InvalidInput("employee.roles", "an employee needs at least one role")
        status = validation.enum_value(
            "employee.status", employee.status or pb.EMPLOYEE_STATUS_ACTIVE, STATUSES
        )
        branch_id = optional_id("employee.branch_id", employee.branch_id)
        team_id = optional_id("employee.team_id", employee.team_id)
        manager_id = optional_id("employee.manager_id", employee.manager_id)
        hire_date = _date("employee.hire_date", employee.hire_date)
        leave_date = _date("employee.leave_date", employee.leave_date)
        people.check_dates(hire_date, leave_date)
        handover = _handover_request(employee_id, status, request)
        async with self.db.transaction() as session:
            await self._check_affiliation(session, branch_id, team_id, manager_id, employee_id)
            # FOR UPDATE locks nothing while the row does not exist yet.
            await lock_keys(session, f"employee:{employee_id}")
            row = await session.get(Employee, employee_id, with_for_update=True)
            if people.needs_destination(
                status, handover is not None, row.status if row is not None else None
            ):
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
        branch = await session.get(Branch, branch_id) if branch_id is not None else None
        team = await session.get(Team, team_id) if team_id is not None else None
        manager = await session.get(Employee, manager_id) if manager_id is not None else None
        problem = people.affiliation_problem(
            people.Affiliation(
                employee_id=employee_id,
                branch_id=branch_id,
                branch_exists=branch is not None,
                team_id=team_id,
                team_branch_id=team.branch_id if team is not None else None,
                team_exists=team is not None,
                manager_id=manager_id,
                manager_exists=manager is not None,
            )
        )
        if problem is not None:
            raise problem
