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
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Callable, Mapping
from contextlib import aclosing
from typing import Annotated, Any, cast

import strawberry

from salesguard.errors import ErrorCode, Forbidden, ServiceError
from salesguard.principal import Principal
from salesguard_api.common.v1 import common_pb2
from salesguard_gateway.auth import AuthError
from salesguard_gateway.context import GatewayContext, Info, Loaders
from salesguard_gateway.schema.alerts import Alert, AlertFilter, alert_from_proto

log = logging.getLogger(__name__)
# Alerts held between the services' streams and a slow websocket; when full, the streams
# wait (gRPC flow control), and a service ends a watch that falls too far behind.
MERGE_BUFFER = 100


SubscriptionResolver = Callable[..., AsyncGenerator[Any, None]]

# How long an alert rendered for one subscriber is kept for the others the services send it.
SHARED_RENDER_SECONDS = 2.0


class _Renders:
    """Alerts rendered (alert_from_proto) per message and language, for every subscription
    the services send the same alert; each kept SHARED_RENDER_SECONDS."""

    def __init__(self) -> None:
        self._alerts: dict[tuple[bytes, str], Alert] = {}

    def alert(self, message: common_pb2.Alert, language: str) -> Alert:
        key = (message.SerializeToString(deterministic=True), language)
        alert = self._alerts.get(key)
        if alert is None:
            alert = alert_from_proto(message, language)
            alert.renders = {}
            self._alerts[key] = alert
            asyncio.get_running_loop().call_later(
                SHARED_RENDER_SECONDS, self._alerts.pop, key, None
            )
        return alert


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
        async with aclosing(raised_alerts(context.clients.alerts, request)) as alerts:
            async for message in alerts:
                await _still_entitled(context, subscribed_as)
                # The websocket's context lives as long as the connection: fresh loaders per
                # alert, so links (employee, customer, order) are never stale.
                context.loaders = Loaders(context.clients)
                yield _renders.alert(message, context.language)
