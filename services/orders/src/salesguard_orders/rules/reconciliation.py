"""Reconciliation (O5): which order a payment pays, what state an order is in, which
orders are suspected fakes and which payers are not the customer.

- **Matching**, in this order of precedence (:data:`MATCH_PRECEDENCE`): the order the
  payment was recorded for, else the order code its remittance quotes (both
  ``ORDER_CODE``), else customer + amount (``CUSTOMER_AMOUNT``): within a group of one
  payer key, currency and amount, the open payments by (paid_at, id) take the open
  orders of that customer key, currency and total by (expected payment date, number),
  the n-th payment the n-th order (:func:`pair_in_group`). An open order is approved,
  fulfilled or closed and has no payment matched yet.
- **Classification** of approved, fulfilled and closed orders from the sum of their
  matched, non-reversed payments in their currency: ``UNPAID``, ``PARTIALLY_PAID``,
  ``RECONCILED``, ``OVERPAID`` (:func:`payment_state`), fully paid when the running sum
  first reaches the total (:func:`fully_paid_at`). A valid order (what commissions pay)
  is reconciled or overpaid (:data:`VALID_STATES`).
- ``FAKE_DEAL_SUSPECTED``: approved or fulfilled, due before the cutoff (as of the run,
  less the grace days a payment may take to arrive), no payment and no shipment; an order
  back-ordered is past due only once its promised shipping day is before the cutoff too
  (:func:`past_due`). A back-order may promise at most ``back_order_max_days`` after the
  order's due date (:func:`latest_promise`), so a fake deal cannot be hidden for long.
- ``SHIPMENT_OVERDUE``, the fake deal's earlier sign: approved (or fulfilled) before the
  shipping cutoff (as of the run, less the days an order takes to ship), and neither
  shipped, back-ordered nor paid. An honest order ships within days or the warehouse says
  why; an order nobody means to deliver does neither, long before its payment is due.
- ``PAYER_MISMATCH``: a payment matched by order code whose payer is neither the
  customer's name nor its company.

Each rule is a pure function and, for the set-based statements of
:mod:`salesguard_orders.matching`, a named SQL fragment saying the same over the
``orders``, ``order_payment_states`` and ``payments`` tables; the statements compose the
fragments.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

# Orders that reconciliation classifies (a fake deal hides behind APPROVED or FULFILLED).
CLASSIFIED = ("APPROVED", "FULFILLED", "CLOSED")
# Orders a fake deal may be.
UNFULFILLED = ("APPROVED", "FULFILLED")
# Orders that count for commissions.
VALID_STATES = ("RECONCILED", "OVERPAID")
# How a payment was matched (the contract's two values).
ORDER_CODE = "ORDER_CODE"
CUSTOMER_AMOUNT = "CUSTOMER_AMOUNT"
# The matching statements, in order of precedence.
MATCH_PRECEDENCE = ("match_stated", "match_quoted", "match_customer_amount")
# The customer's keys a payer key is compared with.
CUSTOMER_KEYS = ("customer_name_key", "customer_company_key")

FAKE_DEAL_SUSPECTED = "FAKE_DEAL_SUSPECTED"
SHIPMENT_OVERDUE = "SHIPMENT_OVERDUE"
PAYER_MISMATCH = "PAYER_MISMATCH"


def _sql_list(values: Iterable[str]) -> str:
    return "(" + ", ".join(f"'{value}'" for value in values) + ")"


# -- matching --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PaymentFacts:
    id: str
    paid_at: datetime
    payer_key: str
    currency: str
    amount_minor: int
    stated_order_id: str | None = None
    quoted_order_number: int | None = None


@dataclass(frozen=True)
class OrderFacts:
    id: str
    number: int
    status: str
    currency: str
    total_minor: int
    expected_payment_date: date
    customer_name_key: str = ""
    customer_company_key: str = ""
    has_payment: bool = False


def stated_or_quoted(payment: PaymentFacts, orders: Iterable[OrderFacts]) -> OrderFacts | None:
    """O5: the order a payment names: the one it was recorded for, else the one whose code
    it quotes (whatever that order's status: a payment for a cancelled order is matched to it)."""
    by_id = {order.id: order for order in orders}
    if payment.stated_order_id is not None and payment.stated_order_id in by_id:
        return by_id[payment.stated_order_id]
    if payment.quoted_order_number is not None:
        return next(
            (order for order in by_id.values() if order.number == payment.quoted_order_number),
            None,
        )
    return None


def is_open_for(order: OrderFacts, payer_key: str, currency: str, amount_minor: int) -> bool:
    """O5: the order may take a customer + amount payment of this payer, currency and amount."""
    return (
        order.status in CLASSIFIED
        and not order.has_payment
        and order.currency == currency
        and order.total_minor == amount_minor
        and payer_key != ""
        and payer_key in (order.customer_name_key, order.customer_company_key)
    )


def pair_in_group(
    payments: Sequence[PaymentFacts], orders: Sequence[OrderFacts]
) -> list[tuple[str, str]]:
    """O5: customer + amount within one group: the n-th open payment by (paid_at, id) pays
    the n-th open order by (expected payment date, number); (payment ID, order ID) pairs."""
    ranked_payments = sorted(payments, key=lambda payment: (payment.paid_at, payment.id))
    ranked_orders = sorted(orders, key=lambda order: (order.expected_payment_date, order.number))
    return [
        (payment.id, order.id)
        for payment, order in zip(ranked_payments, ranked_orders, strict=False)
    ]


def open_payment_sql(p: str) -> str:
    """O5 in SQL: a payment not matched yet and not reversed (``p``: its alias)."""
    return f"{p}.order_id IS NULL AND NOT {p}.reversed"


def open_order_sql(o: str, key: str) -> str:
    """O5 in SQL: an order that may take a customer + amount payment by its ``key``; the
    statement also requires that no payment is matched to it yet."""
    return f"{o}.status IN {_sql_list(CLASSIFIED)} AND {o}.{key} <> ''"


STATED_ORDER_SQL = "payments.stated_order_id = o.id"
QUOTED_CODE_SQL = "payments.quoted_order_number = o.number"


# -- classification --------------------------------------------------------------------------


def payment_state(paid_minor: int, total_minor: int) -> str:
    """O5: an order's state from what its payments sum to."""
    if paid_minor == 0:
        return "UNPAID"
    if paid_minor < total_minor:
        return "PARTIALLY_PAID"
    if paid_minor == total_minor:
        return "RECONCILED"
    return "OVERPAID"


def payment_state_sql(paid: str, total: str) -> str:
    """:func:`payment_state` in SQL."""
    return f"""CASE WHEN {paid} = 0 THEN 'UNPAID'
                        WHEN {paid} < {total} THEN 'PARTIALLY_PAID'
                        WHEN {paid} = {total} THEN 'RECONCILED'
                        ELSE 'OVERPAID' END"""


def counts_towards(
    *, payment_reversed: bool, payment_currency: str, order_currency: str, order_status: str
) -> bool:
    """O5: a matched payment counts towards its order's sum."""
    return (
        not payment_reversed and payment_currency == order_currency and order_status in CLASSIFIED
    )


def counts_towards_sql(p: str, o: str) -> str:
    """:func:`counts_towards` in SQL (``p`` joined to its order ``o``)."""
    return f"NOT {p}.reversed AND {p}.currency = {o}.currency AND {o}.status IN {_sql_list(CLASSIFIED)}"


def classified_sql(o: str) -> str:
    """O5 in SQL: an order reconciliation classifies."""
    return f"{o}.status IN {_sql_list(CLASSIFIED)}"


def fully_paid_at(
    payments: Iterable[tuple[datetime, str, int]], total_minor: int
) -> datetime | None:
    """O5: when the running sum of (paid_at, id, amount), in that order, first reached the total."""
    running = 0
    for paid_at, _, amount_minor in sorted(payments):
        running += amount_minor
        if running >= total_minor:
            return paid_at
    return None


def unpaid_state_sql(ps: str) -> str:
    """O5 in SQL: the payment state ``ps`` (a row of ``order_payment_states``, which every
    classified order has) is unpaid, nothing paid."""
    return f"{ps}.payment_state = 'UNPAID' AND {ps}.paid_minor = 0"


def is_valid_order(status: str, state: str) -> bool:
    """O5: an order commissions pay: classified and paid in full (or more)."""
    return status in CLASSIFIED and state in VALID_STATES


# -- FAKE_DEAL_SUSPECTED ---------------------------------------------------------------------


def fake_deal_cutoff(as_of: date, grace_days: int) -> date:
    """O5: an order due before this day is past due (a payment may take ``grace_days``)."""
    return as_of - timedelta(days=grace_days)


def past_due(expected_payment_date: date, promised_ship_date: date | None, cutoff: date) -> bool:
    """Due before the cutoff and, when back-ordered, promised to ship before it too."""
    return expected_payment_date < cutoff and (
        promised_ship_date is None or promised_ship_date < cutoff
    )


def latest_promise(expected_payment_date: date, back_order_max_days: int) -> date:
    """The latest shipping day a back-order may promise."""
    return expected_payment_date + timedelta(days=back_order_max_days)


def is_fake_deal(
    *,
    status: str,
    expected_payment_date: date,
    cutoff: date,
    payment_state: str,
    paid_minor: int,
    shipped: bool,
    shipments: int,
    promised_ship_date: date | None = None,
) -> bool:
    """O5 ``FAKE_DEAL_SUSPECTED``: approved or fulfilled, past due (and past its
    back-order's promise), no payment, no shipment."""
    return (
        status in UNFULFILLED
        and past_due(expected_payment_date, promised_ship_date, cutoff)
        and payment_state == "UNPAID"
        and paid_minor == 0
        and not shipped
        and shipments == 0
    )


def fake_deal_sql(o: str, ps: str) -> str:
    """:func:`is_fake_deal` in SQL over the order ``o`` and its payment state ``ps``
    (parameter ``:cutoff``)."""
    return f"""{o}.status IN {_sql_list(UNFULFILLED)} AND {o}.expected_payment_date < :cutoff
          AND ({o}.promised_ship_date IS NULL OR {o}.promised_ship_date < :cutoff)
          AND {unpaid_state_sql(ps)} AND NOT {o}.shipped
          AND NOT EXISTS (SELECT 1 FROM shipments s WHERE s.order_id = {o}.id)"""  # noqa: S608


# -- SHIPMENT_OVERDUE ------------------------------------------------------------------------


def shipping_cutoff(as_of: date, ship_within_days: int) -> datetime:
    """An order approved before this moment (the start, in UTC, of the day
    ``ship_within_days`` before ``as_of``) has had that many whole days to ship."""
    return datetime.combine(as_of - timedelta(days=ship_within_days), time.min, tzinfo=UTC)


def is_shipment_overdue(
    *,
    status: str,
    approved_at: datetime | None,
    cutoff: datetime,
    payment_state: str,
    paid_minor: int,
    shipped: bool,
    shipments: int,
    promised_ship_date: date | None,
) -> bool:
    """O5 ``SHIPMENT_OVERDUE``: approved before the cutoff, and not shipped, back-ordered
    nor paid."""
    return (
        status in UNFULFILLED
        and approved_at is not None
        and approved_at < cutoff
        and payment_state == "UNPAID"
        and paid_minor == 0
        and not shipped
        and shipments == 0
        and promised_ship_date is None
    )


def approved_at_sql(o: str) -> str:
    """When the order ``o`` was approved: its last step's decision."""
    return f"(SELECT max(st.decided_at) FROM approval_steps st WHERE st.order_id = {o}.id)"  # noqa: S608


def shipment_overdue_sql(o: str, ps: str) -> str:
    """:func:`is_shipment_overdue` in SQL over the order ``o`` and its payment state ``ps``
    (parameter ``:ship_cutoff``)."""
    return f"""{o}.status IN {_sql_list(UNFULFILLED)} AND {unpaid_state_sql(ps)}
          AND NOT {o}.shipped AND {o}.promised_ship_date IS NULL
          AND NOT EXISTS (SELECT 1 FROM shipments s WHERE s.order_id = {o}.id)
          AND {approved_at_sql(o)} < :ship_cutoff"""  # noqa: S608


# -- PAYER_MISMATCH --------------------------------------------------------------------------


def is_payer_mismatch(
    *, matched_by: str, payer_key: str, customer_name_key: str, customer_company_key: str
) -> bool:
    """O5 ``PAYER_MISMATCH``: a payment matched by order code, paid by someone who is neither
    the customer nor its company (a customer + amount match agrees by construction)."""
    return (
        matched_by == ORDER_CODE
        and payer_key != customer_name_key
        and payer_key != customer_company_key
    )


def payer_mismatch_sql(p: str, o: str) -> str:
    """:func:`is_payer_mismatch` in SQL (``p`` joined to its order ``o``)."""
    return (
        f"{p}.matched_by = '{ORDER_CODE}' AND {p}.payer_key <> {o}.customer_name_key"
        f" AND {p}.payer_key <> {o}.customer_company_key"
    )


def dedupe_key(kind: str, subject_id: str) -> str:
    """One alert per kind and order (a fake deal) or customer and payer (a payer mismatch:
    ``customer_id:payer_key``)."""
    return f"{kind}:{subject_id}"


def dedupe_key_sql(kind: str, subject_column: str) -> str:
    """:func:`dedupe_key` in SQL."""
    return f"'{kind}:' || {subject_column}"
