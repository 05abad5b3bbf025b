"""The people directory (attendance ``DirectoryService``): employees, branches, teams."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Annotated

import strawberry

from salesguard.errors import InvalidInput
from salesguard_api.attendance.v1 import directory_pb2
from salesguard_gateway.context import Info
from salesguard_gateway.schema.common import described
from salesguard_gateway.schema.conversions import civil_date, converted, enum_numbers
from salesguard_gateway.schema.enums import (
    Action,
    EmployeeStatus,
    Role,
    employee_status_of,
    role_of,
)
from salesguard_gateway.schema.links import Link
from salesguard_gateway.schema.nodes import GlobalID, Node, raw_id
from salesguard_gateway.schema.resolvers import Listing, by_id, listed, mutation, owned

if TYPE_CHECKING:
    pass


@strawberry.type(
    description="A branch of the company (A1), with its time zone and check-in thresholds. "
    "Every employee may list every branch."
)
class Branch(Node):
    hr_id: str = strawberry.field(
        description=(
            "The HR system's key of the branch: the directory's own ID, what upsertBranch's "
            "hrId names. Not a global ID."
        )
    )
    name: str = strawberry.field(description="The branch's name.")
    time_zone: str = strawberry.field(description="IANA time zone, e.g. Asia/Shanghai.")
    headquarters: bool = strawberry.field(
        description="Whether this is the headquarters: its managers see every branch."
    )
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
    return converted(
        Branch,
        message,
        hr_id=message.id,
        geofence_radius_m=message.geofence_radius_m or None,
        min_visit_minutes=message.min_visit_minutes or None,
    )


BRANCH = Link(Branch, lambda info: info.context.loaders.branch, branch_from_proto)
load_branch = BRANCH.load


@strawberry.type(description="A team of sales staff within one branch (A1).")
class Team(Node):
    hr_id: str = strawberry.field(
        description=(
            "The HR system's key of the team: the directory's own ID, what upsertTeam's "
            "hrId names. Not a global ID."
        )
    )
    name: str = strawberry.field(description="The team's name.")
    branch_id: strawberry.Private[str]

    branch = BRANCH.field("branch_id", "The branch the team belongs to.")


def team_from_proto(message: directory_pb2.Team) -> Team:
    return Team(id=message.id, hr_id=message.id, name=message.name, branch_id=message.branch_id)


TEAM = Link(Team, lambda info: info.context.loaders.team, team_from_proto)
load_team = TEAM.load


@strawberry.type(
    description="An employee in the people directory (A1; the HR system is the source of "
    "truth). Sales reps see themselves and their team, a manager their branch (a "
    "headquarters manager: everyone), HR, finance and admins everyone; anyone else is "
    "NOT_FOUND or left out of lists."
)
class Employee(Node):
    hr_id: str = strawberry.field(
        description=(
            "The HR system's employee ID: the directory's key, the `sub` of their tokens "
            "and what upsertEmployee's hrId names. Not a global ID."
        )
    )
    name: str = strawberry.field(description="The employee's name.")
    roles: list[Role] = strawberry.field(
        description="What the employee may do and see (SPEC §2 tiers)."
    )
    status: EmployeeStatus | None = strawberry.field(
        description="ACTIVE, SUSPENDED or LEFT; a change takes effect on their next request."
    )
    hire_date: date | None = strawberry.field(description="The day they were hired; null if unset.")
    leave_date: date | None = strawberry.field(description="The day they left; null if unset.")
    email: str | None = strawberry.field(description="Their work email; null if unset.")
    team_id: strawberry.Private[str]
    branch_id: strawberry.Private[str]
    manager_id: strawberry.Private[str]

    team = TEAM.field("team_id", "Their team; null if none.")
    branch = BRANCH.field("branch_id", "Their branch.")

    @described("Their manager; null if none or when the caller may not see them.")
    async def manager(self, info: Info) -> Employee | None:
        return await load_employee(info, self.manager_id)

    customers = owned(
        "salesguard_gateway.schema.customers",
        "Customer",
        "CUSTOMERS",
        "owner_id",
        "Customers this employee owns, as far as the caller may see.",
    )
    check_ins = owned(
        "salesguard_gateway.schema.visits",
        "CheckIn",
        "CHECK_INS",
        "employee_id",
        "This employee's check-ins, newest first, as far as the caller may see.",
    )
    orders = owned(
        "salesguard_gateway.schema.orders",
        "Order",
        "ORDERS",
        "submitted_by",
        "Orders this employee submitted, newest first, as far as the caller may see.",
    )


def employee_from_proto(message: directory_pb2.Employee) -> Employee:
    return converted(
        Employee,
        message,
        hr_id=message.id,
        roles=[role for number in message.roles if (role := role_of(number)) is not None],
    )


EMPLOYEE = Link(Employee, lambda info: info.context.loaders.employees.load, employee_from_proto)
load_employee = EMPLOYEE.load


@strawberry.input(description="Which employees to list; the conditions given all apply.")
class EmployeeFilter:
    text: str | None = strawberry.field(
        default=None, description="Part of the name or the ID, case-insensitive."
    )
    branch_id: GlobalID | None = strawberry.field(
        default=None, description="Only employees of this branch (a Branch's ID)."
    )
    team_id: GlobalID | None = strawberry.field(
        default=None, description="Only employees of this team (a Team's ID)."
    )
    roles: list[Role] | None = strawberry.field(
        default=None, description="Only employees with any of these roles."
    )
    statuses: list[EmployeeStatus] | None = strawberry.field(
        default=None, description="Only employees with one of these statuses."
    )

    def to_proto(self) -> directory_pb2.EmployeeFilter:
        return directory_pb2.EmployeeFilter(
            text=self.text or "",
            branch_id=raw_id(self.branch_id, "Branch", "filter.branchId"),
            team_id=raw_id(self.team_id, "Team", "filter.teamId"),
            roles=enum_numbers(self.roles),
            statuses=enum_numbers(self.statuses),
        )


EMPLOYEES = Listing(
    "directory",
    directory_pb2.ListEmployeesRequest,
    "employees",
    employee_from_proto,
    directory_pb2.EmployeeFilter,
)


async def read_employee(info: Info, employee_id: str) -> Employee:
    response = await info.context.clients.directory.GetEmployee(
        directory_pb2.GetEmployeeRequest(id=employee_id)
    )
    return employee_from_proto(response.employee)


@strawberry.input(description="A branch to create or change.")
class UpsertBranchInput:
    hr_id: str | None = strawberry.field(
        default=None,
        description=(
            "The HR system's key of the branch (Branch.hrId): the branch with this key is "
            "changed, or created under it; omit to create one with a new key."
        ),
    )
    name: str = strawberry.field(description="The branch's name.")
    time_zone: str = strawberry.field(description="IANA time zone, e.g. Asia/Shanghai.")
    headquarters: bool = strawberry.field(
        default=False, description="Whether this is the headquarters (its managers see all)."
    )
    geofence_radius_m: float | None = strawberry.field(
        default=None, description="Metres, up to 5000; omit or null for the service default."
    )
    min_visit_minutes: float | None = strawberry.field(
        default=None, description="Up to 600; omit or null for the service default."
    )


@strawberry.type(description="What upsertBranch returns.")
class UpsertBranchPayload:
    branch: Branch = strawberry.field(description="The branch as stored.")


@strawberry.input(description="A team to create or change.")
class UpsertTeamInput:
    hr_id: str | None = strawberry.field(
        default=None,
        description=(
            "The HR system's key of the team (Team.hrId): the team with this key is "
            "changed, or created under it; omit to create one with a new key."
        ),
    )
    name: str = strawberry.field(description="The team's name.")
    branch_id: GlobalID = strawberry.field(description="Its branch (a Branch's ID; must exist).")


@strawberry.type(description="What upsertTeam returns.")
class UpsertTeamPayload:
    team: Team = strawberry.field(description="The team as stored.")


@strawberry.input(description="An employee to create or change, as the HR system holds them.")
class UpsertEmployeeInput:
    hr_id: str = strawberry.field(
        description=(
            "The HR system's employee ID (Employee.hrId), also the `sub` of their tokens: "
            "an employee not in the directory yet is created under it."
        )
    )
    name: str = strawberry.field(description="The employee's name.")
    roles: list[Role] = strawberry.field(description="At least one role.")
    team_id: GlobalID | None = strawberry.field(
        default=None, description="Their team (a Team's ID), of the same branch; omit for none."
    )
    branch_id: GlobalID = strawberry.field(description="Their branch (a Branch's ID).")
    manager_id: GlobalID | None = strawberry.field(
        default=None,
        description="Their manager (an existing Employee's ID); omit for none.",
    )
    status: EmployeeStatus = strawberry.field(
        default=EmployeeStatus.ACTIVE, description="ACTIVE unless given."
    )
    hire_date: date | None = strawberry.field(default=None, description="The day they were hired.")
    leave_date: date | None = strawberry.field(
        default=None, description="The day they left; not before hireDate."
    )
    email: str | None = strawberry.field(default=None, description="Their work email.")
    successor_id: GlobalID | None = strawberry.field(
        default=None,
        description=(
            "With status LEFT (C6): the active employee (an Employee's ID) of the same branch who takes every "
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
            request.successor_id = raw_id(self.successor_id, "Employee", "input.successorId")
        elif self.to_pool:
            request.to_pool = True
        return request

    def to_proto(self) -> directory_pb2.Employee:
        return directory_pb2.Employee(
            id=self.hr_id,
            name=self.name,
            roles=enum_numbers(self.roles),
            team_id=raw_id(self.team_id, "Team", "input.teamId"),
            branch_id=raw_id(self.branch_id, "Branch", "input.branchId"),
            manager_id=raw_id(self.manager_id, "Employee", "input.managerId"),
            status=self.status.value,
            hire_date=civil_date(self.hire_date),
            leave_date=civil_date(self.leave_date),
            email=self.email or "",
        )


@strawberry.type(description="What upsertEmployee returns.")
class UpsertEmployeePayload:
    employee: Employee = strawberry.field(description="The employee as stored.")


@strawberry.type
class PeopleQuery:
    @described(
        "What a frontend may offer the caller: the actions the policy grants them somewhere in "
        "their scope, as the directory service decides (no roles to interpret client-side). "
        "An action listed may still be refused on a given object (another branch's alert); "
        "one not listed is refused everywhere."
    )
    async def may(self, info: Info) -> list[Action]:
        response = await info.context.clients.directory.ListPermittedActions(
            directory_pb2.ListPermittedActionsRequest(actions=[action.value for action in Action])
        )
        granted = set(response.actions)
        return [action for action in Action if action.value in granted]

    @described("The caller: the employee the bearer token names.")
    async def me(self, info: Info) -> Employee | None:
        caller = info.context.caller
        # The record came with the caller's principal (cached with it, dropped with it when
        # the directory row changes): no directory call per request.
        if caller.employee is not None:
            return employee_from_proto(caller.employee)
        employee = await load_employee(info, caller.principal.id)
        if employee is not None:
            return employee
        # The bootstrap admin acts before any employee record exists.
        principal = caller.principal
        return Employee(
            id=principal.id,
            hr_id=principal.id,
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

    employee = by_id(
        Employee,
        "An Employee's ID.",
        read_employee,
        "One employee of the directory; NOT_FOUND outside the caller's scope (reps: "
        "themselves and their team; managers: their branch, at headquarters everyone; HR, "
        "finance, admins: everyone).",
    )
    employees = listed(
        Employee,
        EMPLOYEES.first,
        EmployeeFilter,
        "Which employees to list.",
        "The employees the caller may see (reps: themselves and their team; managers: their "
        "branch, at headquarters everyone; HR, finance, admins: everyone).",
    )

    @described("Every branch of the company; any employee may list them.")
    async def branches(self, info: Info) -> list[Branch] | None:
        response = await info.context.clients.directory.ListBranches(
            directory_pb2.ListBranchesRequest()
        )
        return [branch_from_proto(message) for message in response.branches]

    @described("The company's teams; any employee may list them.")
    async def teams(
        self,
        info: Info,
        branch_id: Annotated[
            GlobalID | None,
            strawberry.argument(
                description="Only this branch's teams (a Branch's ID); omit for every team."
            ),
        ] = None,
    ) -> list[Team] | None:
        response = await info.context.clients.directory.ListTeams(
            directory_pb2.ListTeamsRequest(branch_id=raw_id(branch_id, "Branch", "branchId"))
        )
        return [team_from_proto(message) for message in response.teams]


@strawberry.type
class PeopleMutation:
    @mutation("Create or change a branch; admins only, others are FORBIDDEN.", input="The branch.")
    async def upsert_branch(self, info: Info, input: UpsertBranchInput) -> UpsertBranchPayload:
        branch = directory_pb2.Branch(
            id=input.hr_id or "",
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

    @mutation("Create or change a team; HR and admins, others are FORBIDDEN.", input="The team.")
    async def upsert_team(self, info: Info, input: UpsertTeamInput) -> UpsertTeamPayload:
        team = directory_pb2.Team(
            id=input.hr_id or "",
            name=input.name,
            branch_id=raw_id(input.branch_id, "Branch", "input.branchId"),
        )
        response = await info.context.clients.directory.UpsertTeam(
            directory_pb2.UpsertTeamRequest(team=team)
        )
        return UpsertTeamPayload(team=team_from_proto(response.team))

    @mutation(
        "Create or change an employee (A1); HR and admins, others are FORBIDDEN. A change of "
        "status, roles, team or branch takes effect on the employee's next request; an "
        "employee who leaves (LEFT) hands their customers to a successor or the pool (C6).",
        input="The employee.",
    )
    async def upsert_employee(
        self, info: Info, input: UpsertEmployeeInput
    ) -> UpsertEmployeePayload:
        response = await info.context.clients.directory.UpsertEmployee(input.to_request())
        return UpsertEmployeePayload(employee=employee_from_proto(response.employee))
