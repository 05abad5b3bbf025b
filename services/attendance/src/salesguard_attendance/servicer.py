"""gRPC servicer of the people directory: a thin adapter over :class:`Directory`."""

from __future__ import annotations

from salesguard.attendance.v1 import directory_pb2 as pb
from salesguard.attendance.v1 import directory_pb2_grpc
from salesguard.grpc_server import ServicerContext as Context
from salesguard_attendance.directory import Directory


class DirectoryServicer(directory_pb2_grpc.DirectoryServiceServicer):
    def __init__(self, directory: Directory) -> None:
        self._directory = directory

    async def UpsertBranch(
        self, request: pb.UpsertBranchRequest, context: Context
    ) -> pb.UpsertBranchResponse:
        return pb.UpsertBranchResponse(branch=await self._directory.upsert_branch(request.branch))

    async def UpsertTeam(
        self, request: pb.UpsertTeamRequest, context: Context
    ) -> pb.UpsertTeamResponse:
        return pb.UpsertTeamResponse(team=await self._directory.upsert_team(request.team))

    async def UpsertEmployee(
        self, request: pb.UpsertEmployeeRequest, context: Context
    ) -> pb.UpsertEmployeeResponse:
        return pb.UpsertEmployeeResponse(
            employee=await self._directory.upsert_employee(request.employee)
        )

    async def GetEmployee(
        self, request: pb.GetEmployeeRequest, context: Context
    ) -> pb.GetEmployeeResponse:
        return pb.GetEmployeeResponse(employee=await self._directory.get_employee(request.id))

    async def BatchGetEmployees(
        self, request: pb.BatchGetEmployeesRequest, context: Context
    ) -> pb.BatchGetEmployeesResponse:
        return pb.BatchGetEmployeesResponse(
            employees=await self._directory.batch_get_employees(list(request.ids))
        )

    async def ListEmployees(
        self, request: pb.ListEmployeesRequest, context: Context
    ) -> pb.ListEmployeesResponse:
        return await self._directory.list_employees(request)

    async def ListBranches(
        self, request: pb.ListBranchesRequest, context: Context
    ) -> pb.ListBranchesResponse:
        return pb.ListBranchesResponse(branches=await self._directory.list_branches())

    async def ListTeams(
        self, request: pb.ListTeamsRequest, context: Context
    ) -> pb.ListTeamsResponse:
        return pb.ListTeamsResponse(teams=await self._directory.list_teams(request.branch_id))

    async def ResolvePrincipal(
        self, request: pb.ResolvePrincipalRequest, context: Context
    ) -> pb.ResolvePrincipalResponse:
        return await self._directory.resolve_principal(request.employee_id)
