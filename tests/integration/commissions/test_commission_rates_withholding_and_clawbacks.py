"""Commissions (M2–M5) end to end: paid, reconciled orders in the real orders service become
commission lines — rates by source class, withholding on alerts and clawbacks after a
locked period.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from salesguard.errors import ErrorCode
from salesguard.principal import Principal, acting_as
from salesguard_api.commissions.v1 import commissions_pb2 as pb
from salesguard_api.common.v1 import common_pb2, common_pb2_grpc
from salesguard_api.customers.v1 import customers_pb2
from salesguard_api.orders.v1 import payments_pb2
from tests.harness import Suite
from tests.integration.commissions.support import (
    CLAWBACK,
    COMPANY_CLAIM,
    CURRENT,
    PAYABLE,
    PENDING,
    PERIOD,
    PERSONAL_CLAIM,
    SHANGHAI,
    WITHHELD,
    Client,
    by_code,
    customer,
    half_up,
    month_of,
    this_month,
)
from tests.support.orders_service import People, refused

# -- M2/M3: rates by source class ----------------------------------------------------------------


async def test_rates_follow_the_registered_source_and_a_false_personal_claim_waits(
    suite: Suite, client: Client, people: People
) -> None:
    company = await customer(suite, people.junior, "WEBSITE")
    personal = await customer(suite, people.junior, "PERSONAL")
    fair, own, claimed = await client.paid_orders(
        people,
        [
            (people.junior, company, "1000.00", COMPANY_CLAIM),
            (people.junior, personal, "1000.00", PERSONAL_CLAIM),
            (people.junior, company, "200.00", PERSONAL_CLAIM),
        ],
    )
    (summary,) = await client.run(people.finance, people.org.branch)
    assert (summary.period, summary.branch_id) == (PERIOD, people.org.branch)
    assert summary.status == pb.PERIOD_STATUS_OPEN
    assert (summary.lines, summary.orders) == (3, 3)

    statement = await client.statement(people.junior, people.junior.id)
    lines = by_code(statement)
    assert set(lines) == {fair.code, own.code, claimed.code}

    company_line = lines[fair.code]
    assert (company_line.rate_percent.value, company_line.amount.value) == ("5.00", "50.00")
    assert company_line.base.value == "1000.00"
    assert company_line.status == PAYABLE
    assert company_line.registered_source == customers_pb2.SOURCE_CHANNEL_WEBSITE
    assert company_line.reason == "COMPANY_CHANNEL"

    personal_line = lines[own.code]
    assert (personal_line.rate_percent.value, personal_line.amount.value) == ("8.00", "80.00")
    assert personal_line.status == PAYABLE
    assert personal_line.registered_source == customers_pb2.SOURCE_CHANNEL_PERSONAL

    # M3: the rep claims PERSONAL for a company-channel customer.
    conflict = lines[claimed.code]
    assert (conflict.rate_percent.value, conflict.amount.value) == ("5.00", "10.00")
    assert conflict.status == PENDING
    assert conflict.reason == "SOURCE_CONFLICT"
    assert conflict.source_claim == customers_pb2.SOURCE_CHANNEL_PERSONAL
    assert conflict.registered_source == customers_pb2.SOURCE_CHANNEL_WEBSITE

    for line in statement.lines:
        assert line.employee_id == people.junior.id
        assert line.branch_id == people.org.branch
        assert line.period == PERIOD
        assert line.order_id and line.customer_id and line.currency == "CNY"
    (total,) = statement.totals
    assert (total.currency, total.payable.value, total.pending_review.value) == (
        "CNY",
        "130.00",
        "10.00",
    )
    assert (total.withheld.value, total.clawback.value) == ("0.00", "0.00")
    assert statement.period_status == pb.PERIOD_STATUS_OPEN
    assert summary.payable.value == "130.00" and summary.pending_review.value == "10.00"


# -- M2: withholding on alerts -------------------------------------------------------------------


async def alert_targets(client: Client, principal: Principal) -> set[str]:
    """IDs of the FAKE_DEAL_SUSPECTED alerts orders streams to a run (open or confirmed)."""
    stub = common_pb2_grpc.AlertsServiceStub(client.channels.channel("orders"))
    request = common_pb2.StreamAlertTargetsRequest(
        kinds=["FAKE_DEAL_SUSPECTED"],
        statuses=[
            common_pb2.ALERT_STATUS_OPEN,
            common_pb2.ALERT_STATUS_ACKNOWLEDGED,
            common_pb2.ALERT_STATUS_RESOLVED,
        ],
        resolutions=[common_pb2.ALERT_RESOLUTION_CONFIRMED],
    )
    with acting_as(principal):
        stream = stub.StreamAlertTargets(request)
        return {target.alert_id async for batch in stream for target in batch.targets}


async def test_an_alert_withholds_until_it_is_cleared(
    suite: Suite, client: Client, people: People
) -> None:
    company = await customer(suite, people.junior, "WEBSITE")
    today = datetime.now(SHANGHAI).date()
    ordered, due = (
        (today - timedelta(days=40)).isoformat(),
        (today - timedelta(days=35)).isoformat(),
    )
    # Approved, past due, no payment, no shipment: reconciliation raises FAKE_DEAL_SUSPECTED.
    suspects = []
    for amount in ("300.00", "400.00", "500.00"):
        order = await client.submit(
            people.junior, company, amount, order_date=ordered, expected_payment_date=due
        )
        suspects.append(await client.approve(people.manager, order))
    await client.reconcile(people.finance)
    alerts: dict[str, common_pb2.Alert] = {}
    for order in suspects:
        (alert,) = [
            a
            for a in await client.list_alerts(people.hr, order_id=order.id)
            if a.kind == "FAKE_DEAL_SUSPECTED"
        ]
        assert alert.status == common_pb2.ALERT_STATUS_OPEN
        alerts[order.id] = alert
    # The money arrives later (in the period); the alerts stay until someone decides.
    for order in suspects:
        await client.pay(people.finance, order)
    (clean,) = await client.paid_orders(people, [(people.junior, company, "100.00", COMPANY_CLAIM)])

    await client.run(people.finance, people.org.branch)
    lines = by_code(await client.statement(people.finance, people.junior.id))
    assert lines[clean.code].status == PAYABLE
    for order in suspects:
        line = lines[order.code]
        assert line.status == WITHHELD, line
        assert list(line.alert_ids) == [alerts[order.id].id]
        assert "FAKE_DEAL_SUSPECTED" in line.reason
        assert line.amount.value == str(half_up(order.total.value, "5"))

    cleared, confirmed, dismissed = suspects
    await client.update_alert(
        people.hr,
        alerts[cleared.id].id,
        common_pb2.ALERT_STATUS_RESOLVED,
        common_pb2.ALERT_RESOLUTION_CLEARED,
    )
    await client.update_alert(
        people.hr,
        alerts[confirmed.id].id,
        common_pb2.ALERT_STATUS_RESOLVED,
        common_pb2.ALERT_RESOLUTION_CONFIRMED,
    )
    await client.update_alert(people.hr, alerts[dismissed.id].id, common_pb2.ALERT_STATUS_DISMISSED)
    # What a run is sent: open alerts and confirmed ones, never cleared or dismissed ones.
    sent = await alert_targets(client, Principal.system("commissions"))
    assert alerts[confirmed.id].id in sent
    assert not {alerts[cleared.id].id, alerts[dismissed.id].id} & sent
    await refused(alert_targets(client, people.junior), ErrorCode.FORBIDDEN)

    (summary,) = await client.run(people.finance, people.org.branch)
    statement = await client.statement(people.finance, people.junior.id)
    lines = by_code(statement)
    assert lines[cleared.code].status == PAYABLE
    assert list(lines[cleared.code].alert_ids) == []
    assert lines[cleared.code].reason == "COMPANY_CHANNEL"
    assert lines[dismissed.code].status == PAYABLE
    # Confirmed: the deal was fake; the line stays held back.
    assert lines[confirmed.code].status == WITHHELD
    assert list(lines[confirmed.code].alert_ids) == [alerts[confirmed.id].id]
    (total,) = statement.totals
    assert total.withheld.value == "20.00"
    assert total.payable.value == "45.00"  # 5 + 15 + 25
    assert summary.withheld.value == "20.00"


# -- M4/M5: clawback after a locked period -------------------------------------------------------


async def test_a_reversal_after_the_lock_claws_back_in_the_next_period(
    suite: Suite, client: Client, people: People
) -> None:
    company = await customer(suite, people.junior, "WEBSITE")
    kept, reversed_order = await client.paid_orders(
        people,
        [
            (people.junior, company, "800.00", COMPANY_CLAIM),
            (people.junior, company, "600.00", COMPANY_CLAIM),
        ],
    )
    branch = people.org.branch
    await refused(client.lock(people.finance, branch), ErrorCode.FAILED_PRECONDITION)
    await client.run(people.finance, branch)
    locked = await client.lock(people.finance, branch)
    assert locked.status == pb.PERIOD_STATUS_LOCKED
    assert locked.locked_by == people.finance.id
    assert (await client.lock(people.finance, branch)).locked_at == locked.locked_at
    before = await client.statement(people.junior, people.junior.id)
    assert before.period_status == pb.PERIOD_STATUS_LOCKED
    assert by_code(before)[reversed_order.code].amount.value == "30.00"

    # The customer's bank takes the money back after the period was paid out.
    await client.reverse_payment(
        people.finance,
        reversed_order.id,
        payments_pb2.REVERSAL_KIND_CHARGEBACK,
        "card holder disputed",
    )
    await client.reconcile(people.finance)

    # A locked period never changes, nor runs again.
    await refused(client.run(people.finance, branch), ErrorCode.FAILED_PRECONDITION)
    for _ in range(2):  # re-running the next period writes the clawback once
        (summary,) = await client.run(people.finance, branch, CURRENT)
    assert summary.lines == 1 and summary.clawback.value == "-30.00"
    after = await client.statement(people.junior, people.junior.id)
    assert after == before

    current = await client.statement(people.junior, people.junior.id, CURRENT)
    (clawback,) = [line for line in current.lines if line.order_id == reversed_order.id]
    assert clawback.kind == CLAWBACK
    assert clawback.amount.value == "-30.00"
    assert clawback.period == CURRENT
    assert clawback.status == PAYABLE
    assert PERIOD in clawback.reason and "CHARGEBACK" in clawback.reason
    assert not [line for line in current.lines if line.order_id == kept.id]
    (total,) = current.totals
    assert (total.clawback.value, total.payable.value) == ("-30.00", "0.00")


async def test_a_reversal_in_the_locked_month_itself_claws_back_in_the_next_period(
    suite: Suite, client: Client, people: People
) -> None:
    """The month is run and locked before its end, then a payment of that month is reversed
    within the same month: the next month's run claws it back, once, and later ones leave it."""
    company = await customer(suite, people.junior, "WEBSITE")
    start_of_month = datetime.combine(this_month(), datetime.min.time(), SHANGHAI)
    paid_at = max(datetime.now(SHANGHAI) - timedelta(minutes=5), start_of_month)
    (order,) = await client.paid_orders(
        people, [(people.junior, company, "1000.00", COMPANY_CLAIM)], paid_at
    )
    branch = people.org.branch
    await client.run(people.finance, branch, CURRENT)
    await client.lock(people.finance, branch, CURRENT)
    await client.reverse_payment(
        people.finance, order.id, payments_pb2.REVERSAL_KIND_REFUND, "goods returned"
    )
    await client.reconcile(people.finance)

    following = month_of((this_month() + timedelta(days=32)).replace(day=1))
    after_that = month_of((this_month() + timedelta(days=63)).replace(day=1))
    for _ in range(2):
        (summary,) = await client.run(people.finance, branch, following)
    assert summary.clawback.value == "-50.00"  # 5 % of the company channel's 1000.00
    statement = await client.statement(people.junior, people.junior.id, following)
    (clawback,) = [line for line in statement.lines if line.order_id == order.id]
    assert (clawback.kind, clawback.period) == (CLAWBACK, following)
    assert CURRENT in clawback.reason and "REFUND" in clawback.reason

    await client.lock(people.finance, branch, following)
    (later,) = await client.run(people.finance, branch, after_that)
    assert later.clawback.value == "0.00"  # clawed back once, in the month after the lock
