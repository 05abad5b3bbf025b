"""The orders service's scheduled jobs (see :mod:`salesguard.jobs`).

Payments are reconciled as they are written; what depends on the calendar runs here:
the daily reconciliation (incremental: the payments left open, the orders they match) with
its fake-deal check, and diversion risk (the rules:
:mod:`.rules.reconciliation`, :mod:`.rules.diversion`). Both
run as of the earliest day any branch has at the job's time, and both are idempotent
(alerts have stable dedupe keys; a second run changes nothing).
"""

from __future__ import annotations

from datetime import datetime

from salesguard.jobs import Job, JobSummary
from salesguard.principal import current_principal
from salesguard.service import Runtime
from salesguard_orders.diversion import Diversion
from salesguard_orders.ordering import Orders
from salesguard_orders.peers import earliest_day
from salesguard_orders.reconciliation import Reconciliation
from salesguard_orders.settings import OrdersSettings


async def reconcile_everything(runtime: Runtime[OrdersSettings], as_of: datetime) -> JobSummary:
    orders = Orders(runtime)
    day = await earliest_day(orders.zones, as_of)
    # Incremental: a day costs the day's payments, not history (the first run is full).
    run = await Reconciliation(runtime, orders).execute(
        day, run_by=current_principal().id, incremental=True
    )
    figures = run.figures
    return {
        "as_of": day.isoformat(),
        # What this run changed (payments are mostly matched as they are recorded).
        "payments_matched": sum(figures.matched.values()),
        "orders_changed": figures.classified,
        "fake_deals_raised": figures.raised.get("FAKE_DEAL_SUSPECTED", 0),
        "overdue_shipments_raised": figures.raised.get("SHIPMENT_OVERDUE", 0),
        "payer_mismatches_raised": figures.raised.get("PAYER_MISMATCH", 0),
        # Where things stand: the payments still open (an incremental run counts only the
        # orders it matched, so no totals of orders here).
        "payments_unmatched": run.response.payments_unmatched,
    }


async def detect_diversion(runtime: Runtime[OrdersSettings], as_of: datetime) -> JobSummary:
    orders = Orders(runtime)
    day = await earliest_day(orders.zones, as_of)
    found = await Diversion(runtime, orders.zones).detect_as_of(day)
    return {
        "as_of": day.isoformat(),
        "customers_checked": found.checked,
        "silent_customers": found.candidates,
        "alerts_raised": found.raised,
    }


RECONCILIATION: Job[OrdersSettings] = Job(
    name="orders.reconciliation",
    run=reconcile_everything,
    # A cluster runs it daily (jobs.schedules); a local process every hour, to show its work.
    interval_seconds=3600,
    description=(
        "match what is left, classify the orders matched, raise FAKE_DEAL_SUSPECTED and"
        " SHIPMENT_OVERDUE"
    ),
)

DIVERSION_RISK: Job[OrdersSettings] = Job(
    name="orders.diversion-risk",
    run=detect_diversion,
    interval_seconds=6 * 3600,
    description="raise DIVERSION_RISK for regular customers gone quiet while visited",
)

# Every job of the service, in the order `salesguard job --list` shows them.
JOBS: tuple[Job[OrdersSettings], ...] = (RECONCILIATION, DIVERSION_RISK)
