"""What the commissions tests share: the test period (last month in Asia/Shanghai), the
callers of a per-test company, a client over the commissions and orders services' gRPC
APIs that takes orders the real way to paid and reconciled, and money helpers.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text

from salesguard.principal import Principal, acting_as
from salesguard.timeutil import to_timestamp
from salesguard_api.commissions.v1 import commissions_pb2 as pb
from salesguard_api.commissions.v1 import commissions_pb2_grpc
from salesguard_api.common.v1 import common_pb2
from salesguard_api.customers.v1 import customers_pb2
from salesguard_api.orders.v1 import orders_pb2, payments_pb2
from tests.harness import Suite, service_id, unique
from tests.org import make_org, register
from tests.support.orders_service import OrdersServiceClient, People, dec

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


async def make_people(suite: Suite) -> People:
    return People.of(await make_org(suite))


class Client(OrdersServiceClient):
    """Stubs of the orders and commissions services, signed with the suite's internal secret."""

    def __init__(self, suite: Suite) -> None:
        super().__init__(suite, "commissions", timeout=120)
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
        request = pb.RunCommissionsRequest(period=period, branch_id=branch_id)
        return list((await self.call(principal, self.commissions.RunCommissions, request)).periods)

    async def lock(
        self, principal: Principal, branch_id: str, period: str = PERIOD
    ) -> pb.PeriodSummary:
        request = pb.LockCommissionPeriodRequest(period=period, branch_id=branch_id)
        return (await self.call(principal, self.commissions.LockCommissionPeriod, request)).period

    async def statement(
        self, principal: Principal, employee_id: str, period: str = PERIOD
    ) -> pb.CommissionStatement:
        request = pb.GetCommissionStatementRequest(employee_id=employee_id, period=period)
        response = await self.call(principal, self.commissions.GetCommissionStatement, request)
        return response.statement

    async def export(
        self, principal: Principal, branch_id: str, period: str = PERIOD
    ) -> pb.ExportCommissionPeriodResponse:
        request = pb.ExportCommissionPeriodRequest(period=period, branch_id=branch_id)
        return await self.call(principal, self.commissions.ExportCommissionPeriod, request)

    async def freeze(self, principal: Principal, employee_id: str, reason: str) -> int:
        request = pb.FreezeEmployeeLinesRequest(employee_id=employee_id, reason=reason)
        response = await self.call(principal, self.commissions.FreezeEmployeeLines, request)
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

    async def restore_default_plan(self, admin: Principal) -> None:
        """Later runs of any branch get the default rates again (as a new version): what a
        test that changed the plan leaves behind."""
        await self.upsert_plan(
            admin,
            effective_from="2000-01-01",
            company_rate_percent="5",
            personal_rate_percent="8",
            note="defaults again",
        )

    async def plans(self, principal: Principal) -> list[pb.CommissionPlan]:
        with acting_as(principal):
            response = await self.commissions.ListCommissionPlans(pb.ListCommissionPlansRequest())
        return list(response.plans)

    async def update_alert(
        self,
        hr: Principal,
        alert_id: str,
        status: common_pb2.AlertStatus.ValueType,
        resolution: common_pb2.AlertResolution.ValueType = common_pb2.ALERT_RESOLUTION_UNSPECIFIED,
    ) -> common_pb2.Alert:
        with acting_as(hr):
            response = await self.alerts.UpdateAlert(
                common_pb2.UpdateAlertRequest(
                    id=alert_id, status=status, resolution=resolution, note="checked"
                )
            )
        return response.alert


async def customer(suite: Suite, owner: Principal, source: str = "WEBSITE") -> str:
    return service_id((await register(suite, owner.id, source=source))["id"])


def by_code(statement: pb.CommissionStatement) -> dict[str, pb.CommissionLine]:
    return {line.order_code: line for line in statement.lines if line.kind == COMMISSION}


def cents(value: str) -> Decimal:
    return Decimal(value).quantize(Decimal("0.01"))


def half_up(base: str, percent: str) -> Decimal:
    return (Decimal(base) * Decimal(percent) / 100).quantize(Decimal("0.01"), ROUND_HALF_UP)


COMPANY_CLAIM = customers_pb2.SOURCE_CHANNEL_UNSPECIFIED  # defaults to the registered source
PERSONAL_CLAIM = customers_pb2.SOURCE_CHANNEL_PERSONAL


# -- lines as stored ----------------------------------------------------------------------------


# Every column of a line, as the re-run tests compare them.
LINE_COLUMNS = (
    "id, period, branch_id, employee_id, team_id, order_id, order_code, customer_id, kind,"
    " status, base_minor, rate_bp, amount_minor, currency, reason, alert_ids::text,"
    " source_claim, registered_source, plan_version, fully_paid_at"
)


async def stored_lines(suite: Suite, branch_id: str) -> dict[str, tuple[str, tuple[Any, ...]]]:
    """The period's lines of the branch as stored: by ID, (row version, every column)."""
    async with suite.running["commissions"].runtime.db.read() as session:
        rows = await session.execute(
            text(
                f"SELECT xmin::text, {LINE_COLUMNS} FROM lines"
                " WHERE period = :period AND branch_id = :branch_id"
            ),
            {"period": PERIOD, "branch_id": branch_id},
        )
        return {row[1]: (row[0], tuple(row[1:])) for row in rows}


def contents(lines: dict[str, tuple[str, tuple[Any, ...]]]) -> dict[str, tuple[Any, ...]]:
    return {line_id: columns for line_id, (_, columns) in lines.items()}


async def first_run_again(
    suite: Suite, client: Client, people: People, branch_id: str | None = None
) -> dict[str, Any]:
    """What a first run over today's inputs stores of a branch (the company's by default):
    the period's lines and run count reset (as if it never ran), then run."""
    branch_id = branch_id or people.org.branch
    async with suite.running["commissions"].runtime.db.transaction() as session:
        parameters = {"period": PERIOD, "branch_id": branch_id}
        await session.execute(
            text("DELETE FROM lines WHERE period = :period AND branch_id = :branch_id"),
            parameters,
        )
        await session.execute(
            text(
                "UPDATE periods SET run_count = 0 WHERE period = :period AND branch_id = :branch_id"
            ),
            parameters,
        )
    await client.run(people.finance, branch_id)
    return contents(await stored_lines(suite, branch_id))
