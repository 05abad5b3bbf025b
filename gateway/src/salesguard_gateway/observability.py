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

from graphql import OperationDefinitionNode
from graphql.utilities import get_operation_ast
from opentelemetry import metrics, trace
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.extensions import SchemaExtension

from salesguard.logs import access_log, span_ids
from salesguard.telemetry import REQUEST_SECONDS_BUCKETS

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
