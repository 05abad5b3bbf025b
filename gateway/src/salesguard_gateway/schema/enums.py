"""The GraphQL enums that mirror the services' proto enums, and their lookups.

A proto enum's member's value is its proto number: ``enum_numbers`` sends a list of
them as is, and ``<enum>_of`` turns a number back into a member (0, unset, is None).
The codes the services send as strings are enums too, made in schema/codes.py.
"""

from __future__ import annotations

from enum import Enum

import strawberry

from salesguard_api.attendance.v1 import directory_pb2, visits_pb2
from salesguard_api.commissions.v1 import commissions_pb2
from salesguard_api.common.v1 import common_pb2
from salesguard_api.customers.v1 import customers_pb2, exports_pb2
from salesguard_api.orders.v1 import orders_pb2, payments_pb2
from salesguard_gateway.schema.conversions import enum_lookup


def describe_values(enum: type[Enum], **descriptions: str) -> None:
    """Gives each value of a strawberry enum its description, by member name: every member
    must have one (an enum's member without a description fails at import, as a name that
    is not a member does), and the members' Python values stay as they are."""
    definition = enum.__strawberry_definition__  # type: ignore[attr-defined]
    names = {value.name for value in definition.values}
    if names != descriptions.keys():
        raise ValueError(
            f"{enum.__name__}: describe exactly its values; missing "
            f"{sorted(names - descriptions.keys())}, unknown {sorted(descriptions.keys() - names)}"
        )
    for value in definition.values:
        value.description = descriptions[value.name]


@strawberry.enum(
    description="A role in the people directory (A1): what its holder may see and do (SPEC §2)."
)
class Role(Enum):
    SALES_JUNIOR = directory_pb2.ROLE_SALES_JUNIOR
    SALES_SENIOR = directory_pb2.ROLE_SALES_SENIOR
    MANAGER = directory_pb2.ROLE_MANAGER
    HR = directory_pb2.ROLE_HR
    FINANCE = directory_pb2.ROLE_FINANCE
    ADMIN = directory_pb2.ROLE_ADMIN


describe_values(
    Role,
    SALES_JUNIOR="A new sales rep: only the customers they own, with their contact fields.",
    SALES_SENIOR=(
        "A senior sales rep: their own and their team's customers; teammates' contact fields "
        "masked, core fields read-only after registration."
    ),
    MANAGER=(
        "A branch manager: every customer of their branch (a headquarters branch: all); approves "
        "orders and others' export requests."
    ),
    HR=(
        "Human resources: customers with contact fields masked; alerts, audit trail, timelines, "
        "risk and the people directory."
    ),
    FINANCE=(
        "Finance: customers' basic fields (contact masked); payments, reconciliation, commissions, "
        "and the deal, payment and commission alerts."
    ),
    ADMIN="Administration: the people directory, branches, commission plans and settings.",
)


@strawberry.enum(
    description=(
        "Something a frontend may offer the caller (Query.may): each is a policy action, "
        "granted somewhere in the caller's scope. Every request is still decided on its own."
    )
)
class Action(Enum):
    # Values: the policy's action names (policies/salesguard/tiers/data.json).
    READ_ALERTS = "alerts.read"
    DECIDE_ALERTS = "alerts.update"
    READ_RISK = "risk.read"
    READ_TIMELINES = "timeline.read"
    READ_CHECK_INS = "checkins.read"
    DECIDE_ORDERS = "orders.decide"
    DECIDE_EXPORTS = "customers.export.decide"


describe_values(
    Action,
    READ_ALERTS="Read alerts (the alerts query and alertRaised).",
    DECIDE_ALERTS="Acknowledge, resolve or dismiss alerts (updateAlert), within scope.",
    READ_RISK="Read risk (riskRanking and employeeRisk).",
    READ_TIMELINES="Read employees' timelines (employeeTimeline).",
    READ_CHECK_INS="Read check-ins (checkIns).",
    DECIDE_ORDERS="Decide approval steps of orders (decideOrder), where a step awaits them.",
    DECIDE_EXPORTS="Approve or reject others' customer export requests (decideExportRequest).",
)


@strawberry.enum(description="Whether an employee works for the company (A1).")
class EmployeeStatus(Enum):
    ACTIVE = directory_pb2.EMPLOYEE_STATUS_ACTIVE
    SUSPENDED = directory_pb2.EMPLOYEE_STATUS_SUSPENDED
    LEFT = directory_pb2.EMPLOYEE_STATUS_LEFT


describe_values(
    EmployeeStatus,
    ACTIVE="Working: their requests are served, and they may own customers.",
    SUSPENDED="Suspended: every request of theirs is refused; owns nothing new.",
    LEFT=(
        "Has left the company: every request of theirs is refused; their customers were handed "
        "over when the status was set (C6)."
    ),
)


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


describe_values(
    SourceChannel,
    WEBSITE="A company channel: the company's website.",
    EXHIBITION="A company channel: an exhibition or trade fair.",
    REFERRAL="A company channel: a referral.",
    COMPANY_ASSIGNED="A company channel: assigned to the rep by the company.",
    PERSONAL="The rep's own network: the personal-channel commission rate (M1).",
)


@strawberry.enum(description="Whether a customer is in use or archived.")
class CustomerStatus(Enum):
    ACTIVE = customers_pb2.CUSTOMER_STATUS_ACTIVE
    ARCHIVED = customers_pb2.CUSTOMER_STATUS_ARCHIVED


describe_values(
    CustomerStatus,
    ACTIVE="In use: matched to nearby check-ins (A3), watched for neglect and pooled (C11).",
    ARCHIVED=(
        "Archived: kept (nobody deletes a customer) but no longer matched to check-ins nor watched "
        "for neglect."
    ),
)


@strawberry.enum(description="What kind of contact a follow-up records (C5).")
class FollowUpKind(Enum):
    VISIT = customers_pb2.FOLLOW_UP_KIND_VISIT
    CALL = customers_pb2.FOLLOW_UP_KIND_CALL
    MESSAGE = customers_pb2.FOLLOW_UP_KIND_MESSAGE
    MEETING = customers_pb2.FOLLOW_UP_KIND_MEETING


describe_values(
    FollowUpKind,
    VISIT="A visit to the customer.",
    CALL="A telephone call.",
    MESSAGE="A message.",
    MEETING="A meeting.",
)


@strawberry.enum(description="A duplicate criterion (C3): a value C12 may treat as shared.")
class DuplicateCriterion(Enum):
    PHONE = customers_pb2.DUPLICATE_CRITERION_PHONE
    EMAIL = customers_pb2.DUPLICATE_CRITERION_EMAIL
    NAME_COMPANY = customers_pb2.DUPLICATE_CRITERION_NAME_COMPANY


describe_values(
    DuplicateCriterion,
    PHONE="The phone number, normalised to E.164.",
    EMAIL="The email address, lower-cased.",
    NAME_COMPANY="The name and company together.",
)


source_of = enum_lookup(SourceChannel)
duplicate_criterion_of = enum_lookup(DuplicateCriterion)

customer_status_of = enum_lookup(CustomerStatus)
follow_up_kind_of = enum_lookup(FollowUpKind)


# --- Exports ------------------------------------------------------------------


@strawberry.enum(
    description=(
        "Where an export request stands (C9): PENDING → APPROVED | REJECTED; APPROVED → COMPLETED."
    )
)
class ExportStatus(Enum):
    PENDING = exports_pb2.EXPORT_STATUS_PENDING
    APPROVED = exports_pb2.EXPORT_STATUS_APPROVED
    REJECTED = exports_pb2.EXPORT_STATUS_REJECTED
    COMPLETED = exports_pb2.EXPORT_STATUS_COMPLETED


describe_values(
    ExportStatus,
    PENDING="Requested, waiting for another manager's decision (C9).",
    APPROVED="Approved by a manager other than the requester: it may run, once.",
    REJECTED="Refused by the deciding manager: it never runs.",
    COMPLETED="Run: the CSV is in the object store, downloadable once (C9).",
)


export_status_of = enum_lookup(ExportStatus)


# --- Alerts (every service) ---------------------------------------------------


@strawberry.enum(
    description="How severe an alert is; the alert catalogue sets each kind's severity."
)
class Severity(Enum):
    LOW = common_pb2.SEVERITY_LOW
    MEDIUM = common_pb2.SEVERITY_MEDIUM
    HIGH = common_pb2.SEVERITY_HIGH
    CRITICAL = common_pb2.SEVERITY_CRITICAL


describe_values(
    Severity,
    LOW="The least severe.",
    MEDIUM="More severe than LOW.",
    HIGH="More severe than MEDIUM.",
    CRITICAL="The most severe.",
)


@strawberry.enum(
    description=(
        "Where an alert stands: OPEN until someone decides on it (updateAlert); never reopened."
    )
)
class AlertStatus(Enum):
    OPEN = common_pb2.ALERT_STATUS_OPEN
    ACKNOWLEDGED = common_pb2.ALERT_STATUS_ACKNOWLEDGED
    RESOLVED = common_pb2.ALERT_STATUS_RESOLVED
    DISMISSED = common_pb2.ALERT_STATUS_DISMISSED


describe_values(
    AlertStatus,
    OPEN="Raised, nobody has decided on it yet.",
    ACKNOWLEDGED=(
        "Seen and being looked into; like OPEN, it still withholds commission (M2) and counts as "
        "undecided in risk profiles."
    ),
    RESOLVED="Decided, with a resolution: CONFIRMED or CLEARED.",
    DISMISSED="Set aside as not worth pursuing: no longer counts in risk profiles.",
)


@strawberry.enum(description="How a RESOLVED alert was resolved.")
class AlertResolution(Enum):
    CONFIRMED = common_pb2.ALERT_RESOLUTION_CONFIRMED
    CLEARED = common_pb2.ALERT_RESOLUTION_CLEARED


describe_values(
    AlertResolution,
    CONFIRMED=(
        "The suspicion holds: withheld commission stays withheld and the alert counts in risk "
        "profiles."
    ),
    CLEARED=(
        "The suspicion is unfounded: withheld commission is released on the next commission run "
        "and the alert no longer counts in risk profiles."
    ),
)


severity_of = enum_lookup(Severity)
alert_status_of = enum_lookup(AlertStatus)
alert_resolution_of = enum_lookup(AlertResolution)


# --- Field visits (attendance VisitsService) ----------------------------------


@strawberry.enum(description="How far a check-in can be trusted (A3).")
class Verdict(Enum):
    VERIFIED = visits_pb2.VERDICT_VERIFIED
    SUSPICIOUS = visits_pb2.VERDICT_SUSPICIOUS
    REJECTED = visits_pb2.VERDICT_REJECTED


describe_values(
    Verdict,
    VERIFIED="No reason raised: the check-in can be trusted.",
    SUSPICIOUS="Doubtful: at least one reason, none that rejects it.",
    REJECTED=(
        "Not to be trusted: a mock location, impossible travel, a location mismatch or a reused "
        "photo file. Stored all the same, as evidence."
    ),
)


@strawberry.enum(description="Who called whom, as telephony reports it (A6).")
class CallDirection(Enum):
    OUTGOING = visits_pb2.CALL_DIRECTION_OUTGOING
    INCOMING = visits_pb2.CALL_DIRECTION_INCOMING


describe_values(
    CallDirection,
    OUTGOING="The employee called the number.",
    INCOMING="The number called the employee.",
)


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


describe_values(
    OrderStatus,
    SUBMITTED="Submitted by the rep, waiting for its approval chain (O2).",
    APPROVED="Every step of the approval chain approved it.",
    REJECTED="A step of the approval chain rejected it; final.",
    FULFILLED="Fulfilled after approval; it may still ship.",
    CLOSED="Closed after fulfilment; final.",
    CANCELLED="Cancelled from SUBMITTED or APPROVED, with a reason; final.",
)


@strawberry.enum(description="The state of one step of an order's approval chain (O2).")
class StepStatus(Enum):
    PENDING = orders_pb2.STEP_STATUS_PENDING
    APPROVED = orders_pb2.STEP_STATUS_APPROVED
    REJECTED = orders_pb2.STEP_STATUS_REJECTED


describe_values(
    StepStatus,
    PENDING="Waiting for an approver with the step's role.",
    APPROVED="The approver approved it.",
    REJECTED="The approver rejected it, and with it the order.",
)


@strawberry.enum(description="How far an order is paid, as of the last reconciliation (O5).")
class PaymentState(Enum):
    UNPAID = orders_pb2.PAYMENT_STATE_UNPAID
    PARTIALLY_PAID = orders_pb2.PAYMENT_STATE_PARTIALLY_PAID
    RECONCILED = orders_pb2.PAYMENT_STATE_RECONCILED
    OVERPAID = orders_pb2.PAYMENT_STATE_OVERPAID


describe_values(
    PaymentState,
    UNPAID="No payment matched to the order, or every one reversed.",
    PARTIALLY_PAID="Its matched, non-reversed payments sum to less than its total.",
    RECONCILED="Its matched, non-reversed payments sum to its total: it counts for commissions.",
    OVERPAID=(
        "Its matched, non-reversed payments sum to more than its total; it counts for commissions."
    ),
)


@strawberry.enum(description="Why a payment was reversed (O4); a reversal never deletes it.")
class ReversalKind(Enum):
    REFUND = payments_pb2.REVERSAL_KIND_REFUND
    CHARGEBACK = payments_pb2.REVERSAL_KIND_CHARGEBACK


describe_values(
    ReversalKind,
    REFUND="The company paid the money back to the payer.",
    CHARGEBACK="The payer's bank took the money back.",
)


@strawberry.enum(description="What an upload is for: it decides the content types allowed.")
class UploadPurpose(Enum):
    STATEMENT = payments_pb2.UPLOAD_PURPOSE_STATEMENT
    VOUCHER = payments_pb2.UPLOAD_PURPOSE_VOUCHER


describe_values(
    UploadPurpose,
    STATEMENT="A bank statement CSV, for importPayments.",
    VOUCHER="A payment voucher photo, for recordPayment.",
)


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


describe_values(
    LineStatus,
    PAYABLE="To be paid out.",
    WITHHELD=(
        "Held back: an undecided or confirmed alert of kind FAKE_DEAL_SUSPECTED, DIVERSION_RISK or "
        "ATTRIBUTION_MISMATCH concerns the order or its customer (M2)."
    ),
    PENDING_REVIEW="A person must look at it first, e.g. a source conflict (M3).",
)


@strawberry.enum(description="What a commission line is: earned, or taken back.")
class LineKind(Enum):
    COMMISSION = commissions_pb2.LINE_KIND_COMMISSION
    CLAWBACK = commissions_pb2.LINE_KIND_CLAWBACK


describe_values(
    LineKind,
    COMMISSION="Commission earned on a valid order (M2).",
    CLAWBACK=(
        "Taking back a commission paid in a locked period whose payment was reversed (M4); a "
        "negative amount."
    ),
)


@strawberry.enum(
    description="A LOCKED period never changes again; corrections go into a later one."
)
class PeriodStatus(Enum):
    OPEN = commissions_pb2.PERIOD_STATUS_OPEN
    LOCKED = commissions_pb2.PERIOD_STATUS_LOCKED


describe_values(
    PeriodStatus,
    OPEN="Runs may still rewrite the period's lines.",
    LOCKED="Final: the lines never change again; corrections go into a later period.",
)


line_status_of = enum_lookup(LineStatus)
line_kind_of = enum_lookup(LineKind)
period_status_of = enum_lookup(PeriodStatus)
