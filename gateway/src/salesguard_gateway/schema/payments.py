"""Payments, shipments and reconciliation (the orders service's ``PaymentsService`` and
``ReconciliationService``, O4–O6): payments one by one or from a bank statement,
reversals, shipments, matching payments to orders.

Links to orders, customers and employees go through the request's DataLoaders.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import strawberry

from salesguard_api.orders.v1 import payments_pb2
from salesguard_gateway.context import Info
from salesguard_gateway.schema.arguments import AFTER, FIRST
from salesguard_gateway.schema.common import (
    Connection,
    PageInfo,
    connection,
    described,
    page_request,
)
from salesguard_gateway.schema.conversions import (
    Money,
    civil_date,
    converted,
    enum_numbers,
    from_civil_date,
    money,
    to_timestamp,
)
from salesguard_gateway.schema.customers import CUSTOMER
from salesguard_gateway.schema.enums import (
    PaymentState,
    ReversalKind,
    payment_state_of,
)
from salesguard_gateway.schema.nodes import GlobalID, Node, raw_id
from salesguard_gateway.schema.orders import ORDER, Order, order_from_proto
from salesguard_gateway.schema.people import BRANCH, EMPLOYEE
from salesguard_gateway.schema.resolvers import Listing, listed

# --- payments and shipments ----------------------------------------------------------


@strawberry.type(
    description="A payment received (O4); never deleted, a reversal is recorded on it. Finance "
    "and HR see every payment, a manager those of their branch's orders (a headquarters "
    "manager: all); nobody else."
)
class Payment(Node):
    bank_reference: str = strawberry.field(
        description="Unique: the same bank line recorded twice is one payment."
    )
    payer_name: str = strawberry.field(description="Who paid, as the bank line names them.")
    payer_account: str | None = strawberry.field(
        description="The payer's bank account; null if not given."
    )
    amount: Money = strawberry.field(
        description="What was paid, positive (a reversal leaves it as it was)."
    )
    currency: str = strawberry.field(description='ISO 4217, e.g. "CNY" (the amount\'s).')
    paid_at: datetime | None = strawberry.field(description="When the money arrived.")
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
    reversed: bool = strawberry.field(
        description="Whether it was refunded or charged back; a reversed payment pays nothing."
    )
    reversal_kind: ReversalKind | None = strawberry.field(
        description="REFUND or CHARGEBACK; null unless reversed."
    )
    reversal_reason: str | None = strawberry.field(
        description="Why it was reversed; null unless reversed."
    )
    reversed_at: datetime | None = strawberry.field(
        description="When it was reversed; null unless reversed."
    )
    recorded_at: datetime | None = strawberry.field(
        description="When finance recorded or imported it."
    )
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
    reversed_by = EMPLOYEE.field(
        "reversed_by_id", "Who reversed it; null unless reversed, or when not visible."
    )
    recorded_by = EMPLOYEE.field(
        "recorded_by_id", "Who recorded or imported it; null when not visible to the caller."
    )
    branch = BRANCH.field(
        "branch_id",
        "The branch of its order (matched, or named when recorded); null while it has none: "
        "then only finance and HR see the payment.",
    )


def payment_from_proto(message: payments_pb2.Payment) -> Payment:
    return converted(
        Payment,
        message,
        amount=money(message.amount, message.currency),
        reversed_by_id=message.reversed_by,
        recorded_by_id=message.recorded_by,
    )


PaymentConnection = Connection[Payment]


@strawberry.input(
    description="Which payments to list, within the caller's scope; the conditions given all apply."
)
class PaymentFilter:
    order_id: GlobalID | None = strawberry.field(
        default=None,
        description="Only payments matched to this order, or recorded for it (an order's ID).",
    )
    customer_id: GlobalID | None = strawberry.field(
        default=None, description="Only payments of this customer (a customer's ID), once matched."
    )
    unmatched_only: bool = strawberry.field(
        default=False, description="Only payments no order matched."
    )
    paid_from: datetime | None = strawberry.field(
        default=None, description="Only payments received at or after this moment."
    )
    paid_to: datetime | None = strawberry.field(
        default=None, description="Only payments received before this moment."
    )

    def to_proto(self) -> payments_pb2.PaymentFilter:
        return payments_pb2.PaymentFilter(
            order_id=raw_id(self.order_id, "Order", "filter.orderId"),
            customer_id=raw_id(self.customer_id, "Customer", "filter.customerId"),
            unmatched_only=self.unmatched_only,
            paid_from=to_timestamp(self.paid_from),
            paid_to=to_timestamp(self.paid_to),
        )


PAYMENTS = Listing(
    "payments",
    payments_pb2.ListPaymentsRequest,
    "payments",
    payment_from_proto,
    payments_pb2.PaymentFilter,
)


@strawberry.type(
    description="A shipment of an order (O4); whoever may see the order sees its shipments."
)
class Shipment(Node):
    carrier: str = strawberry.field(description="The carrier's name.")
    tracking_number: str = strawberry.field(description="The carrier's tracking number.")
    shipped_at: datetime | None = strawberry.field(description="When the parcel left.")
    delivered_at: datetime | None = strawberry.field(
        description="When it was delivered; null until recorded."
    )
    recorded_at: datetime | None = strawberry.field(description="When it was recorded.")
    order_id: strawberry.Private[str]

    order = ORDER.field("order_id", "The order shipped; null when the caller may not see it.")


def shipment_from_proto(message: payments_pb2.Shipment) -> Shipment:
    return converted(Shipment, message)


@strawberry.type(
    description="An approved order whose goods cannot ship yet, and the day they are promised "
    "to ship (O4); whoever may see the order sees it."
)
class BackOrder:
    promised_ship_date: date | None = strawberry.field(
        description="The day the goods are promised to ship."
    )
    reason: str = strawberry.field(description="Why they cannot ship yet.")
    recorded_at: datetime | None = strawberry.field(description="When it was recorded.")
    order_id: strawberry.Private[str]

    order = ORDER.field("order_id", "The order back-ordered; null when the caller may not see it.")


def back_order_from_proto(message: payments_pb2.BackOrder) -> BackOrder:
    return converted(BackOrder, message)


# --- reconciliation ------------------------------------------------------------------


@strawberry.type(description="One order as reconciliation classifies it (O5).")
class ReconciliationItem:
    order: Order = strawberry.field(description="The order classified.")
    status: PaymentState | None = strawberry.field(
        description="UNPAID, PARTIALLY_PAID, RECONCILED or OVERPAID, from its matched payments "
        "that are not reversed."
    )
    paid: Money = strawberry.field(description="Matched payments, in the order's currency.")
    due: Money = strawberry.field(description="What remains to be paid (zero when covered).")
    expected_payment_date: date | None = strawberry.field(
        description="When payment is due; items are by it, the earliest first."
    )
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
    items: list[ReconciliationItem] = strawberry.field(
        description="Approved, fulfilled and closed orders dated up to asOf, a page of them."
    )
    page_info: PageInfo = strawberry.field(
        description="Where the page of items stands: ask again with after: endCursor."
    )
    total_count: int = strawberry.field(description="How many orders match, across all pages.")
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
    payments = listed(
        Payment,
        PAYMENTS.first,
        PaymentFilter,
        "Which payments to list.",
        "Payments the caller may see (see Payment), newest received first; anyone but finance, "
        "HR and managers is FORBIDDEN.",
    )

    @described(
        "Orders dated up to asOf (default: today in the caller's branch) with the "
        "classification the latest runReconciliation gave them (O5; this query only reads), "
        "the longest overdue first, a "
        "page at a time; and the payments no order matched, received up to the end of asOf. "
        "Finance sees every branch, a manager their own (a headquarters manager: all); anyone "
        "else is FORBIDDEN."
    )
    async def reconciliation(
        self,
        info: Info,
        as_of: Annotated[
            date | None,
            strawberry.argument(
                description="The day to classify as of; omitted: today in the caller's branch."
            ),
        ] = None,
        states: Annotated[
            list[PaymentState] | None,
            strawberry.argument(description="Only orders in one of these payment states."),
        ] = None,
        first: Annotated[int | None, strawberry.argument(description=FIRST)] = None,
        after: Annotated[str | None, strawberry.argument(description=AFTER)] = None,
    ) -> Reconciliation | None:
        request = payments_pb2.GetReconciliationRequest(
            as_of=civil_date(as_of),
            states=enum_numbers(states),
            page=page_request(first, after, info),
        )
        response = await info.context.clients.reconciliation.GetReconciliation(request)
        return reconciliation_from_proto(as_of, response)
