"""``node(id:)`` and ``nodes(ids:)``: refetch any object by its global ID (Relay).

Each type is read the way its own query reads it, through the owning service and so
within the caller's grants and masking: an object the caller may not see, or one that
does not exist, is null (as its own query would answer NOT_FOUND), and a kind the caller's
role may not read at all is FORBIDDEN (as its own query answers). ``nodes`` reads each
type in one batch: one call per type (customers, orders, employees, branches, teams,
check-ins, export requests, commission plans) and one per source for alerts.

Types whose services have no read by ID (audit events, follow-ups, visit plans, call
logs, payments, shipments, commission lines) answer null: their IDs still identify them
in a client's cache, and their lists (with filters) are how they are read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Any, TypeVar

import strawberry

from salesguard.errors import InvalidInput
from salesguard_api.commissions.v1 import commissions_pb2
from salesguard_api.common.v1 import common_pb2
from salesguard_gateway.context import Info
from salesguard_gateway.schema.alerts import alert_from_proto, ask_alert_sources
from salesguard_gateway.schema.commissions import plan_from_proto
from salesguard_gateway.schema.common import described
from salesguard_gateway.schema.customers import CUSTOMER
from salesguard_gateway.schema.exports import read_export_requests
from salesguard_gateway.schema.links import Link
from salesguard_gateway.schema.nodes import GlobalID, Node, service_id_of
from salesguard_gateway.schema.orders import ORDER
from salesguard_gateway.schema.people import BRANCH, EMPLOYEE, TEAM
from salesguard_gateway.schema.visits import read_check_ins

# Reads a batch of one type's service IDs; the answers in the same order (None: not there).
Fetch = Callable[[Info, Sequence[str]], Awaitable[Sequence[Node | None]]]


N = TypeVar("N", bound=Node)


def _by_link(link: Link[Any, N]) -> Fetch:
    async def fetch(info: Info, ids: Sequence[str]) -> Sequence[Node | None]:
        # The links' DataLoaders batch these into one call per type.
        found: list[N | None] = await asyncio.gather(*(link.load(info, node_id) for node_id in ids))
        return found

    return fetch


def _by_ids(read: Callable[[Info, Sequence[str]], Awaitable[Sequence[Node]]]) -> Fetch:
    """A list read filtered by IDs (one call for the batch), answered in the order asked."""

    async def fetch(info: Info, ids: Sequence[str]) -> Sequence[Node | None]:
        found = {str(node.id): node for node in await read(info, ids)}
        return [found.get(node_id) for node_id in ids]

    return fetch


async def _alerts(info: Info, ids: Sequence[str]) -> Sequence[Node | None]:
    """One ListAlerts per alert source for the whole batch (alert IDs are unique across
    sources, so each is found at most once)."""
    request = common_pb2.ListAlertsRequest(
        filter=common_pb2.AlertFilter(ids=list(ids)),
        page=common_pb2.PageRequest(page_size=len(ids)),
    )

    async def ask(source: str) -> Sequence[common_pb2.Alert]:
        return (await info.context.clients.alerts[source].ListAlerts(request)).alerts

    answers = await ask_alert_sources(info, "alerts", ask)
    language = info.context.language
    found = {
        alert.id: alert_from_proto(alert, language)
        for alerts in answers.values()
        for alert in alerts
    }
    return [found.get(alert_id) for alert_id in ids]


async def _commission_plans(info: Info, ids: Sequence[str]) -> Sequence[Node | None]:
    response = await info.context.clients.commissions.ListCommissionPlans(
        commissions_pb2.ListCommissionPlansRequest()
    )
    plans = {plan.id: plan for plan in response.plans}
    return [plan_from_proto(plans[plan_id]) if plan_id in plans else None for plan_id in ids]


async def _none(info: Info, ids: Sequence[str]) -> Sequence[Node | None]:
    return [None] * len(ids)


FETCHERS: dict[str, Fetch] = {
    "Customer": _by_link(CUSTOMER),
    "Order": _by_link(ORDER),
    "Employee": _by_link(EMPLOYEE),
    "Branch": _by_link(BRANCH),
    "Team": _by_link(TEAM),
    "Alert": _alerts,
    "CommissionPlan": _commission_plans,
    "CheckIn": _by_ids(read_check_ins),
    "ExportRequest": _by_ids(read_export_requests),
    **dict.fromkeys(
        (
            "AuditEvent",
            "FollowUp",
            "VisitPlan",
            "CallLog",
            "Payment",
            "Shipment",
            "CommissionLine",
        ),
        _none,
    ),
}


def _fetcher(value: GlobalID, field: str) -> Fetch:
    fetch = FETCHERS.get(value.type_name)
    if fetch is None or not value.node_id:
        raise InvalidInput(field, f"{field} is not the ID of any object")
    return fetch


async def read_nodes(info: Info, ids: Sequence[GlobalID]) -> list[Node | None]:
    """The objects behind ``ids``, in their order: one batch per type, all types at once."""
    by_type: dict[str, list[str]] = {}
    for value in ids:
        _fetcher(value, "ids")
        by_type.setdefault(value.type_name, []).append(service_id_of(value, "ids"))
    types = list(by_type)
    answers = await asyncio.gather(
        *(FETCHERS[name](info, list(dict.fromkeys(by_type[name]))) for name in types)
    )
    found: dict[tuple[str, str], Node | None] = {}
    for type_name, answer in zip(types, answers, strict=True):
        asked = dict.fromkeys(by_type[type_name])
        found.update(zip(((type_name, node_id) for node_id in asked), answer, strict=True))
    return [found[(value.type_name, value.node_id)] for value in ids]


@strawberry.type
class NodeQuery:
    @described(
        "Any object by its global ID (Relay's refetch), read through its own service: null "
        "when it does not exist or is outside the caller's scope, masked as its own query "
        "masks it; FORBIDDEN where its own query is (a rep asking for an alert). Types "
        "without a read by ID (audit events, follow-ups, visit plans, call logs, payments, "
        "shipments, commission lines) answer null. VALIDATION for a value that is not a "
        "global ID."
    )
    async def node(
        self,
        info: Info,
        id: Annotated[GlobalID, strawberry.argument(description="A global ID (any Node's id).")],
    ) -> Node | None:
        return (await _fetcher(id, "id")(info, [service_id_of(id, "id")]))[0]

    @described(
        "Several objects by their global IDs, in the order asked (null for each one that "
        "does not exist or the caller may not see); at most the page size limit (100) at once."
    )
    async def nodes(
        self,
        info: Info,
        ids: Annotated[
            list[GlobalID], strawberry.argument(description="Global IDs (any Nodes' ids).")
        ],
    ) -> list[Node | None]:
        limit = info.context.settings.max_page_size
        if len(ids) > limit:
            raise InvalidInput("ids", f"ask for at most {limit} IDs at once")
        return await read_nodes(info, ids)
