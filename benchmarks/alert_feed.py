"""Live alerts: from an alert's commit to its arrival at HR, by WatchAlerts and by alertRaised.

Full profile as deployed (benchmarks/deployment.py): PostgreSQL, an OPA server,
attendance, customers, orders and the gateway each in its own process. The
benchmark raises alerts one by one in the attendance database, as a detector does
(``raise_alert`` in a transaction of its own), and waits until every subscriber has
it before raising the next. Measured from the moment COMMIT is sent to the moment
the subscriber holds the alert:

- direct: HR's ``WatchAlerts`` gRPC streams on attendance;
- gateway: HR's ``alertRaised`` subscriptions over graphql-transport-ws (each one
  watching every alert source, as a browser's does), selecting the alert's
  ``employee { id }`` ("gateway") and selecting no link ("no link"), each reported
  against the target;

each with 1 and with ``--subscribers`` concurrent subscribers (each HR employee
of their own, each gateway subscriber on a websocket of its own; the subscriptions
start at once once every websocket is open, so each service decides a thousand first
``alerts.read`` at once, and a watch refused meanwhile is resumed by the gateway,
unseen). The baseline is
PostgreSQL itself: a ``pg_notify`` committed on one connection and received by a
``LISTEN`` on another, in this process, on the same database. The target (issue 16):
with 1,000 subscribers through the gateway, p99 within 1 second and every alert
delivered to every subscriber.

A thousand websockets from one process: each is a file descriptor here and in the
gateway (the soft limit is raised to the hard one), and they are opened
``--open-at-once`` at a time, so the gateway's accept queue and the directory's
first ``ResolvePrincipal`` of each subscriber are not hit by a thousand at once. Once
every websocket is open, all subscribe at the same moment (a console's reconnect after a
gateway restart): the thundering start of every watch and its first policy decision.

    uv run python -m benchmarks.alert_feed [--alerts 50] [--subscribers 1000]
"""

from __future__ import annotations

import asyncio
import resource
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, suppress
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import select
from sqlalchemy.engine import make_url

from benchmarks.deployment import Deployment, Person, deployment, seed_directory
from benchmarks.support import (
    HEADER,
    arguments,
    percentile,
    process_cpu,
    report_target,
    summary,
)
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
# A warm-up alert is raised this often until one reaches every subscriber.
WARM_UP_SECONDS = 2.0
TARGET_SUBSCRIBERS = 1000
# The same alerts without the employee link (ALERT_RAISED selects employee { id }, read
# once per alert for subscribers alike but for their IDs: all the HR subscribers here).
ALERT_RAISED_WITHOUT_LINKS = """
subscription { alertRaised { id kind source title message status history { status } } }
"""


class Arrivals:
    """When each subscriber received each alert; wakes whoever waits for an alert to be
    delivered to every subscriber."""

    def __init__(self, subscribers: int) -> None:
        self.subscribers = subscribers
        # Messages in error (counted as not delivered), by their errors.
        self.failures: Counter[str] = Counter()
        self.at: dict[str, list[float]] = {}
        self._waiting: dict[str, asyncio.Event] = {}
        # Set once every subscriber's websocket is open: they all subscribe at that moment.
        self.go = asyncio.Event()

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
            await asyncio.wait_for(arrivals.expect(alert_id).wait(), WARM_UP_SECONDS)
            arrivals.at.pop(alert_id)
            # Late duplicates of earlier warm-up alerts are dropped with them.
            arrivals.at.clear()
            return
        except TimeoutError:
            continue
    arrivals.at.clear()
    print("    (not every subscriber received a warm-up alert within 60 s; measuring anyway)")


async def hr_principal(deployment: Deployment, employee_id: str) -> Principal:
    directory = directory_pb2_grpc.DirectoryServiceStub(deployment.channels.channel("attendance"))
    with acting_as(Principal.system("benchmark")):
        resolved = await directory.ResolvePrincipal(
            directory_pb2.ResolvePrincipalRequest(employee_id=employee_id)
        )
    return Principal.from_proto(resolved.principal)


async def watch_directly(
    deployment: Deployment, reader: Principal, arrivals: Arrivals
) -> asyncio.Task[None]:
    """One HR WatchAlerts stream on attendance, noting each alert's arrival; returned once
    the service watches (its initial metadata), so streams open ``--open-at-once`` at a
    time like the websockets."""
    stub = common_pb2_grpc.AlertsServiceStub(deployment.channels.channel("attendance"))
    with acting_as(reader):
        stream = stub.WatchAlerts(common_pb2.WatchAlertsRequest())
    await stream.initial_metadata()

    async def note_arrivals() -> None:
        async for response in stream:
            for alert in response.alerts:
                arrivals.arrived(alert.id)

    return asyncio.create_task(note_arrivals())


async def subscribe_through_gateway(
    socket: GraphQLWebSocket, arrivals: Arrivals, query: str
) -> None:
    """One HR alertRaised subscription, noting each alert's arrival; subscribed when every
    websocket is open, all at once (a console's reconnect after a gateway restart), so each
    service decides a thousand first ``alerts.read`` at once."""
    await arrivals.go.wait()
    await socket.subscribe(query)
    while True:
        message = await socket.receive(3600)
        payload: dict[str, Any] = message.get("payload") or {}
        alert = (payload.get("data") or {}).get("alertRaised")
        if message["type"] != "next" or alert is None:
            arrivals.failures[str(payload.get("errors") or message)[:300]] += 1
            return  # the subscription ended: what it would have received counts as lost
        if "errors" in payload:
            # Delivered, but with a field in error (a link the services failed to resolve).
            arrivals.failures[str(payload["errors"])[:300]] += 1
            continue
        # The API answers the global ID; the database row has the service's.
        arrivals.arrived(service_id(alert["id"]))


async def measure(
    raiser: AlertRaiser,
    subscribers: int,
    alerts: int,
    start: Callable[[int, Arrivals, AsyncExitStack], Awaitable[asyncio.Task[None]]],
    open_at_once: int,
) -> tuple[list[float], int]:
    arrivals = Arrivals(subscribers)
    async with AsyncExitStack() as stack:
        tasks: list[asyncio.Task[None]] = []
        for first in range(0, subscribers, open_at_once):
            batch = range(first, min(subscribers, first + open_at_once))
            tasks += await asyncio.gather(*(start(index, arrivals, stack) for index in batch))
        try:
            subscribing = time.perf_counter()
            arrivals.go.set()
            await until_everyone_listens(raiser, arrivals)
            print(f"    every subscriber listening {time.perf_counter() - subscribing:.1f} s after")
            before = process_cpu()
            latencies, lost = await deliveries(raiser, arrivals, alerts)
            after = process_cpu()
            print(
                "    CPU ms per alert: "
                + ", ".join(
                    f"{name} {(after[name] - before.get(name, 0.0)) * 1000 / alerts:.1f}"
                    for name in sorted(after)
                )
            )
            return latencies, lost
        finally:
            for failure, times in arrivals.failures.most_common(3):
                print(f"    {times} message(s) in error: {failure}")
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


def report_targets(
    selection: str,
    samples: Sequence[float],
    lost: int,
    direct: Sequence[float],
    baseline: Sequence[float],
) -> None:
    """The issue's targets: p99 within 1 s and nothing lost, next to the direct
    WatchAlerts and the pg_notify baseline of the same run."""
    p99 = percentile(list(samples), 0.99) if samples else float("inf")
    direct_p99 = percentile(list(direct), 0.99) if direct else float("nan")
    baseline_p99 = percentile(list(baseline), 0.99)
    context = (
        f"direct WatchAlerts p99 {direct_p99:.1f} ms: {p99 / direct_p99:.1f}x;"
        f" pg_notify p99 {baseline_p99:.2f} ms"
    )
    report_target(
        f"alertRaised p99, 1,000 subscribers{selection}",
        p99,
        limit=TARGET_SECONDS * 1000,
        unit="ms",
        detail=context,
    )
    report_target(
        f"alertRaised alerts not delivered{selection}",
        lost,
        limit=0,
        unit="alerts",
        detail=f"delivered {len(samples)}/{len(samples) + lost}",
    )


def raise_file_limit() -> int:
    """The soft limit on open files raised to the hard one: every websocket is one here."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


async def run(
    alerts: int,
    subscribers: int,
    open_at_once: int,
    paths: set[str],
    profile_gateway: Path | None = None,
) -> None:
    files = raise_file_limit()
    if files < 2 * subscribers + 200:
        raise SystemExit(f"{subscribers} websockets need more than the {files} open files allowed")
    hr_ids = [f"bench-hr-{index}" for index in range(subscribers)]
    async with deployment(profile_gateway=profile_gateway) as deployed:
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
            return await watch_directly(deployed, readers[index], arrivals)

        def gateway(
            query: str,
        ) -> Callable[[int, Arrivals, AsyncExitStack], Awaitable[asyncio.Task[None]]]:
            async def start(
                index: int, arrivals: Arrivals, stack: AsyncExitStack
            ) -> asyncio.Task[None]:
                socket = await stack.enter_async_context(
                    GraphQLWebSocket.open(deployed.ws_url, deployed.token(hr_ids[index]))
                )
                return asyncio.create_task(subscribe_through_gateway(socket, arrivals, query))

            return start

        baseline = await listen_baseline(deployed.database_urls["attendance"], alerts)
        print(
            f"\nalert delivery, commit → subscriber, {alerts} alerts raised one by one"
            f" (attendance, MOCK_LOCATION), HR subscribers (each its own employee; through"
            f" the gateway each its own websocket, opened {open_at_once} at a time, then all"
            f" subscribing at once;"
            f" open files {files})"
        )
        print(f"{HEADER}{'max ms':>9}")
        print(report("baseline: pg_notify → LISTEN", baseline, 0))
        measured: dict[tuple[str, int], tuple[list[float], int]] = {}
        for count in sorted({1, subscribers}):
            for name, start in (
                ("WatchAlerts, gRPC", direct),
                ("alertRaised, gateway", gateway(ALERT_RAISED)),
                ("alertRaised, no link", gateway(ALERT_RAISED_WITHOUT_LINKS)),
            ):
                if name not in paths:
                    continue
                latencies, lost = await measure(raiser, count, alerts, start, open_at_once)
                measured[name, count] = latencies, lost
                print(report(f"{name}, {count} sub.", latencies, lost))
        await db.dispose()
    if subscribers != TARGET_SUBSCRIBERS:
        print(
            f"(the target is set at {TARGET_SUBSCRIBERS} subscribers; this run had {subscribers})"
        )
    direct_run = measured.get(("WatchAlerts, gRPC", subscribers), ([], 0))
    for name, selection in (
        ("alertRaised, gateway", " (employee { id } selected)"),
        ("alertRaised, no link", " (no link)"),
    ):
        if (name, subscribers) in measured:
            report_targets(selection, *measured[name, subscribers], direct_run[0], baseline)


def main() -> None:
    parser = arguments(__doc__, alerts=50, subscribers=TARGET_SUBSCRIBERS)
    parser.add_argument(
        "--open-at-once", type=int, default=50, help="subscribers connecting concurrently"
    )
    parser.add_argument(
        "--paths",
        default="direct,gateway,no-link",
        help="which to measure: direct (WatchAlerts), gateway (alertRaised), no-link",
    )
    parser.add_argument(
        "--profile-gateway",
        type=Path,
        default=None,
        help="run the gateway under cProfile, writing its stats to this file",
    )
    args = parser.parse_args()
    names = {"direct": "WatchAlerts, gRPC", "gateway": "alertRaised, gateway"}
    names["no-link"] = "alertRaised, no link"
    paths = {names[path] for path in args.paths.split(",")}
    asyncio.run(run(args.alerts, args.subscribers, args.open_at_once, paths, args.profile_gateway))


if __name__ == "__main__":
    main()
