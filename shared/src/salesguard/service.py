"""How a gRPC service is assembled, started, migrated and stopped — the same for all four.

A service package declares one :class:`GrpcServiceApp` (its entry point in the
``salesguard.services`` group) with its settings class, models' metadata,
migrations folder and a function that builds its servicers from the
:class:`Runtime`; optionally a hook that completes every runtime (a job's command
builds one too) and background tasks that run while the process serves. Everything
else lives here.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar, cast

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from opentelemetry.instrumentation.utils import suppress_instrumentation
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from salesguard import eventloop, migrations
from salesguard.alertfeed import AlertFeed
from salesguard.alerts import AlertColumns, AlertDecisionColumns, AlertsServicer
from salesguard.db import Database
from salesguard.directory import DirectoryClient
from salesguard.feeds import ChangeFeed
from salesguard.grpc_client import ServiceChannels
from salesguard.grpc_server import GrpcServer, Servicer, serve_until_signalled
from salesguard.jobs import Job, JobScheduler
from salesguard.logs import setup_logging
from salesguard.objectstore import ObjectStore, object_store_from_settings
from salesguard.policy import PolicyClient, policy_client_from_settings
from salesguard.settings import Settings, load
from salesguard.subjects import DirectorySubjectRoles
from salesguard.telemetry import MetricsServer, setup_telemetry, start_metrics_server

log = logging.getLogger(__name__)
# How long `salesguard healthcheck` waits for the process to answer.
HEALTHCHECK_SECONDS = 3.0
# How long one readiness check of a dependency may take before it counts as failed.
READINESS_TIMEOUT_SECONDS = 2.0
S = TypeVar("S", bound=Settings)
F = TypeVar("F", bound=ChangeFeed)


@dataclass
class Runtime(Generic[S]):
    """What a service's servicers share: settings, database, policy, objects, peers."""

    name: str
    settings: S
    db: Database
    policy: PolicyClient
    channels: ServiceChannels
    _objects: ObjectStore | None = field(default=None, repr=False)
    _feeds: dict[str, ChangeFeed] = field(default_factory=dict, repr=False)
    _directory: DirectoryClient | None = field(default=None, repr=False)

    def feed(self, name: str, build: Callable[[Database], F]) -> F:
        """The process's one feed ``name`` over its database (listening once watched)."""
        if name not in self._feeds:
            self._feeds[name] = build(self.db)
        return cast(F, self._feeds[name])

    @property
    def alert_feed(self) -> AlertFeed:
        """The process's one feed of newly committed alerts."""
        return self.feed("alerts", AlertFeed)

    @property
    def directory(self) -> DirectoryClient:
        """The process's one view of the people directory, asked as the service itself."""
        if self._directory is None:
            self._directory = DirectoryClient(self.channels, self.name)
        return self._directory

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
        return Servicer.of(
            AlertsServicer(
                source=self.name,
                db=self.db,
                policy=self.policy,
                pages=self.settings.page_limits,
                model=model,
                decisions=decisions,
                feed=self.alert_feed,
            )
        )

    async def close(self) -> None:
        for feed in self._feeds.values():
            await feed.close()
        if self._directory is not None:
            await self._directory.close()
        await self.channels.close()
        await self.policy.close()
        await self.db.dispose()


# A task the service process runs while it serves; cancelled when it stops.
BackgroundTask = Callable[[Runtime[S]], Coroutine[Any, Any, None]]


async def unavailable_dependencies(runtime: Runtime[Any]) -> list[str]:
    """The dependencies without which the service cannot answer: its database and its
    policy engine (every request asks both). Empty when both answer within the timeout."""
    # Untraced: a trace per check, every few seconds per pod, would bury the requests'.
    with suppress_instrumentation():
        checks = {"database": runtime.db.ping(), "policy engine": runtime.policy.ping()}
        answers = await asyncio.gather(
            *(asyncio.wait_for(check, READINESS_TIMEOUT_SECONDS) for check in checks.values()),
            return_exceptions=True,
        )
    return [name for name, answer in zip(checks, answers, strict=True) if answer is not None]


class Readiness:
    """Keeps the health service's readiness in step with the dependencies, checked every
    ``readiness_check_seconds``; the ``liveness`` name stays SERVING meanwhile."""

    def __init__(self, runtime: Runtime[Any], server: GrpcServer, ready: bool) -> None:
        self._runtime = runtime
        self._server = server
        self.ready = ready

    async def check(self) -> bool:
        failing = await unavailable_dependencies(self._runtime)
        ready = not failing
        if ready != self.ready:
            await self._server.set_ready(ready)
            if ready:
                log.info("ready again: the database and the policy engine answer")
            else:
                log.warning("not ready: a dependency does not answer", extra={"failing": failing})
        self.ready = ready
        return ready

    async def watch(self) -> None:
        while True:
            await asyncio.sleep(self._runtime.settings.readiness_check_seconds)
            await self.check()


@dataclass
class RunningService(Generic[S]):
    runtime: Runtime[S]
    server: GrpcServer
    scheduler: JobScheduler[S] | None = None
    background: list[asyncio.Task[None]] = field(default_factory=list)
    readiness: Readiness | None = None
    metrics: MetricsServer | None = None

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
        """Stop the background tasks and the in-process jobs, then release the runtime."""
        for task in self.background:
            task.cancel()
        await asyncio.gather(*self.background, return_exceptions=True)
        self.background.clear()
        if self.scheduler is not None:
            await self.scheduler.stop()
        if self.metrics is not None:
            self.metrics.close()
            self.metrics = None
        await self.runtime.close()


@dataclass(eq=False)
class GrpcServiceApp(Generic[S]):
    """A service: its name, its settings, its tables (``models``: the service's declarative
    base, its migrations in ``migrations/`` beside the module that declares it), the
    servicers it serves on a runtime, and what else runs with them (jobs, background
    tasks, start-up work)."""

    name: str
    settings_class: type[S]
    models: type[DeclarativeBase]
    servicers: Callable[[Runtime[S]], Sequence[Servicer]]
    _: KW_ONLY
    on_start: Callable[[Runtime[S]], Awaitable[None]] | None = None
    jobs: Sequence[Job[S]] = ()
    configure: Callable[[Runtime[S]], None] | None = None
    background: Sequence[BackgroundTask[S]] = ()
    metadata: MetaData = field(init=False)
    migrations_dir: Path = field(init=False)

    def __post_init__(self) -> None:
        self.metadata = self.models.metadata
        self.migrations_dir = Path(inspect.getfile(self.models)).parent / "migrations"
        self.background = tuple(self.background)
        self.jobs = tuple(self.jobs)
        for job in self.jobs:
            if job.service != self.name:
                raise ValueError(f"job {job.name!r} must be named {self.name}.<job>")

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
        subject_roles = DirectorySubjectRoles(
            channels,
            self.name,
            ttl_seconds=settings.subject_roles_cache_seconds,
            page_size=settings.max_page_size,
        )
        policy = policy_client_from_settings(
            settings.opa_url,
            settings.policies_dir,
            settings.policy_timeout_seconds,
            decision_ttl_seconds=settings.policy_decision_cache_seconds,
            subject_roles=subject_roles,
        )
        runtime = Runtime(
            name=self.name, settings=settings, db=db, policy=policy, channels=channels
        )
        subject_roles.follow(lambda: runtime.directory.generation())
        if self.configure is not None:
            self.configure(runtime)
        return runtime

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
        """Migrate (if configured), make sure the bucket exists, run start-up hooks and start
        serving."""
        runtime = self.build_runtime(settings)
        metrics_server = None
        try:
            if settings.migrate_on_start:
                await migrations.upgrade(runtime.db.engine, self.migrations_dir)
            # Every service keeps evidence (photos, vouchers, statements, exports) there.
            await runtime.objects.ensure_bucket()
            if self.on_start is not None:
                await self.on_start(runtime)
            host, listen_port = settings.listen_address(self.name)
            server = GrpcServer(
                self.servicers(runtime),
                host=host,
                port=listen_port if port is None else port,
                internal_secret=runtime.internal_secret,
                max_connection_age_seconds=settings.grpc_max_connection_age_seconds,
                max_connection_age_grace_seconds=settings.grpc_max_connection_age_grace_seconds,
            )
            if settings.metrics_port is not None:
                metrics_server = start_metrics_server(host, settings.metrics_port)
            ready = not await unavailable_dependencies(runtime)
            await server.start(ready=ready)
        except BaseException:
            if metrics_server is not None:
                metrics_server.close()
            await runtime.close()
            raise
        log.info("serving", extra={"service": self.name, "port": server.port, "ready": ready})
        readiness = Readiness(runtime, server, ready)
        scheduler = None
        if settings.jobs_enabled and self.jobs:
            scheduler = JobScheduler(runtime, self.jobs)
            scheduler.start()
        background = [
            asyncio.create_task(
                task(runtime), name=f"{self.name}:{getattr(task, '__name__', 'task')}"
            )
            for task in self.background
        ]
        background.append(asyncio.create_task(readiness.watch(), name=f"{self.name}:readiness"))
        return RunningService(runtime, server, scheduler, background, readiness, metrics_server)

    def main(self) -> None:
        """Run as a process until SIGTERM (the container's entry point)."""
        settings = self.load_settings()
        setup_logging(settings.log_level)
        setup_telemetry(self.name, settings.otel_exporter_otlp_endpoint)

        async def _run() -> None:
            running = await self.start(settings)
            eventloop.settle_heap()
            await serve_until_signalled(
                running.server, settings.shutdown_grace_seconds, running.close
            )

        eventloop.run(_run(), uvloop=settings.uvloop)
