"""What operators watch: probes that follow the dependencies, Prometheus metrics, standard
OpenTelemetry configuration, and one access line per request without contact data.

The readiness tests start a service of their own (attendance) on a dedicated OPA server
and a dedicated PostgreSQL database, so they can take those away (stop that OPA; refuse
connections to that database) without touching what other tests share.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent import futures
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import make_url

from salesguard.errors import ErrorCode, ServiceError
from salesguard.grpc_client import ServiceChannels
from salesguard.grpc_server import LIVENESS
from salesguard.jobs import run_job
from salesguard.logs import JsonFormatter
from salesguard.principal import Principal, acting_as
from salesguard.service import RunningService
from salesguard.settings import SettingsError
from salesguard.telemetry import build_resource, build_tracer_provider, telemetry_config
from salesguard_api.attendance.v1 import directory_pb2, directory_pb2_grpc
from salesguard_attendance.server import service as attendance_app
from salesguard_customers.jobs import CONTACT_READS_RETENTION
from salesguard_gateway.app import create_app
from salesguard_gateway.observability import OperationNames
from salesguard_gateway.settings import GatewaySettings
from tests.conftest import SPANS
from tests.harness import JWT_SECRET, POLICIES, REPO, Suite
from tests.org import Org, make_org, register
from tests.support.servers import OpaServer, PostgresDatabases, free_port

pytestmark = pytest.mark.integration

DIRECTORY_SERVICE = "salesguard.attendance.v1.DirectoryService"
CHECK_SECONDS = 0.2
FLIP_TIMEOUT = 15.0
Status = health_pb2.HealthCheckResponse


@pytest.fixture(scope="module")
async def org(suite: Suite) -> Org:
    return await make_org(suite)


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
        {"b": org.branch},
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

    def requests(**labels: str) -> float:
        return delta(before, after, "salesguard_graphql_requests_total", **labels)

    query = {"graphql_operation_type": "query"}
    assert requests(**query, graphql_operation_name="Me", http_response_status_code="200") == 2
    assert requests(**query, graphql_operation_name="anonymous") == 1
    assert requests(graphql_operation_type="mutation", graphql_operation_name="anonymous") == 1
    assert requests(**query, graphql_operation_name="Ranking") == 1
    assert (
        delta(
            before,
            after,
            "salesguard_graphql_errors_total",
            **query,
            graphql_operation_name="Ranking",
            error_type="FORBIDDEN",
        )
        == 1
    )
    # Refused before the query was read, or naming no operation of the document: unknown.
    unknown_labels = {"graphql_operation_type": "unknown", "graphql_operation_name": "unknown"}
    assert requests(**unknown_labels, http_response_status_code="401") == 1
    assert requests(**unknown_labels, http_response_status_code="400") == 1
    assert (
        delta(
            before,
            after,
            "salesguard_graphql_errors_total",
            **unknown_labels,
            error_type="UNAUTHENTICATED",
        )
        == 1
    )
    # Latency per operation, as a histogram.
    assert (
        delta(
            before,
            after,
            "salesguard_graphql_duration_seconds_count",
            **query,
            graphql_operation_name="Me",
        )
        == 2
    )
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


# --- traces ----------------------------------------------------------------------------


def trace_of(server: ReadableSpan) -> list[ReadableSpan]:
    return [s for s in SPANS.get_finished_spans() if s.context.trace_id == server.context.trace_id]


def graphql_servers() -> list[ReadableSpan]:
    return [
        s
        for s in SPANS.get_finished_spans()
        if s.kind is SpanKind.SERVER and "graphql.operation.type" in (s.attributes or {})
    ]


async def test_the_gateway_span_is_named_after_the_operation_without_field_spans(
    suite: Suite, org: Org
) -> None:
    customer = await register(suite, as_=org.junior)
    SPANS.clear()
    page = "query CustomerPage($id: ID!) { customer(id: $id) { id name owner { id name } } }"
    (await suite.gql(page, {"id": customer["id"]}, as_=org.junior)).ok()
    (await suite.gql("{ me { id } }", as_=org.junior)).ok()
    named, anonymous = graphql_servers()
    assert named.name == "query CustomerPage"
    assert named.attributes is not None
    assert named.attributes["graphql.operation.type"] == "query"
    assert named.attributes["graphql.operation.name"] == "CustomerPage"
    assert anonymous.name == "query"
    # Below it: gRPC calls, policy decisions and SQL, and no span per GraphQL field.
    names = {span.name for span in trace_of(named)} - {named.name}
    assert any(name.endswith("/GetCustomer") for name in names), names
    fields = {"customer", "id", "name", "owner", "CustomerPage"}
    assert not [
        n for n in names if n in fields or "resolve" in n.lower() or "graphql" in n.lower()
    ], names


# --- standard OpenTelemetry configuration ----------------------------------------------


class Collector(trace_service_pb2_grpc.TraceServiceServicer):
    """An OTLP/gRPC trace receiver on loopback, plain or with TLS."""

    def __init__(self, credentials: grpc.ServerCredentials | None = None) -> None:
        self.requests: list[trace_service_pb2.ExportTraceServiceRequest] = []
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(self, self.server)  # type: ignore[no-untyped-call]
        address = f"127.0.0.1:{free_port()}"
        if credentials is None:
            self.port = self.server.add_insecure_port(address)
        else:
            self.port = self.server.add_secure_port(address, credentials)
        self.server.start()

    def Export(
        self,
        request: trace_service_pb2.ExportTraceServiceRequest,
        context: grpc.ServicerContext,
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        self.requests.append(request)
        return trace_service_pb2.ExportTraceServiceResponse()

    def received(self) -> list[tuple[str, str]]:
        """(service.name, span name) of every span received."""
        found = []
        for request in self.requests:
            for spans in request.resource_spans:
                attributes = {a.key: a.value.string_value for a in spans.resource.attributes}
                for scope in spans.scope_spans:
                    found += [
                        (attributes.get("service.name", ""), span.name) for span in scope.spans
                    ]
        return found

    def close(self) -> None:
        self.server.stop(grace=None)


@contextmanager
def collector(credentials: grpc.ServerCredentials | None = None) -> Iterator[Collector]:
    receiver = Collector(credentials)
    try:
        yield receiver
    finally:
        receiver.close()


OTEL_VARIABLES = (
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_TRACES_EXPORTER",
    "OTEL_METRICS_EXPORTER",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_INSECURE",
    "OTEL_EXPORTER_OTLP_CERTIFICATE",
)


@pytest.fixture
def otel_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in OTEL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def export_one_span(component: str, legacy_endpoint: str | None = None) -> None:
    """Build the providers as a process would from the environment, and send one span."""
    config = telemetry_config(component, legacy_endpoint)
    provider = build_tracer_provider(config, build_resource(config))
    with provider.get_tracer("tests").start_as_current_span("exported"):
        pass
    assert provider.force_flush(10_000)
    provider.shutdown()


def test_otlp_endpoint_and_service_name_come_from_the_environment(
    otel_env: pytest.MonkeyPatch,
) -> None:
    with collector() as receiver:
        otel_env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{receiver.port}")
        otel_env.setenv("OTEL_SERVICE_NAME", "orders-eu")
        export_one_span("orders")
        assert receiver.received() == [("orders-eu", "exported")]


def test_the_salesguard_endpoint_still_works_and_names_the_component(
    otel_env: pytest.MonkeyPatch,
) -> None:
    with collector() as receiver:
        export_one_span("orders", legacy_endpoint=f"http://127.0.0.1:{receiver.port}")
        assert receiver.received() == [("salesguard-orders", "exported")]


def _self_signed(directory: Path) -> tuple[bytes, bytes, Path]:
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "collector.test")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = certificate.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path = directory / "collector.pem"
    path.write_bytes(pem)
    return pem, key_pem, path


def test_otlp_over_tls_trusts_the_configured_certificate(
    otel_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    certificate, key, path = _self_signed(tmp_path)
    credentials = grpc.ssl_server_credentials([(key, certificate)])
    with collector(credentials) as receiver:
        otel_env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"https://127.0.0.1:{receiver.port}")
        otel_env.setenv("OTEL_EXPORTER_OTLP_CERTIFICATE", str(path))
        export_one_span("customers")
        assert receiver.received() == [("salesguard-customers", "exported")]


def test_a_misspelled_exporter_or_sampler_is_refused(otel_env: pytest.MonkeyPatch) -> None:
    otel_env.setenv("OTEL_TRACES_EXPORTER", "zipkin")
    with pytest.raises(SettingsError, match="OTEL_TRACES_EXPORTER"):
        telemetry_config("customers", None)
    otel_env.setenv("OTEL_TRACES_EXPORTER", "console")
    otel_env.setenv("OTEL_TRACES_SAMPLER", "ratio")
    with pytest.raises(SettingsError, match="OTEL_TRACES_SAMPLER"):
        telemetry_config("customers", None)
    otel_env.setenv("OTEL_TRACES_SAMPLER", "traceidratio")
    otel_env.setenv("OTEL_TRACES_SAMPLER_ARG", "2")
    with pytest.raises(SettingsError, match="OTEL_TRACES_SAMPLER_ARG"):
        telemetry_config("customers", None)


def serve_attendance(tmp_path: Path, env: dict[str, str]) -> str:
    """`salesguard serve attendance` (embedded) with ``env``: one refused call, then
    SIGTERM; what it printed."""
    port = free_port()
    full_env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SALESGUARD_", "OTEL_"))
    }
    full_env |= {
        "SALESGUARD_DATA_DIR": str(tmp_path / "data"),
        "SALESGUARD_POLICIES_DIR": str(POLICIES),
        "SALESGUARD_ATTENDANCE_ADDRESS": f"127.0.0.1:{port}",
        **env,
    }
    output = tmp_path / f"out-{port}.log"
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "salesguard.cli", "serve", "attendance"],
            cwd=REPO,
            env=full_env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
        try:
            asyncio.run(_one_refused_call(f"127.0.0.1:{port}", process))
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=20)
    return output.read_text()


async def _one_refused_call(address: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    async with grpc.aio.insecure_channel(address) as channel:
        while True:
            assert process.poll() is None, "the service exited"
            try:
                reply = await health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(), timeout=1
                )
                if reply.status == Status.SERVING:
                    break
            except grpc.aio.AioRpcError:
                pass
            assert time.monotonic() < deadline, "the service did not start"
            await asyncio.sleep(0.2)
        with pytest.raises(grpc.aio.AioRpcError):
            await directory_pb2_grpc.DirectoryServiceStub(channel).ListBranches(
                directory_pb2.ListBranchesRequest(), timeout=5
            )


def json_lines(output: str) -> list[dict[str, Any]]:
    lines = []
    for line in output.splitlines():
        if line.startswith("{") and line.endswith("}"):
            try:
                lines.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return lines


LIST_BRANCHES_SPAN = f'"name": "/{DIRECTORY_SERVICE}/ListBranches"'


def test_a_process_writes_spans_to_the_console_under_its_service_name(tmp_path: Path) -> None:
    output = serve_attendance(
        tmp_path, {"OTEL_TRACES_EXPORTER": "console", "OTEL_SERVICE_NAME": "directory-test"}
    )
    assert LIST_BRANCHES_SPAN in output, output[-3000:]
    assert '"service.name": "directory-test"' in output
    # The process's own access line for the call, with the IDs of the span.
    (line,) = [entry for entry in json_lines(output) if entry.get("rpc_method") == "ListBranches"]
    assert line["logger"] == "salesguard.access"
    assert line["grpc_status"] == "UNAUTHENTICATED"
    assert re.fullmatch(r"[0-9a-f]{32}", line["trace_id"])
    assert re.fullmatch(r"[0-9a-f]{16}", line["span_id"])
    assert f'"span_id": "0x{line["span_id"]}"' in output


def test_a_sampling_ratio_of_zero_exports_no_span(tmp_path: Path) -> None:
    output = serve_attendance(
        tmp_path,
        {
            "OTEL_TRACES_EXPORTER": "console",
            "OTEL_TRACES_SAMPLER": "traceidratio",
            "OTEL_TRACES_SAMPLER_ARG": "0",
        },
    )
    assert [e for e in json_lines(output) if e.get("rpc_method") == "ListBranches"], output[-3000:]
    assert LIST_BRANCHES_SPAN not in output


# --- access logs -----------------------------------------------------------------------


@contextmanager
def captured_logs() -> Iterator[io.StringIO]:
    """Every record of this process at INFO and above, as the JSON lines stdout would get."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


REGISTER_NAMED = """
mutation RegisterCustomer($input: RegisterCustomerInput!) {
  registerCustomer(input: $input) { customer { id phone email } }
}
"""
CUSTOMER_PAGE = "query CustomerPage($id: ID!) { customer(id: $id) { id phone email address } }"


async def test_one_access_line_per_request_and_no_contact_data_in_any_log(
    suite: Suite, org: Org
) -> None:
    digits = f"{time.time_ns() % 10**8:08d}"
    phone, email = f"+86 139 {digits[:4]} {digits[4:]}", f"ling.{digits}@example.cn"
    values = {
        "name": f"Observed {digits}",
        "company": "Acme Trading",
        "phone": phone,
        "email": email,
        "address": "上海市黄浦区南京东路 100 号",
        "source": "WEBSITE",
        "firstContactAt": datetime.now(UTC).isoformat(),
    }
    with captured_logs() as stream:
        registered = (await suite.gql(REGISTER_NAMED, {"input": values}, as_=org.junior)).ok()
        customer = registered["registerCustomer"]["customer"]
        page = (await suite.gql(CUSTOMER_PAGE, {"id": customer["id"]}, as_=org.junior)).ok()
        duplicate = await suite.gql(REGISTER_NAMED, {"input": values}, as_=org.senior)
    assert page["customer"]["phone"] and page["customer"]["email"] == email
    assert "DUPLICATE_CUSTOMER" in duplicate.codes
    text = stream.getvalue()
    lines = [json.loads(line) for line in text.splitlines()]
    requests = [e for e in lines if e["logger"] == "salesguard.access" and e.get("route")]
    assert [(e["operation_type"], e["operation_name"], e["caller"]) for e in requests] == [
        ("mutation", "RegisterCustomer", org.junior),
        ("query", "CustomerPage", org.junior),
        ("mutation", "RegisterCustomer", org.senior),
    ]
    first, _, third = requests
    assert first["status"] == 200 and first["route"] == "/graphql" and first["error_codes"] == []
    assert third["error_codes"] == ["DUPLICATE_CUSTOMER"]
    assert first["duration_ms"] > 0
    assert re.fullmatch(r"[0-9a-f]{32}", first["trace_id"])
    assert re.fullmatch(r"[0-9a-f]{16}", first["span_id"])
    # The services' lines of the same request: one per RPC, in the same trace.
    rpcs = [e for e in lines if e.get("rpc_method") and e.get("trace_id") == first["trace_id"]]
    assert "RegisterCustomer" in {e["rpc_method"] for e in rpcs}
    (served,) = [e for e in rpcs if e["rpc_method"] == "RegisterCustomer"]
    assert served["principal"] == org.junior and served["grpc_status"] == "OK"
    assert served["span_id"] != first["span_id"] and served["duration_ms"] > 0
    refused = [
        e
        for e in lines
        if e.get("rpc_method") == "RegisterCustomer" and e.get("trace_id") == third["trace_id"]
    ]
    assert [(e["grpc_status"], e["error_code"]) for e in refused] == [
        ("ALREADY_EXISTS", "DUPLICATE_CUSTOMER")
    ]
    # No log line, of any logger, holds the customer's phone or email, however written.
    national = digits[-8:]
    for secret in (
        email,
        phone,
        f"139{national}",
        f"139 {digits[:4]}",
        f"{digits[:4]} {digits[4:]}",
        national,
    ):
        assert secret not in text, f"{secret!r} is logged"
