"""Orders (the orders service's ``OrdersService``, O1–O3): submission, approval chain,
status machine.

Amounts are ``Money`` (a Decimal and its currency); inputs take a ``Decimal`` in the
currency they name once (see schema/orders_mutations.py).
Links to customers, employees and teams go through the request's DataLoaders, so a
page costs a fixed number of calls; an order's payments and shipments
(schema/payments.py) cost one call per order and are asked for only when selected.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import strawberry

from salesguard_api.orders.v1 import orders_pb2, payments_pb2
from salesguard_gateway.context import Info
from salesguard_gateway.schema.codes import AlertKind, ApprovalRole, codes_of
from salesguard_gateway.schema.common import Connection, described
from salesguard_gateway.schema.conversions import (
    Money,
    amount,
    converted,
    enum_numbers,
    money,
    optional,
    optional_money,
    to_timestamp,
)
from salesguard_gateway.schema.customers import CUSTOMER
from salesguard_gateway.schema.enums import OrderStatus, PaymentState, SourceChannel, StepStatus
from salesguard_gateway.schema.links import Link
from salesguard_gateway.schema.nodes import GlobalID, Node, raw_id, reference
from salesguard_gateway.schema.people import BRANCH, EMPLOYEE, TEAM
from salesguard_gateway.schema.resolvers import Listing, by_id, listed, owned

if TYPE_CHECKING:
    from salesguard_gateway.schema.payments import Shipment


# --- orders ------------------------------------------------------------------------


@strawberry.type(description="One line of an order (O1).")
class OrderLine:
    sku: str = strawberry.field(description="The product's SKU, as the rep entered it.")
    description: str | None = strawberry.field(
        description="What the line is for, as the rep entered it; null if nothing."
    )
    quantity: Decimal = strawberry.field(description="Up to 3 decimals.")
    unit_price: Money = strawberry.field(description="In the order's currency.")
    discount_percent: Decimal = strawberry.field(description="0–100.")
    line_total: Money = strawberry.field(
        description="Quantity × unitPrice × (1 − discount), rounded half-up to the cent."
    )


def order_line_from_proto(message: orders_pb2.OrderLine, currency: str) -> OrderLine:
    return OrderLine(
        sku=message.sku,
        description=optional(message.description),
        quantity=amount(message.quantity),
        unit_price=money(message.unit_price, currency),
        discount_percent=amount(message.discount_percent),
        line_total=money(message.line_total, currency),
    )


@strawberry.type(description="One step of an order's approval chain (O2).")
class ApprovalStep:
    sequence: int = strawberry.field(
        description="Position in the chain, from 1; steps are decided in this order."
    )
    role: ApprovalRole | None = strawberry.field(
        description=(
            "The role the approver must hold; null only for a role newer than the gateway "
            "(it logs a warning)."
        )
    )
    status: StepStatus | None = strawberry.field(
        description="PENDING until decided; the lowest pending step is the one to decide now."
    )
    comment: str | None = strawberry.field(
        description="The approver's comment; null if none or while pending."
    )
    decided_at: datetime | None = strawberry.field(
        description="When the step was decided; null while pending."
    )
    reason: str | None = strawberry.field(
        description='Why the chain has this step, e.g. "total above 100000.00 CNY".'
    )
    approver_id: strawberry.Private[str]

    approver_id_field = reference(
        "Employee",
        "approver_id",
        "approverId",
        "Who decided the step, also when the caller may not see them in the directory.",
    )

    approver = EMPLOYEE.field(
        "approver_id", "Who decided the step; null while pending or when not visible to the caller."
    )


def approval_step_from_proto(message: orders_pb2.ApprovalStep) -> ApprovalStep:
    return converted(ApprovalStep, message)


@strawberry.type(
    description=(
        "An order (O1), tied to its customer, owner, submitter, approvals, payments and "
        "shipments. A rep sees the orders they submitted, a manager their branch's (a "
        "headquarters manager: all), HR and finance every order; nobody else. Outside that "
        "scope an order is NOT_FOUND or left out of lists."
    )
)
class Order(Node):
    code: str = strawberry.field(description='Readable, e.g. "O-000123"; bank transfers quote it.')
    lines: list[OrderLine] = strawberry.field(description="The order's lines, as submitted.")
    currency: str = strawberry.field(
        description='ISO 4217, e.g. "CNY": every amount of the order is in it.'
    )
    total: Money = strawberry.field(description="The sum of the lines' totals.")
    order_date: date | None = strawberry.field(
        description="The order's day in the submitter's branch time zone; never in the future."
    )
    expected_payment_date: date | None = strawberry.field(
        description="When payment is due: as submitted, or the order date plus the service's "
        "payment terms."
    )
    source_claim: SourceChannel | None = strawberry.field(
        description="The source channel the rep claims for the deal."
    )
    registered_source: SourceChannel | None = strawberry.field(
        description="The customer's source channel in the registry when the order was submitted."
    )
    status: OrderStatus | None = strawberry.field(
        description="SUBMITTED → APPROVED | REJECTED → FULFILLED → CLOSED, or CANCELLED from "
        "SUBMITTED or APPROVED (O1)."
    )
    approval_steps: list[ApprovalStep] = strawberry.field(
        description="The approval chain (O2), by sequence: a manager of the branch always; "
        "finance and a headquarters manager above the amount and discount thresholds "
        "(settings)."
    )
    flags: list[AlertKind] = strawberry.field(
        description="Raised at submission: ATTRIBUTION_MISMATCH, UNREGISTERED_CUSTOMER (O3), "
        "SOURCE_CONFLICT (M3: the personal channel claimed for a company-channel customer)."
    )
    submitted_at: datetime | None = strawberry.field(description="When it was submitted.")
    updated_at: datetime | None = strawberry.field(
        description="When it last changed (a decision, a transition, its first shipment)."
    )
    payment_state: PaymentState | None = strawberry.field(
        description="As of the last reconciliation; null before the first."
    )
    paid_amount: Money | None = strawberry.field(
        description="Matched payments, as of the last reconciliation; null before the first."
    )
    fully_paid_at: datetime | None = strawberry.field(
        description="When the matched payments first covered the total."
    )
    shipped: bool = strawberry.field(description="Whether a shipment has been recorded.")
    promised_ship_date: date | None = strawberry.field(
        description="The day the goods are promised to ship, from the latest back-order "
        "(recordBackOrder); null when none. The fake-deal check waits for it too."
    )
    note: str | None = strawberry.field(
        description="The submitter's note, followed by each transition's reason as "
        '"[STATUS day by employee ID] reason"; null if none.'
    )
    customer_id: strawberry.Private[str]
    owner_id: strawberry.Private[str]
    submitted_by_id: strawberry.Private[str]
    team_id: strawberry.Private[str]
    branch_id: strawberry.Private[str]

    customer = CUSTOMER.field("customer_id", "Null when the caller may not see the customer.")
    owner = EMPLOYEE.field("owner_id", "The customer's owner when the order was submitted.")
    submitted_by = EMPLOYEE.field(
        "submitted_by_id",
        "The rep who submitted it, credited with its commission (M2); null when not visible "
        "to the caller.",
    )
    team = TEAM.field("team_id", "The submitter's team at submission; null if none.")
    branch = BRANCH.field("branch_id", "The submitter's branch at submission.")

    payments = owned(
        "salesguard_gateway.schema.payments",
        "Payment",
        "PAYMENTS",
        "order_id",
        "Payments matched to this order or recorded for it, newest first (one call per order). "
        "Finance and HR see them all, a manager their branch's; anyone else is FORBIDDEN.",
    )

    @described(
        "Shipments of this order by shipping time, oldest first (one call per order); "
        "whoever may see the order."
    )
    async def shipments(
        self, info: Info
    ) -> list[Annotated[Shipment, strawberry.lazy("salesguard_gateway.schema.payments")]] | None:
        from salesguard_gateway.schema.payments import shipment_from_proto

        response = await info.context.clients.payments.ListShipments(
            payments_pb2.ListShipmentsRequest(order_id=str(self.id))
        )
        return [shipment_from_proto(message) for message in response.shipments]


def order_from_proto(message: orders_pb2.Order) -> Order:
    return converted(
        Order,
        message,
        lines=[order_line_from_proto(line, message.currency) for line in message.lines],
        total=money(message.total, message.currency),
        approval_steps=[approval_step_from_proto(step) for step in message.approval_steps],
        flags=codes_of(AlertKind, message.flags),
        paid_amount=optional_money(message.paid_amount, message.currency),
        submitted_by_id=message.submitted_by,
    )


# Through the request's BatchGetOrders loader.
ORDER = Link(Order, lambda info: info.context.loaders.orders.load, order_from_proto)
load_order = ORDER.load


OrderConnection = Connection[Order]


@strawberry.input(
    description="Which orders to list, within the caller's scope; the conditions given all apply."
)
class OrderFilter:
    customer_id: GlobalID | None = strawberry.field(
        default=None, description="Only orders for this customer (a customer's ID)."
    )
    submitted_by: GlobalID | None = strawberry.field(
        default=None, description="Only orders submitted by this employee (an employee's ID)."
    )
    statuses: list[OrderStatus] | None = strawberry.field(
        default=None, description="Only orders in one of these statuses."
    )
    payment_states: list[PaymentState] | None = strawberry.field(
        default=None, description="Only orders in one of these payment states."
    )
    submitted_from: datetime | None = strawberry.field(
        default=None, description="Only orders submitted at or after this moment."
    )
    submitted_to: datetime | None = strawberry.field(
        default=None, description="Only orders submitted before this moment."
    )
    awaiting_my_decision: bool = strawberry.field(
        default=False, description="Only orders waiting for a step the caller may decide."
    )
    code: str | None = strawberry.field(default=None, description='Exact, e.g. "O-000123".')

    def to_proto(self) -> orders_pb2.OrderFilter:
        return orders_pb2.OrderFilter(
            customer_id=raw_id(self.customer_id, "Customer", "filter.customerId"),
            submitted_by=raw_id(self.submitted_by, "Employee", "filter.submittedBy"),
            statuses=enum_numbers(self.statuses),
            payment_states=enum_numbers(self.payment_states),
            submitted_from=to_timestamp(self.submitted_from),
            submitted_to=to_timestamp(self.submitted_to),
            awaiting_my_decision=self.awaiting_my_decision,
            code=self.code or "",
        )


ORDERS = Listing(
    "orders", orders_pb2.ListOrdersRequest, "orders", order_from_proto, orders_pb2.OrderFilter
)


async def read_order(info: Info, order_id: str) -> Order:
    response = await info.context.clients.orders.GetOrder(orders_pb2.GetOrderRequest(id=order_id))
    return order_from_proto(response.order)


@strawberry.type
class OrdersQuery:
    order = by_id(
        Order,
        "The order's ID.",
        read_order,
        "One order; null (NOT_FOUND) when unknown or outside the caller's scope.",
    )
    orders = listed(
        Order,
        ORDERS.first,
        OrderFilter,
        "Which orders to list.",
        "Orders the caller may see (see Order), newest submitted first.",
    )
