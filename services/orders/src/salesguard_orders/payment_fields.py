"""One payment's fields, validated and normalised: what RecordPayment and every row of a
bank statement import go through (the same rules for both).

``paid_at`` is a datetime or ISO-8601 text; without an offset (or as a bare date) it is
read in the importer's branch's time zone, and it may not lie in the future beyond the
clock skew. The order code a remittance text quotes is extracted here
(:func:`.rules.payments.quoted_order_number`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from datetime import time as clock
from decimal import Decimal
from typing import Any

from salesguard import money, validation
from salesguard.db import new_id, utcnow
from salesguard.errors import InvalidInput
from salesguard.timeutil import check_moment
from salesguard_api.common.v1 import common_pb2
from salesguard_orders.matching import PaymentGroup
from salesguard_orders.models import Payment
from salesguard_orders.order_input import validate_currency
from salesguard_orders.rules.payments import conflicting_field, quoted_order_number

MAX_BANK_REFERENCE = 128
MAX_PAYER_NAME = 200
MAX_PAYER_ACCOUNT = 64
MAX_REFERENCE_TEXT = 500
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


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
        order_submitted_by: str | None = None,
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
            "order_submitted_by": order_submitted_by,
        }

    @property
    def group(self) -> PaymentGroup:
        """The customer + amount group the payment is matched in when it quotes no order."""
        return PaymentGroup(self.payer_key, self.currency, self.amount_minor)

    def conflict_with(self, existing: Payment) -> str | None:
        """The field in which an already recorded payment with this reference differs."""
        return conflicting_field(
            existing.amount_minor, existing.currency, self.amount_minor, self.currency
        )


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
