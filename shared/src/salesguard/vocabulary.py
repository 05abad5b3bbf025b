"""Closed sets of codes that cross the wire as strings.

The services decide them (the rule modules name these members, never a literal of
their own) and the gateway publishes each as a GraphQL enum, so a new code is added
here once and reaches the contract with ``make schema``. Alert kinds have their own
source, :data:`salesguard.alerts.catalogue.CATALOG`.
"""

from __future__ import annotations

from enum import StrEnum


class ApprovalRole(StrEnum):
    """The role an approval step needs (the orders approval chain)."""

    MANAGER = "MANAGER"
    FINANCE = "FINANCE"
    HQ_MANAGER = "HQ_MANAGER"


class CheckInReasonCode(StrEnum):
    """Why a check-in is doubtful, or merely worth noting (attendance verification)."""

    NO_PHOTO = "NO_PHOTO"
    MOCK_LOCATION = "MOCK_LOCATION"
    LOW_ACCURACY = "LOW_ACCURACY"
    NEW_DEVICE = "NEW_DEVICE"
    LOCATION_MISMATCH = "LOCATION_MISMATCH"
    UNLINKED_CUSTOMER_SITE = "UNLINKED_CUSTOMER_SITE"
    UNREGISTERED_SITE = "UNREGISTERED_SITE"
    PHOTO_EXIF_MISMATCH = "PHOTO_EXIF_MISMATCH"
    PHOTO_REUSED = "PHOTO_REUSED"
    IMPOSSIBLE_TRAVEL = "IMPOSSIBLE_TRAVEL"
    OUTSIDE_PLAN = "OUTSIDE_PLAN"
    SHORT_VISIT = "SHORT_VISIT"


# The duplicate criteria by their API names (the proto's DuplicateCriterion), and the
# names the duplicate check, its alerts and a registration's ``shared_criteria`` use.
DUPLICATE_CRITERION_NAMES = {"PHONE": "phone", "EMAIL": "email", "NAME_COMPANY": "name+company"}


# The source channels that are the company's; PERSONAL is the rep's own network.
# Orders flags a personal claim on these (SOURCE_CONFLICT) and commissions pays them
# at the company rate.
COMPANY_CHANNELS = frozenset({"WEBSITE", "EXHIBITION", "REFERRAL", "COMPANY_ASSIGNED"})
PERSONAL_CHANNEL = "PERSONAL"
