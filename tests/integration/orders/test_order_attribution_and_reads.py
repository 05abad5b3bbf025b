"""Orders you can trace (O3): attribution flags, idempotent submission, who sees which
orders, and the whole flow on the embedded profile.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from salesguard.errors import ErrorCode
from salesguard.principal import Principal, acting_as
from salesguard.timeutil import to_timestamp
from salesguard_api.common.v1 import common_pb2
from salesguard_api.orders.v1 import orders_pb2 as pb
from salesguard_api.orders.v1 import payments_pb2
from tests.harness import Suite, unique
from tests.integration.orders.support import (
    APPROVED,
    FULFILLED,
    SUBMITTED,
    Client,
    customer_of,
    line,
    make_people,
    roles,
    today,
)
from tests.support.orders_service import People, refused

# -- attribution (O3) ------------------------------------------------------------------------


async def test_attribution_flags_are_stored_alerted_and_routed_to_a_manager(
    suite: Suite, client: Client, people: People
) -> None:
    # A senior may read, and so order for, a teammate's customer: flagged, not refused.
    mates_customer = await customer_of(suite, people.junior_mate)
    mismatch = await client.one_line_order(people.senior, mates_customer, "10")
    assert list(mismatch.flags) == ["ATTRIBUTION_MISMATCH"]
    assert mismatch.owner_id == people.junior_mate.id
    assert mismatch.submitted_by == people.senior.id
    assert roles(mismatch) == ["MANAGER"]
    assert "ATTRIBUTION_MISMATCH" in mismatch.approval_steps[0].reason
    assert (await client.get(people.manager, mismatch.id)).flags == mismatch.flags

    # Registered today, ordered yesterday: the customer was hidden when the deal was made.
    own_customer = await customer_of(suite, people.junior)
    unregistered = await client.one_line_order(
        people.junior, own_customer, "10", order_date=(today() - timedelta(days=1)).isoformat()
    )
    assert list(unregistered.flags) == ["UNREGISTERED_CUSTOMER"]
    assert roles(unregistered) == ["MANAGER"]

    both = await client.one_line_order(
        people.senior, mates_customer, "10", order_date=(today() - timedelta(days=3)).isoformat()
    )
    assert list(both.flags) == ["ATTRIBUTION_MISMATCH", "UNREGISTERED_CUSTOMER"]

    clean = await client.one_line_order(people.junior, own_customer, "10")
    assert list(clean.flags) == []
    assert await client.list_alerts(people.hr, order_id=clean.id) == []

    for viewer in (people.hr, people.manager):
        alerts = await client.list_alerts(viewer, order_id=mismatch.id)
        assert [(a.kind, a.rule) for a in alerts] == [("ATTRIBUTION_MISMATCH", "O3")], viewer
        alert = alerts[0]
        assert (alert.employee_id, alert.customer_id, alert.branch_id) == (
            people.senior.id,
            mates_customer,
            people.org.branch,
        )
        evidence = dict(alert.evidence)
        assert evidence["order_code"] == mismatch.code
        assert evidence["owner_id"] == people.junior_mate.id
    [hidden] = await client.list_alerts(people.hr, order_id=unregistered.id)
    assert hidden.kind == "UNREGISTERED_CUSTOMER"
    assert dict(hidden.evidence)["order_date"] == (today() - timedelta(days=1)).isoformat()
    assert {a.kind for a in await client.list_alerts(people.hr, order_id=both.id)} == {
        "ATTRIBUTION_MISMATCH",
        "UNREGISTERED_CUSTOMER",
    }
    # The flagged order still goes through a manager.
    assert (await client.decide(people.manager, mismatch.id)).status == APPROVED


async def test_submission_is_idempotent(suite: Suite, client: Client, people: People) -> None:
    customer = await customer_of(suite, people.junior)
    key = unique("submit")
    values: dict[str, Any] = {
        "customer_id": customer,
        "currency": "CNY",
        "lines": [line("A", "1", "10")],
        "idempotency_key": key,
    }
    first = await client.submit(people.junior, **values)
    again = await client.submit(people.junior, **values)
    assert again == first
    await refused(
        client.submit(people.junior, **{**values, "lines": [line("A", "2", "10")]}),
        ErrorCode.IDEMPOTENCY_KEY_REUSED,
    )
    orders = await client.list_orders(people.manager, customer_id=customer)
    assert [order.id for order in orders] == [first.id]


# -- who sees which orders ------------------------------------------------------------------------


async def test_order_reads_are_scoped(suite: Suite, client: Client, people: People) -> None:
    own = await customer_of(suite, people.junior)
    mate = await customer_of(suite, people.junior_mate)
    other_branch = await customer_of(suite, people.other_manager)
    mine = await client.one_line_order(people.junior, own, "1")
    mates = await client.one_line_order(people.junior_mate, mate, "1")
    elsewhere = await client.one_line_order(people.other_manager, other_branch, "1")
    ids = {mine.id, mates.id, elsewhere.id}

    async def visible(principal: Principal) -> set[str]:
        found: set[str] = set()
        for customer in (own, mate, other_branch):
            found |= {o.id for o in await client.list_orders(principal, customer_id=customer)}
        return found

    assert await visible(people.junior) == {mine.id}
    assert await visible(people.junior_mate) == {mates.id}
    assert await visible(people.manager) == {mine.id, mates.id}
    assert await visible(people.other_manager) == {elsewhere.id}
    assert await visible(people.finance) == ids
    assert await visible(people.hr) == ids
    assert await visible(people.hq_manager) == ids

    await refused(client.get(people.junior, mates.id), ErrorCode.NOT_FOUND)
    await refused(client.get(people.manager, elsewhere.id), ErrorCode.NOT_FOUND)
    assert (await client.get(people.hr, elsewhere.id)).id == elsewhere.id
    with acting_as(people.junior):
        batch = await client.orders.BatchGetOrders(
            pb.BatchGetOrdersRequest(ids=[mates.id, mine.id, elsewhere.id, "missing"])
        )
    assert [o.id for o in batch.orders] == [mine.id]
    with acting_as(people.junior):
        await refused(
            client.orders.BatchGetOrders(
                pb.BatchGetOrdersRequest(ids=[str(i) for i in range(101)])
            ),
            ErrorCode.VALIDATION,
        )

    # Filters: by code, by status, by submitter; paging resumes after the cursor.
    [by_code] = await client.list_orders(people.manager, code=mine.code)
    assert by_code.id == mine.id
    assert {
        o.id for o in await client.list_orders(people.manager, submitted_by=people.junior_mate.id)
    } >= {mates.id}
    await client.decide(people.manager, mine.id)
    approved = await client.list_orders(people.manager, customer_id=own, statuses=[APPROVED])
    assert [o.id for o in approved] == [mine.id]
    assert await client.list_orders(people.manager, customer_id=own, statuses=[SUBMITTED]) == []
    with acting_as(people.finance):
        first = await client.orders.ListOrders(
            pb.ListOrdersRequest(page=common_pb2.PageRequest(page_size=1, include_total_count=True))
        )
        assert len(first.orders) == 1 and first.page_info.has_next_page
        assert first.page_info.total_count >= 3
        second = await client.orders.ListOrders(
            pb.ListOrdersRequest(
                page=common_pb2.PageRequest(page_size=1, page_token=first.page_info.next_page_token)
            )
        )
        assert len(second.orders) == 1 and second.orders[0].id != first.orders[0].id
        await refused(
            client.orders.ListOrders(pb.ListOrdersRequest(filter=pb.OrderFilter(code="123"))),
            ErrorCode.VALIDATION,
        )


# -- the embedded profile ----------------------------------------------------------------------


async def test_the_embedded_profile_runs_the_same_flow(embedded_suite: Suite) -> None:
    """SQLite, regopy and a local folder: submit, approve, ship, pay, reverse."""
    people = await make_people(embedded_suite)
    client = Client(embedded_suite)
    try:
        mates_customer = await customer_of(embedded_suite, people.junior_mate)
        order = await client.submit(
            people.senior,
            customer_id=mates_customer,
            currency="EUR",
            lines=[line("A", "1.5", "19.99", "10"), line("B", "1", "20000", "20")],
            idempotency_key="embedded-1",
        )
        assert order.total.value == "16026.99"
        assert roles(order) == ["MANAGER", "FINANCE", "HQ_MANAGER"]  # 125 010 CNY, 20 %
        assert list(order.flags) == ["ATTRIBUTION_MISMATCH"]
        [alert] = await client.list_alerts(people.hr, order_id=order.id)
        assert alert.kind == "ATTRIBUTION_MISMATCH"
        await refused(client.decide(people.senior, order.id), ErrorCode.FORBIDDEN)
        for approver in (people.manager, people.finance, people.hq_manager):
            decided = await client.decide(approver, order.id)
        assert decided.status == APPROVED
        assert [o.id for o in await client.list_orders(people.senior)] == [order.id]
        assert await client.list_orders(people.junior_b) == []
        with acting_as(people.manager):
            await client.payments.RecordShipment(
                payments_pb2.RecordShipmentRequest(
                    order_id=order.id,
                    carrier="EMS",
                    tracking_number="E1",
                    shipped_at=to_timestamp(datetime.now(UTC) - timedelta(hours=2)),
                )
            )
        reference = unique("BR")
        paid = await client.record_payment(
            people.finance,
            bank_reference=reference,
            amount="16026.99",
            currency="EUR",
            reference_text=f"{order.code}",
            order_id=order.id,
        )
        again = await client.record_payment(
            people.finance, bank_reference=reference, amount="16026.99", currency="EUR"
        )
        assert again.duplicate and again.payment.id == paid.payment.id
        with acting_as(people.finance):
            reversed_ = await client.payments.ReversePayment(
                payments_pb2.ReversePaymentRequest(
                    payment_id=paid.payment.id,
                    kind=payments_pb2.REVERSAL_KIND_REFUND,
                    reason="returned goods",
                )
            )
        assert reversed_.payment.reversed
        assert (await client.transition(people.manager, order.id, FULFILLED)).status == FULFILLED
    finally:
        await client.channels.close()
