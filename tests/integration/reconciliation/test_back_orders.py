"""Back-orders (O4, O5): an approved order whose goods cannot ship yet carries the day they
are promised to ship, and the fake-deal check waits for that day too — but no longer, and
no later than the policy data allows. Over the orders service's gRPC API on PostgreSQL and
OPA.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select

from salesguard.errors import ErrorCode
from salesguard.principal import Principal, acting_as
from salesguard.timeutil import to_timestamp
from salesguard_api.common.v1 import common_pb2
from salesguard_api.orders.v1 import payments_pb2
from salesguard_orders.models import BackOrder
from tests.harness import Suite, unique
from tests.integration.reconciliation.support import Client, customer, people_of, today
from tests.org import make_org
from tests.support.orders_service import refused

GRACE_DAYS = 7  # policy data fake_deal.grace_days
MAX_DAYS = 60  # policy data fake_deal.back_order_max_days


async def back_order(
    client: Client,
    principal: Principal,
    order_id: str,
    promised: date | str,
    reason: str = "out of stock at the plant",
    key: str = "",
) -> payments_pb2.BackOrder:
    request = payments_pb2.RecordBackOrderRequest(
        order_id=order_id,
        promised_ship_date=promised if isinstance(promised, str) else promised.isoformat(),
        reason=reason,
        idempotency_key=key,
    )
    with acting_as(principal):
        return (await client.payments.RecordBackOrder(request)).back_order


async def test_a_back_ordered_deal_is_suspected_only_once_its_promise_is_broken(
    suite: Suite, client: Client
) -> None:
    people = people_of(await make_org(suite))
    buyer = await customer(suite, people, unique("Late Stock Buyer"))

    async def past_due_order(total: str) -> str:
        order = await client.approved_order(
            people,
            buyer,
            total,
            order_date=today() - timedelta(days=50),
            expected_payment_date=today() - timedelta(days=20),
        )
        return order.id

    unexplained = await past_due_order("1000.00")
    postponed = await past_due_order("1100.00")
    on_the_day = await past_due_order("1200.00")
    broken = await past_due_order("1300.00")
    # The first promise was missed; the latest one counts.
    await back_order(client, people.finance, postponed, today() - timedelta(days=12))
    recorded = await back_order(client, people.finance, postponed, today() + timedelta(days=5))
    assert recorded.promised_ship_date == (today() + timedelta(days=5)).isoformat()
    assert recorded.recorded_by == people.finance.id
    # Promised for the grace's last day: a parcel may still be leaving.
    await back_order(client, people.finance, on_the_day, today() - timedelta(days=GRACE_DAYS))
    await back_order(client, people.finance, broken, today() - timedelta(days=GRACE_DAYS + 1))

    await client.run(people.finance)

    async def suspected(order_id: str) -> list[common_pb2.Alert]:
        return await client.list_alerts(people.hr, "FAKE_DEAL_SUSPECTED", order_id=order_id)

    assert len(await suspected(unexplained)) == 1
    assert await suspected(postponed) == []
    assert await suspected(on_the_day) == []
    (alert,) = await suspected(broken)
    assert (
        dict(alert.evidence)["promised_ship_date"]
        == (today() - timedelta(days=GRACE_DAYS + 1)).isoformat()
    )
    # Everyone who reads the order reads the promise.
    stored = await client.order(people.junior, postponed)
    assert stored.promised_ship_date == (today() + timedelta(days=5)).isoformat()
    assert (await client.order(people.junior, unexplained)).promised_ship_date == ""


async def test_a_back_order_is_bounded_and_only_for_an_order_that_can_still_ship(
    suite: Suite, client: Client
) -> None:
    org = await make_org(suite)
    people = people_of(org)
    buyer = await customer(suite, people, unique("Bounded Promise Buyer"))
    due = today() - timedelta(days=1)
    order = await client.approved_order(
        people, buyer, "500.00", order_date=today() - timedelta(days=31), expected_payment_date=due
    )
    latest = due + timedelta(days=MAX_DAYS)

    # Who: the rep who would profit, and another branch's manager, are refused before the
    # request is even read.
    other_manager = Principal(org.other_manager, ("MANAGER",), None, org.other_branch)
    for outsider in (people.junior, other_manager):
        await refused(back_order(client, outsider, order.id, "not a day"), ErrorCode.FORBIDDEN)
    # Nor may the manager who approved it vouch for its delay (a colluding approver would
    # hide the fake deals they approve); finance, or a manager who did not approve it, may.
    error = await refused(back_order(client, people.manager, order.id, due), ErrorCode.FORBIDDEN)
    assert "approved" in error.message
    co_manager = Principal(org.manager_2, ("MANAGER",), None, org.branch)

    # What: a promise beyond the bound, before the order, malformed, or without a reason.
    error = await refused(
        back_order(client, people.finance, order.id, latest + timedelta(days=1)),
        ErrorCode.VALIDATION,
    )
    assert error.field == "promised_ship_date"
    assert latest.isoformat() in error.message
    for promised in (today() - timedelta(days=40), "2026-13-01", ""):
        error = await refused(
            back_order(client, people.finance, order.id, promised), ErrorCode.VALIDATION
        )
        assert error.field == "promised_ship_date"
    error = await refused(
        back_order(client, people.finance, order.id, latest, reason="  "), ErrorCode.VALIDATION
    )
    assert error.field == "reason"
    assert (await client.order(people.finance, order.id)).promised_ship_date == ""

    # The bound itself is accepted; a retry with the same key is the same back-order.
    key = unique("back-order")
    first = await back_order(client, co_manager, order.id, latest, key=key)
    again = await back_order(client, co_manager, order.id, latest, key=key)
    assert again.id == first.id
    assert (await client.order(people.finance, order.id)).promised_ship_date == latest.isoformat()

    # When: an order not approved yet, or shipped already, is no back-order.
    submitted = await client.approved_order(
        people, buyer, "60.00", order_date=today() - timedelta(days=2), approve=False
    )
    await refused(
        back_order(client, people.finance, submitted.id, today()), ErrorCode.FAILED_PRECONDITION
    )
    with acting_as(people.manager):
        await client.payments.RecordShipment(
            payments_pb2.RecordShipmentRequest(
                order_id=order.id,
                carrier="SF Express",
                tracking_number=unique("SF"),
                shipped_at=to_timestamp(datetime.now(UTC) - timedelta(hours=1)),
            )
        )
    await refused(
        back_order(client, people.finance, order.id, today()), ErrorCode.FAILED_PRECONDITION
    )


async def test_twenty_back_orders_at_once_are_each_kept_and_the_last_one_counts(
    suite: Suite, client: Client
) -> None:
    people = people_of(await make_org(suite))
    buyer = await customer(suite, people, unique("Busy Warehouse Buyer"))
    order = await client.approved_order(
        people, buyer, "900.00", order_date=today() - timedelta(days=3)
    )
    promises = [today() + timedelta(days=n) for n in range(1, 21)]
    recorded = await asyncio.gather(
        *(back_order(client, people.finance, order.id, promised) for promised in promises)
    )
    assert len({r.id for r in recorded}) == 20
    async with suite.running["orders"].runtime.db.read() as session:
        rows = (
            await session.execute(
                select(BackOrder.promised_ship_date, BackOrder.recorded_at)
                .where(BackOrder.order_id == order.id)
                .order_by(BackOrder.recorded_at)
            )
        ).all()
    assert sorted(row.promised_ship_date for row in rows) == promises
    # The order's row is locked by each: the one recorded last is the order's promise.
    stored = await client.order(people.finance, order.id)
    assert stored.promised_ship_date == rows[-1].promised_ship_date.isoformat()
