"""The pure rules of a commission line (M2–M5): periods, rates, amounts, caps, statuses.

No I/O here: a run feeds these functions what it streamed and looked up, and
two runs over the same inputs therefore compute the same lines.

- A period is a calendar month ``YYYY-MM`` in the branch's time zone.
- Rates are stored in basis points of a percent (5 % = 500), money in integer
  cents; ``base × rate`` rounds half-up to the cent in integer arithmetic.
- The source class: a customer registered through a company channel earns the
  company rate, a customer registered as PERSONAL the personal rate; a rep who
  claims PERSONAL for a company-channel customer gets the company rate and the
  line waits for review (M3 ``SOURCE_CONFLICT``).
- Status, strongest first: WITHHELD (an alert concerns the order or its
  customer), PENDING_REVIEW (a source conflict, an unknown customer, a frozen
  employee), PAYABLE.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from salesguard.errors import InvalidInput
from salesguard.money import MAX_MINOR

# Line IDs are UUIDv5 of what the line is about, so a re-run writes identical lines (M5).
LINE_NAMESPACE = uuid.UUID("6f1d3c52-7a0e-5b7e-9c1a-2f4b8d0e6a31")
_NAMESPACE_BYTES = LINE_NAMESPACE.bytes
PERIOD_PATTERN = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")

COMPANY_CHANNELS = frozenset({"WEBSITE", "EXHIBITION", "REFERRAL", "COMPANY_ASSIGNED"})
PERSONAL = "PERSONAL"

PAYABLE = "PAYABLE"
WITHHELD = "WITHHELD"
PENDING_REVIEW = "PENDING_REVIEW"
COMMISSION = "COMMISSION"
CLAWBACK = "CLAWBACK"

OPEN = "OPEN"
LOCKED = "LOCKED"

# The sums a period summary and a statement total report, per currency.
TOTAL_BUCKETS = ("payable", "withheld", "pending_review", "clawback")

# Reason codes (the reason of a line joins them with "; ").
COMPANY_CHANNEL = "COMPANY_CHANNEL"
PERSONAL_CHANNEL = "PERSONAL_CHANNEL"
SOURCE_CONFLICT = "SOURCE_CONFLICT"
UNKNOWN_CUSTOMER = "UNKNOWN_CUSTOMER"
CAPPED_PER_ORDER = "CAPPED_PER_ORDER"
CAPPED_PER_PERIOD = "CAPPED_PER_PERIOD"
REASON_SEPARATOR = "; "


@dataclass(frozen=True, slots=True)
class Period:
    """A month: ``2026-03``."""

    year: int
    month: int

    @classmethod
    def parse(cls, text: str, field: str = "period") -> Period:
        match = PERIOD_PATTERN.match(text.strip())
        if match is None:
            raise InvalidInput(field, f"{field} must be a month written YYYY-MM, e.g. 2026-03")
        year, month = int(match.group(1)), int(match.group(2))
        if year < 2000 or year > 2999:
            raise InvalidInput(field, f"{field} lies outside the years 2000 to 2999")
        return cls(year, month)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    def next(self) -> Period:
        return Period(self.year + self.month // 12, self.month % 12 + 1)

    def bounds(self, zone: ZoneInfo) -> tuple[datetime, datetime]:
        """[start, end) of the month in ``zone``, as UTC instants."""
        following = self.next()
        start = datetime(self.year, self.month, 1, tzinfo=zone)
        end = datetime(following.year, following.month, 1, tzinfo=zone)
        return start.astimezone(UTC), end.astimezone(UTC)


def zone_of(name: str) -> ZoneInfo:
    """A branch's IANA time zone; UTC when it names none or an unknown one."""
    if not name:
        return ZoneInfo("UTC")
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError, OSError):
        return ZoneInfo("UTC")


def line_id(period: str, branch_id: str, order_id: str, kind: str) -> str:
    """The ID of a line, derived from (period, branch, order, kind) only: the hex of
    ``uuid5(LINE_NAMESPACE, name)``, computed without building UUID objects (hot loop)."""
    name = f"{period}\x1f{branch_id}\x1f{order_id}\x1f{kind}".encode()
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + name, usedforsecurity=False).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    return digest.hex()


def decimal_to_minor(text: str) -> int:
    """A Decimal string with at most two places ("1234.5", "99.99") as integer cents."""
    whole, dot, fraction = text.partition(".")
    if (
        whole.isdigit()
        and len(fraction) <= 2
        and (not dot or fraction.isdigit())
        and len(whole) <= 13
    ):
        return int(whole) * 100 + (int(fraction.ljust(2, "0")) if fraction else 0)
    try:  # the slow path: signs, exponents, a leading dot
        number = Decimal(text)
    except InvalidOperation:
        raise InvalidInput("total", f"an order total is not a decimal: {text!r}") from None
    cents = number * 100
    if not cents.is_finite() or cents != cents.to_integral_value() or abs(cents) > MAX_MINOR:
        raise InvalidInput("total", f"an order total is not an amount in cents: {text!r}")
    return int(cents)


def commission_minor(base_minor: int, rate_bp: int) -> int:
    """base × rate (basis points of a percent), rounded half-up to the cent; exact."""
    product = base_minor * rate_bp
    if product >= 0:
        return (product + 5_000) // 10_000
    return -((-product + 5_000) // 10_000)


@dataclass(frozen=True, slots=True)
class PlanTerms:
    """What a run applies: the plan version in force for the period."""

    version: int
    company_rate_bp: int
    personal_rate_bp: int
    cap_per_order_minor: int | None
    cap_per_period_minor: int | None


@dataclass(frozen=True, slots=True)
class Pricing:
    """The rate, the reason codes and whether review is needed, from the source class."""

    rate_bp: int
    reason: str
    needs_review: bool


def price(plan: PlanTerms, registered: str | None, claim: str) -> Pricing:
    """The rate by the registered source class (M2), and a source conflict (M3)."""
    if registered is None:
        # The registry does not know the customer: the lower, company rate, and a person looks.
        return Pricing(plan.company_rate_bp, UNKNOWN_CUSTOMER, True)
    if registered == PERSONAL:
        return Pricing(plan.personal_rate_bp, PERSONAL_CHANNEL, False)
    if claim == PERSONAL:
        return Pricing(plan.company_rate_bp, SOURCE_CONFLICT, True)
    return Pricing(plan.company_rate_bp, COMPANY_CHANNEL, False)


def total_bucket(kind: str, status: str) -> str:
    """Which of ``TOTAL_BUCKETS`` a line's amount counts in: clawbacks apart, else by status."""
    return "clawback" if kind == CLAWBACK else status.lower()


def empty_totals() -> dict[str, int]:
    return dict.fromkeys(TOTAL_BUCKETS, 0)


def frozen_reason(reason: str) -> str:
    return f"employee left: {reason}" if reason else "employee left"


def join_reasons(*parts: str) -> str:
    return REASON_SEPARATOR.join(part for part in parts if part)
