"""Orders through the gateway (O1–O6): submission, approvals, scopes, payments, reconciliation.

Against the real orders, customers and attendance services (embedded profile).
Each test works in an org of its own, or in the module's, so the shared suite's
other orders stay out of the way; reconciliation is global, so its test looks
for its own order in the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from gateway.tests.conftest import StartSuite
from salesguard.alerts import AlertDraft, raise_alert
from salesguard_orders.models import Alert as OrdersAlert
from tests.harness import GraphQLResult, Suite, unique
from tests.org import Org, make_org, register
from tests.photos import put

SHANGHAI = ZoneInfo("Asia/Shanghai")

ORDER_FIELDS = """
  id code currency total orderDate expectedPaymentDate sourceClaim registeredSource
  status flags submittedAt updatedAt paymentState paidAmount fullyPaidAt shipped note
  lines { sku description quantity unitPrice discountPercent lineTotal }
  approvalSteps { sequence role status comment decidedAt reason approverId approver { id } }
  customer { id code } owner { id } submittedBy { id } team { id } branch { id }
"""
SUBMIT = (
    "mutation($input: SubmitOrderInput!) { submitOrder(input: $input) { order { "
    + ORDER_FIELDS
    + " } } }"
)
DECIDE = """
mutation($input: DecideOrderInput!) {
  decideOrder(input: $input) {
    order { id status approvalSteps { sequence role status comment decidedAt approver { id } } }
  }
}
"""
TRANSITION = """
mutation($input: TransitionOrderInput!) { transitionOrder(input: $input) { order { id status } } }
"""
ONE = "query($id: ID!) { order(id: $id) { " + ORDER_FIELDS + " } }"
PAGE = """
query($filter: OrderFilter, $after: String) {
  orders(first: 100, filter: $filter, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id code status } }
  }
}
"""
PAGE_WITH_LINKS = """
query($filter: OrderFilter) {
  orders(first: 50, filter: $filter) {
    totalCount
    edges { node {
      id code total
      customer { id code name owner { id } }
      owner { id name }
      submittedBy { id name team { id } }
      team { id name }
      branch { id name }
      approvalSteps { role status }
    } }
  }
}
"""
RECORD_PAYMENT = """
mutation($input: RecordPaymentInput!) {
  recordPayment(input: $input) {
    duplicate
    payment {
      id bankReference payerName payerAccount amount currency paidAt referenceText voucherKey
      matchedBy reversed reversalKind reversalReason reversedAt recordedAt
      order { id } customer { id } recordedBy { id }
    }
  }
}
"""
RUN_RECONCILIATION = """
mutation($input: RunReconciliationInput) {
  runReconciliation(input: $input) {
    orders paymentsMatched paymentsUnmatched reconciled partiallyPaid unpaid overpaid alertsRaised
  }
}
"""
RECONCILIATION = """
query($asOf: Date, $states: [PaymentState!], $after: String) {
  reconciliation(asOf: $asOf, states: $states, first: 100, after: $after) {
    asOf totalCount pageInfo { hasNextPage endCursor }
    items { cursor order { id code total customer { id } } status paid due
            expectedPaymentDate pastDue }
    unmatchedPayments { id bankReference amount }
  }
}
"""
ALERTS_OF_ORDER = """
query($orderId: ID!) {
  alerts(first: 10, filter: {orderId: $orderId}) {
    edges { node { id kind source orderId employee { id } customer { id } order { id code status } } }
  }
}
"""


def today() -> date:
    """Today where the test org's branches are (Asia/Shanghai)."""
    return datetime.now(SHANGHAI).date()


def line(**extra: Any) -> dict[str, Any]:
    return {
        "sku": "SKU-1",
        "description": "Widget",
        "quantity": "2",
        "unitPrice": "100.00",
        **extra,
    }


async def submit_result(
    suite: Suite,
    as_: str,
    customer_id: str,
    lines: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> GraphQLResult:
    values = {"customerId": customer_id, "lines": lines or [line()], "currency": "CNY", **extra}
    return await suite.gql(SUBMIT, {"input": values}, as_=as_)


async def submit(
    suite: Suite,
    as_: str,
    customer_id: str,
    lines: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    result = await submit_result(suite, as_, customer_id, lines, **extra)
    return dict(result.ok()["submitOrder"]["order"])


async def decide(
    suite: Suite, as_: str, order_id: str, *, approve: bool = True, comment: str = "ok"
) -> GraphQLResult:
    values = {"orderId": order_id, "approve": approve, "comment": comment}
    return await suite.gql(DECIDE, {"input": values}, as_=as_)


async def order_ids(suite: Suite, as_: str, **filter: Any) -> set[str]:
    data = (await suite.gql(PAGE, {"filter": filter}, as_=as_)).ok()
    return {edge["node"]["id"] for edge in data["orders"]["edges"]}


def rpc_calls(result: GraphQLResult) -> dict[str, int]:
    return dict(result.body.get("extensions", {}).get("rpcCalls", {}))


@dataclass(frozen=True)
class Shop:
    """The module's org, with a customer of the junior's and one of the manager's."""

    org: Org
    customer: dict[str, Any]
    managers_customer: dict[str, Any]


@pytest.fixture(scope="module")
async def shop(suite: Suite) -> Shop:
    org = await make_org(suite)
    return Shop(
        org=org,
        customer=await register(suite, org.junior),
        managers_customer=await register(suite, org.manager),
    )


# --- submission (O1–O3) --------------------------------------------------------------------


async def test_a_rep_submits_an_order_for_their_customer(suite: Suite, shop: Shop) -> None:
    org = shop.org
    order = await submit(
        suite,
        org.junior,
        shop.customer["id"],
        [
            line(sku="A-1", quantity="3", unitPrice="1200.50", discountPercent="10"),
            line(sku="B-2", description=None, quantity="1.5", unitPrice="99.99"),
        ],
        note="first order",
    )
    # 3 × 1200.50 × 0.9 = 3241.35; 1.5 × 99.99 = 149.985, half-up 149.99.
    assert order["lines"] == [
        {
            "sku": "A-1",
            "description": "Widget",
            "quantity": "3",
            "unitPrice": "1200.50",
            "discountPercent": "10.00",
            "lineTotal": "3241.35",
        },
        {
            "sku": "B-2",
            "description": None,
            "quantity": "1.5",
            "unitPrice": "99.99",
            "discountPercent": "0.00",
            "lineTotal": "149.99",
        },
    ]
    assert order["total"] == "3391.34"
    assert order["currency"] == "CNY"
    assert order["code"].startswith("O-")
    assert order["status"] == "SUBMITTED"
    assert order["flags"] == []
    assert order["note"] == "first order"
    assert order["sourceClaim"] == order["registeredSource"] == "WEBSITE"
    assert order["orderDate"] == today().isoformat()
    # Payment terms default to 30 days.
    assert order["expectedPaymentDate"] == (today() + timedelta(days=30)).isoformat()
    assert order["customer"] == {"id": shop.customer["id"], "code": shop.customer["code"]}
    assert order["owner"] == order["submittedBy"] == {"id": org.junior}
    assert order["team"] == {"id": org.team_a}
    assert order["branch"] == {"id": org.branch}
    assert datetime.fromisoformat(order["submittedAt"]) > datetime.now(UTC) - timedelta(minutes=1)
    # A small order needs the branch manager only.
    [step] = order["approvalSteps"]
    assert step["sequence"] == 1
    assert (step["role"], step["status"]) == ("MANAGER", "PENDING")
    assert (step["approverId"], step["approver"], step["decidedAt"]) == (None, None, None)
    assert step["comment"] is None
    assert step["reason"]

    # The rep reads it back as it was returned.
    again = (await suite.gql(ONE, {"id": order["id"]}, as_=org.junior)).ok()["order"]
    assert again == order


async def test_a_large_order_needs_finance_too(suite: Suite, shop: Shop) -> None:
    order = await submit(
        suite, shop.org.junior, shop.customer["id"], [line(quantity="10", unitPrice="15000.00")]
    )
    assert order["total"] == "150000.00"
    steps = [(step["sequence"], step["role"], step["status"]) for step in order["approvalSteps"]]
    assert steps == [(1, "MANAGER", "PENDING"), (2, "FINANCE", "PENDING")]
    assert "100000.00 CNY" in order["approvalSteps"][1]["reason"]


async def test_submission_is_idempotent_on_its_key(suite: Suite, shop: Shop) -> None:
    key = unique("submit")
    first = await submit(suite, shop.org.junior, shop.customer["id"], idempotencyKey=key)
    retried = await submit(suite, shop.org.junior, shop.customer["id"], idempotencyKey=key)
    assert retried["id"] == first["id"]
    assert retried["code"] == first["code"]
    other = await submit(suite, shop.org.junior, shop.customer["id"], idempotencyKey=unique("k"))
    assert other["id"] != first["id"]


async def test_an_order_for_someone_elses_customer_is_flagged(suite: Suite, shop: Shop) -> None:
    org = shop.org
    # A senior reads (so orders for) the team's customers; a junior only their own.
    order = await submit(suite, org.senior, shop.customer["id"])
    assert order["flags"] == ["ATTRIBUTION_MISMATCH"]
    assert order["owner"] == {"id": org.junior}
    assert order["submittedBy"] == {"id": org.senior}
    refused = await submit_result(suite, org.junior_mate, shop.customer["id"])
    assert refused.codes == ["NOT_FOUND"]


# --- approvals (O2) ------------------------------------------------------------------------


async def test_the_branch_manager_approves(suite: Suite, shop: Shop) -> None:
    org = shop.org
    order = await submit(suite, org.junior, shop.customer["id"])
    assert order["id"] in await order_ids(suite, org.manager, awaitingMyDecision=True)

    decided = (await decide(suite, org.manager, order["id"], comment="fine")).ok()
    approved = decided["decideOrder"]["order"]
    assert approved["status"] == "APPROVED"
    [step] = approved["approvalSteps"]
    assert (step["status"], step["comment"]) == ("APPROVED", "fine")
    assert step["approver"] == {"id": org.manager}
    assert datetime.fromisoformat(step["decidedAt"]) > datetime.now(UTC) - timedelta(minutes=1)
    assert order["id"] not in await order_ids(suite, org.manager, awaitingMyDecision=True)
    # The rep sees the decision and who took it, though not the manager's directory entry
    # (a junior reads their own team only).
    seen = (await suite.gql(ONE, {"id": order["id"]}, as_=org.junior)).ok()["order"]
    assert seen["status"] == "APPROVED"
    assert seen["approvalSteps"][0]["approverId"] == org.manager
    assert seen["approvalSteps"][0]["approver"] is None


async def test_a_rejected_order_stays_rejected(suite: Suite, shop: Shop) -> None:
    org = shop.org
    order = await submit(suite, org.junior, shop.customer["id"])
    rejected = await decide(suite, org.manager_2, order["id"], approve=False, comment="no")
    assert rejected.ok()["decideOrder"]["order"]["status"] == "REJECTED"
    again = await decide(suite, org.manager, order["id"])
    assert again.data == {"decideOrder": None}
    assert again.codes == ["FAILED_PRECONDITION"]


async def test_nobody_approves_their_own_order(suite: Suite, shop: Shop) -> None:
    org = shop.org
    order = await submit(suite, org.manager, shop.managers_customer["id"])
    assert order["id"] not in await order_ids(suite, org.manager, awaitingMyDecision=True)
    result = await decide(suite, org.manager, order["id"])
    assert result.data == {"decideOrder": None}
    assert result.codes == ["FORBIDDEN"]
    assert "SELF_APPROVAL" in result.errors[0]["extensions"]["reasons"].split(",")
    assert result.errors[0]["path"] == ["decideOrder"]
    still = (await suite.gql(ONE, {"id": order["id"]}, as_=org.manager)).ok()["order"]
    assert still["status"] == "SUBMITTED"
    # Another manager of the branch may.
    assert (await decide(suite, org.manager_2, order["id"])).ok()["decideOrder"]["order"][
        "status"
    ] == "APPROVED"


async def test_a_rep_cannot_approve(suite: Suite, shop: Shop) -> None:
    order = await submit(suite, shop.org.junior, shop.customer["id"])
    result = await decide(suite, shop.org.senior, order["id"])
    assert result.data == {"decideOrder": None}
    assert result.codes[0] in {"FORBIDDEN", "NOT_FOUND"}


# --- who sees which orders -------------------------------------------------------------------


async def test_orders_are_scoped_per_role(suite: Suite) -> None:
    org = await make_org(suite)
    mine: dict[str, str] = {}
    for employee in (org.junior, org.junior_mate, org.junior_b, org.other_manager):
        customer = await register(suite, employee)
        mine[employee] = (await submit(suite, employee, customer["id"]))["id"]

    async def visible(as_: str) -> set[str]:
        seen: set[str] = set()
        for employee in mine:
            seen |= await order_ids(suite, as_, submittedBy=employee)
        return seen

    # A junior: own orders only, with or without a filter.
    assert await visible(org.junior) == {mine[org.junior]}
    assert await order_ids(suite, org.junior) == {mine[org.junior]}
    # A senior: own too (no orders of their own here).
    assert await visible(org.senior) == set()
    # A manager: the branch, not the other branch.
    branch = {mine[org.junior], mine[org.junior_mate], mine[org.junior_b]}
    assert await visible(org.manager) == branch
    assert await visible(org.other_manager) == {mine[org.other_manager]}
    # Finance and HR: everyone.
    assert await visible(org.finance) == set(mine.values())
    assert await visible(org.hr) == set(mine.values())

    # One order of another rep reads as not found.
    other = await suite.gql(ONE, {"id": mine[org.junior_mate]}, as_=org.junior)
    assert other.data == {"order": None}
    assert other.codes == ["NOT_FOUND"]

    # totalCount is of the caller's scope.
    counted = (await suite.gql(PAGE, {"filter": {}}, as_=org.junior)).ok()["orders"]
    assert counted["totalCount"] == 1

    # The same scope through an employee's own connection.
    by_employee = """query($id: ID!) {
      employee(id: $id) { orders(first: 10) { totalCount edges { node { id } } } } }"""
    seen = (await suite.gql(by_employee, {"id": org.junior}, as_=org.manager)).ok()
    assert seen["employee"]["orders"]["totalCount"] == 1
    assert seen["employee"]["orders"]["edges"][0]["node"]["id"] == mine[org.junior]


async def test_orders_page_through_their_cursors(suite: Suite, shop: Shop) -> None:
    customer = await register(suite, shop.org.junior_b)
    made = [(await submit(suite, shop.org.junior_b, customer["id"]))["id"] for _ in range(3)]
    query = """query($after: String, $customer: ID) {
      orders(first: 2, after: $after, filter: {customerId: $customer}) {
        totalCount pageInfo { hasNextPage endCursor } edges { node { id } } } }"""
    variables: dict[str, Any] = {"customer": customer["id"]}
    first = (await suite.gql(query, variables, as_=shop.org.manager)).ok()["orders"]
    assert first["totalCount"] == 3 and first["pageInfo"]["hasNextPage"]
    second = (
        await suite.gql(
            query, {**variables, "after": first["pageInfo"]["endCursor"]}, as_=shop.org.manager
        )
    ).ok()["orders"]
    assert not second["pageInfo"]["hasNextPage"]
    seen = [edge["node"]["id"] for edge in first["edges"] + second["edges"]]
    # Newest first.
    assert seen == made[::-1]


# --- DataLoaders: a page costs a bounded number of calls (G1) ---------------------------------


async def test_a_page_of_orders_batches_its_links(suite: Suite) -> None:
    org = await make_org(suite)
    customers = {
        employee: await register(suite, employee)
        for employee in (org.junior, org.junior_mate, org.junior_b)
    }

    async def page_calls() -> tuple[int, dict[str, int]]:
        result = await suite.gql(PAGE_WITH_LINKS, {"filter": {}}, as_=org.manager)
        data = result.ok()["orders"]
        for edge in data["edges"]:
            node = edge["node"]
            # Each rep ordered for their own customer.
            assert node["owner"]["id"] == node["submittedBy"]["id"]
            assert node["customer"]["owner"] == {"id": node["owner"]["id"]}
            assert node["branch"]["id"] == org.branch
        return len(data["edges"]), rpc_calls(result)

    for employee, customer in customers.items():
        await submit(suite, employee, customer["id"])
    small = await page_calls()
    for _ in range(3):
        for employee, customer in customers.items():
            await submit(suite, employee, customer["id"])
    large = await page_calls()
    assert (small[0], large[0]) == (3, 12)
    expected = {
        "/salesguard.orders.v1.OrdersService/ListOrders": 1,
        "/salesguard.customers.v1.CustomersService/BatchGetCustomers": 1,
        "/salesguard.attendance.v1.DirectoryService/BatchGetEmployees": 1,
        "/salesguard.attendance.v1.DirectoryService/ListTeams": 1,
        "/salesguard.attendance.v1.DirectoryService/ListBranches": 1,
    }
    assert small[1] == large[1] == expected


# --- validation at the service, named fields at the edge --------------------------------------


@pytest.mark.parametrize(
    ("lines", "extra", "field"),
    [
        ([line(unitPrice="10.12345")], {}, "lines[0].unit_price"),
        ([line(), line(quantity="-1")], {}, "lines[1].quantity"),
        ([line(discountPercent="120")], {}, "lines[0].discount_percent"),
        ([line()], {"currency": "XYZ"}, "currency"),
        ([], {}, "lines"),
    ],
    ids=["five-decimal-price", "negative-quantity", "discount-over-100", "currency", "no-lines"],
)
async def test_invalid_orders_name_the_field(
    suite: Suite, shop: Shop, lines: list[dict[str, Any]], extra: dict[str, Any], field: str
) -> None:
    values = {"customerId": shop.customer["id"], "lines": lines, "currency": "CNY", **extra}
    result = await suite.gql(SUBMIT, {"input": values}, as_=shop.org.junior)
    assert result.status == 200
    assert result.data == {"submitOrder": None}
    assert result.codes == ["VALIDATION"]
    assert result.errors[0]["extensions"]["field"] == field
    assert result.errors[0]["path"] == ["submitOrder"]


async def test_a_malformed_decimal_is_refused_before_the_service(suite: Suite, shop: Shop) -> None:
    result = await submit_result(suite, shop.org.junior, shop.customer["id"], [line(quantity="x")])
    assert result.codes == ["VALIDATION"]
    assert rpc_calls(result) == {}


async def test_an_unknown_customer_is_not_found(suite: Suite, shop: Shop) -> None:
    # The same answer as for a customer the submitter may not read (SPEC §2).
    result = await submit_result(suite, shop.org.junior, "no-such-customer")
    assert result.codes == ["NOT_FOUND"]
    assert result.errors[0]["extensions"]["field"] == "customer_id"


# --- payments, shipments, reconciliation (O4, O5) ---------------------------------------------


async def find_item(suite: Suite, as_: str, order_id: str, **variables: Any) -> dict[str, Any]:
    """The order's reconciliation item, paging through the whole (suite-wide) result."""
    after = None
    for _ in range(100):
        data = (await suite.gql(RECONCILIATION, {**variables, "after": after}, as_=as_)).ok()
        result = data["reconciliation"]
        for item in result["items"]:
            if item["order"]["id"] == order_id:
                return dict(item)
        if not result["pageInfo"]["hasNextPage"]:
            break
        after = result["pageInfo"]["endCursor"]
    raise AssertionError(f"order {order_id} is not in the reconciliation")


async def test_a_paid_order_reconciles(suite: Suite) -> None:
    org = await make_org(suite)
    customer = await register(suite, org.junior)
    order = await submit(
        suite, org.junior, customer["id"], [line(quantity="4", unitPrice="250.25")]
    )
    assert order["total"] == "1001.00"
    (await decide(suite, org.manager, order["id"])).ok()

    bank_reference = unique("BANK")
    payment_input = {
        "bankReference": bank_reference,
        "payerName": customer["name"],
        "payerAccount": "6222 0000 1111 2222",
        "amount": "1001.00",
        "currency": "CNY",
        "paidAt": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
        "referenceText": f"payment for {order['code']}",
    }
    recorded = (await suite.gql(RECORD_PAYMENT, {"input": payment_input}, as_=org.finance)).ok()
    payment = recorded["recordPayment"]["payment"]
    assert recorded["recordPayment"]["duplicate"] is False
    assert payment["bankReference"] == bank_reference
    assert payment["amount"] == "1001.00" and payment["currency"] == "CNY"
    assert payment["reversed"] is False and payment["reversalKind"] is None
    assert payment["recordedBy"] == {"id": org.finance}
    # The same bank line again is the same payment.
    again = (await suite.gql(RECORD_PAYMENT, {"input": payment_input}, as_=org.finance)).ok()
    assert again["recordPayment"]["duplicate"] is True
    assert again["recordPayment"]["payment"]["id"] == payment["id"]

    # A rep records no payments.
    refused = await suite.gql(
        RECORD_PAYMENT, {"input": {**payment_input, "bankReference": unique("B")}}, as_=org.junior
    )
    assert refused.codes == ["FORBIDDEN"]

    as_of = today().isoformat()
    ran = (await suite.gql(RUN_RECONCILIATION, {"input": {"asOf": as_of}}, as_=org.finance)).ok()
    counts = ran["runReconciliation"]
    assert counts["orders"] >= 1 and counts["reconciled"] >= 1 and counts["paymentsMatched"] >= 1

    item = await find_item(suite, org.finance, order["id"], asOf=as_of, states=["RECONCILED"])
    assert item["status"] == "RECONCILED"
    assert (item["paid"], item["due"]) == ("1001.00", "0.00")
    assert item["pastDue"] is False
    assert item["order"]["code"] == order["code"]
    assert item["order"]["customer"] == {"id": customer["id"]}
    assert item["expectedPaymentDate"] == order["expectedPaymentDate"]
    # The branch manager reads the branch's reconciliation too.
    assert (await find_item(suite, org.manager, order["id"], asOf=as_of))["status"] == "RECONCILED"
    # A rep does not.
    assert (await suite.gql(RECONCILIATION, {"asOf": as_of}, as_=org.junior)).codes == ["FORBIDDEN"]

    # The order and its payment now point at each other.
    query = """query($id: ID!) { order(id: $id) {
      paymentState paidAmount fullyPaidAt
      payments(first: 5) { totalCount edges { node { id matchedBy order { id } customer { id } } } }
    } }"""
    shown = (await suite.gql(query, {"id": order["id"]}, as_=org.finance)).ok()["order"]
    assert shown["paymentState"] == "RECONCILED"
    assert shown["paidAmount"] == "1001.00"
    assert shown["fullyPaidAt"] is not None
    assert shown["payments"]["totalCount"] == 1
    [edge] = shown["payments"]["edges"]
    assert edge["node"] == {
        "id": payment["id"],
        "matchedBy": "ORDER_CODE",
        "order": {"id": order["id"]},
        "customer": {"id": customer["id"]},
    }
    listed = """query($order: ID!) { payments(first: 5, filter: {orderId: $order}) {
      edges { node { id } } } }"""
    data = (await suite.gql(listed, {"order": order["id"]}, as_=org.finance)).ok()
    assert [e["node"]["id"] for e in data["payments"]["edges"]] == [payment["id"]]


async def test_an_unpaid_order_past_due_is_a_suspected_fake_deal(suite: Suite) -> None:
    org = await make_org(suite)
    customer = await register(suite, org.junior)
    order = await submit(
        suite,
        org.junior,
        customer["id"],
        orderDate=(today() - timedelta(days=10)).isoformat(),
        expectedPaymentDate=(today() - timedelta(days=5)).isoformat(),
    )
    # Dated before the customer was registered (O3).
    assert order["flags"] == ["UNREGISTERED_CUSTOMER"]
    (await decide(suite, org.manager, order["id"])).ok()
    as_of = today().isoformat()
    ran = (await suite.gql(RUN_RECONCILIATION, {"input": {"asOf": as_of}}, as_=org.finance)).ok()
    assert ran["runReconciliation"]["alertsRaised"] >= 1

    item = await find_item(suite, org.manager, order["id"], asOf=as_of, states=["UNPAID"])
    assert item["status"] == "UNPAID"
    assert (item["paid"], item["due"]) == ("0.00", order["total"])
    assert item["pastDue"] is True

    query = """query($orderId: ID!) {
      alerts(first: 10, filter: {orderId: $orderId, kinds: ["FAKE_DEAL_SUSPECTED"]}) {
        edges { node { kind rule message order { id paymentState } } } } }"""
    data = (await suite.gql(query, {"orderId": order["id"]}, as_=org.manager)).ok()
    [edge] = data["alerts"]["edges"]
    assert (edge["node"]["kind"], edge["node"]["rule"]) == ("FAKE_DEAL_SUSPECTED", "O5")
    assert order["code"] in edge["node"]["message"]
    assert edge["node"]["order"] == {"id": order["id"], "paymentState": "UNPAID"}
    # Re-running raises nothing twice.
    (await suite.gql(RUN_RECONCILIATION, {"input": {"asOf": as_of}}, as_=org.finance)).ok()
    data = (await suite.gql(query, {"orderId": order["id"]}, as_=org.manager)).ok()
    assert len(data["alerts"]["edges"]) == 1


async def test_diversion_detection_is_for_hr(suite: Suite, shop: Shop) -> None:
    mutation = """mutation($input: DetectDiversionRiskInput) {
      detectDiversionRisk(input: $input) { customersChecked alertsRaised } }"""
    ran = await suite.gql(mutation, {"input": {"asOf": today().isoformat()}}, as_=shop.org.hr)
    counts = ran.ok()["detectDiversionRisk"]
    assert counts["customersChecked"] >= 0 and counts["alertsRaised"] >= 0
    refused = await suite.gql(mutation, {"input": {}}, as_=shop.org.junior)
    assert refused.data == {"detectDiversionRisk": None}
    assert refused.codes == ["FORBIDDEN"]


async def test_a_payment_is_reversed_never_deleted(suite: Suite) -> None:
    org = await make_org(suite)
    values = {
        "bankReference": unique("BANK"),
        "payerName": "Somebody",
        "amount": "12.50",
        "currency": "CNY",
        "paidAt": datetime.now(UTC).isoformat(),
    }
    recorded = (await suite.gql(RECORD_PAYMENT, {"input": values}, as_=org.finance)).ok()
    payment_id = recorded["recordPayment"]["payment"]["id"]
    reverse = """mutation($input: ReversePaymentInput!) { reversePayment(input: $input) {
      payment { id reversed reversalKind reversalReason reversedAt reversedBy { id } amount } } }"""
    result = await suite.gql(
        reverse,
        {"input": {"paymentId": payment_id, "kind": "REFUND", "reason": "returned goods"}},
        as_=org.finance,
    )
    reversed_ = result.ok()["reversePayment"]["payment"]
    assert reversed_["reversed"] is True
    assert (reversed_["reversalKind"], reversed_["reversalReason"]) == ("REFUND", "returned goods")
    assert reversed_["reversedBy"] == {"id": org.finance}
    assert reversed_["reversedAt"] is not None
    assert reversed_["amount"] == "12.50"


async def test_an_invalid_payment_amount_names_the_field(suite: Suite) -> None:
    org = await make_org(suite)
    values = {
        "bankReference": unique("BANK"),
        "payerName": "Somebody",
        "amount": "12.505",
        "currency": "CNY",
        "paidAt": datetime.now(UTC).isoformat(),
    }
    result = await suite.gql(RECORD_PAYMENT, {"input": values}, as_=org.finance)
    assert result.codes == ["VALIDATION"]
    assert result.errors[0]["extensions"]["field"] == "amount"


async def test_a_bank_statement_is_imported_whole_or_not_at_all(suite: Suite) -> None:
    org = await make_org(suite)
    upload = """mutation($input: CreatePaymentUploadInput!) {
      createPaymentUpload(input: $input) { key uploadUrl uploadHeaders expiresAt } }"""
    run = """mutation($input: ImportPaymentsInput!) {
      importPayments(input: $input) { applied accepted duplicates rows rejected { line field reason } } }"""
    paid_at = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    header = "bank_reference,paid_at,amount,currency,payer_name,payer_account,reference_text\n"
    good = [
        f"{unique('S')},{paid_at},{amount},CNY,Payer {n},,statement"
        for n, amount in (
            (1, "10.00"),
            (2, "20.50"),
        )
    ]

    async def imported(text: str) -> dict[str, Any]:
        data = text.encode()
        created = (
            await suite.gql(
                upload,
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
        await put(suite, created, data)
        result = await suite.gql(run, {"input": {"statementKey": created["key"]}}, as_=org.finance)
        return dict(result.ok()["importPayments"])

    bad = await imported(
        header + "\n".join([*good, f"{unique('S')},{paid_at},1.234,CNY,X,,y"]) + "\n"
    )
    assert (bad["applied"], bad["rows"]) == (False, 3)
    assert [(row["line"], row["field"]) for row in bad["rejected"]] == [(4, "amount")]

    applied = await imported(header + "\n".join(good) + "\n")
    assert applied == {"applied": True, "accepted": 2, "duplicates": 0, "rows": 2, "rejected": []}
    # The same lines again are duplicates, not new payments.
    again = await imported(header + "\n".join(good) + "\n")
    assert again == {"applied": True, "accepted": 0, "duplicates": 2, "rows": 2, "rejected": []}


async def test_a_payment_upload_needs_a_positive_size(suite: Suite, shop: Shop) -> None:
    query = """mutation { createPaymentUpload(input: {purpose: VOUCHER, contentType: "image/jpeg",
      sizeBytes: 0}) { key } }"""
    result = await suite.gql(query, as_=shop.org.finance)
    assert result.codes == ["VALIDATION"]
    assert result.errors[0]["extensions"]["field"] == "size_bytes"
    assert rpc_calls(result) == {}


async def test_shipments_and_transitions(suite: Suite) -> None:
    org = await make_org(suite)
    customer = await register(suite, org.junior)
    order = await submit(suite, org.junior, customer["id"])
    (await decide(suite, org.manager, order["id"])).ok()
    record = """mutation($input: RecordShipmentInput!) { recordShipment(input: $input) {
      shipment { id carrier trackingNumber shippedAt deliveredAt recordedAt order { id } } } }"""
    shipped_at = datetime.now(UTC) - timedelta(hours=5)
    values = {
        "orderId": order["id"],
        "carrier": "SF Express",
        "trackingNumber": unique("SF"),
        "shippedAt": shipped_at.isoformat(),
    }
    shipment = (await suite.gql(record, {"input": values}, as_=org.manager)).ok()["recordShipment"][
        "shipment"
    ]
    assert shipment["carrier"] == "SF Express"
    assert shipment["order"] == {"id": order["id"]}
    assert shipment["deliveredAt"] is None
    assert abs(datetime.fromisoformat(shipment["shippedAt"]) - shipped_at) < timedelta(seconds=1)

    # The same parcel again is the same shipment; a delivery time is added to it.
    delivered_at = datetime.now(UTC) - timedelta(minutes=5)
    again = (
        await suite.gql(
            record, {"input": {**values, "deliveredAt": delivered_at.isoformat()}}, as_=org.manager
        )
    ).ok()["recordShipment"]["shipment"]
    assert again["id"] == shipment["id"]
    assert abs(datetime.fromisoformat(again["deliveredAt"]) - delivered_at) < timedelta(seconds=1)

    query = """query($id: ID!) { order(id: $id) { shipped shipments { id trackingNumber } } }"""
    shown = (await suite.gql(query, {"id": order["id"]}, as_=org.junior)).ok()["order"]
    assert shown["shipped"] is True
    assert shown["shipments"] == [
        {"id": shipment["id"], "trackingNumber": values["trackingNumber"]}
    ]

    moved = await suite.gql(
        TRANSITION, {"input": {"orderId": order["id"], "to": "FULFILLED"}}, as_=org.manager
    )
    assert moved.ok()["transitionOrder"]["order"]["status"] == "FULFILLED"
    # A rep may only cancel, and not a fulfilled order.
    refused = await suite.gql(
        TRANSITION,
        {"input": {"orderId": order["id"], "to": "CLOSED", "reason": "done"}},
        as_=org.junior,
    )
    assert refused.data == {"transitionOrder": None}
    assert refused.codes[0] in {"FORBIDDEN", "FAILED_PRECONDITION"}


# --- alerts link to their order --------------------------------------------------------------


async def test_alerts_link_to_their_order(suite: Suite) -> None:
    org = await make_org(suite)
    customer = await register(suite, org.junior)
    # The senior of the team takes the junior's customer (O3: ATTRIBUTION_MISMATCH).
    order = await submit(suite, org.senior, customer["id"])
    data = (await suite.gql(ALERTS_OF_ORDER, {"orderId": order["id"]}, as_=org.manager)).ok()
    nodes = [edge["node"] for edge in data["alerts"]["edges"]]
    assert [(node["kind"], node["source"]) for node in nodes] == [
        ("ATTRIBUTION_MISMATCH", "orders")
    ]
    [node] = nodes
    assert node["orderId"] == order["id"]
    assert node["order"] == {"id": order["id"], "code": order["code"], "status": "SUBMITTED"}
    assert node["employee"] == {"id": org.senior}
    assert node["customer"] == {"id": customer["id"]}


async def test_an_alerts_order_is_null_when_out_of_sight(suite: Suite) -> None:
    org = await make_org(suite)
    customer = await register(suite, org.other_manager)
    elsewhere = await submit(suite, org.other_manager, customer["id"])
    # An alert of this branch about the other branch's order: its manager sees the
    # alert, but not the order.
    async with suite.running["orders"].runtime.db.transaction() as session:
        await raise_alert(
            session,
            OrdersAlert,
            AlertDraft(
                kind="FAKE_DEAL_SUSPECTED",
                dedupe_key=unique("orders-test"),
                employee_id=org.junior,
                order_id=elsewhere["id"],
                branch_id=org.branch,
                detected_at=datetime.now(UTC),
                evidence={"order_code": elsewhere["code"]},
            ),
            source="orders",
        )
    data = (await suite.gql(ALERTS_OF_ORDER, {"orderId": elsewhere["id"]}, as_=org.manager)).ok()
    [edge] = data["alerts"]["edges"]
    assert edge["node"]["orderId"] == elsewhere["id"]
    assert edge["node"]["order"] is None
    # The other branch's manager sees the order (and not this branch's alert).
    theirs = await suite.gql(ALERTS_OF_ORDER, {"orderId": elsewhere["id"]}, as_=org.other_manager)
    assert theirs.ok()["alerts"]["edges"] == []


# --- a failing orders service fails only the fields that need it (G2) ---------------------------


async def test_without_the_orders_service_only_order_fields_fail(start_suite: StartSuite) -> None:
    suite = await start_suite()
    org = await make_org(suite)
    customer = await register(suite, org.junior)
    await suite.running["orders"].stop()
    query = """{ me { id } customers(first: 5) { edges { node { id } } }
                 orders(first: 5) { totalCount } }"""
    result = await suite.gql(query, as_=org.junior)
    assert result.status == 200
    assert result.data["me"] == {"id": org.junior}
    assert result.data["customers"]["edges"] == [{"node": {"id": customer["id"]}}]
    assert result.data["orders"] is None
    assert result.codes == ["UNAVAILABLE"]
    assert result.errors[0]["path"] == ["orders"]
