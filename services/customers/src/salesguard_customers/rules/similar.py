"""A second record of someone else's customer (C3, beyond its exact keys): ``SIMILAR_CUSTOMER``.

C3 refuses a registration whose phone, email or name+company matches; a rep who
registers a colleague's shop again through its other number (a switchboard), another
buyer's name and the company written a little differently passes it. C3 raises an
alert on the registering employee when the new record lies within ``radius_m`` (policy
data, ``thresholds.similar_customer``) of an active customer owned by someone else
whose company name is the same once :func:`company_key` has normalised both. It does
not refuse: a chain's second shop next door is real, and a manager decides.

Pure: the registrar finds the candidates near the new location (one bounding-box query)
and raises what :func:`similar_customers` returns.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

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
