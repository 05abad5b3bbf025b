"""Orders you can trace (O1–O4): submission, approval chains, the status machine, attribution
flags, payments and shipments — over the orders service's gRPC API on PostgreSQL, OPA and S3.

Callers are the principals the gateway would resolve for the people of a per-test company
(``make_org``); customers are registered through the gateway, as a rep does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest

from salesguard.errors import ErrorCode, ServiceError
from salesguard.grpc_client import ServiceChannels
from salesguard.principal import Principal, acting_as
from salesguard.timeutil import to_timestamp
from salesguard_api.common.v1 import common_pb2, common_pb2_grpc
from salesguard_api.customers.v1 import customers_pb2
from salesguard_api.orders.v1 import orders_pb2 as pb
from salesguard_api.orders.v1 import orders_pb2_grpc, payments_pb2, payments_pb2_grpc
from salesguard_orders.rules.payments import quoted_order_number
from tests.harness import Suite, unique
from tests.org import Org, add_employee, make_org, register
from tests.photos import jpeg, put, scene

pytestmark = pytest.mark.integration

SHANGHAI = ZoneInfo("Asia/Shanghai")
T = TypeVar("T")


# -- callers and clients ------------------------------------------------------------------------


@dataclass(frozen=True)
class People:
    """The principals the gateway resolves for the company's people."""

    org: Org
    junior: Principal
    junior_mate: Principal
    senior: Principal
    junior_b: Principal
    manager: Principal
    manager_2: Principal
    other_manager: Principal
    hq_manager: Principal
    hr: Principal
    finance: Principal


async def make_people(suite: Suite) -> People:
    org = await make_org(suite)
    hq_manager = f"{org.hq}-manager"
    await add_employee(suite, hq_manager, "郑总", "MANAGER", branch=org.hq)

    def person(
        employee_id: str, role: str, branch: str, team: str | None = None, hq: bool = False
    ) -> Principal:
        return Principal(id=employee_id, roles=(role,), team_id=team, branch_id=branch, hq=hq)

    return People(
        org=org,
        junior=person(org.junior, "SALES_JUNIOR", org.branch, org.team_a),
        junior_mate=person(org.junior_mate, "SALES_JUNIOR", org.branch, org.team_a),
        senior=person(org.senior, "SALES_SENIOR", org.branch, org.team_a),
        junior_b=person(org.junior_b, "SALES_JUNIOR", org.branch, org.team_b),
        manager=person(org.manager, "MANAGER", org.branch),
        manager_2=person(org.manager_2, "MANAGER", org.branch),
        other_manager=person(org.other_manager, "MANAGER", org.other_branch),
        hq_manager=person(hq_manager, "MANAGER", org.hq, hq=True),
        hr=person(org.hr, "HR", org.hq, hq=True),
        finance=person(org.finance, "FINANCE", org.hq, hq=True),
    )


class Client:
    """Stubs of the orders service on a channel signed with its internal secret."""

    def __init__(self, suite: Suite) -> None:
        running = suite.running["orders"]
        self.channels = ServiceChannels(
            {"orders": running.address}, running.runtime.internal_secret, 20
        )
        channel = self.channels.channel("orders")
        self.orders = orders_pb2_grpc.OrdersServiceStub(channel)
        self.payments = payments_pb2_grpc.PaymentsServiceStub(channel)
        self.alerts = common_pb2_grpc.AlertsServiceStub(channel)

    async def call(self, principal: Principal, call: Awaitable[T]) -> T:
        with acting_as(principal):
            return await call

    async def submit(self, principal: Principal, **values: Any) -> pb.Order:
        with acting_as(principal):
            response = await self.orders.SubmitOrder(pb.SubmitOrderRequest(**values))
        return response.order

    async def get(self, principal: Principal, order_id: str) -> pb.Order:
        with acting_as(principal):
            return (await self.orders.GetOrder(pb.GetOrderRequest(id=order_id))).order

    async def list_orders(self, principal: Principal, **filter_: Any) -> list[pb.Order]:
        with acting_as(principal):
            response = await self.orders.ListOrders(
                pb.ListOrdersRequest(
                    filter=pb.OrderFilter(**filter_),
                    page=common_pb2.PageRequest(page_size=100),
                )
            )
        return list(response.orders)

    async def decide(
        self, principal: Principal, order_id: str, approve: bool = True, comment: str = ""
    ) -> pb.Order:
        with acting_as(principal):
            response = await self.orders.DecideOrder(
                pb.DecideOrderRequest(order_id=order_id, approve=approve, comment=comment)
            )
        return response.order

    async def transition(
        self, principal: Principal, order_id: str, to: pb.OrderStatus.ValueType, reason: str = ""
    ) -> pb.Order:
        with acting_as(principal):
            response = await self.orders.TransitionOrder(
                pb.TransitionOrderRequest(
                    order_id=order_id,
                    to=to,
                    reason=reason,
                )
            )
        return response.order

    async def record_payment(
        self, principal: Principal, **values: Any
    ) -> payments_pb2.RecordPaymentResponse:
        values.setdefault("bank_reference", unique("BR"))
        values.setdefault("currency", "CNY")
        values.setdefault("paid_at", to_timestamp(datetime.now(UTC) - timedelta(hours=1)))
        if isinstance(values.get("amount"), str):
            values["amount"] = dec(values["amount"])
        with acting_as(principal):
            return await self.payments.RecordPayment(payments_pb2.RecordPaymentRequest(**values))

    async def list_payments(
        self, principal: Principal, **filter_: Any
    ) -> list[payments_pb2.Payment]:
        with acting_as(principal):
            response = await self.payments.ListPayments(
                payments_pb2.ListPaymentsRequest(
                    filter=payments_pb2.PaymentFilter(**filter_),
                    page=common_pb2.PageRequest(page_size=100),
                )
            )
        return list(response.payments)

    async def alerts_of(self, principal: Principal, order_id: str) -> list[common_pb2.Alert]:
        with acting_as(principal):
            response = await self.alerts.ListAlerts(
                common_pb2.ListAlertsRequest(
                    filter=common_pb2.AlertFilter(order_id=order_id),
                    page=common_pb2.PageRequest(page_size=50),
                )
            )
        return list(response.alerts)


@pytest.fixture(scope="module")
async def people(suite: Suite) -> People:
    return await make_people(suite)


@pytest.fixture
async def client(suite: Suite) -> AsyncIterator[Client]:
    opened = Client(suite)
    yield opened
    await opened.channels.close()


# -- helpers --------------------------------------------------------------------------------


def dec(value: str) -> common_pb2.Decimal:
    return common_pb2.Decimal(value=value)


def line(sku: str, quantity: str, price: str, discount: str = "") -> pb.OrderLine:
    return pb.OrderLine(
        sku=sku,
        description=f"{sku} description",
        quantity=dec(quantity),
        unit_price=dec(price),
        discount_percent=dec(discount),
    )


def today() -> date:
    return datetime.now(SHANGHAI).date()


async def refused(call: Awaitable[Any], code: ErrorCode) -> ServiceError:
    """Await a call that must fail with ``code``; the error."""
    with pytest.raises(ServiceError) as raised:
        await call
    assert raised.value.code is code, raised.value
    return raised.value


async def customer_of(suite: Suite, owner: Principal) -> str:
    return str((await register(suite, owner.id))["id"])


def roles(order: pb.Order) -> list[str]:
    return [step.role for step in order.approval_steps]


APPROVED = pb.ORDER_STATUS_APPROVED
SUBMITTED = pb.ORDER_STATUS_SUBMITTED
REJECTED = pb.ORDER_STATUS_REJECTED
FULFILLED = pb.ORDER_STATUS_FULFILLED
CLOSED = pb.ORDER_STATUS_CLOSED
CANCELLED = pb.ORDER_STATUS_CANCELLED


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
    order = await client.submit(
        people.junior, customer_id=customer, currency="CNY", lines=[line("BIG", "1", "1200000")]
    )
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
    order = await client.submit(
        people.manager, customer_id=customer, currency="CNY", lines=[line("A", "1", "10")]
    )
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
    order = await client.submit(
        people.junior, customer_id=customer, currency="CNY", lines=[line("A", "1", "200000")]
    )
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
        return await client.submit(
            people.junior, customer_id=customer, currency="CNY", lines=[line("A", "1", "10")]
        )

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


# -- attribution (O3) ------------------------------------------------------------------------


async def test_attribution_flags_are_stored_alerted_and_routed_to_a_manager(
    suite: Suite, client: Client, people: People
) -> None:
    # A senior may read, and so order for, a teammate's customer: flagged, not refused.
    mates_customer = await customer_of(suite, people.junior_mate)
    mismatch = await client.submit(
        people.senior,
        customer_id=mates_customer,
        currency="CNY",
        lines=[line("A", "1", "10")],
    )
    assert list(mismatch.flags) == ["ATTRIBUTION_MISMATCH"]
    assert mismatch.owner_id == people.junior_mate.id
    assert mismatch.submitted_by == people.senior.id
    assert roles(mismatch) == ["MANAGER"]
    assert "ATTRIBUTION_MISMATCH" in mismatch.approval_steps[0].reason
    assert (await client.get(people.manager, mismatch.id)).flags == mismatch.flags

    # Registered today, ordered yesterday: the customer was hidden when the deal was made.
    own_customer = await customer_of(suite, people.junior)
    unregistered = await client.submit(
        people.junior,
        customer_id=own_customer,
        currency="CNY",
        lines=[line("A", "1", "10")],
        order_date=(today() - timedelta(days=1)).isoformat(),
    )
    assert list(unregistered.flags) == ["UNREGISTERED_CUSTOMER"]
    assert roles(unregistered) == ["MANAGER"]

    both = await client.submit(
        people.senior,
        customer_id=mates_customer,
        currency="CNY",
        lines=[line("A", "1", "10")],
        order_date=(today() - timedelta(days=3)).isoformat(),
    )
    assert list(both.flags) == ["ATTRIBUTION_MISMATCH", "UNREGISTERED_CUSTOMER"]

    clean = await client.submit(
        people.junior, customer_id=own_customer, currency="CNY", lines=[line("A", "1", "10")]
    )
    assert list(clean.flags) == []
    assert await client.alerts_of(people.hr, clean.id) == []

    for viewer in (people.hr, people.manager):
        alerts = await client.alerts_of(viewer, mismatch.id)
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
    [hidden] = await client.alerts_of(people.hr, unregistered.id)
    assert hidden.kind == "UNREGISTERED_CUSTOMER"
    assert dict(hidden.evidence)["order_date"] == (today() - timedelta(days=1)).isoformat()
    assert {a.kind for a in await client.alerts_of(people.hr, both.id)} == {
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
    mine = await client.submit(
        people.junior, customer_id=own, currency="CNY", lines=[line("A", "1", "1")]
    )
    mates = await client.submit(
        people.junior_mate, customer_id=mate, currency="CNY", lines=[line("A", "1", "1")]
    )
    elsewhere = await client.submit(
        people.other_manager, customer_id=other_branch, currency="CNY", lines=[line("A", "1", "1")]
    )
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


# -- payments (O4) -----------------------------------------------------------------------------


async def approved_order(suite: Suite, client: Client, people: People) -> pb.Order:
    customer = await customer_of(suite, people.junior)
    order = await client.submit(
        people.junior, customer_id=customer, currency="CNY", lines=[line("A", "2", "50")]
    )
    return await client.decide(people.manager, order.id)


async def test_a_payment_is_recorded_once_per_bank_reference(
    suite: Suite, client: Client, people: People
) -> None:
    order = await approved_order(suite, client, people)
    reference = unique("BR")
    first = await client.record_payment(
        people.finance,
        bank_reference=reference,
        payer_name="  ACME   Trading ",
        payer_account="6222 0000 1111",
        amount="100.00",
        reference_text=f"payment for {order.code}, thanks",
        order_id=order.id,
    )
    payment = first.payment
    assert not first.duplicate
    assert (payment.bank_reference, payment.amount.value, payment.currency) == (
        reference,
        "100.00",
        "CNY",
    )
    assert payment.payer_name == "ACME   Trading"
    assert payment.order_id == order.id
    assert payment.branch_id == people.org.branch
    assert payment.recorded_by == people.finance.id
    assert not payment.reversed

    again = await client.record_payment(
        people.finance,
        bank_reference=reference,
        amount="100",
        paid_at=payment.paid_at,
        reference_text="whatever",
    )
    assert again.duplicate
    assert again.payment.id == payment.id
    error = await refused(
        client.record_payment(people.finance, bank_reference=reference, amount="100.01"),
        ErrorCode.CONFLICT,
    )
    assert error.details.get("field") == "amount"
    await refused(
        client.record_payment(
            people.finance, bank_reference=reference, amount="100", currency="USD"
        ),
        ErrorCode.CONFLICT,
    )
    listed = await client.list_payments(people.finance, order_id=order.id)
    assert [p.id for p in listed] == [payment.id]

    # Bad input is refused, naming the field; nothing is stored.
    bad: list[tuple[dict[str, Any], str]] = [
        ({"amount": "10.12345"}, "amount"),
        ({"amount": "-5"}, "amount"),
        ({"amount": "0"}, "amount"),
        ({"currency": "XYZ"}, "currency"),
        ({"bank_reference": ""}, "bank_reference"),
        ({"bank_reference": "R" * 129}, "bank_reference"),
        ({"paid_at": to_timestamp(datetime.now(UTC) + timedelta(days=1))}, "paid_at"),
        ({"order_id": "no-such-order"}, "order_id"),
        ({"voucher_key": "vouchers/someone/else.jpg"}, "voucher_key"),
    ]
    references = []
    for changes, field in bad:
        values: dict[str, Any] = {"bank_reference": unique("BR"), "amount": "10", **changes}
        references.append(values["bank_reference"])
        error = await refused(client.record_payment(people.finance, **values), ErrorCode.VALIDATION)
        assert error.field == field, (changes, error)
    paid = await client.list_payments(people.finance, order_id=order.id)
    assert len(paid) == 1
    # A currency is stored as its code, however the caller wrote it.
    usd = await client.record_payment(people.finance, amount="5", currency=" usd ")
    assert usd.payment.currency == "USD"


async def test_reversal_needs_a_kind_and_a_reason_and_happens_once(
    suite: Suite, client: Client, people: People
) -> None:
    recorded = (await client.record_payment(people.finance, amount="88.80")).payment

    async def reverse(
        kind: payments_pb2.ReversalKind.ValueType, reason: str
    ) -> payments_pb2.Payment:
        with acting_as(people.finance):
            response = await client.payments.ReversePayment(
                payments_pb2.ReversePaymentRequest(
                    payment_id=recorded.id,
                    kind=kind,
                    reason=reason,
                )
            )
        return response.payment

    assert (
        await refused(reverse(payments_pb2.REVERSAL_KIND_REFUND, ""), ErrorCode.VALIDATION)
    ).field == "reason"
    assert (
        await refused(reverse(payments_pb2.REVERSAL_KIND_UNSPECIFIED, "x"), ErrorCode.VALIDATION)
    ).field == "kind"
    reversed_ = await reverse(payments_pb2.REVERSAL_KIND_CHARGEBACK, "card holder disputed")
    assert reversed_.reversed
    assert reversed_.reversal_kind == payments_pb2.REVERSAL_KIND_CHARGEBACK
    assert reversed_.reversal_reason == "card holder disputed"
    assert reversed_.reversed_by == people.finance.id
    assert reversed_.reversed_at.seconds > 0
    await refused(
        reverse(payments_pb2.REVERSAL_KIND_REFUND, "again"), ErrorCode.FAILED_PRECONDITION
    )
    # Never deleted: still listed, reversed.
    [kept] = [
        p
        for p in await client.list_payments(people.finance, unmatched_only=True)
        if p.id == recorded.id
    ]
    assert kept.reversed
    # Only finance reverses.
    with acting_as(people.manager):
        await refused(
            client.payments.ReversePayment(
                payments_pb2.ReversePaymentRequest(
                    payment_id=recorded.id, kind=payments_pb2.REVERSAL_KIND_REFUND, reason="x"
                )
            ),
            ErrorCode.FORBIDDEN,
        )


async def test_quoted_order_codes_are_extracted(client: Client, people: People) -> None:
    texts = {
        "货款 O-000123 谢谢": 123,
        "ref o-004567": 4567,
        "INV O000042/2024": 42,
        "no order here 000123": None,
        "orders O-000001 and O-000002": None,
        "PO-000123X": None,
    }
    for text, number in texts.items():
        recorded = (
            await client.record_payment(people.finance, amount="1", reference_text=text)
        ).payment
        assert recorded.reference_text == text
        assert quoted_order_number(text) == number, text


async def test_payments_are_invisible_to_reps_and_scoped_for_managers(
    suite: Suite, client: Client, people: People
) -> None:
    order = await approved_order(suite, client, people)
    for_order = (
        await client.record_payment(people.finance, amount="100", order_id=order.id)
    ).payment
    unmatched = (await client.record_payment(people.finance, amount="7")).payment
    for rep in (people.junior, people.junior_mate):
        await refused(client.list_payments(rep), ErrorCode.FORBIDDEN)
        await refused(client.record_payment(rep, amount="1"), ErrorCode.FORBIDDEN)
    managers = {p.id for p in await client.list_payments(people.manager)}
    assert for_order.id in managers
    assert unmatched.id not in managers  # an unmatched payment belongs to no branch yet
    assert for_order.id not in {p.id for p in await client.list_payments(people.other_manager)}
    for everyone in (people.finance, people.hr):
        seen = {p.id for p in await client.list_payments(everyone)}
        assert {for_order.id, unmatched.id} <= seen


async def test_a_voucher_photo_is_uploaded_then_named(
    suite: Suite, client: Client, people: People
) -> None:
    data = jpeg(scene(7))
    with acting_as(people.finance):
        created = await client.payments.CreateUpload(
            payments_pb2.CreateUploadRequest(
                purpose=payments_pb2.UPLOAD_PURPOSE_VOUCHER,
                content_type="image/jpeg",
                size_bytes=len(data),
            )
        )
    assert created.key.startswith(f"vouchers/{people.finance.id}/")
    # Not uploaded yet: refused.
    error = await refused(
        client.record_payment(people.finance, amount="5", voucher_key=created.key),
        ErrorCode.VALIDATION,
    )
    assert error.field == "voucher_key"
    await put(
        suite,
        {"uploadUrl": created.upload_url, "uploadHeaders": dict(created.upload_headers)},
        data,
    )
    recorded = (
        await client.record_payment(people.finance, amount="5", voucher_key=created.key)
    ).payment
    assert recorded.voucher_key == created.key
    # A voucher proves one payment.
    await refused(
        client.record_payment(people.finance, amount="6", voucher_key=created.key),
        ErrorCode.VALIDATION,
    )

    with acting_as(people.finance):
        statement = await client.payments.CreateUpload(
            payments_pb2.CreateUploadRequest(
                purpose=payments_pb2.UPLOAD_PURPOSE_STATEMENT,
                content_type="text/csv",
                size_bytes=2048,
            )
        )
        assert statement.key.startswith(f"statements/{people.finance.id}/")
        assert statement.key.endswith(".csv")
        for purpose, content_type, size in (
            (payments_pb2.UPLOAD_PURPOSE_STATEMENT, "image/png", 100),
            (payments_pb2.UPLOAD_PURPOSE_VOUCHER, "text/csv", 100),
            (payments_pb2.UPLOAD_PURPOSE_VOUCHER, "image/png", 0),
            (payments_pb2.UPLOAD_PURPOSE_VOUCHER, "image/png", 100 * 1024 * 1024),
            (payments_pb2.UPLOAD_PURPOSE_UNSPECIFIED, "image/png", 100),
        ):
            await refused(
                client.payments.CreateUpload(
                    payments_pb2.CreateUploadRequest(
                        purpose=purpose, content_type=content_type, size_bytes=size
                    )
                ),
                ErrorCode.VALIDATION,
            )
    with acting_as(people.junior):
        await refused(
            client.payments.CreateUpload(
                payments_pb2.CreateUploadRequest(
                    purpose=payments_pb2.UPLOAD_PURPOSE_VOUCHER,
                    content_type="image/png",
                    size_bytes=100,
                )
            ),
            ErrorCode.FORBIDDEN,
        )


# -- shipments (O4) -----------------------------------------------------------------------------


async def test_shipments_need_an_approved_order(
    suite: Suite, client: Client, people: People
) -> None:
    customer = await customer_of(suite, people.junior)
    order = await client.submit(
        people.junior, customer_id=customer, currency="CNY", lines=[line("A", "1", "10")]
    )
    shipped_at = datetime.now(UTC) - timedelta(days=2)

    async def ship(principal: Principal, **values: Any) -> payments_pb2.Shipment:
        request = payments_pb2.RecordShipmentRequest(
            order_id=order.id,
            carrier="SF Express",
            tracking_number="SF123456789",
            shipped_at=to_timestamp(shipped_at),
        )
        for name, value in values.items():
            if isinstance(value, datetime):
                getattr(request, name).CopyFrom(to_timestamp(value))
            else:
                setattr(request, name, value)
        with acting_as(principal):
            return (await client.payments.RecordShipment(request)).shipment

    await refused(ship(people.manager), ErrorCode.FAILED_PRECONDITION)
    await client.decide(people.manager, order.id)
    await refused(ship(people.junior), ErrorCode.FORBIDDEN)
    await refused(ship(people.other_manager), ErrorCode.FORBIDDEN)
    error = await refused(
        ship(people.manager, delivered_at=shipped_at - timedelta(hours=1)), ErrorCode.VALIDATION
    )
    assert error.field == "delivered_at"
    await refused(ship(people.manager, carrier=""), ErrorCode.VALIDATION)
    shipment = await ship(people.manager)
    assert shipment.carrier == "SF Express"
    assert not shipment.HasField("delivered_at")
    assert (await client.get(people.junior, order.id)).shipped
    # The same parcel again, now delivered: one shipment, with its delivery time.
    delivered = await ship(people.manager, delivered_at=shipped_at + timedelta(days=1))
    assert delivered.id == shipment.id
    assert delivered.delivered_at.seconds == int((shipped_at + timedelta(days=1)).timestamp())

    with acting_as(people.junior):
        listed = await client.payments.ListShipments(
            payments_pb2.ListShipmentsRequest(order_id=order.id)
        )
    assert [s.id for s in listed.shipments] == [shipment.id]
    with acting_as(people.junior_mate):
        await refused(
            client.payments.ListShipments(payments_pb2.ListShipmentsRequest(order_id=order.id)),
            ErrorCode.NOT_FOUND,
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
        [alert] = await client.alerts_of(people.hr, order.id)
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
