"""One employee's evidence in time order (SPEC G4): ``employeeTimeline``.

Check-ins, calls (attendance), follow-ups, audit events (customers), orders,
approvals, payments, shipments (orders) and the alerts of every service about
the employee, newest first (the order ``alerts`` pages in). Like ``alerts`` (schema/alerts.py), the gateway asks
every source concurrently for one page each (one ``ListEmployeeTimeline`` per
service, one ``ListAlerts`` per alert source, filtered to the employee and the
range), merges them by time and hands out a composite cursor: per source, the
page token that resumes right after the last of its items already handed out.
Items at the same instant keep the order of the sources below, then each
source's own order, so paging returns every item exactly once.

Each service decides with its own ``timeline.read`` decision (HR all, managers
their branch; nobody their own, branch managers no other manager's) what the
caller sees. A source that fails costs only its own
items: one error per failing service names it and the kinds that are missing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from typing import Annotated, Any

import strawberry
from google.protobuf.timestamp_pb2 import Timestamp
from graphql import GraphQLError

from salesguard import validation
from salesguard.attendance.v1 import timeline_pb2 as attendance_timeline_pb2
from salesguard.common.v1 import common_pb2
from salesguard.customers.v1 import timeline_pb2 as customer_timeline_pb2
from salesguard.errors import ErrorCode, InvalidInput, ServiceError
from salesguard.orders.v1 import timeline_pb2 as orders_timeline_pb2
from salesguard.timeline import check_range
from salesguard_gateway.context import Info
from salesguard_gateway.errors import deferred_error, service_error_extensions
from salesguard_gateway.schema.alerts import Alert, alert_from_proto
from salesguard_gateway.schema.audit import AuditEvent, audit_event_from_proto
from salesguard_gateway.schema.common import (
    Connection,
    Edge,
    PageInfo,
    described,
    encode_state,
    from_timestamp,
    page_request,
    selects,
    source_state,
    to_timestamp,
)
from salesguard_gateway.schema.customers import FollowUp, follow_up_from_proto
from salesguard_gateway.schema.orders import (
    ORDER,
    ApprovalStep,
    Order,
    approval_step_from_proto,
    order_from_proto,
)
from salesguard_gateway.schema.payments import (
    Payment,
    Shipment,
    payment_from_proto,
    shipment_from_proto,
)
from salesguard_gateway.schema.visits import (
    PHOTO_URL_FIELDS,
    CallLog,
    CheckIn,
    call_log_from_proto,
    check_in_from_proto,
)


@strawberry.enum(description="What a timeline item is.")
class TimelineKind(Enum):
    CHECK_IN = "CHECK_IN"
    FOLLOW_UP = "FOLLOW_UP"
    CALL = "CALL"
    ORDER = "ORDER"
    APPROVAL = "APPROVAL"
    PAYMENT = "PAYMENT"
    SHIPMENT = "SHIPMENT"
    AUDIT_EVENT = "AUDIT_EVENT"
    ALERT = "ALERT"


# --- items ---------------------------------------------------------------------


@strawberry.interface(
    description="One piece of evidence: when it happened and what it is; the implementing "
    "type carries the evidence itself."
)
class TimelineItem:
    at: datetime
    kind: TimelineKind
    employee_id: strawberry.Private[str]

    @described(
        "The day of `at` in the time zone of the employee's branch (what a timeline groups "
        "by); null when the caller may not see the employee in the directory."
    )
    async def day(self, info: Info) -> date | None:
        loaders = info.context.loaders
        employee = await loaders.employees.load(self.employee_id)
        return await loaders.local_day(employee.branch_id if employee else "", self.at)


@strawberry.type(description="A check-in of the employee, with its verdict, reasons and photos.")
class CheckInItem(TimelineItem):
    check_in: CheckIn


@strawberry.type(description="A follow-up the employee recorded on a customer.")
class FollowUpItem(TimelineItem):
    follow_up: FollowUp


@strawberry.type(description="A call of the employee, from telephony.")
class CallItem(TimelineItem):
    call: CallLog


@strawberry.type(description="An order the employee submitted.")
class OrderItem(TimelineItem):
    order: Order


@strawberry.type(
    description="A decision on an approval step: on one of the employee's orders, or made by "
    "the employee (see step.approver)."
)
class ApprovalItem(TimelineItem):
    order_code: str
    step: ApprovalStep
    order_id: strawberry.Private[str]

    decided_order = ORDER.field(
        "order_id", "The order decided; null when the caller may not see it."
    )


@strawberry.type(description="A payment of one of the employee's orders.")
class PaymentItem(TimelineItem):
    payment: Payment


@strawberry.type(description="A shipment of one of the employee's orders.")
class ShipmentItem(TimelineItem):
    shipment: Shipment


@strawberry.type(
    description="An audit event with the employee as actor: a contact read, a change, an "
    "export, a reassignment."
)
class AuditEventItem(TimelineItem):
    event: AuditEvent


@strawberry.type(description="An alert about the employee, from any service.")
class AlertItem(TimelineItem):
    alert: Alert


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

TimelineConnection = Connection[TimelineItem]


# --- sources ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Ask:
    """What every source is asked: the employee, the range, the kinds, its page."""

    employee_id: str
    begins: datetime
    ends: datetime
    kinds: frozenset[TimelineKind]
    page: common_pb2.PageRequest
    include_photo_urls: bool


@dataclass(frozen=True)
class _Entry:
    at: tuple[int, int]
    node: TimelineItem
    cursor: str


@dataclass(frozen=True)
class _SourcePage:
    entries: list[_Entry]
    has_next: bool
    total: int


Fetch = Callable[[Info, _Ask], Awaitable[_SourcePage]]


@dataclass(frozen=True)
class _Source:
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


def _range_request(message: Any, ask: _Ask, kinds: list[Any]) -> Any:
    """Fill the fields every ListEmployeeTimelineRequest shares (``from`` is a keyword)."""
    message.employee_id = ask.employee_id
    getattr(message, "from").CopyFrom(to_timestamp(ask.begins))
    message.to.CopyFrom(to_timestamp(ask.ends))
    message.kinds.extend(kinds)
    message.page.CopyFrom(ask.page)
    return message


def _page(response: Any, ask: _Ask, node: Callable[[Any, str], TimelineItem]) -> _SourcePage:
    """A ListEmployeeTimelineResponse of any service as entries to merge."""
    return _SourcePage(
        entries=[
            _Entry(_instant(item.at), node(item, ask.employee_id), cursor)
            for item, cursor in zip(response.items, response.cursors, strict=True)
        ],
        has_next=response.page_info.has_next_page,
        total=response.page_info.total_count,
    )


_CUSTOMER_KINDS = {
    TimelineKind.FOLLOW_UP: customer_timeline_pb2.CUSTOMER_TIMELINE_KIND_FOLLOW_UP,
    TimelineKind.AUDIT_EVENT: customer_timeline_pb2.CUSTOMER_TIMELINE_KIND_AUDIT_EVENT,
}
_ATTENDANCE_KINDS = {
    TimelineKind.CHECK_IN: attendance_timeline_pb2.ATTENDANCE_TIMELINE_KIND_CHECK_IN,
    TimelineKind.CALL: attendance_timeline_pb2.ATTENDANCE_TIMELINE_KIND_CALL,
}
_ORDERS_KINDS = {
    TimelineKind.ORDER: orders_timeline_pb2.ORDERS_TIMELINE_KIND_ORDER,
    TimelineKind.APPROVAL: orders_timeline_pb2.ORDERS_TIMELINE_KIND_APPROVAL,
    TimelineKind.PAYMENT: orders_timeline_pb2.ORDERS_TIMELINE_KIND_PAYMENT,
    TimelineKind.SHIPMENT: orders_timeline_pb2.ORDERS_TIMELINE_KIND_SHIPMENT,
}


def _asked(kinds: Mapping[TimelineKind, int], ask: _Ask) -> list[int]:
    return [number for kind, number in kinds.items() if kind in ask.kinds]


def _customer_item(
    item: customer_timeline_pb2.CustomerTimelineItem, employee_id: str
) -> TimelineItem:
    at = _moment(item.at)
    if item.WhichOneof("item") == "follow_up":
        return FollowUpItem(
            at=at,
            kind=TimelineKind.FOLLOW_UP,
            employee_id=employee_id,
            follow_up=follow_up_from_proto(item.follow_up),
        )
    return AuditEventItem(
        at=at,
        kind=TimelineKind.AUDIT_EVENT,
        employee_id=employee_id,
        event=audit_event_from_proto(item.audit_event),
    )


async def _customers(info: Info, ask: _Ask) -> _SourcePage:
    request = _range_request(
        customer_timeline_pb2.ListEmployeeTimelineRequest(), ask, _asked(_CUSTOMER_KINDS, ask)
    )
    response = await info.context.clients.customer_timeline.ListEmployeeTimeline(request)
    return _page(response, ask, _customer_item)


def _attendance_item(
    item: attendance_timeline_pb2.AttendanceTimelineItem, employee_id: str
) -> TimelineItem:
    at = _moment(item.at)
    if item.WhichOneof("item") == "check_in":
        return CheckInItem(
            at=at,
            kind=TimelineKind.CHECK_IN,
            employee_id=employee_id,
            check_in=check_in_from_proto(item.check_in),
        )
    return CallItem(
        at=at, kind=TimelineKind.CALL, employee_id=employee_id, call=call_log_from_proto(item.call)
    )


async def _attendance(info: Info, ask: _Ask) -> _SourcePage:
    request = _range_request(
        attendance_timeline_pb2.ListEmployeeTimelineRequest(
            include_photo_urls=ask.include_photo_urls
        ),
        ask,
        _asked(_ATTENDANCE_KINDS, ask),
    )
    response = await info.context.clients.attendance_timeline.ListEmployeeTimeline(request)
    return _page(response, ask, _attendance_item)


def _orders_item(item: orders_timeline_pb2.OrdersTimelineItem, employee_id: str) -> TimelineItem:
    at = _moment(item.at)
    match item.WhichOneof("item"):
        case "order":
            return OrderItem(
                at=at,
                kind=TimelineKind.ORDER,
                employee_id=employee_id,
                order=order_from_proto(item.order),
            )
        case "approval":
            return ApprovalItem(
                at=at,
                kind=TimelineKind.APPROVAL,
                employee_id=employee_id,
                order_code=item.approval.order_code,
                step=approval_step_from_proto(item.approval.step),
                order_id=item.approval.order_id,
            )
        case "payment":
            return PaymentItem(
                at=at,
                kind=TimelineKind.PAYMENT,
                employee_id=employee_id,
                payment=payment_from_proto(item.payment),
            )
    return ShipmentItem(
        at=at,
        kind=TimelineKind.SHIPMENT,
        employee_id=employee_id,
        shipment=shipment_from_proto(item.shipment),
    )


async def _orders(info: Info, ask: _Ask) -> _SourcePage:
    request = _range_request(
        orders_timeline_pb2.ListEmployeeTimelineRequest(), ask, _asked(_ORDERS_KINDS, ask)
    )
    response = await info.context.clients.orders_timeline.ListEmployeeTimeline(request)
    return _page(response, ask, _orders_item)


def _alerts(source: str) -> Fetch:
    async def fetch(info: Info, ask: _Ask) -> _SourcePage:
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
        return _SourcePage(
            entries=[
                _Entry(
                    _instant(alert.detected_at),
                    AlertItem(
                        at=_moment(alert.detected_at),
                        kind=TimelineKind.ALERT,
                        employee_id=ask.employee_id,
                        alert=alert_from_proto(alert, language),
                    ),
                    cursor,
                )
                for alert, cursor in zip(response.alerts, response.cursors, strict=True)
            ],
            has_next=response.page_info.has_next_page,
            total=response.page_info.total_count,
        )

    return fetch


def _sources(alert_sources: Sequence[str]) -> list[_Source]:
    """In tie-break order: items at the same instant come in this order."""
    return [
        _Source("attendance", "attendance", frozenset(_ATTENDANCE_KINDS), _attendance),
        _Source("customers", "customers", frozenset(_CUSTOMER_KINDS), _customers),
        _Source("orders", "orders", frozenset(_ORDERS_KINDS), _orders),
        *(
            _Source(f"alerts.{source}", source, frozenset({TimelineKind.ALERT}), _alerts(source))
            for source in alert_sources
        ),
    ]


# --- the query ---------------------------------------------------------------------

# Photos' URLs are signed only when the query shows them.
_CHECK_IN_PHOTOS_PATH = ("edges", "node", "checkIn", "photos")


async def employee_timeline(
    info: Info,
    employee_id: str,
    begins: datetime,
    ends: datetime,
    first: int | None,
    after: str | None,
    kinds: list[TimelineKind] | None,
) -> TimelineConnection:
    context = info.context
    employee = validation.text("employeeId", employee_id, required=True, max_length=64)
    check_range(begins, ends)
    page = page_request(first, None, info)
    wanted = frozenset(kinds) if kinds else frozenset(TimelineKind)
    sources = [
        source for source in _sources(tuple(context.clients.alerts)) if source.kinds & wanted
    ]
    state = source_state(after, (source.key for source in sources))
    include_photo_urls = selects(info, PHOTO_URL_FIELDS, _CHECK_IN_PHOTOS_PATH)

    def ask(source: _Source) -> Awaitable[_SourcePage]:
        return source.fetch(
            info,
            _Ask(
                employee_id=employee,
                begins=begins,
                ends=ends,
                kinds=wanted,
                page=common_pb2.PageRequest(
                    page_size=page.page_size,
                    page_token=state[source.key],
                    include_total_count=page.include_total_count,
                ),
                include_photo_urls=include_photo_urls,
            ),
        )

    answers = await asyncio.gather(*(ask(source) for source in sources), return_exceptions=True)
    pages: dict[str, _SourcePage] = {}
    failures: dict[str, list[tuple[_Source, ServiceError]]] = {}
    for source, answer in zip(sources, answers, strict=True):
        if isinstance(answer, ServiceError):
            failures.setdefault(source.service, []).append((source, answer))
        elif isinstance(answer, BaseException):
            raise answer
        else:
            pages[source.key] = answer
    _raise_for_the_request(pages, failures)
    for service, failed in failures.items():
        context.deferred_errors.append(_missing(info, service, failed, wanted))

    # Stable sort: equal instants keep the sources' order, then each source's own order.
    candidates = sorted(
        (
            (entry, key)
            for source in sources
            if (key := source.key) in pages
            for entry in pages[key].entries
        ),
        key=lambda candidate: candidate[0].at,
        reverse=True,
    )
    remaining = {key: len(source_page.entries) for key, source_page in pages.items()}
    edges: list[Edge[TimelineItem]] = []
    for entry, key in candidates[: page.page_size]:
        remaining[key] -= 1
        state[key] = entry.cursor
        edges.append(Edge(cursor=encode_state(state), node=entry.node))
    has_next = any(remaining[key] > 0 or source_page.has_next for key, source_page in pages.items())
    return Connection(
        edges=edges,
        page_info=PageInfo(has_next_page=has_next, end_cursor=edges[-1].cursor if edges else None),
        total_count=sum(source_page.total for source_page in pages.values()),
    )


def _raise_for_the_request(
    pages: dict[str, _SourcePage],
    failures: dict[str, list[tuple[_Source, ServiceError]]],
) -> None:
    """One error, not a page of them: VALIDATION for a cursor a source refuses; FORBIDDEN
    when a timeline service refuses the caller (alerts alone are not a timeline), or when
    every source does."""
    errors = [pair for failed in failures.values() for pair in failed]
    for _, error in errors:
        if error.code is ErrorCode.VALIDATION:
            # The gateway checked every other argument: a source refused its page token.
            raise InvalidInput("after", f"the cursor is malformed ({error.message})")
    refusals = [(source, error) for source, error in errors if error.code is ErrorCode.FORBIDDEN]
    for source, error in refusals:
        if TimelineKind.ALERT not in source.kinds:
            raise error
    if refusals and not pages:
        raise refusals[0][1]


def _missing(
    info: Info,
    service: str,
    failed: list[tuple[_Source, ServiceError]],
    wanted: frozenset[TimelineKind],
) -> GraphQLError:
    """One error for a failing service: its code, the service and the kinds left out."""
    missing = sorted({kind.value for source, _ in failed for kind in source.kinds & wanted})
    first_error = failed[0][1]
    return deferred_error(
        f"timeline items from {service} are missing ({', '.join(missing)}): {first_error.message}",
        info.path.as_list(),
        {**service_error_extensions(first_error), "source": service, "kinds": missing},
    )


@strawberry.type
class TimelineQuery:
    @described(
        "One employee's evidence in [from, to), newest first: check-ins, follow-ups, calls, "
        "orders, approvals they decided, payments and shipments of their orders, audit "
        "events with them as actor and alerts about them. HR sees anyone's, a manager "
        "their branch's; nobody their own, and a branch manager no other manager's (theirs "
        "is for HR and headquarters): FORBIDDEN. At most 92 days. A service that is down "
        "leaves its kinds out, with an UNAVAILABLE error naming the source and kinds."
    )
    async def employee_timeline(
        self,
        info: Info,
        employee_id: strawberry.ID,
        from_: Annotated[datetime, strawberry.argument(name="from")],
        to: datetime,
        first: int | None = None,
        after: str | None = None,
        kinds: list[TimelineKind] | None = None,
    ) -> TimelineConnection | None:
        return await employee_timeline(info, str(employee_id), from_, to, first, after, kinds)
