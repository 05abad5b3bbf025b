"""What the orders tests share: the callers of a per-test company (:class:`People`), a
client over the orders service's gRPC API (:class:`Client`) and small helpers for lines,
refusals and customers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from salesguard.principal import Principal, acting_as
from salesguard.timeutil import to_timestamp
from salesguard_api.common.v1 import common_pb2
from salesguard_api.orders.v1 import orders_pb2 as pb
from salesguard_api.orders.v1 import payments_pb2
from tests.harness import Suite, service_id, unique
from tests.org import Org, add_employee, make_org, register
from tests.support.orders_service import OrdersServiceClient, dec

SHANGHAI = ZoneInfo("Asia/Shanghai")


# -- callers and clients ------------------------------------------------------------------------


@dataclass(frozen=True)
class People:
    """The principals the gateway resolves for the company's people."""

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


async def make_people(suite: Suite) -> People:
    org = await make_org(suite)
    hq_manager = f"{org.hq}-manager"
    await add_employee(suite, hq_manager, "郑总", "MANAGER", branch=org.hq)

    def person(
        employee_id: str, role: str, branch: str, team: str | None = None, hq: bool = False
    ) -> Principal:
        return Principal(id=employee_id, roles=(role,), team_id=team, branch_id=branch, hq=hq)

    return People(
        org=org,
        junior=person(org.junior, "SALES_JUNIOR", org.branch, org.team_a),
        junior_mate=person(org.junior_mate, "SALES_JUNIOR", org.branch, org.team_a),
        senior=person(org.senior, "SALES_SENIOR", org.branch, org.team_a),
        junior_b=person(org.junior_b, "SALES_JUNIOR", org.branch, org.team_b),
        manager=person(org.manager, "MANAGER", org.branch),
        manager_2=person(org.manager_2, "MANAGER", org.branch),
        other_manager=person(org.other_manager, "MANAGER", org.other_branch),
        hq_manager=person(hq_manager, "MANAGER", org.hq, hq=True),
        hr=person(org.hr, "HR", org.hq, hq=True),
        finance=person(org.finance, "FINANCE", org.hq, hq=True),
    )


class Client(OrdersServiceClient):
    """Stubs of the orders service on a channel signed with its internal secret."""

    def __init__(self, suite: Suite) -> None:
        super().__init__(suite, timeout=20)

    async def submit(self, principal: Principal, **values: Any) -> pb.Order:
        with acting_as(principal):
            response = await self.orders.SubmitOrder(pb.SubmitOrderRequest(**values))
        return response.order

    async def get(self, principal: Principal, order_id: str) -> pb.Order:
        with acting_as(principal):
            return (await self.orders.GetOrder(pb.GetOrderRequest(id=order_id))).order

    async def list_orders(self, principal: Principal, **filter_: Any) -> list[pb.Order]:
        with acting_as(principal):
            response = await self.orders.ListOrders(
                pb.ListOrdersRequest(
                    filter=pb.OrderFilter(**filter_),
                    page=common_pb2.PageRequest(page_size=100),
                )
            )
        return list(response.orders)

    async def one_line_order(
        self,
        principal: Principal,
        customer_id: str,
        price: str,
        *,
        sku: str = "A",
        quantity: str = "1",
        **values: Any,
    ) -> pb.Order:
        """Submit a CNY order of one line: ``quantity`` × ``sku`` at ``price``."""
        return await self.submit(
            principal,
            customer_id=customer_id,
            currency="CNY",
            lines=[line(sku, quantity, price)],
            **values,
        )

    async def decide(
        self, principal: Principal, order_id: str, approve: bool = True, comment: str = ""
    ) -> pb.Order:
        with acting_as(principal):
            response = await self.orders.DecideOrder(
                pb.DecideOrderRequest(order_id=order_id, approve=approve, comment=comment)
            )
        return response.order

    async def transition(
        self, principal: Principal, order_id: str, to: pb.OrderStatus.ValueType, reason: str = ""
    ) -> pb.Order:
        with acting_as(principal):
            response = await self.orders.TransitionOrder(
                pb.TransitionOrderRequest(
                    order_id=order_id,
                    to=to,
                    reason=reason,
                )
            )
        return response.order

    async def record_payment(
        self, principal: Principal, **values: Any
    ) -> payments_pb2.RecordPaymentResponse:
        values.setdefault("bank_reference", unique("BR"))
        values.setdefault("currency", "CNY")
        values.setdefault("paid_at", to_timestamp(datetime.now(UTC) - timedelta(hours=1)))
        if isinstance(values.get("amount"), str):
            values["amount"] = dec(values["amount"])
        with acting_as(principal):
            return await self.payments.RecordPayment(payments_pb2.RecordPaymentRequest(**values))


# -- helpers --------------------------------------------------------------------------------


def line(sku: str, quantity: str, price: str, discount: str = "") -> pb.OrderLine:
    return pb.OrderLine(
        sku=sku,
        description=f"{sku} description",
        quantity=dec(quantity),
        unit_price=dec(price),
        discount_percent=dec(discount),
    )


def today() -> date:
    return datetime.now(SHANGHAI).date()


async def customer_of(suite: Suite, owner: Principal) -> str:
    return service_id((await register(suite, owner.id))["id"])


def roles(order: pb.Order) -> list[str]:
    return [step.role for step in order.approval_steps]


APPROVED = pb.ORDER_STATUS_APPROVED
SUBMITTED = pb.ORDER_STATUS_SUBMITTED
REJECTED = pb.ORDER_STATUS_REJECTED
FULFILLED = pb.ORDER_STATUS_FULFILLED
CLOSED = pb.ORDER_STATUS_CLOSED
CANCELLED = pb.ORDER_STATUS_CANCELLED
