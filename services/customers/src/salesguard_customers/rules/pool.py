"""The customer pool (公海, C11): neglect, the grace period, claims.

- A customer is *neglected* when its last activity — the later of ``owned_since``
  (registration, claim, reassignment) and its latest follow-up — lies ``neglect_days``
  (30) or more before the sweep: ``CUSTOMER_NEGLECTED``, once per episode of neglect
  (a follow-up starts a new one).
- It returns to the branch pool once that episode's alert is ``pool_grace_days`` old.
- A rep of the branch may claim a pooled customer, unless they held it before it went
  to the pool and the cooling-off period (``pool_cooling_off_days``) has not ended,
  or they already hold their holding cap (policy data, per role; the largest of
  theirs).

Pure. The sweep in :mod:`salesguard_customers.pool` is set-based SQL for speed; its
predicates are built from :func:`neglect_cutoff` and :func:`grace_cutoff`, and
:func:`is_neglected` / :func:`grace_over` say the same of one customer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

NEGLECTED = "CUSTOMER_NEGLECTED"
# When policy data names no holding cap for any of a rep's roles.
DEFAULT_HOLDING_CAP = 50


def last_activity(owned_since: datetime, latest_follow_up: datetime | None) -> datetime:
    """C11: the later of ``owned_since`` and the latest follow-up."""
    if latest_follow_up is not None and latest_follow_up > owned_since:
        return latest_follow_up
    return owned_since


def neglect_cutoff(as_of: datetime, neglect_days: int) -> datetime:
    """C11: a customer whose last activity is at or before this moment is neglected."""
    return as_of - timedelta(days=neglect_days)


def is_neglected(last_active: datetime, as_of: datetime, neglect_days: int) -> bool:
    """C11: no activity for ``neglect_days`` (exactly that long counts)."""
    return last_active <= neglect_cutoff(as_of, neglect_days)


def grace_cutoff(as_of: datetime, pool_grace_days: int) -> datetime:
    """C11: a neglect alert raised at or before this moment has outlived the grace period."""
    return as_of - timedelta(days=pool_grace_days)


def grace_over(alerted_at: datetime, as_of: datetime, pool_grace_days: int) -> bool:
    """C11: the customer returns to the pool once its episode's alert is this old."""
    return alerted_at <= grace_cutoff(as_of, pool_grace_days)


def holding_cap(caps: Mapping[str, Any], roles: Iterable[str]) -> int:
    """C11: the most customers a rep may own: the largest cap among their roles, else the
    ``default`` cap of policy data, else :data:`DEFAULT_HOLDING_CAP`."""
    held = [int(caps[role]) for role in roles if role in caps]
    return max(held) if held else int(caps.get("default", DEFAULT_HOLDING_CAP))


@dataclass(frozen=True)
class CoolingOff:
    """C11: the previous owner may claim the customer again from ``ends``."""

    pooled_at: datetime
    ends: datetime


def cooling_off(
    claimant_id: str,
    previous_owner_id: str | None,
    pooled_at: datetime,
    now: datetime,
    cooling_off_days: int,
) -> CoolingOff | None:
    """C11: the cooling-off that refuses this claim, if any: only the owner the customer
    was pooled from waits, until ``cooling_off_days`` after it was pooled."""
    ends = pooled_at + timedelta(days=cooling_off_days)
    if previous_owner_id == claimant_id and now < ends:
        return CoolingOff(pooled_at, ends)
    return None


def over_holding_cap(held: int, cap: int) -> bool:
    """C11: a rep holding ``cap`` customers already may claim no more."""
    return held >= cap
