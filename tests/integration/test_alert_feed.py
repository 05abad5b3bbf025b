"""The live alert feed on PostgreSQL: NOTIFY from a trigger, on commit, to one listener per process.

The subscription story runs through the gateway over a real websocket; the
feed's own guarantees (every insertion path, only what commits, a listener that
comes back after its connection drops, a bounded backlog) are checked on the
services' WatchAlerts stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import insert, text

from salesguard.alertfeed import Watcher
from salesguard.alerts import AlertsServicer
from salesguard.alerts.servicer import RESUME_SINCE, WatchedRow
from salesguard.db import new_id
from salesguard.errors import ErrorCode, ResourceExhausted, ServiceError
from salesguard.grpc_client import ServiceChannels
from salesguard.principal import Principal, acting_as
from salesguard_api.common.v1 import common_pb2, common_pb2_grpc
from salesguard_attendance.models import Alert as AttendanceAlert
from salesguard_orders.models import Alert as OrdersAlert
from tests.harness import Suite
from tests.org import make_org
from tests.support.subscriptions import mock_location_alert_reaches_its_subscribers


async def test_a_check_in_alert_reaches_hr_and_the_branch_manager_only(suite: Suite) -> None:
    await mock_location_alert_reaches_its_subscribers(suite, await make_org(suite))


def alert_values(branch_id: str, **overrides: Any) -> dict[str, Any]:
    alert_id = new_id()
    return {
        "id": alert_id,
        "kind": "FAKE_DEAL_SUSPECTED",
        "rule": "O5",
        "severity": "HIGH",
        "status": "OPEN",
        "branch_id": branch_id,
        "detected_at": datetime.now(UTC),
        "evidence": {},
        "dedupe_key": f"test:{alert_id}",
        **overrides,
    }


@dataclass
class Watch:
    received: asyncio.Queue[common_pb2.Alert]
    # Ends only with the stream's error (the test cancels it otherwise).
    reader: asyncio.Task[None]


@asynccontextmanager
async def watching(
    suite: Suite,
    service: str,
    principal: Principal,
    metadata: tuple[tuple[str, str], ...] = (),
) -> AsyncIterator[Watch]:
    """A WatchAlerts stream on one service as ``principal`` (with ``metadata``, e.g. a
    resume point); its alerts arrive in the queue."""
    running = suite.running[service]
    feed = running.runtime.alert_feed
    before = feed.watcher_count
    channels = ServiceChannels({service: running.address}, running.runtime.internal_secret, 10)
    stub = common_pb2_grpc.AlertsServiceStub(channels.channel(service))
    received: asyncio.Queue[common_pb2.Alert] = asyncio.Queue()

    async def read() -> None:
        with acting_as(principal):
            watch = stub.WatchAlerts(common_pb2.WatchAlertsRequest(), metadata=metadata)
            async for response in watch:
                for alert in response.alerts:
                    received.put_nowait(alert)

    reader = asyncio.create_task(read())
    try:
        deadline = time.monotonic() + 10
        while feed.watcher_count == before:
            assert not reader.done(), reader.result()
            assert time.monotonic() < deadline, "the watch did not start"
            await asyncio.sleep(0.02)
        yield Watch(received, reader)
    finally:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
        await channels.close()


async def test_every_insert_is_fed_and_only_once_committed(suite: Suite) -> None:
    org = await make_org(suite)
    manager = Principal(org.manager, ("MANAGER",), None, org.branch)
    orders_db = suite.running["orders"].runtime.db
    rolled_back = alert_values(org.branch)
    ours = [alert_values(org.branch), alert_values(org.branch)]
    elsewhere = alert_values(org.other_branch)
    async with watching(suite, "orders", manager) as watch:
        received = watch.received

        async def insert_then_roll_back() -> None:
            async with orders_db.transaction() as session:
                await session.execute(insert(OrdersAlert).values(rolled_back))
                raise RuntimeError("roll back")

        # Written, then rolled back: never announced.
        with pytest.raises(RuntimeError):
            await insert_then_roll_back()
        # One statement, several rows (like reconciliation's INSERT … SELECT), not through
        # raise_alert: the trigger sees every row, and the watch only those in scope.
        async with orders_db.transaction() as session:
            await session.execute(insert(OrdersAlert).values([*ours, elsewhere]))
        got = [await asyncio.wait_for(received.get(), 5) for _ in ours]
        assert sorted(alert.id for alert in got) == sorted(alert["id"] for alert in ours)
        assert {alert.source for alert in got} == {"orders"}
        await asyncio.sleep(0.5)
        assert received.empty()  # neither the rolled-back one nor the other branch's


async def listener_pids(suite: Suite, service: str) -> set[int]:
    """The connections listening for the service's alert feed (named by the feed)."""
    runtime = suite.running[service].runtime
    async with runtime.db.read() as session:
        rows = await session.execute(
            text(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND application_name = :name AND pid <> pg_backend_pid()"
            ),
            {"name": runtime.alert_feed.listener_name},
        )
        return {int(pid) for (pid,) in rows}


async def test_a_dropped_listener_ends_the_watches_and_listens_again(suite: Suite) -> None:
    org = await make_org(suite)
    hr = Principal(org.hr, ("HR",), None, org.hq, hq=True)
    attendance = suite.running["attendance"].runtime
    async with watching(suite, "attendance", hr) as interrupted:
        # One listening connection per process, however many watch.
        (listener,) = await listener_pids(suite, "attendance")
        async with attendance.db.read() as session:
            await session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": listener})
        # Alerts committed until the feed listens again are never notified: rather than a
        # silent gap, the watch ends, typed, and the subscriber watches again.
        with pytest.raises(ServiceError) as ended:
            await asyncio.wait_for(interrupted.reader, 10)
        assert ended.value.code is ErrorCode.UNAVAILABLE
    async with watching(suite, "attendance", hr) as watch:
        (relistening,) = await listener_pids(suite, "attendance")
        assert relistening != listener
        values = alert_values(org.branch, kind="MOCK_LOCATION", rule="A3", employee_id=org.junior)
        async with attendance.db.transaction() as session:
            await session.execute(insert(AttendanceAlert).values(values))
        alert = await asyncio.wait_for(watch.received.get(), 5)
        assert alert.id == values["id"]


async def test_a_watcher_that_falls_behind_is_ended_not_buffered() -> None:
    watcher = Watcher(backlog=3)
    for number in range(3):
        watcher.offer(f"a{number}")
    assert await watcher.next_batch(limit=2) == ["a0", "a1"]
    for number in range(3, 7):  # one more than the backlog holds
        watcher.offer(f"a{number}")
    with pytest.raises(ResourceExhausted) as ended:
        await watcher.next_batch()
    assert ended.value.code is ErrorCode.RESOURCE_EXHAUSTED


async def test_watches_with_one_filter_share_one_lookup_and_keep_to_their_scopes(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HR, a branch manager and another branch's manager watch with the same filter: each
    new alert is looked up once for all of them, and each gets only what its own grants
    cover (never an alert about themselves, never another branch's)."""
    lookups: list[list[str]] = []
    original = AlertsServicer._lookup

    async def counted(
        self: AlertsServicer, conditions: list[Any], ids: list[str]
    ) -> list[tuple[WatchedRow, common_pb2.Alert]]:
        lookups.append(list(ids))
        return await original(self, conditions, ids)

    monkeypatch.setattr(AlertsServicer, "_lookup", counted)
    org = await make_org(suite)
    hr = Principal(org.hr, ("HR",), None, org.hq, hq=True)
    manager = Principal(org.manager, ("MANAGER",), None, org.branch)
    other = Principal(org.other_manager, ("MANAGER",), None, org.other_branch)
    orders_db = suite.running["orders"].runtime.db
    async with (
        watching(suite, "orders", hr) as first_hr,
        watching(suite, "orders", hr) as second_hr,
        watching(suite, "orders", manager) as branch_manager,
        watching(suite, "orders", other) as other_manager,
    ):
        cases = [
            # (the alert, the watches that get it)
            (alert_values(org.branch), (first_hr, second_hr, branch_manager)),
            (alert_values(org.other_branch), (first_hr, second_hr, other_manager)),
            # About the branch's manager: HR's, not their own nor another branch's.
            (alert_values(org.branch, employee_id=org.manager), (first_hr, second_hr)),
        ]
        everyone = (first_hr, second_hr, branch_manager, other_manager)
        for values, getting in cases:
            async with orders_db.transaction() as session:
                await session.execute(insert(OrdersAlert).values(values))
            for watch in getting:
                alert = await asyncio.wait_for(watch.received.get(), 5)
                assert alert.id == values["id"]
            await asyncio.sleep(0.3)
            assert all(watch.received.empty() for watch in everyone), values
        # One lookup per new alert, shared by the four watches and their three scopes.
        assert lookups == [[values["id"]] for values, _ in cases]


async def received_within(received: asyncio.Queue[common_pb2.Alert], seconds: float) -> list[str]:
    """The IDs of the alerts that arrive within ``seconds``."""
    ids: list[str] = []
    deadline = time.monotonic() + seconds
    with contextlib.suppress(TimeoutError):
        while True:
            ids.append((await asyncio.wait_for(received.get(), deadline - time.monotonic())).id)
    return ids


async def test_a_resumed_watch_replays_only_what_its_caller_may_see(suite: Suite) -> None:
    """A resume point asks the feed for the alerts of the last minute: each is decided for
    the resuming caller like any, so each branch's manager replays their branch's alert
    and never the other's."""
    org = await make_org(suite)
    hr = Principal("hr-resume", ("HR",))
    ours, elsewhere = alert_values(org.branch), alert_values(org.other_branch)
    resume = ((RESUME_SINCE, repr(time.time() - 30)),)
    # Watches stay open one inside the other, so the count each waits on only grows.
    async with watching(suite, "orders", hr) as watch:
        async with suite.running["orders"].runtime.db.transaction() as session:
            await session.execute(insert(OrdersAlert).values([ours, elsewhere]))
        assert set(await received_within(watch.received, 3)) == {ours["id"], elsewhere["id"]}
        manager = Principal(org.manager, ("MANAGER",), None, org.branch)
        other = Principal(org.other_manager, ("MANAGER",), None, org.other_branch)
        async with (
            watching(suite, "orders", manager, resume) as managers,
            watching(suite, "orders", other, resume) as others,
        ):
            assert await received_within(managers.received, 2) == [ours["id"]]
            assert await received_within(others.received, 1) == [elsewhere["id"]]


async def watch_until_it_ends(stub: Any, metadata: tuple[tuple[str, str], ...]) -> None:
    """Watch until the stream ends (grpc.aio's stub: its calls iterate asynchronously)."""
    async for _ in stub.WatchAlerts(common_pb2.WatchAlertsRequest(), metadata=metadata):
        pass


@pytest.mark.parametrize("since", ["nan", "inf", "yesterday", ""])
async def test_a_malformed_resume_point_is_refused_as_invalid(suite: Suite, since: str) -> None:
    org = await make_org(suite)
    running = suite.running["orders"]
    channels = ServiceChannels({"orders": running.address}, running.runtime.internal_secret, 10)
    stub = common_pb2_grpc.AlertsServiceStub(channels.channel("orders"))
    try:
        with (
            acting_as(Principal(org.manager, ("MANAGER",), None, org.branch)),
            pytest.raises(ServiceError) as refused,
        ):
            await watch_until_it_ends(stub, ((RESUME_SINCE, since),))
        assert refused.value.code is ErrorCode.VALIDATION
        assert refused.value.field == RESUME_SINCE
    finally:
        await channels.close()
