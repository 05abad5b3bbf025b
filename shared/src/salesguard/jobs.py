"""Scheduled jobs: declared by a service, run as a command or periodically in-process.

A service lists its :class:`Job` objects on its :class:`~salesguard.service.GrpcServiceApp`
(``jobs=``). A job is an async function of the service's :class:`~salesguard.service.Runtime`
and an ``as_of`` time that returns a small JSON-able summary; it must be idempotent for
one ``as_of`` — the lock below only keeps runs from overlapping.

- ``salesguard job NAME [--as-of ...]`` runs one now and prints one JSON line
  (Kubernetes CronJobs call this).
- With ``SALESGUARD_JOBS_ENABLED=true`` the service process runs each enabled job at
  start-up and then every interval (``make run``; off by default, and in tests).

Concurrent runs (two pods, a CronJob and a command) never overlap: on PostgreSQL a
session advisory lock per job name, held on a dedicated connection for the run; on
SQLite an exclusive flock on a file beside the database. The runner that does not get
the lock returns ``skipped`` at once instead of waiting: the other run does the work.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from opentelemetry import metrics
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from salesguard.db import Database, utcnow
from salesguard.errors import ErrorCode, ServiceError
from salesguard.principal import Principal, acting_as
from salesguard.settings import JobSchedule, Settings

if TYPE_CHECKING:  # service.py imports this module
    from salesguard.service import Runtime

log = logging.getLogger(__name__)
_meter = metrics.get_meter(__name__)
_runs = _meter.create_counter(
    "salesguard.jobs.runs",
    description="Scheduled job runs by job and status (applied, skipped, failed)",
)
_duration = _meter.create_histogram(
    "salesguard.jobs.duration",
    unit="s",
    description="How long job runs took, by job and status",
    explicit_bucket_boundaries_advisory=(0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0),
)

S = TypeVar("S", bound=Settings)
# What a job reports: counts of what it did, keyed by a short name.
JobSummary = dict[str, int | str]
# The policy action every job run is decided under (SYSTEM only, in data.json).
JOBS_RUN_ACTION = "jobs.run"
# The first retry of a failed scheduled run; each further failure doubles it, up to the
# job's own period.
FAILED_RETRY_SECONDS = 5.0


@dataclass(frozen=True)
class Job(Generic[S]):
    """One scheduled job of a service, named ``<service>.<kebab-name>``."""

    name: str
    run: Callable[[Runtime[S], datetime], Awaitable[JobSummary]]
    # Default period of the in-process scheduler; a deployment overrides it in settings.
    interval_seconds: float
    description: str = ""

    @property
    def service(self) -> str:
        return self.name.partition(".")[0]


class JobStatus(StrEnum):
    APPLIED = "applied"
    SKIPPED = "skipped"  # another runner held the lock
    FAILED = "failed"


@dataclass(frozen=True)
class JobOutcome:
    job: str
    as_of: datetime
    status: JobStatus
    summary: Mapping[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "job": self.job,
            "as_of": self.as_of.isoformat(),
            "status": self.status.value,
            "summary": dict(self.summary),
            "seconds": round(self.seconds, 3),
        }
        if self.error is not None:
            document["error"] = self.error
        return document


def advisory_lock_key(job_name: str) -> int:
    """A stable signed 64-bit key for ``pg_try_advisory_lock`` from the job's name."""
    digest = hashlib.sha256(f"salesguard.job:{job_name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


# SQLite in memory: one lock per database and job within this process (no other can see it).
_local_locks: dict[tuple[str, str], threading.Lock] = {}
_local_locks_guard = threading.Lock()


@contextmanager
def _sqlite_job_lock(db: Database, job_name: str) -> Iterator[bool]:
    """An exclusive flock on a file beside the database, per job: it keeps out other
    processes (`make run`'s scheduler and a `salesguard job` run beside it) and, being
    held per open file, other runners of this process; a process that dies drops it."""
    database = make_url(db.url).database
    if not database or database == ":memory:":
        with _local_locks_guard:
            lock = _local_locks.setdefault((db.url, job_name), threading.Lock())
        acquired = lock.acquire(blocking=False)
        try:
            yield acquired
        finally:
            if acquired:
                lock.release()
        return
    with Path(f"{database}.job-{job_name}.lock").open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@asynccontextmanager
async def job_lock(db: Database, job_name: str) -> AsyncIterator[bool]:
    """Yield whether this runner holds the job's lock; never waits for it."""
    if db.is_sqlite:
        with _sqlite_job_lock(db, job_name) as acquired:
            yield acquired
        return
    key = advisory_lock_key(job_name)
    # A dedicated connection in autocommit: the session lock lives as long as the connection
    # holds it, without an open transaction; if the process dies PostgreSQL releases it.
    async with db.engine.connect() as raw:
        connection = await raw.execution_options(isolation_level="AUTOCOMMIT")
        acquired = bool(await connection.scalar(select(func.pg_try_advisory_lock(key))))
        try:
            yield acquired
        finally:
            if acquired:
                await connection.scalar(select(func.pg_advisory_unlock(key)))


async def run_job(runtime: Runtime[S], job: Job[S], *, as_of: datetime | None = None) -> JobOutcome:
    """Run ``job`` once as the service's SYSTEM principal, unless another runner is at it.

    Never raises for the job's sake: a failure (the database, the policy engine, the job
    itself) is logged and returned as ``failed``, so a scheduler carries on and the
    command still prints its one line. Every run is counted (``salesguard.jobs.runs``).
    """
    outcome = await _run_job(runtime, job, as_of)
    attributes = {"job": outcome.job, "status": outcome.status.value}
    _runs.add(1, attributes)
    _duration.record(outcome.seconds, attributes)
    return outcome


async def _run_job(runtime: Runtime[S], job: Job[S], as_of: datetime | None) -> JobOutcome:
    moment = as_of or utcnow()
    if moment.tzinfo is None:
        raise ValueError("as_of must carry a time zone")
    started = time.monotonic()
    try:
        async with job_lock(runtime.db, job.name) as acquired:
            if not acquired:
                log.info("job skipped: another runner holds its lock", extra={"job": job.name})
                return JobOutcome(job.name, moment, JobStatus.SKIPPED)
            principal = Principal.system(runtime.name)
            with acting_as(principal):
                decision = await runtime.policy.decide(
                    principal, JOBS_RUN_ACTION, {"job": job.name}
                )
                decision.require(JOBS_RUN_ACTION)
                summary = await job.run(runtime, moment)
    except ServiceError as exc:
        if exc.code is not ErrorCode.UNAVAILABLE:
            log.exception("job failed", extra={"job": job.name})
        else:  # a peer still starting, or down: expected, and retried soon (JobScheduler)
            log.warning(
                "job failed: a service it needs is unavailable",
                extra={"job": job.name, "error": exc.message},
            )
        return JobOutcome(
            job.name, moment, JobStatus.FAILED, seconds=time.monotonic() - started, error=repr(exc)
        )
    except Exception as exc:
        log.exception("job failed", extra={"job": job.name})
        return JobOutcome(
            job.name, moment, JobStatus.FAILED, seconds=time.monotonic() - started, error=repr(exc)
        )
    outcome = JobOutcome(
        job.name, moment, JobStatus.APPLIED, summary, seconds=time.monotonic() - started
    )
    log.info("job done", extra=outcome.to_json())
    return outcome


class JobScheduler(Generic[S]):
    """Runs a service's enabled jobs in-process: at start-up, then every interval."""

    def __init__(self, runtime: Runtime[S], jobs: Sequence[Job[S]]) -> None:
        self._runtime = runtime
        self._jobs = jobs
        self._tasks: list[asyncio.Task[None]] = []
        # The latest outcome of each job, for logs and tests.
        self.outcomes: dict[str, JobOutcome] = {}

    def intervals(self) -> dict[str, float]:
        """The enabled jobs and their periods, from the job defaults and settings."""
        overrides: Mapping[str, JobSchedule] = self._runtime.settings.jobs
        periods: dict[str, float] = {}
        for job in self._jobs:
            schedule = overrides.get(job.name, JobSchedule())
            if schedule.enabled:
                periods[job.name] = schedule.interval_seconds or job.interval_seconds
        return periods

    def start(self) -> None:
        periods = self.intervals()
        known = {job.name for job in self._jobs}
        prefix = f"{self._runtime.name}."
        for name in self._runtime.settings.jobs:
            if name.startswith(prefix) and name not in known:
                log.warning("SALESGUARD_JOBS names an unknown job", extra={"job": name})
        for job in self._jobs:
            if job.name in periods:
                self._tasks.append(
                    asyncio.create_task(self._loop(job, periods[job.name]), name=job.name)
                )

    async def _loop(self, job: Job[S], period: float) -> None:
        retry = FAILED_RETRY_SECONDS
        while True:
            # run_job reports failures as an outcome. A failed run is tried again soon (its
            # peers may still be starting: make run starts every process at once), backing
            # off to the job's period; a run that succeeds waits the whole period.
            outcome = await run_job(self._runtime, job)
            self.outcomes[job.name] = outcome
            if outcome.status is JobStatus.FAILED:
                await asyncio.sleep(min(retry, period))
                retry *= 2
            else:
                retry = FAILED_RETRY_SECONDS
                await asyncio.sleep(period)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
