"""Payments: single records, reversals, listings.

A payment is one bank line, unique by its bank reference: recording it again
returns the first record (``duplicate``), and a second record that disagrees
on amount or currency is refused as a CONFLICT (:mod:`.rules.payments`). Payments
are never deleted; a refund or chargeback is recorded on the payment with a reason.
Every write reconciles what it touched in its own transaction
(:class:`salesguard_orders.matching.Reconciler`).

A payment's fields are validated by :func:`.payment_fields.payment_from_fields`, the
same for RecordPayment and every row of a statement import; vouchers are uploads
(:mod:`.uploads`), shipments have a module of their own (:mod:`.shipments`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from salesguard import money, validation
from salesguard.db import insert_new, lock_keys, utcnow
from salesguard.errors import Conflict, FailedPrecondition, InvalidInput, NotFound
from salesguard.listing import equal_to, period, scoped_page_size
from salesguard.policy import ScopeColumns, scope_filter
from salesguard.principal import current_principal
from salesguard.reads import Listing
from salesguard.service import Runtime
from salesguard.timeutil import from_timestamp, to_timestamp
from salesguard_api.orders.v1 import payments_pb2 as pb
from salesguard_orders.matching import Touched, order_lock_key
from salesguard_orders.models import Order, Payment
from salesguard_orders.ordering import Orders, OrdersPart
from salesguard_orders.payment_fields import PaymentFields, payment_from_fields
from salesguard_orders.rules import payments as rules
from salesguard_orders.settings import OrdersSettings

# Re-exported: the timeline module reads it from here.
from salesguard_orders.shipments import shipment_to_proto as shipment_to_proto
from salesguard_orders.uploads import Uploads

PAYMENT_SCOPE = ScopeColumns(branch=Payment.branch_id)
PAYMENT_LISTING = Listing(Payment, Payment.paid_at, Payment.id)
REVERSAL_KINDS = validation.enum_names(pb.ReversalKind, "REVERSAL_KIND_")


def reversal_kind_to_proto(kind: str | None) -> pb.ReversalKind.ValueType:
    """A stored reversal kind ("REFUND"); UNSPECIFIED for a payment not reversed."""
    return pb.ReversalKind.Value(f"REVERSAL_KIND_{kind}") if kind else pb.REVERSAL_KIND_UNSPECIFIED


def payment_to_proto(row: Payment) -> pb.Payment:
    """A payment; until reconciliation matches it, ``order_id`` is the order it was recorded for."""
    return pb.Payment(
        id=row.id,
        bank_reference=row.bank_reference,
        payer_name=row.payer_name,
        payer_account=row.payer_account,
        amount=money.to_proto(row.amount_minor),
        currency=row.currency,
        paid_at=to_timestamp(row.paid_at),
        reference_text=row.reference_text,
        voucher_key=row.voucher_key or "",
        order_id=row.order_id or row.stated_order_id or "",
        customer_id=row.customer_id or "",
        matched_by=row.matched_by,
        reversed=row.reversed,
        reversal_kind=reversal_kind_to_proto(row.reversal_kind),
        reversal_reason=row.reversal_reason,
        reversed_at=to_timestamp(row.reversed_at),
        reversed_by=row.reversed_by or "",
        recorded_at=to_timestamp(row.recorded_at),
        recorded_by=row.recorded_by,
        branch_id=row.branch_id or "",
    )


async def insert_payments(session: AsyncSession, rows: list[dict[str, Any]]) -> set[str]:
    """Insert payment rows, skipping bank references already recorded; the IDs inserted."""
    return set(await insert_new(session, Payment, rows, ("bank_reference",)))


class Payments(OrdersPart):
    def __init__(self, runtime: Runtime[OrdersSettings], orders: Orders) -> None:
        super().__init__(runtime, orders)
        self.uploads = Uploads(runtime, orders)

    async def record(self, request: pb.RecordPaymentRequest) -> pb.RecordPaymentResponse:
        principal = current_principal()
        (await self.policy.decide(principal, "payments.record")).require("payments.record")
        fields = payment_from_fields(
            bank_reference=request.bank_reference,
            amount=request.amount,
            currency=request.currency,
            paid_at=from_timestamp(request.paid_at, "paid_at"),
            currencies=self.settings.currency_rates_to_cny,
            payer_name=request.payer_name,
            payer_account=request.payer_account,
            reference_text=request.reference_text,
            skew_seconds=self.settings.clock_skew_seconds,
        )
        order_id = validation.record_id("order_id", request.order_id) or None
        async with self.db.read() as session:
            existing = await session.scalar(
                select(Payment).where(Payment.bank_reference == fields.bank_reference)
            )
        if existing is not None:
            return self._duplicate(existing, fields)
        voucher_key = await self.uploads.voucher(principal.id, request.voucher_key)
        async with self.db.transaction() as session:
            if voucher_key is not None:
                await self._voucher_unused(session, voucher_key, fields.bank_reference)
            branch_id: str | None = None
            submitted_by: str | None = None
            if order_id is not None:
                order = await session.scalar(select(Order).where(Order.id == order_id))
                if order is None:
                    raise InvalidInput("order_id", f"order {order_id} not found")
                branch_id = order.branch_id
                submitted_by = order.submitted_by
            row = fields.to_row(
                recorded_by=principal.id,
                voucher_key=voucher_key,
                stated_order_id=order_id,
                branch_id=branch_id,
                order_submitted_by=submitted_by,
            )
            inserted = await insert_payments(session, [row])
            if inserted:
                # Matched, and its order classified, before anyone reads it.
                await self.reconciler.lock(session, groups=[fields.group])
                await self.reconciler.reconcile(
                    session, Touched(payment_ids=frozenset(inserted)), utcnow()
                )
            stored = await session.scalar(
                select(Payment).where(Payment.bank_reference == fields.bank_reference)
            )
        assert stored is not None
        if not inserted:  # recorded concurrently by another request
            return self._duplicate(stored, fields)
        return pb.RecordPaymentResponse(payment=payment_to_proto(stored), duplicate=False)

    @staticmethod
    async def _voucher_unused(session: AsyncSession, key: str, bank_reference: str) -> None:
        """Checked again in the payment's transaction, the voucher locked: of two payments
        racing with one voucher, the second sees the first (a retry of one payment is no other)."""
        await lock_keys(session, f"voucher:{key}")
        used = await session.scalar(
            select(Payment.id).where(
                Payment.voucher_key == key, Payment.bank_reference != bank_reference
            )
        )
        if used is not None:
            raise InvalidInput("voucher_key", f"voucher {key} belongs to another payment")

    def _duplicate(self, existing: Payment, fields: PaymentFields) -> pb.RecordPaymentResponse:
        differs = fields.conflict_with(existing)
        if differs is not None:
            raise Conflict(
                f"bank reference {fields.bank_reference} is already recorded with another {differs}",
                details={"bank_reference": fields.bank_reference, "field": differs},
            )
        return pb.RecordPaymentResponse(payment=payment_to_proto(existing), duplicate=True)

    async def reverse(self, request: pb.ReversePaymentRequest) -> pb.Payment:
        principal = current_principal()
        (await self.policy.decide(principal, "payments.reverse")).require("payments.reverse")
        kind = validation.enum_value("kind", request.kind, REVERSAL_KINDS)
        reason = validation.text(
            "reason", request.reason, required=True, max_length=validation.REASON_LENGTH
        )
        payment_id = validation.record_id("payment_id", request.payment_id, required=True)
        async with self.db.transaction() as session:
            # Its order, read before any lock is taken, to take the reconciliation locks first
            # (a payment's match never changes once made).
            matched_to = await session.scalar(
                select(Payment.order_id).where(Payment.id == payment_id)
            )
            await self.reconciler.lock(session, order_ids=[matched_to] if matched_to else [])
            row = await session.get(Payment, payment_id, with_for_update=True)
            if row is None:
                raise NotFound(f"payment {payment_id} not found")
            if row.order_id and row.order_id != matched_to:
                # Matched since the read above: its order is classified under its lock too.
                await lock_keys(session, order_lock_key(row.order_id))
            if not rules.can_reverse(row.reversed):
                raise FailedPrecondition(
                    f"payment {row.bank_reference} is already reversed ({row.reversal_kind})",
                    details={"payment_id": row.id, "reversal_kind": row.reversal_kind or ""},
                )
            row.reversed = True
            row.reversal_kind = kind
            row.reversal_reason = reason
            now = utcnow()
            row.reversed_at = now
            row.reversed_by = principal.id
            await session.flush()
            # The order is paid less at once: UNPAID or PARTIALLY_PAID again.
            touched = Touched(
                payment_ids=frozenset({row.id}),
                order_ids=frozenset({row.order_id}) if row.order_id else frozenset(),
            )
            await self.reconciler.reconcile(session, touched, now)
        return payment_to_proto(row)

    async def list_payments(self, request: pb.ListPaymentsRequest) -> pb.ListPaymentsResponse:
        decision, size = await scoped_page_size(
            self.policy, "payments.read", request.page, self.settings.page_limits
        )
        payment_filter = request.filter
        conditions: list[ColumnElement[bool]] = [scope_filter(decision, PAYMENT_SCOPE)]
        if payment_filter.order_id:
            conditions.append(
                or_(
                    Payment.order_id == payment_filter.order_id,
                    Payment.stated_order_id == payment_filter.order_id,
                )
            )
        conditions += equal_to((Payment.customer_id, payment_filter.customer_id))
        if payment_filter.unmatched_only:
            conditions.append(Payment.order_id.is_(None))
        conditions += period(
            Payment.paid_at,
            payment_filter.paid_from,
            payment_filter.paid_to,
            ("paid_from", "paid_to"),
        )
        page, total = await PAYMENT_LISTING.read_in(self.db, conditions, request.page, size)
        return pb.ListPaymentsResponse(
            payments=[payment_to_proto(row) for row in page.rows],
            cursors=page.cursors,
            page_info=page.page_info(total),
        )
