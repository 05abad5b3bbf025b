"""ServerSpans makes the server span OpenTelemetry's ASGI middleware makes, for less."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from opentelemetry import propagate, trace
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.types import Message, Receive, Scope, Send

from salesguard_gateway.observability import ServerSpans

EXCLUDED = "healthz,readyz,metrics"
TRACEPARENT = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def _scope(**changes: Any) -> Scope:
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1:8000"),
            (b"content-type", b"application/json"),
            (b"content-length", b"30"),
        ],
        "client": ("127.0.0.1", 50123),
        "server": ("127.0.0.1", 8000),
    }
    scope.update(changes)
    return scope


def _app(status: int = 200, *, fail: bool = False, chunks: int = 1) -> Any:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if fail:
            raise RuntimeError("boom")
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-length", b"2")],
            }
        )
        for index in range(chunks):
            await send(
                {"type": "http.response.body", "body": b"{}", "more_body": index < chunks - 1}
            )

    return app


def _comparable(span: ReadableSpan) -> dict[str, Any]:
    parent = span.parent
    return {
        "name": span.name,
        "kind": span.kind,
        "attributes": list((span.attributes or {}).items()),
        "status": (span.status.status_code, span.status.description),
        # An exception's stack trace names the middleware's own frames: only its last line.
        "events": [
            (
                event.name,
                {
                    name: str(value).splitlines()[-1] if name == "exception.stacktrace" else value
                    for name, value in (event.attributes or {}).items()
                    if isinstance(value, str | int | bool)
                },
            )
            for event in span.events
        ],
        "parent": (parent.trace_id, parent.span_id) if parent is not None else None,
        "ended": span.end_time is not None,
        "instrumentation": span.instrumentation_scope,
    }


async def _spans(middleware: type, app: Any, scopes: list[Scope]) -> list[dict[str, Any]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    if middleware is ServerSpans:
        wrapped: Any = ServerSpans(app, excluded_urls=EXCLUDED, tracer_provider=provider)
    else:
        wrapped = OpenTelemetryMiddleware(
            app,
            excluded_urls=EXCLUDED,
            exclude_spans=["receive", "send"],
            meter_provider=NoOpMeterProvider(),
            tracer_provider=provider,
        )

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        pass

    for scope in scopes:
        with contextlib.suppress(RuntimeError):
            await wrapped(scope, receive, send)
    return [_comparable(span) for span in exporter.get_finished_spans()]


REQUESTS = {
    "plain": ([_scope(), _scope()], _app()),
    "headers": (
        [
            _scope(
                headers=[
                    (b"Host", b"gateway.example:443"),
                    (b"user-agent", b"Mozilla/5.0 (X11; Linux x86_64)"),
                    (b"traceparent", TRACEPARENT),
                    (b"tracestate", b"vendor=1"),
                    (b"baggage", b"team=t1"),
                    (b"x-other", b"\xff\xfe"),
                ],
                scheme="https",
                query_string=b"query=%7B%20me%20%7D",
                method="GET",
                client=("10.0.0.7", 40000),
            )
        ],
        _app(),
    ),
    "bot and no client": (
        [_scope(headers=[(b"user-agent", b"Googlebot/2.1")], client=None, server=None)],
        _app(),
    ),
    "server error": ([_scope()], _app(503)),
    "client error": ([_scope()], _app(404)),
    "streamed": ([_scope()], _app(chunks=3)),
    "raises": ([_scope()], _app(fail=True)),
    "excluded": ([_scope(path="/healthz"), _scope(path="/metrics")], _app()),
    "odd method": ([_scope(method="PURGE", path="/objects/abc")], _app(405)),
}


@pytest.mark.parametrize("case", sorted(REQUESTS))
async def test_the_same_spans_as_opentelemetrys_middleware(case: str) -> None:
    scopes, app = REQUESTS[case]
    expected = await _spans(OpenTelemetryMiddleware, app, scopes)
    lean = await _spans(ServerSpans, app, scopes)
    assert lean == expected
    assert len(expected) == (0 if case == "excluded" else len(scopes))


async def test_inside_another_span_an_internal_one() -> None:
    scopes, app = REQUESTS["plain"]
    tracer = trace.get_tracer(__name__, tracer_provider=TracerProvider())
    with tracer.start_as_current_span("outer"):
        expected = await _spans(OpenTelemetryMiddleware, app, scopes)
        lean = await _spans(ServerSpans, app, scopes)
    assert lean == expected
    assert {span["kind"] for span in lean} == {trace.SpanKind.INTERNAL}


async def test_exporting_no_spans_a_request_continues_its_trace_without_a_span() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    seen: list[tuple[int, int, bool, bool]] = []
    sent: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        span = trace.get_current_span()
        context = span.get_span_context()
        seen.append((context.trace_id, context.span_id, context.is_valid, span.is_recording()))
        carrier: dict[str, str] = {}
        propagate.inject(carrier)  # what the request's gRPC calls send on
        sent.append(carrier.get("traceparent", ""))
        await _app()(scope, receive, send)

    wrapped = ServerSpans(app, excluded_urls=EXCLUDED, tracer_provider=provider, record=False)

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        pass

    traced = _scope(headers=[(b"host", b"127.0.0.1:8000"), (b"traceparent", TRACEPARENT)])
    for scope in (traced, _scope(), _scope()):
        await wrapped(scope, receive, send)
    await wrapped(_scope(path="/healthz"), receive, send)

    caller_trace, caller_span = (
        int(TRACEPARENT.split(b"-")[1], 16),
        int(TRACEPARENT.split(b"-")[2], 16),
    )
    (
        (trace_id, span_id, valid, recording),
        (root_1, _, valid_1, _),
        (root_2, _, valid_2, _),
        (_, _, excluded_valid, _),
    ) = seen
    assert valid and not recording and trace_id == caller_trace and span_id != caller_span
    assert sent[0] == f"00-{trace_id:032x}-{span_id:016x}-01"
    # No trace sent: a new one per request, as the SDK's root span would start.
    assert valid_1 and valid_2 and len({root_1, root_2, caller_trace}) == 3
    assert not excluded_valid and sent[3] == ""  # an excluded path carries no trace
    assert exporter.get_finished_spans() == ()
    assert not trace.get_current_span().get_span_context().is_valid
