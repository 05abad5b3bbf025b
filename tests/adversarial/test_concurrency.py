"""The attack suite's concurrency part: every uniqueness rule and state
transition raced by 20 clients through the gateway, on both profiles.

``racing`` is the full profile (PostgreSQL, OPA, S3: the shared ``suite``) and the embedded
one (SQLite, regopy, local objects: one suite for this module). Each test starts its own
company, fires 20 requests at once with ``asyncio.gather`` and then checks what the
database says: one winner, typed refusals for the rest, and an audit chain that verifies.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from salesguard.db import Database, NestedTransactionError, new_id
from salesguard.jobs import job_lock
from salesguard_customers.models import Customer
from tests.harness import GraphQLResult, Suite, unique
from tests.org import (
    UPSERT_BRANCH,
    UPSERT_EMPLOYEE,
    UPSERT_TEAM,
    Org,
    add_employee,
    make_org,
    new_phone,
    register,
)
from tests.photos import put
from tests.support.exports import request_export

pytestmark = pytest.mark.integration

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
  submitOrder(input: $input) { order { id code total status } } }"""
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
PAYMENT_UPLOAD = """mutation($input: CreatePaymentUploadInput!) {
  createPaymentUpload(input: $input) { key uploadUrl uploadHeaders } }"""
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


@pytest.fixture
def racing(either_profile: Suite) -> Suite:
    """Every race runs on PostgreSQL (the full profile) and on SQLite (the embedded one)."""
    return either_profile


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
    return {
        "bankReference": unique("BANK"),
        "payerName": "Acme Trading",
        "amount": "880.00",
        "currency": "CNY",
        "paidAt": (datetime.now(UTC) - timedelta(hours=2)).isoformat(),
        **values,
    }


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
    database, owned by ``owner`` (of team A) or, with None, sitting in the branch's pool."""
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
    return [row.id for row in rows]


# -- registrations (C3) --------------------------------------------------------------------


async def test_one_phone_in_four_formats_by_two_reps_is_one_customer(
    racing: Suite,
) -> None:
    org = await make_org(racing)
    # Rounds, because one race may happen to run in order; the bug showed in most rounds.
    for _ in range(3):
        digits = new_phone().replace(" ", "").removeprefix("+86")
        formats = [
            f"+86 {digits[:3]} {digits[3:7]} {digits[7:]}",
            digits,
            f"+86{digits}",
            f"0086-{digits[:3]}-{digits[3:7]}-{digits[7:]}",
        ]
        results = await race(
            [
                racing.gql(
                    REGISTER,
                    {"input": registration(phone=formats[n % 4])},
                    as_=(org.junior, org.junior_b)[n % 2],
                )
                for n in range(CLIENTS)
            ]
        )
        assert len(winners(results)) == 1, refusals(results)
        assert refusals(results) == {"DUPLICATE_CUSTOMER": CLIENTS - 1}
        found = await racing.gql(CUSTOMERS, {"filter": {"text": digits}}, as_=org.manager)
        assert found.ok()["customers"]["totalCount"] == 1
    await chain_intact(racing, org)


async def test_email_case_variants_and_name_company_race_to_one_customer(
    racing: Suite,
) -> None:
    org = await make_org(racing)
    name, company = unique("Zhang Wei"), unique("Acme")
    email = f"{unique('buyer')}@example.com"
    emails = [email, email.upper(), email.title(), f"  {email.capitalize()} "]
    # Two reps: refusals of three would mark the value shared (C12) and let registrations in.
    reps = (org.junior, org.junior_b)
    by_email = [registration(email=emails[n % 4], phone=None) for n in range(CLIENTS)]
    by_name = [
        registration(name=(name, name.upper())[n % 2], company=(company, company.lower())[n % 2])
        for n in range(CLIENTS)
    ]
    results = await race(
        [
            racing.gql(REGISTER, {"input": values}, as_=reps[n % 2])
            for n, values in enumerate([*by_email, *by_name])
        ]
    )
    for searched, raced in ((email, results[:CLIENTS]), (name, results[CLIENTS:])):
        assert len(winners(raced)) == 1, refusals(raced)
        assert refusals(raced) == {"DUPLICATE_CUSTOMER": CLIENTS - 1}
        found = await racing.gql(CUSTOMERS, {"filter": {"text": searched}}, as_=org.manager)
        assert found.ok()["customers"]["totalCount"] == 1
    await chain_intact(racing, org)


async def test_customers_updated_to_one_phone_at_once_keep_it_unique(racing: Suite) -> None:
    org = await make_org(racing)
    customers = await asyncio.gather(*(register(racing, org.junior) for _ in range(CLIENTS)))
    phone = new_phone()
    results = await race(
        [
            racing.gql(
                UPDATE_CUSTOMER, {"input": {"id": customer["id"], "phone": phone}}, as_=org.junior
            )
            for customer in customers
        ]
    )
    assert len(winners(results)) == 1, refusals(results)
    assert refusals(results) == {"DUPLICATE_CUSTOMER": CLIENTS - 1}
    digits = phone.replace(" ", "").removeprefix("+86")
    found = await racing.gql(CUSTOMERS, {"filter": {"text": digits}}, as_=org.manager)
    assert found.ok()["customers"]["totalCount"] == 1
    await chain_intact(racing, org)


# -- export requests (C9) -------------------------------------------------------------------


async def test_export_decisions_raced_one_decision_wins(racing: Suite) -> None:
    org = await make_org(racing)
    customer = await register(racing, org.junior)
    request = await request_export(racing, org.manager, [customer["id"]], "quarterly review")
    results = await race(
        [
            racing.gql(
                DECIDE_EXPORT,
                {"input": {"id": request["id"], "approve": n % 2 == 0, "comment": f"#{n}"}},
                as_=org.manager_2,
            )
            for n in range(CLIENTS)
        ]
    )
    (won,) = winners(results)
    assert refusals(results) == {"FAILED_PRECONDITION": CLIENTS - 1}
    status = won.data["decideExportRequest"]["exportRequest"]["status"]
    stored = (await racing.gql(EXPORT_REQUEST, {"id": request["id"]}, as_=org.manager)).ok()
    assert stored["exportRequest"]["status"] == status
    decisions = [
        *await audit_events(racing, org, customer["id"], "customer.export.approve"),
        *await audit_events(racing, org, customer["id"], "customer.export.reject"),
    ]
    assert len(decisions) == 1
    await chain_intact(racing, org)


async def test_an_approved_export_runs_once_however_many_run_it(racing: Suite) -> None:
    org = await make_org(racing)
    customer = await register(racing, org.junior)
    request = await request_export(racing, org.manager, [customer["id"]], "audit")
    (
        await racing.gql(
            DECIDE_EXPORT, {"input": {"id": request["id"], "approve": True}}, as_=org.manager_2
        )
    ).ok()
    results = await race(
        [racing.gql(RUN_EXPORT, {"id": request["id"]}, as_=org.manager) for _ in range(CLIENTS)]
    )
    (won,) = winners(results)
    assert refusals(results) == {"FAILED_PRECONDITION": CLIENTS - 1}
    stored = (await racing.gql(EXPORT_REQUEST, {"id": request["id"]}, as_=org.manager)).ok()
    assert stored["exportRequest"]["status"] == "COMPLETED"
    assert (
        stored["exportRequest"]["sha256"]
        == won.data["runCustomerExport"]["exportRequest"]["sha256"]
    )
    assert len(await audit_events(racing, org, customer["id"], "customer.export")) == 1
    await chain_intact(racing, org)


# -- the pool (C11) and reassignment (C6) --------------------------------------------------------


async def test_one_pooled_customer_claimed_by_many_reps_has_one_owner(racing: Suite) -> None:
    org = await make_org(racing)
    (customer_id,) = await seed_customers(racing, org, 1, owner=None)
    reps = (org.junior, org.junior_mate, org.senior, org.junior_b)
    results = await race(
        [
            racing.gql(CLAIM, {"input": {"customerId": customer_id}}, as_=reps[n % 4])
            for n in range(CLIENTS)
        ]
    )
    (won,) = winners(results)
    assert set(refusals(results)) <= {"CONFLICT", "NOT_FOUND", "FAILED_PRECONDITION"}
    owner = won.data["claimCustomer"]["customer"]["owner"]["id"]
    stored = (await racing.gql(CUSTOMER, {"id": customer_id}, as_=org.manager)).ok()
    assert stored["customer"]["owner"] == {"id": owner}
    assert stored["customer"]["pooledAt"] is None
    assert len(await audit_events(racing, org, customer_id, "customer.claim")) == 1
    await chain_intact(racing, org)


async def test_claims_raced_at_the_holding_cap_stop_at_the_cap(racing: Suite) -> None:
    org = await make_org(racing)
    cap = 50  # policy data: customer_pool.holding_caps.SALES_JUNIOR
    await seed_customers(racing, org, cap - 1, owner=org.junior)
    pooled = await seed_customers(racing, org, CLIENTS, owner=None)
    results = await race(
        [racing.gql(CLAIM, {"input": {"customerId": c}}, as_=org.junior) for c in pooled]
    )
    assert len(winners(results)) == 1, refusals(results)
    assert refusals(results) == {"FAILED_PRECONDITION": CLIENTS - 1}
    held = await racing.gql(CUSTOMERS, {"filter": {"ownerId": org.junior}}, as_=org.manager)
    assert held.ok()["customers"]["totalCount"] == cap


async def test_reassignments_raced_apply_one_after_another(racing: Suite) -> None:
    org = await make_org(racing)
    customer = await register(racing, org.junior)
    reps = (org.junior, org.junior_mate, org.senior, org.junior_b)
    results = await race(
        [
            racing.gql(
                REASSIGN,
                {
                    "input": {
                        "customerIds": [customer["id"]],
                        "newOwnerId": reps[(n + 1) % 4],
                        "reason": f"round {n}",
                    }
                },
                as_=org.manager,
            )
            for n in range(CLIENTS)
        ]
    )
    assert len(winners(results)) == CLIENTS, refusals(results)
    events = await audit_events(racing, org, customer["id"], "customer.reassign")
    assert len(events) == CLIENTS
    # Serialised: each reassignment saw the owner the one before it left.
    owners = [org.junior, *(event["after"]["owner_id"] for event in events)]
    assert [event["before"]["owners"][customer["id"]] for event in events] == owners[:-1]
    stored = (await racing.gql(CUSTOMER, {"id": customer["id"]}, as_=org.manager)).ok()
    assert stored["customer"]["owner"] == {"id": owners[-1]}
    await chain_intact(racing, org)


async def test_a_leaver_never_owns_a_customer_registered_during_the_departure(
    racing: Suite,
) -> None:
    org = await make_org(racing)
    leaver = unique("leaver")
    employee = await add_employee(
        racing, leaver, "林离", "SALES_JUNIOR", branch=org.branch, team=org.team_a
    )
    await register(racing, leaver)
    # A manager registering for them, and the leaver for themselves.
    calls = [
        racing.gql(
            REGISTER, {"input": registration(ownerId=leaver)}, as_=(org.manager, leaver)[n % 2]
        )
        for n in range(CLIENTS - 1)
    ]
    calls.insert(
        CLIENTS // 2,
        racing.gql(
            UPSERT_EMPLOYEE,
            {"input": {**employee, "status": "LEFT", "toPool": True}},
            as_="admin",
        ),
    )
    results = await race(calls)
    assert not results[CLIENTS // 2].errors, results[CLIENTS // 2].body
    assert set(refusals(results)) <= {"VALIDATION", "FORBIDDEN", "UNAUTHENTICATED"}
    owned = await racing.gql(CUSTOMERS, {"filter": {"ownerId": leaver}}, as_=org.manager)
    assert owned.ok()["customers"]["totalCount"] == 0
    await chain_intact(racing, org)


async def test_one_new_branch_team_and_employee_upserted_by_many_admins_is_one_row(
    racing: Suite,
) -> None:
    org = await make_org(racing)
    branch, team, person = unique("branch"), unique("team"), unique("person")
    branches = await race(
        [
            racing.gql(
                UPSERT_BRANCH,
                {"input": {"id": branch, "name": f"#{n}", "timeZone": "Asia/Shanghai"}},
                as_="admin",
            )
            for n in range(CLIENTS)
        ]
    )
    assert not [result.body for result in branches if result.errors]
    teams = await race(
        [
            racing.gql(
                UPSERT_TEAM,
                {"input": {"id": team, "name": f"#{n}", "branchId": branch}},
                as_="admin",
            )
            for n in range(CLIENTS)
        ]
    )
    assert not [result.body for result in teams if result.errors]
    people = await race(
        [
            racing.gql(
                UPSERT_EMPLOYEE,
                {
                    "input": {
                        "id": person,
                        "name": f"#{n}",
                        "roles": ["SALES_JUNIOR"],
                        "teamId": team,
                        "branchId": branch,
                    }
                },
                as_="admin",
            )
            for n in range(CLIENTS)
        ]
    )
    assert not [result.body for result in people if result.errors]
    found = await racing.gql(EMPLOYEES, {"filter": {"branchId": branch}}, as_=org.hr)
    assert [edge["node"]["id"] for edge in found.ok()["employees"]["edges"]] == [person]


# -- orders (O1, O2, O4) ---------------------------------------------------------------------


async def test_one_approval_step_is_decided_once(racing: Suite) -> None:
    org = await make_org(racing)
    customer = await register(racing, org.junior)
    order_id = await submit_order(racing, org.junior, customer["id"])
    results = await race(
        [
            racing.gql(
                DECIDE_ORDER,
                {"input": {"orderId": order_id, "approve": n % 2 == 0}},
                as_=(org.manager, org.manager_2)[n % 2],
            )
            for n in range(CLIENTS)
        ]
    )
    (won,) = winners(results)
    assert refusals(results) == {"FAILED_PRECONDITION": CLIENTS - 1}
    order = (await racing.gql(ORDER, {"id": order_id}, as_=org.manager)).ok()["order"]
    assert order["status"] == won.data["decideOrder"]["order"]["status"]
    assert [step["status"] for step in order["approvalSteps"]] == [order["status"]]


async def test_order_transitions_raced_follow_the_status_machine(racing: Suite) -> None:
    org = await make_org(racing)
    order_id = await approved_order(racing, org)
    targets = ("FULFILLED", "CANCELLED", "CLOSED")
    results = await race(
        [
            racing.gql(
                TRANSITION,
                {"input": {"orderId": order_id, "to": targets[n % 3], "reason": "race"}},
                as_=org.manager,
            )
            for n in range(CLIENTS)
        ]
    )
    moved = [result.data["transitionOrder"]["order"]["status"] for result in winners(results)]
    assert set(refusals(results)) <= {"FAILED_PRECONDITION"}
    # APPROVED → FULFILLED → CLOSED, or APPROVED → CANCELLED: each move once. (The results
    # come in the order the requests were sent, not the order they won in.)
    chains = {
        "CANCELLED": ["CANCELLED"],
        "FULFILLED": ["FULFILLED"],
        "CLOSED": ["FULFILLED", "CLOSED"],
    }
    final = "CLOSED" if "CLOSED" in moved else moved[0]
    assert sorted(moved) == sorted(chains[final]), moved
    order = (await racing.gql(ORDER, {"id": order_id}, as_=org.manager)).ok()["order"]
    assert order["status"] == final


async def test_one_bank_reference_is_one_payment(racing: Suite) -> None:
    org = await make_org(racing)
    values = payment()
    results = await race(
        [racing.gql(RECORD_PAYMENT, {"input": values}, as_=org.finance) for _ in range(CLIENTS)]
    )
    recorded = [result.ok()["recordPayment"] for result in results]
    assert len({entry["payment"]["id"] for entry in recorded}) == 1
    assert [entry["duplicate"] for entry in recorded].count(False) == 1


async def test_one_voucher_backs_one_payment(racing: Suite) -> None:
    org = await make_org(racing)
    voucher = b"\xff\xd8\xff\xe0voucher" + unique("v").encode()
    created = (
        await racing.gql(
            PAYMENT_UPLOAD,
            {
                "input": {
                    "purpose": "VOUCHER",
                    "contentType": "image/jpeg",
                    "sizeBytes": len(voucher),
                }
            },
            as_=org.finance,
        )
    ).ok()["createPaymentUpload"]
    await put(racing, created, voucher)
    results = await race(
        [
            racing.gql(
                RECORD_PAYMENT, {"input": payment(voucherKey=created["key"])}, as_=org.finance
            )
            for _ in range(CLIENTS)
        ]
    )
    assert len(winners(results)) == 1, refusals(results)
    assert refusals(results) == {"VALIDATION": CLIENTS - 1}


async def test_a_payment_is_reversed_once(racing: Suite) -> None:
    org = await make_org(racing)
    recorded = (await racing.gql(RECORD_PAYMENT, {"input": payment()}, as_=org.finance)).ok()
    payment_id = recorded["recordPayment"]["payment"]["id"]
    results = await race(
        [
            racing.gql(
                REVERSE_PAYMENT,
                {
                    "input": {
                        "paymentId": payment_id,
                        "kind": ("REFUND", "CHARGEBACK")[n % 2],
                        "reason": f"race {n}",
                    }
                },
                as_=org.finance,
            )
            for n in range(CLIENTS)
        ]
    )
    assert len(winners(results)) == 1, refusals(results)
    assert refusals(results) == {"FAILED_PRECONDITION": CLIENTS - 1}


async def test_overlapping_statements_imported_at_once_record_each_line_once(
    racing: Suite,
) -> None:
    org = await make_org(racing)
    paid_at = (datetime.now(UTC) - timedelta(hours=3)).isoformat()
    references = [unique("STMT") for _ in range(30)]
    header = "bank_reference,paid_at,amount,currency,payer_name,payer_account,reference_text\n"
    keys = []
    for n in range(CLIENTS // 4):
        # Each statement holds most lines, in its own order: the imports overlap crosswise.
        mine = references[n:] if n % 2 else list(reversed(references))[n:]
        text = header + "".join(f"{ref},{paid_at},10.00,CNY,Payer,,stmt\n" for ref in mine)
        data = text.encode()
        created = (
            await racing.gql(
                PAYMENT_UPLOAD,
                {
                    "input": {
                        "purpose": "STATEMENT",
                        "contentType": "text/csv",
                        "sizeBytes": len(data),
                    }
                },
                as_=org.finance,
            )
        ).ok()["createPaymentUpload"]
        await put(racing, created, data)
        keys.append(created["key"])
    results = await race(
        [
            racing.gql(
                IMPORT_PAYMENTS, {"input": {"statementKey": keys[n % len(keys)]}}, as_=org.finance
            )
            for n in range(CLIENTS)
        ]
    )
    by_key: dict[str, list[dict[str, Any]]] = {}
    for n, result in enumerate(results):
        by_key.setdefault(keys[n % len(keys)], []).append(result.ok()["importPayments"])
    for answers in by_key.values():
        assert all(answer == answers[0] for answer in answers), answers
        assert answers[0]["applied"]
    assert sum(answers[0]["accepted"] for answers in by_key.values()) == len(references)


async def test_one_parcel_is_one_shipment(racing: Suite) -> None:
    org = await make_org(racing)
    order_id = await approved_order(racing, org)
    values = {
        "orderId": order_id,
        "carrier": "SF Express",
        "trackingNumber": unique("SF"),
        "shippedAt": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
    }
    results = await race(
        [racing.gql(RECORD_SHIPMENT, {"input": values}, as_=org.manager) for _ in range(CLIENTS)]
    )
    ids = {result.ok()["recordShipment"]["shipment"]["id"] for result in results}
    assert len(ids) == 1


# -- field visits (A3) --------------------------------------------------------------------------


async def test_check_ins_raced_from_a_new_device_are_all_stored_one_flagged(
    racing: Suite,
) -> None:
    org = await make_org(racing)
    (await racing.gql(CHECK_IN, {"input": check_in()}, as_=org.junior)).ok()
    results = await race(
        [
            racing.gql(
                CHECK_IN,
                {
                    "input": check_in(
                        deviceId="phone-2",
                        at=(datetime.now(UTC) - timedelta(minutes=n)).isoformat(),
                    )
                },
                as_=org.junior,
            )
            for n in range(CLIENTS)
        ]
    )
    assert len(winners(results)) == CLIENTS, refusals(results)
    flagged = [
        result
        for result in results
        if "NEW_DEVICE" in {r["code"] for r in result.data["checkIn"]["checkIn"]["reasons"]}
    ]
    assert len(flagged) == 1
    stored = await racing.gql(CHECK_INS, {"filter": {"employeeId": org.junior}}, as_=org.manager)
    assert stored.ok()["checkIns"]["totalCount"] == CLIENTS + 1


async def test_a_check_out_is_recorded_once(racing: Suite) -> None:
    org = await make_org(racing)
    done = (await racing.gql(CHECK_IN, {"input": check_in()}, as_=org.junior)).ok()
    check_in_id = done["checkIn"]["checkIn"]["id"]
    results = await race(
        [
            racing.gql(CHECK_OUT, {"input": {"checkInId": check_in_id}}, as_=org.junior)
            for _ in range(CLIENTS)
        ]
    )
    assert len(winners(results)) == 1, refusals(results)
    assert refusals(results) == {"FAILED_PRECONDITION": CLIENTS - 1}


async def test_overlapping_call_log_imports_record_each_call_once(racing: Suite) -> None:
    org = await make_org(racing)
    start = datetime.now(UTC) - timedelta(days=1)
    calls = [
        {
            "employeeId": org.junior,
            "number": new_phone(),
            "direction": "OUTGOING",
            "startedAt": (start + timedelta(minutes=n)).isoformat(),
            "durationSeconds": 60,
        }
        for n in range(60)
    ]
    # Half of them in the opposite order: the same rows inserted crosswise.
    results = await race(
        [
            racing.gql(
                IMPORT_CALLS,
                {"input": {"entries": calls if n % 2 else calls[::-1]}},
                as_=org.hr,
            )
            for n in range(CLIENTS)
        ]
    )
    imported = [result.ok()["importCallLogs"] for result in results]
    assert all(answer["accepted"] + answer["duplicates"] == len(calls) for answer in imported)
    assert sum(answer["accepted"] for answer in imported) == len(calls)


# -- alerts and commissions -----------------------------------------------------------------------


async def test_an_alert_decided_by_racing_managers_is_decided_once(racing: Suite) -> None:
    org = await make_org(racing)
    late = await register(racing, org.junior, hours_since_contact=48)
    found = (
        await racing.gql(
            ALERTS,
            {"filter": {"kinds": ["LATE_REGISTRATION"], "customerId": late["id"]}},
            as_=org.manager,
        )
    ).ok()
    (alert,) = [edge["node"] for edge in found["alerts"]["edges"]]
    decisions = [
        {"status": "RESOLVED", "resolution": "CONFIRMED"},
        {"status": "DISMISSED"},
        {"status": "RESOLVED", "resolution": "CLEARED"},
        {"status": "DISMISSED"},
    ]
    results = await race(
        [
            racing.gql(
                UPDATE_ALERT,
                {"input": {"id": alert["id"], "source": alert["source"], **decisions[n % 4]}},
                as_=(org.manager, org.manager_2)[n % 2],
            )
            for n in range(CLIENTS)
        ]
    )
    (won,) = winners(results)
    assert refusals(results) == {"FORBIDDEN": CLIENTS - 1}
    after = (
        await racing.gql(
            ALERT_HISTORY,
            {"filter": {"kinds": ["LATE_REGISTRATION"], "customerId": late["id"]}},
            as_=org.hr,
        )
    ).ok()
    (stored,) = [edge["node"] for edge in after["alerts"]["edges"]]
    assert stored["status"] == won.data["updateAlert"]["alert"]["status"]
    assert len(stored["history"]) == 1


async def test_a_locked_period_stays_locked_while_runs_race_the_lock(racing: Suite) -> None:
    org = await make_org(racing)
    period = datetime.now(SHANGHAI).strftime("%Y-%m")
    values = {"period": period, "branchId": org.branch}
    (await racing.gql(RUN_COMMISSIONS, {"input": values}, as_=org.finance)).ok()
    results = await race(
        [
            racing.gql((RUN_COMMISSIONS, LOCK_PERIOD)[n % 2], {"input": values}, as_=org.finance)
            for n in range(CLIENTS)
        ]
    )
    assert set(refusals(results)) <= {"FAILED_PRECONDITION"}
    locks = [result for n, result in enumerate(results) if n % 2]
    assert all(not result.errors for result in locks), refusals(locks)
    assert {r.data["lockCommissionPeriod"]["period"]["status"] for r in locks} == {"LOCKED"}
    after = await racing.gql(RUN_COMMISSIONS, {"input": values}, as_=org.finance)
    assert after.codes == ["FAILED_PRECONDITION"]


async def test_a_leavers_lines_stay_frozen_while_runs_race_the_departure(racing: Suite) -> None:
    org = await make_org(racing)
    leaver = unique("leaver")
    employee = await add_employee(
        racing, leaver, "林离", "SALES_JUNIOR", branch=org.branch, team=org.team_a
    )
    customer = await register(racing, leaver)
    order_id = await submit_order(racing, leaver, customer["id"])
    (
        await racing.gql(
            DECIDE_ORDER, {"input": {"orderId": order_id, "approve": True}}, as_=org.manager
        )
    ).ok()
    code = (await racing.gql(ORDER_CODE, {"id": order_id}, as_=org.manager)).ok()["order"]["code"]
    paid = payment(referenceText=f"payment for {code}")
    (await racing.gql(RECORD_PAYMENT, {"input": paid}, as_=org.finance)).ok()
    (await racing.gql(RECONCILE, {"input": {}}, as_=org.finance)).ok()
    period = datetime.now(SHANGHAI).strftime("%Y-%m")
    values = {"period": period, "branchId": org.branch}
    (await racing.gql(RUN_COMMISSIONS, {"input": values}, as_=org.finance)).ok()
    before = await racing.gql(STATEMENT, {"employeeId": leaver, "period": period}, as_=org.finance)
    assert [line["status"] for line in before.ok()["commissionStatement"]["lines"]] == ["PAYABLE"]

    async def depart() -> GraphQLResult:
        # While the runs are under way: after they looked up who is frozen, before they write.
        await asyncio.sleep(0.3)
        departure = {**employee, "status": "LEFT", "toPool": True}
        return await racing.gql(UPSERT_EMPLOYEE, {"input": departure}, as_="admin")

    runs = [
        racing.gql(RUN_COMMISSIONS, {"input": values}, as_=org.finance) for _ in range(CLIENTS - 1)
    ]
    results = await race([*runs, depart()])
    assert not [result.body for result in results if result.errors]
    after = await racing.gql(STATEMENT, {"employeeId": leaver, "period": period}, as_=org.finance)
    assert [line["status"] for line in after.ok()["commissionStatement"]["lines"]] == [
        "PENDING_REVIEW"
    ]


async def test_plan_versions_stay_unique_when_stored_at_once(racing: Suite) -> None:
    org = await make_org(racing)
    values = {
        # Far ahead, so no other test's period falls under these plans.
        "effectiveFrom": "2199-01-01",
        "companyRatePercent": "5",
        "personalRatePercent": "8",
    }
    results = await race(
        [
            racing.gql(UPSERT_PLAN, {"input": {**values, "note": f"#{n}"}}, as_=org.finance)
            for n in range(CLIENTS)
        ]
    )
    assert set(refusals(results)) <= {"CONFLICT"}
    versions = [r.data["upsertCommissionPlan"]["plan"]["version"] for r in winners(results)]
    assert versions and len(set(versions)) == len(versions)


# -- idempotency keys reused by 20 clients: one effect, one answer ----------------------------------

IdempotentCall = Callable[[Suite, Org, str], Awaitable[tuple[str, dict[str, Any], str]]]


async def _register(suite: Suite, org: Org, key: str) -> tuple[str, dict[str, Any], str]:
    return REGISTER, registration(idempotencyKey=key), org.junior


async def _follow_up(suite: Suite, org: Org, key: str) -> tuple[str, dict[str, Any], str]:
    customer = await register(suite, org.junior)
    values = {"customerId": customer["id"], "kind": "CALL", "note": "race", "idempotencyKey": key}
    return FOLLOW_UP, values, org.junior


async def _submit(suite: Suite, org: Org, key: str) -> tuple[str, dict[str, Any], str]:
    customer = await register(suite, org.junior)
    values = {
        "customerId": customer["id"],
        "currency": "CNY",
        "lines": [{"sku": "SKU-1", "description": "goods", "quantity": "2", "unitPrice": "10.00"}],
        "idempotencyKey": key,
    }
    return SUBMIT, values, org.junior


async def _export_request(suite: Suite, org: Org, key: str) -> tuple[str, dict[str, Any], str]:
    customer = await register(suite, org.junior)
    values = {"customerIds": [customer["id"]], "reason": "race", "idempotencyKey": key}
    return REQUEST_EXPORT, values, org.manager


async def _check_in(suite: Suite, org: Org, key: str) -> tuple[str, dict[str, Any], str]:
    return CHECK_IN, check_in(idempotencyKey=key), org.junior


async def _plan_visit(suite: Suite, org: Org, key: str) -> tuple[str, dict[str, Any], str]:
    customer = await register(suite, org.junior)
    start = datetime.now(UTC) + timedelta(days=1)
    values = {
        "customerId": customer["id"],
        "windowStart": start.isoformat(),
        "windowEnd": (start + timedelta(hours=1)).isoformat(),
        "idempotencyKey": key,
    }
    return PLAN_VISIT, values, org.junior


async def _claim(suite: Suite, org: Org, key: str) -> tuple[str, dict[str, Any], str]:
    (customer_id,) = await seed_customers(suite, org, 1, owner=None)
    return CLAIM, {"customerId": customer_id, "idempotencyKey": key}, org.junior


IDEMPOTENT: dict[str, IdempotentCall] = {
    "registerCustomer": _register,
    "recordFollowUp": _follow_up,
    "submitOrder": _submit,
    "requestCustomerExport": _export_request,
    "checkIn": _check_in,
    "planVisit": _plan_visit,
    "claimCustomer": _claim,
}


async def test_an_idempotency_key_reused_by_many_clients_has_one_effect(racing: Suite) -> None:
    """Every create-type mutation at once, each retried by 20 clients with one key."""
    org = await make_org(racing)
    prepared = {
        mutation: await prepare(racing, org, unique("key"))
        for mutation, prepare in IDEMPOTENT.items()
    }
    calls = [
        racing.gql(query, {"input": values}, as_=caller)
        for query, values, caller in prepared.values()
        for _ in range(CLIENTS)
    ]
    results = await race(calls)
    for number, mutation in enumerate(prepared):
        answers = [r.ok()[mutation] for r in results[number * CLIENTS : (number + 1) * CLIENTS]]
        assert all(answer == answers[0] for answer in answers), (mutation, answers)
    stored = await racing.gql(CHECK_INS, {"filter": {"employeeId": org.junior}}, as_=org.manager)
    assert stored.ok()["checkIns"]["totalCount"] == 1
    await chain_intact(racing, org)


# -- scheduled jobs on SQLite: `make run`'s scheduler and a `salesguard job` beside it ------


async def test_a_job_held_by_one_process_is_skipped_by_another_on_sqlite(
    module_embedded_suite: Suite,
) -> None:
    job = "customers.contact-reads-retention"
    env = {
        **os.environ,
        **{
            f"SALESGUARD_{name.upper()}": str(value)
            for name, value in module_embedded_suite.settings.items()
            if value is not None
        },
    }
    async with job_lock(module_embedded_suite.running["customers"].runtime.db, job) as held:
        assert held
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "salesguard.cli",
            "job",
            job,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    assert json.loads(out.decode().splitlines()[-1])["status"] == "skipped"


# -- the guard against a write transaction inside another ----------------------------------


async def test_a_write_transaction_inside_another_on_one_database_is_refused(
    tmp_path: Path,
) -> None:
    """On SQLite the inner one would wait for the outer one's write lock, which waits for it."""
    first, second = (Database(f"sqlite+aiosqlite:///{tmp_path}/{n}.db") for n in (1, 2))
    try:
        async with first.transaction():
            with pytest.raises(NestedTransactionError):
                async with first.transaction():
                    pass
            async with second.transaction():  # another database: its own lock
                pass
            # A task started inside may write once the transaction that started it is over.
            later = asyncio.create_task(asyncio.sleep(0.05))
            follow_up = asyncio.create_task(_write_after(first, later))
        await follow_up
    finally:
        await first.dispose()
        await second.dispose()


async def _write_after(db: Database, moment: Awaitable[None]) -> None:
    await moment
    async with db.transaction() as session:
        await session.execute(text("SELECT 1"))
