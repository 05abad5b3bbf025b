"""``alertRaised``: new alerts from every alert source, as they are raised.

``alertRaised`` (graphql-transport-ws) opens one ``WatchAlerts`` stream per
alert source at once and merges them: each service sends the alerts committed
since, within what ``alerts`` would show the subscriber. A source that fails or
ends ends the subscription with a typed error naming the source (the client
resubscribes and reads ``alerts`` for what it missed); completing or closing the
websocket cancels every stream. An alert is rendered once per language for every
subscription it is sent to, and a subscription selecting only the alert's own fields
shares one execution per alert, document and language (schema/alerts_sharing.py);
what each receives and the re-check before each alert stay per subscriber.

The alert's ``employee`` link (and a decision's ``by``) is read once per alert for all
the subscribers the services send it whose principal differs only in its ID (same roles,
team, branch and headquarters: ``alerts_sharing.peer_scope``), except the subscriber's own
record, which each reads as themselves. That read is exact: the policy compares the
subject's ID only with the row's or the resource's (the ``own`` scope, ``forbid_self``,
``own_case``, ``excluded_subjects``), so for an employee who is neither of two peers,
``directory.read`` gives both the same rows (tests/integration/test_policy_peer_scope.py
checks this of the policy). Customer and order links stay per subscriber: whether they
are one's own depends on an owner only the read shows.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from contextlib import aclosing
from typing import Annotated, Any, cast

import strawberry

from salesguard.errors import ErrorCode, Forbidden, ServiceError
from salesguard.principal import Principal
from salesguard_api.attendance.v1 import directory_pb2
from salesguard_api.common.v1 import common_pb2
from salesguard_gateway.auth import AuthError
from salesguard_gateway.clients import ServiceClients
from salesguard_gateway.context import GatewayContext, Info, Loaders
from salesguard_gateway.schema.alerts import Alert, AlertFilter, alert_from_proto
from salesguard_gateway.schema.alerts_sharing import PeerScope, peer_scope

log = logging.getLogger(__name__)
# Alerts held between the services' streams and a slow websocket; when full, the streams
# wait (gRPC flow control), and a service ends a watch that falls too far behind.
MERGE_BUFFER = 100


SubscriptionResolver = Callable[..., AsyncGenerator[Any, None]]

# How long an alert rendered for one subscriber is kept for the others the services send it.
SHARED_RENDER_SECONDS = 2.0


# What one peer scope read of the directory for one alert: employee ID -> the read.
SharedReads = dict[str, "asyncio.Future[Sequence[directory_pb2.Employee]]"]


class _Renders:
    """Alerts rendered (alert_from_proto) per message and language, and the employee links
    read for them per peer scope, for every subscription the services send the same alert;
    each kept SHARED_RENDER_SECONDS."""

    def __init__(self) -> None:
        self._alerts: dict[tuple[bytes, str], Alert] = {}
        self._links: dict[bytes, dict[PeerScope, SharedReads]] = {}

    def alert(
        self, message: common_pb2.Alert, language: str
    ) -> tuple[Alert, dict[PeerScope, SharedReads]]:
        serialized = message.SerializeToString(deterministic=True)
        key = (serialized, language)
        alert = self._alerts.get(key)
        loop = asyncio.get_running_loop()
        if alert is None:
            alert = alert_from_proto(message, language)
            alert.renders = {}
            self._alerts[key] = alert
            loop.call_later(SHARED_RENDER_SECONDS, self._alerts.pop, key, None)
        links = self._links.get(serialized)
        if links is None:
            links = self._links[serialized] = {}
            loop.call_later(SHARED_RENDER_SECONDS, self._links.pop, serialized, None)
        return alert, links


class _AlertLoaders(Loaders):
    """One subscriber's loaders for one alert: employees other than the subscriber are read
    once for every subscriber of the same peer scope (the first to ask reads them, as
    themselves: none of them is that reader); the subscriber's own record as themselves."""

    def __init__(self, clients: ServiceClients, subscriber: Principal, shared: SharedReads) -> None:
        super().__init__(clients)
        self._subscriber_id = subscriber.id
        self._shared = shared

    async def _fetch_employees(self, ids: list[str]) -> Sequence[directory_pb2.Employee]:
        own = [employee_id for employee_id in ids if employee_id == self._subscriber_id]
        missing = [
            employee_id
            for employee_id in ids
            if employee_id != self._subscriber_id and employee_id not in self._shared
        ]
        if missing:
            # A task of its own: a subscriber leaving cancels nobody else's read.
            reading = asyncio.ensure_future(super()._fetch_employees(missing))
            # Its failure is each waiter's; retrieved here in case none waits any more.
            reading.add_done_callback(_retrieved)
            for employee_id in missing:
                self._shared[employee_id] = reading
        reads = {
            id(read): read
            for employee_id in ids
            if employee_id != self._subscriber_id
            for read in (self._shared[employee_id],)
        }
        found: list[directory_pb2.Employee] = []
        if own:
            found += await super()._fetch_employees(own)
        for read in reads.values():
            found += await asyncio.shield(read)
        wanted = set(ids)
        return [employee for employee in found if employee.id in wanted]


def _retrieved(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()


_renders = _Renders()


def _naming_source(error: ServiceError, source: str) -> ServiceError:
    return ServiceError(
        error.message,
        code=error.code,
        field=error.field,
        details={**error.details, "source": source},
    )


async def raised_alerts(
    streams: Mapping[str, Any], request: common_pb2.WatchAlertsRequest
) -> AsyncGenerator[common_pb2.Alert, None]:
    """New alerts from every source's WatchAlerts, merged as they come.

    Ends with the first failure (a typed error naming its source): a subscription that
    silently lost a source would look healthy while missing alerts.
    """
    merged: asyncio.Queue[common_pb2.WatchAlertsResponse | ServiceError] = asyncio.Queue(
        MERGE_BUFFER
    )

    async def pump(source: str) -> None:
        try:
            async for response in streams[source].WatchAlerts(request):
                await merged.put(response)
            ended = ServiceError(f"the alert feed of {source} ended", code=ErrorCode.UNAVAILABLE)
        except ServiceError as error:
            ended = error
        except Exception:
            log.exception("watching the alerts of %s failed", source)
            ended = ServiceError("internal error", code=ErrorCode.INTERNAL)
        await merged.put(_naming_source(ended, source))

    pumps = [asyncio.create_task(pump(source)) for source in streams]
    try:
        while True:
            item = await merged.get()
            if isinstance(item, ServiceError):
                raise item
            for alert in item.alerts:
                yield alert
    finally:
        # Cancelling a pump cancels its gRPC call: the service stops watching.
        for task in pumps:
            task.cancel()
        await asyncio.gather(*pumps, return_exceptions=True)


async def _still_entitled(context: GatewayContext, subscribed_as: Principal) -> None:
    """The subscriber as the directory has them now, before an alert goes out: one who has
    left or been suspended (or whose token expired) ends the subscription with that error;
    one whose roles, team or branch changed ends it with FORBIDDEN, to subscribe again under
    the new scope (the services watch with the scope of the start)."""
    try:
        current = await context.current_caller()
    except AuthError as error:
        raise ServiceError(error.message, code=error.code) from None
    if current.principal != subscribed_as:
        raise Forbidden("your roles, team or branch changed since you subscribed; subscribe again")


# strawberry.subscription, keeping the resolver's type for mypy (as `described` does for fields).
_subscription = cast(
    Callable[[SubscriptionResolver], SubscriptionResolver],
    strawberry.subscription(
        description=(
            "Alerts as they are raised, from every alert source, that alerts(filter) would show the "
            "caller (graphql-transport-ws). Ends with a typed error when a service fails."
        )
    ),
)


@strawberry.type
class AlertsSubscription:
    @_subscription
    async def alert_raised(
        self,
        info: Info,
        filter: Annotated[
            AlertFilter | None,
            strawberry.argument(
                description="Which new alerts to send; omit for every one the caller may see."
            ),
        ] = None,
    ) -> AsyncGenerator[Alert, None]:
        context = info.context
        subscribed_as = context.caller.principal
        request = common_pb2.WatchAlertsRequest(
            filter=filter.to_proto() if filter is not None else None
        )
        peers = peer_scope(subscribed_as)
        async with aclosing(raised_alerts(context.clients.alerts, request)) as alerts:
            async for message in alerts:
                await _still_entitled(context, subscribed_as)
                alert, links = _renders.alert(message, context.language)
                # The websocket's context lives as long as the connection: fresh loaders per
                # alert, so links (employee, customer, order) are never stale.
                context.loaders = _AlertLoaders(
                    context.clients, subscribed_as, links.setdefault(peers, {})
                )
                yield alert
