"""A cached view of the people directory (attendance) for other services.

Services look up employees (an owner's team and branch, a name to mask in an
error) as themselves — ``Principal.system(<service>)`` — and cache briefly: the
HR system is the source of truth and changes are rare.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from salesguard.attendance.v1 import directory_pb2, directory_pb2_grpc
from salesguard.grpc_client import ServiceChannels
from salesguard.principal import Principal, acting_as


class DirectoryClient:
    def __init__(
        self, channels: ServiceChannels, caller: str, *, ttl_seconds: float = 30.0
    ) -> None:
        self._stub = directory_pb2_grpc.DirectoryServiceStub(channels.channel("attendance"))
        self._caller = Principal.system(caller)
        self._ttl = ttl_seconds
        self._cache: dict[str, tuple[float, directory_pb2.Employee | None]] = {}

    async def employees(self, ids: Iterable[str]) -> dict[str, directory_pb2.Employee]:
        """The employees among ``ids`` that exist, by ID."""
        now = time.monotonic()
        wanted = set(ids)
        found: dict[str, directory_pb2.Employee] = {}
        missing: list[str] = []
        for employee_id in wanted:
            cached = self._cache.get(employee_id)
            if cached is not None and now - cached[0] < self._ttl:
                if cached[1] is not None:
                    found[employee_id] = cached[1]
            else:
                missing.append(employee_id)
        if missing:
            with acting_as(self._caller):
                response = await self._stub.BatchGetEmployees(
                    directory_pb2.BatchGetEmployeesRequest(ids=sorted(missing))
                )
            fetched = {employee.id: employee for employee in response.employees}
            for employee_id in missing:
                employee = fetched.get(employee_id)
                self._cache[employee_id] = (now, employee)
                if employee is not None:
                    found[employee_id] = employee
        return found

    async def employee(self, employee_id: str) -> directory_pb2.Employee | None:
        return (await self.employees([employee_id])).get(employee_id)

    async def current(self, employee_id: str) -> directory_pb2.Employee | None:
        """The employee as the directory has them now, never from the cache (which a
        concurrent lookup may have filled a moment before a change)."""
        self.forget(employee_id)
        with acting_as(self._caller):
            response = await self._stub.BatchGetEmployees(
                directory_pb2.BatchGetEmployeesRequest(ids=[employee_id])
            )
        return next((e for e in response.employees if e.id == employee_id), None)

    def forget(self, employee_id: str) -> None:
        self._cache.pop(employee_id, None)
