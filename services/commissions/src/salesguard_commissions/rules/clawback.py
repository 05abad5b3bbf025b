"""M4: a payment reversed after its order's period was locked gives a ``CLAWBACK`` line.

A run of a branch's period looks at the reversals up to the period's end, looking back
``clawback_lookback_days`` (so one made after its own month was locked is caught by the
next run). A reversal of an order of another branch is that branch's. The order's
original line is its ``PAYABLE`` ``COMMISSION`` line of the latest LOCKED earlier period
of the branch, unless the order was clawed back in another period already; the clawback
repeats the original's facts with the amount negated, always ``PAYABLE``.

The originals are found set-based (:func:`originals_query`); :func:`is_original` is the
same rule for one line.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import FromClause, Select, and_, exists, select

from salesguard_commissions.rules.vocabulary import (
    CLAWBACK,
    COMMISSION,
    LOCKED,
    PAYABLE,
    join_reasons,
)


def lookback_from(start: datetime, lookback_days: int) -> datetime:
    """Where a period's window of reversals begins: well before the period itself."""
    return start - timedelta(days=lookback_days)


def reversal_window(
    bounds: Iterable[tuple[datetime, datetime]], lookback_days: int
) -> tuple[datetime, datetime] | None:
    """[from, to) covering every branch's window, from each branch's period bounds."""
    bounds = list(bounds)
    if not bounds:
        return None
    return lookback_from(min(start for start, _ in bounds), lookback_days), max(
        end for _, end in bounds
    )


def reversal_applies(
    reversal_branch_id: str,
    branch_id: str,
    reversed_at: datetime | None,
    window: tuple[datetime, datetime],
) -> bool:
    """Whether a reversal is this branch's to claw back in a run of ``window``."""
    if reversal_branch_id and reversal_branch_id != branch_id:
        return False  # another branch's order: its own run claws it back
    return reversed_at is not None and window[0] <= reversed_at < window[1]


@dataclass(frozen=True, slots=True)
class LineFacts:
    """What :func:`is_original` asks of a line and its period."""

    order_id: str
    branch_id: str
    period: str
    kind: str
    status: str
    period_status: str | None


def is_original(
    line: LineFacts,
    branch_id: str,
    period: str,
    clawed_back_in: Iterable[tuple[str, str]],
) -> bool:
    """Whether ``line`` is a line a run of ``branch_id``'s ``period`` claws back, given the
    (period, branch) of every clawback line of its order."""
    return (
        line.branch_id == branch_id
        and line.kind == COMMISSION
        and line.status == PAYABLE
        and line.period < period
        and line.period_status == LOCKED
        and all(place == (period, branch_id) for place in clawed_back_in)
    )


def originals_query(
    lines: FromClause, periods: FromClause, order_ids: Sequence[str], branch_id: str, period: str
) -> Select[tuple[object, ...]]:
    """The lines of ``order_ids`` that :func:`is_original` accepts, latest period first per
    order (the first of an order is the one clawed back)."""
    earlier = lines.alias("earlier")
    locked = periods.alias("locked")
    other = lines.alias("other")
    return (
        select(earlier)
        .join(
            locked,
            and_(
                locked.c.branch_id == earlier.c.branch_id,
                locked.c.period == earlier.c.period,
            ),
        )
        .where(
            earlier.c.order_id.in_(order_ids),
            earlier.c.branch_id == branch_id,
            earlier.c.kind == COMMISSION,
            earlier.c.status == PAYABLE,
            earlier.c.period < period,
            locked.c.status == LOCKED,
            ~exists().where(
                other.c.order_id == earlier.c.order_id,
                other.c.kind == CLAWBACK,
                ~and_(other.c.period == period, other.c.branch_id == branch_id),
            ),
        )
        .order_by(earlier.c.order_id, earlier.c.period.desc())
    )


def clawback_reason(original_period: str, payment_id: str, reversal_kind: str) -> str:
    return join_reasons(
        f"CLAWBACK of {original_period}",
        f"payment {payment_id} reversed ({reversal_kind})",
    )


def clawback_amount(original_minor: int) -> int:
    return -original_minor
