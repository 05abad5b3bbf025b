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
from salesguard_gateway.schema.common import JSON, idempotency_key_field
from salesguard_gateway.schema.conversions import (
    civil_date,
    copied,
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
    BackOrder,
    Payment,
    Shipment,
    back_order_from_proto,
    payment_from_proto,
    shipment_from_proto,
)
from salesguard_gateway.schema.resolvers import mutation

# --- mutations' inputs and payloads --------------------------------------------------


@strawberry.input(description="One line of a new order (O1).")
class OrderLineInput:
    sku: str = strawberry.field(description="The product's SKU; required.")
    description: str | None = strawberry.field(default=None, description="What the line is for.")
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


@strawberry.input(description="A new order (O1), credited to the caller.")
class SubmitOrderInput:
    customer_id: GlobalID = strawberry.field(
        description="The customer's ID: one the caller may order for (a junior rep their own "
        "customers, a senior rep their team's too, a manager their branch's), else NOT_FOUND; "
        "an archived customer is VALIDATION."
    )
    lines: list[OrderLineInput] = strawberry.field(
        description="At least one line, at most the service's limit."
    )
    currency: str = strawberry.field(
        description='ISO 4217, e.g. "CNY": one the deployment supports (settings); every '
        "amount of the order is in it."
    )
    order_date: date | None = strawberry.field(
        default=None, description="Defaults to today in the branch's time zone."
    )
    expected_payment_date: date | None = strawberry.field(
        default=None, description="Defaults to the service's payment terms after the order date."
    )
    source_claim: SourceChannel | None = strawberry.field(
        default=None,
        description="Defaults to the customer's registered source; a personal claim on a "
        "company-channel customer is paid the company rate, pending review (M3).",
    )
    note: str | None = strawberry.field(default=None, description="A note for the approvers.")
    idempotency_key: str | None = idempotency_key_field()


@strawberry.type(description="The result of submitOrder.")
class SubmitOrderPayload:
    order: Order = strawberry.field(
        description="The order submitted, with its approval chain and attribution flags."
    )


@strawberry.input(description="A decision on an order's current approval step (O2).")
class DecideOrderInput:
    order_id: GlobalID = strawberry.field(description="The order's ID.")
    approve: bool = strawberry.field(description="False rejects the order.")
    comment: str | None = strawberry.field(
        default=None, description="The approver's comment, kept on the step."
    )


@strawberry.type(description="The result of decideOrder.")
class DecideOrderPayload:
    order: Order = strawberry.field(description="The order after the decision.")


@strawberry.input(description="A move of an order to its next status (O1).")
class TransitionOrderInput:
    order_id: GlobalID = strawberry.field(description="The order's ID.")
    to: OrderStatus = strawberry.field(description="FULFILLED, CLOSED or CANCELLED.")
    reason: str | None = strawberry.field(
        default=None,
        description="Why; required to cancel. Appended to the order's note.",
    )


@strawberry.type(description="The result of transitionOrder.")
class TransitionOrderPayload:
    order: Order = strawberry.field(description="The order in its new status.")


@strawberry.input(description="A file finance is about to upload (O4).")
class CreatePaymentUploadInput:
    purpose: UploadPurpose = strawberry.field(
        description="STATEMENT (a bank statement CSV) or VOUCHER (a payment voucher photo)."
    )
    content_type: str = strawberry.field(
        description="text/csv for statements; image/jpeg, image/png or image/heic for vouchers."
    )
    size_bytes: int = strawberry.field(
        description="The exact size to upload, positive; part of the upload's signature."
    )


@strawberry.type(
    description="A signed upload: PUT the file's bytes to uploadUrl with uploadHeaders, once, "
    "before expiresAt."
)
class CreatePaymentUploadPayload:
    key: str = strawberry.field(
        description="Name this key in importPayments' statementKey or recordPayment's voucherKey."
    )
    upload_url: str = strawberry.field(description="PUT the bytes here, once.")
    upload_headers: JSON = strawberry.field(
        description="Send exactly these headers with the PUT (header name → value)."
    )
    expires_at: datetime | None = strawberry.field(
        description="When uploadUrl stops accepting the upload."
    )


@strawberry.input(description="Idempotent on bankReference: the same bank line is one payment.")
class RecordPaymentInput:
    bank_reference: str = strawberry.field(
        description="The bank's reference of the line; recorded again with another amount or "
        "currency, it is refused with CONFLICT."
    )
    payer_name: str = strawberry.field(
        description="Who paid; a payment matched by order code whose payer is neither the "
        "customer's name nor its company raises PAYER_MISMATCH (O5)."
    )
    payer_account: str | None = strawberry.field(
        default=None, description="The payer's bank account."
    )
    amount: Decimal = strawberry.field(description="Positive, up to 2 decimals.")
    currency: str = strawberry.field(
        description='ISO 4217, e.g. "CNY": one the deployment supports (settings).'
    )
    paid_at: datetime = strawberry.field(description="When the money arrived.")
    reference_text: str | None = strawberry.field(
        default=None, description="The remittance text; quoting an order code matches it."
    )
    voucher_key: str | None = strawberry.field(
        default=None, description="A voucher photo uploaded through createPaymentUpload."
    )
    order_id: GlobalID | None = strawberry.field(
        default=None, description="The order the payment is for, when finance knows it."
    )


@strawberry.type(description="The result of recordPayment.")
class RecordPaymentPayload:
    payment: Payment = strawberry.field(
        description="The payment recorded, or the one recorded before with this bank reference."
    )
    duplicate: bool = strawberry.field(
        description="A payment with this bank reference existed already; nothing new was written."
    )


@strawberry.input(description="A reversal of a payment (O4); a payment is reversed once.")
class ReversePaymentInput:
    payment_id: GlobalID = strawberry.field(description="The payment's ID.")
    kind: ReversalKind = strawberry.field(description="REFUND or CHARGEBACK.")
    reason: str = strawberry.field(description="Required; kept on the payment.")


@strawberry.type(description="The result of reversePayment.")
class ReversePaymentPayload:
    payment: Payment = strawberry.field(description="The payment, now reversed.")


@strawberry.input(description="A bank statement to import (O4).")
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
    line: int = strawberry.field(
        description="The row's line in the file (the header is 1); 0 for the entry that counts "
        "further rows rejected but not listed."
    )
    field: str | None = strawberry.field(
        description="The column at fault; null when no single column is."
    )
    reason: str = strawberry.field(description="What is wrong, in English.")


@strawberry.type(description="The result of importPayments.")
class ImportPaymentsPayload:
    applied: bool = strawberry.field(
        description="False when any row is rejected: then nothing of the file is applied."
    )
    accepted: int = strawberry.field(description="Rows recorded as new payments.")
    duplicates: int = strawberry.field(description="Bank lines recorded before; not counted twice.")
    rows: int = strawberry.field(description="Data rows in the file, the header aside.")
    rejected: list[RejectedPaymentRow] = strawberry.field(
        description="The rows refused, with why; empty when the file was applied."
    )


@strawberry.input(
    description="Idempotent on (orderId, carrier, trackingNumber): the same parcel is one shipment."
)
class RecordShipmentInput:
    order_id: GlobalID = strawberry.field(
        description="The order's ID; only an APPROVED or FULFILLED order ships."
    )
    carrier: str = strawberry.field(description="The carrier's name.")
    tracking_number: str = strawberry.field(description="The carrier's tracking number.")
    shipped_at: datetime = strawberry.field(description="When the parcel left.")
    delivered_at: datetime | None = strawberry.field(
        default=None,
        description="Recording the same parcel again with it adds the delivery time.",
    )
    idempotency_key: str | None = idempotency_key_field()


@strawberry.type(description="The result of recordShipment.")
class RecordShipmentPayload:
    shipment: Shipment = strawberry.field(description="The shipment recorded.")


@strawberry.input(description="An approved order's goods cannot ship yet (O4).")
class RecordBackOrderInput:
    order_id: GlobalID = strawberry.field(
        description="The order's ID; an APPROVED or FULFILLED order not shipped yet."
    )
    promised_ship_date: date = strawberry.field(
        description="The day the goods are promised to ship: at most the policy data's "
        "fake_deal.back_order_max_days (60 by default) after the expected payment date."
    )
    reason: str = strawberry.field(description="Why they cannot ship yet (at most 500 characters).")
    idempotency_key: str | None = idempotency_key_field()


@strawberry.type(description="The result of recordBackOrder.")
class RecordBackOrderPayload:
    back_order: BackOrder = strawberry.field(description="The back-order recorded.")


@strawberry.input(description="Which day to reconcile as of (O5).")
class RunReconciliationInput:
    as_of: date | None = strawberry.field(
        default=None, description="Defaults to today; unpaid orders due before it are past due."
    )


@strawberry.type(description="What a reconciliation run left: counts over all orders and payments.")
class RunReconciliationPayload:
    orders: int = strawberry.field(description="Orders classified: approved, fulfilled or closed.")
    payments_matched: int = strawberry.field(
        description="Payments (not reversed) matched to an order."
    )
    payments_unmatched: int = strawberry.field(
        description="Payments (not reversed) no order matched."
    )
    reconciled: int = strawberry.field(description="Orders paid exactly.")
    partially_paid: int = strawberry.field(description="Orders paid in part.")
    unpaid: int = strawberry.field(description="Orders with no payment.")
    overpaid: int = strawberry.field(description="Orders paid more than their total.")
    alerts_raised: int = strawberry.field(
        description="Alerts this run raised (FAKE_DEAL_SUSPECTED, PAYER_MISMATCH)."
    )


@strawberry.input(description="Which day to look for diversion risk as of (O6).")
class DetectDiversionRiskInput:
    as_of: date | None = strawberry.field(default=None, description="Defaults to today.")


@strawberry.type(description="The result of detectDiversionRisk.")
class DetectDiversionRiskPayload:
    customers_checked: int = strawberry.field(
        description="Customers with a regular ordering history that were checked."
    )
    alerts_raised: int = strawberry.field(description="DIVERSION_RISK alerts raised now.")


@strawberry.type
class OrdersMutation:
    @mutation(
        "Submit an order, credited to the caller (a rep or a manager, active); its approval "
        "chain follows from the amount (O1–O3). A submitter who is not the customer's owner "
        "(ATTRIBUTION_MISMATCH), a customer registered after the order date "
        "(UNREGISTERED_CUSTOMER) or the personal channel claimed for a customer registered "
        "through a company channel (SOURCE_CONFLICT, M3) is flagged and alerted, never "
        "refused.",
        input="The order.",
    )
    async def submit_order(self, info: Info, input: SubmitOrderInput) -> SubmitOrderPayload:
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

    @mutation(
        "Approve or reject the order's current step (O2): a MANAGER step by a manager of the "
        "order's branch (or headquarters), FINANCE by finance, HQ_MANAGER by a headquarters manager. Nobody "
        "decides their own order (SELF_APPROVAL) or two steps of one order (SAME_APPROVER).",
        input="The order and the decision.",
    )
    async def decide_order(self, info: Info, input: DecideOrderInput) -> DecideOrderPayload:
        request = orders_pb2.DecideOrderRequest(
            order_id=raw_id(input.order_id, "Order", "input.orderId"),
            approve=input.approve,
            comment=input.comment or "",
        )
        response = await info.context.clients.orders.DecideOrder(request)
        return DecideOrderPayload(order=order_from_proto(response.order))

    @mutation(
        "Move an order to FULFILLED (from APPROVED), CLOSED (from FULFILLED) or CANCELLED "
        "(from SUBMITTED or APPROVED); other moves are FAILED_PRECONDITION. A rep cancels "
        "their own orders; a manager moves their branch's; finance closes any "
        "(else FORBIDDEN, TRANSITION_NOT_PERMITTED).",
        input="The order, its new status and the reason.",
    )
    async def transition_order(
        self, info: Info, input: TransitionOrderInput
    ) -> TransitionOrderPayload:
        request = orders_pb2.TransitionOrderRequest(
            order_id=raw_id(input.order_id, "Order", "input.orderId"),
            to=input.to.value,
            reason=input.reason or "",
        )
        response = await info.context.clients.orders.TransitionOrder(request)
        return TransitionOrderPayload(order=order_from_proto(response.order))

    @mutation(
        "A signed URL to upload a bank statement or a payment voucher to; finance only.",
        input="The file to upload.",
    )
    async def create_payment_upload(
        self, info: Info, input: CreatePaymentUploadInput
    ) -> CreatePaymentUploadPayload:
        response = await info.context.clients.payments.CreateUpload(
            payments_pb2.CreateUploadRequest(
                purpose=input.purpose.value,
                content_type=input.content_type,
                size_bytes=upload_size(input.size_bytes),
            )
        )
        return upload_payload(CreatePaymentUploadPayload, response)

    @mutation(
        "Record one payment and reconcile its order at once (matched to the order named, else"
        " the order code its reference quotes, else by customer and amount); the same bank"
        " reference again changes nothing. Finance only.",
        input="The payment.",
    )
    async def record_payment(self, info: Info, input: RecordPaymentInput) -> RecordPaymentPayload:
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

    @mutation(
        "Record a refund or chargeback on a payment, and reconcile its order at once;"
        " payments are never deleted. Finance only; a second reversal is FAILED_PRECONDITION.",
        input="The payment and the reversal.",
    )
    async def reverse_payment(
        self, info: Info, input: ReversePaymentInput
    ) -> ReversePaymentPayload:
        request = payments_pb2.ReversePaymentRequest(
            payment_id=raw_id(input.payment_id, "Payment", "input.paymentId"),
            kind=input.kind.value,
            reason=input.reason,
        )
        response = await info.context.clients.payments.ReversePayment(request)
        return ReversePaymentPayload(payment=payment_from_proto(response.payment))

    @mutation(
        "Import an uploaded bank statement: all rows or none, idempotent per bank line; every"
        " order a row pays is reconciled at once. Finance only.",
        input="The uploaded statement.",
    )
    async def import_payments(
        self, info: Info, input: ImportPaymentsInput
    ) -> ImportPaymentsPayload:
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

    @mutation(
        "Record a shipment of an order (O4) and reconcile the order at once: a shipped order is "
        "no fake deal. Finance, or a manager of the order's branch.",
        input="The shipment.",
    )
    async def record_shipment(
        self, info: Info, input: RecordShipmentInput
    ) -> RecordShipmentPayload:
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

    @mutation(
        "Record that an approved order's goods cannot ship yet and the day they are promised to "
        "ship (O4): the fake-deal check (FAKE_DEAL_SUSPECTED) waits until that day is past too. "
        "The latest back-order counts; each is kept. Whoever may record the order's shipment.",
        input="The back-order.",
    )
    async def record_back_order(
        self, info: Info, input: RecordBackOrderInput
    ) -> RecordBackOrderPayload:
        request = payments_pb2.RecordBackOrderRequest(
            order_id=raw_id(input.order_id, "Order", "input.orderId"),
            promised_ship_date=input.promised_ship_date.isoformat(),
            reason=input.reason,
            idempotency_key=input.idempotency_key or "",
        )
        response = await info.context.clients.payments.RecordBackOrder(request)
        return RecordBackOrderPayload(back_order=back_order_from_proto(response.back_order))

    @mutation(
        "Match payments to orders, classify every order and raise FAKE_DEAL_SUSPECTED as of a"
        " day (O5); idempotent. The job orders.reconciliation runs it daily; payments need"
        " no run to reconcile. Finance only.",
        input="The day; omitted: today.",
    )
    async def run_reconciliation(
        self, info: Info, input: RunReconciliationInput | None = None
    ) -> RunReconciliationPayload:
        given = input or RunReconciliationInput()
        response = await info.context.clients.reconciliation.RunReconciliation(
            payments_pb2.RunReconciliationRequest(as_of=civil_date(given.as_of))
        )
        return copied(RunReconciliationPayload, response)

    @mutation(
        "Look for customers who went quiet (no order for more than twice their usual interval)"
        " while their owner keeps visiting or calling them, and raise DIVERSION_RISK (O6); HR"
        " and admins. A scheduled job runs it too.",
        input="The day; omitted: today.",
    )
    async def detect_diversion_risk(
        self, info: Info, input: DetectDiversionRiskInput | None = None
    ) -> DetectDiversionRiskPayload:
        given = input or DetectDiversionRiskInput()
        response = await info.context.clients.reconciliation.DetectDiversionRisk(
            payments_pb2.DetectDiversionRiskRequest(as_of=civil_date(given.as_of))
        )
        return copied(DetectDiversionRiskPayload, response)
