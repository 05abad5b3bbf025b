"""alertRaised through a transient failure of a source: the gateway watches that source again
and the subscriber gets every alert once, with no error in between. Real PostgreSQL, OPA
and gRPC services; the gateway under uvicorn, a real websocket.

- OPA down when the subscription starts (every source refuses its watch,
  POLICY_UNAVAILABLE): once it is back, the alert raised meanwhile and the later ones
  arrive, each once, and only what the policy lets HR see.
- A service retiring its connections every second (max connection age), cutting the
  streams: every alert raised across the cuts arrives once.
- A resume the service cannot answer in full (its feed stopped listening meanwhile): the
  subscription ends with a typed error naming the source, never a silent gap.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import insert, text

from salesguard.db import new_id
from salesguard_attendance.models import Alert as AttendanceAlert
from tests.harness import DECISION_CACHE_SECONDS, POLICIES, Backends, Suite, service_id
from tests.org import Org, make_org
from tests.support.s3server import S3Server
from tests.support.servers import OpaServer, PostgresDatabases
from tests.support.subscriptions import (
    ALERT_RAISED,
    SOURCES,
    GraphQLWebSocket,
    serve_gateway,
    until_watching,
    watcher_count,
)

RETRIES_LOG = "salesguard_gateway.schema.alerts_subscription"


async def raise_alert(suite: Suite, org: Org, employee: str | None = None) -> str:
    """A MOCK_LOCATION alert about ``employee`` (the junior by default), committed in
    attendance as a detector commits it; its ID."""
    alert_id = new_id()
    values = {
        "id": alert_id,
        "kind": "MOCK_LOCATION",
        "rule": "A3",
        "severity": "HIGH",
        "status": "OPEN",
        "employee_id": employee or org.junior,
        "branch_id": org.branch,
        "detected_at": datetime.now(UTC),
        "evidence": {},
        "dedupe_key": f"test:{alert_id}",
    }
    async with suite.running["attendance"].runtime.db.transaction() as session:
        await session.execute(insert(AttendanceAlert).values(values))
    return alert_id


async def received_until(socket: GraphQLWebSocket, wanted: set[str], within: float) -> Counter[str]:
    """Every alert the subscription sends until all of ``wanted`` arrived, then for half a
    second more (a duplicate would come then): how many times each arrived. Any message
    other than an alert fails the test."""
    arrived: Counter[str] = Counter()
    deadline = time.monotonic() + within
    while not wanted <= set(arrived):
        message = await socket.receive(deadline - time.monotonic())
        assert message["type"] == "next" and "errors" not in message["payload"], message
        arrived[service_id(message["payload"]["data"]["alertRaised"]["id"])] += 1
    try:
        while True:
            message = await socket.receive(0.5)
            assert message["type"] == "next" and "errors" not in message["payload"], message
            arrived[service_id(message["payload"]["data"]["alertRaised"]["id"])] += 1
    except TimeoutError:
        return arrived


@asynccontextmanager
async def own_opa_suite(
    postgres: PostgresDatabases, s3_server: S3Server, data_dir: Path
) -> AsyncIterator[tuple[Suite, OpaServer]]:
    """A suite with an OPA server of its own, which the test stops and starts."""
    with OpaServer(POLICIES) as opa:
        backends = await Backends.fresh(postgres, opa, s3_server, bucket="salesguard-resume")
        suite = await Suite.start(backends, data_dir)
        try:
            yield suite, opa
        finally:
            await suite.stop()


async def test_opa_down_at_the_start_delays_the_subscription_and_loses_nothing(
    postgres: PostgresDatabases,
    s3_server: S3Server,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=RETRIES_LOG)
    async with own_opa_suite(postgres, s3_server, tmp_path) as (suite, opa):
        org = await make_org(suite)
        base = watcher_count(suite)
        async with (
            serve_gateway(suite) as url,
            GraphQLWebSocket.open(url, suite.token(org.hr)) as hr,
            GraphQLWebSocket.open(url, suite.token(org.manager)) as manager,
        ):
            # A first subscription each, while OPA is up: the gateway confirms who they
            # are with the directory (kept while its watch of the directory is live, as
            # for a burst of subscribers whose principals the directory just resolved).
            first = [await hr.subscribe(ALERT_RAISED), await manager.subscribe(ALERT_RAISED)]
            await until_watching(suite, base + 2 * SOURCES)
            await hr.complete(first[0])
            await manager.complete(first[1])
            await until_watching(suite, base)
            opa.stop()
            await asyncio.sleep(DECISION_CACHE_SECONDS + 0.2)  # no kept decision left
            caplog.clear()
            await hr.subscribe(ALERT_RAISED)
            await manager.subscribe(ALERT_RAISED)
            await asyncio.sleep(1.0)  # every source has refused the watches at least once
            assert watcher_count(suite) == base
            refused = [r for r in caplog.records if "POLICY_UNAVAILABLE" in r.getMessage()]
            assert len({r.getMessage().split()[4] for r in refused}) == SOURCES, refused
            # Raised while nobody can watch: the subscription is owed it all the same.
            during = await raise_alert(suite, org)
            # About the branch's manager: HR's to see, never the manager's own.
            about_manager = await raise_alert(suite, org, org.manager)
            await hr.nothing_within(0.5)  # no error message for a transient failure
            opa.start()
            await until_watching(suite, base + 2 * SOURCES, within=15)
            after = await raise_alert(suite, org)
            to_hr = await received_until(hr, {during, about_manager, after}, within=10)
            to_manager = await received_until(manager, {during, after}, within=10)
    assert to_hr == Counter({during: 1, about_manager: 1, after: 1})
    assert to_manager == Counter({during: 1, after: 1})


async def test_streams_cut_by_connection_retirement_lose_and_repeat_nothing(
    postgres: PostgresDatabases,
    opa_server: OpaServer,
    s3_server: S3Server,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Attendance retires every connection after about a second (a deployment's max
    connection age, shortened): its streams are cut again and again while alerts are
    raised every 0.1 s, and each resumes from just before its cut."""
    caplog.set_level(logging.INFO, logger=RETRIES_LOG)
    backends = await Backends.fresh(postgres, opa_server, s3_server, bucket="salesguard-cuts")
    suite = await Suite.start(
        backends,
        tmp_path,
        service_overrides={
            "attendance": {
                "grpc_max_connection_age_seconds": 1.0,
                "grpc_max_connection_age_grace_seconds": 0.2,
            }
        },
    )
    try:
        org = await make_org(suite)
        async with (
            serve_gateway(suite) as url,
            GraphQLWebSocket.open(url, suite.token(org.hr)) as hr,
        ):
            await hr.subscribe(ALERT_RAISED)
            await until_watching(suite, SOURCES)
            raised = []
            for _ in range(50):
                raised.append(await raise_alert(suite, org))
                await asyncio.sleep(0.1)
            arrived = await received_until(hr, set(raised), within=15)
    finally:
        await suite.stop()
    assert arrived == Counter(dict.fromkeys(raised, 1))
    cuts = [r for r in caplog.records if r.getMessage().startswith("the alert watch of attendance")]
    assert len(cuts) >= 2, "the streams were not cut"


async def test_a_resume_the_service_cannot_answer_in_full_ends_the_subscription_typed(
    suite: Suite,
) -> None:
    """The attendance feed's listening connection dropped: what was committed until it
    listened again was never notified, so the watch that ended cannot be resumed without
    a gap. The subscriber is told, naming the source, rather than left with a silent gap."""
    org = await make_org(suite)
    runtime = suite.running["attendance"].runtime
    base = watcher_count(suite)
    async with (
        serve_gateway(suite) as url,
        GraphQLWebSocket.open(url, suite.token(org.hr)) as hr,
    ):
        await hr.subscribe(ALERT_RAISED)
        await until_watching(suite, base + SOURCES)
        async with runtime.db.read() as session:
            await session.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = :name AND datname = current_database()"
                ),
                {"name": runtime.alert_feed.listener_name},
            )
        ended = await hr.receive(20)
        assert ended["type"] == "next" and ended["payload"].get("data") is None, ended
        (error,) = ended["payload"]["errors"]
        assert error["extensions"]["code"] == "RESOURCE_EXHAUSTED"
        assert error["extensions"]["source"] == "attendance"
        assert (await hr.receive(10))["type"] == "complete"
    await until_watching(suite, base)
