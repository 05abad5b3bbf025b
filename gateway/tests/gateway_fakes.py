"""Small but real gRPC services for the gateway's tests.

They run on the shared ``GrpcServer`` (so the signed principal is verified as in
production) and record every call with the principal it carried. Only the RPCs
the tests need are implemented; data lives in plain dicts the tests fill.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import httpx
from google.protobuf.struct_pb2 import Struct

from salesguard.attendance.v1 import directory_pb2, directory_pb2_grpc
from salesguard.common.v1 import common_pb2, common_pb2_grpc
from salesguard.customers.v1 import customers_pb2, customers_pb2_grpc
from salesguard.errors import Forbidden, NotFound, ServiceError
from salesguard.grpc_server import GrpcServer, Servicer
from salesguard.pagination import decode_cursor, encode_cursor
from salesguard.principal import current_principal
from salesguard.settings import DEV_JWT_SECRET
from salesguard.timeutil import from_timestamp, to_timestamp
from salesguard.tokens import issue_dev_token

SECRET = b"gateway-tests-internal-secret"


@dataclass
class CallLog:
    calls: list[tuple[str, str]] = field(default_factory=list)

    def record(self, method: str) -> None:
        self.calls.append((method, current_principal().id))

    def methods(self) -> list[str]:
        return [method for method, _ in self.calls]

    def clear(self) -> None:
        self.calls.clear()


def employee(
    employee_id: str,
    *,
    roles: tuple[int, ...] = (directory_pb2.ROLE_MANAGER,),
    status: int = directory_pb2.EMPLOYEE_STATUS_ACTIVE,
    manager_id: str = "",
) -> directory_pb2.Employee:
    return directory_pb2.Employee(
        id=employee_id,
        name=f"Employee {employee_id}",
        roles=list(roles),
        team_id="T1",
        branch_id="B1",
        manager_id=manager_id,
        status=status,
        hire_date="2024-01-02",
    )


class FakeDirectory(directory_pb2_grpc.DirectoryServiceServicer):
    def __init__(self, log: CallLog) -> None:
        self.log = log
        self.employees: dict[str, directory_pb2.Employee] = {}

    async def ResolvePrincipal(
        self, request: directory_pb2.ResolvePrincipalRequest, context: grpc.aio.ServicerContext
    ) -> directory_pb2.ResolvePrincipalResponse:
        self.log.record("ResolvePrincipal")
        if request.employee_id == "MISCONFIGURED":
            raise Forbidden("the gateway may not resolve principals")
        found = self.employees.get(request.employee_id)
        if found is None:
            raise NotFound("no such employee")
        return directory_pb2.ResolvePrincipalResponse(
            principal=common_pb2.Principal(
                id=found.id,
                roles=[directory_pb2.Role.Name(role).removeprefix("ROLE_") for role in found.roles],
                team_id=found.team_id,
                branch_id=found.branch_id,
            ),
            status=found.status,
            name=found.name,
        )

    async def BatchGetEmployees(
        self, request: directory_pb2.BatchGetEmployeesRequest, context: grpc.aio.ServicerContext
    ) -> directory_pb2.BatchGetEmployeesResponse:
        self.log.record("BatchGetEmployees")
        return directory_pb2.BatchGetEmployeesResponse(
            employees=[self.employees[i] for i in request.ids if i in self.employees]
        )

    async def ListBranches(
        self, request: directory_pb2.ListBranchesRequest, context: grpc.aio.ServicerContext
    ) -> directory_pb2.ListBranchesResponse:
        self.log.record("ListBranches")
        branch = directory_pb2.Branch(id="B1", name="Shanghai", time_zone="Asia/Shanghai")
        return directory_pb2.ListBranchesResponse(branches=[branch])

    async def ListTeams(
        self, request: directory_pb2.ListTeamsRequest, context: grpc.aio.ServicerContext
    ) -> directory_pb2.ListTeamsResponse:
        self.log.record("ListTeams")
        return directory_pb2.ListTeamsResponse(
            teams=[directory_pb2.Team(id="T1", name="East", branch_id="B1")]
        )


def customer(number: int, owner_id: str) -> customers_pb2.Customer:
    registered = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(hours=number)
    return customers_pb2.Customer(
        id=f"c{number}",
        code=f"C-{number:06d}",
        name=f"Customer {number}",
        company="ACME",
        phone="138****5678",
        email="a@example.com",
        address="1 Nanjing Road",
        location=common_pb2.GeoPoint(lat=31.23, lng=121.47),
        source=customers_pb2.SOURCE_CHANNEL_WEBSITE,
        owner_id=owner_id,
        team_id="T1",
        branch_id="B1",
        first_contact_at=to_timestamp(registered - timedelta(hours=2)),
        registered_at=to_timestamp(registered),
        masked_fields=["phone"],
        status=customers_pb2.CUSTOMER_STATUS_ACTIVE,
    )


class FakeCustomers(customers_pb2_grpc.CustomersServiceServicer):
    def __init__(self, log: CallLog) -> None:
        self.log = log
        self.customers: dict[str, customers_pb2.Customer] = {}
        # Raised by GetCustomer when set, to test how errors reach the client.
        self.get_error: ServiceError | None = None
        # include_contact of each customer-returning call, in order.
        self.include_contact: list[tuple[str, bool]] = []

    async def GetCustomer(
        self, request: customers_pb2.GetCustomerRequest, context: grpc.aio.ServicerContext
    ) -> customers_pb2.GetCustomerResponse:
        self.log.record("GetCustomer")
        self.include_contact.append(("GetCustomer", request.include_contact))
        if self.get_error is not None:
            raise self.get_error
        found = self.customers.get(request.id)
        if found is None:
            raise NotFound(f"customer {request.id} not found")
        return customers_pb2.GetCustomerResponse(customer=found)

    async def BatchGetCustomers(
        self, request: customers_pb2.BatchGetCustomersRequest, context: grpc.aio.ServicerContext
    ) -> customers_pb2.BatchGetCustomersResponse:
        self.log.record("BatchGetCustomers")
        self.include_contact.append(("BatchGetCustomers", request.include_contact))
        return customers_pb2.BatchGetCustomersResponse(
            customers=[self.customers[i] for i in request.ids if i in self.customers]
        )

    async def ListCustomers(
        self, request: customers_pb2.ListCustomersRequest, context: grpc.aio.ServicerContext
    ) -> customers_pb2.ListCustomersResponse:
        self.log.record("ListCustomers")
        self.include_contact.append(("ListCustomers", request.include_contact))
        ordered = sorted(self.customers.values(), key=lambda c: c.id)
        start = int(request.page.page_token or 0)
        page = ordered[start : start + request.page.page_size]
        end = start + len(page)
        return customers_pb2.ListCustomersResponse(
            customers=page,
            cursors=[str(start + i + 1) for i in range(len(page))],
            page_info=common_pb2.PageInfo(
                next_page_token=str(end) if end < len(ordered) else "",
                has_next_page=end < len(ordered),
                total_count=len(ordered),
            ),
        )


def alert(
    alert_id: str, detected_at: datetime, *, kind: str = "LATE_REGISTRATION", source: str
) -> common_pb2.Alert:
    evidence = Struct()
    evidence.update({"customer_code": "C-000001", "hours_late": 30, "limit_hours": 24})
    return common_pb2.Alert(
        id=alert_id,
        kind=kind,
        rule="C2",
        severity=common_pb2.SEVERITY_MEDIUM,
        status=common_pb2.ALERT_STATUS_OPEN,
        employee_id="E1",
        customer_id="c1",
        detected_at=to_timestamp(detected_at),
        evidence=evidence,
        source=source,
    )


class FakeAlerts(common_pb2_grpc.AlertsServiceServicer):
    """Keyset pages on (detected_at, id) descending, like the shared AlertsServicer."""

    def __init__(self, log: CallLog) -> None:
        self.log = log
        self.alerts: list[common_pb2.Alert] = []
        self.failure: ServiceError | None = None

    async def ListAlerts(
        self, request: common_pb2.ListAlertsRequest, context: grpc.aio.ServicerContext
    ) -> common_pb2.ListAlertsResponse:
        self.log.record("ListAlerts")
        if self.failure is not None:
            raise self.failure

        def key(item: common_pb2.Alert) -> tuple[datetime, str]:
            detected = from_timestamp(item.detected_at)
            assert detected is not None
            return detected, item.id

        rows = sorted(self.alerts, key=key, reverse=True)
        if request.page.page_token:
            at, after_id = decode_cursor(request.page.page_token, 2)
            after = (datetime.fromisoformat(at), after_id)
            rows = [row for row in rows if key(row) < after]
        size = request.page.page_size
        page, more = rows[:size], len(rows) > size
        last = key(page[-1]) if page else None
        return common_pb2.ListAlertsResponse(
            alerts=page,
            cursors=[encode_cursor(*key(item)) for item in page],
            page_info=common_pb2.PageInfo(
                next_page_token=encode_cursor(*last) if more and last else "",
                has_next_page=more,
                total_count=len(self.alerts),
            ),
        )


@dataclass
class FakeService:
    server: GrpcServer
    log: CallLog
    servicers: dict[str, Any]

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.port}"


def _servicer(add: Any, servicer: Any, file: Any, name: str) -> Servicer:
    return Servicer(add, servicer, file.DESCRIPTOR.services_by_name[name])


async def start_attendance() -> FakeService:
    log = CallLog()
    directory = FakeDirectory(log)
    alerts = FakeAlerts(log)
    server = GrpcServer(
        [
            _servicer(
                directory_pb2_grpc.add_DirectoryServiceServicer_to_server,
                directory,
                directory_pb2,
                "DirectoryService",
            ),
            _servicer(
                common_pb2_grpc.add_AlertsServiceServicer_to_server,
                alerts,
                common_pb2,
                "AlertsService",
            ),
        ],
        host="127.0.0.1",
        port=0,
        internal_secret=SECRET,
    )
    await server.start()
    return FakeService(server, log, {"directory": directory, "alerts": alerts})


async def start_customers() -> FakeService:
    log = CallLog()
    customers = FakeCustomers(log)
    alerts = FakeAlerts(log)
    server = GrpcServer(
        [
            _servicer(
                customers_pb2_grpc.add_CustomersServiceServicer_to_server,
                customers,
                customers_pb2,
                "CustomersService",
            ),
            _servicer(
                common_pb2_grpc.add_AlertsServiceServicer_to_server,
                alerts,
                common_pb2,
                "AlertsService",
            ),
        ],
        host="127.0.0.1",
        port=0,
        internal_secret=SECRET,
    )
    await server.start()
    return FakeService(server, log, {"customers": customers, "alerts": alerts})


# --- talking to the gateway ---------------------------------------------------


def token(employee_id: str = "E1", *, secret: str = DEV_JWT_SECRET, ttl: int = 3600) -> str:
    return issue_dev_token(secret, employee_id, ttl_seconds=ttl)


def auth(employee_id: str = "E1", **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(employee_id)}", **headers}


async def gql(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    as_: str = "E1",
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any]]:
    response = await client.post(
        "/graphql",
        json={"query": query, "variables": variables or {}},
        headers={**auth(as_), **(headers or {})},
    )
    return response.status_code, response.json()


def codes(body: dict[str, Any]) -> list[str]:
    return [error["extensions"]["code"] for error in body.get("errors", [])]
