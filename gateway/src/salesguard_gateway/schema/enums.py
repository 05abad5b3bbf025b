"""The GraphQL enums that mirror the services' proto enums and code sets, and their lookups.

A proto enum's member's value is its proto number: ``enum_numbers`` sends a list of
them as is, and ``<enum>_of`` turns a number back into a member (0, unset, is None).

Codes the services send as strings (alert kinds, approval roles, check-in reasons) are
enums made from their one source (the alert catalogue, :mod:`salesguard.vocabulary`);
a member's value is the code. A code the gateway does not know (a service newer than
the gateway) becomes None with a logged warning rather than failing the whole query
(:func:`code_of`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from enum import Enum
from typing import TYPE_CHECKING, TypeVar

import strawberry

from salesguard import vocabulary
from salesguard.alerts.catalogue import CATALOG
from salesguard_api.attendance.v1 import directory_pb2, visits_pb2
from salesguard_api.commissions.v1 import commissions_pb2
from salesguard_api.common.v1 import common_pb2
from salesguard_api.customers.v1 import customers_pb2, exports_pb2
from salesguard_api.orders.v1 import orders_pb2, payments_pb2
from salesguard_gateway.schema.common import enum_lookup

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
CheckInReasonCode = vocabulary.CheckInReasonCode
strawberry.enum(
    CheckInReasonCode, description="Why a check-in is doubtful, or merely worth noting (A3)."
)


@strawberry.enum
class Role(Enum):
    SALES_JUNIOR = directory_pb2.ROLE_SALES_JUNIOR
    SALES_SENIOR = directory_pb2.ROLE_SALES_SENIOR
    MANAGER = directory_pb2.ROLE_MANAGER
    HR = directory_pb2.ROLE_HR
    FINANCE = directory_pb2.ROLE_FINANCE
    ADMIN = directory_pb2.ROLE_ADMIN


@strawberry.enum
class EmployeeStatus(Enum):
    ACTIVE = directory_pb2.EMPLOYEE_STATUS_ACTIVE
    SUSPENDED = directory_pb2.EMPLOYEE_STATUS_SUSPENDED
    LEFT = directory_pb2.EMPLOYEE_STATUS_LEFT


role_of = enum_lookup(Role)
employee_status_of = enum_lookup(EmployeeStatus)


# --- The customer registry ----------------------------------------------------


@strawberry.enum(
    description="Where a customer came from; every channel but PERSONAL is the company's."
)
class SourceChannel(Enum):
    WEBSITE = customers_pb2.SOURCE_CHANNEL_WEBSITE
    EXHIBITION = customers_pb2.SOURCE_CHANNEL_EXHIBITION
    REFERRAL = customers_pb2.SOURCE_CHANNEL_REFERRAL
    COMPANY_ASSIGNED = customers_pb2.SOURCE_CHANNEL_COMPANY_ASSIGNED
    PERSONAL = customers_pb2.SOURCE_CHANNEL_PERSONAL


@strawberry.enum
class CustomerStatus(Enum):
    ACTIVE = customers_pb2.CUSTOMER_STATUS_ACTIVE
    ARCHIVED = customers_pb2.CUSTOMER_STATUS_ARCHIVED


@strawberry.enum
class FollowUpKind(Enum):
    VISIT = customers_pb2.FOLLOW_UP_KIND_VISIT
    CALL = customers_pb2.FOLLOW_UP_KIND_CALL
    MESSAGE = customers_pb2.FOLLOW_UP_KIND_MESSAGE
    MEETING = customers_pb2.FOLLOW_UP_KIND_MEETING


@strawberry.enum(description="A duplicate criterion (C3): a value C12 may treat as shared.")
class DuplicateCriterion(Enum):
    PHONE = customers_pb2.DUPLICATE_CRITERION_PHONE
    EMAIL = customers_pb2.DUPLICATE_CRITERION_EMAIL
    NAME_COMPANY = customers_pb2.DUPLICATE_CRITERION_NAME_COMPANY


source_of = enum_lookup(SourceChannel)
duplicate_criterion_of = enum_lookup(DuplicateCriterion)
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


customer_status_of = enum_lookup(CustomerStatus)
follow_up_kind_of = enum_lookup(FollowUpKind)


# --- Exports ------------------------------------------------------------------


@strawberry.enum
class ExportStatus(Enum):
    PENDING = exports_pb2.EXPORT_STATUS_PENDING
    APPROVED = exports_pb2.EXPORT_STATUS_APPROVED
    REJECTED = exports_pb2.EXPORT_STATUS_REJECTED
    COMPLETED = exports_pb2.EXPORT_STATUS_COMPLETED


export_status_of = enum_lookup(ExportStatus)


# --- Alerts (every service) ---------------------------------------------------


@strawberry.enum
class Severity(Enum):
    LOW = common_pb2.SEVERITY_LOW
    MEDIUM = common_pb2.SEVERITY_MEDIUM
    HIGH = common_pb2.SEVERITY_HIGH
    CRITICAL = common_pb2.SEVERITY_CRITICAL


@strawberry.enum
class AlertStatus(Enum):
    OPEN = common_pb2.ALERT_STATUS_OPEN
    ACKNOWLEDGED = common_pb2.ALERT_STATUS_ACKNOWLEDGED
    RESOLVED = common_pb2.ALERT_STATUS_RESOLVED
    DISMISSED = common_pb2.ALERT_STATUS_DISMISSED


@strawberry.enum
class AlertResolution(Enum):
    CONFIRMED = common_pb2.ALERT_RESOLUTION_CONFIRMED
    CLEARED = common_pb2.ALERT_RESOLUTION_CLEARED


severity_of = enum_lookup(Severity)
alert_status_of = enum_lookup(AlertStatus)
alert_resolution_of = enum_lookup(AlertResolution)


# --- Field visits (attendance VisitsService) ----------------------------------


@strawberry.enum(description="How far a check-in can be trusted (A3).")
class Verdict(Enum):
    VERIFIED = visits_pb2.VERDICT_VERIFIED
    SUSPICIOUS = visits_pb2.VERDICT_SUSPICIOUS
    REJECTED = visits_pb2.VERDICT_REJECTED


@strawberry.enum
class CallDirection(Enum):
    OUTGOING = visits_pb2.CALL_DIRECTION_OUTGOING
    INCOMING = visits_pb2.CALL_DIRECTION_INCOMING


verdict_of = enum_lookup(Verdict)
call_direction_of = enum_lookup(CallDirection)


# --- Orders and payments ------------------------------------------------------


@strawberry.enum(
    description="O1: SUBMITTED → APPROVED | REJECTED → FULFILLED → CLOSED, or CANCELLED."
)
class OrderStatus(Enum):
    SUBMITTED = orders_pb2.ORDER_STATUS_SUBMITTED
    APPROVED = orders_pb2.ORDER_STATUS_APPROVED
    REJECTED = orders_pb2.ORDER_STATUS_REJECTED
    FULFILLED = orders_pb2.ORDER_STATUS_FULFILLED
    CLOSED = orders_pb2.ORDER_STATUS_CLOSED
    CANCELLED = orders_pb2.ORDER_STATUS_CANCELLED


@strawberry.enum(description="The state of one step of an order's approval chain (O2).")
class StepStatus(Enum):
    PENDING = orders_pb2.STEP_STATUS_PENDING
    APPROVED = orders_pb2.STEP_STATUS_APPROVED
    REJECTED = orders_pb2.STEP_STATUS_REJECTED


@strawberry.enum(description="How far an order is paid, as of the last reconciliation (O5).")
class PaymentState(Enum):
    UNPAID = orders_pb2.PAYMENT_STATE_UNPAID
    PARTIALLY_PAID = orders_pb2.PAYMENT_STATE_PARTIALLY_PAID
    RECONCILED = orders_pb2.PAYMENT_STATE_RECONCILED
    OVERPAID = orders_pb2.PAYMENT_STATE_OVERPAID


@strawberry.enum
class ReversalKind(Enum):
    REFUND = payments_pb2.REVERSAL_KIND_REFUND
    CHARGEBACK = payments_pb2.REVERSAL_KIND_CHARGEBACK


@strawberry.enum(description="What an upload is for: it decides the content types allowed.")
class UploadPurpose(Enum):
    STATEMENT = payments_pb2.UPLOAD_PURPOSE_STATEMENT
    VOUCHER = payments_pb2.UPLOAD_PURPOSE_VOUCHER


order_status_of = enum_lookup(OrderStatus)
step_status_of = enum_lookup(StepStatus)
payment_state_of = enum_lookup(PaymentState)
reversal_kind_of = enum_lookup(ReversalKind)


# --- Commissions --------------------------------------------------------------


@strawberry.enum(description="Whether a commission line is paid out (M2, M3).")
class LineStatus(Enum):
    PAYABLE = commissions_pb2.LINE_STATUS_PAYABLE
    WITHHELD = commissions_pb2.LINE_STATUS_WITHHELD
    PENDING_REVIEW = commissions_pb2.LINE_STATUS_PENDING_REVIEW


@strawberry.enum
class LineKind(Enum):
    COMMISSION = commissions_pb2.LINE_KIND_COMMISSION
    CLAWBACK = commissions_pb2.LINE_KIND_CLAWBACK


@strawberry.enum(
    description="A LOCKED period never changes again; corrections go into a later one."
)
class PeriodStatus(Enum):
    OPEN = commissions_pb2.PERIOD_STATUS_OPEN
    LOCKED = commissions_pb2.PERIOD_STATUS_LOCKED


line_status_of = enum_lookup(LineStatus)
line_kind_of = enum_lookup(LineKind)
period_status_of = enum_lookup(PeriodStatus)
