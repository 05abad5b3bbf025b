"""Where ``employeeTimeline``'s items come from: one ``ListEmployeeTimeline``
per timeline service and one ``ListAlerts`` per alert source, each asked for one page.

A service's timeline item is a oneof named after its evidence (``follow_up``,
``check_in``, ``order``, ...); ``EVIDENCE`` says which item type and kind each becomes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from salesguard_api.attendance.v1 import timeline_pb2 as attendance_timeline_pb2
from salesguard_api.common.v1 import common_pb2
from salesguard_api.customers.v1 import timeline_pb2 as customer_timeline_pb2
from salesguard_api.orders.v1 import timeline_pb2 as orders_timeline_pb2
from salesguard_gateway.context import Info
from salesguard_gateway.schema.alerts import alert_from_proto
from salesguard_gateway.schema.audit import audit_event_from_proto
from salesguard_gateway.schema.conversions import from_timestamp, to_timestamp
from salesguard_gateway.schema.customers import follow_up_from_proto
from salesguard_gateway.schema.federation import Entry, SourcePage, source_page
from salesguard_gateway.schema.orders import approval_step_from_proto, order_from_proto
from salesguard_gateway.schema.payments import payment_from_proto, shipment_from_proto
from salesguard_gateway.schema.timeline_items import (
    AlertItem,
    ApprovalItem,
    AuditEventItem,
    CallItem,
    CheckInItem,
    FollowUpItem,
    OrderItem,
    PaymentItem,
    ShipmentItem,
    TimelineItem,
    TimelineKind,
)
from salesguard_gateway.schema.visits import call_log_from_proto, check_in_from_proto


@dataclass(frozen=True)
class Ask:
    """What every source is asked: the employee, the range, the kinds, its page."""

    employee_id: str
    begins: datetime
    ends: datetime
    kinds: frozenset[TimelineKind]
    page: common_pb2.PageRequest
    include_photo_urls: bool


# An item as a source answered it, made into its GraphQL node only if the merged page
# shows it: every source answers a whole page, of which the merge keeps one page in all.
PendingItem = Callable[[], TimelineItem]
Fetch = Callable[[Info, Ask], Awaitable[SourcePage[PendingItem]]]


@dataclass(frozen=True)
class Source:
    key: str  # in the composite cursor
    service: str  # the service that answers; its failures are reported together
    kinds: frozenset[TimelineKind]
    fetch: Fetch


def _instant(stamp: Timestamp) -> tuple[int, int]:
    return (stamp.seconds, stamp.nanos)


def _moment(stamp: Timestamp) -> datetime:
    moment = from_timestamp(stamp)
    assert moment is not None, "a timeline item always has a time"
    return moment


def _approval(approval: orders_timeline_pb2.TimelineApproval) -> dict[str, Any]:
    return {
        "order_code": approval.order_code,
        "step": approval_step_from_proto(approval.step),
        "order_id": approval.order_id,
    }


# A oneof case → the item type it becomes and that type's own fields, from the case's
# message. The item's kind is the case's name: TimelineKind[case.upper()].
EVIDENCE: Mapping[str, tuple[type[TimelineItem], Callable[[Any], dict[str, Any]]]] = {
    "check_in": (CheckInItem, lambda m: {"check_in": check_in_from_proto(m)}),
    "call": (CallItem, lambda m: {"call": call_log_from_proto(m)}),
    "follow_up": (FollowUpItem, lambda m: {"follow_up": follow_up_from_proto(m)}),
    "audit_event": (AuditEventItem, lambda m: {"event": audit_event_from_proto(m)}),
    "order": (OrderItem, lambda m: {"order": order_from_proto(m)}),
    "approval": (ApprovalItem, _approval),
    "payment": (PaymentItem, lambda m: {"payment": payment_from_proto(m)}),
    "shipment": (ShipmentItem, lambda m: {"shipment": shipment_from_proto(m)}),
}


@dataclass(frozen=True)
class _TimelineService:
    """A service's ListEmployeeTimeline: its ``timeline_pb2`` module, the attribute of
    ServiceClients holding its stub, and the oneof case an item without one is taken as
    (the last case of its oneof)."""

    name: str
    module: Any
    stub: str
    fallback: str

    @property
    def kinds(self) -> dict[TimelineKind, int]:
        """The GraphQL kinds it serves → its proto numbers: its one ``*TimelineKind`` enum
        names them as TimelineKind does, behind a prefix (``ORDERS_TIMELINE_KIND_ORDER``)."""
        (enum,) = self.module.DESCRIPTOR.enum_types_by_name.values()
        return {
            TimelineKind[value.name.split("_TIMELINE_KIND_")[1]]: value.number
            for value in enum.values
            if value.number
        }

    def node(self, item: Any, employee_id: str) -> TimelineItem:
        """A service's timeline item as the GraphQL node of its kind."""
        case = item.WhichOneof("item") or self.fallback
        item_type, fields = EVIDENCE[case]
        return item_type(
            at=_moment(item.at),
            kind=TimelineKind[case.upper()],
            employee_id=employee_id,
            **fields(getattr(item, case)),
        )

    async def fetch(self, info: Info, ask: Ask) -> SourcePage[PendingItem]:
        request = self.module.ListEmployeeTimelineRequest(
            employee_id=ask.employee_id,
            to=to_timestamp(ask.ends),
            kinds=[number for kind, number in self.kinds.items() if kind in ask.kinds],
            page=ask.page,
            **{"from": to_timestamp(ask.begins)},  # a Python keyword
        )
        if "include_photo_urls" in request.DESCRIPTOR.fields_by_name:
            request.include_photo_urls = ask.include_photo_urls
        response = await getattr(info.context.clients, self.stub).ListEmployeeTimeline(request)
        return source_page(
            response,
            response.items,
            lambda item, cursor: Entry(
                _instant(item.at), partial(self.node, item, ask.employee_id), cursor
            ),
        )

    def source(self) -> Source:
        return Source(self.name, self.name, frozenset(self.kinds), self.fetch)


# In tie-break order: items at the same instant come in this order.
_SERVICES = (
    _TimelineService("attendance", attendance_timeline_pb2, "attendance_timeline", "call"),
    _TimelineService("customers", customer_timeline_pb2, "customer_timeline", "audit_event"),
    _TimelineService("orders", orders_timeline_pb2, "orders_timeline", "shipment"),
)


def _alert_item(alert: common_pb2.Alert, employee_id: str, language: str) -> TimelineItem:
    return AlertItem(
        at=_moment(alert.detected_at),
        kind=TimelineKind.ALERT,
        employee_id=employee_id,
        alert=alert_from_proto(alert, language),
    )


def _alerts(source: str) -> Fetch:
    async def fetch(info: Info, ask: Ask) -> SourcePage[PendingItem]:
        request = common_pb2.ListAlertsRequest(
            filter=common_pb2.AlertFilter(
                employee_id=ask.employee_id,
                detected_from=to_timestamp(ask.begins),
                detected_to=to_timestamp(ask.ends),
            ),
            page=ask.page,
        )
        response = await info.context.clients.alerts[source].ListAlerts(request)
        language = info.context.language
        return source_page(
            response,
            response.alerts,
            lambda alert, cursor: Entry(
                _instant(alert.detected_at),
                partial(_alert_item, alert, ask.employee_id, language),
                cursor,
            ),
        )

    return fetch


def timeline_sources(alert_sources: Sequence[str]) -> list[Source]:
    """In tie-break order: items at the same instant come in this order."""
    return [
        *(service.source() for service in _SERVICES),
        *(
            Source(f"alerts.{source}", source, frozenset({TimelineKind.ALERT}), _alerts(source))
            for source in alert_sources
        ),
    ]
