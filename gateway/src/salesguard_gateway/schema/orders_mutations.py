"""The orders service's mutations (O1–O6): orders, payments, shipments, reconciliation.

Money comes back as ``Money`` (a Decimal and its currency); an input names its currency
once (an order's, a payment's) and takes its amounts as ``Decimal`` in it, so the lines
of one order cannot disagree on it. Inputs go to the service as the
strings the client typed: the service checks places, sign and range and answers
``VALIDATION`` naming the field (e.g. ``lines[0].unit_price``), which the
gateway passes on in ``extensions.field``.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import strawberry

from salesguard_api.customers.v1 import customers_pb2
from salesguard_api.orders.v1 import orders_pb2, payments_pb2
from salesguard_gateway.context import Info
from salesguard_gateway.schema.common import (
    JSON,
    civil_date,
    copied,
    described,
    idempotency_key_field,
    optional,
    to_decimal,
    to_timestamp,
    upload_payload,
    upload_size,
)
from salesguard_gateway.schema.enums import (
    OrderStatus,
    ReversalKind,
    SourceChannel,
    UploadPurpose,
)
from salesguard_gateway.schema.nodes import GlobalID, raw_id
from salesguard_gateway.schema.orders import Order, order_from_proto
from salesguard_gateway.schema.payments import (
    Payment,
    Shipment,
    payment_from_proto,
    shipment_from_proto,
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
    customer_id: GlobalID
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
    order_id: GlobalID
    approve: bool = strawberry.field(description="False rejects the order.")
    comment: str | None = None


@strawberry.type
class DecideOrderPayload:
    order: Order


@strawberry.input
class TransitionOrderInput:
    order_id: GlobalID
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
    order_id: GlobalID | None = strawberry.field(
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
    payment_id: GlobalID
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
    order_id: GlobalID
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


@strawberry.type
class OrdersMutation:
    @described("Submit an order; its approval chain follows from the amount (O1–O3).")
    async def submit_order(self, info: Info, input: SubmitOrderInput) -> SubmitOrderPayload | None:
        request = orders_pb2.SubmitOrderRequest(
            customer_id=raw_id(input.customer_id, "Customer", "input.customerId"),
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
            order_id=raw_id(input.order_id, "Order", "input.orderId"),
            approve=input.approve,
            comment=input.comment or "",
        )
        response = await info.context.clients.orders.DecideOrder(request)
        return DecideOrderPayload(order=order_from_proto(response.order))

    @described("Move an order to FULFILLED, CLOSED or CANCELLED; other moves are refused.")
    async def transition_order(
        self, info: Info, input: TransitionOrderInput
    ) -> TransitionOrderPayload | None:
        request = orders_pb2.TransitionOrderRequest(
            order_id=raw_id(input.order_id, "Order", "input.orderId"),
            to=input.to.value,
            reason=input.reason or "",
        )
        response = await info.context.clients.orders.TransitionOrder(request)
        return TransitionOrderPayload(order=order_from_proto(response.order))

    @described("A signed URL to upload a bank statement or a payment voucher to.")
    async def create_payment_upload(
        self, info: Info, input: CreatePaymentUploadInput
    ) -> CreatePaymentUploadPayload | None:
        response = await info.context.clients.payments.CreateUpload(
            payments_pb2.CreateUploadRequest(
                purpose=input.purpose.value,
                content_type=input.content_type,
                size_bytes=upload_size(input.size_bytes),
            )
        )
        return upload_payload(CreatePaymentUploadPayload, response)

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
            order_id=raw_id(input.order_id, "Order", "input.orderId"),
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
            payment_id=raw_id(input.payment_id, "Payment", "input.paymentId"),
            kind=input.kind.value,
            reason=input.reason,
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
        return copied(
            ImportPaymentsPayload,
            response,
            rejected=[
                copied(RejectedPaymentRow, row, field=optional(row.field))
                for row in response.rejected
            ],
        )

    @described("Record a shipment of an order.")
    async def record_shipment(
        self, info: Info, input: RecordShipmentInput
    ) -> RecordShipmentPayload | None:
        request = payments_pb2.RecordShipmentRequest(
            order_id=raw_id(input.order_id, "Order", "input.orderId"),
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
        return copied(RunReconciliationPayload, response)

    @described("Look for customers who went quiet while their owner keeps in touch (O6).")
    async def detect_diversion_risk(
        self, info: Info, input: DetectDiversionRiskInput | None = None
    ) -> DetectDiversionRiskPayload | None:
        given = input or DetectDiversionRiskInput()
        response = await info.context.clients.reconciliation.DetectDiversionRisk(
            payments_pb2.DetectDiversionRiskRequest(as_of=civil_date(given.as_of))
        )
        return copied(DetectDiversionRiskPayload, response)
