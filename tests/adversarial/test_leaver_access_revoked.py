"""A leaver stops acting on their next request.

SPEC §2: "A change of an employee's status, roles, team or branch takes effect on
their next request, and nothing new is ever owned by an employee who is not active."

The attacks: a token whose principal the gateway holds in a warm cache (one gateway
replica or another), a signed principal sent straight to a service, a live websocket,
and a directory that is down while the employee changes. Full profile (PostgreSQL,
NOTIFY) and, where it differs, the embedded profile (SQLite, polling).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import func, select, update

from salesguard.db import Database
from salesguard.errors import ErrorCode, ServiceError
from salesguard.grpc_client import ServiceChannels
from salesguard.principal import Principal, acting_as
from salesguard_api.attendance.v1 import visits_pb2, visits_pb2_grpc
from salesguard_api.common.v1 import common_pb2
from salesguard_api.customers.v1 import customers_pb2, customers_pb2_grpc, pool_pb2, pool_pb2_grpc
from salesguard_api.orders.v1 import orders_pb2, orders_pb2_grpc
from salesguard_attendance.models import CheckIn, Employee, PhotoUpload
from salesguard_attendance.server import service as attendance_app
from salesguard_customers.models import Customer, FollowUp
from salesguard_gateway.app import create_app
from salesguard_gateway.settings import GatewaySettings
from salesguard_orders.models import Order
from tests.conftest import SuiteFactory
from tests.harness import Backends, GraphQLResult, Suite, unique
from tests.org import UPSERT_EMPLOYEE, Org, admin, make_org, new_phone, register, register_result
from tests.support.subscriptions import (
    ALERT_RAISED,
    SOURCES,
    GraphQLWebSocket,
    mock_location_check_in,
    serve_gateway,
    until_watching,
    watcher_count,
)

pytestmark = pytest.mark.integration

ME = "{ me { id roles team { id } branch { id } } }"
CUSTOMERS = "{ customers(first: 100) { totalCount edges { node { id } } } }"
UPSERT_BRANCH = """
mutation($input: UpsertBranchInput!) { upsertBranch(input: $input) { branch { id } } }
"""
CLAIM = """
mutation($input: ClaimCustomerInput!) { claimCustomer(input: $input) { customer { id } } }
"""


@pytest.fixture
def any_suite(either_profile: Suite) -> Suite:
    """The shared full-profile suite, then the embedded one (SQLite, regopy, polling): each
    gateway caches principals (the default ``principal_cache_seconds``)."""
    return either_profile


def rep(org: Org, **changes: Any) -> dict[str, Any]:
    """The upsertEmployee input of a fresh junior rep of the org's team A (the default cache)."""
    return {
        "id": unique(f"{org.branch}-rep"),
        "name": "临时销售",
        "roles": ["SALES_JUNIOR"],
        "teamId": org.team_a,
        "branchId": org.branch,
        "status": "ACTIVE",
        **changes,
    }


def departure(employee: dict[str, Any], status: str) -> dict[str, Any]:
    """``employee`` LEFT (handing their customers to the pool) or SUSPENDED."""
    return employee | {"status": status} | ({"toPool": True} if status == "LEFT" else {})


async def me(suite: Suite | httpx.AsyncClient, employee_id: str) -> GraphQLResult:
    if isinstance(suite, Suite):
        return await suite.gql(ME, as_=employee_id)
    response = await suite.post(
        "/graphql",
        json={"query": ME},
        headers={"Authorization": f"Bearer {Suite.token(employee_id)}"},
    )
    return GraphQLResult(response.status_code, response.json())


def assert_forbidden(result: GraphQLResult) -> None:
    assert result.status == 403, result.body
    assert result.codes == ["FORBIDDEN"], result.body


async def customers_owned_by(suite: Suite, employee_id: str) -> int:
    async with suite.running["customers"].runtime.db.read() as session:
        return int(
            await session.scalar(
                select(func.count()).select_from(Customer).where(Customer.owner_id == employee_id)
            )
            or 0
        )


async def warm(suite: Suite, employee_id: str) -> None:
    """Two answered requests: the gateway now holds the employee's principal."""
    for _ in range(2):
        assert (await me(suite, employee_id)).ok()["me"]["id"] == employee_id


# -- the next request through the gateway ----------------------------------------------------


@pytest.mark.parametrize("status", ["LEFT", "SUSPENDED"])
async def test_leaver_token_refused_on_next_request(any_suite: Suite, status: str) -> None:
    suite = any_suite
    org = await make_org(suite)
    employee = rep(org)
    await admin(suite, UPSERT_EMPLOYEE, employee)
    await register(suite, employee["id"])
    await warm(suite, employee["id"])

    await admin(suite, UPSERT_EMPLOYEE, departure(employee, status))

    # The very next request, with the principal still in the gateway's cache: refused.
    assert_forbidden(await me(suite, employee["id"]))
    # ...and so is a write that would make an orphan: nothing is stored.
    owned_before = await customers_owned_by(suite, employee["id"])
    assert_forbidden(await register_result(suite, employee["id"]))
    assert await customers_owned_by(suite, employee["id"]) == owned_before


async def test_role_change_takes_effect_on_next_request(any_suite: Suite) -> None:
    suite = any_suite
    org = await make_org(suite)
    manager = rep(org, roles=["MANAGER"], teamId=None)
    await admin(suite, UPSERT_EMPLOYEE, manager)
    await register(suite, org.junior)
    assert (await suite.gql(CUSTOMERS, as_=manager["id"])).ok()["customers"]["totalCount"] >= 1
    await warm(suite, manager["id"])

    await admin(suite, UPSERT_EMPLOYEE, manager | {"roles": ["SALES_JUNIOR"], "teamId": org.team_b})

    data = (await me(suite, manager["id"])).ok()
    assert data["me"]["roles"] == ["SALES_JUNIOR"]
    # The branch's customers are no longer theirs to read: a junior sees their own (none).
    assert (await suite.gql(CUSTOMERS, as_=manager["id"])).ok()["customers"]["totalCount"] == 0


async def test_team_and_branch_change_take_effect_on_next_request(
    any_suite: Suite,
) -> None:
    suite = any_suite
    org = await make_org(suite)
    employee = rep(org)
    await admin(suite, UPSERT_EMPLOYEE, employee)
    await warm(suite, employee["id"])

    await admin(suite, UPSERT_EMPLOYEE, employee | {"teamId": org.team_b})
    moved = (await me(suite, employee["id"])).ok()["me"]
    assert (moved["team"], moved["branch"]) == ({"id": org.team_b}, {"id": org.branch})

    await admin(suite, UPSERT_EMPLOYEE, employee | {"teamId": None, "branchId": org.other_branch})
    moved = (await me(suite, employee["id"])).ok()["me"]
    assert (moved["team"], moved["branch"]) == (None, {"id": org.other_branch})


async def test_branch_headquarters_change_takes_effect_on_next_request(
    any_suite: Suite,
) -> None:
    """Principals carry whether their branch is headquarters (a manager there reads every
    branch): a change of the branch, not of the employee, must reach them too."""
    suite = any_suite
    org = await make_org(suite)
    elsewhere = await register(suite, org.junior)
    await warm(suite, org.other_manager)
    seen = await suite.gql(CUSTOMERS, as_=org.other_manager)
    assert elsewhere["id"] not in {edge["node"]["id"] for edge in seen.ok()["customers"]["edges"]}

    branch = {"id": org.other_branch, "name": org.other_branch, "timeZone": "Asia/Shanghai"}
    await admin(suite, UPSERT_BRANCH, branch | {"headquarters": True})
    seen = await suite.gql(CUSTOMERS, as_=org.other_manager)
    assert elsewhere["id"] in {edge["node"]["id"] for edge in seen.ok()["customers"]["edges"]}


async def test_two_gateway_replicas_refuse_on_the_very_next_request(
    any_suite: Suite,
) -> None:
    """Kubernetes runs several gateways: the change made through one reaches the other's
    cache before the leaver's next request, whichever replica it hits."""
    suite = any_suite
    org = await make_org(suite)
    employee = rep(org)
    await admin(suite, UPSERT_EMPLOYEE, employee)
    async with replica(suite) as first, replica(suite) as second:
        for gateway in (first, second):
            for _ in range(2):
                assert (await me(gateway, employee["id"])).ok()["me"]["id"] == employee["id"]
        # A role change through the first replica, seen by the second...
        changed = employee | {"roles": ["SALES_SENIOR"]}
        assert (await as_admin(first, UPSERT_EMPLOYEE, changed)).ok()
        assert (await me(second, employee["id"])).ok()["me"]["roles"] == ["SALES_SENIOR"]
        # ...and the departure through the second, refused by the first.
        assert (await as_admin(second, UPSERT_EMPLOYEE, departure(changed, "LEFT"))).ok()
        assert_forbidden(await me(first, employee["id"]))
        assert_forbidden(await me(second, employee["id"]))


@asynccontextmanager
async def replica(suite: Suite) -> AsyncIterator[httpx.AsyncClient]:
    """One more gateway replica (its own principal cache) over the suite's services."""
    app = create_app(GatewaySettings(**suite.settings))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://replica.test", timeout=30
        ) as client,
    ):
        yield client


async def as_admin(
    client: httpx.AsyncClient, mutation: str, values: dict[str, Any]
) -> GraphQLResult:
    response = await client.post(
        "/graphql",
        json={"query": mutation, "variables": {"input": values}},
        headers={"Authorization": f"Bearer {Suite.token('admin')}"},
    )
    return GraphQLResult(response.status_code, response.json())


# -- the services check for themselves ----------------------------------------------------------


@asynccontextmanager
async def signed_as(
    suite: Suite, service: str, principal: Principal
) -> AsyncIterator[ServiceChannels]:
    """Calls straight to ``service`` carrying ``principal``, signed with the internal secret
    as the gateway would sign it: the service alone decides."""
    running = suite.running[service]
    channels = ServiceChannels({service: running.address}, running.runtime.internal_secret, 10)
    try:
        with acting_as(principal):
            yield channels
    finally:
        await channels.close()


def principal_of(org: Org, employee: dict[str, Any]) -> Principal:
    return Principal(employee["id"], tuple(employee["roles"]), employee["teamId"], org.branch)


def timestamp(at: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(at)
    return stamp


async def refused(call: Awaitable[Any]) -> ServiceError:
    with pytest.raises(ServiceError) as error:
        await call
    assert error.value.code is ErrorCode.FORBIDDEN, error.value
    return error.value


async def count(suite: Suite, service: str, model: Any, *conditions: Any) -> int:
    async with suite.running[service].runtime.db.read() as session:
        return int(
            await session.scalar(select(func.count()).select_from(model).where(*conditions)) or 0
        )


@pytest.mark.parametrize("status", ["LEFT", "SUSPENDED"])
async def test_self_registration_by_inactive_employee_refused_by_the_service(
    any_suite: Suite, status: str
) -> None:
    """The customers service re-checks the owner, the caller included: a principal that
    reaches it signed (a replayed one, a gateway that has not heard yet) creates nothing."""
    suite = any_suite
    org = await make_org(suite)
    employee = rep(org)
    await admin(suite, UPSERT_EMPLOYEE, employee)
    await admin(suite, UPSERT_EMPLOYEE, departure(employee, status))

    async with signed_as(suite, "customers", principal_of(org, employee)) as channels:
        stub = customers_pb2_grpc.CustomersServiceStub(channels.channel("customers"))
        request = customers_pb2.RegisterCustomerRequest(
            name=unique("Orphan"),
            phone=new_phone(),
            source=customers_pb2.SOURCE_CHANNEL_WEBSITE,
            first_contact_at=timestamp(datetime.now(UTC) - timedelta(hours=1)),
        )
        await refused(stub.RegisterCustomer(request))
        # Naming themselves as the owner is the same registration.
        request.owner_id = employee["id"]
        await refused(stub.RegisterCustomer(request))
    assert await customers_owned_by(suite, employee["id"]) == 0


@pytest.mark.parametrize("status", ["LEFT", "SUSPENDED"])
async def test_service_writes_by_inactive_employee_store_nothing(
    any_suite: Suite, status: str
) -> None:
    """Claims from the pool, follow-ups, check-ins, photo uploads and orders: each service
    re-checks that the employee it credits is active, in the service that stores it."""
    suite = any_suite
    org = await make_org(suite)
    employee = rep(org)
    await admin(suite, UPSERT_EMPLOYEE, employee)
    theirs = await register(suite, employee["id"])
    pooled = await register(suite, org.junior_mate)
    # The mate leaves for the pool: one customer the employee could claim.
    await admin(
        suite,
        UPSERT_EMPLOYEE,
        {
            "id": org.junior_mate,
            "name": "韩梅梅",
            "roles": ["SALES_JUNIOR"],
            "teamId": org.team_a,
            "branchId": org.branch,
            "status": "LEFT",
            "toPool": True,
        },
    )
    await admin(suite, UPSERT_EMPLOYEE, departure(employee, status))
    principal = principal_of(org, employee)
    now = datetime.now(UTC)

    async with signed_as(suite, "customers", principal) as channels:
        pool = pool_pb2_grpc.CustomerPoolServiceStub(channels.channel("customers"))
        await refused(pool.ClaimCustomer(pool_pb2.ClaimCustomerRequest(customer_id=pooled["id"])))
        customers = customers_pb2_grpc.CustomersServiceStub(channels.channel("customers"))
        follow_up = customers_pb2.RecordFollowUpRequest(
            customer_id=theirs["id"], kind=customers_pb2.FOLLOW_UP_KIND_CALL, note="still here"
        )
        if (
            status == "SUSPENDED"
        ):  # a leaver's customers are handed over; a suspended rep keeps them
            await refused(customers.RecordFollowUp(follow_up))
    assert await count(suite, "customers", Customer, Customer.owner_id == employee["id"]) == (
        1 if status == "SUSPENDED" else 0
    )
    assert await count(suite, "customers", FollowUp, FollowUp.employee_id == employee["id"]) == 0

    async with signed_as(suite, "attendance", principal) as channels:
        visits = visits_pb2_grpc.VisitsServiceStub(channels.channel("attendance"))
        await refused(
            visits.CheckIn(
                visits_pb2.CheckInRequest(
                    at=timestamp(now),
                    location=common_pb2.GeoPoint(lat=31.2, lng=121.5),
                    accuracy_m=10,
                    device_id="phone-1",
                )
            )
        )
        await refused(
            visits.CreatePhotoUpload(
                visits_pb2.CreatePhotoUploadRequest(content_type="image/jpeg", size_bytes=1000)
            )
        )
    assert await count(suite, "attendance", CheckIn, CheckIn.employee_id == employee["id"]) == 0
    assert (
        await count(suite, "attendance", PhotoUpload, PhotoUpload.employee_id == employee["id"])
        == 0
    )

    async with signed_as(suite, "orders", principal) as channels:
        orders = orders_pb2_grpc.OrdersServiceStub(channels.channel("orders"))
        line = orders_pb2.OrderLine(
            sku="SKU-1",
            description="widget",
            quantity=common_pb2.Decimal(value="1"),
            unit_price=common_pb2.Decimal(value="100.00"),
        )
        await refused(
            orders.SubmitOrder(
                orders_pb2.SubmitOrderRequest(
                    customer_id=theirs["id"], lines=[line], currency="CNY"
                )
            )
        )
    assert await count(suite, "orders", Order, Order.submitted_by == employee["id"]) == 0


async def test_inactive_owners_receive_nothing(any_suite: Suite) -> None:
    """A manager naming a suspended rep as owner, reassigning to them, planning their
    visits: refused, typed, naming the field."""
    suite = any_suite
    org = await make_org(suite)
    employee = rep(org)
    await admin(suite, UPSERT_EMPLOYEE, employee)
    await warm(suite, employee["id"])
    await admin(suite, UPSERT_EMPLOYEE, employee | {"status": "SUSPENDED"})
    registered = await register_result(suite, org.manager, ownerId=employee["id"])
    assert registered.codes == ["VALIDATION"], registered.body
    customer = await register(suite, org.junior)
    reassign = """
    mutation($input: ReassignCustomersInput!) { reassignCustomers(input: $input) { customers { id } } }
    """
    moved = await suite.gql(
        reassign,
        {"input": {"customerIds": [customer["id"]], "newOwnerId": employee["id"], "reason": "x"}},
        as_=org.manager,
    )
    assert moved.codes == ["VALIDATION"], moved.body
    plan = """
    mutation($input: PlanVisitInput!) { planVisit(input: $input) { visitPlan { id } } }
    """
    start = datetime.now(UTC) + timedelta(hours=1)
    planned = await suite.gql(
        plan,
        {
            "input": {
                "employeeId": employee["id"],
                "customerId": customer["id"],
                "windowStart": start.isoformat(),
                "windowEnd": (start + timedelta(hours=1)).isoformat(),
            }
        },
        as_=org.manager,
    )
    assert planned.codes == ["VALIDATION"], planned.body
    assert await customers_owned_by(suite, employee["id"]) == 0


# -- a websocket sees the change on its next operation and alert --------------------------------


async def test_live_feed_ends_on_the_next_alert_with_a_warm_cache(suite: Suite) -> None:
    org = await make_org(suite)
    base = watcher_count(suite)
    manager = {
        "id": org.manager_2,
        "name": "周经理",
        "roles": ["MANAGER"],
        "branchId": org.branch,
        "status": "ACTIVE",
    }
    # The gateway's default cache: the principal is resolved once and then held.
    async with (
        serve_gateway(suite) as url,
        GraphQLWebSocket.open(url, suite.token(org.manager_2)) as leaver,
    ):
        await leaver.subscribe(ALERT_RAISED, {"filter": {"kinds": ["MOCK_LOCATION"]}})
        await until_watching(suite, base + SOURCES)
        await mock_location_check_in(suite, org.junior)
        assert (await leaver.next_alert("MOCK_LOCATION", within=5))["employee"] == {
            "id": org.junior
        }
        await admin(suite, UPSERT_EMPLOYEE, manager | {"status": "LEFT", "toPool": True})
        await mock_location_check_in(suite, org.junior)
        ended = await leaver.receive(5)
        assert ended["type"] == "next" and ended["payload"].get("data") is None, ended
        assert [e["extensions"]["code"] for e in ended["payload"]["errors"]] == ["FORBIDDEN"]
        assert (await leaver.receive(5))["type"] == "complete"


# -- the directory down: fail closed, and distrust the cache after --------------------------------

StartSuite = Callable[[], Awaitable[Suite]]


@pytest.fixture(params=["full", "embedded"])
async def own_suite(
    request: pytest.FixtureRequest, full_suite_factory: SuiteFactory, tmp_path: Path
) -> AsyncIterator[Suite]:
    """A suite of this test's own: the test stops and restarts its people directory."""
    if request.param == "full":
        yield await full_suite_factory()
        return
    started = await Suite.start(Backends(), tmp_path)
    yield started
    await started.stop()


async def test_directory_down_fails_closed_not_from_a_stale_cache(own_suite: Suite) -> None:
    suite = own_suite
    org = await make_org(suite)
    await warm(suite, org.junior)
    attendance = suite.running["attendance"]
    settings, port = attendance.runtime.settings, attendance.port
    await attendance.stop()

    # While the directory is down HR's system suspends the rep (the database is the truth):
    # no gateway can be told, so none may answer from what it held before.
    db = Database(settings.database_url_for("attendance"))
    try:
        async with db.transaction() as session:
            await session.execute(
                update(Employee).where(Employee.id == org.junior).values(status="SUSPENDED")
            )
    finally:
        await db.dispose()
    down = await me(suite, org.junior)
    assert down.status == 503 and down.codes == ["UNAVAILABLE"], down.body

    # Back up: once the gateway reaches it again (its channel retries with a backoff), the
    # first answer is the directory's, never the cache's.
    suite.running["attendance"] = await attendance_app.start(settings, port=port)
    deadline = time.monotonic() + 15
    while (answer := await me(suite, org.junior)).status == 503:
        assert time.monotonic() < deadline, answer.body
        await asyncio.sleep(0.1)
    assert_forbidden(answer)
    assert (await me(suite, org.junior_mate)).ok()["me"]["id"] == org.junior_mate


async def test_claim_by_a_departed_rep_is_refused_through_the_gateway(suite: Suite) -> None:
    """The pool: a suspended rep's warm token claims nothing."""
    org = await make_org(suite)
    employee = rep(org)
    await admin(suite, UPSERT_EMPLOYEE, employee)
    pooled = await register(suite, org.junior_b)
    await admin(
        suite,
        UPSERT_EMPLOYEE,
        {
            "id": org.junior_b,
            "name": "赵强",
            "roles": ["SALES_JUNIOR"],
            "teamId": org.team_b,
            "branchId": org.branch,
            "status": "LEFT",
            "toPool": True,
        },
    )
    await warm(suite, employee["id"])
    await admin(suite, UPSERT_EMPLOYEE, employee | {"status": "SUSPENDED"})
    claimed = await suite.gql(CLAIM, {"input": {"customerId": pooled["id"]}}, as_=employee["id"])
    assert_forbidden(claimed)
    assert await customers_owned_by(suite, employee["id"]) == 0
