"""The commissions service's scheduled job (see :mod:`salesguard.jobs`): the draft of the
current month, so that statements show what reconciliation has made valid without anyone
pressing a button. Locking a period stays a human act (LockCommissionPeriod)."""

from __future__ import annotations

from datetime import datetime

from salesguard.jobs import Job, JobSummary
from salesguard.service import Runtime
from salesguard_commissions.plans import Plans
from salesguard_commissions.runs import Runs
from salesguard_commissions.settings import CommissionsSettings


async def draft_current_periods(
    runtime: Runtime[CommissionsSettings], as_of: datetime
) -> JobSummary:
    runs = await Runs(runtime, Plans(runtime)).draft_current_periods(as_of)
    summaries = [summary for run in runs for summary in run.summaries]
    return {
        "periods": ",".join(str(run.period) for run in runs),
        "branches": len(summaries),
        # Branches whose lines this run changed, and those whose month is locked already.
        "branches_changed": sum(len(run.changed) for run in runs),
        "branches_locked": sum(len(run.locked) for run in runs),
        "lines": sum(summary.lines for summary in summaries),
        "orders": sum(summary.orders for summary in summaries),
    }


DRAFT_RUN: Job[CommissionsSettings] = Job(
    name="commissions.draft-run",
    run=draft_current_periods,
    # A cluster runs it daily (jobs.schedules); a local process every hour.
    interval_seconds=3600,
    description="Draft: run each branch's current month as a draft (locked months stay as they are)",
)

JOBS: tuple[Job[CommissionsSettings], ...] = (DRAFT_RUN,)
