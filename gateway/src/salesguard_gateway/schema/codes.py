"""The codes the services send as strings, as GraphQL enums, and their lookups.

Codes the services send as strings (alert kinds, approval roles, check-in reasons) are
enums made from their one source (the alert catalogue, :mod:`salesguard.vocabulary`);
a member's value is the code. A code the gateway does not know (a service newer than
the gateway) becomes None with a logged warning rather than failing the whole query
(:func:`code_of`); so does a duplicate criterion's name (:func:`duplicate_criteria_named`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from enum import Enum
from typing import TYPE_CHECKING, TypeVar

import strawberry

from salesguard import vocabulary
from salesguard.alerts.catalogue import CATALOG
from salesguard_gateway.schema.enums import DuplicateCriterion, describe_values

log = logging.getLogger(__name__)

C = TypeVar("C", bound=Enum)


def code_of(enum: type[C], code: str) -> C | None:
    """The member for a code a service sent; None for none, or (logged) for an unknown one."""
    if not code:
        return None
    try:
        return enum(code)
    except ValueError:
        log.warning(
            "a service sent a %s the gateway does not know; returned as null",
            enum.__name__,
            extra={"code": code},
        )
        return None


def codes_of(enum: type[C], codes: Iterable[str]) -> list[C]:
    """The known members of ``codes``, in order; unknown ones are logged and left out."""
    return [member for code in codes if (member := code_of(enum, code)) is not None]


# --- Codes sent as strings ------------------------------------------------------------

if TYPE_CHECKING:

    class AlertKind(Enum):
        """For the type checker; the members are the catalogue's kinds."""

else:
    AlertKind = strawberry.enum(
        Enum(
            "AlertKind",
            {
                kind: strawberry.enum_value(
                    kind, description=f"{entry.rule}: {entry.title.source}."
                )
                for kind, entry in CATALOG.items()
            },
        ),
        description=(
            "The kinds of alert (the alert catalogue); each value's description names the SPEC "
            "rule that raises it."
        ),
    )
# The shared classes themselves, made GraphQL enums (strawberry marks the class it is given).
ApprovalRole = vocabulary.ApprovalRole
strawberry.enum(
    ApprovalRole,
    description=(
        "The role an approval step needs (O2): MANAGER (of the order's branch), FINANCE, or "
        "HQ_MANAGER (a manager of a headquarters branch)."
    ),
)
describe_values(
    ApprovalRole,
    MANAGER="A manager of the order's branch.",
    FINANCE="An employee with the FINANCE role.",
    HQ_MANAGER="A manager of a headquarters branch.",
)
CheckInReasonCode = vocabulary.CheckInReasonCode
strawberry.enum(
    CheckInReasonCode, description="Why a check-in is doubtful, or merely worth noting (A3)."
)
describe_values(
    CheckInReasonCode,
    NO_PHOTO="The check-in has no photo.",
    MOCK_LOCATION="The device reported a mock (simulated) location: rejects the check-in.",
    LOW_ACCURACY="The reported accuracy is worse than the limit (setting, default 100 m).",
    NEW_DEVICE="A device this employee never used before.",
    LOCATION_MISMATCH=(
        "Farther than the geofence radius (setting, default 300 m) from the linked customer's "
        "location: rejects the check-in."
    ),
    UNLINKED_CUSTOMER_SITE=(
        "No customer linked, but within the geofence radius of a registered customer."
    ),
    UNREGISTERED_SITE="No customer linked and no registered customer nearby.",
    PHOTO_EXIF_MISMATCH=(
        "A photo's EXIF position or time is too far from the check-in's (settings, default "
        "500 m or 30 minutes)."
    ),
    PHOTO_REUSED=(
        "A photo (same bytes or perceptual hash) was seen on an earlier check-in; the same "
        "bytes reject the check-in."
    ),
    IMPOSSIBLE_TRAVEL=(
        "Faster than the limit (setting, default 200 km/h) from the previous check-in: "
        "rejects the check-in."
    ),
    OUTSIDE_PLAN=(
        "The check-in matches none of the day's visit plans (customer and time window, with a "
        "tolerance); never raised on a day without plans."
    ),
    SHORT_VISIT="Checked out sooner after checking in than the minimum (setting, default 5 min).",
)


_CRITERIA_BY_NAME = {
    name: DuplicateCriterion[api_name]
    for api_name, name in vocabulary.DUPLICATE_CRITERION_NAMES.items()
}


def duplicate_criteria_named(names: Iterable[str]) -> list[DuplicateCriterion]:
    """The criteria the customers service names ("phone", "name+company"); an unknown
    name is logged and left out, like an unknown code (:func:`code_of`)."""
    criteria = []
    for name in names:
        criterion = _CRITERIA_BY_NAME.get(name)
        if criterion is None:
            log.warning(
                "a service sent a duplicate criterion the gateway does not know; left out",
                extra={"code": name},
            )
        else:
            criteria.append(criterion)
    return criteria
