"""What operators watch, part one: probes that follow the dependencies and Prometheus
metrics of the gateway and of a service.

The readiness tests start a service of their own (attendance) on a dedicated OPA server
and a dedicated PostgreSQL database, so they can take those away (stop that OPA; refuse
connections to that database) without touching what other tests share.
"""

from __future__ import annotations

import asyncio
import time
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import asyncpg
import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import make_url

from salesguard.errors import ErrorCode, ServiceError
from salesguard.grpc_client import ServiceChannels
from salesguard.grpc_server import LIVENESS
from salesguard.jobs import run_job
from salesguard.principal import Principal, acting_as
from salesguard.service import RunningService
from salesguard_api.attendance.v1 import directory_pb2, directory_pb2_grpc
from salesguard_attendance.server import service as attendance_app
from salesguard_customers.jobs import CONTACT_READS_RETENTION
from salesguard_gateway.app import create_app
from salesguard_gateway.observability import OperationNames
from salesguard_gateway.settings import GatewaySettings
from tests.conftest import SPANS
from tests.harness import JWT_SECRET, POLICIES, Suite, global_id
from tests.integration.observability.support import DIRECTORY_SERVICE, Status
from tests.org import Org, register
from tests.support.servers import OpaServer, PostgresDatabases, free_port

CHECK_SECONDS = 0.2
FLIP_TIMEOUT = 15.0


# --- a service on dependencies of its own ----------------------------------------------


@dataclass
class Dependent:
    """Attendance on its own OPA server and database, a gateway in front of it for /readyz."""

    running: RunningService[Any]
    opa: OpaServer
    database: str  # the database's name
    admin_url: str  # the server, as its administrator
    gateway: httpx.AsyncClient
    channels: ServiceChannels

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.running.port}"

    @property
    def metrics_url(self) -> str:
        assert self.running.metrics is not None
        return f"http://127.0.0.1:{self.running.metrics.port}/metrics"

    async def health(self, service: str) -> int:
        async with grpc.aio.insecure_channel(self.address) as channel:
            reply = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=5
            )
        return int(reply.status)

    async def readyz(self) -> int:
        return (await self.gateway.get("/readyz")).status_code

    async def allow_connections(self, allowed: bool) -> None:
        """Let the service reach its database again, or refuse it (and drop its connections)."""
        connection = await asyncpg.connect(self.admin_url)
        try:
            flag = "true" if allowed else "false"
            await connection.execute(f'ALTER DATABASE "{self.database}" ALLOW_CONNECTIONS {flag}')
            if not allowed:
                await connection.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = $1 AND pid <> pg_backend_pid()",
                    self.database,
                )
        finally:
            await connection.close()


@pytest.fixture(scope="module")
async def dependent(
    postgres: PostgresDatabases, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Dependent]:
    database_url = await postgres.create("observed_attendance")
    data_dir = tmp_path_factory.mktemp("observed")
    with OpaServer(POLICIES) as opa:
        port = free_port()
        settings = attendance_app.load_settings(
            profile="full",
            database_url=database_url,
            opa_url=opa.url,
            policies_dir=POLICIES,
            data_dir=data_dir,
            jwt_secret=JWT_SECRET,
            subject_roles_cache_seconds=0,
            # Every request asks OPA, so the one made while it is down is refused.
            policy_decision_cache_seconds=0,
            readiness_check_seconds=CHECK_SECONDS,
            metrics_port=free_port(),
        )
        running = await attendance_app.start(settings, port=port)
        address = f"127.0.0.1:{port}"
        app = create_app(
            GatewaySettings(
                attendance_address=address,
                data_dir=data_dir,
                jwt_secret=JWT_SECRET,
                readiness_check_seconds=CHECK_SECONDS,
            )
        )
        channels = ServiceChannels({"attendance": address}, running.runtime.internal_secret, 5)
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(app.router.lifespan_context(app))
            client = await stack.enter_async_context(
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw")
            )
            dependent = Dependent(
                running=running,
                opa=opa,
                database=str(make_url(database_url).database),
                admin_url=postgres.server_url,
                gateway=client,
                channels=channels,
            )
            try:
                yield dependent
            finally:
                await dependent.allow_connections(True)
                await channels.close()
                await running.stop()


async def eventually(probe: Callable[[], Awaitable[object]], expected: object) -> None:
    """Wait until ``probe()`` answers ``expected``; fail with the last answer after a while."""
    deadline = time.monotonic() + FLIP_TIMEOUT
    while True:
        answer = await probe()
        if answer == expected:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"still {answer!r} after {FLIP_TIMEOUT} s, expected {expected!r}")
        await asyncio.sleep(CHECK_SECONDS / 2)


async def list_branches(dependent: Dependent) -> None:
    stub = directory_pb2_grpc.DirectoryServiceStub(dependent.channels.channel("attendance"))
    with acting_as(Principal.system("tests")):
        await stub.ListBranches(directory_pb2.ListBranchesRequest())


async def test_a_service_is_not_ready_while_its_policy_engine_is_down(
    dependent: Dependent,
) -> None:
    for name in ("", DIRECTORY_SERVICE, LIVENESS):
        assert await dependent.health(name) == Status.SERVING, name
    # The checks behind it leave no trace (one every few seconds would bury the requests').
    SPANS.clear()
    await asyncio.sleep(CHECK_SECONDS * 3)
    statements = [(s.attributes or {}).get("db.statement") for s in SPANS.get_finished_spans()]
    assert "SELECT 1" not in statements
    before = scrape(dependent.metrics_url)
    dependent.opa.stop()
    try:
        await eventually(lambda: dependent.health(""), Status.NOT_SERVING)
        assert await dependent.health(DIRECTORY_SERVICE) == Status.NOT_SERVING
        # Alive all the same: the kubelet must not restart it for what it cannot fix.
        assert await dependent.health(LIVENESS) == Status.SERVING
        with pytest.raises(ServiceError) as refused:
            await list_branches(dependent)
        assert refused.value.code is ErrorCode.POLICY_UNAVAILABLE
    finally:
        dependent.opa.start()
    await eventually(lambda: dependent.health(""), Status.SERVING)
    assert await dependent.health(DIRECTORY_SERVICE) == Status.SERVING
    await list_branches(dependent)
    after = scrape(dependent.metrics_url)
    unavailable = {"action": "directory.read", "result": "unavailable"}
    assert delta(before, after, "salesguard_policy_decisions_total", **unavailable) == 1
    allowed = {"action": "directory.read", "result": "allow"}
    assert delta(before, after, "salesguard_policy_decisions_total", **allowed) >= 1
    rpc = {"rpc_service": DIRECTORY_SERVICE, "rpc_method": "ListBranches"}
    assert (
        delta(
            before,
            after,
            "salesguard_rpc_requests_total",
            **rpc,
            rpc_grpc_status_code="UNAVAILABLE",
        )
        == 1
    )
    assert (
        delta(before, after, "salesguard_rpc_requests_total", **rpc, rpc_grpc_status_code="OK") == 1
    )
    assert delta(before, after, "salesguard_rpc_duration_seconds_count", **rpc) == 2


async def test_a_service_is_not_ready_while_its_database_is_unreachable(
    dependent: Dependent,
) -> None:
    assert await dependent.health("") == Status.SERVING
    assert await dependent.readyz() == 200
    await dependent.allow_connections(False)
    try:
        await eventually(lambda: dependent.health(""), Status.NOT_SERVING)
        assert await dependent.health(LIVENESS) == Status.SERVING
        # The directory cannot resolve anyone: the gateway leaves the load balancer too.
        await eventually(dependent.readyz, 503)
    finally:
        await dependent.allow_connections(True)
    await eventually(lambda: dependent.health(""), Status.SERVING)
    await eventually(dependent.readyz, 200)


# --- metrics ---------------------------------------------------------------------------

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(url: str) -> Samples:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (loopback)
        assert response.status == 200
        return parse(response.read().decode())


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(
        value for (sample, have), value in samples.items() if sample == name and wanted <= have
    )


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return total(after, name, **labels) - total(before, name, **labels)


async def gateway_metrics(suite: Suite) -> tuple[Samples, str]:
    response = await suite.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text), response.text


ME = "query Me { me { id } }"


async def test_gateway_metrics_count_operations_by_type_name_and_status(
    suite: Suite, org: Org
) -> None:
    before, _ = await gateway_metrics(suite)
    (await suite.gql(ME, as_=org.junior)).ok()
    (await suite.gql(ME, as_=org.junior)).ok()
    (await suite.gql("{ me { id } }", as_=org.junior)).ok()
    await register(suite, as_=org.junior)  # a named mutation (tests/org.py: anonymous)
    forbidden = await suite.gql(
        "query Ranking($b: ID!) { riskRanking(branchId: $b) { employee { id } } }",
        {"b": global_id("Branch", org.branch)},
        as_=org.junior,
    )
    assert "FORBIDDEN" in forbidden.codes
    unauthenticated = await suite.client.post("/graphql", json={"query": ME})
    assert unauthenticated.status_code == 401
    unknown = await suite.client.post(
        "/graphql",
        json={"query": ME, "operationName": "NoSuchOperation"},
        headers={"Authorization": f"Bearer {suite.token(org.junior)}"},
    )
    assert unknown.status_code == 400
    after, text = await gateway_metrics(suite)

    def grown(metric: str, **labels: str) -> float:
        """How much the gateway's ``salesguard_graphql_<metric>`` with ``labels`` grew."""
        return delta(before, after, f"salesguard_graphql_{metric}", **labels)

    def requests(**labels: str) -> float:
        return grown("requests_total", **labels)

    def errors(**labels: str) -> float:
        return grown("errors_total", **labels)

    query = {"graphql_operation_type": "query"}
    assert requests(**query, graphql_operation_name="Me", http_response_status_code="200") == 2
    assert requests(**query, graphql_operation_name="anonymous") == 1
    assert requests(graphql_operation_type="mutation", graphql_operation_name="anonymous") == 1
    assert requests(**query, graphql_operation_name="Ranking") == 1
    assert errors(**query, graphql_operation_name="Ranking", error_type="FORBIDDEN") == 1
    # Refused before the query was read, or naming no operation of the document: unknown.
    unknown_labels = {"graphql_operation_type": "unknown", "graphql_operation_name": "unknown"}
    assert requests(**unknown_labels, http_response_status_code="401") == 1
    assert requests(**unknown_labels, http_response_status_code="400") == 1
    assert errors(**unknown_labels, error_type="UNAUTHENTICATED") == 1
    # Latency per operation, as a histogram.
    assert grown("duration_seconds_count", **query, graphql_operation_name="Me") == 2
    assert (
        total(
            after,
            "salesguard_graphql_duration_seconds_bucket",
            **query,
            graphql_operation_name="Me",
            le="+Inf",
        )
        >= 2
    )
    # Never the query's text nor a client's unknown operation name as a label.
    assert "me {" not in text and "{ me" not in text
    assert "NoSuchOperation" not in text


def test_operation_names_past_the_limit_count_as_other() -> None:
    names = OperationNames(limit=2)
    assert [names.label(n) for n in ("A", "B", "C", "A", None)] == [
        "A",
        "B",
        "other",
        "A",
        "anonymous",
    ]


async def test_a_service_exposes_rpcs_policy_decisions_jobs_and_alerts(
    suite: Suite, org: Org, dependent: Dependent
) -> None:
    # The metrics a service process records (here the suite's services, in this process),
    # as the dedicated service's metrics port serves them.
    before = scrape(dependent.metrics_url)
    await register(suite, as_=org.junior, hours_since_contact=48)  # LATE_REGISTRATION
    runtime = suite.running["customers"].runtime
    outcome = await run_job(runtime, CONTACT_READS_RETENTION)
    after = scrape(dependent.metrics_url)
    registered = {
        "rpc_service": "salesguard.customers.v1.CustomersService",
        "rpc_method": "RegisterCustomer",
        "rpc_grpc_status_code": "OK",
    }
    assert delta(before, after, "salesguard_rpc_requests_total", **registered) == 1
    assert (
        delta(
            before,
            after,
            "salesguard_policy_decisions_total",
            action="customers.register",
            result="allow",
        )
        >= 1
    )
    assert (
        delta(
            before,
            after,
            "salesguard_alerts_raised_total",
            kind="LATE_REGISTRATION",
            source="customers",
        )
        == 1
    )
    job = {"job": CONTACT_READS_RETENTION.name, "status": outcome.status.value}
    assert delta(before, after, "salesguard_jobs_runs_total", **job) == 1
    assert delta(before, after, "salesguard_jobs_duration_seconds_count", **job) == 1
