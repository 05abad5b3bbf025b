"""The order's submitter on its approvals, payments and shipments (issue 16, timeline).

An employee's timeline reads the steps, payments and shipments of their orders by the
submitter each row carries (``order_submitted_by``). Every write path fills it: a submitted
order's steps, a shipment, a payment recorded for an order, and a payment reconciliation
matches later (by a quoted code on the write, by the code or by customer + amount in a
statement import); a payment of nobody's order has none. And the timeline lists exactly
the rows it listed by joining each to its order: the same items, for HR and the manager.
Real PostgreSQL, S3 and OPA, over the services' gRPC APIs.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text

from salesguard.principal import Principal, acting_as
from salesguard.timeutil import to_timestamp
from salesguard_api.common.v1 import common_pb2
from salesguard_api.orders.v1 import orders_pb2, payments_pb2, timeline_pb2_grpc
from salesguard_api.orders.v1 import timeline_pb2 as timeline_pb
from tests.harness import Suite, unique
from tests.integration.reconciliation.support import Client, ago, customer, people_of, row, today
from tests.org import make_org
from tests.support.orders_service import dec

# The rows of some orders, each with its order's submitter, as the database holds them.
ROWS = """
SELECT 'APPROVAL' AS kind, s.order_id || ':' || s.sequence AS id, s.order_submitted_by,
       o.submitted_by
FROM approval_steps s JOIN orders o ON o.id = s.order_id
WHERE o.id = ANY(CAST(:orders AS varchar[]))
UNION ALL
SELECT 'SHIPMENT', h.id, h.order_submitted_by, o.submitted_by
FROM shipments h JOIN orders o ON o.id = h.order_id
WHERE o.id = ANY(CAST(:orders AS varchar[]))
UNION ALL
SELECT 'PAYMENT', p.id, p.order_submitted_by, o.submitted_by
FROM payments p LEFT JOIN orders o ON o.id = coalesce(p.order_id, p.stated_order_id)
WHERE p.bank_reference = ANY(CAST(:references AS varchar[]))
"""

# The timeline's approvals, payments and shipments of an employee as they were read before
# the rows carried the submitter: every row joined to its order, the order's submitter theirs.
BY_ORDER = """
SELECT 'APPROVAL' AS kind, s.order_id || ':' || s.sequence AS id
FROM approval_steps s JOIN orders o ON o.id = s.order_id
WHERE o.submitted_by = :employee AND s.decided_at >= :begins AND s.decided_at < :ends
UNION ALL
SELECT 'SHIPMENT', h.id
FROM shipments h JOIN orders o ON o.id = h.order_id
WHERE o.submitted_by = :employee AND h.shipped_at >= :begins AND h.shipped_at < :ends
UNION ALL
SELECT 'PAYMENT', p.id
FROM payments p
JOIN orders o ON p.order_id = o.id OR (p.order_id IS NULL AND p.stated_order_id = o.id)
WHERE o.submitted_by = :employee AND p.paid_at >= :begins AND p.paid_at < :ends
"""


async def record_payment(client: Client, finance: Principal, **values: Any) -> str:
    """RecordPayment as finance; the bank reference."""
    reference = unique("BR")
    with acting_as(finance):
        await client.payments.RecordPayment(
            payments_pb2.RecordPaymentRequest(
                bank_reference=reference, currency="CNY", payer_account="6222000011112222", **values
            )
        )
    return reference


async def timeline_items(
    suite: Suite, reader: Principal, employee: str, begins: datetime, ends: datetime
) -> set[tuple[str, str]]:
    """Every page of the orders service's ListEmployeeTimeline, as (kind, ID), the kinds
    the rows carry the submitter for."""
    client = Client(suite)
    stub = timeline_pb2_grpc.OrdersTimelineServiceStub(client.channels.channel("orders"))
    kinds = [
        timeline_pb.ORDERS_TIMELINE_KIND_APPROVAL,
        timeline_pb.ORDERS_TIMELINE_KIND_PAYMENT,
        timeline_pb.ORDERS_TIMELINE_KIND_SHIPMENT,
    ]
    items: set[tuple[str, str]] = set()
    token = ""
    try:
        with acting_as(reader):
            while True:
                page = await stub.ListEmployeeTimeline(
                    timeline_pb.ListEmployeeTimelineRequest(
                        employee_id=employee,
                        kinds=kinds,
                        page=common_pb2.PageRequest(page_size=2, page_token=token),
                        **{"from": to_timestamp(begins), "to": to_timestamp(ends)},
                    )
                )
                for item in page.items:
                    field = item.WhichOneof("item")
                    if field == "approval":
                        step = item.approval
                        items.add(("APPROVAL", f"{step.order_id}:{step.step.sequence}"))
                    elif field == "payment":
                        items.add(("PAYMENT", item.payment.id))
                    elif field == "shipment":
                        items.add(("SHIPMENT", item.shipment.id))
                if not page.page_info.has_next_page:
                    return items
                token = page.page_info.next_page_token
    finally:
        await client.channels.close()


async def test_every_write_path_fills_the_submitter_and_the_timeline_lists_the_same(
    suite: Suite,
) -> None:
    client = Client(suite)
    try:
        await _every_write_path(suite, client)
    finally:
        await client.channels.close()


async def _every_write_path(suite: Suite, client: Client) -> None:
    people = people_of(await make_org(suite))
    name = unique("Suzhou Meiling")
    buyer = await customer(suite, people, name)
    recent = today() - timedelta(days=20)
    # A step decided and a later one pending (FINANCE above 100,000.00), and smaller orders.
    large = await client.approved_order(
        people, buyer, "150000.00", order_date=recent, approve=False
    )
    with acting_as(people.manager):
        decided = await client.orders.DecideOrder(
            orders_pb2.DecideOrderRequest(order_id=large.id, approve=True)
        )
    assert [step.status for step in decided.order.approval_steps] == [
        orders_pb2.STEP_STATUS_APPROVED,
        orders_pb2.STEP_STATUS_PENDING,
    ]
    stated, quoted, imported, by_amount = [
        await client.approved_order(people, buyer, total, order_date=recent)
        for total in ("101.00", "202.00", "303.00", "431.17")
    ]
    orders = [large, stated, quoted, imported, by_amount]
    # Recorded for an order; quoting a code (matched on the write); nobody's.
    references = [
        await record_payment(
            client,
            people.finance,
            amount=dec("101.00"),
            paid_at=to_timestamp(ago(4)),
            payer_name=name,
            order_id=stated.id,
        ),
        await record_payment(
            client,
            people.finance,
            amount=dec("202.00"),
            paid_at=to_timestamp(ago(3)),
            payer_name=name,
            reference_text=f"Payment {quoted.code}",
        ),
        await record_payment(
            client,
            people.finance,
            amount=dec("66.66"),
            paid_at=to_timestamp(ago(3)),
            payer_name=unique("Unknown Payer"),
            reference_text="misc",
        ),
    ]
    # A statement: a quoted code, the customer + amount, and nobody's.
    lines = {
        unique("BR"): (ago(2), "303.00", name, f"Invoice {imported.code}"),
        unique("BR"): (ago(1), "431.17", name, "goods received with thanks"),
        unique("BR"): (ago(1), "55.55", unique("Unknown Payer"), "misc"),
    }
    _, outcome = await client.import_statement(
        suite, people.finance, [row(reference, *line) for reference, line in lines.items()]
    )
    assert (outcome.applied, outcome.accepted) == (True, 3)
    references += list(lines)
    with acting_as(people.manager):
        for order in (stated, quoted):
            await client.payments.RecordShipment(
                payments_pb2.RecordShipmentRequest(
                    order_id=order.id,
                    carrier="SF Express",
                    tracking_number=unique("SF"),
                    shipped_at=to_timestamp(datetime.now(UTC) - timedelta(seconds=1)),
                )
            )

    db = suite.running["orders"].runtime.db
    async with db.read() as session:
        rows = (
            await session.execute(
                text(ROWS),
                {"orders": [order.id for order in orders], "references": references},
            )
        ).all()
    counted: dict[str, int] = {}
    for kind, row_id, carried, submitter in rows:
        counted[kind] = counted.get(kind, 0) + 1
        # Its order's submitter: the junior's, or none for a payment of nobody's order.
        assert carried == submitter, (kind, row_id)
        assert carried in {people.junior.id, None}, (kind, row_id)
    assert counted == {"APPROVAL": 6, "SHIPMENT": 2, "PAYMENT": 6}
    assert sum(carried is None for _, _, carried, _ in rows) == 2  # the two strays

    ends = datetime.now(UTC) + timedelta(hours=1)
    begins = ends - timedelta(days=30)
    async with db.read() as session:
        expected = {
            (kind, row_id)
            for kind, row_id in await session.execute(
                text(BY_ORDER), {"employee": people.junior.id, "begins": begins, "ends": ends}
            )
        }
    # Four matched payments, the five decided steps, the two shipments.
    assert (
        sorted(kind for kind, _ in expected)
        == ["APPROVAL"] * 5 + ["PAYMENT"] * 4 + ["SHIPMENT"] * 2
    )
    for reader in (people.hr, people.manager):
        assert await timeline_items(suite, reader, people.junior.id, begins, ends) == expected
