"""Orders you can trace (O1, O2): submission and its money, approval chains and the status
machine — over the orders service's gRPC API on PostgreSQL, OPA and S3.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from salesguard.errors import ErrorCode
from salesguard_api.customers.v1 import customers_pb2
from salesguard_api.orders.v1 import orders_pb2 as pb
from tests.harness import Suite
from tests.integration.orders.support import (
    APPROVED,
    CANCELLED,
    CLOSED,
    FULFILLED,
    REJECTED,
    SUBMITTED,
    Client,
    customer_of,
    line,
    roles,
    today,
)
from tests.support.orders_service import People, refused

# -- submission: money ------------------------------------------------------------------------


async def test_line_totals_round_half_up_and_sum_exactly(
    suite: Suite, client: Client, people: People
) -> None:
    customer = await customer_of(suite, people.junior)
    order = await client.submit(
        people.junior,
        customer_id=customer,
        currency="CNY",
        lines=[
            line("SKU-1", "1.5", "19.99", "10"),  # 26.9865 -> 26.99
            line("SKU-2", "3", "0.10"),  # 0.30
            line("SKU-3", "0.125", "0.04"),  # 0.005 -> 0.01 (half-up)
        ],
        note="first order",
    )
    assert [entry.line_total.value for entry in order.lines] == ["26.99", "0.30", "0.01"]
    assert order.total.value == "27.30"
    first = order.lines[0]
    assert (first.quantity.value, first.unit_price.value, first.discount_percent.value) == (
        "1.5",
        "19.99",
        "10.00",
    )
    assert order.code.startswith("O-") and len(order.code) >= 8
    assert order.status == SUBMITTED
    assert order.owner_id == people.junior.id
    assert order.submitted_by == people.junior.id
    assert (order.team_id, order.branch_id) == (people.org.team_a, people.org.branch)
    assert list(order.flags) == []
    assert order.order_date == today().isoformat()
    assert order.expected_payment_date == (today() + timedelta(days=30)).isoformat()
    # The claimed source defaults to the registered one (WEBSITE for tests.org.register).
    assert order.source_claim == customers_pb2.SOURCE_CHANNEL_WEBSITE
    assert order.registered_source == customers_pb2.SOURCE_CHANNEL_WEBSITE
    assert order.payment_state == pb.PAYMENT_STATE_UNPAID
    assert await client.get(people.junior, order.id) == order

    claimed = await client.submit(
        people.junior,
        customer_id=customer,
        currency="usd",
        lines=[line("SKU-1", "1", "5")],
        source_claim=customers_pb2.SOURCE_CHANNEL_PERSONAL,
        order_date=(today() - timedelta(days=2)).isoformat(),
        expected_payment_date=(today() + timedelta(days=5)).isoformat(),
    )
    assert claimed.currency == "USD"
    assert claimed.total.value == "5.00"
    assert claimed.source_claim == customers_pb2.SOURCE_CHANNEL_PERSONAL
    assert claimed.registered_source == customers_pb2.SOURCE_CHANNEL_WEBSITE
    assert claimed.expected_payment_date == (today() + timedelta(days=5)).isoformat()


async def test_invalid_orders_are_refused_and_nothing_is_stored(
    suite: Suite, client: Client, people: People
) -> None:
    customer = await customer_of(suite, people.junior)
    good = [line("A", "1", "10.00"), line("B", "2", "5.50")]
    cases: list[tuple[dict[str, Any], str]] = [
        ({"lines": [line("A", "3", "33.335")]}, "lines[0].unit_price"),
        ({"lines": [*good, line("C", "1", "1.23456")]}, "lines[2].unit_price"),
        ({"lines": [line("A", "-1", "10")]}, "lines[0].quantity"),
        ({"lines": [line("A", "0", "10")]}, "lines[0].quantity"),
        ({"lines": [line("A", "1.0001", "10")]}, "lines[0].quantity"),
        ({"lines": [line("A", "1", "-0.01")]}, "lines[0].unit_price"),
        ({"lines": [line("A", "1", "NaN")]}, "lines[0].unit_price"),
        ({"lines": [line("A", "1", "10", "100.01")]}, "lines[0].discount_percent"),
        ({"lines": [line("", "1", "10")]}, "lines[0].sku"),
        ({"lines": [line("A" * 65, "1", "10")]}, "lines[0].sku"),
        ({"lines": []}, "lines"),
        ({"currency": "XYZ"}, "currency"),
        ({"currency": ""}, "currency"),
        ({"order_date": (today() + timedelta(days=1)).isoformat()}, "order_date"),
        ({"order_date": "2024/01/05"}, "order_date"),
        ({"order_date": "2024-02-30"}, "order_date"),
        (
            {
                "order_date": today().isoformat(),
                "expected_payment_date": (today() - timedelta(days=1)).isoformat(),
            },
            "expected_payment_date",
        ),
        ({"customer_id": ""}, "customer_id"),
    ]
    for changes, field in cases:
        values: dict[str, Any] = {"customer_id": customer, "currency": "CNY", "lines": good}
        values.update(changes)
        error = await refused(client.submit(people.junior, **values), ErrorCode.VALIDATION)
        assert error.field == field, (changes, error)
    # An unknown customer reads like one the submitter may not see (SPEC §2: orders only for
    # customers one may read).
    await refused(
        client.submit(people.junior, customer_id="no-such-customer", currency="CNY", lines=good),
        ErrorCode.NOT_FOUND,
    )
    assert await client.list_orders(people.manager, customer_id=customer) == []


# -- approval chains (O2) -----------------------------------------------------------------------


async def test_approval_chain_follows_the_thresholds(
    suite: Suite, client: Client, people: People
) -> None:
    customer = await customer_of(suite, people.junior)

    async def chain(*lines: pb.OrderLine, currency: str = "CNY") -> pb.Order:
        return await client.submit(
            people.junior, customer_id=customer, currency=currency, lines=list(lines)
        )

    small = await chain(line("A", "2", "500"))
    assert roles(small) == ["MANAGER"]
    assert [step.sequence for step in small.approval_steps] == [1]
    assert small.approval_steps[0].status == pb.STEP_STATUS_PENDING
    assert small.approval_steps[0].reason

    at_threshold = await chain(line("A", "1", "100000.00"))
    assert roles(at_threshold) == ["MANAGER"]  # "above" 100 000, not at it

    finance = await chain(line("A", "1", "100000.01"))
    assert roles(finance) == ["MANAGER", "FINANCE"]
    assert "100000.00 CNY" in finance.approval_steps[1].reason

    # 15 000 USD is 108 000 CNY at the settings' rate.
    dollars = await chain(line("A", "1", "15000"), currency="USD")
    assert roles(dollars) == ["MANAGER", "FINANCE"]

    hq = await chain(line("A", "2", "500000.01"))
    assert roles(hq) == ["MANAGER", "FINANCE", "HQ_MANAGER"]
    assert "1000000.00 CNY" in hq.approval_steps[2].reason
    assert [step.sequence for step in hq.approval_steps] == [1, 2, 3]

    discount = await chain(line("A", "1", "100"), line("B", "1", "100", "20"))
    assert roles(discount) == ["MANAGER", "HQ_MANAGER"]
    assert "discount" in discount.approval_steps[1].reason

    at_discount_limit = await chain(line("A", "1", "100", "15"))
    assert roles(at_discount_limit) == ["MANAGER"]


async def test_approval_by_the_right_people_in_order(
    suite: Suite, client: Client, people: People
) -> None:
    customer = await customer_of(suite, people.junior)
    order = await client.one_line_order(people.junior, customer, "1200000", sku="BIG")
    assert roles(order) == ["MANAGER", "FINANCE", "HQ_MANAGER"]
    awaiting = await client.list_orders(people.manager, awaiting_my_decision=True)
    assert order.id in {o.id for o in awaiting}
    assert order.id not in {
        o.id for o in await client.list_orders(people.finance, awaiting_my_decision=True)
    }

    # Nobody outside the branch, no rep, and not finance ahead of the manager.
    for outsider in (people.other_manager, people.junior, people.junior_mate, people.finance):
        error = await refused(client.decide(outsider, order.id), ErrorCode.FORBIDDEN)
        assert error.details.get("action") == "orders.decide", error
    assert order.id not in {
        o.id for o in await client.list_orders(people.other_manager, awaiting_my_decision=True)
    }

    step_one = await client.decide(people.manager, order.id, comment="looks right")
    assert step_one.status == SUBMITTED
    first = step_one.approval_steps[0]
    assert (first.status, first.approver_id, first.comment) == (
        pb.STEP_STATUS_APPROVED,
        people.manager.id,
        "looks right",
    )
    assert first.decided_at.seconds > 0
    assert step_one.approval_steps[1].status == pb.STEP_STATUS_PENDING
    # The manager's step is done: a manager cannot decide finance's step.
    await refused(client.decide(people.manager_2, order.id), ErrorCode.FORBIDDEN)
    assert order.id not in {
        o.id for o in await client.list_orders(people.manager, awaiting_my_decision=True)
    }
    assert order.id in {
        o.id for o in await client.list_orders(people.finance, awaiting_my_decision=True)
    }

    step_two = await client.decide(people.finance, order.id, comment="credit ok")
    assert step_two.status == SUBMITTED
    await refused(client.decide(people.manager, order.id), ErrorCode.FORBIDDEN)  # not HQ
    assert order.id in {
        o.id for o in await client.list_orders(people.hq_manager, awaiting_my_decision=True)
    }
    approved = await client.decide(people.hq_manager, order.id, comment="go")
    assert approved.status == APPROVED
    assert [step.approver_id for step in approved.approval_steps] == [
        people.manager.id,
        people.finance.id,
        people.hq_manager.id,
    ]
    assert all(step.status == pb.STEP_STATUS_APPROVED for step in approved.approval_steps)
    assert await client.get(people.junior, order.id) == approved
    # A decided order is not decided again.
    await refused(client.decide(people.hq_manager, order.id), ErrorCode.FAILED_PRECONDITION)


async def test_nobody_approves_their_own_order(
    suite: Suite, client: Client, people: People
) -> None:
    customer = await customer_of(suite, people.manager)
    order = await client.one_line_order(people.manager, customer, "10")
    error = await refused(client.decide(people.manager, order.id), ErrorCode.FORBIDDEN)
    assert "SELF_APPROVAL" in error.details.get("reasons", ""), error
    assert "SELF_APPROVAL" in error.message
    assert order.id not in {
        o.id for o in await client.list_orders(people.manager, awaiting_my_decision=True)
    }
    approved = await client.decide(people.manager_2, order.id)
    assert approved.status == APPROVED
    assert approved.approval_steps[0].approver_id == people.manager_2.id


async def test_a_rejection_ends_the_order(suite: Suite, client: Client, people: People) -> None:
    customer = await customer_of(suite, people.junior)
    order = await client.one_line_order(people.junior, customer, "200000")
    rejected = await client.decide(people.manager, order.id, approve=False, comment="no budget")
    assert rejected.status == REJECTED
    assert rejected.approval_steps[0].status == pb.STEP_STATUS_REJECTED
    assert rejected.approval_steps[0].comment == "no budget"
    await refused(client.decide(people.finance, order.id), ErrorCode.FAILED_PRECONDITION)
    for target in (FULFILLED, CLOSED, CANCELLED, APPROVED):
        error = await refused(
            client.transition(people.manager, order.id, target, reason="x"),
            ErrorCode.FAILED_PRECONDITION,
        )
        assert error.details.get("from") == "REJECTED", error


# -- the status machine (O1) -------------------------------------------------------------------


async def test_every_illegal_transition_is_refused(
    suite: Suite, client: Client, people: People
) -> None:
    customer = await customer_of(suite, people.junior)

    async def new_order() -> pb.Order:
        return await client.one_line_order(people.junior, customer, "10")

    async def illegal(order_id: str, target: pb.OrderStatus.ValueType, source: str) -> None:
        error = await refused(
            client.transition(people.manager, order_id, target, reason="because"),
            ErrorCode.FAILED_PRECONDITION,
        )
        target_name = pb.OrderStatus.Name(target).removeprefix("ORDER_STATUS_")
        assert (error.details.get("from"), error.details.get("to")) == (source, target_name)
        assert source in error.message and target_name in error.message

    order = await new_order()
    for target in (FULFILLED, CLOSED, APPROVED, REJECTED, SUBMITTED):
        await illegal(order.id, target, "SUBMITTED")
    await refused(
        client.transition(people.manager, order.id, pb.ORDER_STATUS_UNSPECIFIED),
        ErrorCode.VALIDATION,
    )

    await client.decide(people.manager, order.id)
    for target in (CLOSED, APPROVED, REJECTED, SUBMITTED):
        await illegal(order.id, target, "APPROVED")
    fulfilled = await client.transition(people.manager, order.id, FULFILLED)
    assert fulfilled.status == FULFILLED
    for target in (CANCELLED, APPROVED, FULFILLED, SUBMITTED, REJECTED):
        await illegal(order.id, target, "FULFILLED")
    closed = await client.transition(people.manager, order.id, CLOSED)
    assert closed.status == CLOSED
    for target in (CANCELLED, FULFILLED, CLOSED, APPROVED, SUBMITTED):
        await illegal(order.id, target, "CLOSED")

    # Cancelling needs a reason; the submitter may cancel their own submitted order.
    cancel_me = await new_order()
    error = await refused(
        client.transition(people.junior, cancel_me.id, CANCELLED), ErrorCode.VALIDATION
    )
    assert error.field == "reason"
    cancelled = await client.transition(
        people.junior, cancel_me.id, CANCELLED, reason="customer withdrew"
    )
    assert cancelled.status == CANCELLED
    assert "customer withdrew" in cancelled.note
    for target in (CANCELLED, FULFILLED, CLOSED, APPROVED, SUBMITTED):
        await illegal(cancel_me.id, target, "CANCELLED")
    await refused(client.decide(people.manager, cancel_me.id), ErrorCode.FAILED_PRECONDITION)

    approved = await new_order()
    await client.decide(people.manager, approved.id)
    assert (
        await client.transition(people.manager, approved.id, CANCELLED, reason="duplicate")
    ).status == CANCELLED
    # A rep may not fulfil, and nobody outside the branch moves the order.
    other = await new_order()
    await client.decide(people.manager, other.id)
    await refused(client.transition(people.junior, other.id, FULFILLED), ErrorCode.FORBIDDEN)
    await refused(client.transition(people.other_manager, other.id, FULFILLED), ErrorCode.FORBIDDEN)
