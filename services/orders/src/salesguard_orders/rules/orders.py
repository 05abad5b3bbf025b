"""Orders (O1): the status machine, an order's date and when it is due.

- ``SUBMITTED → APPROVED | REJECTED → FULFILLED → CLOSED``, or ``CANCELLED`` from
  SUBMITTED or APPROVED. Approval and rejection are the approval chain's
  (:mod:`.approvals`); TransitionOrder makes the other moves, and nothing leaves
  REJECTED, CLOSED or CANCELLED. A cancellation names its reason.
- An order is dated today or earlier (in its branch's time zone); it is due on its
  expected payment date, no earlier than its date, else after the payment terms.

Pure: the ordering module parses the request, reads the clock and the order, and
refuses or stores what these return.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from salesguard.errors import InvalidInput

SUBMITTED = "SUBMITTED"
CANCELLED = "CANCELLED"
# The moves TransitionOrder makes (target ← allowed sources).
TRANSITIONS: dict[str, frozenset[str]] = {
    "FULFILLED": frozenset({"APPROVED"}),
    "CLOSED": frozenset({"FULFILLED"}),
    CANCELLED: frozenset({SUBMITTED, "APPROVED"}),
}


def leads_anywhere(target: str) -> bool:
    """O1: some transition leads to ``target`` (APPROVED and REJECTED are decisions)."""
    return target in TRANSITIONS


def can_move(source: str, target: str) -> bool:
    """O1: an order in ``source`` may be moved to ``target``."""
    return source in TRANSITIONS.get(target, frozenset())


def needs_reason(target: str) -> bool:
    """O1: cancelling an order needs a reason."""
    return target == CANCELLED


def noted_transition(note: str, target: str, at: datetime, by: str, reason: str) -> str:
    """The order's note with a transition's reason appended (orders keep no other column
    for it); the note as is without a reason."""
    if not reason:
        return note
    entry = f"[{target} {at.date().isoformat()} by {by}] {reason}"
    return f"{note}\n{entry}" if note else entry


def check_order_date(order_date: date, today: date) -> date:
    """O1: an order is dated today or earlier."""
    if order_date > today:
        raise InvalidInput(
            "order_date", f"order_date {order_date} lies in the future (today is {today})"
        )
    return order_date


def payment_due(expected: date | None, order_date: date, payment_terms_days: int) -> date:
    """O1: the expected payment date: as given, not before the order date; without one,
    the order date plus the payment terms."""
    if expected is None:
        return order_date + timedelta(days=payment_terms_days)
    if expected < order_date:
        raise InvalidInput("expected_payment_date", "expected_payment_date precedes the order date")
    return expected
