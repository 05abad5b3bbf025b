"""Diversion risk (O6): a customer who ordered regularly goes quiet while the owner keeps
in touch.

- A customer has a rhythm when, over the orders of the last ``history_days`` (not
  cancelled or rejected), they placed at least ``min_orders`` orders on at least two
  different days. Their usual interval is the median gap between consecutive order
  days: the median, not the mean, so one long holiday or a burst of orders in a week
  does not move the rhythm.
- They have gone quiet when the days since their last order exceed ``silence_factor``
  times the usual interval.
- ``DIVERSION_RISK`` is raised when the last order's owner checked in at or called the
  customer since the day after that order: once per customer and last order.

Each rule is a pure function and, for the set-based statement of
:mod:`salesguard_orders.diversion`, a named SQL fragment saying the same.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
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


def still_in_touch(check_ins: int, calls: int) -> bool:
    """O6: the owner visited or called the customer since the day after the last order."""
    return check_ins + calls > 0


def dedupe_key(customer_id: str, last_order_id: str) -> str:
    """O6: once per customer and last order: a re-run, or a later run while the customer
    stays silent, raises nothing new; a new order and a new silence do."""
    return f"{DIVERSION_RISK}:{customer_id}:{last_order_id}"
