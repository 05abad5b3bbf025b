"""ListCustomers keeps its page statements per grants, filter and page (issue 16): what
is kept is the statement, never its rows, and one caller's never answers another's."""

from __future__ import annotations

from typing import Any

from tests.harness import Suite, unique
from tests.org import make_org, register

CUSTOMERS = """
query($filter: CustomerFilter) {
  customers(first: 50, filter: $filter) { totalCount edges { node { id phone maskedFields } } }
}
"""


async def page(suite: Suite, as_: str, filter_: dict[str, Any] | None = None) -> dict[str, Any]:
    data = (await suite.gql(CUSTOMERS, {"filter": filter_}, as_=as_)).ok()
    return {edge["node"]["id"]: edge["node"] for edge in data["customers"]["edges"]}


async def test_a_kept_statement_reads_the_rows_of_now_for_its_own_caller_only(
    suite: Suite,
) -> None:
    org = await make_org(suite)
    first = await register(suite, org.junior, name=unique("First"))
    mates = await register(suite, org.junior_mate, name=unique("Mate's"))

    # Two reps of one team: grants of the same shape, each for their own customers.
    assert set(await page(suite, org.junior)) == {first["id"]}
    assert set(await page(suite, org.junior_mate)) == {mates["id"]}
    # The same request again: a customer registered since is on the page.
    second = await register(suite, org.junior, name=unique("Second"))
    assert set(await page(suite, org.junior)) == {first["id"], second["id"]}
    assert set(await page(suite, org.junior_mate)) == {mates["id"]}
    # The same filter from a senior of the team: the teammates' rows, masked.
    seen = await page(suite, org.senior)
    assert {first["id"], second["id"], mates["id"]} <= set(seen)
    assert seen[mates["id"]]["maskedFields"] == ["address", "email", "phone"]
    assert seen[mates["id"]]["phone"] != mates["phone"]
    # A filter is part of what a statement is kept for.
    named = await page(suite, org.junior, {"text": first["name"]})
    assert set(named) == {first["id"]}
