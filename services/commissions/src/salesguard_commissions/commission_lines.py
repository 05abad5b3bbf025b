"""The COMMISSION lines of a batch of valid orders: the facts each needs are looked up,
then the rules price it and give it its status.

One line per valid order, credited to the rep who submitted it. The hot loop of a run (a
million orders): names are bound locally, the rules' answers that depend only on the
source class are computed once per class, and the common case (no alert, no cap, nobody
frozen) builds no strings.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from salesguard_api.orders.v1 import payments_pb2
from salesguard_commissions.lines import NO_ALERT_IDS, LineRow, alert_ids_json
from salesguard_commissions.peers import SOURCE_NAMES, Peers
from salesguard_commissions.rules import locking, rates, withholding
from salesguard_commissions.rules.vocabulary import COMMISSION
from salesguard_commissions.run_context import RunContext

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


async def look_up(
    peers: Peers,
    context: RunContext,
    orders: Sequence[payments_pb2.ValidOrder],
    *,
    batch_size: int,
    cache_size: int,
) -> dict[str, str | None]:
    """The registered source of the batch's customers (None: unknown to the registry) and
    the current team of its submitters; only what this run has not seen yet is asked,
    by unique IDs, at most ``batch_size`` per call."""
    cache = context.sources
    wanted = {order.customer_id for order in orders}
    sources = {customer_id: cache[customer_id] for customer_id in wanted & cache.keys()}
    missing = sorted(wanted - sources.keys())
    if missing:
        found = await peers.registered_sources(missing, batch_size)
        if len(cache) + len(missing) > cache_size:
            cache.clear()  # bounded memory: a huge month asks again
        for customer_id in missing:
            sources[customer_id] = cache[customer_id] = found.get(customer_id)
    new_reps = {order.submitted_by for order in orders} - context.teams.keys()
    if new_reps:
        employees = await peers.employees(new_reps)
        for employee_id in new_reps:
            employee = employees.get(employee_id)
            context.teams[employee_id] = (employee.team_id or None) if employee else None
    return sources


def commission_rows(
    context: RunContext,
    frozen: dict[str, str],
    branch_id: str,
    orders: Sequence[payments_pb2.ValidOrder],
    sources: dict[str, str | None],
) -> list[LineRow]:
    """One COMMISSION line per valid order of the batch, once its lookups are done."""
    plan = context.plan
    period = str(context.period)
    alerts = context.withholding
    by_order = alerts.by_order
    by_customer = alerts.by_customer
    teams = context.teams
    cap = plan.cap_per_order_minor
    version = plan.version
    line_id = locking.line_ids(period, branch_id, COMMISSION)
    to_minor = rates.decimal_to_minor
    commission = rates.commission_minor
    line_status = withholding.line_status
    source_names = SOURCE_NAMES
    epoch = _EPOCH
    no_alerts = NO_ALERT_IDS
    # Per (registered source, claim code): the pricing, the claim's name and the status of a
    # line nothing else concerns (no alert, nobody frozen).
    by_class: dict[tuple[str | None, int], tuple[rates.Pricing, str, str]] = {}
    rows: list[LineRow] = []
    append = rows.append
    for order in orders:
        order_id = order.order_id
        customer_id = order.customer_id
        employee_id = order.submitted_by
        registered = sources.get(customer_id)
        claim_code = order.source_claim
        priced = by_class.get((registered, claim_code))
        if priced is None:
            claim = source_names.get(claim_code, "")
            pricing = rates.price(plan, registered, claim)
            plain = line_status(pricing.needs_review, pricing.reason, (), None)
            priced = by_class[registered, claim_code] = (pricing, claim, plain.status)
        pricing, claim, status = priced
        rate = pricing.rate_bp
        base = to_minor(order.total.value)
        amount = commission(base, rate)
        reason = pricing.reason
        alert_ids = no_alerts
        if cap is not None:
            amount, reason = rates.cap_per_order(amount, reason, cap)
        if order_id in by_order or customer_id in by_customer or employee_id in frozen:
            found = line_status(
                pricing.needs_review,
                reason,
                alerts.concerning(order_id, customer_id),
                frozen.get(employee_id),
            )
            status, reason = found.status, found.reason
            alert_ids = alert_ids_json(found.alert_ids)
        paid = order.fully_paid_at
        seconds, nanos = paid.seconds, paid.nanos
        append(
            (
                line_id(order_id),
                period,
                branch_id,
                employee_id,
                teams.get(employee_id) or order.team_id or None,
                order_id,
                order.code,
                customer_id,
                COMMISSION,
                status,
                base,
                rate,
                amount,
                order.currency,
                reason,
                alert_ids,
                claim,
                registered or "",
                version,
                epoch + timedelta(seconds=seconds, microseconds=nanos // 1000)
                if seconds or nanos
                else None,
            )
        )
    return rows
