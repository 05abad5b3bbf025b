"""What ``employeeTimeline`` returns: one item type per kind of evidence,
behind the ``TimelineItem`` interface.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum

import strawberry

from salesguard_gateway.schema.alerts import Alert
from salesguard_gateway.schema.audit import AuditEvent
from salesguard_gateway.schema.common import described
from salesguard_gateway.schema.customers import FollowUp
from salesguard_gateway.schema.orders import ORDER, ApprovalStep, Order
from salesguard_gateway.schema.payments import Payment, Shipment
from salesguard_gateway.schema.visits import CallLog, CheckIn


@strawberry.enum(description="What a timeline item is.")
class TimelineKind(Enum):
    CHECK_IN = strawberry.enum_value("CHECK_IN", description="A check-in of the employee.")
    FOLLOW_UP = strawberry.enum_value(
        "FOLLOW_UP", description="A follow-up the employee recorded on a customer."
    )
    CALL = strawberry.enum_value("CALL", description="A call of the employee, from telephony.")
    ORDER = strawberry.enum_value("ORDER", description="An order the employee submitted.")
    APPROVAL = strawberry.enum_value(
        "APPROVAL",
        description="A decision on an approval step of the employee's orders, or by them.",
    )
    PAYMENT = strawberry.enum_value(
        "PAYMENT", description="A payment of one of the employee's orders."
    )
    SHIPMENT = strawberry.enum_value(
        "SHIPMENT", description="A shipment of one of the employee's orders."
    )
    AUDIT_EVENT = strawberry.enum_value(
        "AUDIT_EVENT", description="An audit event with the employee as actor."
    )
    ALERT = strawberry.enum_value("ALERT", description="An alert about the employee.")


# --- items ---------------------------------------------------------------------


@strawberry.interface(
    description="One piece of evidence: when it happened and what it is; the implementing "
    "type carries the evidence itself."
)
class TimelineItem:
    at: datetime = strawberry.field(
        description="When it happened (the timeline's order, newest first)."
    )
    kind: TimelineKind = strawberry.field(description="What it is: which type carries it.")
    employee_id: strawberry.Private[str]
    # What ``day`` answers, worked out with the page when the query shows it
    # (schema/timeline.py: one read of the employee's branch for every item): the day, or
    # the error that read raised.
    local_day: strawberry.Private[date | Exception | None] = None

    @described(
        "The day of `at` in the time zone of the employee's branch (what a timeline groups "
        "by); null when the caller may not see the employee in the directory."
    )
    def day(self) -> date | None:
        # A resolver of the item alone (no info, not async): the gateway's executor answers
        # it without graphql-core's per-field machinery (a page: 50 async resolvers).
        if isinstance(self.local_day, Exception):
            raise self.local_day
        return self.local_day


@strawberry.type(description="A check-in of the employee, with its verdict, reasons and photos.")
class CheckInItem(TimelineItem):
    check_in: CheckIn = strawberry.field(description="The check-in.")


@strawberry.type(description="A follow-up the employee recorded on a customer.")
class FollowUpItem(TimelineItem):
    follow_up: FollowUp = strawberry.field(description="The follow-up.")


@strawberry.type(description="A call of the employee, from telephony.")
class CallItem(TimelineItem):
    call: CallLog = strawberry.field(description="The call.")


@strawberry.type(description="An order the employee submitted.")
class OrderItem(TimelineItem):
    order: Order = strawberry.field(description="The order.")


@strawberry.type(
    description="A decision on an approval step: on one of the employee's orders, or made by "
    "the employee (see step.approver)."
)
class ApprovalItem(TimelineItem):
    order_code: str = strawberry.field(description="The code of the order decided.")
    step: ApprovalStep = strawberry.field(description="The approval step and its decision.")
    order_id: strawberry.Private[str]

    decided_order = ORDER.field(
        "order_id", "The order decided; null when the caller may not see it."
    )


@strawberry.type(description="A payment of one of the employee's orders.")
class PaymentItem(TimelineItem):
    payment: Payment = strawberry.field(description="The payment.")


@strawberry.type(description="A shipment of one of the employee's orders.")
class ShipmentItem(TimelineItem):
    shipment: Shipment = strawberry.field(description="The shipment.")


@strawberry.type(
    description="An audit event with the employee as actor: a contact read, a change, an "
    "export, a reassignment."
)
class AuditEventItem(TimelineItem):
    event: AuditEvent = strawberry.field(description="The audit event.")


@strawberry.type(description="An alert about the employee, from any service.")
class AlertItem(TimelineItem):
    alert: Alert = strawberry.field(description="The alert.")


# Reached only through the interface: the schema is told about them (schema/__init__.py).
TIMELINE_ITEM_TYPES = (
    CheckInItem,
    FollowUpItem,
    CallItem,
    OrderItem,
    ApprovalItem,
    PaymentItem,
    ShipmentItem,
    AuditEventItem,
    AlertItem,
)
