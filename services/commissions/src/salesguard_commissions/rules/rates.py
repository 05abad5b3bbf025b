"""M1: plans, versioned and effective-dated; rates by source class; optional caps.

- The plan in force for a period is the highest version whose ``effective_from`` is
  on or before the period's first day; with none, the default rates apply as version 0
  (company channel 5 %, personal channel 8 %, no caps).
- Rates are basis points of a percent (5 % = 500), money integer cents; ``base × rate``
  rounds half-up to the cent in integer arithmetic.
- A cap per order bounds one line's amount; a cap per period bounds what an employee
  earns in the period (per currency): lines in order of (fully_paid_at, order code,
  line ID) each get what the cap leaves after the earlier ones. The period cap is applied
  set-based (:data:`PERIOD_CAP_SQL`); :func:`cap_per_period` is the same rule in Python.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from sqlalchemy import FromClause, Select, TextClause, select, text

from salesguard.errors import InvalidInput
from salesguard.money import MAX_MINOR
from salesguard_commissions.rules.source_conflict import classify
from salesguard_commissions.rules.vocabulary import COMMISSION, REASON_SEPARATOR, join_reasons


@dataclass(frozen=True, slots=True)
class PlanTerms:
    """What a run applies: the plan version in force for the period."""

    version: int
    company_rate_bp: int
    personal_rate_bp: int
    cap_per_order_minor: int | None
    cap_per_period_minor: int | None


DEFAULT_COMPANY_RATE_PERCENT = "5"
DEFAULT_PERSONAL_RATE_PERCENT = "8"

# Reason codes.
CAPPED_PER_ORDER = "CAPPED_PER_ORDER"
CAPPED_PER_PERIOD = "CAPPED_PER_PERIOD"


def in_force(versions: Iterable[tuple[int, date]], first_day: date) -> int | None:
    """Of (version, effective_from) pairs, the version in force for a period starting on
    ``first_day``; None when none is (the defaults apply). The store asks the same
    (:func:`in_force_query`)."""
    eligible = [version for version, effective_from in versions if effective_from <= first_day]
    return max(eligible, default=None)


def in_force_query(plans: FromClause, first_day: date) -> Select[tuple[object, ...]]:
    """:func:`in_force` over the plans table: the row of the version in force, if any."""
    return (
        select(plans)
        .where(plans.c.effective_from <= first_day)
        .order_by(plans.c.version.desc())
        .limit(1)
    )


@dataclass(frozen=True, slots=True)
class Pricing:
    """The rate, the reason codes and whether review is needed, from the source class."""

    rate_bp: int
    reason: str
    needs_review: bool


def price(plan: PlanTerms, registered: str | None, claim: str) -> Pricing:
    """The plan's rate for the order's source class (the class as the source-conflict
    rule decides it)."""
    source = classify(registered, claim)
    rate = plan.personal_rate_bp if source.personal else plan.company_rate_bp
    return Pricing(rate, source.reason, source.needs_review)


def decimal_to_minor(text: str) -> int:
    """A Decimal string with at most two places ("1234.5", "99.99") as integer cents."""
    if text[-3:-2] == ".":  # the common form, two places: its digits are the cents
        digits = text.replace(".", "", 1)
        if digits.isdigit() and digits.isascii() and len(digits) <= 15:
            return int(digits)
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


def cap_per_order(amount_minor: int, reason: str, cap_minor: int) -> tuple[int, str]:
    """A line's amount within the plan's cap per order, and its reason (noting the cap)."""
    if amount_minor > cap_minor:
        return cap_minor, join_reasons(reason, CAPPED_PER_ORDER)
    return amount_minor, reason


def cap_per_period(amounts_minor: Sequence[int], cap_minor: int) -> list[int]:
    """One employee's amounts of a period in one currency, in order of (fully_paid_at,
    order code, line ID), each within what the cap leaves after the earlier ones."""
    capped: list[int] = []
    earlier = 0
    for amount in amounts_minor:
        left = cap_minor - earlier
        capped.append(0 if left <= 0 else min(amount, left))
        earlier += amount
    return capped


# cap_per_period over a period's COMMISSION lines of one branch, set-based; a line whose
# amount it changes gets CAPPED_PER_PERIOD appended to its reason. ``{table}`` is the lines
# table or a run's staging copy of it (:data:`CAPPED_TABLES`).
_PERIOD_CAP = """
    UPDATE {table} SET
        amount_minor = capped.new_amount,
        reason = {table}.reason || :suffix
    FROM (
        SELECT id, amount_minor AS amount,
            CASE
                WHEN :cap - earlier <= 0 THEN 0
                WHEN amount_minor <= :cap - earlier THEN amount_minor
                ELSE :cap - earlier
            END AS new_amount
        FROM (
            SELECT id, amount_minor,
                SUM(amount_minor) OVER (
                    PARTITION BY employee_id, currency
                    ORDER BY fully_paid_at, order_code, id
                    ROWS UNBOUNDED PRECEDING
                ) - amount_minor AS earlier
            FROM {table}
            WHERE period = :period AND branch_id = :branch_id AND kind = :kind
        ) AS running
    ) AS capped
    WHERE {table}.id = capped.id AND capped.new_amount <> capped.amount
    """
CAPPED_TABLES = ("lines", "staged_lines")
PERIOD_CAP_SQL: dict[str, TextClause] = {
    table: text(_PERIOD_CAP.format(table=table)) for table in CAPPED_TABLES
}


def period_cap(
    period: str, branch_id: str, cap_minor: int, table: str = "lines"
) -> tuple[TextClause, dict[str, object]]:
    """:data:`PERIOD_CAP_SQL` over ``table`` and its parameters for one branch's period."""
    return PERIOD_CAP_SQL[table], {
        "cap": cap_minor,
        "period": period,
        "branch_id": branch_id,
        "kind": COMMISSION,
        "suffix": REASON_SEPARATOR + CAPPED_PER_PERIOD,
    }
