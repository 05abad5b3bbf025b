"""gRPC aio server bootstrap: health, reflection, graceful shutdown and one interceptor.

The interceptor does what every call needs, so servicers read like the domain:
it verifies the caller's signed principal and exposes it through
:func:`~salesguard.principal.current_principal`, turns a raised
:class:`~salesguard.errors.ServiceError` into a rich gRPC status, hides
unexpected errors behind ``INTERNAL``, and records each call: its metrics (count and
latency by service, method and status) and one access line (``salesguard.access``).
Tracing comes from OpenTelemetry's own aio interceptor, placed first, in a process that
exports spans. One that exports none (the default) only continues the caller's trace: the
call runs under a non-recording span with the caller's trace ID and a span ID of its own,
so access lines, audit records and the calls it makes carry the trace as before, without a
span built for nobody (~0.15 ms of every call, issue 16).

Health has two names: ``liveness`` answers SERVING while the process serves at all (the
kubelet restarts a process that stops answering), and the overall name ``""`` with each
servicer's name is the readiness the process sets from its dependencies
(:meth:`GrpcServer.set_ready`): NOT_SERVING takes a pod out of its Service.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, cast

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from opentelemetry import context as otel_context
from opentelemetry import metrics, propagate, trace
from opentelemetry.instrumentation.grpc import aio_server_interceptor

from salesguard.errors import ServiceError, lost_to_concurrent_write
from salesguard.logs import access_log, span_ids
from salesguard.principal import Principal, acting_as, principal_from_metadata
from salesguard.telemetry import REQUEST_SECONDS_BUCKETS, spans_exported, untraced_child

log = logging.getLogger(__name__)
_meter = metrics.get_meter(__name__)
_requests = _meter.create_counter(
    "salesguard.rpc.requests", description="RPCs served, by service, method and gRPC status"
)
_latency = _meter.create_histogram(
    "salesguard.rpc.duration",
    unit="s",
    description="How long RPCs took to serve, by service and method",
    explicit_bucket_boundaries_advisory=REQUEST_SECONDS_BUCKETS,
)

# Methods any caller may use without a principal.
OPEN_METHOD_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")
# The health name that says only "this process answers" (the liveness probe's).
LIVENESS = "liveness"

# What servicer methods receive; the message types vary per method.
ServicerContext = grpc.aio.ServicerContext[Any, Any]
Handler = Callable[[Any, ServicerContext], Awaitable[Any]]
StreamHandler = Callable[[Any, ServicerContext], AsyncIterator[Any]]
if TYPE_CHECKING:  # generic only in the type stubs
    MethodHandler = grpc.RpcMethodHandler[Any, Any]


class ServiceInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, internal_secret: bytes, *, continue_traces: bool = False) -> None:
        self._secret = internal_secret
        # True where no OpenTelemetry interceptor starts a span for the call.
        self._continue_traces = continue_traces
        # Per method: the servicer's handler and its wrapped form, built once (grpc.aio
        # asks the interceptor on every call, and finds the same handler each time).
        self._wrapped: dict[str, tuple[MethodHandler, MethodHandler]] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[MethodHandler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> MethodHandler | None:
        handler = await continuation(handler_call_details)
        method: str = handler_call_details.method
        if handler is None or method.startswith(OPEN_METHOD_PREFIXES):
            return handler
        known = self._wrapped.get(method)
        if known is not None and known[0] is handler:
            return known[1]
        wrapped = self._wrap(method, handler)
        if wrapped is not handler:
            self._wrapped[method] = (handler, wrapped)
        return wrapped

    def _wrap(self, method: str, handler: MethodHandler) -> MethodHandler:
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._wrap_unary(method, cast(Handler, handler.unary_unary)),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._wrap_stream(method, cast(StreamHandler, handler.unary_stream)),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler

    def _wrap_unary(self, method: str, behaviour: Handler) -> Handler:
        named = _Method(method)

        async def serve(request: Any, context: ServicerContext) -> Any:
            metadata = _metadata(context)
            with self._traced(metadata):
                call = _Call(named)
                try:
                    principal = call.principal = principal_from_metadata(metadata, self._secret)
                    with acting_as(principal):
                        return await behaviour(request, context)
                except BaseException as error:
                    await call.ended_by(error, context)
                finally:
                    call.record()

        return serve

    def _wrap_stream(self, method: str, behaviour: StreamHandler) -> StreamHandler:
        named = _Method(method)

        async def serve(request: Any, context: ServicerContext) -> AsyncIterator[Any]:
            metadata = _metadata(context)
            trace_context = self._trace_context(metadata)
            with _within(trace_context):
                call = _Call(named)
            try:
                principal = call.principal = principal_from_metadata(metadata, self._secret)
                # The principal and the trace are set around each step of the handler,
                # never across a yield: grpc.aio may finalise an abandoned stream from
                # another task (another Context), where a token held across the yield
                # cannot be reset.
                items = aiter(behaviour(request, context))
                try:
                    while True:
                        with _within(trace_context), acting_as(principal):
                            try:
                                item = await anext(items)
                            except StopAsyncIteration:
                                break
                        yield item
                finally:
                    with _within(trace_context), acting_as(principal):
                        await items.aclose()  # type: ignore[attr-defined]
            except BaseException as error:
                await call.ended_by(error, context)
            finally:
                call.record()

        return serve

    def _trace_context(
        self, metadata: list[tuple[str, str | bytes]]
    ) -> otel_context.Context | None:
        return continued_trace(metadata) if self._continue_traces else None

    def _traced(
        self, metadata: list[tuple[str, str | bytes]]
    ) -> contextlib.AbstractContextManager[None]:
        return _within(self._trace_context(metadata))


def continued_trace(metadata: Sequence[tuple[str, str | bytes]]) -> otel_context.Context:
    """The context of a call in a process that exports no spans: the caller's trace (read
    by the configured propagators, so baggage too) under a non-recording span with a span
    ID of its own, or a new trace when the caller sent none, as the SDK's span would be."""
    carrier = {key: value for key, value in metadata if isinstance(value, str)}
    received = propagate.extract(carrier)
    return untraced_child(received)


@contextlib.contextmanager
def _within(trace_context: otel_context.Context | None) -> Iterator[None]:
    if trace_context is None:
        yield
        return
    token = otel_context.attach(trace_context)
    try:
        yield
    finally:
        otel_context.detach(token)


def _metadata(context: ServicerContext) -> list[tuple[str, str | bytes]]:
    return [(key, value) for key, value in context.invocation_metadata() or ()]


async def _answered(context: ServicerContext) -> None:
    """Send the response headers: the call has reached this service and been answered.
    Clients retry a call refused UNAVAILABLE before any headers (a connection retiring
    under it, :mod:`salesguard.grpc_client`); a service that is itself unavailable (its
    policy engine, a service it calls) must not be asked again by every retry."""
    with contextlib.suppress(Exception):  # a stream's headers may have gone already
        await context.send_initial_metadata(())


class _Method:
    """What every call of one method records it under, worked out once per method: its
    service and name, and its metric attributes (those of the count, per status)."""

    def __init__(self, full_method: str) -> None:
        self.full_method = full_method
        self.service, _, self.name = full_method.lstrip("/").rpartition("/")
        self.attributes = {"rpc.service": self.service, "rpc.method": self.name}
        self._by_status: dict[str, dict[str, str]] = {}

    def status_attributes(self, status: str) -> dict[str, str]:
        attributes = self._by_status.get(status)
        if attributes is None:
            attributes = self._by_status[status] = {
                **self.attributes,
                "rpc.grpc.status_code": status,
            }
        return attributes


class _Call:
    """One RPC being served: what its metrics and its access line say once it ends."""

    def __init__(self, method: _Method) -> None:
        self.started = time.perf_counter()
        self.named = method
        self.full_method = method.full_method
        self.service = method.service
        self.method = method.name
        self.status = grpc.StatusCode.OK.name
        self.error_code: str | None = None
        self.principal: Principal | None = None
        # The server span of OpenTelemetry's interceptor, current while the call starts
        # (its IDs are written out only if the access line is).
        self.span = trace.get_current_span()

    def failed(self, error: ServiceError) -> None:
        self.status = error.grpc_code.name
        self.error_code = error.code.value

    def aborted(self, context: ServicerContext) -> None:
        """The servicer aborted with a status of its own."""
        code = context.code()
        self.status = code.name if isinstance(code, grpc.StatusCode) else "UNKNOWN"

    async def ended_by(self, error: BaseException, context: ServicerContext) -> None:
        """End the call its handler left with ``error``: a ServiceError answers with its
        typed status, a transaction the database ended for a concurrent one with CONFLICT
        (nothing was written: the caller may retry), anything unexpected with INTERNAL
        (logged, never its details); an abort or a cancellation goes on as it is."""
        if isinstance(error, Exception) and (conflict := lost_to_concurrent_write(error)):
            log.warning("%s lost to a concurrent write: answered CONFLICT", self.full_method)
            error = conflict
        if isinstance(error, ServiceError):
            self.failed(error)
            if error.grpc_code is grpc.StatusCode.UNAVAILABLE:
                await _answered(context)
            await context.abort_with_status(error.to_status())
        elif isinstance(error, grpc.aio.AbortError):
            self.aborted(context)
            raise error
        elif isinstance(error, asyncio.CancelledError | GeneratorExit):
            self.status = grpc.StatusCode.CANCELLED.name
            raise error
        elif not isinstance(error, Exception):
            raise error  # KeyboardInterrupt, SystemExit: the process's, not the call's
        else:
            self.status = grpc.StatusCode.INTERNAL.name
            log.exception("unhandled error in %s", self.full_method, exc_info=error)
            await context.abort(grpc.StatusCode.INTERNAL, "internal error")

    def record(self) -> None:
        seconds = time.perf_counter() - self.started
        _requests.add(1, self.named.status_attributes(self.status))
        _latency.record(seconds, self.named.attributes)
        if not access_log.isEnabledFor(logging.INFO):
            return  # the line's fields are not even gathered
        access_log.info(
            "rpc",
            extra={
                "rpc_service": self.service,
                "rpc_method": self.method,
                "grpc_status": self.status,
                "error_code": self.error_code,
                "duration_ms": round(seconds * 1000, 3),
                "principal": self.principal.id if self.principal is not None else None,
                **span_ids(self.span),
            },
        )


@dataclass(frozen=True)
class Servicer:
    """A servicer with its generated ``add_XServicer_to_server`` function and descriptor."""

    add_to_server: Callable[[Any, grpc.aio.Server], None]
    servicer: Any
    descriptor: ServiceDescriptor

    @property
    def full_name(self) -> str:
        return str(self.descriptor.full_name)

    @classmethod
    def of(cls, servicer: Any) -> Servicer:
        """``servicer`` with what its generated base class names: ``XServicer`` in
        ``<proto>_pb2_grpc`` is registered by ``add_XServicer_to_server`` and described by
        service ``X`` of ``<proto>_pb2`` (so a service lists its servicers, nothing else)."""
        base = next(
            (
                base
                for base in type(servicer).__mro__
                if base.__module__.endswith("_pb2_grpc") and base.__name__.endswith("Servicer")
            ),
            None,
        )
        if base is None:
            raise TypeError(f"{type(servicer).__name__} has no generated servicer base class")
        stubs = sys.modules[base.__module__]
        return cls(
            getattr(stubs, f"add_{base.__name__}_to_server"), servicer, service_descriptor(base)
        )

    @classmethod
    def answering(cls, base: type[Any], **handlers: RpcHandler) -> Servicer:
        """A servicer of ``base`` (a generated ``XServicer``) that is a thin adapter: each
        RPC, named as in the proto, is answered by its handler, an async function of the
        request (for a server-streaming RPC, an async iterator of the messages to send).

        Every RPC of the service needs a handler, and every handler an RPC: a service
        never starts with a method left UNIMPLEMENTED or a handler that nothing calls.
        """
        methods = service_descriptor(base).methods_by_name
        missing = sorted(set(methods) - set(handlers))
        unknown = sorted(set(handlers) - set(methods))
        if missing or unknown:
            raise TypeError(f"{base.__name__}: no handler for {missing}, no RPC for {unknown}")
        adapter = type(
            base.__name__.removesuffix("Servicer") + "Adapter",
            (base,),
            {
                name: _streaming(handler) if methods[name].server_streaming else _unary(handler)
                for name, handler in handlers.items()
            },
        )
        return cls.of(adapter())


# An RPC's handler for Servicer.answering: the request to its response, or to its stream.
RpcHandler = Callable[[Any], Awaitable[Any]] | Callable[[Any], AsyncIterator[Any]]


def service_descriptor(base: type[Any]) -> ServiceDescriptor:
    """The service a generated ``XServicer`` class serves: ``X`` of its ``_pb2`` module."""
    messages = importlib.import_module(base.__module__.removesuffix("_grpc"))
    service: ServiceDescriptor = messages.DESCRIPTOR.services_by_name[
        base.__name__.removesuffix("Servicer")
    ]
    return service


def _unary(handler: RpcHandler) -> Callable[[Any, Any, ServicerContext], Awaitable[Any]]:
    async def rpc(servicer: Any, request: Any, context: ServicerContext) -> Any:
        return await cast(Callable[[Any], Awaitable[Any]], handler)(request)

    return rpc


def _streaming(handler: RpcHandler) -> Callable[[Any, Any, ServicerContext], AsyncIterator[Any]]:
    async def rpc(servicer: Any, request: Any, context: ServicerContext) -> AsyncIterator[Any]:
        async for message in cast(Callable[[Any], AsyncIterator[Any]], handler)(request):
            yield message

    return rpc


ResponseT = TypeVar("ResponseT")


def respond(
    response: Callable[..., ResponseT], **fields: Callable[[Any], Awaitable[Any]]
) -> Callable[[Any], Awaitable[ResponseT]]:
    """A handler for Servicer.answering whose response message holds, in each field, what
    that field's function answers for the request (``respond(GetXResponse, x=xs.get)``)."""

    async def handler(request: Any) -> ResponseT:
        return response(**{field: await answer(request) for field, answer in fields.items()})

    return handler


class GrpcServer:
    """A started gRPC server that reports health and shuts down gracefully."""

    def __init__(
        self,
        servicers: Sequence[Servicer],
        *,
        host: str,
        port: int,
        internal_secret: bytes,
        max_connection_age_seconds: float | None = None,
        max_connection_age_grace_seconds: float | None = None,
        trace_spans: bool | None = None,
    ) -> None:
        """``trace_spans``: start a span for every call (OpenTelemetry's interceptor), or
        only continue the caller's trace; default: whether this process exports spans."""
        options: list[tuple[str, int]] = [
            ("grpc.so_reuseport", 0),
            ("grpc.max_receive_message_length", 8 << 20),
        ]
        if max_connection_age_seconds is not None:
            options.append(("grpc.max_connection_age_ms", int(max_connection_age_seconds * 1000)))
        if max_connection_age_grace_seconds is not None:
            grace_ms = int(max_connection_age_grace_seconds * 1000)
            options.append(("grpc.max_connection_age_grace_ms", grace_ms))
        if trace_spans is None:
            trace_spans = spans_exported()
        interceptors: list[grpc.aio.ServerInterceptor] = [
            ServiceInterceptor(internal_secret, continue_traces=not trace_spans)
        ]
        if trace_spans:
            interceptors.insert(0, aio_server_interceptor())  # type: ignore[no-untyped-call]
        self._server = grpc.aio.server(interceptors=interceptors, options=options)
        self._health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
        names = [entry.full_name for entry in servicers]
        for entry in servicers:
            entry.add_to_server(entry.servicer, self._server)
        reflection.enable_server_reflection(
            [*names, health.SERVICE_NAME, reflection.SERVICE_NAME], self._server
        )
        self._names = names
        self.port = self._server.add_insecure_port(f"{host}:{port}")
        if self.port == 0:
            raise OSError(f"cannot listen on {host}:{port}")

    async def start(self, *, ready: bool = True) -> None:
        await self._server.start()
        await self._health.set(LIVENESS, health_pb2.HealthCheckResponse.SERVING)
        await self.set_ready(ready)

    async def set_ready(self, ready: bool) -> None:
        """Readiness: the overall health name and every servicer's (never ``liveness``)."""
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if ready
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in ["", *self._names]:
            await self._health.set(name, status)

    async def stop(self, grace: float) -> None:
        # Report NOT_SERVING first so load balancers stop routing, then drain.
        await self._health.enter_graceful_shutdown()
        await self._server.stop(grace)

    async def wait(self) -> None:
        await self._server.wait_for_termination()


async def serve_until_signalled(
    server: GrpcServer, grace: float, on_stop: Callable[[], Awaitable[None]]
) -> None:
    """Run until SIGTERM or SIGINT, then stop gracefully and release resources."""
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    await stopping.wait()
    log.info("shutting down", extra={"grace_seconds": grace})
    await server.stop(grace)
    await on_stop()
