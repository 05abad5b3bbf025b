"""What the concurrency tests share: the GraphQL operations they race, ``race`` (20 calls
at once) with its winners and refusals, the audit chain check and builders of inputs.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from salesguard.db import new_id
from salesguard_customers.models import Customer
from tests.harness import GraphQLResult, Suite, global_id, unique
from tests.org import Org, add_employee, new_phone, register
from tests.support.payments import bank_line

CLIENTS = 20
SHANGHAI = ZoneInfo("Asia/Shanghai")

REGISTER = """mutation($input: RegisterCustomerInput!) {
  registerCustomer(input: $input) { customer { id code owner { id } } } }"""
CUSTOMERS = """query($filter: CustomerFilter) {
  customers(first: 100, filter: $filter) { totalCount edges { node { id owner { id } } } } }"""
CUSTOMER = "query($id: ID!) { customer(id: $id) { id owner { id } pooledAt } }"
UPDATE_CUSTOMER = """mutation($input: UpdateCustomerInput!) {
  updateCustomer(input: $input) { customer { id } } }"""
EMPLOYEES = """query($filter: EmployeeFilter) {
  employees(first: 100, filter: $filter) { edges { node { id } } } }"""
AUDIT = """query($filter: AuditEventFilter) {
  auditEvents(first: 100, filter: $filter) {
    edges { node { seq action before after actor { id } } } } }"""
VERIFY = "{ verifyAuditChain { intact checkedCount problem } }"
REQUEST_EXPORT = """mutation($input: RequestCustomerExportInput!) {
  requestCustomerExport(input: $input) { exportRequest { id status } } }"""
DECIDE_EXPORT = """mutation($input: DecideExportRequestInput!) {
  decideExportRequest(input: $input) { exportRequest { id status } } }"""
EXPORT_REQUEST = "query($id: ID!) { exportRequest(id: $id) { status rowCount sha256 } }"
RUN_EXPORT = """mutation($id: ID!) {
  runCustomerExport(input: {id: $id}) { exportRequest { status sha256 } downloadUrl } }"""
CLAIM = """mutation($input: ClaimCustomerInput!) {
  claimCustomer(input: $input) { claimedAt customer { id owner { id } } } }"""
REASSIGN = """mutation($input: ReassignCustomersInput!) {
  reassignCustomers(input: $input) { customers { id owner { id } } } }"""
SUBMIT = """mutation($input: SubmitOrderInput!) {
  submitOrder(input: $input) { order { id code total { amount currency } status } } }"""
DECIDE_ORDER = """mutation($input: DecideOrderInput!) {
  decideOrder(input: $input) { order { id status } } }"""
ORDER = """query($id: ID!) {
  order(id: $id) { id status approvalSteps { status approver { id } } } }"""
TRANSITION = """mutation($input: TransitionOrderInput!) {
  transitionOrder(input: $input) { order { id status } } }"""
RECORD_PAYMENT = """mutation($input: RecordPaymentInput!) {
  recordPayment(input: $input) { duplicate payment { id } } }"""
REVERSE_PAYMENT = """mutation($input: ReversePaymentInput!) {
  reversePayment(input: $input) { payment { id reversed reversalKind } } }"""
IMPORT_PAYMENTS = """mutation($input: ImportPaymentsInput!) {
  importPayments(input: $input) { applied accepted duplicates rows } }"""
RECORD_SHIPMENT = """mutation($input: RecordShipmentInput!) {
  recordShipment(input: $input) { shipment { id } } }"""
CHECK_IN = """mutation($input: CheckInInput!) {
  checkIn(input: $input) { checkIn { id reasons { code } } } }"""
CHECK_OUT = """mutation($input: CheckOutInput!) {
  checkOut(input: $input) { checkIn { id checkedOutAt } } }"""
CHECK_INS = """query($filter: CheckInFilter) {
  checkIns(first: 100, filter: $filter) { totalCount edges { node { id reasons { code } } } } }"""
IMPORT_CALLS = """mutation($input: ImportCallLogsInput!) {
  importCallLogs(input: $input) { accepted duplicates } }"""
ALERTS = """query($filter: AlertFilter) {
  alerts(first: 100, filter: $filter) { edges { node { id source kind status } } } }"""
UPDATE_ALERT = """mutation($input: UpdateAlertInput!) {
  updateAlert(input: $input) { alert { id status } } }"""
ALERT_HISTORY = """query($filter: AlertFilter) {
  alerts(first: 100, filter: $filter) { edges { node { id status history { status } } } } }"""
RUN_COMMISSIONS = """mutation($input: RunCommissionsInput!) {
  runCommissions(input: $input) { periods { period status lines } } }"""
LOCK_PERIOD = """mutation($input: LockCommissionPeriodInput!) {
  lockCommissionPeriod(input: $input) { period { period status } } }"""
ORDER_CODE = "query($id: ID!) { order(id: $id) { code } }"
RECONCILE = """mutation($input: RunReconciliationInput) {
  runReconciliation(input: $input) { orders } }"""
STATEMENT = """query($employeeId: ID!, $period: String!) {
  commissionStatement(employeeId: $employeeId, period: $period) { lines { status reason } } }"""
UPSERT_PLAN = """mutation($input: UpsertCommissionPlanInput!) {
  upsertCommissionPlan(input: $input) { plan { id version } } }"""
FOLLOW_UP = """mutation($input: RecordFollowUpInput!) {
  recordFollowUp(input: $input) { followUp { id } } }"""
PLAN_VISIT = """mutation($input: PlanVisitInput!) {
  planVisit(input: $input) { visitPlan { id } } }"""


# -- helpers ------------------------------------------------------------------------------


async def race(calls: Sequence[Awaitable[GraphQLResult]]) -> list[GraphQLResult]:
    """All at once; no answer may be a 5xx or an untyped error."""
    results = list(await asyncio.gather(*calls))
    for result in results:
        assert result.status == 200, result.body
        assert "INTERNAL" not in result.codes, result.body
        assert all(code != "None" for code in result.codes), result.body
    return results


def winners(results: list[GraphQLResult]) -> list[GraphQLResult]:
    return [result for result in results if not result.errors]


def refusals(results: list[GraphQLResult]) -> Counter[str]:
    return Counter(code for result in results for code in result.codes)


async def chain_intact(suite: Suite, org: Org) -> None:
    report = (await suite.gql(VERIFY, as_=org.hr)).ok()["verifyAuditChain"]
    assert report["intact"], report


async def audit_events(
    suite: Suite, org: Org, customer_id: str, action: str
) -> list[dict[str, Any]]:
    data = (
        await suite.gql(
            AUDIT, {"filter": {"customerId": customer_id, "actions": [action]}}, as_=org.hr
        )
    ).ok()
    return sorted((edge["node"] for edge in data["auditEvents"]["edges"]), key=lambda e: e["seq"])


def first_contact() -> str:
    return (datetime.now(UTC) - timedelta(hours=1)).isoformat()


def registration(**values: Any) -> dict[str, Any]:
    return {
        "name": unique("Racer"),
        "company": unique("Company"),
        "phone": new_phone(),
        "source": "WEBSITE",
        "firstContactAt": first_contact(),
        **values,
    }


async def submit_order(suite: Suite, rep: str, customer_id: str, total: str = "880.00") -> str:
    values = {
        "customerId": customer_id,
        "currency": "CNY",
        "lines": [{"sku": "SKU-1", "description": "goods", "quantity": "1", "unitPrice": total}],
    }
    return str(
        (await suite.gql(SUBMIT, {"input": values}, as_=rep)).ok()["submitOrder"]["order"]["id"]
    )


async def approved_order(suite: Suite, org: Org) -> str:
    customer = await register(suite, org.junior)
    order_id = await submit_order(suite, org.junior, customer["id"])
    decided = await suite.gql(
        DECIDE_ORDER, {"input": {"orderId": order_id, "approve": True}}, as_=org.manager
    )
    assert decided.ok()["decideOrder"]["order"]["status"] == "APPROVED"
    return order_id


def payment(**values: Any) -> dict[str, Any]:
    """A bank line of 880.00 paid two hours ago; ``values`` add to or replace its fields."""
    return bank_line("880.00", (datetime.now(UTC) - timedelta(hours=2)).isoformat()) | values


def check_in(**values: Any) -> dict[str, Any]:
    return {
        "at": (datetime.now(UTC) - timedelta(minutes=30)).isoformat(),
        "location": {"lat": 31.2304, "lng": 121.4737},
        "accuracyM": 10.0,
        "deviceId": "phone-1",
        **values,
    }


async def seed_customers(suite: Suite, org: Org, count: int, owner: str | None) -> list[str]:
    """Set-up only: ``count`` bare customers of the org's branch written straight to the
    database, owned by ``owner`` (an HR key, of team A) or, with None, sitting in the
    branch's pool; their API IDs."""
    now = datetime.now(UTC)
    rows = [
        Customer(
            id=new_id(),
            name=unique("Seeded"),
            identity_key=unique("seeded"),
            source="WEBSITE",
            owner_id=owner,
            team_id=org.team_a if owner else None,
            branch_id=org.branch,
            first_contact_at=now,
            registered_at=now,
            registered_by=org.manager,
            owned_since=now,
            pooled_at=None if owner else now,
        )
        for _ in range(count)
    ]
    async with suite.running["customers"].runtime.db.transaction() as session:
        session.add_all(rows)
    return [global_id("Customer", row.id) for row in rows]


async def leaver_to_be(suite: Suite, org: Org) -> tuple[str, dict[str, Any]]:
    """A junior rep of team A, added for a race against their own departure: their HR key,
    and the upsertEmployee input with which they leave (their customers to the pool)."""
    leaver = unique("leaver")
    employee = await add_employee(
        suite, leaver, "林离", "SALES_JUNIOR", branch=org.branch, team=org.team_a
    )
    return leaver, {**employee, "status": "LEFT", "toPool": True}
