"""C6: an employee who leaves hands every customer over, through `upsertEmployee`.

Setting the status LEFT names a successor (an active employee of the same branch) or
the branch pool; the customers move in one audited step with the reason "departure",
the employee's open commission lines freeze to PENDING_REVIEW, and a repeated request
moves, audits and freezes nothing twice. Full profile, real services, through GraphQL;
the commission lines are produced the real way (orders approved, paid, reconciled).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from salesguard_commissions.server import service as commissions_app
from tests.conftest import SuiteFactory
from tests.harness import Suite, employee_id, global_id, service_id
from tests.integration.commissions.support import COMPANY_CLAIM, PERIOD, Client, make_people
from tests.org import Org, make_org, register
from tests.support.orders_service import People

UPSERT = """
mutation($input: UpsertEmployeeInput!) {
  upsertEmployee(input: $input) { employee { id status } }
}
"""
EMPLOYEE = "query($id: ID!) { employee(id: $id) { id status } }"
CUSTOMERS = """
query { customers(first: 100) { totalCount edges { node { id owner { id } pooledAt } } } }
"""
AUDIT = """
query($filter: AuditEventFilter) {
  auditEvents(first: 50, filter: $filter) {
    edges { node { action customerIds reason before after actor { id } } }
  }
}
"""
STATEMENT = """
query($employeeId: ID!, $period: String!) {
  commissionStatement(employeeId: $employeeId, period: $period) {
    lines { orderCode status reason }
  }
}
"""


@pytest.fixture
async def client(suite: Suite) -> AsyncIterator[Client]:
    opened = Client(suite)
    yield opened
    await opened.channels.close()


def leaving(org: Org, employee: str, *, team: str | None, **handover: Any) -> dict[str, Any]:
    """The upsertEmployee input that marks a junior rep of the org's branch (``employee``,
    an HR key) as LEFT; ``handover`` in the API's terms (``successorId`` a global ID)."""
    return {
        "hrId": employee,
        "name": employee,
        "roles": ["SALES_JUNIOR"],
        "teamId": global_id("Team", team) if team else None,
        "branchId": global_id("Branch", org.branch),
        "status": "LEFT",
        "leaveDate": "2026-11-30",
        **handover,
    }


async def owned_by(suite: Suite, employee: str) -> set[str]:
    """The customers an employee (an HR key) sees as their own (a junior sees only those)."""
    data = (await suite.gql(CUSTOMERS, as_=employee)).ok()
    return {
        edge["node"]["id"]
        for edge in data["customers"]["edges"]
        if (edge["node"]["owner"] or {}).get("id") == employee_id(employee)
    }


async def departure_events(suite: Suite, org: Org, customer_id: str) -> list[dict[str, Any]]:
    """Reassignments and returns to the pool of one customer, as HR reads the audit trail."""
    actions = ["customer.reassign", "customer.pool"]
    data = (
        await suite.gql(
            AUDIT, {"filter": {"customerId": customer_id, "actions": actions}}, as_=org.hr
        )
    ).ok()
    return [edge["node"] for edge in data["auditEvents"]["edges"]]


async def status_of(suite: Suite, employee: str) -> str:
    data = (await suite.gql(EMPLOYEE, {"id": employee_id(employee)}, as_="admin")).ok()
    return str(data["employee"]["status"])


async def statement_lines(suite: Suite, people: People, employee: str) -> list[dict[str, Any]]:
    data = (
        await suite.gql(
            STATEMENT,
            {"employeeId": employee_id(employee), "period": PERIOD},
            as_=people.org.finance,
        )
    ).ok()
    return list(data["commissionStatement"]["lines"])


async def test_leaving_without_a_successor_is_refused_and_changes_nothing(suite: Suite) -> None:
    org = await make_org(suite)
    customer = await register(suite, as_=org.junior)
    refused = await suite.gql(
        UPSERT, {"input": leaving(org, org.junior, team=org.team_a)}, as_=org.hr
    )
    assert refused.codes == ["VALIDATION"]
    assert refused.errors[0]["extensions"]["field"] == "successor_id"
    assert await status_of(suite, org.junior) == "ACTIVE"
    assert await owned_by(suite, org.junior) == {customer["id"]}
    assert await departure_events(suite, org, customer["id"]) == []

    # A destination without LEFT, or both destinations at once, is refused too.
    active = {**leaving(org, org.junior, team=org.team_a), "status": "ACTIVE"}
    for values, field in (
        ({**active, "successorId": employee_id(org.junior_mate)}, "successor_id"),
        (
            {
                **leaving(org, org.junior, team=org.team_a),
                "successorId": employee_id(org.junior_mate),
                "toPool": True,
            },
            "successor_id",
        ),
    ):
        result = await suite.gql(UPSERT, {"input": values}, as_=org.hr)
        assert result.codes == ["VALIDATION"], result.errors
        assert result.errors[0]["extensions"]["field"] == field
    assert await owned_by(suite, org.junior) == {customer["id"]}


async def test_a_successor_must_be_an_active_employee_of_the_same_branch(suite: Suite) -> None:
    org = await make_org(suite)
    customer = await register(suite, as_=org.junior)
    for successor in (org.other_manager, "nobody-of-this-company", org.junior):
        result = await suite.gql(
            UPSERT,
            {
                "input": leaving(
                    org, org.junior, team=org.team_a, successorId=employee_id(successor)
                )
            },
            as_=org.hr,
        )
        assert result.codes == ["VALIDATION"], (successor, result.errors)
        assert result.errors[0]["extensions"]["field"] == "successor_id"
    assert await status_of(suite, org.junior) == "ACTIVE"
    assert await owned_by(suite, org.junior) == {customer["id"]}
    assert await departure_events(suite, org, customer["id"]) == []


async def test_only_hr_or_an_administrator_sets_a_departure(suite: Suite) -> None:
    org = await make_org(suite)
    customer = await register(suite, as_=org.junior)
    for caller in (org.manager, org.junior_mate, org.junior):
        result = await suite.gql(
            UPSERT,
            {
                "input": leaving(
                    org, org.junior, team=org.team_a, successorId=employee_id(org.junior_mate)
                )
            },
            as_=caller,
        )
        assert result.codes == ["FORBIDDEN"], (caller, result.errors)
    assert await owned_by(suite, org.junior) == {customer["id"]}


async def test_leaving_with_a_successor_moves_every_customer_and_freezes_the_lines(
    suite: Suite, client: Client
) -> None:
    people = await make_people(suite)
    org = people.org
    customers = [await register(suite, as_=org.junior) for _ in range(3)]
    ids = {customer["id"] for customer in customers}
    await client.paid_orders(
        people,
        [
            (people.junior, service_id(customers[0]["id"]), "100.00", COMPANY_CLAIM),
            (people.junior, service_id(customers[1]["id"]), "300.00", COMPANY_CLAIM),
        ],
    )
    await client.run(people.finance, org.branch)
    assert {line["status"] for line in await statement_lines(suite, people, org.junior)} == {
        "PAYABLE"
    }
    # The successor, a teammate, cannot see the junior's customers before the handover.
    assert await owned_by(suite, org.junior_mate) == set()

    request = {
        "input": leaving(org, org.junior, team=org.team_a, successorId=employee_id(org.junior_mate))
    }
    done = (await suite.gql(UPSERT, request, as_=org.hr)).ok()
    assert done["upsertEmployee"]["employee"]["status"] == "LEFT"

    assert await owned_by(suite, org.junior_mate) == ids
    # Nobody else gained them: another junior of the branch still sees none of them.
    other = (await suite.gql(CUSTOMERS, as_=org.junior_b)).ok()["customers"]["edges"]
    assert not ids & {edge["node"]["id"] for edge in other}
    for customer_id in ids:
        (event,) = await departure_events(suite, org, customer_id)
        assert event["action"] == "customer.reassign"
        assert event["reason"] == "departure"
        assert event["actor"]["id"] == employee_id(org.hr)
        assert set(event["customerIds"]) == ids  # one entry for the whole handover
        assert event["before"] == {"owner_id": org.junior}
        assert event["after"] == {"owner_id": org.junior_mate}
    lines = await statement_lines(suite, people, org.junior)
    assert len(lines) == 2
    assert {line["status"] for line in lines} == {"PENDING_REVIEW"}
    reasons = [line["reason"] for line in lines]
    assert all(reason.endswith("employee left: departure") for reason in reasons), reasons

    # A retry (the same request again) moves, audits and freezes nothing twice.
    again = (await suite.gql(UPSERT, request, as_=org.hr)).ok()
    assert again["upsertEmployee"]["employee"]["status"] == "LEFT"
    assert await owned_by(suite, org.junior_mate) == ids
    for customer_id in ids:
        assert len(await departure_events(suite, org, customer_id)) == 1
    assert [line["reason"] for line in await statement_lines(suite, people, org.junior)] == reasons
    # Once LEFT, changing other details needs no successor.
    renamed = {**request["input"], "name": "李雷 (left)"}
    del renamed["successorId"]
    (await suite.gql(UPSERT, {"input": renamed}, as_=org.hr)).ok()


async def test_leaving_to_the_pool_returns_every_customer_to_the_branch_pool(
    suite: Suite,
) -> None:
    org = await make_org(suite)
    customers = {(await register(suite, as_=org.junior_b))["id"] for _ in range(2)}
    request = {"input": leaving(org, org.junior_b, team=org.team_b, toPool=True)}
    (await suite.gql(UPSERT, request, as_=org.admin)).ok()
    assert await status_of(suite, org.junior_b) == "LEFT"

    # Nobody owns them now; the branch's manager sees them in the pool.
    data = (await suite.gql(CUSTOMERS, as_=org.manager)).ok()
    pooled = {
        edge["node"]["id"]: edge["node"]
        for edge in data["customers"]["edges"]
        if edge["node"]["id"] in customers
    }
    assert set(pooled) == customers
    assert all(node["owner"] is None and node["pooledAt"] for node in pooled.values())
    for customer_id in customers:
        (event,) = await departure_events(suite, org, customer_id)
        assert (event["action"], event["reason"]) == ("customer.pool", "departure")
        assert event["actor"]["id"] == employee_id(org.admin)

    (await suite.gql(UPSERT, request, as_=org.admin)).ok()  # a retry pools nothing twice
    for customer_id in customers:
        assert len(await departure_events(suite, org, customer_id)) == 1


async def test_a_failed_departure_keeps_the_employee_and_a_retry_completes_it(
    full_suite_factory: SuiteFactory,
) -> None:
    """Customers move first, lines freeze next, LEFT commits last: with commissions down the
    employee stays ACTIVE (owning nothing), and the same request later finishes the job."""
    suite = await full_suite_factory()  # a suite of this test's own: it stops a service
    org = await make_org(suite)
    ids = {(await register(suite, as_=org.junior))["id"] for _ in range(2)}
    commissions = suite.running["commissions"]
    settings, port = commissions.runtime.settings, commissions.port
    await commissions.stop()

    request = {
        "input": leaving(org, org.junior, team=org.team_a, successorId=employee_id(org.senior))
    }
    failed = await suite.gql(UPSERT, request, as_=org.hr)
    assert failed.codes == ["UNAVAILABLE"], failed.errors
    assert await status_of(suite, org.junior) == "ACTIVE"
    assert await owned_by(suite, org.junior) == set()  # never LEFT while owning customers
    assert await owned_by(suite, org.senior) == ids

    suite.running["commissions"] = await commissions_app.start(settings, port=port)
    # The client retries until the directory reconnects to commissions (channel back-off).
    for _ in range(40):
        retried = await suite.gql(UPSERT, request, as_=org.hr)
        if retried.codes != ["UNAVAILABLE"]:
            break
        await asyncio.sleep(0.5)
    assert retried.ok()["upsertEmployee"]["employee"]["status"] == "LEFT"
    assert await owned_by(suite, org.senior) == ids
    for customer_id in ids:
        assert len(await departure_events(suite, org, customer_id)) == 1


async def test_the_embedded_profile_hands_over_too(embedded_suite: Suite) -> None:
    suite = embedded_suite
    org = await make_org(suite)
    ids = {(await register(suite, as_=org.junior))["id"] for _ in range(2)}
    request = {
        "input": leaving(org, org.junior, team=org.team_a, successorId=employee_id(org.senior))
    }
    for _ in range(2):  # the second time as a retry
        (await suite.gql(UPSERT, request, as_=org.hr)).ok()
    assert await status_of(suite, org.junior) == "LEFT"
    assert await owned_by(suite, org.senior) == ids
    for customer_id in ids:
        (event,) = await departure_events(suite, org, customer_id)
        assert (event["reason"], event["actor"]["id"]) == ("departure", employee_id(org.hr))
