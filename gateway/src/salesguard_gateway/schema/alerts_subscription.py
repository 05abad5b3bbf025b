"""``alertRaised``: new alerts from every alert source, as they are raised.

``alertRaised`` (graphql-transport-ws) opens one ``WatchAlerts`` stream per
alert source at once and merges them: each service sends the alerts committed
since, within what ``alerts`` would show the subscriber. A source whose watch fails for a
transient reason (its policy engine or the service unavailable, a connection retired) is
watched again after a jittered, growing delay and resumed where it stood, with no gap and
no alert twice (``raised_alerts``); the client hears nothing of it. A failure that lasts,
is not transient, or cannot be resumed without a gap ends the subscription with a typed
error naming the source (the client resubscribes and reads ``alerts`` for what it
missed); completing or closing the websocket cancels every stream. An alert is rendered once per language for every
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

That read is also kept across alerts (``PeerRecords``), per peer scope and employee, so a
fan-out of an alert about an employee read before makes no call: for at most
``principal_cache_seconds``, and only while the gateway's directory watch is live and has
reported no change of that employee nor of any branch since the read began (the watch that
keeps the principals current, ``DirectoryCache.unchanged_since``). A leaver, a rename or a
move is read again on the next alert after the watch reports it.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import weakref
from collections import OrderedDict, deque
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from contextlib import aclosing, suppress
from typing import Annotated, Any, cast

import strawberry

from salesguard.alerts.servicer import RESUME_COMPLETE_FROM, RESUME_SINCE, WATCHING
from salesguard.directory import DirectoryCache
from salesguard.errors import ErrorCode, Forbidden, ServiceError
from salesguard.principal import Principal
from salesguard_api.attendance.v1 import directory_pb2
from salesguard_api.common.v1 import common_pb2
from salesguard_gateway.auth import Authenticator, AuthError
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


# A read of employees (BatchGetEmployees), made once for the subscribers of a peer scope.
EmployeesRead = asyncio.Future[Sequence[directory_pb2.Employee]]
# What one peer scope read of the directory for one alert: employee ID -> the read.
SharedReads = dict[str, EmployeesRead]
# Employee records kept across alerts, at most, per gateway (PeerRecords).
MAX_PEER_RECORDS = 10_000


class PeerRecords:
    """The employee reads of each peer scope, kept across alerts: by (peer scope, employee
    ID), each with the directory watch's generation from before it was asked. One is used
    while the watch has reported no change of that employee nor of any branch since
    (``DirectoryCache.unchanged_since``: never while the watch is not live), for
    ``ttl_seconds`` at most, and only once it did not fail."""

    def __init__(
        self,
        directory: DirectoryCache[Any],
        *,
        ttl_seconds: float,
        max_entries: int = MAX_PEER_RECORDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._directory = directory
        self._ttl = ttl_seconds
        self._max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[tuple[PeerScope, str], tuple[int, float, EmployeesRead]] = (
            OrderedDict()
        )

    def get(self, scope: PeerScope, employee_id: str) -> EmployeesRead | None:
        key = (scope, employee_id)
        entry = self._entries.get(key)
        if entry is None:
            return None
        snapshot, expires_at, read = entry
        failed = read.done() and (read.cancelled() or read.exception() is not None)
        if (
            failed
            or expires_at <= self._clock()
            or not self._directory.unchanged_since(employee_id, snapshot)
        ):
            del self._entries[key]
            return None
        return read

    def snapshot(self) -> int | None:
        """Taken before the read; None when it must not be kept."""
        return self._directory.snapshot() if self._ttl > 0 else None

    def put(
        self, scope: PeerScope, ids: Sequence[str], snapshot: int | None, read: EmployeesRead
    ) -> None:
        if snapshot is None:
            return
        expires_at = self._clock() + self._ttl
        for employee_id in ids:
            key = (scope, employee_id)
            self._entries[key] = (snapshot, expires_at, read)
            self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)


# One PeerRecords per gateway: per the directory cache (and watch) of its Authenticator.
_peer_records: weakref.WeakKeyDictionary[DirectoryCache[Any], PeerRecords] = (
    weakref.WeakKeyDictionary()
)


def peer_records(context: GatewayContext) -> PeerRecords | None:
    """The gateway's PeerRecords, found through the websocket's re-check (bound to the
    gateway's Authenticator); None, so every alert reads, when there is none."""
    recheck = getattr(context.reauthenticate, "func", context.reauthenticate)
    authenticator = getattr(recheck, "__self__", None)
    if not isinstance(authenticator, Authenticator):
        return None
    directory = authenticator.directory
    records = _peer_records.get(directory)
    if records is None:
        records = PeerRecords(directory, ttl_seconds=context.settings.principal_cache_seconds)
        _peer_records[directory] = records
    return records


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
    themselves: none of them is that reader), or taken from an earlier alert's read
    (``PeerRecords``); the subscriber's own record as themselves."""

    def __init__(
        self,
        clients: ServiceClients,
        subscriber: Principal,
        shared: SharedReads,
        records: PeerRecords | None = None,
    ) -> None:
        super().__init__(clients)
        self._subscriber_id = subscriber.id
        self._scope = peer_scope(subscriber)
        self._shared = shared
        self._records = records

    async def _fetch_employees(self, ids: list[str]) -> Sequence[directory_pb2.Employee]:
        own = [employee_id for employee_id in ids if employee_id == self._subscriber_id]
        missing = [
            employee_id
            for employee_id in ids
            if employee_id != self._subscriber_id and employee_id not in self._shared
        ]
        if missing and self._records is not None:
            unread = []
            for employee_id in missing:
                kept = self._records.get(self._scope, employee_id)
                if kept is None:
                    unread.append(employee_id)
                else:
                    self._shared[employee_id] = kept
            missing = unread
        if missing:
            snapshot = self._records.snapshot() if self._records is not None else None
            # A task of its own: a subscriber leaving cancels nobody else's read.
            reading = asyncio.ensure_future(super()._fetch_employees(missing))
            # Its failure is each waiter's; retrieved here in case none waits any more.
            reading.add_done_callback(_retrieved)
            for employee_id in missing:
                self._shared[employee_id] = reading
            if self._records is not None:
                self._records.put(self._scope, missing, snapshot, reading)
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


# A source's watch that failed for one of these reasons is watched again (raised_alerts).
TRANSIENT = frozenset({ErrorCode.POLICY_UNAVAILABLE, ErrorCode.UNAVAILABLE})
# Delay before watching again: full jitter, doubling from the first, at most the longest.
RETRY_FIRST_SECONDS = 0.2
RETRY_LONGEST_SECONDS = 3.0
# How long a source may keep failing before the subscription ends with its error.
RETRY_SECONDS = 15.0
# A started watch that broke is resumed from this long before the failure reached the
# gateway (the alerts then on their way); the difference between the gateway's clock and
# a service's allowed for where it is not known (a watch that never started).
RESUME_MARGIN_SECONDS = 5.0
CLOCK_SKEW_SECONDS = 1.0


class _Delivered:
    """The IDs of the alerts a source's watches delivered that a resumed watch may send
    again: those of the last RESUME_MARGIN_SECONDS (and clock skew) while it runs."""

    def __init__(self) -> None:
        self._ids: set[str] = set()
        self._order: deque[tuple[float, str]] = deque()

    def first(self, alert_id: str, *, keep: bool) -> bool:
        """Whether the alert is new here (noted); ``keep``: remember older ones too, while
        a resumed watch may still send them again."""
        if alert_id in self._ids:
            return False
        now = time.time()
        if not keep:
            self.forget_before(now - RESUME_MARGIN_SECONDS - 2 * CLOCK_SKEW_SECONDS)
        self._ids.add(alert_id)
        self._order.append((now, alert_id))
        return True

    def forget_before(self, moment: float) -> None:
        order = self._order
        while order and order[0][0] < moment:
            self._ids.discard(order.popleft()[1])


async def raised_alerts(
    streams: Mapping[str, Any], request: common_pb2.WatchAlertsRequest
) -> AsyncGenerator[common_pb2.Alert, None]:
    """New alerts from every source's WatchAlerts, merged as they come.

    A source whose watch fails for a transient reason (its policy engine or the service
    unavailable, the stream ended) is watched again after a jittered, growing delay, and
    the client sees nothing of it; the new watch resumes where the broken one stood (the
    service first sends the alerts committed since, decided afresh, and those already
    delivered are dropped here). A watch that never started resumes from the subscription's
    start. The subscription ends with the source's typed error (naming it) only when the
    failure lasts (RETRY_SECONDS without a watch that starts), is not transient (FORBIDDEN,
    a refused resume, ...), or is not one a new watch can resume without a gap: a
    subscription that silently lost a source would look healthy while missing alerts.
    """
    merged: asyncio.Queue[list[common_pb2.Alert] | ServiceError] = asyncio.Queue(MERGE_BUFFER)
    subscribed_at = time.time()

    async def pump(source: str) -> None:
        delivered = _Delivered()
        metadata: tuple[tuple[str, str], ...] = ()
        resuming = False
        failing_since: float | None = None
        attempt = 0
        while True:
            started_at: float | None = None
            # The service's watch start by its clock, and its clock's lead on the gateway's.
            service_started = lead = 0.0
            try:
                call = streams[source].WatchAlerts(request, metadata=metadata)
                with suppress(Exception):  # a failed call's error comes with its messages
                    headers = await call.initial_metadata()
                    for key, value in headers or ():
                        if key == WATCHING:
                            service_started = float(value)
                            started_at = time.time()
                            lead = service_started - started_at
                            failing_since = None
                async for response in call:
                    # A resumed watch sends the alerts since its resume point first.
                    keep = resuming and (
                        started_at is None or time.time() < started_at + RESUME_MARGIN_SECONDS
                    )
                    fresh = [
                        alert for alert in response.alerts if delivered.first(alert.id, keep=keep)
                    ]
                    if fresh:
                        await merged.put(fresh)
                ended = ServiceError(
                    f"the alert feed of {source} ended", code=ErrorCode.UNAVAILABLE
                )
            except ServiceError as error:
                ended = error
            except Exception:
                log.exception("watching the alerts of %s failed", source)
                ended = ServiceError("internal error", code=ErrorCode.INTERNAL)
            now = time.monotonic()
            failing_since = failing_since if failing_since is not None else now
            if ended.code not in TRANSIENT or now - failing_since >= RETRY_SECONDS:
                await merged.put(_naming_source(ended, source))
                return
            if started_at is not None:
                # Resume from just before the failure, missing nothing since the watch
                # started (both by the service's clock).
                failed_at = time.time()
                if failed_at - started_at > RETRY_LONGEST_SECONDS:
                    attempt = 0  # it ran: not one more of a series of quick failures
                since = max(failed_at + lead - RESUME_MARGIN_SECONDS, service_started)
                metadata = (
                    (RESUME_SINCE, repr(since)),
                    (RESUME_COMPLETE_FROM, repr(service_started)),
                )
                delivered.forget_before(since - lead - CLOCK_SKEW_SECONDS)
            elif not metadata:
                # Never started: from the subscription's start, as early as the service can.
                metadata = ((RESUME_SINCE, repr(subscribed_at - CLOCK_SKEW_SECONDS)),)
            resuming = True
            # Jitter spreads a thousand subscribers' retries; it needs no secrecy.
            longest = min(RETRY_LONGEST_SECONDS, RETRY_FIRST_SECONDS * 2**attempt)
            delay = random.uniform(0, longest)  # noqa: S311
            attempt += 1
            log.info(
                "the alert watch of %s failed (%s); watching again in %.2f s",
                source,
                ended.code,
                delay,
            )
            await asyncio.sleep(delay)

    pumps = [asyncio.create_task(pump(source)) for source in streams]
    try:
        while True:
            item = await merged.get()
            if isinstance(item, ServiceError):
                raise item
            for alert in item:
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
            "caller (graphql-transport-ws). A service failing for a moment is watched again and "
            "resumed without a gap; ends with a typed error naming the service when it keeps "
            "failing or cannot resume without one."
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
        records = peer_records(context)
        async with aclosing(raised_alerts(context.clients.alerts, request)) as alerts:
            async for message in alerts:
                await _still_entitled(context, subscribed_as)
                alert, links = _renders.alert(message, context.language)
                # The websocket's context lives as long as the connection: fresh loaders per
                # alert, so links (employee, customer, order) are never stale.
                context.loaders = _AlertLoaders(
                    context.clients, subscribed_as, links.setdefault(peers, {}), records
                )
                yield alert
