"""What a registration must carry (C1), when it is late (C2), and who may change its source (C4).

Pure: the registry validates the request, gathers the policy data and the clock,
and raises or refuses whatever these return.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

# C2's default limit, when policy data names none.
DEFAULT_LATE_REGISTRATION_SECONDS = 24 * 3600
LATE_REGISTRATION = "LATE_REGISTRATION"
# C4: the fields that make up a customer's source.
SOURCE_FIELDS = frozenset({"source", "source_detail"})


def has_contact(phone: str, email: str) -> bool:
    """C1: a customer is reachable, by phone or email (and duplicates are found by them)."""
    return bool(phone or email)


def owner_of_registration(registering_id: str, assigned_owner_id: str) -> str:
    """C1: the owner is the registering rep unless the registration assigns one."""
    return assigned_owner_id or registering_id


def late_registration_limit(policy_values: Mapping[str, Any]) -> timedelta:
    """C2's limit from policy data (``thresholds.late_registration.after_seconds``)."""
    return timedelta(
        seconds=float(policy_values.get("after_seconds", DEFAULT_LATE_REGISTRATION_SECONDS))
    )


@dataclass(frozen=True)
class LateRegistration:
    """C2 ``LATE_REGISTRATION``: how late, against which limit."""

    late_by: timedelta
    limit: timedelta

    def evidence(
        self,
        *,
        customer_code: str,
        first_contact_at: datetime,
        registered_at: datetime,
        registered_by: str,
    ) -> dict[str, Any]:
        return {
            "customer_code": customer_code,
            "hours_late": round(self.late_by.total_seconds() / 3600, 1),
            "limit_hours": round(self.limit.total_seconds() / 3600, 1),
            "first_contact_at": first_contact_at.isoformat(),
            "registered_at": registered_at.isoformat(),
            "registered_by": registered_by,
        }


def late_registration(
    first_contact_at: datetime, registered_at: datetime, limit: timedelta
) -> LateRegistration | None:
    """C2: registered more than ``limit`` (24 h by default) after first contact; exactly
    at the limit is on time."""
    late_by = registered_at - first_contact_at
    if late_by > limit:
        return LateRegistration(late_by, limit)
    return None


def source_change_lacks_reason(changed_fields: Collection[str], reason: str) -> bool:
    """C4: the source is fixed at registration; changing it (channel or detail) needs a
    reason, which the audit trail keeps. Whether the caller may change it at all is the
    policy's (``customers.update`` on the field ``source``)."""
    return bool(SOURCE_FIELDS.intersection(changed_fields)) and not reason


def change_action(changed_fields: Collection[str]) -> str:
    """C4: a change of the source channel is audited as such."""
    return "customer.source.change" if "source" in changed_fields else "customer.update"
