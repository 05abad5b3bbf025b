"""Channels to the services: the current principal goes out signed, errors come back typed.

Every stub created on these channels sends the principal of the running request
(:func:`~salesguard.principal.acting_as`), propagates the trace context, applies
a default deadline, and raises :class:`~salesguard.errors.ServiceError` instead
of a raw ``AioRpcError``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator
from typing import Any, cast

import grpc
from opentelemetry import context as otel_context
from opentelemetry import propagate
from opentelemetry.instrumentation.grpc import aio_client_interceptors
from opentelemetry.propagators.textmap import Setter

from salesguard.errors import from_rpc_error
from salesguard.principal import current_principal, principal_metadata
from salesguard.telemetry import spans_exported, untraced_child

SERVICES = ("customers", "attendance", "orders", "commissions")

# A server retiring a connection (max connection age, a pod going away) can answer a
# call that raced its GOAWAY with UNAVAILABLE before the call reached the service.
# gRPC retries only calls whose response has not begun: a service that answers
# UNAVAILABLE itself sends its headers first (grpc_server), so neither a write it
# answered nor a refusal for want of its own dependencies is asked again.
_SERVICE_CONFIG = json.dumps(
    {
        "methodConfig": [
            {
                "name": [{}],
                "retryPolicy": {
                    "maxAttempts": 3,
                    "initialBackoff": "0.05s",
                    "maxBackoff": "0.5s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"],
                },
            }
        ]
    }
)


class _Caller:
    """Signs the current principal into a call's metadata; with ``carry_trace`` (a process
    exporting no spans, where no OpenTelemetry interceptor does it) carries the trace too."""

    def __init__(self, secret: bytes, timeout: float | None, *, carry_trace: bool = False) -> None:
        self._secret = secret
        self._timeout = timeout
        self._carry_trace = carry_trace

    def details(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        metadata = grpc.aio.Metadata(*(details.metadata or ()))
        if self._carry_trace:
            propagate.inject(
                metadata, context=untraced_child(otel_context.get_current()), setter=_METADATA
            )
        for key, value in principal_metadata(current_principal(), self._secret):
            metadata.add(key, value)
        return grpc.aio.ClientCallDetails(
            method=details.method,
            timeout=details.timeout if details.timeout is not None else self._timeout,
            metadata=metadata,
            credentials=details.credentials,
            wait_for_ready=details.wait_for_ready,
        )


class _MetadataSetter(Setter[grpc.aio.Metadata]):
    """Writes what the propagators carry (traceparent, baggage) into a call's metadata."""

    def set(self, carrier: grpc.aio.Metadata, key: str, value: str) -> None:
        carrier.add(key, value)


_METADATA = _MetadataSetter()


# grpc.aio files an interceptor under the first call type it implements only, so the
# unary and the streaming side are two interceptors.
class _UnaryCaller(_Caller, grpc.aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(
        self,
        continuation: Callable[[grpc.aio.ClientCallDetails, Any], Any],
        client_call_details: grpc.aio.ClientCallDetails,
        request: Any,
    ) -> Any:
        call = await continuation(self.details(client_call_details), request)
        try:
            return await call
        except grpc.aio.AioRpcError as error:
            raise from_rpc_error(error) from None


class _StreamCaller(_Caller, grpc.aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(
        self,
        continuation: Callable[[grpc.aio.ClientCallDetails, Any], Any],
        client_call_details: grpc.aio.ClientCallDetails,
        request: Any,
    ) -> Any:
        call = await continuation(self.details(client_call_details), request)

        async def responses() -> Any:
            try:
                async for item in call:
                    yield item
            except grpc.aio.AioRpcError as error:
                raise from_rpc_error(error) from None

        return responses()


class _Answer:
    """A unary call's answer: the call itself (started when made, as an intercepted call
    is), its failure raised as ServiceError when awaited; any error making the call is
    raised when awaited too, as an interceptor's would be."""

    __slots__ = ("_call", "_error")

    def __init__(self, call: Any, error: BaseException | None = None) -> None:
        self._call = call
        self._error = error

    def __await__(self) -> Generator[Any, None, Any]:
        if self._error is not None:
            raise self._error
        try:
            return (yield from self._call.__await__())
        except grpc.aio.AioRpcError as error:
            raise from_rpc_error(error) from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._call, name)


class _UnaryCalls:
    """A unary method called as :class:`_UnaryCaller` would have it called, without
    grpc.aio's interceptor machinery (a task of its own and a chain of coroutines per
    call, ~0.05 ms of CPU): where _UnaryCaller is the channel's only unary interceptor (a
    process exporting no spans). The same metadata, deadline and errors."""

    __slots__ = ("_call", "_caller", "_method")

    def __init__(self, call: Any, caller: _Caller, method: str | bytes) -> None:
        self._call = call
        self._caller = caller
        self._method = method

    def __call__(
        self,
        request: Any,
        *,
        timeout: float | None = None,
        metadata: Any = None,
        credentials: grpc.CallCredentials | None = None,
        wait_for_ready: bool | None = None,
        compression: grpc.Compression | None = None,
    ) -> _Answer:
        try:
            details = self._caller.details(
                grpc.aio.ClientCallDetails(
                    cast(str, self._method), timeout, metadata, credentials, wait_for_ready
                )
            )
            call = self._call(
                request,
                timeout=details.timeout,
                metadata=details.metadata,
                credentials=details.credentials,
                wait_for_ready=details.wait_for_ready,
                compression=compression,
            )
        except Exception as error:  # raised when awaited, as an interceptor's would be
            return _Answer(None, error)
        return _Answer(call)


class _Channel(grpc.aio.Channel):
    """A channel whose unary methods are :class:`_UnaryCalls`; everything else is the
    channel's own (its streams through its interceptors)."""

    def __init__(self, channel: grpc.aio.Channel, caller: _Caller) -> None:
        self._channel = channel
        self._caller = caller

    def unary_unary(
        self,
        method: str,
        request_serializer: Any = None,
        response_deserializer: Any = None,
        _registered_method: bool | None = False,
    ) -> Any:
        call = cast(Any, self._channel).unary_unary(
            method, request_serializer, response_deserializer, _registered_method
        )
        # grpc.aio hands interceptors the method as bytes (grpc/grpc#31092); so here.
        return _UnaryCalls(call, self._caller, getattr(call, "_method", method))

    def unary_stream(self, *args: Any, **kwargs: Any) -> Any:
        return self._channel.unary_stream(*args, **kwargs)

    def stream_unary(self, *args: Any, **kwargs: Any) -> Any:
        return self._channel.stream_unary(*args, **kwargs)

    def stream_stream(self, *args: Any, **kwargs: Any) -> Any:
        return self._channel.stream_stream(*args, **kwargs)

    async def __aenter__(self) -> _Channel:
        await self._channel.__aenter__()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self._channel.__aexit__(*exc_info)

    async def close(self, grace: float | None = None) -> None:
        await self._channel.close(grace)

    def get_state(self, try_to_connect: bool = False) -> grpc.ChannelConnectivity:
        return self._channel.get_state(try_to_connect)

    async def wait_for_state_change(self, last_observed_state: grpc.ChannelConnectivity) -> None:
        await self._channel.wait_for_state_change(last_observed_state)

    async def channel_ready(self) -> None:
        await self._channel.channel_ready()


class ServiceChannels:
    """One lazily opened channel per service address, shared by all stubs."""

    def __init__(self, addresses: dict[str, str], internal_secret: bytes, timeout: float) -> None:
        self._addresses = addresses
        self._secret = internal_secret
        self._timeout = timeout
        self._channels: dict[str, grpc.aio.Channel] = {}

    @classmethod
    def from_settings(cls, settings: Any) -> ServiceChannels:
        addresses = {name: getattr(settings, f"{name}_address") for name in SERVICES}
        return cls(
            addresses,
            settings.internal_secret.get_secret_value().encode(),
            settings.grpc_timeout_seconds,
        )

    def channel(self, service: str) -> grpc.aio.Channel:
        channel = self._channels.get(service)
        if channel is None:
            # A process exporting no spans builds no client span per call: the calls
            # carry the trace themselves (_call_context).
            # Its unary calls are then made by _UnaryCalls, the channel's only unary
            # interceptor being _UnaryCaller.
            exported = spans_exported()
            tracing = aio_client_interceptors() if exported else []  # type: ignore[no-untyped-call]
            unary = _UnaryCaller(self._secret, self._timeout, carry_trace=not exported)
            channel = grpc.aio.insecure_channel(
                self._addresses[service],
                interceptors=[
                    *tracing,
                    *([unary] if exported else []),
                    # A stream lasts as long as its data: no default deadline.
                    _StreamCaller(self._secret, None, carry_trace=not exported),
                ],
                options=[
                    ("grpc.max_receive_message_length", 8 << 20),
                    # Every address the name resolves to (a headless Service's pods), in
                    # turn; with one address it behaves as a plain connection.
                    ("grpc.lb_policy_name", "round_robin"),
                    ("grpc.enable_retries", 1),
                    ("grpc.service_config", _SERVICE_CONFIG),
                ],
            )
            if not exported:
                channel = _Channel(channel, unary)
            self._channels[service] = channel
        return channel

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()
        self._channels.clear()
