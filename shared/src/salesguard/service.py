"""How a gRPC service is assembled, started, migrated and stopped — the same for all four.

A service package declares one :class:`GrpcServiceApp` (its entry point in the
``salesguard.services`` group) with its settings class, models' metadata,
migrations folder and a function that builds its servicers from the
:class:`Runtime`. Everything else lives here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy import MetaData

from salesguard import migrations
from salesguard.alertfeed import AlertFeed
from salesguard.alerts import AlertColumns, AlertDecisionColumns, AlertsServicer
from salesguard.common.v1 import common_pb2, common_pb2_grpc
from salesguard.db import Database
from salesguard.grpc_client import ServiceChannels
from salesguard.grpc_server import GrpcServer, Servicer, serve_until_signalled
from salesguard.jobs import Job, JobScheduler
from salesguard.logs import setup_logging
from salesguard.objectstore import ObjectStore, object_store_from_settings
from salesguard.policy import PolicyClient, policy_client_from_settings
from salesguard.settings import Settings, load
from salesguard.subjects import DirectorySubjectRoles
from salesguard.telemetry import setup_telemetry

log = logging.getLogger(__name__)
# How long `salesguard healthcheck` waits for the process to answer.
HEALTHCHECK_SECONDS = 3.0
S = TypeVar("S", bound=Settings)


@dataclass
class Runtime(Generic[S]):
    """What a service's servicers share: settings, database, policy, objects, peers."""

    name: str
    settings: S
    db: Database
    policy: PolicyClient
    channels: ServiceChannels
    _objects: ObjectStore | None = field(default=None, repr=False)
    _alert_feed: AlertFeed | None = field(default=None, repr=False)

    @property
    def alert_feed(self) -> AlertFeed:
        """The process's one feed of newly committed alerts (listening once watched)."""
        if self._alert_feed is None:
            self._alert_feed = AlertFeed(self.db)
        return self._alert_feed

    @property
    def objects(self) -> ObjectStore:
        if self._objects is None:
            self._objects = object_store_from_settings(self.settings)
        return self._objects

    @property
    def internal_secret(self) -> bytes:
        return self.settings.internal_secret.get_secret_value().encode()

    def alerts_servicer(
        self, model: type[AlertColumns], decisions: type[AlertDecisionColumns]
    ) -> Servicer:
        """The common AlertsService over this service's alerts and their decisions."""
        return Servicer(
            common_pb2_grpc.add_AlertsServiceServicer_to_server,
            AlertsServicer(
                source=self.name,
                db=self.db,
                policy=self.policy,
                model=model,
                decisions=decisions,
                feed=self.alert_feed,
            ),
            common_pb2.DESCRIPTOR.services_by_name["AlertsService"],
        )

    async def close(self) -> None:
        if self._alert_feed is not None:
            await self._alert_feed.close()
        await self.channels.close()
        await self.policy.close()
        await self.db.dispose()


@dataclass
class RunningService(Generic[S]):
    runtime: Runtime[S]
    server: GrpcServer
    scheduler: JobScheduler[S] | None = None

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def address(self) -> str:
        return f"{self.runtime.settings.grpc_host}:{self.port}"

    async def stop(self, grace: float = 0.0) -> None:
        await self.server.stop(grace)
        await self.close()

    async def close(self) -> None:
        """Stop the in-process jobs, then release the runtime."""
        if self.scheduler is not None:
            await self.scheduler.stop()
        await self.runtime.close()


class GrpcServiceApp(Generic[S]):
    def __init__(
        self,
        *,
        name: str,
        settings_class: type[S],
        metadata: MetaData,
        migrations_dir: Path,
        servicers: Callable[[Runtime[S]], Sequence[Servicer]],
        on_start: Callable[[Runtime[S]], Awaitable[None]] | None = None,
        jobs: Sequence[Job[S]] = (),
    ) -> None:
        self.name = name
        self.settings_class = settings_class
        self.metadata = metadata
        self.migrations_dir = migrations_dir
        self._servicers = servicers
        self._on_start = on_start
        self.jobs = tuple(jobs)
        for job in self.jobs:
            if job.service != name:
                raise ValueError(f"job {job.name!r} must be named {name}.<job>")

    def job(self, name: str) -> Job[S]:
        for job in self.jobs:
            if job.name == name:
                return job
        raise KeyError(name)

    def load_settings(self, **overrides: Any) -> S:
        return load(self.settings_class, **overrides)

    def build_runtime(self, settings: S) -> Runtime[S]:
        db = Database(settings.database_url_for(self.name), pool_size=settings.database_pool_size)
        channels = ServiceChannels.from_settings(settings)
        policy = policy_client_from_settings(
            settings.opa_url,
            settings.policies_dir,
            settings.policy_timeout_seconds,
            subject_roles=DirectorySubjectRoles(
                channels, self.name, ttl_seconds=settings.subject_roles_cache_seconds
            ),
        )
        return Runtime(name=self.name, settings=settings, db=db, policy=policy, channels=channels)

    async def migrate(self, settings: S) -> None:
        runtime_db = Database(settings.database_url_for(self.name))
        try:
            await migrations.upgrade(runtime_db.engine, self.migrations_dir)
        finally:
            await runtime_db.dispose()

    async def healthy(self, settings: S) -> bool:
        """Whether this host's process of the service says SERVING (``salesguard healthcheck``)."""
        address = f"127.0.0.1:{settings.grpc_port_for(self.name)}"
        async with grpc.aio.insecure_channel(address) as channel:
            try:
                reply = await health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(), timeout=HEALTHCHECK_SECONDS
                )
            except grpc.aio.AioRpcError:
                return False
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)

    async def start(self, settings: S, *, port: int | None = None) -> RunningService[S]:
        """Migrate (if configured), run start-up hooks and start serving."""
        runtime = self.build_runtime(settings)
        try:
            if settings.migrate_on_start:
                await migrations.upgrade(runtime.db.engine, self.migrations_dir)
            if self._on_start is not None:
                await self._on_start(runtime)
            server = GrpcServer(
                self._servicers(runtime),
                host=settings.grpc_host,
                port=settings.grpc_port_for(self.name) if port is None else port,
                internal_secret=runtime.internal_secret,
                max_connection_age_seconds=settings.grpc_max_connection_age_seconds,
                max_connection_age_grace_seconds=settings.grpc_max_connection_age_grace_seconds,
            )
            await server.start()
        except BaseException:
            await runtime.close()
            raise
        log.info("serving", extra={"service": self.name, "port": server.port})
        scheduler = None
        if settings.jobs_enabled and self.jobs:
            scheduler = JobScheduler(runtime, self.jobs)
            scheduler.start()
        return RunningService(runtime, server, scheduler)

    def main(self) -> None:
        """Run as a process until SIGTERM (the container's entry point)."""
        settings = self.load_settings()
        setup_logging(settings.log_level)
        setup_telemetry(self.name, settings.otel_exporter_otlp_endpoint)

        async def _run() -> None:
            running = await self.start(settings)
            await serve_until_signalled(
                running.server, settings.shutdown_grace_seconds, running.close
            )

        asyncio.run(_run())
