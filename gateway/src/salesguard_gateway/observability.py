"""What the gateway tells operators about each HTTP request.

:class:`AccessLog`, an ASGI middleware inside OpenTelemetry's, follows every request
but the probes and the scrapes (``/healthz``, ``/readyz``, ``/metrics``). The code that
serves it fills in what it learns on the way (:func:`note_caller`,
:func:`note_error_codes`, and :class:`ObservedOperation`, a schema extension, for the
GraphQL operation's type and name). When the response has gone it

- writes one access line (``salesguard.access``): method, route, HTTP status, duration,
  the operation's type and name, the GraphQL error codes, the caller's ID, and the
  trace and span IDs. Never a query's text, its variables or a response's data, and
  only the first segment of a path (a download's path is its one-time token);
- counts GraphQL requests and their latency per operation and their errors per code
  (``salesguard.graphql.*``). An operation without a name is ``anonymous``, one that was
  never parsed (refused before, or not GraphQL) ``unknown``; names are clients' words,
  so only the first ``metrics_max_operations`` distinct ones become label values and
  the rest count as ``other``;
- names the request's server span after the operation (``query CustomerPage``, or the
  type alone for an anonymous one), with its ``graphql.operation.*`` attributes. The
  schema creates no span per field.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, cast

from graphql import OperationDefinitionNode
from graphql.utilities import get_operation_ast
from opentelemetry import context as otel_context
from opentelemetry import metrics, propagate, trace
from opentelemetry.instrumentation.asgi import (
    OpenTelemetryMiddleware,
    collect_request_attributes,
    get_default_span_details,
    get_host_port_url_tuple,
    set_status_code,
)
from opentelemetry.instrumentation.propagators import get_global_response_propagator
from opentelemetry.instrumentation.utils import (
    _start_internal_or_server_span,
    is_http_instrumentation_enabled,
)
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace import TracerProvider
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.extensions import SchemaExtension

from salesguard.logs import access_log, span_ids
from salesguard.telemetry import REQUEST_SECONDS_BUCKETS, untraced_child

_meter = metrics.get_meter(__name__)
_requests = _meter.create_counter(
    "salesguard.graphql.requests",
    description="GraphQL requests by operation type, operation name and HTTP status",
)
_latency = _meter.create_histogram(
    "salesguard.graphql.duration",
    unit="s",
    description="How long GraphQL requests took, by operation type and name",
    explicit_bucket_boundaries_advisory=REQUEST_SECONDS_BUCKETS,
)
_errors = _meter.create_counter(
    "salesguard.graphql.errors",
    description="GraphQL errors by operation type, operation name and extensions.code",
)

# Requests that say nothing worth a line or a count: probes and scrapes.
QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
ANONYMOUS = "anonymous"
UNKNOWN = "unknown"
OTHER = "other"


@dataclass
class RequestRecord:
    """What is known about the request being served, filled in as it goes."""

    method: str
    route: str
    operation_type: str | None = None
    operation_name: str | None = None
    caller: str | None = None
    error_codes: list[str] = field(default_factory=list)


_current: ContextVar[RequestRecord | None] = ContextVar("salesguard_request", default=None)


def note_caller(employee_id: str) -> None:
    """The verified subject of the request's bearer token."""
    record = _current.get()
    if record is not None:
        record.caller = employee_id


def note_error_codes(codes: Iterable[str]) -> None:
    """The ``extensions.code`` of errors the request answers with."""
    record = _current.get()
    if record is not None:
        record.error_codes.extend(codes)


class ObservedOperation(SchemaExtension):
    """Hands the executed operation's type and name to the request's record."""

    def on_operation(self) -> Iterator[None]:
        yield
        record = _current.get()
        context = self.execution_context
        if record is None or context.graphql_document is None:
            return
        operation = get_operation_ast(context.graphql_document, context.operation_name)
        if isinstance(operation, OperationDefinitionNode):
            record.operation_type = operation.operation.value
            record.operation_name = operation.name.value if operation.name else None


class OperationNames:
    """Operation names as metric label values: the first ``limit`` distinct ones, then
    ``other`` (a client could otherwise add a series per request)."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._known: set[str] = set()
        self._lock = threading.Lock()

    def label(self, name: str | None) -> str:
        if name is None:
            return ANONYMOUS
        with self._lock:
            if name in self._known:
                return name
            if len(self._known) < self._limit:
                self._known.add(name)
                return name
        return OTHER


class AccessLog:
    """The ASGI middleware: one access line per request, GraphQL metrics, the span's name."""

    def __init__(self, app: ASGIApp, *, graphql_path: str, operation_names: OperationNames) -> None:
        self.app = app
        self._graphql_path = graphql_path
        self._names = operation_names

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in QUIET_PATHS:
            await self.app(scope, receive, send)
            return
        record = RequestRecord(method=scope["method"], route=_route(scope["path"]))
        span = trace.get_current_span()  # the request's server span (OpenTelemetry's)
        status = 500  # unless a response starts: an error escaped to the server

        async def observed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                # Now: OpenTelemetry's middleware ends the span with the response's body.
                _name_span(span, record)
            await send(message)

        token = _current.set(record)
        started = time.perf_counter()
        try:
            await self.app(scope, receive, observed_send)
        finally:
            _current.reset(token)
            self._finish(record, status, time.perf_counter() - started, span)

    def _finish(self, record: RequestRecord, status: int, seconds: float, span: trace.Span) -> None:
        graphql = record.route == self._graphql_path and record.method == "POST"
        if graphql:
            self._observe_operation(record, status, seconds)
        if not access_log.isEnabledFor(logging.INFO):
            return  # the line would be dropped: not worth building
        access_log.info(
            "request",
            extra={
                "http_method": record.method,
                "route": record.route,
                "status": status,
                "duration_ms": round(seconds * 1000, 3),
                "operation_type": record.operation_type,
                "operation_name": record.operation_name,
                "error_codes": sorted(set(record.error_codes)),
                "caller": record.caller,
                **span_ids(span),
            },
        )

    def _observe_operation(self, record: RequestRecord, status: int, seconds: float) -> None:
        labels = {
            "graphql.operation.type": record.operation_type or UNKNOWN,
            "graphql.operation.name": (
                self._names.label(record.operation_name) if record.operation_type else UNKNOWN
            ),
        }
        _requests.add(1, {**labels, "http.response.status_code": status})
        _latency.record(seconds, labels)
        for code in record.error_codes:
            _errors.add(1, {**labels, "error.type": code})


class _Headers(Getter[Scope]):
    """A request's headers as OpenTelemetry's ASGI getter reads them (names decoded and
    lower-cased, every value of a name decoded, in order), decoded once per request
    instead of once per name asked for."""

    __slots__ = ("_names", "_values")

    def __init__(self, scope: Scope) -> None:
        self._names: list[str] = []
        self._values: dict[str, list[str]] = {}
        for raw_name, raw_value in scope.get("headers") or ():
            name = _decoded(raw_name)
            self._names.append(name)
            self._values.setdefault(name.lower(), []).append(_decoded(raw_value))

    def get(self, carrier: Scope, key: str) -> list[str] | None:
        return self._values.get(key.lower())

    def keys(self, carrier: Scope) -> list[str]:
        return list(self._names)


def _decoded(value: bytes) -> str:
    # opentelemetry.instrumentation.asgi's _decode_header_item.
    try:
        return value.decode("utf-8")
    except ValueError:
        return value.decode("unicode_escape")


# Distinct request shapes (see ServerSpans) whose span name and attributes are kept.
MAX_REQUEST_SHAPES = 1024


class ServerSpans(OpenTelemetryMiddleware):
    """OpenTelemetry's ASGI middleware, its HTTP metrics not recorded (salesguard.telemetry
    drops them: raw paths), without ``receive``/``send`` spans, and an HTTP request's server
    span made for less: the same span (name, kind, parent from the request's headers,
    attributes, status, exception events, ended with the response's last body), but the
    headers decoded once instead of once per name looked up, the span's name and request
    attributes kept per request shape (what they are computed from: method, scheme,
    server, path, query, HTTP version, client, Host and User-Agent), and no attributes set
    twice nor measurements made for a meter that records nothing. That was ~0.1 ms of the
    gateway's CPU per request, about a tenth of a page of customers (issue 16).

    With ``record`` false (a process that exports no spans) an HTTP request builds no span
    at all: it runs under :func:`continued_trace`, whose IDs the access line, the gRPC calls
    and the services carry (~0.035 ms of a request, as the services do since issue 16).

    Anything else, or a configuration this path does not cover (hooks, captured headers, a
    response propagator, instrumentation suppressed), is OpenTelemetry's own path."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        excluded_urls: str,
        tracer_provider: TracerProvider | None = None,
        record: bool = True,
    ) -> None:
        # False in a process that exports no spans (salesguard.telemetry.spans_exported):
        # the request only continues its trace (continued_trace).
        self._record = record
        super().__init__(
            app,
            excluded_urls=excluded_urls,
            tracer_provider=tracer_provider,
            exclude_spans=["receive", "send"],
            meter_provider=NoOpMeterProvider(),
        )
        self._shapes: dict[tuple[object, ...], tuple[bool, str, dict[str, object]]] = {}
        self._lean = (
            self.default_span_details is get_default_span_details
            and self.server_request_hook is None
            and self.client_request_hook is None
            and self.client_response_hook is None
            and not self.http_capture_headers_server_request
            and not self.http_capture_headers_server_response
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or not self._lean
            or not is_http_instrumentation_enabled()
            or get_global_response_propagator() is not None  # type: ignore[no-untyped-call]
        ):
            await super().__call__(scope, receive, send)
            return
        headers = _Headers(scope)
        disabled, span_name, attributes = self._shape(scope, headers)
        if disabled:
            await self.app(scope, receive, send)
            return
        if not self._record:
            token = otel_context.attach(continued_trace(scope, headers))
            try:
                await self.app(scope, receive, send)
            finally:
                otel_context.detach(token)
            return
        span, token = _start_internal_or_server_span(  # type: ignore[no-untyped-call]
            tracer=self.tracer,
            span_name=span_name,
            start_time=None,
            context_carrier=scope,
            context_getter=headers,
            attributes=attributes,
        )
        mode = self._sem_conv_opt_in_mode

        async def traced_send(message: Message) -> None:
            kind = message["type"]
            if kind == "http.response.start" and message["status"]:
                set_status_code(span, message["status"], {}, mode)  # type: ignore[no-untyped-call]
            await send(message)
            if kind == "http.response.body" and not message.get("more_body", False):
                span.end()

        try:
            with trace.use_span(span, end_on_exit=False):
                await self.app(scope, receive, traced_send)
        finally:
            if token:
                otel_context.detach(token)
            if span.is_recording():
                span.end()

    def _shape(self, scope: Scope, headers: _Headers) -> tuple[bool, str, dict[str, object]]:
        """Whether the URL is excluded, the span's name and its request attributes: what
        OpenTelemetry's middleware works out from the same parts of the request."""
        key = (
            scope.get("method"),
            scope.get("scheme"),
            _hashable(scope.get("server")),
            scope.get("path"),
            scope.get("query_string"),
            scope.get("http_version"),
            _hashable(scope.get("client")) if "client" in scope else (),
            _hashable(headers.get(scope, "host")),
            _hashable(headers.get(scope, "user-agent")),
        )
        shape = self._shapes.get(key)
        if shape is None:
            _, _, url = get_host_port_url_tuple(scope)  # type: ignore[no-untyped-call]
            disabled = bool(self.excluded_urls and self.excluded_urls.url_disabled(url))
            span_name, additional = get_default_span_details(cast(dict[str, Any], scope))
            attributes = collect_request_attributes(  # type: ignore[no-untyped-call]
                scope, self._sem_conv_opt_in_mode
            )
            attributes.update(additional)
            shape = (disabled, span_name, attributes)
            if len(self._shapes) >= MAX_REQUEST_SHAPES:
                self._shapes.clear()
            self._shapes[key] = shape
        return shape


def continued_trace(scope: Scope, headers: Getter[Scope]) -> otel_context.Context:
    """The context of a request in a process that exports no spans (as a service's call
    is, salesguard.grpc_server.continued_trace): the trace the request's headers carry (or
    the current one, inside another span, as OpenTelemetry's middleware takes it) under a
    non-recording span with a span ID of its own, or a new trace; the access line, the
    calls the request makes and their services carry it as they carried the span's."""
    if trace.get_current_span() is trace.INVALID_SPAN:
        received = propagate.extract(scope, getter=headers)
    else:
        received = otel_context.get_current()
    return untraced_child(received)


def _hashable(value: object) -> object:
    return tuple(value) if isinstance(value, list | tuple) else value


def _name_span(span: trace.Span, record: RequestRecord) -> None:
    """``query CustomerPage``, or ``query`` for an anonymous one (OpenTelemetry's GraphQL
    conventions); a request that ran no operation keeps its HTTP name."""
    if record.operation_type is None:
        return
    name = record.operation_type
    if record.operation_name:
        name = f"{name} {record.operation_name}"
        span.set_attribute("graphql.operation.name", record.operation_name)
    span.update_name(name)
    span.set_attribute("graphql.operation.type", record.operation_type)


def _route(path: str) -> str:
    """The path's first segment: what a request was for, without IDs or tokens."""
    first = path.lstrip("/").split("/", 1)[0]
    return f"/{first}"
