"""What the orders tests share: the callers of a per-test company (:class:`People`), a
client over the orders service's gRPC API (:class:`Client`) and small helpers for lines,
refusals and customers.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from salesguard.principal import Principal, acting_as
from salesguard.timeutil import to_timestamp
from salesguard_api.orders.v1 import orders_pb2 as pb
from salesguard_api.orders.v1 import payments_pb2
from tests.harness import Suite, service_id, unique
from tests.org import add_hq_manager, make_org, register
from tests.support.orders_service import PAGE, OrdersServiceClient, People, dec

SHANGHAI = ZoneInfo("Asia/Shanghai")


# -- callers and clients ------------------------------------------------------------------------


async def make_people(suite: Suite) -> People:
    """The company's callers, its headquarters manager added to the directory."""
    people = People.of(await make_org(suite))
    await add_hq_manager(suite, people.org, people.hq_manager.id)
    return people


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
        request = pb.ListOrdersRequest(filter=pb.OrderFilter(**filter_), page=PAGE)
        return list((await self.call(principal, self.orders.ListOrders, request)).orders)

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
