"""Following the money (O6, M2's input): suspected fake deals, a regular customer gone quiet
(diversion risk), branch zones following the directory, and the stream of valid orders
— over the services' gRPC APIs on PostgreSQL, OPA and S3.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from salesguard.errors import ErrorCode, ServiceError
from salesguard.grpc_client import ServiceChannels
from salesguard.timeutil import from_timestamp, to_timestamp
from salesguard_api.common.v1 import common_pb2
from salesguard_api.orders.v1 import payments_pb2
from salesguard_orders.peers import BranchZones
from tests.harness import Suite, unique
from tests.integration.reconciliation.support import (
    SITE,
    UNPAID,
    Client,
    ago,
    customer,
    people_of,
    row,
    today,
)
from tests.org import UPSERT_BRANCH, admin, make_org

# -- the seed's third scenario: three approved orders, neither paid nor shipped ----------------------


async def test_three_unpaid_unshipped_orders_past_due_are_suspected_fake_deals(
    suite: Suite, client: Client
) -> None:
    people = people_of(await make_org(suite))
    buyer = await customer(suite, people, unique("Ghost Buyer"))
    orders = [
        await client.approved_order(
            people,
            buyer,
            total,
            order_date=today() - timedelta(days=45),
            expected_payment_date=today() - timedelta(days=15),
        )
        for total in ("18000.00", "26500.00", "9900.00")
    ]
    # Another approved order, due later: not past due, so not suspected.
    not_due = await client.approved_order(
        people, buyer, "100.00", order_date=today() - timedelta(days=5)
    )

    first = await client.run(people.finance)
    assert first.alerts_raised >= 3

    for order in orders:
        stored = await client.order(people.finance, order.id)
        assert stored.payment_state == UNPAID
        assert stored.paid_amount.value == "0.00"
        assert not stored.HasField("fully_paid_at")
    # Finance sees them past due in the reconciliation (the branch's manager too, and only
    # the branch's orders).
    items, _ = await client.reconciliation_items(people.finance, UNPAID)
    mine = {item.order.id: item for item in items if item.order.branch_id == people.org.branch}
    assert set(mine) == {order.id for order in [*orders, not_due]}
    for order in orders:
        item = mine[order.id]
        assert item.state == UNPAID
        assert (item.paid.value, item.due.value) == ("0.00", order.total.value)
        assert item.past_due
        assert item.expected_payment_date == (today() - timedelta(days=15)).isoformat()
        assert item.order.code == order.code
    assert not mine[not_due.id].past_due
    managed, unmatched = await client.reconciliation_items(people.manager)
    assert {item.order.id for item in managed} == set(mine)
    assert unmatched == []  # unmatched payments have no branch: only an "all" grant sees them

    # One FAKE_DEAL_SUSPECTED per order, on the rep who submitted it, for HR and the manager.
    for viewer in (people.hr, people.manager):
        for order in orders:
            alerts = await client.list_alerts(viewer, "FAKE_DEAL_SUSPECTED", order_id=order.id)
            assert len(alerts) == 1, (viewer.id, order.code)
            alert = alerts[0]
            assert (alert.rule, alert.severity) == ("O5", common_pb2.SEVERITY_HIGH)
            assert (alert.employee_id, alert.customer_id) == (people.junior.id, buyer)
            assert alert.branch_id == people.org.branch
            evidence = dict(alert.evidence)
            assert evidence["order_code"] == order.code
            assert evidence["total"] == order.total.value
            assert evidence["days_past_due"] == 15
            assert evidence["expected_payment_date"] == order.expected_payment_date
    assert not await client.list_alerts(people.hr, "FAKE_DEAL_SUSPECTED", order_id=not_due.id)

    # A re-run raises nothing twice.
    again = await client.run(people.finance)
    assert again.alerts_raised == 0
    for order in orders:
        assert (
            len(await client.list_alerts(people.hr, "FAKE_DEAL_SUSPECTED", order_id=order.id)) == 1
        )


# -- the seed's second scenario's signal: a regular customer goes quiet ---------------------------


async def test_a_regular_customer_gone_quiet_while_the_owner_visits_is_a_diversion_risk(
    suite: Suite, client: Client
) -> None:
    people = people_of(await make_org(suite))
    visited = await customer(
        suite, people, unique("Wuxi Steel"), location={"lat": SITE[0], "lng": SITE[1]}
    )
    quiet = await customer(suite, people, unique("Changzhou Glass"))
    # A monthly rhythm for five months, then silence for 120 days (4 × the interval).
    for buyer in (visited, quiet):
        for days in (240, 210, 180, 150, 120):
            await client.approved_order(
                people, buyer, "5000.00", order_date=today() - timedelta(days=days)
            )
    # Meanwhile the owner keeps visiting the first customer: two check-ins linked to it.
    for days in (2, 1):
        await client.visit(people.junior, visited, days_ago=days)

    detected = await client.detect_diversion_risk(people.hr)
    assert detected.alerts_raised >= 1
    assert detected.customers_checked >= 2
    alerts = await client.list_alerts(people.hr, "DIVERSION_RISK", customer_id=visited)
    assert len(alerts) == 1
    alert = alerts[0]
    assert (alert.rule, alert.employee_id, alert.branch_id) == (
        "O6",
        people.junior.id,
        people.org.branch,
    )
    evidence = dict(alert.evidence)
    assert evidence["usual_interval_days"] == 30
    assert evidence["days_silent"] == 120
    assert evidence["visits_since_last_order"] == 2
    assert evidence["calls_since_last_order"] == 0
    assert evidence["last_order_date"] == (today() - timedelta(days=120)).isoformat()
    assert evidence["owner_id"] == people.junior.id
    # The manager of the branch sees it too.
    assert await client.list_alerts(people.manager, "DIVERSION_RISK", customer_id=visited)
    # Silent too, but nobody kept in touch: no alert.
    assert not await client.list_alerts(people.hr, "DIVERSION_RISK", customer_id=quiet)

    again = await client.detect_diversion_risk(people.hr)
    assert again.alerts_raised == 0
    assert len(await client.list_alerts(people.hr, "DIVERSION_RISK", customer_id=visited)) == 1


# -- the valid-order stream (for commissions, M2) ------------------------------------------------------


async def test_the_stream_yields_exactly_the_orders_fully_paid_in_the_period_in_batches(
    suite: Suite, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    people = people_of(await make_org(suite))
    name = unique("Xiamen Tea")
    buyer = await customer(suite, people, name)
    totals = ("110.00", "120.00", "130.00", "140.00", "150.00", "160.00", "170.00", "180.00")
    orders = [
        await client.approved_order(people, buyer, total, order_date=today() - timedelta(days=30))
        for total in totals
    ]
    never_approved = await client.approved_order(
        people, buyer, "190.00", order_date=today() - timedelta(days=30), approve=False
    )
    start, end = ago(20, hour=0), ago(5, hour=0)
    paid = {  # order index → (amount, when)
        0: ("110.00", ago(19)),
        1: ("125.00", ago(18)),  # overpaid: valid
        2: ("100.00", ago(17)),  # partial: not valid
        3: ("140.00", ago(25)),  # paid before the period
        4: ("150.00", ago(2)),  # paid after the period
        5: ("160.00", ago(16)),
        6: ("170.00", ago(15)),
        # 7 stays unpaid
    }
    lines = [
        row(unique("BR"), when, amount, name, f"pay {orders[index].code}")
        for index, (amount, when) in paid.items()
    ]
    lines.append(row(unique("BR"), ago(14), "190.00", name, f"pay {never_approved.code}"))
    _, imported = await client.import_statement(suite, people.finance, lines)
    assert imported.applied
    await client.run(people.finance)

    # Small batches, to see them.
    orders_runtime = suite.running["orders"].runtime
    monkeypatch.setattr(
        orders_runtime,
        "settings",
        orders_runtime.settings.model_copy(update={"stream_batch_size": 2}),
    )
    request = payments_pb2.StreamValidOrdersRequest(
        paid_from=to_timestamp(start), paid_to=to_timestamp(end), branch_id=people.org.branch
    )
    batches = [batch async for batch in client.stream_valid_orders(people.system, request)]
    assert [len(batch.orders) for batch in batches] == [2, 2]
    streamed = [valid for batch in batches for valid in batch.orders]
    expected = [orders[index] for index in (0, 1, 5, 6)]  # by fully_paid_at
    assert [valid.order_id for valid in streamed] == [order.id for order in expected]
    first = streamed[0]
    assert (first.code, first.customer_id, first.submitted_by) == (
        orders[0].code,
        buyer,
        people.junior.id,
    )
    assert (first.team_id, first.branch_id) == (people.org.team_a, people.org.branch)
    assert (first.total.value, first.currency) == ("110.00", "CNY")
    assert from_timestamp(first.fully_paid_at, "fully_paid_at") == ago(19)
    assert first.source_claim == orders[0].source_claim
    # The stream is for services only.
    with pytest.raises(ServiceError) as refused:
        async for _ in client.stream_valid_orders(people.finance, request):
            pass
    assert refused.value.code is ErrorCode.FORBIDDEN


async def test_branch_zones_follow_the_directory_watch(suite: Suite) -> None:
    # A branch created, or its zone changed, just after orders read the branches: its days
    # (due dates, "today" of a detection) follow at once, not after a cache's age (the
    # diversion story above once read UTC's day for a branch created a moment before).
    orders = suite.running["orders"].runtime
    channels = ServiceChannels(
        {"attendance": suite.running["attendance"].address}, orders.internal_secret, 10
    )
    zones = BranchZones(channels, orders.directory.generation)
    org = await make_org(suite)
    assert await zones.zone(org.branch) == ZoneInfo("Asia/Shanghai")  # read just now

    async def zone_soon(branch: str, expected: str) -> None:
        deadline = asyncio.get_running_loop().time() + 3
        while (found := await zones.zone(branch)) != ZoneInfo(expected):
            assert asyncio.get_running_loop().time() < deadline, (branch, found)
            await asyncio.sleep(0.05)

    branch = unique("kiritimati")
    for time_zone in ("Pacific/Kiritimati", "Etc/GMT+12"):  # created, then moved
        await admin(
            suite,
            UPSERT_BRANCH,
            {"hrId": branch, "name": branch, "timeZone": time_zone, "headquarters": False},
        )
        await zone_soon(branch, time_zone)
