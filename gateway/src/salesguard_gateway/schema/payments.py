"""Payments, shipments and reconciliation (the orders service's ``PaymentsService`` and
``ReconciliationService``, O4–O6): payments one by one or from a bank statement,
reversals, shipments, matching payments to orders.

Links to orders, customers and employees go through the request's DataLoaders.
"""

from __future__ import annotations

from datetime import date, datetime

import strawberry

from salesguard_api.orders.v1 import payments_pb2
from salesguard_gateway.context import Info
from salesguard_gateway.schema.common import (
    Connection,
    Money,
    PageInfo,
    civil_date,
    connection,
    described,
    enum_numbers,
    filter_proto,
    from_civil_date,
    from_timestamp,
    money,
    optional,
    page_of,
    page_request,
    to_timestamp,
)
from salesguard_gateway.schema.customers import CUSTOMER
from salesguard_gateway.schema.enums import (
    PaymentState,
    ReversalKind,
    payment_state_of,
    reversal_kind_of,
)
from salesguard_gateway.schema.nodes import GlobalID, Node, raw_id
from salesguard_gateway.schema.orders import ORDER, Order, order_from_proto
from salesguard_gateway.schema.people import BRANCH, EMPLOYEE

# --- payments and shipments ----------------------------------------------------------


@strawberry.type(
    description="A payment received (O4); never deleted, a reversal is recorded on it."
)
class Payment(Node):
    bank_reference: str = strawberry.field(
        description="Unique: the same bank line recorded twice is one payment."
    )
    payer_name: str
    payer_account: str | None
    amount: Money
    currency: str = strawberry.field(description='ISO 4217, e.g. "CNY" (the amount\'s).')
    paid_at: datetime | None
    reference_text: str | None = strawberry.field(
        description="The remittance text, which may quote an order code."
    )
    voucher_key: str | None = strawberry.field(
        description="The voucher photo's key, from createPaymentUpload."
    )
    matched_by: str | None = strawberry.field(
        description='How reconciliation matched it: "ORDER_CODE" or "CUSTOMER_AMOUNT"; '
        "null while unmatched."
    )
    reversed: bool
    reversal_kind: ReversalKind | None
    reversal_reason: str | None
    reversed_at: datetime | None
    recorded_at: datetime | None
    order_id: strawberry.Private[str]
    customer_id: strawberry.Private[str]
    reversed_by_id: strawberry.Private[str]
    recorded_by_id: strawberry.Private[str]
    branch_id: strawberry.Private[str]

    order = ORDER.field(
        "order_id", "The order it was matched to; null when unmatched or not visible."
    )
    customer = CUSTOMER.field(
        "customer_id", "The paying customer, once matched; null when not visible."
    )
    reversed_by = EMPLOYEE.field("reversed_by_id")
    recorded_by = EMPLOYEE.field("recorded_by_id")
    branch = BRANCH.field("branch_id")


def payment_from_proto(message: payments_pb2.Payment) -> Payment:
    return Payment(
        id=message.id,
        bank_reference=message.bank_reference,
        payer_name=message.payer_name,
        payer_account=optional(message.payer_account),
        amount=money(message.amount, message.currency),
        currency=message.currency,
        paid_at=from_timestamp(message.paid_at),
        reference_text=optional(message.reference_text),
        voucher_key=optional(message.voucher_key),
        matched_by=optional(message.matched_by),
        reversed=message.reversed,
        reversal_kind=reversal_kind_of(message.reversal_kind),
        reversal_reason=optional(message.reversal_reason),
        reversed_at=from_timestamp(message.reversed_at),
        recorded_at=from_timestamp(message.recorded_at),
        order_id=message.order_id,
        customer_id=message.customer_id,
        reversed_by_id=message.reversed_by,
        recorded_by_id=message.recorded_by,
        branch_id=message.branch_id,
    )


PaymentConnection = Connection[Payment]


@strawberry.input
class PaymentFilter:
    order_id: GlobalID | None = None
    customer_id: GlobalID | None = None
    unmatched_only: bool = False
    paid_from: datetime | None = None
    paid_to: datetime | None = None

    def to_proto(self) -> payments_pb2.PaymentFilter:
        return payments_pb2.PaymentFilter(
            order_id=raw_id(self.order_id, "Order", "filter.orderId"),
            customer_id=raw_id(self.customer_id, "Customer", "filter.customerId"),
            unmatched_only=self.unmatched_only,
            paid_from=to_timestamp(self.paid_from),
            paid_to=to_timestamp(self.paid_to),
        )


async def list_payments(
    info: Info,
    first: int | None,
    after: str | None,
    filter: PaymentFilter | None = None,
    *,
    order_id: str | None = None,
) -> PaymentConnection:
    request = payments_pb2.ListPaymentsRequest(
        filter=filter_proto(filter, payments_pb2.PaymentFilter, order_id=order_id),
        page=page_request(first, after, info),
    )
    response = await info.context.clients.payments.ListPayments(request)
    return page_of(response, response.payments, payment_from_proto)


@strawberry.type(description="A shipment of an order (O4).")
class Shipment(Node):
    carrier: str
    tracking_number: str
    shipped_at: datetime | None
    delivered_at: datetime | None
    recorded_at: datetime | None
    order_id: strawberry.Private[str]

    order = ORDER.field("order_id")


def shipment_from_proto(message: payments_pb2.Shipment) -> Shipment:
    return Shipment(
        id=message.id,
        carrier=message.carrier,
        tracking_number=message.tracking_number,
        shipped_at=from_timestamp(message.shipped_at),
        delivered_at=from_timestamp(message.delivered_at),
        recorded_at=from_timestamp(message.recorded_at),
        order_id=message.order_id,
    )


# --- reconciliation ------------------------------------------------------------------


@strawberry.type(description="One order as reconciliation classifies it (O5).")
class ReconciliationItem:
    order: Order
    status: PaymentState | None
    paid: Money = strawberry.field(description="Matched payments, in the order's currency.")
    due: Money = strawberry.field(description="What remains to be paid (zero when covered).")
    expected_payment_date: date | None
    past_due: bool = strawberry.field(description="Unpaid and due before the day asked for.")
    cursor: str = strawberry.field(description="Resume right after this item.")


@strawberry.type(
    description=(
        "Orders classified by their payments (O5), longest overdue first, and the payments "
        "no order matched."
    )
)
class Reconciliation:
    as_of: date | None = strawberry.field(description="The day asked for; null: today.")
    items: list[ReconciliationItem]
    page_info: PageInfo
    total_count: int
    unmatched_payments: list[Payment] = strawberry.field(
        description=(
            "Payments no order matched, received up to asOf, newest first (at most a page); "
            "given with the first page only."
        )
    )


def reconciliation_from_proto(
    as_of: date | None, response: payments_pb2.GetReconciliationResponse
) -> Reconciliation:
    page = connection(list(response.items), response.cursors, response.page_info)
    return Reconciliation(
        as_of=as_of,
        items=[
            ReconciliationItem(
                order=order_from_proto(edge.node.order),
                status=payment_state_of(edge.node.state),
                paid=money(edge.node.paid, edge.node.order.currency),
                due=money(edge.node.due, edge.node.order.currency),
                expected_payment_date=from_civil_date(edge.node.expected_payment_date),
                past_due=edge.node.past_due,
                cursor=edge.cursor,
            )
            for edge in page.edges
        ],
        page_info=page.page_info,
        total_count=page.total_count,
        unmatched_payments=[payment_from_proto(message) for message in response.unmatched_payments],
    )


@strawberry.type
class PaymentsQuery:
    @described("Payments the caller may see, newest first.")
    async def payments(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        filter: PaymentFilter | None = None,
    ) -> PaymentConnection | None:
        return await list_payments(info, first, after, filter)

    @described(
        "Orders dated up to asOf (default: today in the caller's branch) with the "
        "classification the latest runReconciliation gave them (O5; this query only reads), "
        "the longest overdue first, a "
        "page at a time; and the payments no order matched, received up to the end of asOf."
    )
    async def reconciliation(
        self,
        info: Info,
        as_of: date | None = None,
        states: list[PaymentState] | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Reconciliation | None:
        request = payments_pb2.GetReconciliationRequest(
            as_of=civil_date(as_of),
            states=enum_numbers(states),
            page=page_request(first, after, info),
        )
        response = await info.context.clients.reconciliation.GetReconciliation(request)
        return reconciliation_from_proto(as_of, response)
