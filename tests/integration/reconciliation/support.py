"""What the reconciliation tests share: the callers of a company, a client over the orders,
payments and visits gRPC APIs, statement rows and dates in Asia/Shanghai.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from salesguard.principal import Principal, acting_as
from salesguard.timeutil import to_timestamp
from salesguard_api.attendance.v1 import visits_pb2, visits_pb2_grpc
from salesguard_api.common.v1 import common_pb2
from salesguard_api.orders.v1 import orders_pb2 as pb
from salesguard_api.orders.v1 import payments_pb2
from tests.harness import Suite, service_id
from tests.org import Org, register
from tests.photos import put
from tests.support.orders_service import OrdersServiceClient, dec

SHANGHAI = ZoneInfo("Asia/Shanghai")
SITE = (31.2304, 121.4737)
HEADER = "bank_reference,paid_at,amount,currency,payer_name,payer_account,reference_text"

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


class Client(OrdersServiceClient):
    """Stubs of the orders and attendance services, signed with the suite's secret."""

    def __init__(self, suite: Suite) -> None:
        super().__init__(suite, "attendance", timeout=60)
        self.visits = visits_pb2_grpc.VisitsServiceStub(self.channels.channel("attendance"))

    async def stream_valid_orders(
        self, principal: Principal, request: payments_pb2.StreamValidOrdersRequest
    ) -> AsyncIterator[payments_pb2.StreamValidOrdersResponse]:
        with acting_as(principal):
            stream = self.reconciliation.StreamValidOrders(request)
        async for batch in stream:
            yield batch

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

    async def import_statement(
        self, suite: Suite, principal: Principal, lines: list[str], *, bom: bool = False
    ) -> tuple[str, payments_pb2.ImportPaymentsResponse]:
        """Upload a statement CSV as the app would (CreateUpload, PUT) and import it."""
        data = ("\ufeff" if bom else "").encode() + "\r\n".join([HEADER, *lines, ""]).encode()
        key = await self.upload_statement(suite, principal, data)
        return key, await self.import_key(principal, key)

    async def upload_statement(self, suite: Suite, principal: Principal, data: bytes) -> str:
        """CreateUpload for a statement, then PUT ``data`` as the app would; the key."""
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
        return upload.key

    async def reverse(
        self,
        principal: Principal,
        payment_id: str,
        kind: payments_pb2.ReversalKind.ValueType,
        reason: str,
    ) -> None:
        with acting_as(principal):
            await self.payments.ReversePayment(
                payments_pb2.ReversePaymentRequest(payment_id=payment_id, kind=kind, reason=reason)
            )

    async def visit(self, rep: Principal, customer_id: str, days_ago: float) -> None:
        """A check-in at SITE linked to ``customer_id``, ``days_ago`` at 15:00 in Shanghai."""
        with acting_as(rep):
            await self.visits.CheckIn(
                visits_pb2.CheckInRequest(
                    at=to_timestamp(ago(days_ago, hour=15)),
                    location=common_pb2.GeoPoint(lat=SITE[0], lng=SITE[1]),
                    accuracy_m=10,
                    customer_id=customer_id,
                    device_id="rep-phone",
                )
            )

    async def detect_diversion_risk(
        self, principal: Principal, as_of: str = ""
    ) -> payments_pb2.DetectDiversionRiskResponse:
        with acting_as(principal):
            return await self.reconciliation.DetectDiversionRisk(
                payments_pb2.DetectDiversionRiskRequest(as_of=as_of)
            )

    async def import_key(
        self, principal: Principal, key: str
    ) -> payments_pb2.ImportPaymentsResponse:
        with acting_as(principal):
            return await self.payments.ImportPayments(
                payments_pb2.ImportPaymentsRequest(statement_key=key)
            )


# -- helpers --------------------------------------------------------------------------------------


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
    return service_id(registered["id"])
