"""Duplicates (C3) and the criteria too common to block on (C12).

C3: a registration whose phone (E.164), email (lower-cased) or name+company
matches an existing customer creates no second record; the caller learns the
existing customer's code and masked owner, and a ``DUPLICATE_CUSTOMER_CLAIM`` alert
asks a manager to decide. The criteria are compared through keys (blind indexes
for phone and email, :func:`identity_key` for name+company), in this order.

C12: a value that became *shared* (a switchboard number) is ignored for blocking
and reported instead. It becomes shared when registrations carrying it were
refused for enough different reps of enough branches within a window: the
existing customer's owner does not count, one rep retrying counts once, and
refusals before the value was last un-shared count no more.

Pure: the registry and :mod:`salesguard_customers.shared_contacts` look the keys
and refusals up and persist what these decide.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from salesguard.validation import name_key

PHONE = "phone"
EMAIL = "email"
NAME_COMPANY = "name+company"
CLAIM_ALERT = "DUPLICATE_CUSTOMER_CLAIM"
SHARED_ALERT = "SHARED_CONTACT_DETAIL"

DEFAULT_DISTINCT_REPS = 3
DEFAULT_DISTINCT_BRANCHES = 2
DEFAULT_WINDOW_DAYS = 30


def identity_key(name: str, company: str) -> str:
    """C3's name+company criterion, case- and space-insensitive."""
    return f"{name_key(name)}|{name_key(company)}"


@dataclass(frozen=True)
class Criterion:
    """One C3 criterion of a registration: its name and the key its value is compared by."""

    name: str
    value_key: str


def duplicate_criteria(phone_key: str, email_key: str, identity: str) -> list[Criterion]:
    """C3: the criteria a registration is matched on, in the order a match is reported:
    phone and email when given, name+company always."""
    criteria = []
    if phone_key:
        criteria.append(Criterion(PHONE, phone_key))
    if email_key:
        criteria.append(Criterion(EMAIL, email_key))
    criteria.append(Criterion(NAME_COMPANY, identity))
    return criteria


@dataclass(frozen=True)
class BlockingCriteria:
    """C12: which criteria block a registration, and which were ignored as shared."""

    blocking: tuple[Criterion, ...]
    ignored: tuple[str, ...]


def blocking_criteria(
    criteria: Iterable[Criterion], shared: Collection[tuple[str, str]]
) -> BlockingCriteria:
    """C12: a criterion whose (name, value key) is shared does not block; it is reported."""
    blocking, ignored = [], []
    for criterion in criteria:
        if (criterion.name, criterion.value_key) in shared:
            ignored.append(criterion.name)
        else:
            blocking.append(criterion)
    return BlockingCriteria(tuple(blocking), tuple(ignored))


def claim_dedupe_key(existing_id: str, claimant_id: str, criterion: str) -> str:
    """C3: one claim alert per existing customer, claimant and criterion."""
    return f"{CLAIM_ALERT}:{existing_id}:{claimant_id}:{criterion}"


def claim_evidence(
    existing_code: str, criterion: str, claimant_id: str, existing_owner_id: str | None
) -> dict[str, Any]:
    return {
        "existing_code": existing_code,
        "matched_on": criterion,
        "claimant_id": claimant_id,
        "existing_owner_id": existing_owner_id,
    }


# -- C12: when a value becomes shared -----------------------------------------------------


@dataclass(frozen=True)
class SharedThreshold:
    """C12's threshold, from policy data (``thresholds.shared_contact``)."""

    distinct_reps: int = DEFAULT_DISTINCT_REPS
    distinct_branches: int = DEFAULT_DISTINCT_BRANCHES
    window_days: int = DEFAULT_WINDOW_DAYS

    @classmethod
    def from_policy(cls, values: Mapping[str, Any]) -> SharedThreshold:
        return cls(
            distinct_reps=int(values.get("distinct_reps", DEFAULT_DISTINCT_REPS)),
            distinct_branches=int(values.get("distinct_branches", DEFAULT_DISTINCT_BRANCHES)),
            window_days=int(values.get("window_days", DEFAULT_WINDOW_DAYS)),
        )


def refusals_count_since(
    now: datetime, threshold: SharedThreshold, last_unshared_at: datetime | None
) -> datetime:
    """C12: refusals within the window count, and none from before the value was last
    un-shared."""
    since = now - timedelta(days=threshold.window_days)
    return since if last_unshared_at is None else max(since, last_unshared_at)


@dataclass(frozen=True)
class Refusal:
    """A registration refused on the value (C3): by whom, of which branch."""

    employee_id: str
    branch_id: str | None


@dataclass(frozen=True)
class SharedByRefusals:
    """C12: the reps and branches whose refusals make the value shared."""

    reps: tuple[str, ...]
    branches: tuple[str, ...]
    window_days: int

    def evidence(self, criterion: str, shown: str, existing_code: str) -> dict[str, Any]:
        reps, branches, days = len(self.reps), len(self.branches), self.window_days
        return {
            "criterion": criterion,
            "value": shown,
            "existing_code": existing_code,
            "rep_count": reps,
            "branch_count": branches,
            "window_days": days,
            "employee_ids": list(self.reps[:20]),
            "branch_ids": list(self.branches[:20]),
            "why": f"registrations carrying it were refused for {reps} different reps of "
            f"{branches} branches within {days} days",
            "why_zh": f"{days} 天内 {branches} 个分公司的 {reps} 名不同销售登记时因其被判为重复",
        }


def shared_by_refusals(
    refusals: Iterable[Refusal], threshold: SharedThreshold, existing_owner_id: str | None
) -> SharedByRefusals | None:
    """C12: the value is shared once ``distinct_reps`` reps of ``distinct_branches`` branches
    were refused on it (the refusals of the counting window); the existing customer's
    owner does not count, one rep's retries count once."""
    counted = [r for r in refusals if r.employee_id != existing_owner_id]
    reps = sorted({r.employee_id for r in counted})
    branches = sorted({r.branch_id for r in counted if r.branch_id})
    if len(reps) < threshold.distinct_reps or len(branches) < threshold.distinct_branches:
        return None
    return SharedByRefusals(tuple(reps), tuple(branches), threshold.window_days)


def involved_branch(
    confirmer_branch_id: str | None,
    customer_branch_id: str | None,
    refused_branch_ids: Collection[str | None],
) -> bool:
    """C12: nobody confirms a value shared for a branch it concerns (the customer's, or that
    of a rep refused on it): they would unlock it for their own team. Someone of no
    branch (HR, headquarters) is involved in none."""
    if confirmer_branch_id is None:
        return False
    return confirmer_branch_id == customer_branch_id or confirmer_branch_id in refused_branch_ids
