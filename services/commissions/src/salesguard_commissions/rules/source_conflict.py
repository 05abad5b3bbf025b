"""M3 ``SOURCE_CONFLICT``: the registry's source class decides, not the order's claim.

A customer registered through a company channel earns the company rate, one
registered as PERSONAL the personal rate. A rep who claims PERSONAL for a
company-channel customer gets the company rate and the line waits for review; a
customer the registry does not know gets the lower, company rate and waits too.
"""

from __future__ import annotations

from dataclasses import dataclass

from salesguard.vocabulary import PERSONAL_CHANNEL as PERSONAL


@dataclass(frozen=True, slots=True)
class SourceClass:
    """Which rate a line earns, why, and whether a person must look at it."""

    personal: bool
    reason: str
    needs_review: bool


# Reason codes.
COMPANY_CHANNEL = "COMPANY_CHANNEL"
PERSONAL_CHANNEL = "PERSONAL_CHANNEL"
SOURCE_CONFLICT = "SOURCE_CONFLICT"
UNKNOWN_CUSTOMER = "UNKNOWN_CUSTOMER"


def classify(registered: str | None, claim: str) -> SourceClass:
    """The source class of an order: ``registered`` is the customer's source channel in
    the registry (None: unknown to it), ``claim`` the channel the order claims."""
    if registered is None:
        return SourceClass(personal=False, reason=UNKNOWN_CUSTOMER, needs_review=True)
    if registered == PERSONAL:
        # A company-channel claim on a personal customer changes nothing.
        return SourceClass(personal=True, reason=PERSONAL_CHANNEL, needs_review=False)
    if claim == PERSONAL:
        return SourceClass(personal=False, reason=SOURCE_CONFLICT, needs_review=True)
    return SourceClass(personal=False, reason=COMPANY_CHANNEL, needs_review=False)
