"""Channels to the services: the current principal goes out signed, errors come back typed.

Every stub created on these channels sends the principal of the running request
(:func:`~salesguard.principal.acting_as`), propagates the trace context, applies
a default deadline, and raises :class:`~salesguard.errors.ServiceError` instead
of a raw ``AioRpcError``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import grpc
from opentelemetry.instrumentation.grpc import aio_client_interceptors

from salesguard.errors import from_rpc_error
from salesguard.principal import current_principal, principal_metadata

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
    """Signs the current principal into a call's metadata."""

    def __init__(self, secret: bytes, timeout: float | None) -> None:
        self._secret = secret
        self._timeout = timeout

    def details(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        metadata = grpc.aio.Metadata(*(details.metadata or ()))
        for key, value in principal_metadata(current_principal(), self._secret):
            metadata.add(key, value)
        return grpc.aio.ClientCallDetails(
            method=details.method,
            timeout=details.timeout if details.timeout is not None else self._timeout,
            metadata=metadata,
            credentials=details.credentials,
            wait_for_ready=details.wait_for_ready,
        )


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
            tracing = aio_client_interceptors()  # type: ignore[no-untyped-call]
            channel = grpc.aio.insecure_channel(
                self._addresses[service],
                interceptors=[
                    *tracing,
                    _UnaryCaller(self._secret, self._timeout),
                    # A stream lasts as long as its data: no default deadline.
                    _StreamCaller(self._secret, None),
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
            self._channels[service] = channel
        return channel

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()
        self._channels.clear()
