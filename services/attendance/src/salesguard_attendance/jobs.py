"""The attendance service's scheduled job (see :mod:`salesguard.jobs`): the detectors
(:mod:`.rules.streaks`, :mod:`.rules.calls`) over the recent past.

The detectors also run on write (a check-in, a call-log import), but a write sees only
what came before it: check-ins a phone syncs after a day offline arrive oldest last, so
the day that completes a photo-less streak was checked before the days that make it one;
call logs arrive in batches. Each hourly run re-checks every employee with check-ins or
calls dated in the window; alerts have dedupe keys from their evidence, so a re-run, or
the write path and the job, raise each alert once.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from salesguard.jobs import Job, JobSummary
from salesguard.service import Runtime
from salesguard_attendance.customer_lookups import CustomerLookups
from salesguard_attendance.detectors import Detectors
from salesguard_attendance.settings import AttendanceSettings

# How far back each run looks: check-ins synced late and call logs imported late arrive
# within it. (The streak detector looks further back from each day it checks.)
WINDOW = timedelta(days=3)
# Check-ins may carry a device time a little ahead of the server's.
CLOCK_SKEW = timedelta(minutes=10)


async def run_detectors(runtime: Runtime[AttendanceSettings], as_of: datetime) -> JobSummary:
    start, end = as_of - WINDOW, as_of + CLOCK_SKEW
    raised, employees = await Detectors(runtime, CustomerLookups(runtime)).run(start, end, None)
    return {"from": start.isoformat(), "employees_checked": employees, "alerts_raised": raised}


DETECTORS: Job[AttendanceSettings] = Job(
    name="attendance.detectors",
    run=run_detectors,
    interval_seconds=3600,
    description="photo-less streaks, repeated unregistered sites, call patterns",
)

JOBS: tuple[Job[AttendanceSettings], ...] = (DETECTORS,)
