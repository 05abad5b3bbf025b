"""Alerts from every service, in the caller's language: the types, ``alerts``, ``updateAlert``.

Each alert source (the services whose rules raise alerts: settings ``alert_sources``)
serves its own alerts through the common ``AlertsService``. The gateway asks them
all concurrently for one page each and merges them newest first under one composite
cursor (schema/federation.py). An exhausted source is still asked (an empty page), so ``totalCount`` stays the
sum over every source on every page. A source that fails costs only its own
alerts: the others are returned with an error entry naming the source.

An alert's ``id`` is the global ID of the owning service's own ID (alert IDs are UUIDs,
unique across services; the ``alertIds`` of commission lines are the same IDs). Every
decision is kept in the alert's ``history``, read with the alerts (one query per source
and page, never one per alert).

``updateAlert`` goes to the service that owns the alert. The update goes to the input's
``source`` when given, else to each alert source in turn until one owns the alert (a
source answers NOT_FOUND for an alert it does not have or the caller may not update, so
it costs at most one call per source and writes once).

``alertRaised`` is in schema/alerts_subscription.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import Annotated, Any, TypeVar

import strawberry

from salesguard.alerts import render
from salesguard.errors import ErrorCode, InvalidInput, NotFound, ServiceError
from salesguard_api.common.v1 import common_pb2
from salesguard_gateway.context import Info
from salesguard_gateway.errors import deferred_error, service_error_extensions
from salesguard_gateway.schema.arguments import AFTER, BEFORE, FIRST, LAST
from salesguard_gateway.schema.codes import AlertKind
from salesguard_gateway.schema.common import JSON, Connection, Paging, described
from salesguard_gateway.schema.conversions import (
    converted,
    enum_numbers,
    struct_to_json,
    to_timestamp,
)
from salesguard_gateway.schema.customers import CUSTOMER
from salesguard_gateway.schema.enums import AlertResolution, AlertStatus, Severity
from salesguard_gateway.schema.federation import (
    Entry,
    MergePlan,
    SourcePage,
    merged,
    source_page,
)
from salesguard_gateway.schema.nodes import GlobalID, Node, raw_id, reference
from salesguard_gateway.schema.orders import ORDER
from salesguard_gateway.schema.people import EMPLOYEE
from salesguard_gateway.schema.resolvers import mutation


@strawberry.type(
    description="One decision taken on an alert (updateAlert); the history is append-only."
)
class AlertDecision:
    status: AlertStatus | None = strawberry.field(description="The status the decision set.")
    resolution: AlertResolution | None = strawberry.field(
        description="The resolution it set; null unless status is RESOLVED."
    )
    note: str | None = strawberry.field(description="The note given with it; null when none.")
    at: datetime | None = strawberry.field(description="When it was taken.")
    trace_id: str | None = strawberry.field(
        description="The trace ID of the request that took it, to find it in the traces."
    )
    by_id: strawberry.Private[str]

    by_id_field = reference("Employee", "by_id", "byId", "The employee who decided.", required=True)

    by = EMPLOYEE.field("by_id", "The employee who decided; null when the caller may not see them.")


def decision_from_proto(message: common_pb2.AlertDecision) -> AlertDecision:
    return converted(AlertDecision, message, by_id=message.actor_id)


@strawberry.type(
    description=(
        "A suspicious pattern a rule found (the alert catalogue), raised by the service that owns "
        "the data. Visible to HR and the managers of its branch, never to the employee it is "
        "about; a branch manager does not see those about managers; FINANCE sees the deal, "
        "payment and commission kinds only (policy data)."
    )
)
class Alert(Node):
    kind: AlertKind | None = strawberry.field(
        description="Null only for a kind newer than the gateway (it logs a warning)."
    )
    rule: str = strawberry.field(description='Code of the rule that raised it, e.g. "C2".')
    severity: Severity | None = strawberry.field(
        description="How severe it is (the alert catalogue's severity of its kind)."
    )
    status: AlertStatus | None = strawberry.field(description="Where it stands.")
    resolution: AlertResolution | None = strawberry.field(
        description="How it was resolved; null unless status is RESOLVED."
    )
    title: str = strawberry.field(description="In the language of Accept-Language (en or zh).")
    message: str = strawberry.field(description="In the language of Accept-Language (en or zh).")
    detected_at: datetime | None = strawberry.field(description="When the rule found it.")
    evidence: JSON = strawberry.field(
        description=(
            "The facts the rule found, as a JSON object whose keys depend on the kind (title and "
            "message are written from them)."
        )
    )
    source: str = strawberry.field(description='The service that owns the alert, e.g. "customers".')
    note: str | None = strawberry.field(
        description=(
            "The note of the latest decision that gave one; null when none did. Every note is in "
            "history."
        )
    )
    order_id_field = reference(
        "Order", "order_id", "orderId", "The order concerned, also when the caller may not see it."
    )
    updated_at: datetime | None = strawberry.field(
        description="When the latest decision was taken; null while none has been."
    )
    history: list[AlertDecision] = strawberry.field(
        description="Every decision taken on the alert, oldest first."
    )
    employee_id: strawberry.Private[str]
    customer_id: strawberry.Private[str]
    order_id: strawberry.Private[str]
    branch_id: strawberry.Private[str]
    # alertRaised only: the results of executing subscriptions on this alert, shared by the
    # subscribers the services sent it (SharedAlertEvents); None elsewhere.
    renders: strawberry.Private[dict[tuple[Any, ...], Any] | None] = None

    @described("The day it was detected, in the time zone of the branch it concerns.")
    async def detected_on(self, info: Info) -> date | None:
        return await info.context.loaders.local_day(self.branch_id, self.detected_at)

    employee = EMPLOYEE.field(
        "employee_id",
        "The employee it is about; null when none, or not visible to the caller in the directory.",
    )

    customer = CUSTOMER.field(
        "customer_id",
        "The customer concerned; null when none or not visible to the caller (contact fields "
        "masked as for any customer read).",
    )

    order = ORDER.field(
        "order_id", "The order concerned; null when none or not visible to the caller."
    )


def alert_from_proto(message: common_pb2.Alert, language: str) -> Alert:
    evidence = struct_to_json(message.evidence)
    title, text = render(message.kind, evidence, language)
    return converted(
        Alert,
        message,
        title=title,
        message=text,
        evidence=JSON(evidence),
        history=[decision_from_proto(decision) for decision in message.history],
    )


@strawberry.input(
    description=(
        "Which alerts to list: every condition given must hold (a list matches any of its "
        "values); omitted ones do not filter."
    )
)
class AlertFilter:
    kinds: list[AlertKind] | None = strawberry.field(
        default=None, description="Only alerts of these kinds."
    )
    severities: list[Severity] | None = strawberry.field(
        default=None, description="Only alerts of these severities."
    )
    statuses: list[AlertStatus] | None = strawberry.field(
        default=None, description="Only alerts in these statuses."
    )
    employee_id: GlobalID | None = strawberry.field(
        default=None, description="Only alerts about this employee (an Employee's ID)."
    )
    branch_id: GlobalID | None = strawberry.field(
        default=None,
        description=(
            "Only alerts concerning this branch (a Branch's ID): the branch of the employee when "
            "the alert was raised. Within the caller's grants like every condition: another "
            "branch's alerts stay out of a manager's list."
        ),
    )
    customer_id: GlobalID | None = strawberry.field(
        default=None, description="Only alerts concerning this customer (a Customer's ID)."
    )
    order_id: GlobalID | None = strawberry.field(
        default=None, description="Only alerts concerning this order (an Order's ID)."
    )
    from_: datetime | None = strawberry.field(
        default=None, name="from", description="Only alerts detected at or after this time."
    )
    to: datetime | None = strawberry.field(
        default=None, description="Only alerts detected before this time; later than from."
    )

    def to_proto(self) -> common_pb2.AlertFilter:
        if self.from_ is not None and self.to is not None and self.from_ >= self.to:
            raise InvalidInput("filter.to", "to must be later than from")
        return common_pb2.AlertFilter(
            kinds=[kind.value for kind in self.kinds or ()],
            severities=enum_numbers(self.severities),
            statuses=enum_numbers(self.statuses),
            employee_id=raw_id(self.employee_id, "Employee", "filter.employeeId"),
            branch_id=raw_id(self.branch_id, "Branch", "filter.branchId"),
            customer_id=raw_id(self.customer_id, "Customer", "filter.customerId"),
            order_id=raw_id(self.order_id, "Order", "filter.orderId"),
            detected_from=to_timestamp(self.from_),
            detected_to=to_timestamp(self.to),
        )


AlertConnection = Connection[Alert]


T = TypeVar("T")


async def ask_alert_sources(
    info: Info, what: str, ask: Callable[[str], Awaitable[T]]
) -> dict[str, T]:
    """Every alert source asked at once; the answers of those that answered.

    A source that fails costs only its own part: an error entry naming the source
    ("<what> from <source> are missing"), next to the rest (a typed error:
    errors.py). When every source
    refuses the request itself (the caller may see none of it, or the input is bad),
    that is one error, not one per source.
    """
    context = info.context
    sources = tuple(context.clients.alerts)
    answers = await asyncio.gather(*(ask(source) for source in sources), return_exceptions=True)
    first = answers[0] if answers else None
    if (
        isinstance(first, ServiceError)
        and first.code in (ErrorCode.FORBIDDEN, ErrorCode.VALIDATION)
        and all(
            isinstance(answer, ServiceError) and answer.code is first.code for answer in answers
        )
    ):
        raise first
    answered: dict[str, T] = {}
    for source, answer in zip(sources, answers, strict=True):
        if isinstance(answer, ServiceError):
            context.deferred_errors.append(
                deferred_error(
                    f"{what} from {source} are missing: {answer.message}",
                    info.path.as_list(),
                    {**service_error_extensions(answer), "source": source},
                )
            )
        elif isinstance(answer, BaseException):
            raise answer
        else:
            answered[source] = answer
    return answered


async def federated_alerts(
    info: Info, paging: Paging, alert_filter: AlertFilter | None
) -> AlertConnection:
    context = info.context
    plan = MergePlan.of(paging, paging.request(info), context.clients.alerts)
    proto_filter = alert_filter.to_proto() if alert_filter is not None else None

    async def ask(source: str) -> SourcePage[common_pb2.Alert]:
        if not plan.asks(source):
            return plan.nothing()
        request = common_pb2.ListAlertsRequest(filter=proto_filter, page=plan.request(source))
        response = await context.clients.alerts[source].ListAlerts(request)
        # Newest first; the ID orders alerts of one instant.
        return plan.answered(
            source,
            source_page(
                response,
                response.alerts,
                lambda alert, cursor: Entry(
                    (alert.detected_at.seconds, alert.detected_at.nanos, alert.id), alert, cursor
                ),
            ),
        )

    pages = await ask_alert_sources(info, "alerts", ask)
    language = context.language
    return merged(pages, plan, lambda alert: alert_from_proto(alert, language))


@strawberry.type
class AlertsQuery:
    @described(
        "Alerts from every alert source (customers, attendance, orders), newest first, within the caller's grants: never the "
        "alerts about the caller; a branch manager's leave out those about managers (a "
        "manager's case is for HR and headquarters); finance reads the deal, payment and "
        "commission kinds only (policy data)."
    )
    async def alerts(
        self,
        info: Info,
        first: Annotated[int | None, strawberry.argument(description=FIRST)] = None,
        after: Annotated[str | None, strawberry.argument(description=AFTER)] = None,
        filter: Annotated[
            AlertFilter | None,
            strawberry.argument(description="Which alerts; omit for every alert the caller sees."),
        ] = None,
        last: Annotated[int | None, strawberry.argument(description=LAST)] = None,
        before: Annotated[str | None, strawberry.argument(description=BEFORE)] = None,
    ) -> AlertConnection | None:
        return await federated_alerts(info, Paging.of(first, after, last, before), filter)


@strawberry.input(
    description=(
        "Decide an alert. Routed to the service that owns it: by source when given, else by "
        "asking each alert source in turn."
    )
)
class UpdateAlertInput:
    id: GlobalID = strawberry.field(description="The alert (an Alert's ID).")
    status: AlertStatus = strawberry.field(
        description="ACKNOWLEDGED, RESOLVED or DISMISSED; an alert is never reopened (OPEN)."
    )
    resolution: AlertResolution | None = strawberry.field(
        default=None,
        description=(
            "With RESOLVED only: CONFIRMED (the suspicion holds; withheld commission stays "
            "withheld) or CLEARED (released on the next commission run)."
        ),
    )
    note: str | None = strawberry.field(
        default=None,
        description=(
            "Why: kept in the alert's history (at most 4000 characters); when omitted, the "
            "alert keeps its latest note."
        ),
    )
    source: str | None = strawberry.field(
        default=None,
        description='The service that owns the alert (the alert\'s source, e.g. "orders").',
    )


@strawberry.type(description="What updateAlert returns.")
class UpdateAlertPayload:
    alert: Alert = strawberry.field(description="The alert as decided, with its history.")


def alert_route(source: str | None, sources: tuple[str, ...]) -> list[str]:
    """The sources to ask for an alert, in order: the one named, else every one."""
    if source:
        if source not in sources:
            raise InvalidInput("source", f"source must be one of {', '.join(sources)}")
        return [source]
    return list(sources)


@strawberry.type
class AlertsMutation:
    @mutation(
        "Acknowledge, resolve (CONFIRMED or CLEARED) or dismiss an alert; managers of its "
        "branch and HR. NOT_FOUND when unknown or outside the caller's scope (for a branch "
        "manager, also an alert about another manager); FORBIDDEN for "
        "an alert about the caller (nobody decides their own) and for a manager on an alert "
        "already RESOLVED or DISMISSED (HR revises decisions).",
        input="The alert and the decision.",
    )
    async def update_alert(self, info: Info, input: UpdateAlertInput) -> UpdateAlertPayload:
        context = info.context
        alert_id = raw_id(input.id, "Alert", "input.id")
        sources = alert_route(input.source, tuple(context.clients.alerts))
        request = common_pb2.UpdateAlertRequest(
            id=alert_id,
            status=input.status.value,
            resolution=(
                input.resolution.value
                if input.resolution is not None
                else common_pb2.ALERT_RESOLUTION_UNSPECIFIED
            ),
            note=input.note or "",
        )
        for source in sources:
            try:
                response = await context.clients.alerts[source].UpdateAlert(request)
            except ServiceError as error:
                if error.code is ErrorCode.NOT_FOUND:
                    continue  # not this source's alert (or not the caller's to decide)
                raise
            return UpdateAlertPayload(alert=alert_from_proto(response.alert, context.language))
        raise NotFound(f"alert {input.id} not found")
