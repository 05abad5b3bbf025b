"""The customers service's scheduled jobs (see :mod:`salesguard.jobs`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete

from salesguard.jobs import Job, JobSummary
from salesguard.service import Runtime
from salesguard_customers.access import bulk_threshold
from salesguard_customers.models import ContactRead
from salesguard_customers.pool import POOL_SWEEP
from salesguard_customers.settings import CustomersSettings


async def prune_contact_reads(runtime: Runtime[CustomersSettings], as_of: datetime) -> JobSummary:
    """Delete contact reads older than the bulk-access window: the detector never counts them again.

    The reads themselves stay in the audit trail; this table only feeds the bulk-access detector.
    """
    cutoff = (await bulk_threshold(runtime.policy)).window_start(as_of)
    async with runtime.db.transaction() as session:
        result = await session.execute(delete(ContactRead).where(ContactRead.at <= cutoff))
    return {"deleted": int(result.rowcount or 0), "cutoff": cutoff.isoformat()}  # type: ignore[attr-defined]


CONTACT_READS_RETENTION: Job[CustomersSettings] = Job(
    name="customers.contact-reads-retention",
    run=prune_contact_reads,
    interval_seconds=3600,
    description="prune contact reads older than the bulk-access window",
)

# Every job of the service, in the order `salesguard job --list` shows them.
JOBS: tuple[Job[CustomersSettings], ...] = (CONTACT_READS_RETENTION, POOL_SWEEP)
