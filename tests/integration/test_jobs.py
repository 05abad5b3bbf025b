"""Scheduled jobs: the command, the in-process scheduler, and one run at a time.

The job under test is customers.contact-reads-retention, on the full profile's
PostgreSQL and OPA server; concurrency is checked on PostgreSQL (advisory lock,
also across processes) and on SQLite (process-local lock).
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from salesguard import cli, jobs
from salesguard.errors import Unavailable
from salesguard.jobs import Job, JobScheduler, JobStatus, JobSummary, job_lock, run_job
from salesguard.service import Runtime
from salesguard_customers.jobs import CONTACT_READS_RETENTION
from salesguard_customers.models import ContactRead
from salesguard_customers.server import service as customers_app
from tests.harness import POLICIES, REPO, Suite
from tests.org import make_org, register
from tests.support.jobs import run_job_command
from tests.support.servers import free_port

CUSTOMER = "query($id: ID!) { customer(id: $id) { id phone maskedFields } }"
# The C8 window in policy data (thresholds.bulk_contact_access.window_seconds).
WINDOW = timedelta(hours=1)


def customers_runtime(suite: Suite) -> Runtime[Any]:
    return suite.running["customers"].runtime  # type: ignore[no-any-return]


async def reads_of(runtime: Runtime[Any], actor_id: str) -> int:
    async with runtime.db.read() as session:
        return int(
            await session.scalar(
                select(func.count())
                .select_from(ContactRead)
                .where(ContactRead.actor_id == actor_id)
            )
            or 0
        )


async def read_contacts(suite: Suite, reader: str) -> None:
    """The reader registers a customer and opens it: one unmasked contact read."""
    customer = await register(suite, as_=reader)
    opened = (await suite.gql(CUSTOMER, {"id": customer["id"]}, as_=reader)).ok()
    assert opened["customer"]["maskedFields"] == []


def job_command(suite: Suite, *args: str) -> tuple[int, dict[str, Any]]:
    """``salesguard job ...`` in a process of its own, configured like a CronJob's pod."""
    settings = customers_runtime(suite).settings
    env = {
        **os.environ,
        "SALESGUARD_PROFILE": "full",
        "SALESGUARD_DATABASE_URL": settings.database_url,
        "SALESGUARD_OPA_URL": settings.opa_url,
        "SALESGUARD_POLICIES_DIR": str(REPO / "policies"),
    }
    return run_job_command(env, *args, timeout=60)


async def test_retention_command_prunes_old_reads_once(suite: Suite) -> None:
    org = await make_org(suite)
    runtime = customers_runtime(suite)
    await read_contacts(suite, org.junior)
    assert await reads_of(runtime, org.junior) == 1

    # Within the window the detector still needs the read: nothing goes.
    now = datetime.now(UTC)
    kept = await run_job(runtime, CONTACT_READS_RETENTION, as_of=now)
    assert kept.status is JobStatus.APPLIED
    assert await reads_of(runtime, org.junior) == 1

    later = (now + WINDOW + timedelta(minutes=1)).isoformat()
    code, first = await asyncio.to_thread(
        job_command, suite, "customers.contact-reads-retention", "--as-of", later
    )
    assert (code, first["status"], first["job"]) == (0, "applied", CONTACT_READS_RETENTION.name)
    assert first["summary"]["deleted"] >= 1
    assert await reads_of(runtime, org.junior) == 0

    code, second = await asyncio.to_thread(
        job_command, suite, "customers.contact-reads-retention", "--as-of", later
    )
    assert (code, second["status"], second["summary"]["deleted"]) == (0, "applied", 0)


def test_command_refuses_unknown_jobs_and_naive_times(capsys: pytest.CaptureFixture[str]) -> None:
    for args, complaint in (
        (["customers.no-such-job"], "unknown job"),
        (["customers.contact-reads-retention", "--as-of", "2026-11-27T00:00"], "UTC offset"),
        (["customers.contact-reads-retention", "--as-of", "yesterday"], "ISO-8601"),
    ):
        with pytest.raises(SystemExit, match=complaint):
            cli.main(["job", *args])
    assert capsys.readouterr().out == ""


def test_command_lists_the_jobs(capsys: pytest.CaptureFixture[str]) -> None:
    cli.main(["job", "--list"])
    listed = {line.split("\t")[0] for line in capsys.readouterr().out.splitlines()}
    assert {"customers.contact-reads-retention", "customers.pool-sweep"} <= listed


async def test_command_skips_while_another_runner_holds_the_lock(suite: Suite) -> None:
    org = await make_org(suite)
    runtime = customers_runtime(suite)
    await read_contacts(suite, org.junior)
    later = (datetime.now(UTC) + WINDOW + timedelta(minutes=1)).isoformat()
    # This process holds the job's advisory lock, as a pod's run in progress would.
    async with job_lock(runtime.db, CONTACT_READS_RETENTION.name) as held:
        assert held
        code, summary = await asyncio.to_thread(
            job_command, suite, "customers.contact-reads-retention", "--as-of", later
        )
    assert (code, summary["status"]) == (0, "skipped")
    assert await reads_of(runtime, org.junior) == 1  # the skipped run changed nothing


def gated_job(name: str, entered: asyncio.Event, release: asyncio.Event) -> Job[Any]:
    """A job that counts its runs and waits until released, to overlap two runs for sure."""
    runs: list[datetime] = []

    async def hold(runtime: Runtime[Any], as_of: datetime) -> JobSummary:
        runs.append(as_of)
        entered.set()
        await release.wait()
        return {"runs": len(runs)}

    return Job(name=name, run=hold, interval_seconds=3600)


async def overlapping_runs(runtime: Runtime[Any], name: str) -> list[JobStatus]:
    entered, release = asyncio.Event(), asyncio.Event()
    job = gated_job(name, entered, release)
    first = asyncio.create_task(run_job(runtime, job))
    await asyncio.wait_for(entered.wait(), 10)
    second = await asyncio.wait_for(run_job(runtime, job), 10)  # returns at once: skipped
    release.set()
    outcomes = [(await first), second]
    assert outcomes[0].summary == {"runs": 1}  # the job body ran once
    return [outcome.status for outcome in outcomes]


async def test_concurrent_runs_on_postgres_one_applies_one_skips(suite: Suite) -> None:
    statuses = await overlapping_runs(customers_runtime(suite), "customers.test-overlap")
    assert statuses == [JobStatus.APPLIED, JobStatus.SKIPPED]


async def test_concurrent_runs_on_sqlite_one_applies_one_skips(embedded_suite: Suite) -> None:
    runtime = customers_runtime(embedded_suite)
    assert runtime.db.is_sqlite
    statuses = await overlapping_runs(runtime, "customers.test-overlap")
    assert statuses == [JobStatus.APPLIED, JobStatus.SKIPPED]
    # The lock is released after the run: the next one applies.
    entered, release = asyncio.Event(), asyncio.Event()
    release.set()
    outcome = await run_job(runtime, gated_job("customers.test-overlap", entered, release))
    assert outcome.status is JobStatus.APPLIED


async def test_failing_job_reports_failure_and_frees_the_lock(suite: Suite) -> None:
    runtime = customers_runtime(suite)

    async def broken(runtime: Runtime[Any], as_of: datetime) -> JobSummary:
        raise RuntimeError("the sweep hit a wall")

    job: Job[Any] = Job(name="customers.test-broken", run=broken, interval_seconds=60)
    failed = await run_job(runtime, job)
    assert failed.status is JobStatus.FAILED
    assert failed.error is not None and "hit a wall" in failed.error
    async with job_lock(runtime.db, job.name) as held:
        assert held


async def test_scheduler_runs_enabled_jobs_at_start_and_stops(suite: Suite) -> None:
    runtime = customers_runtime(suite)
    ran = asyncio.Event()

    async def mark(runtime: Runtime[Any], as_of: datetime) -> JobSummary:
        ran.set()
        return {}

    job: Job[Any] = Job(name="customers.test-scheduled", run=mark, interval_seconds=3600)
    scheduler = JobScheduler(runtime, [job])
    assert scheduler.intervals() == {"customers.test-scheduled": 3600}
    scheduler.start()
    try:
        await asyncio.wait_for(ran.wait(), 10)
    finally:
        await scheduler.stop()


async def test_a_scheduled_run_that_found_a_peer_unavailable_is_retried_soon(
    suite: Suite, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # make run starts every process at once: a job's first run may find the directory
    # still starting. It is tried again within seconds, not after its hour.
    monkeypatch.setattr(jobs, "FAILED_RETRY_SECONDS", 0.1)
    runtime = customers_runtime(suite)
    attempts: list[datetime] = []
    applied = asyncio.Event()

    async def needs_the_directory(runtime: Runtime[Any], as_of: datetime) -> JobSummary:
        attempts.append(as_of)
        if len(attempts) < 3:
            raise Unavailable("a service is unavailable")
        applied.set()
        return {"done": 1}

    job: Job[Any] = Job(name="customers.test-peer", run=needs_the_directory, interval_seconds=3600)
    scheduler = JobScheduler(runtime, [job])
    scheduler.start()
    try:
        await asyncio.wait_for(applied.wait(), 10)  # with an hour's period: only by retries
    finally:
        await scheduler.stop()
    assert len(attempts) == 3
    # Expected at start-up: a warning without a traceback, not an error.
    failures = [r for r in caplog.records if getattr(r, "job", None) == job.name and r.exc_info]
    assert failures == []


def test_settings_override_a_jobs_interval_or_turn_it_off(suite: Suite) -> None:
    runtime = customers_runtime(suite)
    other: Job[Any] = Job(
        name="customers.test-other", run=CONTACT_READS_RETENTION.run, interval_seconds=60
    )
    settings = customers_app.load_settings(
        **{
            **runtime.settings.model_dump(),
            "jobs": {
                CONTACT_READS_RETENTION.name: {"interval_seconds": 120},
                "customers.test-other": {"enabled": False},
            },
        }
    )
    scheduler = JobScheduler(replace(runtime, settings=settings), [CONTACT_READS_RETENTION, other])
    assert scheduler.intervals() == {CONTACT_READS_RETENTION.name: 120}


def test_service_declares_its_jobs() -> None:
    assert customers_app.job("customers.contact-reads-retention") is CONTACT_READS_RETENTION
    with pytest.raises(KeyError):
        customers_app.job("customers.no-such-job")


async def test_a_service_with_jobs_enabled_runs_them_itself(tmp_path: Path) -> None:
    """What `make run` does: the service process sweeps on its own, as configured."""
    settings = customers_app.load_settings(
        data_dir=tmp_path,
        policies_dir=POLICIES,
        jobs_enabled=True,
        jobs={"customers.pool-sweep": {"enabled": False}},
    )
    running = await customers_app.start(settings, port=free_port())
    try:
        scheduler = running.scheduler
        assert scheduler is not None
        assert scheduler.intervals() == {CONTACT_READS_RETENTION.name: 3600}
        for _ in range(100):
            if CONTACT_READS_RETENTION.name in scheduler.outcomes:
                break
            await asyncio.sleep(0.1)
        outcome = scheduler.outcomes[CONTACT_READS_RETENTION.name]
        assert outcome.status is JobStatus.APPLIED, outcome
        assert set(scheduler.outcomes) == {CONTACT_READS_RETENTION.name}
    finally:
        await running.stop()


async def test_jobs_are_off_unless_enabled(suite: Suite) -> None:
    assert suite.running["customers"].scheduler is None
