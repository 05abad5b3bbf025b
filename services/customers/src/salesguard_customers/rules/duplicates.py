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

C3 beyond its exact keys, ``SIMILAR_CUSTOMER``: a rep who registers a colleague's shop
again through its other number (a switchboard), another buyer's name and the company
written a little differently passes the keys above. An alert is raised on the
registering employee when the new record lies within ``radius_m`` (policy data,
``thresholds.similar_customer``) of an active customer owned by someone else whose
company name is the same once :func:`company_key` has normalised both. It does not
refuse: a chain's second shop next door is real, and a manager decides.

Pure: the registry and :mod:`salesguard_customers.shared_contacts` look the keys
and refusals up and persist what these decide; the registrar finds the candidates near a
new location (one bounding-box query) and raises what :func:`similar_customers` returns.
"""

from __future__ import annotations

import re
import unicodedata
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


# -- SIMILAR_CUSTOMER ----------------------------------------------------------------------

SIMILAR_ALERT = "SIMILAR_CUSTOMER"
DEFAULT_RADIUS_M = 100.0

# Legal-form words dropped from the end of a company name, longest first.
_LEGAL_SUFFIXES = (
    "股份有限公司",
    "有限责任公司",
    "有限公司",
    "公司",
    "co ltd",
    "company limited",
    "company",
    "corporation",
    "limited",
    "corp",
    "inc",
    "ltd",
    "llc",
    "co",
)
# Anything that is not a letter or digit of any script separates words.
_SEPARATORS = re.compile(r"[\W_]+", re.UNICODE)


def company_key(company: str) -> str:
    """A company name as C3 compares it: NFKC, lower-cased, punctuation and spacing
    folded, trailing legal forms (Co., Ltd., Limited, Inc., 有限公司, 公司 ...) dropped.
    ``"Ningbo Haitian Trading Co., Ltd."`` and ``"ningbo  haitian trading"`` share a key."""
    text = _SEPARATORS.sub(" ", unicodedata.normalize("NFKC", company).lower()).strip()
    stripped = True
    while stripped and text:
        stripped = False
        for suffix in _LEGAL_SUFFIXES:
            if text == suffix:
                break
            if text.endswith(suffix) and (not suffix.isascii() or text[-len(suffix) - 1] == " "):
                text = text[: -len(suffix)].strip()
                stripped = True
                break
    return text.replace(" ", "")


@dataclass(frozen=True)
class SimilarThreshold:
    """C3's threshold, from policy data (``thresholds.similar_customer``)."""

    radius_m: float = DEFAULT_RADIUS_M

    @classmethod
    def from_policy(cls, values: Mapping[str, Any]) -> SimilarThreshold:
        return cls(radius_m=float(values.get("radius_m", DEFAULT_RADIUS_M)))


@dataclass(frozen=True)
class Nearby:
    """An existing customer near the new record: what C3 compares."""

    id: str
    code: str
    company: str
    owner_id: str | None
    distance_m: float


def similar_customers(
    company: str, owner_id: str, nearby: Iterable[Nearby], threshold: SimilarThreshold
) -> list[Nearby]:
    """C3: the nearby customers, within the radius, owned by someone other than the new
    record's owner, whose company key equals the new one's; nearest first. A company
    that normalises to nothing (a private buyer) matches none."""
    key = company_key(company)
    if not key:
        return []
    return sorted(
        (
            other
            for other in nearby
            if other.distance_m <= threshold.radius_m
            and other.owner_id
            and other.owner_id != owner_id
            and company_key(other.company) == key
        ),
        key=lambda other: (other.distance_m, other.code),
    )


def similar_dedupe_key(existing_id: str, registrant_id: str) -> str:
    """One alert per existing customer and registering employee: a retried or repeated
    registration of the same shop raises no second one."""
    return f"{SIMILAR_ALERT}:{existing_id}:{registrant_id}"


def similar_evidence(
    new_code: str,
    existing: Nearby,
    *,
    registrant_id: str,
    new_owner_id: str,
    radius_m: float,
) -> dict[str, Any]:
    """Codes, owners and the distance; never a contact detail of either record."""
    return {
        "customer_code": new_code,
        "existing_code": existing.code,
        "existing_customer_id": existing.id,
        "existing_owner_id": existing.owner_id,
        "registered_by": registrant_id,
        "owner_id": new_owner_id,
        "distance_m": round(existing.distance_m),
        "radius_m": round(radius_m),
    }
