"""Orders, payments, shipments and reconciliation (the orders service, O1–O6).

Three contracts of one service: ``OrdersService`` (submission, approval chain,
status machine), ``PaymentsService`` (payments one by one or from a bank
statement, reversals, shipments, uploads) and ``ReconciliationService``
(matching payments to orders, the diversion detector).

Money is the ``Decimal`` scalar both ways. Inputs go to the service as the
strings the client typed: the service checks places, sign and range and answers
``VALIDATION`` naming the field (e.g. ``lines[0].unit_price``), which the
gateway passes on in ``extensions.field``. Links to customers, employees and
orders go through the request's DataLoaders, so a page costs a fixed number of
calls; an order's payments and shipments cost one call per order and are asked
for only when selected.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import strawberry

from salesguard.common.v1 import common_pb2
from salesguard.customers.v1 import customers_pb2
from salesguard.errors import InvalidInput
from salesguard.orders.v1 import orders_pb2, payments_pb2
from salesguard_gateway.context import Info
from salesguard_gateway.schema.common import (
    JSON,
    Connection,
    PageInfo,
    civil_date,
    connection,
    described,
    enum_numbers,
    from_civil_date,
    from_timestamp,
    idempotency_key_field,
    optional,
    page_request,
    to_timestamp,
)
from salesguard_gateway.schema.customers import CUSTOMER
from salesguard_gateway.schema.enums import (
    OrderStatus,
    PaymentState,
    ReversalKind,
    SourceChannel,
    StepStatus,
    UploadPurpose,
    order_status_of,
    payment_state_of,
    reversal_kind_of,
    source_of,
    step_status_of,
)
from salesguard_gateway.schema.links import Link
from salesguard_gateway.schema.people import BRANCH, EMPLOYEE, TEAM

# --- enums -------------------------------------------------------------------------


# --- money -------------------------------------------------------------------------


def money(value: common_pb2.Decimal) -> Decimal | None:
    """A service's Decimal; None when unset."""
    return Decimal(value.value) if value.value else None


def amount(value: common_pb2.Decimal) -> Decimal:
    """A Decimal the service always sets (totals, prices, amounts)."""
    return Decimal(value.value or "0")


def to_decimal(value: Decimal | None) -> common_pb2.Decimal | None:
    """As the client wrote it: the service checks places and sign and names the field."""
    return common_pb2.Decimal(value=str(value)) if value is not None else None


# --- orders ------------------------------------------------------------------------


@strawberry.type
class OrderLine:
    sku: str
    description: str | None
    quantity: Decimal = strawberry.field(description="Up to 3 decimals.")
    unit_price: Decimal = strawberry.field(description="In the order's currency.")
    discount_percent: Decimal = strawberry.field(description="0–100.")
    line_total: Decimal = strawberry.field(
        description="quantity × unitPrice × (1 − discount), rounded half-up to the cent."
    )


def order_line_from_proto(message: orders_pb2.OrderLine) -> OrderLine:
    return OrderLine(
        sku=message.sku,
        description=optional(message.description),
        quantity=amount(message.quantity),
        unit_price=amount(message.unit_price),
        discount_percent=amount(message.discount_percent),
        line_total=amount(message.line_total),
    )


@strawberry.type(description="One step of an order's approval chain (O2).")
class ApprovalStep:
    sequence: int
    role: str = strawberry.field(
        description=(
            "The role the approver must hold: MANAGER (of the order's branch), FINANCE or "
            "HQ_MANAGER (a manager of a headquarters branch)."
        )
    )
    status: StepStatus | None
    comment: str | None
    decided_at: datetime | None
    reason: str | None = strawberry.field(
        description='Why the chain has this step, e.g. "total above 100000.00 CNY".'
    )
    approver_id: strawberry.ID | None = strawberry.field(
        description="Who decided the step, also when the caller may not see them in the directory."
    )

    approver = EMPLOYEE.field(
        "approver_id", "Who decided the step; null while pending or when not visible to the caller."
    )


def approval_step_from_proto(message: orders_pb2.ApprovalStep) -> ApprovalStep:
    return ApprovalStep(
        sequence=message.sequence,
        role=message.role,
        status=step_status_of(message.status),
        comment=optional(message.comment),
        decided_at=from_timestamp(message.decided_at),
        reason=optional(message.reason),
        approver_id=strawberry.ID(message.approver_id) if message.approver_id else None,
    )


@strawberry.type(
    description=(
        "An order (O1), tied to its customer, owner, submitter, approvals, payments and shipments."
    )
)
class Order:
    id: strawberry.ID
    code: str = strawberry.field(description='Readable, e.g. "O-000123"; bank transfers quote it.')
    lines: list[OrderLine]
    currency: str = strawberry.field(description='ISO 4217, e.g. "CNY".')
    total: Decimal
    order_date: date | None
    expected_payment_date: date | None
    source_claim: SourceChannel | None = strawberry.field(
        description="The source channel the rep claims for the deal."
    )
    registered_source: SourceChannel | None = strawberry.field(
        description="The customer's source channel in the registry when the order was submitted."
    )
    status: OrderStatus | None
    approval_steps: list[ApprovalStep]
    flags: list[str] = strawberry.field(
        description="Raised at submission: ATTRIBUTION_MISMATCH, UNREGISTERED_CUSTOMER (O3)."
    )
    submitted_at: datetime | None
    updated_at: datetime | None
    payment_state: PaymentState | None = strawberry.field(
        description="As of the last reconciliation; null before the first."
    )
    paid_amount: Decimal | None = strawberry.field(
        description="Matched payments, as of the last reconciliation."
    )
    fully_paid_at: datetime | None = strawberry.field(
        description="When the matched payments first covered the total."
    )
    shipped: bool
    note: str | None
    customer_id: strawberry.Private[str]
    owner_id: strawberry.Private[str]
    submitted_by_id: strawberry.Private[str]
    team_id: strawberry.Private[str]
    branch_id: strawberry.Private[str]

    customer = CUSTOMER.field("customer_id", "Null when the caller may not see the customer.")
    owner = EMPLOYEE.field("owner_id", "The customer's owner when the order was submitted.")
    submitted_by = EMPLOYEE.field("submitted_by_id")
    team = TEAM.field("team_id")
    branch = BRANCH.field("branch_id")

    @described("Payments matched to this order, as far as the caller may see (one call per order).")
    async def payments(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> PaymentConnection | None:
        return await list_payments(info, first, after, order_id=str(self.id))

    @described("Shipments of this order (one call per order).")
    async def shipments(self, info: Info) -> list[Shipment] | None:
        response = await info.context.clients.payments.ListShipments(
            payments_pb2.ListShipmentsRequest(order_id=str(self.id))
        )
        return [shipment_from_proto(message) for message in response.shipments]


def order_from_proto(message: orders_pb2.Order) -> Order:
    return Order(
        id=strawberry.ID(message.id),
        code=message.code,
        lines=[order_line_from_proto(line) for line in message.lines],
        currency=message.currency,
        total=amount(message.total),
        order_date=from_civil_date(message.order_date),
        expected_payment_date=from_civil_date(message.expected_payment_date),
        source_claim=source_of(message.source_claim),
        registered_source=source_of(message.registered_source),
        status=order_status_of(message.status),
        approval_steps=[approval_step_from_proto(step) for step in message.approval_steps],
        flags=list(message.flags),
        submitted_at=from_timestamp(message.submitted_at),
        updated_at=from_timestamp(message.updated_at),
        payment_state=payment_state_of(message.payment_state),
        paid_amount=money(message.paid_amount),
        fully_paid_at=from_timestamp(message.fully_paid_at),
        shipped=message.shipped,
        note=optional(message.note),
        customer_id=message.customer_id,
        owner_id=message.owner_id,
        submitted_by_id=message.submitted_by,
        team_id=message.team_id,
        branch_id=message.branch_id,
    )


# Through the request's BatchGetOrders loader.
ORDER = Link(Order, lambda info: info.context.loaders.orders.load, order_from_proto)
load_order = ORDER.load


OrderConnection = Connection[Order]


@strawberry.input
class OrderFilter:
    customer_id: strawberry.ID | None = None
    submitted_by: strawberry.ID | None = None
    statuses: list[OrderStatus] | None = None
    payment_states: list[PaymentState] | None = None
    submitted_from: datetime | None = None
    submitted_to: datetime | None = None
    awaiting_my_decision: bool = strawberry.field(
        default=False, description="Only orders waiting for a step the caller may decide."
    )
    code: str | None = strawberry.field(default=None, description='Exact, e.g. "O-000123".')

    def to_proto(self) -> orders_pb2.OrderFilter:
        return orders_pb2.OrderFilter(
            customer_id=self.customer_id or "",
            submitted_by=self.submitted_by or "",
            statuses=enum_numbers(self.statuses),
            payment_states=enum_numbers(self.payment_states),
            submitted_from=to_timestamp(self.submitted_from),
            submitted_to=to_timestamp(self.submitted_to),
            awaiting_my_decision=self.awaiting_my_decision,
            code=self.code or "",
        )


async def list_orders(
    info: Info,
    first: int | None,
    after: str | None,
    filter: OrderFilter | None = None,
    *,
    submitted_by: str | None = None,
) -> OrderConnection:
    proto_filter = filter.to_proto() if filter is not None else orders_pb2.OrderFilter()
    if submitted_by is not None:
        proto_filter.submitted_by = submitted_by
    request = orders_pb2.ListOrdersRequest(
        filter=proto_filter, page=page_request(first, after, info)
    )
    response = await info.context.clients.orders.ListOrders(request)
    orders = [order_from_proto(message) for message in response.orders]
    return connection(orders, response.cursors, response.page_info)


# --- payments and shipments ----------------------------------------------------------


@strawberry.type(
    description="A payment received (O4); never deleted, a reversal is recorded on it."
)
class Payment:
    id: strawberry.ID
    bank_reference: str = strawberry.field(
        description="Unique: the same bank line recorded twice is one payment."
    )
    payer_name: str
    payer_account: str | None
    amount: Decimal
    currency: str
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
        id=strawberry.ID(message.id),
        bank_reference=message.bank_reference,
        payer_name=message.payer_name,
        payer_account=optional(message.payer_account),
        amount=amount(message.amount),
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
    order_id: strawberry.ID | None = None
    customer_id: strawberry.ID | None = None
    unmatched_only: bool = False
    paid_from: datetime | None = None
    paid_to: datetime | None = None

    def to_proto(self) -> payments_pb2.PaymentFilter:
        return payments_pb2.PaymentFilter(
            order_id=self.order_id or "",
            customer_id=self.customer_id or "",
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
    proto_filter = filter.to_proto() if filter is not None else payments_pb2.PaymentFilter()
    if order_id is not None:
        proto_filter.order_id = order_id
    request = payments_pb2.ListPaymentsRequest(
        filter=proto_filter, page=page_request(first, after, info)
    )
    response = await info.context.clients.payments.ListPayments(request)
    payments = [payment_from_proto(message) for message in response.payments]
    return connection(payments, response.cursors, response.page_info)


@strawberry.type(description="A shipment of an order (O4).")
class Shipment:
    id: strawberry.ID
    carrier: str
    tracking_number: str
    shipped_at: datetime | None
    delivered_at: datetime | None
    recorded_at: datetime | None
    order_id: strawberry.Private[str]

    order = ORDER.field("order_id")


def shipment_from_proto(message: payments_pb2.Shipment) -> Shipment:
    return Shipment(
        id=strawberry.ID(message.id),
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
    paid: Decimal
    due: Decimal = strawberry.field(description="What remains to be paid (zero when covered).")
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
                paid=amount(edge.node.paid),
                due=amount(edge.node.due),
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


# --- mutations' inputs and payloads --------------------------------------------------


@strawberry.input
class OrderLineInput:
    sku: str
    description: str | None = None
    quantity: Decimal = strawberry.field(description="Positive, up to 3 decimals.")
    unit_price: Decimal = strawberry.field(description="Up to 2 decimals, not negative.")
    discount_percent: Decimal | None = strawberry.field(
        default=None, description="0–100, up to 2 decimals; none by default."
    )

    def to_proto(self) -> orders_pb2.OrderLine:
        return orders_pb2.OrderLine(
            sku=self.sku,
            description=self.description or "",
            quantity=to_decimal(self.quantity),
            unit_price=to_decimal(self.unit_price),
            discount_percent=to_decimal(self.discount_percent),
        )


@strawberry.input
class SubmitOrderInput:
    customer_id: strawberry.ID
    lines: list[OrderLineInput]
    currency: str = strawberry.field(description='ISO 4217, e.g. "CNY".')
    order_date: date | None = strawberry.field(
        default=None, description="Defaults to today in the branch's time zone."
    )
    expected_payment_date: date | None = strawberry.field(
        default=None, description="Defaults to the service's payment terms after the order date."
    )
    source_claim: SourceChannel | None = strawberry.field(
        default=None, description="Defaults to the customer's registered source."
    )
    note: str | None = None
    idempotency_key: str | None = idempotency_key_field()


@strawberry.type
class SubmitOrderPayload:
    order: Order


@strawberry.input
class DecideOrderInput:
    order_id: strawberry.ID
    approve: bool = strawberry.field(description="False rejects the order.")
    comment: str | None = None


@strawberry.type
class DecideOrderPayload:
    order: Order


@strawberry.input
class TransitionOrderInput:
    order_id: strawberry.ID
    to: OrderStatus = strawberry.field(description="FULFILLED, CLOSED or CANCELLED.")
    reason: str | None = None


@strawberry.type
class TransitionOrderPayload:
    order: Order


@strawberry.input
class CreatePaymentUploadInput:
    purpose: UploadPurpose
    content_type: str = strawberry.field(
        description="text/csv for statements; image/jpeg, image/png or image/heic for vouchers."
    )
    size_bytes: int = strawberry.field(
        description="The exact size to upload, positive; part of the upload's signature."
    )


@strawberry.type
class CreatePaymentUploadPayload:
    key: str = strawberry.field(
        description="Name this key in importPayments' statementKey or recordPayment's voucherKey."
    )
    upload_url: str = strawberry.field(description="PUT the bytes here, once.")
    upload_headers: JSON = strawberry.field(
        description="Send exactly these headers with the PUT (header name → value)."
    )
    expires_at: datetime | None


@strawberry.input(description="Idempotent on bankReference: the same bank line is one payment.")
class RecordPaymentInput:
    bank_reference: str
    payer_name: str
    payer_account: str | None = None
    amount: Decimal = strawberry.field(description="Positive, up to 2 decimals.")
    currency: str
    paid_at: datetime
    reference_text: str | None = strawberry.field(
        default=None, description="The remittance text; quoting an order code matches it."
    )
    voucher_key: str | None = strawberry.field(
        default=None, description="A voucher photo uploaded through createPaymentUpload."
    )
    order_id: strawberry.ID | None = strawberry.field(
        default=None, description="The order the payment is for, when finance knows it."
    )


@strawberry.type
class RecordPaymentPayload:
    payment: Payment
    duplicate: bool = strawberry.field(
        description="A payment with this bank reference existed already; nothing new was written."
    )


@strawberry.input
class ReversePaymentInput:
    payment_id: strawberry.ID
    kind: ReversalKind
    reason: str


@strawberry.type
class ReversePaymentPayload:
    payment: Payment


@strawberry.input
class ImportPaymentsInput:
    statement_key: str = strawberry.field(
        description=(
            "A bank statement CSV uploaded through createPaymentUpload (purpose STATEMENT); "
            "columns: bank_reference, paid_at, amount, currency, payer_name, payer_account, "
            "reference_text."
        )
    )


@strawberry.type(description="A statement row refused; then nothing of the file is applied.")
class RejectedPaymentRow:
    line: int = strawberry.field(description="The row's line in the file (the header is 1).")
    field: str | None
    reason: str


@strawberry.type
class ImportPaymentsPayload:
    applied: bool = strawberry.field(
        description="False when any row is rejected: then nothing of the file is applied."
    )
    accepted: int
    duplicates: int = strawberry.field(description="Bank lines recorded before; not counted twice.")
    rows: int
    rejected: list[RejectedPaymentRow]


@strawberry.input(
    description="Idempotent on (orderId, carrier, trackingNumber): the same parcel is one shipment."
)
class RecordShipmentInput:
    order_id: strawberry.ID
    carrier: str
    tracking_number: str
    shipped_at: datetime
    delivered_at: datetime | None = strawberry.field(
        default=None,
        description="Recording the same parcel again with it adds the delivery time.",
    )
    idempotency_key: str | None = idempotency_key_field()


@strawberry.type
class RecordShipmentPayload:
    shipment: Shipment


@strawberry.input
class RunReconciliationInput:
    as_of: date | None = strawberry.field(
        default=None, description="Defaults to today; unpaid orders due before it are past due."
    )


@strawberry.type
class RunReconciliationPayload:
    orders: int
    payments_matched: int
    payments_unmatched: int
    reconciled: int
    partially_paid: int
    unpaid: int
    overpaid: int
    alerts_raised: int


@strawberry.input
class DetectDiversionRiskInput:
    as_of: date | None = strawberry.field(default=None, description="Defaults to today.")


@strawberry.type
class DetectDiversionRiskPayload:
    customers_checked: int
    alerts_raised: int


# --- roots -------------------------------------------------------------------------


@strawberry.type
class OrdersQuery:
    @described("One order; null (NOT_FOUND) when unknown or outside the caller's scope.")
    async def order(self, info: Info, id: strawberry.ID) -> Order | None:
        response = await info.context.clients.orders.GetOrder(orders_pb2.GetOrderRequest(id=id))
        return order_from_proto(response.order)

    @described("Orders the caller may see, newest first.")
    async def orders(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        filter: OrderFilter | None = None,
    ) -> OrderConnection | None:
        return await list_orders(info, first, after, filter)

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


@strawberry.type
class OrdersMutation:
    @described("Submit an order; its approval chain follows from the amount (O1–O3).")
    async def submit_order(self, info: Info, input: SubmitOrderInput) -> SubmitOrderPayload | None:
        request = orders_pb2.SubmitOrderRequest(
            customer_id=input.customer_id,
            lines=[line.to_proto() for line in input.lines],
            currency=input.currency,
            order_date=civil_date(input.order_date),
            expected_payment_date=civil_date(input.expected_payment_date),
            source_claim=(
                input.source_claim.value
                if input.source_claim is not None
                else customers_pb2.SOURCE_CHANNEL_UNSPECIFIED
            ),
            note=input.note or "",
            idempotency_key=input.idempotency_key or "",
        )
        response = await info.context.clients.orders.SubmitOrder(request)
        return SubmitOrderPayload(order=order_from_proto(response.order))

    @described("Approve or reject the order's pending step; nobody decides their own order.")
    async def decide_order(self, info: Info, input: DecideOrderInput) -> DecideOrderPayload | None:
        request = orders_pb2.DecideOrderRequest(
            order_id=input.order_id, approve=input.approve, comment=input.comment or ""
        )
        response = await info.context.clients.orders.DecideOrder(request)
        return DecideOrderPayload(order=order_from_proto(response.order))

    @described("Move an order to FULFILLED, CLOSED or CANCELLED; other moves are refused.")
    async def transition_order(
        self, info: Info, input: TransitionOrderInput
    ) -> TransitionOrderPayload | None:
        request = orders_pb2.TransitionOrderRequest(
            order_id=input.order_id, to=input.to.value, reason=input.reason or ""
        )
        response = await info.context.clients.orders.TransitionOrder(request)
        return TransitionOrderPayload(order=order_from_proto(response.order))

    @described("A signed URL to upload a bank statement or a payment voucher to.")
    async def create_payment_upload(
        self, info: Info, input: CreatePaymentUploadInput
    ) -> CreatePaymentUploadPayload | None:
        if input.size_bytes <= 0:
            raise InvalidInput("size_bytes", "size_bytes must be a positive number of bytes")
        response = await info.context.clients.payments.CreateUpload(
            payments_pb2.CreateUploadRequest(
                purpose=input.purpose.value,
                content_type=input.content_type,
                size_bytes=input.size_bytes,
            )
        )
        return CreatePaymentUploadPayload(
            key=response.key,
            upload_url=response.upload_url,
            upload_headers=JSON(dict(response.upload_headers)),
            expires_at=from_timestamp(response.expires_at),
        )

    @described(
        "Record one payment and reconcile its order at once (matched by the order code its"
        " reference quotes, else by payer and amount); the same bank reference again changes"
        " nothing."
    )
    async def record_payment(
        self, info: Info, input: RecordPaymentInput
    ) -> RecordPaymentPayload | None:
        request = payments_pb2.RecordPaymentRequest(
            bank_reference=input.bank_reference,
            payer_name=input.payer_name,
            payer_account=input.payer_account or "",
            amount=to_decimal(input.amount),
            currency=input.currency,
            paid_at=to_timestamp(input.paid_at),
            reference_text=input.reference_text or "",
            voucher_key=input.voucher_key or "",
            order_id=input.order_id or "",
        )
        response = await info.context.clients.payments.RecordPayment(request)
        return RecordPaymentPayload(
            payment=payment_from_proto(response.payment), duplicate=response.duplicate
        )

    @described(
        "Record a refund or chargeback on a payment, and reconcile its order at once;"
        " payments are never deleted."
    )
    async def reverse_payment(
        self, info: Info, input: ReversePaymentInput
    ) -> ReversePaymentPayload | None:
        request = payments_pb2.ReversePaymentRequest(
            payment_id=input.payment_id, kind=input.kind.value, reason=input.reason
        )
        response = await info.context.clients.payments.ReversePayment(request)
        return ReversePaymentPayload(payment=payment_from_proto(response.payment))

    @described(
        "Import an uploaded bank statement: all rows or none, idempotent per bank line; every"
        " order a row pays is reconciled at once."
    )
    async def import_payments(
        self, info: Info, input: ImportPaymentsInput
    ) -> ImportPaymentsPayload | None:
        response = await info.context.clients.payments.ImportPayments(
            payments_pb2.ImportPaymentsRequest(statement_key=input.statement_key)
        )
        return ImportPaymentsPayload(
            applied=response.applied,
            accepted=response.accepted,
            duplicates=response.duplicates,
            rows=response.rows,
            rejected=[
                RejectedPaymentRow(line=row.line, field=optional(row.field), reason=row.reason)
                for row in response.rejected
            ],
        )

    @described("Record a shipment of an order.")
    async def record_shipment(
        self, info: Info, input: RecordShipmentInput
    ) -> RecordShipmentPayload | None:
        request = payments_pb2.RecordShipmentRequest(
            order_id=input.order_id,
            carrier=input.carrier,
            tracking_number=input.tracking_number,
            shipped_at=to_timestamp(input.shipped_at),
            delivered_at=to_timestamp(input.delivered_at),
            idempotency_key=input.idempotency_key or "",
        )
        response = await info.context.clients.payments.RecordShipment(request)
        return RecordShipmentPayload(shipment=shipment_from_proto(response.shipment))

    @described(
        "Match payments to orders, classify every order and raise FAKE_DEAL_SUSPECTED as of a"
        " day (O5); idempotent. The job orders.reconciliation runs it daily; payments need"
        " no run to reconcile."
    )
    async def run_reconciliation(
        self, info: Info, input: RunReconciliationInput | None = None
    ) -> RunReconciliationPayload | None:
        given = input or RunReconciliationInput()
        response = await info.context.clients.reconciliation.RunReconciliation(
            payments_pb2.RunReconciliationRequest(as_of=civil_date(given.as_of))
        )
        return RunReconciliationPayload(
            orders=response.orders,
            payments_matched=response.payments_matched,
            payments_unmatched=response.payments_unmatched,
            reconciled=response.reconciled,
            partially_paid=response.partially_paid,
            unpaid=response.unpaid,
            overpaid=response.overpaid,
            alerts_raised=response.alerts_raised,
        )

    @described("Look for customers who went quiet while their owner keeps in touch (O6).")
    async def detect_diversion_risk(
        self, info: Info, input: DetectDiversionRiskInput | None = None
    ) -> DetectDiversionRiskPayload | None:
        given = input or DetectDiversionRiskInput()
        response = await info.context.clients.reconciliation.DetectDiversionRisk(
            payments_pb2.DetectDiversionRiskRequest(as_of=civil_date(given.as_of))
        )
        return DetectDiversionRiskPayload(
            customers_checked=response.customers_checked, alerts_raised=response.alerts_raised
        )
