"""Live alerts: from an alert's commit to its arrival at HR, by WatchAlerts and by alertRaised.

Full profile as deployed (benchmarks/deployment.py): PostgreSQL, an OPA server,
attendance, customers, orders and the gateway each in its own process. The
benchmark raises alerts one by one in the attendance database, as a detector does
(``raise_alert`` in a transaction of its own), and waits until every subscriber has
it before raising the next. Measured from the moment COMMIT is sent to the moment
the subscriber holds the alert:

- direct: HR's ``WatchAlerts`` gRPC streams on attendance;
- gateway: HR's ``alertRaised`` subscriptions over graphql-transport-ws (each one
  watching every alert source, as a browser's does);

each with 1 and with ``--subscribers`` concurrent subscribers. The baseline is
PostgreSQL itself: a ``pg_notify`` committed on one connection and received by a
``LISTEN`` on another, in this process, on the same database. The target: every
alert delivered within 1 second.

    uv run python -m benchmarks.alert_feed [--alerts 300] [--subscribers 50]
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, suppress
from typing import Any

import asyncpg
from sqlalchemy import select
from sqlalchemy.engine import make_url

from benchmarks.deployment import Deployment, Person, deployment, seed_directory
from benchmarks.support import HEADER, arguments, percentile, summary
from salesguard.alerts import AlertDraft, raise_alert
from salesguard.db import Database
from salesguard.principal import Principal, acting_as
from salesguard_api.attendance.v1 import directory_pb2, directory_pb2_grpc
from salesguard_api.common.v1 import common_pb2, common_pb2_grpc
from salesguard_attendance.models import Alert as AttendanceAlert
from tests.harness import service_id
from tests.support.subscriptions import ALERT_RAISED, GraphQLWebSocket

BRANCH = "bench-hq"
REP = "bench-rep"
# An alert not delivered by then counts as lost (and fails the target).
DELIVERY_TIMEOUT = 5.0
TARGET_SECONDS = 1.0


class Arrivals:
    """When each subscriber received each alert; wakes whoever waits for an alert to be
    delivered to every subscriber."""

    def __init__(self, subscribers: int) -> None:
        self.subscribers = subscribers
        self.at: dict[str, list[float]] = {}
        self._waiting: dict[str, asyncio.Event] = {}

    def expect(self, alert_id: str) -> asyncio.Event:
        self.at.setdefault(alert_id, [])
        return self._waiting.setdefault(alert_id, asyncio.Event())

    def arrived(self, alert_id: str) -> None:
        moments = self.at.setdefault(alert_id, [])
        moments.append(time.perf_counter())
        if len(moments) >= self.subscribers:
            self._waiting.setdefault(alert_id, asyncio.Event()).set()


class AlertRaiser:
    """Raises MOCK_LOCATION alerts about the rep in the attendance database, one per call."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._count = 0

    async def raise_one(self) -> tuple[str, float]:
        """The new alert's ID and the moment its COMMIT was sent."""
        self._count += 1
        async with self._db.transaction() as session:
            draft = AlertDraft(
                kind="MOCK_LOCATION",
                dedupe_key=f"bench-feed-{time.time_ns()}-{self._count}",
                employee_id=REP,
                branch_id=BRANCH,
                evidence={"device_id": "bench-phone"},
            )
            await raise_alert(session, AttendanceAlert, draft, source="attendance")
            alert_id = await session.scalar(
                select(AttendanceAlert.id).where(AttendanceAlert.dedupe_key == draft.dedupe_key)
            )
            committing = time.perf_counter()  # the block's end commits
        assert isinstance(alert_id, str)
        return alert_id, committing


async def deliveries(
    raiser: AlertRaiser, arrivals: Arrivals, count: int
) -> tuple[list[float], int]:
    """Raise ``count`` alerts one by one; every delivery's latency (ms) and the lost ones."""
    latencies: list[float] = []
    lost = 0
    for _ in range(count):
        alert_id, committing = await raiser.raise_one()
        # Not delivered in time: counted as lost below.
        with suppress(TimeoutError):
            await asyncio.wait_for(arrivals.expect(alert_id).wait(), DELIVERY_TIMEOUT)
        moments = arrivals.at.pop(alert_id)
        lost += arrivals.subscribers - len(moments)
        latencies.extend((moment - committing) * 1000 for moment in moments)
    return latencies, lost


async def until_everyone_listens(raiser: AlertRaiser, arrivals: Arrivals) -> None:
    """Raise warm-up alerts until one reaches every subscriber: all watches are live."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        alert_id, _ = await raiser.raise_one()
        try:
            await asyncio.wait_for(arrivals.expect(alert_id).wait(), 2)
            arrivals.at.pop(alert_id)
            # Late duplicates of earlier warm-up alerts are dropped with them.
            arrivals.at.clear()
            return
        except TimeoutError:
            continue
    raise SystemExit("the subscribers did not all receive an alert within 60 s")


async def hr_principal(deployment: Deployment, employee_id: str) -> Principal:
    directory = directory_pb2_grpc.DirectoryServiceStub(deployment.channels.channel("attendance"))
    with acting_as(Principal.system("benchmark")):
        resolved = await directory.ResolvePrincipal(
            directory_pb2.ResolvePrincipalRequest(employee_id=employee_id)
        )
    return Principal.from_proto(resolved.principal)


async def watch_directly(deployment: Deployment, reader: Principal, arrivals: Arrivals) -> None:
    """One HR WatchAlerts stream on attendance, noting each alert's arrival."""
    stub = common_pb2_grpc.AlertsServiceStub(deployment.channels.channel("attendance"))
    with acting_as(reader):
        stream = stub.WatchAlerts(common_pb2.WatchAlertsRequest())
    async for response in stream:
        for alert in response.alerts:
            arrivals.arrived(alert.id)


async def subscribe_through_gateway(socket: GraphQLWebSocket, arrivals: Arrivals) -> None:
    """One HR alertRaised subscription, noting each alert's arrival."""
    await socket.subscribe(ALERT_RAISED)
    while True:
        message = await socket.receive(3600)
        payload: dict[str, Any] = message.get("payload") or {}
        if message["type"] != "next" or "errors" in payload:
            raise SystemExit(f"the subscription ended: {message}")
        # The API answers the global ID; the database row has the service's.
        arrivals.arrived(service_id(payload["data"]["alertRaised"]["id"]))


async def measure(
    raiser: AlertRaiser,
    subscribers: int,
    alerts: int,
    start: Callable[[int, Arrivals, AsyncExitStack], Awaitable[asyncio.Task[None]]],
) -> tuple[list[float], int]:
    arrivals = Arrivals(subscribers)
    async with AsyncExitStack() as stack:
        tasks = [await start(index, arrivals, stack) for index in range(subscribers)]
        try:
            await until_everyone_listens(raiser, arrivals)
            return await deliveries(raiser, arrivals, alerts)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


async def listen_baseline(url: str, rounds: int) -> list[float]:
    """pg_notify committed on one connection, received by LISTEN on another (ms)."""
    dsn = make_url(url).set(drivername="postgresql").render_as_string(False)
    listener, notifier = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
    received: dict[str, asyncio.Future[float]] = {}

    def on_notification(_connection: Any, _pid: int, _channel: str, payload: object) -> None:
        future = received.get(str(payload))
        if future is not None and not future.done():
            future.set_result(time.perf_counter())

    try:
        await listener.add_listener("bench_baseline", on_notification)
        samples = []
        for number in range(rounds + 20):
            arrival = received[str(number)] = asyncio.get_running_loop().create_future()
            transaction = notifier.transaction()
            await transaction.start()
            await notifier.execute("SELECT pg_notify('bench_baseline', $1)", str(number))
            committing = time.perf_counter()
            await transaction.commit()
            arrived = await asyncio.wait_for(arrival, DELIVERY_TIMEOUT)
            if number >= 20:  # warm-up
                samples.append((arrived - committing) * 1000)
        return samples
    finally:
        await listener.close()
        await notifier.close()


def report(name: str, samples: Sequence[float], lost: int) -> str:
    within = sum(1 for sample in samples if sample <= TARGET_SECONDS * 1000)
    line = summary(name, list(samples)) if samples else f"  {name:<40}(nothing arrived)"
    total = len(samples) + lost
    return (
        f"{line}{percentile(list(samples), 1.0) if samples else 0:>9.1f}"
        f"   {within}/{total} within {TARGET_SECONDS:.0f} s"
    )


async def run(alerts: int, subscribers: int) -> None:
    hr_ids = [f"bench-hr-{index}" for index in range(subscribers)]
    async with deployment() as deployed:
        await seed_directory(
            deployed.channels,
            BRANCH,
            [
                *(Person(hr, directory_pb2.ROLE_HR) for hr in hr_ids),
                Person(REP, directory_pb2.ROLE_SALES_JUNIOR, "bench-team"),
            ],
            teams=["bench-team"],
        )
        readers = [await hr_principal(deployed, hr) for hr in hr_ids]
        db = deployed.database("attendance")
        raiser = AlertRaiser(db)

        async def direct(
            index: int, arrivals: Arrivals, _stack: AsyncExitStack
        ) -> asyncio.Task[None]:
            return asyncio.create_task(watch_directly(deployed, readers[index], arrivals))

        async def gateway(
            index: int, arrivals: Arrivals, stack: AsyncExitStack
        ) -> asyncio.Task[None]:
            socket = await stack.enter_async_context(
                GraphQLWebSocket.open(deployed.ws_url, deployed.token(hr_ids[index]))
            )
            return asyncio.create_task(subscribe_through_gateway(socket, arrivals))

        baseline = await listen_baseline(deployed.database_urls["attendance"], alerts)
        print(
            f"\nalert delivery, commit → subscriber, {alerts} alerts raised one by one"
            f" (attendance, MOCK_LOCATION), HR subscribers"
        )
        print(f"{HEADER}{'max ms':>9}")
        print(report("baseline: pg_notify → LISTEN", baseline, 0))
        for count in sorted({1, subscribers}):
            for name, start in (
                ("WatchAlerts, gRPC", direct),
                ("alertRaised, gateway ws", gateway),
            ):
                latencies, lost = await measure(raiser, count, alerts, start)
                print(report(f"{name}, {count} subscriber(s)", latencies, lost))
        await db.dispose()


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--alerts", type=int, default=300)
    parser.add_argument("--subscribers", type=int, default=50)
    args = parser.parse_args()
    asyncio.run(run(args.alerts, args.subscribers))


if __name__ == "__main__":
    main()
