"""What every commission rule shares: line kinds, statuses, reasons, period statuses and
the totals a summary or a statement reports. Money is in integer cents throughout."""

from __future__ import annotations

# Line kinds.
COMMISSION = "COMMISSION"
CLAWBACK = "CLAWBACK"

# Line statuses.
PAYABLE = "PAYABLE"
WITHHELD = "WITHHELD"
PENDING_REVIEW = "PENDING_REVIEW"

# Period statuses.
OPEN = "OPEN"
LOCKED = "LOCKED"

# The sums a period summary and a statement total report, per currency.
TOTAL_BUCKETS = ("payable", "withheld", "pending_review", "clawback")

# The reason of a line joins the reason codes of the rules that shaped it.
REASON_SEPARATOR = "; "


def join_reasons(*parts: str) -> str:
    return REASON_SEPARATOR.join(part for part in parts if part)


def total_bucket(kind: str, status: str) -> str:
    """Which of ``TOTAL_BUCKETS`` a line's amount counts in: clawbacks apart, else by status."""
    return "clawback" if kind == CLAWBACK else status.lower()


def empty_totals() -> dict[str, int]:
    return dict.fromkeys(TOTAL_BUCKETS, 0)
