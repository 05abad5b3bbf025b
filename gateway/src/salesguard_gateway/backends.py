"""The gateway's way to the services, opened on first use, and its probes: liveness,
readiness (the people directory answers) and the metrics exposition."""

from __future__ import annotations

import asyncio
import time

from grpc_health.v1 import health_pb2, health_pb2_grpc
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from salesguard.errors import ServiceError
from salesguard.grpc_client import ServiceChannels
from salesguard.principal import acting_as
from salesguard.telemetry import metrics_exposition
from salesguard_gateway.auth import GATEWAY_PRINCIPAL
from salesguard_gateway.clients import ServiceClients
from salesguard_gateway.settings import GatewaySettings


class Backends:
    """Channels and stubs, opened on first use so they bind to the serving event loop."""

    def __init__(self, settings: GatewaySettings, channels: ServiceChannels | None) -> None:
        self._settings = settings
        self._owns_channels = channels is None
        self._channels = channels
        self._clients: ServiceClients | None = None

    @property
    def channels(self) -> ServiceChannels:
        if self._channels is None:
            self._channels = ServiceChannels.from_settings(self._settings)
        return self._channels

    @property
    def clients(self) -> ServiceClients:
        if self._clients is None:
            self._clients = ServiceClients(self.channels, self._settings.alert_sources)
        return self._clients

    async def close(self) -> None:
        if self._owns_channels and self._channels is not None:
            await self._channels.close()


class Readiness:
    """Ready when the people directory answers: no request can be authenticated without it."""

    def __init__(self, backends: Backends, ttl_seconds: float) -> None:
        self._backends = backends
        self._ttl = ttl_seconds
        self._checked_at = float("-inf")
        self._ready = False
        self._lock = asyncio.Lock()

    async def check(self, request: Request) -> Response:
        async with self._lock:
            if time.monotonic() - self._checked_at > self._ttl:
                self._ready = await self._directory_serving()
                self._checked_at = time.monotonic()
        status = "ready" if self._ready else "the people directory (attendance) is not serving"
        return JSONResponse({"status": status}, status_code=200 if self._ready else 503)

    async def _directory_serving(self) -> bool:
        stub = health_pb2_grpc.HealthStub(self._backends.channels.channel("attendance"))
        try:
            with acting_as(GATEWAY_PRINCIPAL):
                response = await stub.Check(health_pb2.HealthCheckRequest(), timeout=1.0)
        except ServiceError:
            return False
        return bool(response.status == health_pb2.HealthCheckResponse.SERVING)


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def metrics(request: Request) -> Response:
    body, content_type = metrics_exposition(request.headers.get("accept"))
    return Response(body, headers={"Content-Type": content_type})
