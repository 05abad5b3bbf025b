"""What the tests over the orders service's gRPC API share: the callers of a per-test company,
its stubs on a signed channel, listing its payments and alerts, decimals as the API spells
them, and refusals."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import pytest
from sqlalchemy import update

from salesguard.errors import ErrorCode, ServiceError
from salesguard.grpc_client import ServiceChannels
from salesguard.principal import Principal, acting_as
from salesguard_api.common.v1 import common_pb2, common_pb2_grpc
from salesguard_api.orders.v1 import orders_pb2_grpc, payments_pb2, payments_pb2_grpc
from salesguard_orders.models import ApprovalStep
from tests.harness import Suite
from tests.org import Org

Request = TypeVar("Request")
Response = TypeVar("Response")
# Every listing's one page: more than any test writes.
PAGE = common_pb2.PageRequest(page_size=100)


@dataclass(frozen=True)
class People:
    """The principals the gateway resolves for the people of a company (``make_org``), and
    the administrator. ``hq_manager`` is a manager at headquarters, who is not one of the
    company's people: a test that calls as them adds them to the directory first."""

    org: Org
    junior: Principal
    junior_mate: Principal
    senior: Principal
    junior_b: Principal
    manager: Principal
    manager_2: Principal
    other_manager: Principal
    hq_manager: Principal
    hr: Principal
    finance: Principal
    admin: Principal

    @classmethod
    def of(cls, org: Org) -> People:
        def person(employee_id: str, role: str, branch: str, team: str | None = None) -> Principal:
            return Principal(
                id=employee_id, roles=(role,), team_id=team, branch_id=branch, hq=branch == org.hq
            )

        return cls(
            org=org,
            junior=person(org.junior, "SALES_JUNIOR", org.branch, org.team_a),
            junior_mate=person(org.junior_mate, "SALES_JUNIOR", org.branch, org.team_a),
            senior=person(org.senior, "SALES_SENIOR", org.branch, org.team_a),
            junior_b=person(org.junior_b, "SALES_JUNIOR", org.branch, org.team_b),
            manager=person(org.manager, "MANAGER", org.branch),
            manager_2=person(org.manager_2, "MANAGER", org.branch),
            other_manager=person(org.other_manager, "MANAGER", org.other_branch),
            hq_manager=person(f"{org.hq}-manager", "MANAGER", org.hq),
            hr=person(org.hr, "HR", org.hq),
            finance=person(org.finance, "FINANCE", org.hq),
            admin=Principal(id="admin", roles=("ADMIN",)),
        )


class OrdersServiceClient:
    """Stubs of the orders service on channels signed with the suite's internal secret;
    ``also`` names the further services the same channels reach."""

    def __init__(self, suite: Suite, *also: str, timeout: float) -> None:
        orders = suite.running["orders"]
        self.channels = ServiceChannels(
            {name: suite.running[name].address for name in ("orders", *also)},
            orders.runtime.internal_secret,
            timeout,
        )
        channel = self.channels.channel("orders")
        self.orders = orders_pb2_grpc.OrdersServiceStub(channel)
        self.payments = payments_pb2_grpc.PaymentsServiceStub(channel)
        self.reconciliation = payments_pb2_grpc.ReconciliationServiceStub(channel)
        self.alerts = common_pb2_grpc.AlertsServiceStub(channel)

    async def call(
        self,
        principal: Principal,
        rpc: Callable[[Request], Awaitable[Response]],
        request: Request,
    ) -> Response:
        """``rpc`` with ``request``, on behalf of ``principal``."""
        with acting_as(principal):
            return await rpc(request)

    async def list_payments(
        self, principal: Principal, **filter_: Any
    ) -> list[payments_pb2.Payment]:
        request = payments_pb2.ListPaymentsRequest(
            filter=payments_pb2.PaymentFilter(**filter_), page=PAGE
        )
        return list((await self.call(principal, self.payments.ListPayments, request)).payments)

    async def list_alerts(
        self, principal: Principal, *kinds: str, **filter_: Any
    ) -> list[common_pb2.Alert]:
        """The orders service's alerts ``principal`` may read, of ``kinds`` (all if none)."""
        request = common_pb2.ListAlertsRequest(
            filter=common_pb2.AlertFilter(kinds=list(kinds), **filter_), page=PAGE
        )
        return list((await self.call(principal, self.alerts.ListAlerts, request)).alerts)


def dec(value: str) -> common_pb2.Decimal:
    return common_pb2.Decimal(value=value)


async def refused(call: Awaitable[Any], code: ErrorCode) -> ServiceError:
    """Await a call that must fail with ``code``; the error."""
    with pytest.raises(ServiceError) as raised:
        await call
    assert raised.value.code is code, raised.value
    return raised.value


async def move_approval(suite: Suite, order_id: str, at: datetime) -> None:
    """The order's approval decisions moved to ``at`` in the orders service's own database,
    as time passing would (the overdue-shipment check counts from the approval)."""
    async with suite.running["orders"].runtime.db.transaction() as session:
        await session.execute(
            update(ApprovalStep).where(ApprovalStep.order_id == order_id).values(decided_at=at)
        )
