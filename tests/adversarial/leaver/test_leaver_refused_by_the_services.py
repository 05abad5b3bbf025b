"""A leaver stops acting on their next request, at the services themselves.

SPEC §2: "A change of an employee's status, roles, team or branch takes effect on
their next request, and nothing new is ever owned by an employee who is not active."

The attack: a signed principal of an inactive employee sent straight to a service, and
writes that would hand an inactive owner something new. Full profile (PostgreSQL) and
the embedded profile (SQLite).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import func, select

from salesguard.errors import ErrorCode, ServiceError
from salesguard.grpc_client import ServiceChannels
from salesguard.principal import Principal, acting_as
from salesguard_api.attendance.v1 import visits_pb2, visits_pb2_grpc
from salesguard_api.common.v1 import common_pb2
from salesguard_api.customers.v1 import customers_pb2, customers_pb2_grpc, pool_pb2, pool_pb2_grpc
from salesguard_api.orders.v1 import orders_pb2, orders_pb2_grpc
from salesguard_attendance.models import CheckIn, PhotoUpload
from salesguard_customers.models import Customer, FollowUp
from salesguard_orders.models import Order
from tests.adversarial.leaver.support import (
    customers_owned_by,
    departure,
    pooled_customer,
    rep,
    warm,
)
from tests.harness import Suite, employee_id, service_id, unique
from tests.org import UPSERT_EMPLOYEE, Org, admin, make_org, new_phone, register, register_result


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
    team = service_id(employee["teamId"]) if employee["teamId"] else None
    return Principal(employee["hrId"], tuple(employee["roles"]), team, org.branch)


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
        request.owner_id = employee["hrId"]
        await refused(stub.RegisterCustomer(request))
    assert await customers_owned_by(suite, employee["hrId"]) == 0


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
    theirs = await register(suite, employee["hrId"])
    # The mate leaves for the pool: one customer the employee could claim.
    pooled = await pooled_customer(suite, org, org.junior_mate, "韩梅梅", org.team_a)
    await admin(suite, UPSERT_EMPLOYEE, departure(employee, status))
    principal = principal_of(org, employee)
    now = datetime.now(UTC)

    async with signed_as(suite, "customers", principal) as channels:
        pool = pool_pb2_grpc.CustomerPoolServiceStub(channels.channel("customers"))
        await refused(
            pool.ClaimCustomer(pool_pb2.ClaimCustomerRequest(customer_id=service_id(pooled["id"])))
        )
        customers = customers_pb2_grpc.CustomersServiceStub(channels.channel("customers"))
        follow_up = customers_pb2.RecordFollowUpRequest(
            customer_id=service_id(theirs["id"]),
            kind=customers_pb2.FOLLOW_UP_KIND_CALL,
            note="still here",
        )
        if (
            status == "SUSPENDED"
        ):  # a leaver's customers are handed over; a suspended rep keeps them
            await refused(customers.RecordFollowUp(follow_up))
    assert await count(suite, "customers", Customer, Customer.owner_id == employee["hrId"]) == (
        1 if status == "SUSPENDED" else 0
    )
    assert await count(suite, "customers", FollowUp, FollowUp.employee_id == employee["hrId"]) == 0

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
    assert await count(suite, "attendance", CheckIn, CheckIn.employee_id == employee["hrId"]) == 0
    assert (
        await count(suite, "attendance", PhotoUpload, PhotoUpload.employee_id == employee["hrId"])
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
                    customer_id=service_id(theirs["id"]), lines=[line], currency="CNY"
                )
            )
        )
    assert await count(suite, "orders", Order, Order.submitted_by == employee["hrId"]) == 0


async def test_inactive_owners_receive_nothing(any_suite: Suite) -> None:
    """A manager naming a suspended rep as owner, reassigning to them, planning their
    visits: refused, typed, naming the field."""
    suite = any_suite
    org = await make_org(suite)
    employee = rep(org)
    await admin(suite, UPSERT_EMPLOYEE, employee)
    await warm(suite, employee["hrId"])
    await admin(suite, UPSERT_EMPLOYEE, employee | {"status": "SUSPENDED"})
    owner = employee_id(employee["hrId"])
    registered = await register_result(suite, org.manager, ownerId=owner)
    assert registered.codes == ["VALIDATION"], registered.body
    # The service's refusal of the inactive owner, not a malformed ID.
    assert registered.errors[0]["extensions"]["field"] == "owner_id", registered.body
    customer = await register(suite, org.junior)
    reassign = """
    mutation($input: ReassignCustomersInput!) { reassignCustomers(input: $input) { customers { id } } }
    """
    moved = await suite.gql(
        reassign,
        {"input": {"customerIds": [customer["id"]], "newOwnerId": owner, "reason": "x"}},
        as_=org.manager,
    )
    assert moved.codes == ["VALIDATION"], moved.body
    # The service's refusal of the inactive owner, not a malformed ID.
    assert moved.errors[0]["extensions"]["field"] == "new_owner_id", moved.body
    plan = """
    mutation($input: PlanVisitInput!) { planVisit(input: $input) { visitPlan { id } } }
    """
    start = datetime.now(UTC) + timedelta(hours=1)
    planned = await suite.gql(
        plan,
        {
            "input": {
                "employeeId": owner,
                "customerId": customer["id"],
                "windowStart": start.isoformat(),
                "windowEnd": (start + timedelta(hours=1)).isoformat(),
            }
        },
        as_=org.manager,
    )
    assert planned.codes == ["VALIDATION"], planned.body
    # The service's refusal of the inactive owner, not a malformed ID.
    assert planned.errors[0]["extensions"]["field"] == "employee_id", planned.body
    assert await customers_owned_by(suite, employee["hrId"]) == 0
