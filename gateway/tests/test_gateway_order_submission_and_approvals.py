"""Orders through the gateway (O1–O3): submission, approvals, who sees which orders, batched
links (G1) and named fields on bad input.

Against the real orders, customers and attendance services (embedded profile).
Each test works in an org of its own, or in the module's, so the shared suite's
other orders stay out of the way.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gateway.tests.orders_support import (
    ONE,
    PAGE,
    PAGE_WITH_LINKS,
    SUBMIT,
    Shop,
    decide,
    line,
    order_ids,
    rpc_calls,
    submit,
    submit_result,
    today,
)
from tests.harness import Suite, cny, employee_id, global_id, unique
from tests.org import make_org, register

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
            "unitPrice": cny("1200.50"),
            "discountPercent": "10.00",
            "lineTotal": cny("3241.35"),
        },
        {
            "sku": "B-2",
            "description": None,
            "quantity": "1.5",
            "unitPrice": cny("99.99"),
            "discountPercent": "0.00",
            "lineTotal": cny("149.99"),
        },
    ]
    assert order["total"] == cny("3391.34")
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
    assert order["owner"] == order["submittedBy"] == {"id": employee_id(org.junior)}
    assert order["team"] == {"id": global_id("Team", org.team_a)}
    assert order["branch"] == {"id": global_id("Branch", org.branch)}
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
    assert order["total"]["amount"] == "150000.00"
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
    assert order["owner"] == {"id": employee_id(org.junior)}
    assert order["submittedBy"] == {"id": employee_id(org.senior)}
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
    assert step["approver"] == {"id": employee_id(org.manager)}
    assert datetime.fromisoformat(step["decidedAt"]) > datetime.now(UTC) - timedelta(minutes=1)
    assert order["id"] not in await order_ids(suite, org.manager, awaitingMyDecision=True)
    # The rep sees the decision and who took it, though not the manager's directory entry
    # (a junior reads their own team only).
    seen = (await suite.gql(ONE, {"id": order["id"]}, as_=org.junior)).ok()["order"]
    assert seen["status"] == "APPROVED"
    assert seen["approvalSteps"][0]["approverId"] == employee_id(org.manager)
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
    assert "SELF_APPROVAL" in result.errors[0]["extensions"]["reasons"]
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
            seen |= await order_ids(suite, as_, submittedBy=employee_id(employee))
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
    seen = (await suite.gql(by_employee, {"id": employee_id(org.junior)}, as_=org.manager)).ok()
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
            assert node["branch"]["id"] == global_id("Branch", org.branch)
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
    result = await submit_result(suite, shop.org.junior, global_id("Customer", "no-such-customer"))
    assert result.codes == ["NOT_FOUND"]
    assert result.errors[0]["extensions"]["field"] == "customer_id"
