"""Bulk contact access (C8): one actor reading the contact fields of many customers.

``BULK_CONTACT_ACCESS`` when one actor has read the unmasked contact fields of
``count`` or more different customers (policy data, 10 by default) within
``window_seconds`` (an hour): one alert per actor and window, however many reads
follow. Pure: :mod:`salesguard_customers.access` records each read, counts the
actor's distinct customers in the window and raises what this decides.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

BULK_CONTACT_ACCESS = "BULK_CONTACT_ACCESS"
DEFAULT_BULK_COUNT = 10
DEFAULT_BULK_WINDOW_SECONDS = 3600


@dataclass(frozen=True)
class BulkThreshold:
    """C8's threshold, from policy data (``thresholds.bulk_contact_access``)."""

    count: int = DEFAULT_BULK_COUNT
    window_seconds: int = DEFAULT_BULK_WINDOW_SECONDS

    @classmethod
    def from_policy(cls, values: Mapping[str, Any]) -> BulkThreshold:
        return cls(
            int(values.get("count", DEFAULT_BULK_COUNT)),
            int(values.get("window_seconds", DEFAULT_BULK_WINDOW_SECONDS)),
        )

    def window_start(self, now: datetime) -> datetime:
        """Reads after this moment count (the window is open at its start)."""
        return now - timedelta(seconds=self.window_seconds)


@dataclass(frozen=True)
class BulkAccess:
    """C8 ``BULK_CONTACT_ACCESS`` for one actor and window."""

    dedupe_key: str
    evidence: dict[str, Any]


def bulk_contact_access(
    actor_id: str,
    customers_seen: int,
    threshold: BulkThreshold,
    now: datetime,
    last_customer_ids: Sequence[str],
) -> BulkAccess | None:
    """C8: the alert, when the actor's distinct customers read in the window reach the
    threshold; keyed by actor and window so that it is raised once per window."""
    if customers_seen < threshold.count:
        return None
    bucket = int(now.timestamp()) // threshold.window_seconds
    return BulkAccess(
        dedupe_key=f"{BULK_CONTACT_ACCESS}:{actor_id}:{bucket}",
        evidence={
            "customer_count": customers_seen,
            "threshold": threshold.count,
            "window_minutes": threshold.window_seconds // 60,
            "last_customer_ids": list(last_customer_ids)[-20:],
        },
    )
