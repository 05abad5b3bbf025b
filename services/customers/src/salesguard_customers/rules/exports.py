"""Exports (C9): another manager approves before an export runs, and it runs once.

A request is ``PENDING`` until a manager other than the requester approves or
rejects it; only an ``APPROVED`` request runs (to ``COMPLETED``), and an attempt to
run one that is not approved is refused and raises ``EXPORT_WITHOUT_APPROVAL``.
The CSV itself (formula cells neutralised, row count, SHA-256, the one-time URL)
is :mod:`salesguard_customers.exports`'s. Pure: that module loads the request and
persists what these decide.
"""

from __future__ import annotations

from collections.abc import Collection
from enum import StrEnum

PENDING = "PENDING"
APPROVED = "APPROVED"
REJECTED = "REJECTED"
COMPLETED = "COMPLETED"
EXPORT_WITHOUT_APPROVAL = "EXPORT_WITHOUT_APPROVAL"


def is_self_approval(requester_id: str, decider_id: str, policy_reasons: Collection[str]) -> bool:
    """C9: nobody decides their own export request (the policy says so too, as
    ``SELF_APPROVAL``; either suffices)."""
    return "SELF_APPROVAL" in policy_reasons or requester_id == decider_id


def may_decide(status: str) -> bool:
    """C9: a request is decided once, while pending."""
    return status == PENDING


def decided_status(approve: bool) -> str:
    return APPROVED if approve else REJECTED


class RunVerdict(StrEnum):
    RUN = "RUN"
    # Ran already: its download URL was issued once and is not issued again.
    ALREADY_RAN = "ALREADY_RAN"
    # Pending or rejected: refused, and EXPORT_WITHOUT_APPROVAL raised.
    WITHOUT_APPROVAL = "WITHOUT_APPROVAL"


def run_verdict(status: str) -> RunVerdict:
    """C9: whether a request in ``status`` may run."""
    if status == COMPLETED:
        return RunVerdict.ALREADY_RAN
    if status != APPROVED:
        return RunVerdict.WITHOUT_APPROVAL
    return RunVerdict.RUN


def without_approval_dedupe_key(export_id: str, actor_id: str, status: str) -> str:
    """C9: one alert per request, actor and status the attempt met."""
    return f"{EXPORT_WITHOUT_APPROVAL}:{export_id}:{actor_id}:{status}"
