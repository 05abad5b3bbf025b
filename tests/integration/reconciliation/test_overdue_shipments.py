"""SHIPMENT_OVERDUE (O5): a fake deal's first sign, weeks before its payment falls due — an
order approved a week ago and neither shipped, back-ordered nor paid. Over the orders
service's gRPC API on PostgreSQL and OPA; approvals are moved back in time in the service's
own database, as time passing would.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from salesguard.errors import ErrorCode
from salesguard.principal import acting_as
from salesguard.timeutil import to_timestamp
from salesguard_api.common.v1 import common_pb2
from salesguard_api.orders.v1 import payments_pb2
from tests.harness import Suite, unique
from tests.integration.reconciliation.support import Client, customer, people_of, today
from tests.org import make_org
from tests.support.orders_service import move_approval, refused


async def test_an_order_approved_a_week_ago_and_left_unshipped_is_raised_once(
    suite: Suite, client: Client
) -> None:
    people = people_of(await make_org(suite))
    buyer = await customer(suite, people, unique("Never Delivered"))

    async def order_approved(days: int) -> str:
        # Due in five weeks: no fake-deal check is near.
        order = await client.approved_order(
            people,
            buyer,
            "4200.00",
            order_date=today() - timedelta(days=days),
            expected_payment_date=today() + timedelta(days=35),
        )
        await move_approval(suite, order.id, datetime.now(UTC) - timedelta(days=days))
        return order.id

    forgotten = await order_approved(9)
    recent = await order_approved(5)
    shipped = await order_approved(9)
    back_ordered = await order_approved(9)
    with acting_as(people.finance):
        await client.payments.RecordShipment(
            payments_pb2.RecordShipmentRequest(
                order_id=shipped,
                carrier="SF Express",
                tracking_number=unique("SF"),
                shipped_at=to_timestamp(datetime.now(UTC) - timedelta(days=1)),
            )
        )
        await client.payments.RecordBackOrder(
            payments_pb2.RecordBackOrderRequest(
                order_id=back_ordered,
                promised_ship_date=(today() + timedelta(days=10)).isoformat(),
                reason="the plant is out of glass",
            )
        )

    await client.run(people.finance)

    async def overdue(order_id: str) -> list[common_pb2.Alert]:
        return await client.list_alerts(people.hr, "SHIPMENT_OVERDUE", order_id=order_id)

    (alert,) = await overdue(forgotten)
    assert (alert.rule, alert.severity) == ("O5", common_pb2.SEVERITY_MEDIUM)
    assert (alert.employee_id, alert.customer_id) == (people.junior.id, buyer)
    evidence = dict(alert.evidence)
    assert evidence["days_since_approval"] in (9, 10)  # the UTC day against the branch's
    assert evidence["ship_within_days"] == 7
    for quiet in (recent, shipped, back_ordered):
        assert await overdue(quiet) == []
    # Not a fake deal yet: its payment is not due.
    assert not await client.list_alerts(people.hr, "FAKE_DEAL_SUSPECTED", order_id=forgotten)

    # Finance, who pays the commission, and the branch's manager read it; the rep it is
    # about does not.
    for reader in (people.finance, people.manager):
        readable = await client.list_alerts(reader, "SHIPMENT_OVERDUE", order_id=forgotten)
        assert [a.id for a in readable] == [alert.id]
    await refused(
        client.list_alerts(people.junior, "SHIPMENT_OVERDUE", order_id=forgotten),
        ErrorCode.FORBIDDEN,
    )

    # The next run raises it no second time.
    await client.run(people.finance)
    assert len(await overdue(forgotten)) == 1
