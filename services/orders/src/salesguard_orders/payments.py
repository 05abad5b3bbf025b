"""Payments and shipments (O4): single records, reversals, vouchers, uploads.

A payment is one bank line, unique by its bank reference: recording it again
returns the first record (``duplicate``), and a second record that disagrees
on amount or currency is refused as a CONFLICT. Payments are never deleted; a
refund or chargeback is recorded on the payment with a reason.

:func:`payment_from_fields` validates and normalises one payment's fields and
extracts the order code its remittance text quotes; the statement import uses
it for every CSV row, RecordPayment for its one request.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from datetime import time as clock
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from salesguard import money, validation
from salesguard.common.v1 import common_pb2
from salesguard.db import conflict_insert, lock_keys, new_id, utcnow
from salesguard.errors import Conflict, FailedPrecondition, InvalidInput, NotFound
from salesguard.idempotency import IdempotentWrites
from salesguard.orders.v1 import payments_pb2 as pb
from salesguard.pagination import count_if_asked, keyset_page, keyset_query
from salesguard.policy import ScopeColumns, scope_filter
from salesguard.principal import current_principal
from salesguard.service import Runtime
from salesguard.timeutil import check_moment, from_timestamp, to_timestamp
from salesguard_orders.matching import PaymentGroup, Touched, order_lock_key
from salesguard_orders.models import IdempotencyKey, Order, Payment, Shipment, Upload
from salesguard_orders.order_input import validate_currency
from salesguard_orders.ordering import ORDER_SCOPE, Orders
from salesguard_orders.settings import OrdersSettings

PAYMENT_SCOPE = ScopeColumns(branch=Payment.branch_id)
REVERSAL_KINDS = validation.enum_names(pb.ReversalKind, "REVERSAL_KIND_")
UPLOAD_PURPOSES = validation.enum_names(pb.UploadPurpose, "UPLOAD_PURPOSE_")
STATEMENT_CONTENT_TYPES = {"text/csv": ".csv"}
VOUCHER_CONTENT_TYPES = {"image/jpeg": ".jpg", "image/png": ".png", "image/heic": ".heic"}

MAX_BANK_REFERENCE = 128
MAX_PAYER_NAME = 200
MAX_PAYER_ACCOUNT = 64
MAX_REFERENCE_TEXT = 500
MAX_CARRIER = 100
MAX_TRACKING = 100

# An order code quoted in a remittance text: "O-000123", also "O000123", "o-000123",
# "O–000123" (en dash) or "O－000123" (full-width), not inside a longer word or number.
_QUOTED_CODE = re.compile(r"(?<![0-9A-Za-z])[Oo]\s?[-\u2013\u2014\uff0d_]?\s?(\d{6,12})(?![0-9])")
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def quoted_order_number(reference_text: str) -> int | None:
    """The order number a remittance text quotes; None when it quotes none, or several."""
    numbers = {int(match) for match in _QUOTED_CODE.findall(reference_text)}
    numbers.discard(0)
    return numbers.pop() if len(numbers) == 1 else None


@dataclass(frozen=True)
class PaymentFields:
    """One payment's fields, validated and normalised, ready to store."""

    bank_reference: str
    payer_name: str
    payer_account: str
    payer_key: str
    amount_minor: int
    currency: str
    paid_at: datetime
    reference_text: str
    quoted_order_number: int | None

    def to_row(
        self,
        *,
        recorded_by: str,
        recorded_at: datetime | None = None,
        voucher_key: str | None = None,
        stated_order_id: str | None = None,
        branch_id: str | None = None,
        statement_id: str | None = None,
    ) -> dict[str, Any]:
        """Column values of a new ``payments`` row (for an insert of one or many)."""
        return {
            "id": new_id(),
            "bank_reference": self.bank_reference,
            "payer_name": self.payer_name,
            "payer_account": self.payer_account,
            "payer_key": self.payer_key,
            "amount_minor": self.amount_minor,
            "currency": self.currency,
            "paid_at": self.paid_at,
            "reference_text": self.reference_text,
            "quoted_order_number": self.quoted_order_number,
            "voucher_key": voucher_key,
            "stated_order_id": stated_order_id,
            "order_id": None,
            "customer_id": None,
            "branch_id": branch_id,
            "matched_by": "",
            "reversed": False,
            "reversal_reason": "",
            "recorded_at": recorded_at or utcnow(),
            "recorded_by": recorded_by,
            "statement_id": statement_id,
        }

    @property
    def group(self) -> PaymentGroup:
        """The customer + amount group the payment is matched in when it quotes no order."""
        return PaymentGroup(self.payer_key, self.currency, self.amount_minor)

    def conflict_with(self, existing: Payment) -> str | None:
        """The field in which an already recorded payment with this reference differs."""
        if existing.amount_minor != self.amount_minor:
            return "amount"
        if existing.currency != self.currency:
            return "currency"
        return None


def _parse_paid_at(value: datetime | str | None, zone: tzinfo) -> datetime:
    if value is None:
        raise InvalidInput("paid_at", "paid_at is required")
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=zone)
        return check_moment("paid_at", aware)
    text = value.strip()
    if not text:
        raise InvalidInput("paid_at", "paid_at is required")
    try:
        if _ISO_DAY.fullmatch(text):
            return datetime.combine(date.fromisoformat(text), clock.min, tzinfo=zone)
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            "paid_at", f"paid_at is not an ISO-8601 time or date: {value!r}"
        ) from None
    return check_moment(
        "paid_at", parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=zone)
    )


def payment_from_fields(
    *,
    bank_reference: str,
    amount: common_pb2.Decimal | str,
    currency: str,
    paid_at: datetime | str | None,
    currencies: Mapping[str, Decimal],
    payer_name: str = "",
    payer_account: str = "",
    reference_text: str = "",
    skew_seconds: int,
    zone: tzinfo = UTC,
    now: datetime | None = None,
) -> PaymentFields:
    """Validate one payment's fields; InvalidInput names the offending field.

    Field names are the statement CSV's columns: bank_reference, paid_at, amount,
    currency, payer_name, payer_account, reference_text. ``paid_at`` is a
    datetime or ISO-8601 text; without an offset (or as a bare date) it is read
    in ``zone``. It may not lie in the future (beyond ``skew_seconds`` of clock
    skew). ``currencies`` are the known currency codes (the settings' rates).
    """
    reference = validation.text(
        "bank_reference", bank_reference, required=True, max_length=MAX_BANK_REFERENCE
    )
    amount_minor = money.amount_to_minor("amount", amount)
    code = validate_currency("currency", currency, currencies)
    when = validation.not_in_future(
        "paid_at",
        _parse_paid_at(paid_at, zone).astimezone(UTC),
        now=now or utcnow(),
        skew_seconds=skew_seconds,
    )
    payer = validation.text("payer_name", payer_name, max_length=MAX_PAYER_NAME)
    text = validation.text("reference_text", reference_text, max_length=MAX_REFERENCE_TEXT)
    return PaymentFields(
        bank_reference=reference,
        payer_name=payer,
        payer_account=validation.text("payer_account", payer_account, max_length=MAX_PAYER_ACCOUNT),
        payer_key=validation.name_key(payer),
        amount_minor=amount_minor,
        currency=code,
        paid_at=when,
        reference_text=text,
        quoted_order_number=quoted_order_number(text),
    )


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


def shipment_to_proto(row: Shipment) -> pb.Shipment:
    return pb.Shipment(
        id=row.id,
        order_id=row.order_id,
        carrier=row.carrier,
        tracking_number=row.tracking_number,
        shipped_at=to_timestamp(row.shipped_at),
        delivered_at=to_timestamp(row.delivered_at),
        recorded_at=to_timestamp(row.recorded_at),
    )


async def insert_payments(session: AsyncSession, rows: list[dict[str, Any]]) -> set[str]:
    """Insert payment rows, skipping bank references already recorded; the IDs inserted."""
    if not rows:
        return set()
    inserted: set[str] = set()
    for start in range(0, len(rows), 1000):
        statement = (
            conflict_insert(session, Payment)
            .values(rows[start : start + 1000])
            .on_conflict_do_nothing(index_elements=["bank_reference"])
            .returning(Payment.id)
        )
        inserted |= set((await session.scalars(statement)).all())
    return inserted


def _shipment_fields(
    request: pb.RecordShipmentRequest, skew_seconds: int
) -> tuple[str, str, datetime, datetime | None]:
    """Carrier, tracking number, shipped and delivered time of a shipment, validated."""
    carrier = validation.text("carrier", request.carrier, required=True, max_length=MAX_CARRIER)
    tracking = validation.text(
        "tracking_number", request.tracking_number, required=True, max_length=MAX_TRACKING
    )
    shipped_at = from_timestamp(request.shipped_at, "shipped_at")
    delivered_at = from_timestamp(request.delivered_at, "delivered_at")
    now = utcnow()
    if shipped_at is None:
        raise InvalidInput("shipped_at", "shipped_at is required")
    validation.not_in_future("shipped_at", shipped_at, now=now, skew_seconds=skew_seconds)
    if delivered_at is not None:
        if delivered_at < shipped_at:
            raise InvalidInput("delivered_at", "delivered_at precedes shipped_at")
        validation.not_in_future("delivered_at", delivered_at, now=now, skew_seconds=skew_seconds)
    return carrier, tracking, shipped_at, delivered_at


class Payments:
    def __init__(self, runtime: Runtime[OrdersSettings], orders: Orders) -> None:
        self.runtime = runtime
        self.orders = orders
        self.db = runtime.db
        self.idempotent = IdempotentWrites(self.db, IdempotencyKey)
        self.policy = runtime.policy
        self.settings = runtime.settings
        self.reconciler = orders.reconciler

    # -- uploads -------------------------------------------------------------------

    async def create_upload(self, request: pb.CreateUploadRequest) -> pb.CreateUploadResponse:
        principal = current_principal()
        (await self.policy.decide(principal, "payments.upload")).require("payments.upload")
        purpose = validation.enum_value("purpose", request.purpose, UPLOAD_PURPOSES)
        content_type = request.content_type.strip().lower()
        if purpose == "STATEMENT":
            allowed, limit, folder = (
                STATEMENT_CONTENT_TYPES,
                self.settings.statement_max_bytes,
                "statements",
            )
        else:
            allowed, limit, folder = (
                VOUCHER_CONTENT_TYPES,
                self.settings.voucher_max_bytes,
                "vouchers",
            )
        if content_type not in allowed:
            raise InvalidInput(
                "content_type",
                f"a {purpose.lower()} upload must be one of {', '.join(sorted(allowed))}",
            )
        if not 0 < request.size_bytes <= limit:
            raise InvalidInput("size_bytes", f"a {purpose.lower()} must be 1 to {limit} bytes")
        zone = await self.orders.zones.zone(principal.branch_id)
        now = utcnow()
        day = now.astimezone(zone).date().isoformat()
        key = f"{folder}/{principal.id}/{day}/{new_id()}{allowed[content_type]}"
        ttl = timedelta(minutes=self.settings.upload_ttl_minutes)
        upload = await self.runtime.objects.upload_url(key, content_type, request.size_bytes, ttl)
        async with self.db.transaction() as session:
            session.add(
                Upload(
                    key=key,
                    purpose=purpose,
                    employee_id=principal.id,
                    content_type=content_type,
                    size_bytes=request.size_bytes,
                    created_at=now,
                    expires_at=upload.expires_at,
                )
            )
        return pb.CreateUploadResponse(
            key=key,
            upload_url=upload.url,
            upload_headers=upload.headers,
            expires_at=to_timestamp(upload.expires_at),
        )

    # -- payments (O4) -----------------------------------------------------------------

    async def _voucher(self, principal_id: str, key: str) -> str | None:
        key = validation.text("voucher_key", key, max_length=512)
        if not key:
            return None
        async with self.db.read() as session:
            upload = await session.get(Upload, key)
        if upload is None or upload.purpose != "VOUCHER" or upload.employee_id != principal_id:
            raise InvalidInput("voucher_key", f"voucher {key} is not one of your voucher uploads")
        info = await self.runtime.objects.stat(key)
        if info is None:
            raise InvalidInput("voucher_key", f"voucher {key} has not been uploaded")
        if info.size > self.settings.voucher_max_bytes:
            raise InvalidInput("voucher_key", f"voucher {key} is too large")
        return key

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
        voucher_key = await self._voucher(principal.id, request.voucher_key)
        async with self.db.transaction() as session:
            if voucher_key is not None:
                await self._voucher_unused(session, voucher_key, fields.bank_reference)
            branch_id: str | None = None
            if order_id is not None:
                order = await session.scalar(select(Order).where(Order.id == order_id))
                if order is None:
                    raise InvalidInput("order_id", f"order {order_id} not found")
                branch_id = order.branch_id
            row = fields.to_row(
                recorded_by=principal.id,
                voucher_key=voucher_key,
                stated_order_id=order_id,
                branch_id=branch_id,
            )
            inserted = await insert_payments(session, [row])
            if inserted:
                # Matched, and its order classified, before anyone reads it (O5).
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
        reason = validation.text("reason", request.reason, required=True, max_length=1000)
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
            if row.reversed:
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
            # The order is paid less at once: UNPAID or PARTIALLY_PAID again (O5).
            touched = Touched(
                payment_ids=frozenset({row.id}),
                order_ids=frozenset({row.order_id}) if row.order_id else frozenset(),
            )
            await self.reconciler.reconcile(session, touched, now)
        return payment_to_proto(row)

    async def list_payments(self, request: pb.ListPaymentsRequest) -> pb.ListPaymentsResponse:
        requested = validation.page_size(
            "page.page_size", request.page.page_size, self.settings.page_limits
        )
        decision = (await self.policy.decide(current_principal(), "payments.read")).require(
            "payments.read"
        )
        size = decision.page_size(requested)
        payment_filter = request.filter
        conditions: list[ColumnElement[bool]] = [scope_filter(decision, PAYMENT_SCOPE)]
        if payment_filter.order_id:
            conditions.append(
                or_(
                    Payment.order_id == payment_filter.order_id,
                    Payment.stated_order_id == payment_filter.order_id,
                )
            )
        if payment_filter.customer_id:
            conditions.append(Payment.customer_id == payment_filter.customer_id)
        if payment_filter.unmatched_only:
            conditions.append(Payment.order_id.is_(None))
        paid_from, paid_to = (
            from_timestamp(payment_filter.paid_from, "paid_from"),
            from_timestamp(payment_filter.paid_to, "paid_to"),
        )
        if paid_from:
            conditions.append(Payment.paid_at >= paid_from)
        if paid_to:
            conditions.append(Payment.paid_at < paid_to)
        query = keyset_query(
            select(Payment).where(*conditions), request.page, size, Payment.paid_at, Payment.id
        )
        async with self.db.read() as session:
            rows = list((await session.scalars(query)).all())
            total = await count_if_asked(
                request.page, session, select(func.count()).select_from(Payment).where(*conditions)
            )
        page = keyset_page(rows, size, lambda row: (row.paid_at, row.id))
        return pb.ListPaymentsResponse(
            payments=[payment_to_proto(row) for row in page.rows],
            cursors=page.cursors,
            page_info=page.page_info(total),
        )

    # -- shipments (O4) ---------------------------------------------------------------

    async def record_shipment(self, request: pb.RecordShipmentRequest) -> pb.Shipment:
        principal = current_principal()
        order_id = validation.record_id("order_id", request.order_id, required=True)

        async def work(session: AsyncSession) -> pb.RecordShipmentResponse:
            await self.reconciler.lock(session, order_ids=[order_id])
            order = await session.scalar(
                select(Order).where(Order.id == order_id).with_for_update()
            )
            if order is None:
                raise NotFound(f"order {order_id} not found")
            (
                await self.policy.decide(
                    principal, "shipments.record", {"branch_id": order.branch_id}
                )
            ).require("shipments.record")
            # Judged once the caller may ship this order (issue 11 item 12).
            carrier, tracking, shipped_at, delivered_at = _shipment_fields(
                request, self.settings.clock_skew_seconds
            )
            if order.status not in ("APPROVED", "FULFILLED"):
                raise FailedPrecondition(
                    f"order {order.code} is {order.status}; only APPROVED or FULFILLED orders ship",
                    details={"status": order.status},
                )
            shipment = await session.scalar(
                select(Shipment).where(
                    Shipment.order_id == order.id,
                    Shipment.carrier == carrier,
                    Shipment.tracking_number == tracking,
                )
            )
            if shipment is not None:
                # The same parcel again: only a delivery time not known before is added.
                if delivered_at is not None and shipment.delivered_at is None:
                    if delivered_at < shipment.shipped_at:
                        raise InvalidInput("delivered_at", "delivered_at precedes shipped_at")
                    shipment.delivered_at = delivered_at
            else:
                shipment = Shipment(
                    id=new_id(),
                    order_id=order.id,
                    carrier=carrier,
                    tracking_number=tracking,
                    shipped_at=shipped_at,
                    delivered_at=delivered_at,
                    recorded_at=utcnow(),
                    recorded_by=principal.id,
                )
                session.add(shipment)
            if not order.shipped:
                order.shipped = True
                order.updated_at = utcnow()
            await session.flush()
            # A shipped order is no fake deal (O5); its payments are matched and classified.
            await self.reconciler.reconcile(
                session, Touched(order_ids=frozenset({order.id})), utcnow()
            )
            return pb.RecordShipmentResponse(shipment=shipment_to_proto(shipment))

        response = await self.idempotent.run(principal.id, request, pb.RecordShipmentResponse, work)
        return response.shipment

    async def list_shipments(self, order_id: str) -> list[pb.Shipment]:
        order_id = validation.record_id("order_id", order_id, required=True)
        decision = (await self.policy.decide(current_principal(), "shipments.read")).require(
            "shipments.read"
        )
        async with self.db.read() as session:
            order = await session.scalar(
                select(Order.id).where(Order.id == order_id, scope_filter(decision, ORDER_SCOPE))
            )
            if order is None:
                raise NotFound(f"order {order_id} not found")
            rows = (
                await session.scalars(
                    select(Shipment)
                    .where(Shipment.order_id == order_id)
                    .order_by(Shipment.shipped_at, Shipment.id)
                )
            ).all()
        return [shipment_to_proto(row) for row in rows]
