"""Commissions (M1–M5) end to end: paid, reconciled orders in the real orders service become
commission lines — rates by source class, withholding on alerts, clawbacks after a locked
period, deterministic exports, exact totals and scoped statements.

Every test works in the branches of its own company (``make_org``), so tests sharing the
suite's databases never see each other's lines. Orders go the real way: a rep submits, a
manager approves, finance records a payment quoting the order code and runs reconciliation.
Payments are dated in the previous month of the branch (Asia/Shanghai), the test period.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from salesguard.csvsafe import read_rows
from salesguard.errors import ErrorCode, ServiceError
from salesguard.grpc_client import ServiceChannels
from salesguard.principal import Principal, acting_as
from salesguard.timeutil import to_timestamp
from salesguard_api.commissions.v1 import commissions_pb2 as pb
from salesguard_api.commissions.v1 import commissions_pb2_grpc
from salesguard_api.common.v1 import common_pb2, common_pb2_grpc
from salesguard_api.customers.v1 import customers_pb2
from salesguard_api.orders.v1 import orders_pb2, orders_pb2_grpc, payments_pb2, payments_pb2_grpc
from tests.harness import Suite, unique
from tests.org import Org, make_org, register
from tests.support.exports import download as download_once

pytestmark = pytest.mark.integration

SHANGHAI = ZoneInfo("Asia/Shanghai")
PAYABLE = pb.LINE_STATUS_PAYABLE
WITHHELD = pb.LINE_STATUS_WITHHELD
PENDING = pb.LINE_STATUS_PENDING_REVIEW
CLAWBACK = pb.LINE_KIND_CLAWBACK
COMMISSION = pb.LINE_KIND_COMMISSION


# -- periods ------------------------------------------------------------------------------------


def month_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def this_month() -> date:
    """The first day of the current month in the branch's time zone."""
    return datetime.now(SHANGHAI).date().replace(day=1)


def last_month() -> date:
    return (this_month() - timedelta(days=1)).replace(day=1)


PERIOD = month_of(last_month())
CURRENT = month_of(this_month())


def paid_in_period(day: int = 10, hour: int = 12) -> datetime:
    first = last_month()
    return datetime(first.year, first.month, day, hour, tzinfo=SHANGHAI)


# -- callers and clients ------------------------------------------------------------------------


@dataclass(frozen=True)
class People:
    org: Org
    junior: Principal
    junior_mate: Principal
    junior_b: Principal
    manager: Principal
    other_manager: Principal
    hr: Principal
    finance: Principal
    admin: Principal


def person(employee_id: str, role: str, branch: str, team: str | None = None) -> Principal:
    return Principal(
        id=employee_id, roles=(role,), team_id=team, branch_id=branch, hq=branch.endswith("-hq")
    )


async def make_people(suite: Suite) -> People:
    org = await make_org(suite)
    return People(
        org=org,
        junior=person(org.junior, "SALES_JUNIOR", org.branch, org.team_a),
        junior_mate=person(org.junior_mate, "SALES_JUNIOR", org.branch, org.team_a),
        junior_b=person(org.junior_b, "SALES_JUNIOR", org.branch, org.team_b),
        manager=person(org.manager, "MANAGER", org.branch),
        other_manager=person(org.other_manager, "MANAGER", org.other_branch),
        hr=person(org.hr, "HR", org.hq),
        finance=person(org.finance, "FINANCE", org.hq),
        admin=Principal(id="admin", roles=("ADMIN",)),
    )


def dec(value: str) -> common_pb2.Decimal:
    return common_pb2.Decimal(value=value)


class Client:
    """Stubs of the orders and commissions services, signed with the suite's internal secret."""

    def __init__(self, suite: Suite) -> None:
        commissions = suite.running["commissions"]
        self.channels = ServiceChannels(
            {"commissions": commissions.address, "orders": suite.running["orders"].address},
            commissions.runtime.internal_secret,
            120,
        )
        orders = self.channels.channel("orders")
        self.orders = orders_pb2_grpc.OrdersServiceStub(orders)
        self.payments = payments_pb2_grpc.PaymentsServiceStub(orders)
        self.reconciliation = payments_pb2_grpc.ReconciliationServiceStub(orders)
        self.order_alerts = common_pb2_grpc.AlertsServiceStub(orders)
        self.commissions = commissions_pb2_grpc.CommissionsServiceStub(
            self.channels.channel("commissions")
        )

    # orders, the real way

    async def submit(
        self,
        rep: Principal,
        customer_id: str,
        total: str,
        *,
        claim: customers_pb2.SourceChannel.ValueType = customers_pb2.SOURCE_CHANNEL_UNSPECIFIED,
        order_date: str = "",
        expected_payment_date: str = "",
    ) -> orders_pb2.Order:
        with acting_as(rep):
            response = await self.orders.SubmitOrder(
                orders_pb2.SubmitOrderRequest(
                    customer_id=customer_id,
                    currency="CNY",
                    lines=[
                        orders_pb2.OrderLine(
                            sku="SKU-1",
                            description="goods",
                            quantity=dec("1"),
                            unit_price=dec(total),
                        )
                    ],
                    source_claim=claim,
                    order_date=order_date,
                    expected_payment_date=expected_payment_date,
                )
            )
        return response.order

    async def approve(self, manager: Principal, order: orders_pb2.Order) -> orders_pb2.Order:
        with acting_as(manager):
            response = await self.orders.DecideOrder(
                orders_pb2.DecideOrderRequest(order_id=order.id, approve=True, comment="ok")
            )
        assert response.order.status == orders_pb2.ORDER_STATUS_APPROVED, response.order
        return response.order

    async def pay(
        self, finance: Principal, order: orders_pb2.Order, paid_at: datetime | None = None
    ) -> payments_pb2.Payment:
        with acting_as(finance):
            response = await self.payments.RecordPayment(
                payments_pb2.RecordPaymentRequest(
                    bank_reference=unique("BR"),
                    payer_name="Acme Trading",
                    amount=order.total,
                    currency=order.currency,
                    paid_at=to_timestamp(paid_at or paid_in_period()),
                    reference_text=f"payment for {order.code}",
                )
            )
        return response.payment

    async def reverse_payment(
        self,
        finance: Principal,
        order_id: str,
        kind: payments_pb2.ReversalKind.ValueType,
        reason: str,
    ) -> None:
        """Reverse the one payment recorded for the order."""
        with acting_as(finance):
            (payment,) = (
                await self.payments.ListPayments(
                    payments_pb2.ListPaymentsRequest(
                        filter=payments_pb2.PaymentFilter(order_id=order_id),
                        page=common_pb2.PageRequest(page_size=10),
                    )
                )
            ).payments
            await self.payments.ReversePayment(
                payments_pb2.ReversePaymentRequest(payment_id=payment.id, kind=kind, reason=reason)
            )

    async def reconcile(self, finance: Principal) -> None:
        with acting_as(finance):
            await self.reconciliation.RunReconciliation(payments_pb2.RunReconciliationRequest())

    async def paid_orders(
        self,
        people: People,
        specs: list[tuple[Principal, str, str, customers_pb2.SourceChannel.ValueType]],
        paid_at: datetime | None = None,
    ) -> list[orders_pb2.Order]:
        """Submit (rep, customer, total, claim) orders, approve, pay and reconcile them; the
        payments a minute apart, in the order given."""
        orders = []
        first = paid_at or paid_in_period()
        for offset, (rep, customer_id, total, claim) in enumerate(specs):
            order = await self.submit(rep, customer_id, total, claim=claim)
            await self.approve(people.manager, order)
            await self.pay(people.finance, order, first + timedelta(minutes=offset))
            orders.append(order)
        await self.reconcile(people.finance)
        return orders

    # commissions

    async def run(
        self, principal: Principal, branch_id: str, period: str = PERIOD
    ) -> list[pb.PeriodSummary]:
        with acting_as(principal):
            response = await self.commissions.RunCommissions(
                pb.RunCommissionsRequest(period=period, branch_id=branch_id)
            )
        return list(response.periods)

    async def lock(
        self, principal: Principal, branch_id: str, period: str = PERIOD
    ) -> pb.PeriodSummary:
        with acting_as(principal):
            response = await self.commissions.LockCommissionPeriod(
                pb.LockCommissionPeriodRequest(period=period, branch_id=branch_id)
            )
        return response.period

    async def statement(
        self, principal: Principal, employee_id: str, period: str = PERIOD
    ) -> pb.CommissionStatement:
        with acting_as(principal):
            response = await self.commissions.GetCommissionStatement(
                pb.GetCommissionStatementRequest(employee_id=employee_id, period=period)
            )
        return response.statement

    async def export(
        self, principal: Principal, branch_id: str, period: str = PERIOD
    ) -> pb.ExportCommissionPeriodResponse:
        with acting_as(principal):
            return await self.commissions.ExportCommissionPeriod(
                pb.ExportCommissionPeriodRequest(period=period, branch_id=branch_id)
            )

    async def freeze(self, principal: Principal, employee_id: str, reason: str) -> int:
        with acting_as(principal):
            response = await self.commissions.FreezeEmployeeLines(
                pb.FreezeEmployeeLinesRequest(employee_id=employee_id, reason=reason)
            )
        return response.lines_frozen

    async def upsert_plan(self, principal: Principal, **values: Any) -> pb.CommissionPlan:
        for name in (
            "company_rate_percent",
            "personal_rate_percent",
            "cap_per_order",
            "cap_per_period",
        ):
            if isinstance(values.get(name), str):
                values[name] = dec(values[name])
        with acting_as(principal):
            response = await self.commissions.UpsertCommissionPlan(
                pb.UpsertCommissionPlanRequest(**values)
            )
        return response.plan

    async def plans(self, principal: Principal) -> list[pb.CommissionPlan]:
        with acting_as(principal):
            response = await self.commissions.ListCommissionPlans(pb.ListCommissionPlansRequest())
        return list(response.plans)

    async def alerts_of(self, order_id: str, hr: Principal) -> list[common_pb2.Alert]:
        with acting_as(hr):
            response = await self.order_alerts.ListAlerts(
                common_pb2.ListAlertsRequest(
                    filter=common_pb2.AlertFilter(order_id=order_id),
                    page=common_pb2.PageRequest(page_size=50),
                )
            )
        return list(response.alerts)

    async def update_alert(
        self,
        hr: Principal,
        alert_id: str,
        status: common_pb2.AlertStatus.ValueType,
        resolution: common_pb2.AlertResolution.ValueType = common_pb2.ALERT_RESOLUTION_UNSPECIFIED,
    ) -> common_pb2.Alert:
        with acting_as(hr):
            response = await self.order_alerts.UpdateAlert(
                common_pb2.UpdateAlertRequest(
                    id=alert_id, status=status, resolution=resolution, note="checked"
                )
            )
        return response.alert


@pytest.fixture
async def client(suite: Suite) -> AsyncIterator[Client]:
    opened = Client(suite)
    yield opened
    await opened.channels.close()


@pytest.fixture
async def people(suite: Suite) -> People:
    return await make_people(suite)


async def customer(suite: Suite, owner: Principal, source: str = "WEBSITE") -> str:
    return str((await register(suite, owner.id, source=source))["id"])


async def refused(call: Awaitable[Any], code: ErrorCode) -> ServiceError:
    with pytest.raises(ServiceError) as raised:
        await call
    assert raised.value.code is code, raised.value
    return raised.value


def by_code(statement: pb.CommissionStatement) -> dict[str, pb.CommissionLine]:
    return {line.order_code: line for line in statement.lines if line.kind == COMMISSION}


def cents(value: str) -> Decimal:
    return Decimal(value).quantize(Decimal("0.01"))


def half_up(base: str, percent: str) -> Decimal:
    return (Decimal(base) * Decimal(percent) / 100).quantize(Decimal("0.01"), ROUND_HALF_UP)


COMPANY_CLAIM = customers_pb2.SOURCE_CHANNEL_UNSPECIFIED  # defaults to the registered source
PERSONAL_CLAIM = customers_pb2.SOURCE_CHANNEL_PERSONAL


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
            for a in await client.alerts_of(order.id, people.hr)
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


# -- M5: determinism -----------------------------------------------------------------------------


async def download(suite: Suite, url: str, employee: Principal) -> bytes:
    """A payroll export's one-time download, fetched by the employee who exported it."""
    response = await download_once(suite, url, as_=employee.id)
    assert response.status_code == 200, response.text
    return response.content


async def test_two_runs_give_byte_identical_exports(
    suite: Suite, client: Client, people: People
) -> None:
    company = await customer(suite, people.junior, "WEBSITE")
    personal = await customer(suite, people.junior_b, "PERSONAL")
    await client.paid_orders(
        people,
        [
            (people.junior, company, "123.45", COMPANY_CLAIM),
            (people.junior, company, "99.99", PERSONAL_CLAIM),
            (people.junior_b, personal, "2500.00", COMPANY_CLAIM),
        ],
    )
    branch = people.org.branch
    await refused(client.export(people.finance, branch), ErrorCode.FAILED_PRECONDITION)
    await client.run(people.finance, branch)
    first = await client.export(people.finance, branch)
    first_bytes = await download(suite, first.download_url, people.finance)
    first_statement = await client.statement(people.finance, people.junior.id)

    (summary,) = await client.run(people.finance, branch)
    second = await client.export(people.finance, branch)
    second_bytes = await download(suite, second.download_url, people.finance)
    assert second_bytes == first_bytes
    assert second.sha256 == first.sha256 == hashlib.sha256(first_bytes).hexdigest()
    assert second.row_count == first.row_count == 3 == summary.lines
    assert await client.statement(people.finance, people.junior.id) == first_statement

    text = first_bytes.decode()
    header, *rows = text.splitlines()
    assert header.startswith("line_id,period,branch_id,employee_id,team_id,order_code")
    assert len(rows) == 3
    assert all(row.split(",")[1:3] == [PERIOD, branch] for row in rows)
    # Sorted by employee, then payment time and order code: the file is the same every time.
    employees = [row.split(",")[3] for row in rows]
    assert employees == sorted(employees)
    assert {row.split(",")[4] for row in rows} == {people.org.team_a, people.org.team_b}
    # Each line's row carries the amounts its statement shows.
    columns = header.split(",")
    by_id = {row[0]: dict(zip(columns, row, strict=True)) for row in read_rows(rows)}
    assert first_statement.lines
    for line in first_statement.lines:
        row = by_id[line.id]
        assert (row["order_code"], row["amount"], row["status"]) == (
            line.order_code,
            line.amount.value,
            pb.LineStatus.Name(line.status).removeprefix("LINE_STATUS_"),
        )


# -- money ---------------------------------------------------------------------------------------


async def test_totals_are_the_sums_of_the_lines_to_the_cent(
    suite: Suite, client: Client, people: People
) -> None:
    company = await customer(suite, people.junior, "WEBSITE")
    personal = await customer(suite, people.junior, "PERSONAL")
    specs = [
        (people.junior, company, "33.33", COMPANY_CLAIM),  # 1.6665 -> 1.67
        (people.junior, company, "66.67", COMPANY_CLAIM),  # 3.3335 -> 3.33
        (people.junior, company, "0.10", COMPANY_CLAIM),  # 0.005 -> 0.01 (half-up)
        (people.junior, personal, "33.33", COMPANY_CLAIM),  # 2.6664 -> 2.67
        (people.junior, personal, "66.67", COMPANY_CLAIM),  # 5.3336 -> 5.33
        (people.junior, company, "10.10", PERSONAL_CLAIM),  # 0.505 -> 0.51, pending review
    ]
    orders = await client.paid_orders(people, specs)
    (summary,) = await client.run(people.finance, people.org.branch)
    statement = await client.statement(people.junior, people.junior.id)
    lines = by_code(statement)
    expected = {
        order.code: half_up(total, "8" if customer_id == personal else "5")
        for order, (_, customer_id, total, _) in zip(orders, specs, strict=True)
    }
    assert {code: cents(line.amount.value) for code, line in lines.items()} == expected
    assert [str(amount) for amount in expected.values()] == [
        "1.67",
        "3.33",
        "0.01",
        "2.67",
        "5.33",
        "0.51",
    ]
    (total,) = statement.totals
    payable = sum(
        (cents(line.amount.value) for line in statement.lines if line.status == PAYABLE),
        Decimal(0),
    )
    pending = sum(
        (cents(line.amount.value) for line in statement.lines if line.status == PENDING),
        Decimal(0),
    )
    assert cents(total.payable.value) == payable == Decimal("13.01")
    assert cents(total.pending_review.value) == pending == Decimal("0.51")
    assert summary.payable.value == "13.01"
    # Lines come in a fixed order: by payment time, then order code.
    codes = [line.order_code for line in statement.lines]
    assert codes == sorted(codes)


# -- statements are scoped; only finance runs and locks -----------------------------------------


async def test_statements_are_scoped_and_only_finance_runs_and_locks(
    suite: Suite, client: Client, people: People
) -> None:
    company = await customer(suite, people.junior, "WEBSITE")
    mates = await customer(suite, people.junior_mate, "WEBSITE")
    await client.paid_orders(
        people,
        [
            (people.junior, company, "1000.00", COMPANY_CLAIM),
            (people.junior_mate, mates, "2000.00", COMPANY_CLAIM),
        ],
    )
    branch = people.org.branch
    for outsider in (people.junior, people.manager, people.hr):
        await refused(client.run(outsider, branch), ErrorCode.FORBIDDEN)
    await client.run(people.finance, branch)

    own = await client.statement(people.junior, people.junior.id)
    assert [line.amount.value for line in own.lines] == ["50.00"]
    await refused(client.statement(people.junior, people.junior_mate.id), ErrorCode.FORBIDDEN)
    await refused(client.statement(people.junior_b, people.junior.id), ErrorCode.FORBIDDEN)
    for reader in (people.manager, people.hr, people.finance):
        mate = await client.statement(reader, people.junior_mate.id)
        assert [line.amount.value for line in mate.lines] == ["100.00"]
    await refused(client.statement(people.other_manager, people.junior.id), ErrorCode.FORBIDDEN)
    # A rep's own empty month is no secret; someone else's is.
    assert not (await client.statement(people.junior_b, people.junior_b.id)).lines

    for outsider in (people.junior, people.manager, people.hr):
        await refused(client.lock(outsider, branch), ErrorCode.FORBIDDEN)
        await refused(client.export(outsider, branch), ErrorCode.FORBIDDEN)
    assert (await client.lock(people.finance, branch)).status == pb.PERIOD_STATUS_LOCKED
    assert (await client.export(people.finance, branch)).row_count == 2

    await refused(client.run(people.finance, branch, "2026-13"), ErrorCode.VALIDATION)
    await refused(client.run(people.finance, unique("no-branch")), ErrorCode.NOT_FOUND)
    await refused(client.statement(people.junior, people.junior.id, "26-01"), ErrorCode.VALIDATION)


# -- C6: a leaving employee's open lines wait for review -----------------------------------------


async def test_freezing_a_leaving_employee_holds_their_open_lines(
    suite: Suite, client: Client, people: People
) -> None:
    company = await customer(suite, people.junior_mate, "WEBSITE")
    await client.paid_orders(
        people,
        [
            (people.junior_mate, company, "100.00", COMPANY_CLAIM),
            (people.junior_mate, company, "300.00", COMPANY_CLAIM),
        ],
    )
    branch = people.org.branch
    await client.run(people.finance, branch)
    await refused(client.freeze(people.finance, people.junior_mate.id, "left"), ErrorCode.FORBIDDEN)
    assert await client.freeze(people.hr, people.junior_mate.id, "resigned 2026-03-31") == 2
    assert await client.freeze(people.hr, people.junior_mate.id, "resigned 2026-03-31") == 0

    for _ in range(2):  # a re-run keeps them frozen, with the same reason
        statement = await client.statement(people.hr, people.junior_mate.id)
        assert {line.status for line in statement.lines} == {PENDING}
        assert all(
            line.reason == "COMPANY_CHANNEL; employee left: resigned 2026-03-31"
            for line in statement.lines
        )
        (total,) = statement.totals
        assert (total.payable.value, total.pending_review.value) == ("0.00", "20.00")
        await client.run(people.finance, branch)


# -- the embedded profile: SQLite, in-process policies, local objects ----------------------------


async def test_the_embedded_profile_runs_locks_and_exports(embedded_suite: Suite) -> None:
    people = await make_people(embedded_suite)
    client = Client(embedded_suite)
    try:
        company = await customer(embedded_suite, people.junior, "WEBSITE")
        personal = await customer(embedded_suite, people.junior, "PERSONAL")
        orders = await client.paid_orders(
            people,
            [
                (people.junior, company, "33.33", COMPANY_CLAIM),
                (people.junior, personal, "66.67", COMPANY_CLAIM),
                (people.junior, company, "10.10", PERSONAL_CLAIM),
            ],
        )
        branch = people.org.branch
        for _ in range(2):
            (summary,) = await client.run(people.finance, branch)
        assert (summary.lines, summary.payable.value, summary.pending_review.value) == (
            3,
            "7.00",
            "0.51",
        )
        statement = await client.statement(people.junior, people.junior.id)
        assert [line.order_code for line in statement.lines] == [order.code for order in orders]
        assert [line.amount.value for line in statement.lines] == ["1.67", "5.33", "0.51"]
        await client.lock(people.finance, branch)
        await refused(client.run(people.finance, branch), ErrorCode.FAILED_PRECONDITION)
        assert await client.freeze(people.hr, people.junior.id, "left") == 0  # locked: unchanged
        assert (await client.statement(people.junior, people.junior.id)).lines == statement.lines
        exported = await client.export(people.finance, branch)
        again = await client.export(people.finance, branch)
        assert exported.sha256 == again.sha256 and exported.row_count == 3
        content = await download(embedded_suite, exported.download_url, people.finance)
        assert hashlib.sha256(content).hexdigest() == exported.sha256
    finally:
        await client.channels.close()


# -- M1: plans (last: they apply to every branch from their date on) -----------------------------


async def test_plans_are_versioned_and_a_locked_period_keeps_its_lines(
    suite: Suite, client: Client, people: People
) -> None:
    await refused(
        client.upsert_plan(
            people.junior,
            effective_from="2090-01-01",
            company_rate_percent="6",
            personal_rate_percent="9",
        ),
        ErrorCode.FORBIDDEN,
    )
    for bad in (
        {"company_rate_percent": "100.01"},
        {"company_rate_percent": "5.555"},
        {"company_rate_percent": ""},
        {"effective_from": "2090-02-30"},
        {"cap_per_order": "-1"},
    ):
        values: dict[str, Any] = {
            "effective_from": "2090-01-01",
            "company_rate_percent": "6",
            "personal_rate_percent": "9",
            **bad,
        }
        error = await refused(client.upsert_plan(people.admin, **values), ErrorCode.VALIDATION)
        assert error.field == next(iter(bad)), error  # the refusal names the bad field

    company = await customer(suite, people.junior, "WEBSITE")
    personal = await customer(suite, people.junior, "PERSONAL")
    branch = people.org.branch
    start = last_month().isoformat()
    try:
        capped = await client.upsert_plan(
            people.finance,
            effective_from=start,
            company_rate_percent="10",
            personal_rate_percent="12.5",
            cap_per_order="150",
            cap_per_period="300",
            note="spring campaign",
        )
        assert capped.version >= 1
        orders = await client.paid_orders(
            people,
            [
                (people.junior, company, "1000.00", COMPANY_CLAIM),  # 100.00
                (people.junior, personal, "2000.00", COMPANY_CLAIM),  # 250.00 -> 150.00 per order
                (people.junior, company, "900.00", COMPANY_CLAIM),  # 90.00 -> 50.00 left in period
                (people.junior, company, "500.00", COMPANY_CLAIM),  # 50.00 -> 0.00
            ],
        )
        # Paid in that order: the period cap takes what the earlier ones leave.
        (summary,) = await client.run(people.finance, branch)
        assert summary.plan_version == capped.version
        statement = await client.statement(people.junior, people.junior.id)
        amounts = [by_code(statement)[order.code].amount.value for order in orders]
        assert amounts == ["100.00", "150.00", "50.00", "0.00"]
        assert "CAPPED_PER_ORDER" in by_code(statement)[orders[1].code].reason
        assert "CAPPED_PER_PERIOD" in by_code(statement)[orders[2].code].reason
        assert statement.totals[0].payable.value == "300.00"
        assert [line.plan_version for line in statement.lines] == [capped.version] * 4
        await client.lock(people.finance, branch)
        statement = await client.statement(people.junior, people.junior.id)
        assert statement.period_status == pb.PERIOD_STATUS_LOCKED

        lower = {
            "effective_from": start,
            "company_rate_percent": "1",
            "personal_rate_percent": "2",
            "idempotency_key": unique("plan"),
        }
        later = await client.upsert_plan(people.finance, **lower)
        assert later.version == capped.version + 1
        # A retried upsert stores no second version; the key cannot carry other rates.
        assert await client.upsert_plan(people.finance, **lower) == later
        await refused(
            client.upsert_plan(people.finance, **{**lower, "company_rate_percent": "3"}),
            ErrorCode.IDEMPOTENCY_KEY_REUSED,
        )
        assert await client.statement(people.junior, people.junior.id) == statement
        listed = await client.plans(people.hr)
        assert [plan.version for plan in listed] == sorted(plan.version for plan in listed)
        assert listed[0].version == 0 and listed[0].company_rate_percent.value == "5.00"
        assert {plan.version for plan in listed} >= {capped.version, later.version}
        assert max(plan.version for plan in listed) == later.version  # the retry stored none
        mine = next(plan for plan in listed if plan.version == capped.version)
        assert (mine.personal_rate_percent.value, mine.cap_per_order.value) == ("12.50", "150.00")
        assert mine.created_by == people.finance.id and mine.note == "spring campaign"
        await refused(client.plans(people.junior), ErrorCode.FORBIDDEN)
    finally:
        # Later runs of any branch get the default rates again (as a new version).
        await client.upsert_plan(
            people.admin,
            effective_from="2000-01-01",
            company_rate_percent="5",
            personal_rate_percent="8",
            note="defaults again",
        )
