"""One trace from gateway to service: the gRPC client span is a child of the request's span."""

from __future__ import annotations

import httpx
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from gateway.tests.gateway_fakes import gql
from salesguard.telemetry import setup_telemetry


def recording() -> InMemorySpanExporter:
    """Spans from now on, whether or not another test module installed the provider first."""
    exporter = InMemorySpanExporter()
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        setup_telemetry("gateway-tests", None, span_exporter=exporter)
    return exporter


async def test_grpc_spans_are_children_of_the_request_span(gateway: httpx.AsyncClient) -> None:
    exporter = recording()
    status, body = await gql(gateway, "{ customers(first: 2) { totalCount } }")
    assert status == 200 and "errors" not in body
    spans = exporter.get_finished_spans()
    server = [s for s in spans if s.kind is SpanKind.SERVER and "graphql" in s.name.lower()]
    assert len(server) == 1, [s.name for s in spans]
    request_span = server[0]
    clients = [s for s in spans if s.kind is SpanKind.CLIENT and "ListCustomers" in s.name]
    assert len(clients) == 1, [s.name for s in spans]
    client = clients[0]
    assert client.context.trace_id == request_span.context.trace_id
    assert client.parent is not None and client.parent.span_id == request_span.context.span_id
    # The service's own span continues the same trace.
    served = [s for s in spans if s.kind is SpanKind.SERVER and "ListCustomers" in s.name]
    assert served and served[0].context.trace_id == request_span.context.trace_id
