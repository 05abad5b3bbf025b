"""A connection's pageInfo as Relay clients read it: both ends' cursors, and which way more
items lie, for a service's own list (customers) and for the federated alerts."""

from __future__ import annotations

from typing import Any

from tests.harness import Suite
from tests.org import make_org, register

CUSTOMERS = """query($after: String) {
  customers(first: 2, after: $after) {
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id } }
  }
}"""
ALERTS = """query($after: String) {
  alerts(first: 2, after: $after) {
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id } }
  }
}"""


def ends(connection: dict[str, Any]) -> tuple[str | None, str | None]:
    """The first and last edge's cursors."""
    cursors = [edge["cursor"] for edge in connection["edges"]]
    return (cursors[0], cursors[-1]) if cursors else (None, None)


async def pages(suite: Suite, query: str, field: str, as_: str) -> list[dict[str, Any]]:
    """Every page of ``field``, following endCursor."""
    seen: list[dict[str, Any]] = []
    after = None
    for _ in range(10):
        connection = (await suite.gql(query, {"after": after}, as_=as_)).ok()[field]
        seen.append(connection)
        if not connection["pageInfo"]["hasNextPage"]:
            return seen
        after = connection["pageInfo"]["endCursor"]
    raise AssertionError(f"{field} did not end within 10 pages")


async def test_page_info_names_both_ends_of_each_customers_page(suite: Suite) -> None:
    org = await make_org(suite)
    for _ in range(3):
        await register(suite, org.junior)
    found = await pages(suite, CUSTOMERS, "customers", org.junior)
    assert [len(page["edges"]) for page in found] == [2, 1]
    for page in found:
        start, end = ends(page)
        info = page["pageInfo"]
        assert (info["startCursor"], info["endCursor"]) == (start, end)
        # Paged forward: the Relay spec lets hasPreviousPage be false, and it is.
        assert info["hasPreviousPage"] is False


async def test_an_empty_page_has_no_cursors(suite: Suite) -> None:
    org = await make_org(suite)
    empty = (await suite.gql(CUSTOMERS, {"after": None}, as_=org.junior)).ok()["customers"]
    assert empty["edges"] == []
    assert empty["pageInfo"] == {
        "hasNextPage": False,
        "hasPreviousPage": False,
        "startCursor": None,
        "endCursor": None,
    }


async def test_the_federated_alerts_page_names_both_ends(suite: Suite) -> None:
    org = await make_org(suite)
    # Customers first met 30 hours ago: each registration raises a late-registration alert.
    for _ in range(3):
        await register(suite, org.junior, hours_since_contact=30)
    found = await pages(suite, ALERTS, "alerts", org.manager)
    assert sum(len(page["edges"]) for page in found) == 3
    for page in found:
        start, end = ends(page)
        assert (page["pageInfo"]["startCursor"], page["pageInfo"]["endCursor"]) == (start, end)
        assert page["pageInfo"]["hasPreviousPage"] is False
