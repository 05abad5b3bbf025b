"""What the gateway's commissions tests share: the test period, the operations, and taking
orders the real way to paid and reconciled, then running and reading commissions.

The commissions tests run against the real services (embedded profile): orders go the real
way — a rep submits, the branch manager approves, finance records a payment quoting the order
code (paid in the test period) and runs reconciliation — and finance runs the commissions of
the org's branch. Commission periods are per branch, so the orgs of these tests never see
each other's lines.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from tests.harness import GraphQLResult, Suite, employee_id, global_id
from tests.org import Org
from tests.support.payments import bank_line

SHANGHAI = ZoneInfo("Asia/Shanghai")
# A month of its own: no other gateway test pays orders in it.
PERIOD = "2025-03"
ORDER_DATE = "2025-03-03"

SUBMIT = """mutation($input: SubmitOrderInput!) {
  submitOrder(input: $input) { order { id code total { amount currency } } } }"""
DECIDE = """mutation($input: DecideOrderInput!) {
  decideOrder(input: $input) { order { id status } } }"""
RECORD_PAYMENT = """mutation($input: RecordPaymentInput!) {
  recordPayment(input: $input) { payment { id matchedBy } } }"""
RECONCILE = """mutation($input: RunReconciliationInput) {
  runReconciliation(input: $input) { alertsRaised } }"""
RUN = """mutation($input: RunCommissionsInput!) {
  runCommissions(input: $input) { periods {
    period status lines orders payable { amount currency } withheld { amount currency } pendingReview { amount currency } clawback { amount currency } lastRunAt lockedAt
    planVersion branchId branch { id } lockedBy { id }
  } } }"""
LOCK = """mutation($input: LockCommissionPeriodInput!) {
  lockCommissionPeriod(input: $input) { period { period status lockedAt lockedBy { id } } } }"""
EXPORT = """mutation($input: ExportCommissionPeriodInput!) {
  exportCommissionPeriod(input: $input) { downloadUrl downloadUrlExpiresAt rowCount sha256 } }"""
STATEMENT = """query($employeeId: ID, $period: String!) {
  commissionStatement(employeeId: $employeeId, period: $period) {
    period periodStatus employee { id }
    lines { id period orderCode orderId kind status base { amount currency } rate amount { amount currency } currency reason alertIds
            sourceClaim registeredSource planVersion fullyPaidAt employeeId }
    totals { currency payable { amount currency } withheld { amount currency } pendingReview { amount currency } clawback { amount currency } }
  } }"""
STATEMENT_WITH_LINKS = """query($employeeId: ID!, $period: String!) {
  commissionStatement(employeeId: $employeeId, period: $period) {
    employee { id name team { id } }
    lines {
      orderCode amount { amount currency }
      order { id code total { amount currency } customer { id code } submittedBy { id } }
      customer { id code owner { id } }
      employee { id name }
      branch { id timeZone }
    }
  } }"""
PLANS = """{ commissionPlans { id version effectiveFrom companyRatePercent personalRatePercent
  capPerOrder capPerPeriod createdBy { id } createdById createdAt note } }"""
UPSERT_PLAN = """mutation($input: UpsertCommissionPlanInput!) {
  upsertCommissionPlan(input: $input) { plan { id version effectiveFrom companyRatePercent
    personalRatePercent capPerOrder capPerPeriod createdById createdAt note } } }"""
UPDATE_ALERT = """mutation($input: UpdateAlertInput!) {
  updateAlert(input: $input) { alert { id source kind status resolution note } } }"""
ALERTS = """query($filter: AlertFilter) {
  alerts(first: 20, filter: $filter) { edges { node { id source kind status order { id } } } }
}"""


def paid_at(day: int, minute: int = 0) -> str:
    return datetime(2025, 3, day, 10, minute, tzinfo=SHANGHAI).isoformat()


def rpc_calls(result: GraphQLResult) -> dict[str, int]:
    return dict(result.body.get("extensions", {}).get("rpcCalls", {}))


async def submit(
    suite: Suite, rep: str, customer_id: str, total: str, **extra: Any
) -> dict[str, Any]:
    values = {
        "customerId": customer_id,
        "currency": "CNY",
        "lines": [{"sku": "SKU-1", "quantity": "1", "unitPrice": total}],
        "orderDate": ORDER_DATE,
        **extra,
    }
    result = await suite.gql(SUBMIT, {"input": values}, as_=rep)
    return dict(result.ok()["submitOrder"]["order"])


async def approve(suite: Suite, org: Org, order: dict[str, Any]) -> None:
    values = {"orderId": order["id"], "approve": True, "comment": "ok"}
    decided = (await suite.gql(DECIDE, {"input": values}, as_=org.manager)).ok()
    assert decided["decideOrder"]["order"]["status"] == "APPROVED"


async def pay(suite: Suite, org: Org, order: dict[str, Any], when: str) -> None:
    values = bank_line(order["total"]["amount"], when, referenceText=f"payment for {order['code']}")
    (await suite.gql(RECORD_PAYMENT, {"input": values}, as_=org.finance)).ok()


async def reconcile(suite: Suite, org: Org) -> None:
    (await suite.gql(RECONCILE, {"input": {}}, as_=org.finance)).ok()


async def paid_orders(
    suite: Suite, org: Org, specs: list[tuple[str, str, str, str | None]]
) -> list[dict[str, Any]]:
    """(rep, customer ID, total, source claim) orders, approved, paid in PERIOD, reconciled."""
    orders = []
    for minute, (rep, customer_id, total, claim) in enumerate(specs):
        extra = {"sourceClaim": claim} if claim else {}
        order = await submit(suite, rep, customer_id, total, **extra)
        await approve(suite, org, order)
        await pay(suite, org, order, paid_at(10, minute))
        orders.append(order)
    await reconcile(suite, org)
    return orders


async def run(suite: Suite, as_: str, branch: str, period: str = PERIOD) -> GraphQLResult:
    """Run the commissions of ``branch`` (its HR key) for ``period``."""
    values = {"period": period, "branchId": global_id("Branch", branch)}
    return await suite.gql(RUN, {"input": values}, as_=as_)


async def statement(
    suite: Suite, as_: str, employee: str | None, period: str = PERIOD
) -> GraphQLResult:
    """The commission statement of ``employee`` (their HR key; None: the caller's own)."""
    values = {"employeeId": employee_id(employee) if employee else None, "period": period}
    return await suite.gql(STATEMENT, values, as_=as_)
