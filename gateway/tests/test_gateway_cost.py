"""Cost limits: an operation whose estimated cost (list sizes multiply) is over
``max_query_cost`` is refused with QUERY_TOO_COSTLY before any service is called."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphql import get_introspection_query

from gateway.tests.conftest import StartSuite, World
from gateway.tests.support import auth, codes_of
from salesguard_gateway.settings import DEFAULT_MAX_QUERY_COST
from tests.harness import Suite

Calls = Callable[[], list[str]]

# A page of employees, each with a page of customers.
NESTED_PAGES = """
query($outer: Int, $inner: Int) {
  employees(first: $outer) {
    edges { node { id customers(first: $inner) { edges { node { id code name company phone } } } } }
  }
}
"""


def nested_cost(outer: int, inner: int) -> int:
    # employees 1 + edges (1 + outer × (node 1 + id 1 + customers 1 + edges (1 + inner × 6)))
    return 1 + 1 + outer * (1 + 1 + 1 + 1 + inner * 6)


def too_costly(body: dict[str, Any], cost: int, budget: int) -> None:
    assert body["data"] is None, body
    assert codes_of(body) == ["QUERY_TOO_COSTLY"]
    extensions = body["errors"][0]["extensions"]
    assert (extensions["cost"], extensions["budget"]) == (cost, budget)


async def test_a_costly_query_is_refused_before_any_service_call(
    suite: Suite, world: World, calls: Calls
) -> None:
    result = await suite.gql(NESTED_PAGES, {"outer": 100, "inner": 100}, as_=world.org.manager)
    assert result.status == 200  # application/json: request errors answer 200
    too_costly(result.body, nested_cost(100, 100), DEFAULT_MAX_QUERY_COST)
    # Only the caller's principal was resolved: nothing of the query ran, in any service.
    assert calls() == ["ResolvePrincipal"]
    assert result.body["extensions"]["rpcCalls"] == {}


async def test_the_cost_follows_the_variables(suite: Suite, world: World) -> None:
    small = await suite.gql(NESTED_PAGES, {"outer": 5, "inner": 5}, as_=world.org.manager)
    employees = small.ok()["employees"]["edges"]
    assert employees and all("customers" in edge["node"] for edge in employees)
    # Absent page sizes are default pages (20): 2 + 20 × (4 + 20 × 6) fits.
    assert (await suite.gql(NESTED_PAGES, as_=world.org.manager)).ok()["employees"]


async def test_a_costly_query_is_a_400_for_graphql_response_clients(
    suite: Suite, world: World
) -> None:
    response = await suite.client.post(
        "/graphql",
        json={"query": NESTED_PAGES, "variables": {"outer": 100, "inner": 100}},
        headers=auth(world.org.manager, Accept="application/graphql-response+json"),
    )
    assert response.status_code == 400
    assert "data" not in response.json()
    assert codes_of(response.json()) == ["QUERY_TOO_COSTLY"]


async def test_the_budget_is_a_setting(start_suite: StartSuite, calls: Calls) -> None:
    suite = await start_suite(max_query_cost=100)
    page = "{ customers(first: 50) { totalCount edges { node { id name } } } }"
    result = await suite.gql(page, as_="admin")
    # 1 (customers) + 1 (totalCount) + 1 (edges) + 50 × (node 1 + id 1 + name 1)
    too_costly(result.body, 153, 100)
    assert result.body["extensions"]["rpcCalls"] == {}
    assert (await suite.gql("{ employees(first: 30) { totalCount } }", as_="admin")).ok()
    # Introspection is bounded by the schema, not by pages: GraphiQL still loads.
    introspection = await suite.gql(get_introspection_query(), as_="admin")
    assert introspection.ok()["__schema"]["queryType"]["name"] == "Query"
