"""What operators watch, part two: traces, standard OpenTelemetry configuration (endpoints,
TLS, samplers, the console exporter) and one access line per request without contact
data.
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
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind

from salesguard.logs import JsonFormatter
from salesguard.settings import SettingsError
from salesguard.telemetry import build_resource, build_tracer_provider, telemetry_config
from salesguard_api.attendance.v1 import directory_pb2, directory_pb2_grpc
from tests.conftest import SPANS
from tests.harness import POLICIES, REPO, Suite
from tests.integration.observability.support import DIRECTORY_SERVICE, Status
from tests.org import Org, register
from tests.support.servers import free_port

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
