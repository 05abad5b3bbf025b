"""Following the money (O4–O6, M2's input): statement imports, reconciliation, fake deals,
payer mismatches, diversion risk and the stream of valid orders — over the services' gRPC APIs
on PostgreSQL, OPA and S3 (one story on the embedded profile, for SQLite's SQL).

Every story works in a company of its own (``make_org``). Reconciliation and the detectors run
over the whole orders database the suite shares, so a story asserts on its own orders,
payments and alerts, never on the run's global counts alone. Orders dated in the past are
submitted with past order and payment dates, as the API allows.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest

from salesguard.errors import ErrorCode, ServiceError
from salesguard.grpc_client import ServiceChannels
from salesguard.principal import Principal, acting_as
from salesguard.timeutil import from_timestamp, to_timestamp
from salesguard_api.attendance.v1 import visits_pb2, visits_pb2_grpc
from salesguard_api.common.v1 import common_pb2, common_pb2_grpc
from salesguard_api.orders.v1 import orders_pb2 as pb
from salesguard_api.orders.v1 import orders_pb2_grpc, payments_pb2, payments_pb2_grpc
from salesguard_orders.peers import BranchZones
from tests.harness import Suite, unique
from tests.org import UPSERT_BRANCH, Org, admin, make_org, register
from tests.photos import put

pytestmark = pytest.mark.integration

SHANGHAI = ZoneInfo("Asia/Shanghai")
SITE = (31.2304, 121.4737)
HEADER = "bank_reference,paid_at,amount,currency,payer_name,payer_account,reference_text"
T = TypeVar("T")

UNPAID = pb.PAYMENT_STATE_UNPAID
PARTIALLY_PAID = pb.PAYMENT_STATE_PARTIALLY_PAID
RECONCILED = pb.PAYMENT_STATE_RECONCILED
OVERPAID = pb.PAYMENT_STATE_OVERPAID


# -- who calls, and through what -------------------------------------------------------------


@dataclass(frozen=True)
class People:
    org: Org
    junior: Principal
    manager: Principal
    hr: Principal
    finance: Principal
    system: Principal


def people_of(org: Org) -> People:
    return People(
        org=org,
        junior=Principal(org.junior, ("SALES_JUNIOR",), org.team_a, org.branch),
        manager=Principal(org.manager, ("MANAGER",), None, org.branch),
        hr=Principal(org.hr, ("HR",), None, org.hq, hq=True),
        finance=Principal(org.finance, ("FINANCE",), None, org.hq, hq=True),
        system=Principal.system("commissions"),
    )


class Client:
    """Stubs of the orders and attendance services, signed with the suite's secret."""

    def __init__(self, suite: Suite) -> None:
        orders = suite.running["orders"]
        self.channels = ServiceChannels(
            {"orders": orders.address, "attendance": suite.running["attendance"].address},
            orders.runtime.internal_secret,
            60,
        )
        channel = self.channels.channel("orders")
        self.orders = orders_pb2_grpc.OrdersServiceStub(channel)
        self.payments = payments_pb2_grpc.PaymentsServiceStub(channel)
        self.reconciliation = payments_pb2_grpc.ReconciliationServiceStub(channel)
        self.alerts = common_pb2_grpc.AlertsServiceStub(channel)
        self.visits = visits_pb2_grpc.VisitsServiceStub(self.channels.channel("attendance"))

    async def stream_valid_orders(
        self, principal: Principal, request: payments_pb2.StreamValidOrdersRequest
    ) -> AsyncIterator[payments_pb2.StreamValidOrdersResponse]:
        with acting_as(principal):
            stream = self.reconciliation.StreamValidOrders(request)
        async for batch in stream:
            yield batch

    @staticmethod
    async def as_(principal: Principal, call: Awaitable[T]) -> T:
        with acting_as(principal):
            return await call

    async def approved_order(
        self,
        people: People,
        customer_id: str,
        total: str,
        *,
        order_date: date,
        expected_payment_date: date | None = None,
        approve: bool = True,
    ) -> pb.Order:
        """An order of one line of ``total``, submitted by the junior, approved by the manager."""
        with acting_as(people.junior):
            submitted = await self.orders.SubmitOrder(
                pb.SubmitOrderRequest(
                    customer_id=customer_id,
                    currency="CNY",
                    lines=[pb.OrderLine(sku="SKU-1", quantity=dec("1"), unit_price=dec(total))],
                    order_date=order_date.isoformat(),
                    expected_payment_date=(
                        expected_payment_date.isoformat() if expected_payment_date else ""
                    ),
                )
            )
        if not approve:
            return submitted.order
        with acting_as(people.manager):
            decided = await self.orders.DecideOrder(
                pb.DecideOrderRequest(order_id=submitted.order.id, approve=True)
            )
        assert decided.order.status == pb.ORDER_STATUS_APPROVED
        return decided.order

    async def order(self, principal: Principal, order_id: str) -> pb.Order:
        with acting_as(principal):
            return (await self.orders.GetOrder(pb.GetOrderRequest(id=order_id))).order

    async def run(self, principal: Principal) -> payments_pb2.RunReconciliationResponse:
        with acting_as(principal):
            return await self.reconciliation.RunReconciliation(
                payments_pb2.RunReconciliationRequest()
            )

    async def reconciliation_items(
        self, principal: Principal, *states: pb.PaymentState.ValueType
    ) -> tuple[list[payments_pb2.ReconciliationItem], list[payments_pb2.Payment]]:
        """Every page of GetReconciliation, and the unmatched payments of the first."""
        items: list[payments_pb2.ReconciliationItem] = []
        unmatched: list[payments_pb2.Payment] = []
        token = ""
        with acting_as(principal):
            while True:
                page = await self.reconciliation.GetReconciliation(
                    payments_pb2.GetReconciliationRequest(
                        states=list(states),
                        page=common_pb2.PageRequest(page_size=100, page_token=token),
                    )
                )
                items.extend(page.items)
                if not token:
                    unmatched = list(page.unmatched_payments)
                if not page.page_info.has_next_page:
                    return items, unmatched
                token = page.page_info.next_page_token

    async def alerts_of(
        self, principal: Principal, kind: str, *, order_id: str = "", customer_id: str = ""
    ) -> list[common_pb2.Alert]:
        with acting_as(principal):
            response = await self.alerts.ListAlerts(
                common_pb2.ListAlertsRequest(
                    filter=common_pb2.AlertFilter(
                        kinds=[kind], order_id=order_id, customer_id=customer_id
                    ),
                    page=common_pb2.PageRequest(page_size=100),
                )
            )
        return list(response.alerts)

    async def payments_of(self, principal: Principal, order_id: str) -> list[payments_pb2.Payment]:
        with acting_as(principal):
            response = await self.payments.ListPayments(
                payments_pb2.ListPaymentsRequest(
                    filter=payments_pb2.PaymentFilter(order_id=order_id),
                    page=common_pb2.PageRequest(page_size=100),
                )
            )
        return list(response.payments)

    async def import_statement(
        self, suite: Suite, principal: Principal, lines: list[str], *, bom: bool = False
    ) -> tuple[str, payments_pb2.ImportPaymentsResponse]:
        """Upload a statement CSV as the app would (CreateUpload, PUT) and import it."""
        data = ("\ufeff" if bom else "").encode() + "\r\n".join([HEADER, *lines, ""]).encode()
        with acting_as(principal):
            upload = await self.payments.CreateUpload(
                payments_pb2.CreateUploadRequest(
                    purpose=payments_pb2.UPLOAD_PURPOSE_STATEMENT,
                    content_type="text/csv",
                    size_bytes=len(data),
                )
            )
        await put(
            suite,
            {"uploadUrl": upload.upload_url, "uploadHeaders": dict(upload.upload_headers)},
            data,
        )
        return upload.key, await self.import_key(principal, upload.key)

    async def import_key(
        self, principal: Principal, key: str
    ) -> payments_pb2.ImportPaymentsResponse:
        with acting_as(principal):
            return await self.payments.ImportPayments(
                payments_pb2.ImportPaymentsRequest(statement_key=key)
            )


@pytest.fixture
async def client(suite: Suite) -> AsyncIterator[Client]:
    opened = Client(suite)
    yield opened
    await opened.channels.close()


# -- helpers --------------------------------------------------------------------------------------


def dec(value: str) -> common_pb2.Decimal:
    return common_pb2.Decimal(value=value)


def today() -> date:
    return datetime.now(SHANGHAI).date()


def ago(days: float, hour: int = 10) -> datetime:
    """A moment ``days`` ago at ``hour`` o'clock in Shanghai."""
    day = datetime.now(SHANGHAI) - timedelta(days=days)
    return day.replace(hour=hour, minute=0, second=0, microsecond=0)


def row(reference: str, paid_at: datetime, amount: str, payer: str, text: str) -> str:
    return f"{reference},{paid_at.isoformat()},{amount},CNY,{payer},6222000011112222,{text}"


async def customer(suite: Suite, people: People, name: str, **extra: Any) -> str:
    """A customer the junior registers (and owns), with a company of its own."""
    registered = await register(
        suite, people.junior.id, name=name, company=f"{name} Trading Co", **extra
    )
    return str(registered["id"])


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
            alerts = await client.alerts_of(viewer, "FAKE_DEAL_SUSPECTED", order_id=order.id)
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
    assert not await client.alerts_of(people.hr, "FAKE_DEAL_SUSPECTED", order_id=not_due.id)

    # A re-run raises nothing twice.
    again = await client.run(people.finance)
    assert again.alerts_raised == 0
    for order in orders:
        assert len(await client.alerts_of(people.hr, "FAKE_DEAL_SUSPECTED", order_id=order.id)) == 1


# -- payments, matched and classified ----------------------------------------------------------------


async def test_statements_match_classify_and_rerun_identically(
    suite: Suite, client: Client
) -> None:
    people = people_of(await make_org(suite))
    name = unique("Hangzhou Lianhua")
    buyer = await customer(suite, people, name)
    recent = today() - timedelta(days=20)

    async def approved(total: str) -> pb.Order:
        return await client.approved_order(people, buyer, total, order_date=recent)

    exact, partial, over, by_amount, other_payer, in_two, later = [
        await approved(total)
        for total in ("100.00", "200.00", "300.00", "412.34", "500.00", "600.00", "700.00")
    ]
    refs = {label: unique("BR") for label in ("exact", "partial", "over", "amount", "other")}
    refs |= {label: unique("BR") for label in ("first", "second", "stray", "later")}
    statement = [
        row(refs["exact"], ago(10), "100.00", name, f"Payment {exact.code}"),
        row(refs["partial"], ago(9), "50.00", name, f"{partial.code} first instalment"),
        row(refs["over"], ago(8), "350.00", name, f"Invoice {over.code}"),
        # Quotes nothing: matched by the customer's name and the amount.
        row(refs["amount"], ago(7), "412.34", f"  {name.upper()} ", "goods received with thanks"),
        row(refs["other"], ago(6), "500.00", "Someone Else Ltd", f"for {other_payer.code}"),
        row(refs["first"], ago(5), "100.00", name, f"{in_two.code} part 1"),
        row(refs["second"], ago(3), "500.00", name, f"{in_two.code} part 2"),
        # Nobody's: no code, an amount no order of this payer has.
        row(refs["stray"], ago(2), "77.77", unique("Unknown Payer"), "misc"),
    ]
    key, imported = await client.import_statement(suite, people.finance, statement, bom=True)
    assert (imported.applied, imported.rows, imported.accepted, imported.duplicates) == (
        True,
        8,
        8,
        0,
    )
    assert list(imported.rejected) == []
    # The same statement key again: the first result, nothing written twice.
    assert await client.import_key(people.finance, key) == imported
    # A second statement repeats a line of the first (a duplicate) and brings a new one.
    _, second = await client.import_statement(
        suite,
        people.finance,
        [statement[0], row(refs["later"], ago(1), "700.00", name, f"{later.code}")],
    )
    assert (second.applied, second.rows, second.accepted, second.duplicates) == (True, 2, 1, 1)

    first = await client.run(people.finance)

    async def state(order: pb.Order) -> pb.Order:
        return await client.order(people.finance, order.id)

    expected = {
        exact.id: (RECONCILED, "100.00", ago(10)),
        partial.id: (PARTIALLY_PAID, "50.00", None),
        over.id: (OVERPAID, "350.00", ago(8)),
        by_amount.id: (RECONCILED, "412.34", ago(7)),
        other_payer.id: (RECONCILED, "500.00", ago(6)),
        # The second payment is the one whose running sum reached the total.
        in_two.id: (RECONCILED, "600.00", ago(3)),
        later.id: (RECONCILED, "700.00", ago(1)),
    }
    for order in (exact, partial, over, by_amount, other_payer, in_two, later):
        stored = await state(order)
        paid_state, paid, fully_paid_at = expected[order.id]
        assert (stored.payment_state, stored.paid_amount.value) == (paid_state, paid), order.code
        assert from_timestamp(stored.fully_paid_at, "fully_paid_at") == fully_paid_at, order.code

    # How each payment was matched: by the quoted code, or by customer + amount.
    matched = {
        payment.bank_reference: payment
        for order in (exact, by_amount, other_payer, in_two)
        for payment in await client.payments_of(people.finance, order.id)
    }
    assert matched[refs["exact"]].matched_by == "ORDER_CODE"
    assert matched[refs["amount"]].matched_by == "CUSTOMER_AMOUNT"
    assert matched[refs["amount"]].order_id == by_amount.id
    assert matched[refs["amount"]].customer_id == buyer
    assert matched[refs["first"]].order_id == matched[refs["second"]].order_id == in_two.id
    assert all(payment.branch_id == people.org.branch for payment in matched.values())
    # The duplicate line was stored once.
    assert [p.bank_reference for p in await client.payments_of(people.finance, exact.id)] == [
        refs["exact"]
    ]

    # Another payer paid an order by its code: PAYER_MISMATCH, once, for that payment only.
    mismatches = await client.alerts_of(people.hr, "PAYER_MISMATCH", customer_id=buyer)
    assert len(mismatches) == 1
    assert mismatches[0].order_id == other_payer.id
    assert mismatches[0].employee_id == people.junior.id
    evidence = dict(mismatches[0].evidence)
    assert (evidence["bank_reference"], evidence["payer_name"]) == (
        refs["other"],
        "Someone Else Ltd",
    )
    assert (evidence["amount"], evidence["order_code"]) == ("500.00", other_payer.code)

    # Finance sees the unmatched payment; the branch's manager does not (it has no branch yet).
    items, unmatched = await client.reconciliation_items(people.finance)
    assert refs["stray"] in {payment.bank_reference for payment in unmatched}
    ours = {item.order.id: item for item in items if item.order.customer_id == buyer}
    assert ours[partial.id].state == PARTIALLY_PAID
    assert (ours[partial.id].paid.value, ours[partial.id].due.value) == ("50.00", "150.00")
    assert (ours[over.id].due.value, ours[over.id].state) == ("0.00", OVERPAID)
    _, managers_unmatched = await client.reconciliation_items(people.manager)
    assert managers_unmatched == []
    partial_only, _ = await client.reconciliation_items(people.manager, PARTIALLY_PAID)
    assert [item.order.id for item in partial_only] == [partial.id]
    # Two at a time, the branch's items come in the same order, each page counting them all
    # and resuming after its last cursor.
    branch_items, _ = await client.reconciliation_items(people.manager)
    paged: list[str] = []
    token = ""
    with acting_as(people.manager):
        while True:
            page = await client.reconciliation.GetReconciliation(
                payments_pb2.GetReconciliationRequest(
                    page=common_pb2.PageRequest(
                        page_size=2, page_token=token, include_total_count=True
                    )
                )
            )
            assert 0 < len(page.items) == len(page.cursors) <= 2
            assert page.page_info.total_count == len(branch_items)
            paged += [item.order.id for item in page.items]
            if not page.page_info.has_next_page:
                assert page.page_info.next_page_token == ""
                break
            assert page.page_info.next_page_token == page.cursors[-1]
            token = page.page_info.next_page_token
    assert paged == [item.order.id for item in branch_items]
    assert {exact.id, partial.id, over.id, by_amount.id, in_two.id, later.id} <= set(paged)

    # Re-running changes nothing: same classification, same counts, no new alert.
    before = {order.id: await state(order) for order in (exact, partial, over, in_two)}
    again = await client.run(people.finance)
    assert again.alerts_raised == 0
    assert (again.orders, again.reconciled, again.partially_paid, again.overpaid) == (
        first.orders,
        first.reconciled,
        first.partially_paid,
        first.overpaid,
    )
    assert (again.payments_matched, again.payments_unmatched) == (
        first.payments_matched,
        first.payments_unmatched,
    )
    assert {order_id: await state(order) for order_id, order in before.items()} == before
    assert len(await client.alerts_of(people.hr, "PAYER_MISMATCH", customer_id=buyer)) == 1

    # A reversal after reconciliation makes the order unpaid again at once (O5: nobody
    # presses a button); a run after it agrees.
    with acting_as(people.finance):
        await client.payments.ReversePayment(
            payments_pb2.ReversePaymentRequest(
                payment_id=matched[refs["exact"]].id,
                kind=payments_pb2.REVERSAL_KIND_CHARGEBACK,
                reason="chargeback by the payer's bank",
            )
        )
    for run in (False, True):
        if run:
            await client.run(people.finance)
        reversed_ = await state(exact)
        assert (reversed_.payment_state, reversed_.paid_amount.value) == (UNPAID, "0.00")
        assert not reversed_.HasField("fully_paid_at")
    # Reversing one of two payments leaves the order partly paid, no longer fully.
    with acting_as(people.finance):
        await client.payments.ReversePayment(
            payments_pb2.ReversePaymentRequest(
                payment_id=matched[refs["first"]].id,
                kind=payments_pb2.REVERSAL_KIND_REFUND,
                reason="refunded the first instalment",
            )
        )
    await client.run(people.finance)
    refunded = await state(in_two)
    assert (refunded.payment_state, refunded.paid_amount.value) == (PARTIALLY_PAID, "500.00")
    assert not refunded.HasField("fully_paid_at")


async def test_customer_amount_pays_the_order_due_first(suite: Suite, client: Client) -> None:
    people = people_of(await make_org(suite))
    name = unique("Ningbo Harbour")
    buyer = await customer(suite, people, name)
    # Two open orders of the same amount: the one due first takes the older payment.
    due_later = await client.approved_order(
        people,
        buyer,
        "880.00",
        order_date=today() - timedelta(days=30),
        expected_payment_date=today() + timedelta(days=20),
    )
    due_first = await client.approved_order(
        people,
        buyer,
        "880.00",
        order_date=today() - timedelta(days=10),
        expected_payment_date=today() + timedelta(days=5),
    )
    # A third order of that amount, paid by a payment that states it: taken first.
    stated = await client.approved_order(
        people,
        buyer,
        "880.00",
        order_date=today() - timedelta(days=40),
        expected_payment_date=today() - timedelta(days=1),
    )
    with acting_as(people.finance):
        await client.payments.RecordPayment(
            payments_pb2.RecordPaymentRequest(
                bank_reference=unique("BR"),
                payer_name=name,
                amount=dec("880.00"),
                currency="CNY",
                paid_at=to_timestamp(ago(6)),
                order_id=stated.id,
            )
        )
    older, newer = unique("BR"), unique("BR")
    # The company name matches too (the customer's company key).
    payer = f"{name} Trading Co"
    _, imported = await client.import_statement(
        suite,
        people.finance,
        [row(older, ago(4), "880.00", payer, "no code"), row(newer, ago(2), "880.00", payer, "")],
    )
    assert imported.accepted == 2
    await client.run(people.finance)
    (stated_payment,) = await client.payments_of(people.finance, stated.id)
    assert (stated_payment.matched_by, stated_payment.order_id) == ("ORDER_CODE", stated.id)
    assert (await client.order(people.finance, stated.id)).payment_state == RECONCILED
    first_paid = await client.payments_of(people.finance, due_first.id)
    later_paid = await client.payments_of(people.finance, due_later.id)
    assert [p.bank_reference for p in first_paid] == [older]
    assert [p.bank_reference for p in later_paid] == [newer]
    assert {p.matched_by for p in [*first_paid, *later_paid]} == {"CUSTOMER_AMOUNT"}
    # Matched by customer: not a payer mismatch.
    assert not await client.alerts_of(people.hr, "PAYER_MISMATCH", customer_id=buyer)


# -- statements refused whole --------------------------------------------------------------------


async def test_a_malformed_row_rejects_the_whole_statement(suite: Suite, client: Client) -> None:
    people = people_of(await make_org(suite))
    name = unique("Suzhou Silk")
    good = [unique("BR") for _ in range(3)]
    lines = [
        row(good[0], ago(3), "120.00", name, "fine"),
        row(unique("BR"), ago(3), "10.12345", name, "five decimals"),  # line 3
        row(good[1], ago(2), "80.00", name, "fine"),
    ]
    _, refused = await client.import_statement(suite, people.finance, lines)
    assert (refused.applied, refused.rows, refused.accepted, refused.duplicates) == (
        False,
        3,
        0,
        0,
    )
    assert [(r.line, r.field) for r in refused.rejected] == [(3, "amount")]
    assert "decimal" in refused.rejected[0].reason

    # Every kind of malformed row is named, each with its line.
    repeated = unique("BR")
    _, many = await client.import_statement(
        suite,
        people.finance,
        [
            row(repeated, ago(3), "1.00", name, "ok"),  # 2
            f"{unique('BR')},{ago(3).isoformat()},1.00,CNY,{name},6222",  # 3: six columns
            row(unique("BR"), ago(3), "1.00", name, "ok").replace(",CNY,", ",XYZ,"),  # 4
            row(unique("BR"), ago(3), "1.00", name, "ok").replace(
                ago(3).isoformat(), "2026-13-45"
            ),  # 5
            row(repeated, ago(2), "2.00", name, "again"),  # 6: the same bank line twice
            "",  # a blank line is no row
            row(good[2], ago(1), "3.00", name, "ok"),  # 8
        ],
    )
    assert not many.applied
    assert many.rows == 6
    assert [(r.line, r.field) for r in many.rejected] == [
        (3, ""),
        (4, "currency"),
        (5, "paid_at"),
        (6, "bank_reference"),
    ]
    assert "line 2" in many.rejected[-1].reason

    # Nothing of either file was applied: the good lines import as new, not as duplicates.
    _, fixed = await client.import_statement(
        suite,
        people.finance,
        [row(reference, ago(1), "9.00", name, "fixed") for reference in [*good, repeated]],
    )
    assert (fixed.applied, fixed.accepted, fixed.duplicates) == (True, 4, 0)

    # A file without the expected header is refused at line 1.
    with acting_as(people.finance):
        data = b"reference,amount\r\nX,1.00\r\n"
        upload = await client.payments.CreateUpload(
            payments_pb2.CreateUploadRequest(
                purpose=payments_pb2.UPLOAD_PURPOSE_STATEMENT,
                content_type="text/csv",
                size_bytes=len(data),
            )
        )
    await put(
        suite, {"uploadUrl": upload.upload_url, "uploadHeaders": dict(upload.upload_headers)}, data
    )
    headless = await client.import_key(people.finance, upload.key)
    assert not headless.applied
    assert [(r.line, r.field) for r in headless.rejected] == [(1, "header")]


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
        with acting_as(people.junior):
            await client.visits.CheckIn(
                visits_pb2.CheckInRequest(
                    at=to_timestamp(ago(days, hour=15)),
                    location=common_pb2.GeoPoint(lat=SITE[0], lng=SITE[1]),
                    accuracy_m=10,
                    customer_id=visited,
                    device_id="rep-phone",
                )
            )

    with acting_as(people.hr):
        detected = await client.reconciliation.DetectDiversionRisk(
            payments_pb2.DetectDiversionRiskRequest()
        )
    assert detected.alerts_raised >= 1
    assert detected.customers_checked >= 2
    alerts = await client.alerts_of(people.hr, "DIVERSION_RISK", customer_id=visited)
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
    assert await client.alerts_of(people.manager, "DIVERSION_RISK", customer_id=visited)
    # Silent too, but nobody kept in touch: no alert.
    assert not await client.alerts_of(people.hr, "DIVERSION_RISK", customer_id=quiet)

    with acting_as(people.hr):
        again = await client.reconciliation.DetectDiversionRisk(
            payments_pb2.DetectDiversionRiskRequest()
        )
    assert again.alerts_raised == 0
    assert len(await client.alerts_of(people.hr, "DIVERSION_RISK", customer_id=visited)) == 1


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


# -- the embedded profile: the same statements on SQLite ---------------------------------------------


async def test_reconciliation_on_the_embedded_profile(embedded_suite: Suite) -> None:
    suite = embedded_suite
    client = Client(suite)
    try:
        people = people_of(await make_org(suite))
        name = unique("Embedded Buyer")
        buyer = await customer(suite, people, name)
        paid = await client.approved_order(
            people, buyer, "250.50", order_date=today() - timedelta(days=3)
        )
        by_amount = await client.approved_order(
            people, buyer, "99.99", order_date=today() - timedelta(days=3)
        )
        overdue = await client.approved_order(
            people,
            buyer,
            "75.00",
            order_date=today() - timedelta(days=40),
            expected_payment_date=today() - timedelta(days=10),
        )
        part_1, no_code = unique("BR"), unique("BR")
        key, imported = await client.import_statement(
            suite,
            people.finance,
            [
                row(part_1, ago(2), "100.00", name, f"{paid.code} part 1"),
                row(no_code, ago(1), "99.99", name, "no code"),
            ],
        )
        assert (imported.applied, imported.accepted) == (True, 2)
        assert await client.import_key(people.finance, key) == imported
        _, again_imported = await client.import_statement(
            suite, people.finance, [row(no_code, ago(1), "99.99", name, "no code")]
        )
        assert (again_imported.accepted, again_imported.duplicates) == (0, 1)
        # Finance states the order when recording; the payer is someone else.
        with acting_as(people.finance):
            await client.payments.RecordPayment(
                payments_pb2.RecordPaymentRequest(
                    bank_reference=unique("BR"),
                    payer_name="Other Payer",
                    amount=dec("150.50"),
                    currency="CNY",
                    paid_at=to_timestamp(ago(1)),
                    order_id=paid.id,
                )
            )
        # Recorded, matched and classified at once; the other payer is flagged at once too.
        assert (await client.order(people.finance, paid.id)).payment_state == RECONCILED
        assert await client.alerts_of(people.hr, "PAYER_MISMATCH", order_id=paid.id)
        first = await client.run(people.finance)
        assert first.alerts_raised == 1  # the overdue order: the fake-deal check is the run's
        stored = await client.order(people.finance, paid.id)
        assert (stored.payment_state, stored.paid_amount.value) == (RECONCILED, "250.50")
        assert from_timestamp(stored.fully_paid_at, "fully_paid_at") == ago(1)
        assert (await client.order(people.finance, by_amount.id)).payment_state == RECONCILED
        assert (await client.order(people.finance, overdue.id)).payment_state == UNPAID
        assert await client.alerts_of(people.hr, "FAKE_DEAL_SUSPECTED", order_id=overdue.id)
        assert await client.alerts_of(people.hr, "PAYER_MISMATCH", order_id=paid.id)
        again = await client.run(people.finance)
        assert again.alerts_raised == 0
        assert (again.reconciled, again.unpaid) == (first.reconciled, first.unpaid)
        streamed = [
            valid.order_id
            async for batch in client.stream_valid_orders(
                people.system,
                payments_pb2.StreamValidOrdersRequest(
                    paid_from=to_timestamp(ago(10)), paid_to=to_timestamp(ago(0, hour=23))
                ),
            )
            for valid in batch.orders
        ]
        # Both fully paid at the same moment: by number then.
        assert streamed == [paid.id, by_amount.id]

        # Diversion risk: a monthly rhythm, 90 days of silence, a visit yesterday.
        regular = await customer(
            suite, people, unique("Embedded Regular"), location={"lat": SITE[0], "lng": SITE[1]}
        )
        for days in (150, 120, 90):
            await client.approved_order(
                people, regular, "10.00", order_date=today() - timedelta(days=days)
            )
        with acting_as(people.junior):
            await client.visits.CheckIn(
                visits_pb2.CheckInRequest(
                    at=to_timestamp(ago(1, hour=15)),
                    location=common_pb2.GeoPoint(lat=SITE[0], lng=SITE[1]),
                    accuracy_m=10,
                    customer_id=regular,
                    device_id="rep-phone",
                )
            )
        with acting_as(people.hr):
            detected = await client.reconciliation.DetectDiversionRisk(
                payments_pb2.DetectDiversionRiskRequest(as_of=today().isoformat())
            )
        # The first buyer has a rhythm too (three orders), but ordered three days ago.
        assert (detected.customers_checked, detected.alerts_raised) == (2, 1)
        (alert,) = await client.alerts_of(people.hr, "DIVERSION_RISK", customer_id=regular)
        evidence = dict(alert.evidence)
        assert (evidence["usual_interval_days"], evidence["days_silent"]) == (30, 90)
        assert evidence["visits_since_last_order"] == 1
    finally:
        await client.channels.close()


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
            {"id": branch, "name": branch, "timeZone": time_zone, "headquarters": False},
        )
        await zone_soon(branch, time_zone)
