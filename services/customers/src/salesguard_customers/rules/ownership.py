"""Who owns a customer next (C6): reassignment and a leaving employee's successor.

Reassignment moves named customers to a new owner, with a reason, audited; all or
none, so a customer outside the caller's scope fails the whole move. A leaving
employee's customers all go at once, to an active successor of the same branch or
to the branch pool. Nothing new is owned by an employee who is not active; the
registry fences that under the owner's lock (``owner_lock_key``).

Pure: the registry and :mod:`salesguard_customers.handover` read the directory and
the customers, and move what these allow.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass


def owner_lock_key(employee_id: str) -> str:
    """C6: the lock taken for an employee before customers become theirs and before their
    departure hands theirs over: the two go one at a time."""
    return f"owner:{employee_id}"


def missing_customers(requested_ids: Sequence[str], found_ids: Collection[str]) -> list[str]:
    """C6: the requested customers the caller may not reassign (absent or out of scope),
    in request order; any of them refuses the whole reassignment."""
    return [customer_id for customer_id in requested_ids if customer_id not in found_ids]


@dataclass(frozen=True)
class Person:
    """An employee as the directory has them now."""

    id: str
    active: bool
    branch_id: str


def successor_refusal(leaver_id: str, successor_id: str, people: dict[str, Person]) -> str | None:
    """C6: why the named successor cannot take a leaver's customers, or None when they can.

    The successor is someone else, active, of the leaver's branch (when the directory
    knows the leaver)."""
    if successor_id == leaver_id:
        return "a leaving employee cannot succeed themselves"
    successor, leaver = people.get(successor_id), people.get(leaver_id)
    if successor is None or not successor.active:
        return f"{successor_id} is not an active employee"
    if leaver is not None and successor.branch_id != leaver.branch_id:
        return (
            f"{successor_id} works in another branch than {leaver_id}; "
            "name a successor of the same branch"
        )
    return None
