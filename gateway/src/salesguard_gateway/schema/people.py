"""The people directory (attendance ``DirectoryService``): employees, branches, teams."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Annotated

import strawberry

from salesguard.errors import InvalidInput
from salesguard_api.attendance.v1 import directory_pb2
from salesguard_gateway.context import Info
from salesguard_gateway.schema.common import (
    Connection,
    civil_date,
    described,
    enum_numbers,
    from_civil_date,
    optional,
    page_of,
    page_request,
)
from salesguard_gateway.schema.enums import EmployeeStatus, Role, employee_status_of, role_of
from salesguard_gateway.schema.links import Link

if TYPE_CHECKING:
    from salesguard_gateway.schema.customers import Customer
    from salesguard_gateway.schema.orders import Order
    from salesguard_gateway.schema.visits import CheckIn


@strawberry.type
class Branch:
    id: strawberry.ID
    name: str
    time_zone: str = strawberry.field(description="IANA time zone, e.g. Asia/Shanghai.")
    headquarters: bool
    geofence_radius_m: float | None = strawberry.field(
        description=(
            "How far (metres) a check-in may be from its customer (A3); "
            "null: the attendance service's setting (300 m unless configured)."
        )
    )
    min_visit_minutes: float | None = strawberry.field(
        description=(
            "A check-out sooner than this after the check-in is SHORT_VISIT; "
            "null: the attendance service's setting (5 minutes unless configured)."
        )
    )


def branch_from_proto(message: directory_pb2.Branch) -> Branch:
    return Branch(
        id=strawberry.ID(message.id),
        name=message.name,
        time_zone=message.time_zone,
        headquarters=message.headquarters,
        geofence_radius_m=message.geofence_radius_m or None,
        min_visit_minutes=message.min_visit_minutes or None,
    )


BRANCH = Link(Branch, lambda info: info.context.loaders.branch, branch_from_proto)
load_branch = BRANCH.load


@strawberry.type
class Team:
    id: strawberry.ID
    name: str
    branch_id: strawberry.Private[str]

    branch = BRANCH.field("branch_id")


def team_from_proto(message: directory_pb2.Team) -> Team:
    return Team(id=strawberry.ID(message.id), name=message.name, branch_id=message.branch_id)


TEAM = Link(Team, lambda info: info.context.loaders.team, team_from_proto)
load_team = TEAM.load


@strawberry.type
class Employee:
    id: strawberry.ID
    name: str
    roles: list[Role]
    status: EmployeeStatus | None
    hire_date: date | None
    leave_date: date | None
    email: str | None
    team_id: strawberry.Private[str]
    branch_id: strawberry.Private[str]
    manager_id: strawberry.Private[str]

    team = TEAM.field("team_id")
    branch = BRANCH.field("branch_id")

    @strawberry.field
    async def manager(self, info: Info) -> Employee | None:
        return await load_employee(info, self.manager_id)

    @described("Customers this employee owns, as far as the caller may see.")
    async def customers(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
    ) -> (
        Connection[Annotated[Customer, strawberry.lazy("salesguard_gateway.schema.customers")]]
        | None
    ):
        from salesguard_gateway.schema.customers import list_customers

        return await list_customers(info, first, after, owner_id=str(self.id))

    @described("This employee's check-ins, newest first, as far as the caller may see.")
    async def check_ins(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Annotated[CheckIn, strawberry.lazy("salesguard_gateway.schema.visits")]] | None:
        from salesguard_gateway.schema.visits import list_check_ins

        return await list_check_ins(info, first, after, employee_id=str(self.id))

    @described("Orders this employee submitted, newest first, as far as the caller may see.")
    async def orders(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Annotated[Order, strawberry.lazy("salesguard_gateway.schema.orders")]] | None:
        from salesguard_gateway.schema.orders import list_orders

        return await list_orders(info, first, after, submitted_by=str(self.id))


def employee_from_proto(message: directory_pb2.Employee) -> Employee:
    return Employee(
        id=strawberry.ID(message.id),
        name=message.name,
        roles=[role for number in message.roles if (role := role_of(number)) is not None],
        status=employee_status_of(message.status),
        hire_date=from_civil_date(message.hire_date),
        leave_date=from_civil_date(message.leave_date),
        email=optional(message.email),
        team_id=message.team_id,
        branch_id=message.branch_id,
        manager_id=message.manager_id,
    )


EMPLOYEE = Link(Employee, lambda info: info.context.loaders.employees.load, employee_from_proto)
load_employee = EMPLOYEE.load


@strawberry.input
class EmployeeFilter:
    text: str | None = None
    branch_id: strawberry.ID | None = None
    team_id: strawberry.ID | None = None
    roles: list[Role] | None = None
    statuses: list[EmployeeStatus] | None = None

    def to_proto(self) -> directory_pb2.EmployeeFilter:
        return directory_pb2.EmployeeFilter(
            text=self.text or "",
            branch_id=self.branch_id or "",
            team_id=self.team_id or "",
            roles=enum_numbers(self.roles),
            statuses=enum_numbers(self.statuses),
        )


@strawberry.input
class UpsertBranchInput:
    id: strawberry.ID | None = strawberry.field(
        default=None, description="Omit to create a branch."
    )
    name: str
    time_zone: str
    headquarters: bool = False
    geofence_radius_m: float | None = strawberry.field(
        default=None, description="Metres, up to 5000; omit or null for the service default."
    )
    min_visit_minutes: float | None = strawberry.field(
        default=None, description="Up to 600; omit or null for the service default."
    )


@strawberry.type
class UpsertBranchPayload:
    branch: Branch


@strawberry.input
class UpsertTeamInput:
    id: strawberry.ID | None = strawberry.field(default=None, description="Omit to create a team.")
    name: str
    branch_id: strawberry.ID


@strawberry.type
class UpsertTeamPayload:
    team: Team


@strawberry.input
class UpsertEmployeeInput:
    id: strawberry.ID = strawberry.field(
        description="The employee ID (the HR system's), also the `sub` of their tokens."
    )
    name: str
    roles: list[Role]
    team_id: strawberry.ID | None = None
    branch_id: strawberry.ID
    manager_id: strawberry.ID | None = None
    status: EmployeeStatus = EmployeeStatus.ACTIVE
    hire_date: date | None = None
    leave_date: date | None = None
    email: str | None = None
    successor_id: strawberry.ID | None = strawberry.field(
        default=None,
        description=(
            "With status LEFT (C6): the active employee of the same branch who takes every "
            "customer of the leaving employee. LEFT needs this or `toPool`."
        ),
    )
    to_pool: bool | None = strawberry.field(
        default=None,
        description=(
            "With status LEFT (C6): every customer of the leaving employee returns to the "
            "branch's customer pool. Either this or `successorId`."
        ),
    )

    def to_request(self) -> directory_pb2.UpsertEmployeeRequest:
        """The directory request; where a leaving employee's customers go rides along."""
        request = directory_pb2.UpsertEmployeeRequest(employee=self.to_proto())
        if self.successor_id and self.to_pool:
            raise InvalidInput("successor_id", "name a successor or the pool, not both")
        if self.successor_id:
            request.successor_id = self.successor_id
        elif self.to_pool:
            request.to_pool = True
        return request

    def to_proto(self) -> directory_pb2.Employee:
        return directory_pb2.Employee(
            id=self.id,
            name=self.name,
            roles=enum_numbers(self.roles),
            team_id=self.team_id or "",
            branch_id=self.branch_id,
            manager_id=self.manager_id or "",
            status=self.status.value,
            hire_date=civil_date(self.hire_date),
            leave_date=civil_date(self.leave_date),
            email=self.email or "",
        )


@strawberry.type
class UpsertEmployeePayload:
    employee: Employee


EmployeeConnection = Connection[Employee]


@strawberry.type
class PeopleQuery:
    @described("The caller: the employee the bearer token names.")
    async def me(self, info: Info) -> Employee | None:
        caller = info.context.caller
        employee = await load_employee(info, caller.principal.id)
        if employee is not None:
            return employee
        # The bootstrap admin acts before any employee record exists.
        principal = caller.principal
        return Employee(
            id=strawberry.ID(principal.id),
            name=caller.name or principal.id,
            roles=[Role[role] for role in principal.roles if role in Role.__members__],
            status=employee_status_of(caller.status),
            hire_date=None,
            leave_date=None,
            email=None,
            team_id=principal.team_id or "",
            branch_id=principal.branch_id or "",
            manager_id="",
        )

    @strawberry.field
    async def employee(self, info: Info, id: strawberry.ID) -> Employee | None:
        response = await info.context.clients.directory.GetEmployee(
            directory_pb2.GetEmployeeRequest(id=id)
        )
        return employee_from_proto(response.employee)

    @strawberry.field
    async def employees(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        filter: EmployeeFilter | None = None,
    ) -> EmployeeConnection | None:
        request = directory_pb2.ListEmployeesRequest(
            filter=filter.to_proto() if filter is not None else None,
            page=page_request(first, after, info),
        )
        response = await info.context.clients.directory.ListEmployees(request)
        return page_of(response, response.employees, employee_from_proto)

    @strawberry.field
    async def branches(self, info: Info) -> list[Branch] | None:
        response = await info.context.clients.directory.ListBranches(
            directory_pb2.ListBranchesRequest()
        )
        return [branch_from_proto(message) for message in response.branches]

    @strawberry.field
    async def teams(self, info: Info, branch_id: strawberry.ID | None = None) -> list[Team] | None:
        response = await info.context.clients.directory.ListTeams(
            directory_pb2.ListTeamsRequest(branch_id=branch_id or "")
        )
        return [team_from_proto(message) for message in response.teams]


@strawberry.type
class PeopleMutation:
    @strawberry.mutation
    async def upsert_branch(
        self, info: Info, input: UpsertBranchInput
    ) -> UpsertBranchPayload | None:
        branch = directory_pb2.Branch(
            id=input.id or "",
            name=input.name,
            time_zone=input.time_zone,
            headquarters=input.headquarters,
            geofence_radius_m=input.geofence_radius_m or 0.0,
            min_visit_minutes=input.min_visit_minutes or 0.0,
        )
        response = await info.context.clients.directory.UpsertBranch(
            directory_pb2.UpsertBranchRequest(branch=branch)
        )
        return UpsertBranchPayload(branch=branch_from_proto(response.branch))

    @strawberry.mutation
    async def upsert_team(self, info: Info, input: UpsertTeamInput) -> UpsertTeamPayload | None:
        team = directory_pb2.Team(id=input.id or "", name=input.name, branch_id=input.branch_id)
        response = await info.context.clients.directory.UpsertTeam(
            directory_pb2.UpsertTeamRequest(team=team)
        )
        return UpsertTeamPayload(team=team_from_proto(response.team))

    @strawberry.mutation
    async def upsert_employee(
        self, info: Info, input: UpsertEmployeeInput
    ) -> UpsertEmployeePayload | None:
        response = await info.context.clients.directory.UpsertEmployee(input.to_request())
        return UpsertEmployeePayload(employee=employee_from_proto(response.employee))
