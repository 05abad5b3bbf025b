"""Diversion risk (O6): a customer who ordered regularly goes quiet while the owner keeps
in touch.

- A customer has a rhythm when, over the orders of the last ``history_days`` (not
  cancelled or rejected), they placed at least ``min_orders`` orders on at least two
  different days. Their usual interval is the median gap between consecutive order
  days: the median, not the mean, so one long holiday or a burst of orders in a week
  does not move the rhythm.
- They have gone quiet when the days since their last order exceed ``silence_factor``
  times the usual interval.
- The silence is on the watch of the customer's owner *now* (SPEC: "while their owner
  keeps visiting or calling them"), not of whoever owned the last order: a customer in
  the branch's pool is nobody's watch, so nothing is raised (the pool's neglect rules look after
  it); an owner who placed the last order watches from the day after it; one who took the
  customer later (a leaver's successor, a claim from the pool) from the moment they took
  it, and the silence counts on their watch only from that day (:func:`watch_of`). A
  leaver is never blamed for a customer they no longer own.
- ``DIVERSION_RISK`` is raised when that owner checked in at or called the customer
  during their watch: once per customer and last order.
- A second record of the same shop (what ``SIMILAR_CUSTOMER`` matches: another owner's record of
  the same company within the radius) that ordered after the customer's last order means
  the shop did not go quiet, its orders went to that record (the ``shadow_record``
  scheme): the alert is raised on that record's owner and names that record, not on the
  owner who goes on visiting the shop (:func:`orders_moved_to`).

Each rule is a pure function and, for the set-based statement of
:mod:`salesguard_orders.diversion`, a named SQL fragment saying the same.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from statistics import median
from typing import Any

DIVERSION_RISK = "DIVERSION_RISK"


@dataclass(frozen=True)
class DiversionThresholds:
    min_orders: int = 3
    silence_factor: float = 2.0
    history_days: int = 730


def thresholds_from(values: Mapping[str, Any]) -> DiversionThresholds:
    """O6's thresholds from policy data (``thresholds.diversion_risk``); a rhythm needs at
    least two orders whatever the data says."""
    defaults = DiversionThresholds()
    return DiversionThresholds(
        min_orders=max(2, int(values.get("min_orders", defaults.min_orders))),
        silence_factor=float(values.get("silence_factor", defaults.silence_factor)),
        history_days=int(values.get("history_days", defaults.history_days)),
    )


def history_start(as_of: date, thresholds: DiversionThresholds) -> date:
    """O6: the first day of the history a rhythm is read from."""
    return as_of - timedelta(days=thresholds.history_days)


# O6 in SQL: an order of the history (parameters ``:history_start``, ``:as_of``).
IN_HISTORY_SQL = """status NOT IN ('CANCELLED', 'REJECTED')
              AND order_date >= :history_start AND order_date <= :as_of"""


def counts_in_history(status: str, order_date: date, as_of: date, start: date) -> bool:
    """O6: an order that makes up a rhythm."""
    return status not in ("CANCELLED", "REJECTED") and start <= order_date <= as_of


# O6 in SQL: a customer with a rhythm, over their orders of the history (a HAVING clause;
# parameter ``:min_orders``).
REGULAR_SQL = "HAVING count(*) >= :min_orders AND count(DISTINCT order_date) >= 2"


def is_regular(orders: int, order_days: int, thresholds: DiversionThresholds) -> bool:
    """O6: enough orders, on at least two different days."""
    return orders >= thresholds.min_orders and order_days >= 2


# O6 in SQL: the median's one or two middle gaps, of ``gaps`` ranked by ``position``.
MEDIAN_GAPS_SQL = "position IN ((gaps + 1) / 2, (gaps + 2) / 2)"


def usual_interval(order_dates: Iterable[date]) -> float | None:
    """O6: the median gap in days between consecutive order days; None under two days."""
    days = sorted(set(order_dates))
    gaps = [(later - earlier).days for earlier, later in pairwise(days)]
    return float(median(gaps)) if gaps else None


def silent_sql(days_silent: str, usual: str) -> str:
    """:func:`is_silent` in SQL (parameter ``:silence_factor``)."""
    return f"{usual} > 0 AND {days_silent} > :silence_factor * {usual}"


def is_silent(days_silent: int, usual: float, thresholds: DiversionThresholds) -> bool:
    """O6: quiet for longer than ``silence_factor`` times the usual interval."""
    return usual > 0 and days_silent > thresholds.silence_factor * usual


@dataclass(frozen=True)
class Watch:
    """O6: whose watch a customer's silence is on, and from when."""

    owner_id: str
    # Day 0 of the silence on their watch: the last order's day, or the day they took the
    # customer when that is later.
    start_day: date
    # Their visits and calls count from this moment.
    contacts_since: datetime


def watch_of(
    last_order_owner_id: str, last_order_date: date, owner_id: str, owned_since: datetime
) -> Watch | None:
    """O6: the watch of the customer's owner now; None in the pool (nobody's).

    The last order was theirs: from the day after it (that day's visit made the order).
    They took the customer later: from the moment they took it, the silence counted from
    that day; so a successor is not blamed for the days before they owned the customer,
    nor a leaver for a customer that is no longer theirs."""
    if not owner_id:
        return None
    after_order = datetime.combine(last_order_date + timedelta(days=1), time.min, tzinfo=UTC)
    if owner_id == last_order_owner_id or owned_since <= after_order:
        return Watch(owner_id, last_order_date, after_order)
    return Watch(owner_id, owned_since.astimezone(UTC).date(), owned_since)


def days_on_watch(as_of: date, watch: Watch) -> int:
    """O6: the days of silence on the owner's watch, as of ``as_of``."""
    return (as_of - watch.start_day).days


def still_in_touch(check_ins: int, calls: int) -> bool:
    """O6: the owner visited or called the customer during their watch."""
    return check_ins + calls > 0


@dataclass(frozen=True)
class SimilarRecord:
    """Another owner's record of the same shop (a ``SIMILAR_CUSTOMER`` match)."""

    customer_id: str
    code: str
    owner_id: str
    distance_m: float


def orders_moved_to(
    similar: Sequence[SimilarRecord], last_order_date: date, last_orders: Mapping[str, date]
) -> SimilarRecord | None:
    """O6: the nearest similar record (``similar`` is nearest first) that ordered
    after the quiet customer's last order (``last_orders``: each record's latest order of
    the history); None when none did, and the silence is the owner's."""
    for record in similar:
        latest = last_orders.get(record.customer_id)
        if record.owner_id and latest is not None and latest > last_order_date:
            return record
    return None


def dedupe_key(customer_id: str, last_order_id: str) -> str:
    """O6: once per customer and last order: a re-run, or a later run while the customer
    stays silent, raises nothing new; a new order and a new silence do."""
    return f"{DIVERSION_RISK}:{customer_id}:{last_order_id}"
