"""Who sees which customer, through every query path, for every role of SPEC §2."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.harness import Suite, employee_id, service_id, unique
from tests.org import Org, make_org, new_phone, register

MASKED_PHONE = re.compile(r"^\d{3}\*{4}\d{4}$")
CUSTOMER = "query($id: ID!) { customer(id: $id) { id code name phone email address maskedFields } }"
CUSTOMERS = """
query($filter: CustomerFilter) {
  customers(first: 100, filter: $filter) {
    totalCount
    edges { node { id code name phone email address maskedFields owner { id } } }
  }
}
"""
AUDIT = "{ auditEvents(first: 50) { totalCount edges { node { action customerIds } } } }"
ALERTS = "{ alerts(first: 50) { totalCount edges { node { kind evidence customer { id } } } } }"


async def visible(
    suite: Suite, as_: str, filter_: dict[str, Any] | None = None
) -> dict[str, dict[str, Any]]:
    data = (await suite.gql(CUSTOMERS, {"filter": filter_}, as_=as_)).ok()
    return {edge["node"]["id"]: edge["node"] for edge in data["customers"]["edges"]}


@pytest.fixture(scope="module")
async def world(suite: Suite) -> dict[str, Any]:
    """One org with a customer for each rep: the junior's, the teammate's, the senior's, team B's."""
    org = await make_org(suite)
    customers = {
        "junior": await register(suite, org.junior, name=unique("Junior's")),
        "mate": await register(suite, org.junior_mate, name=unique("Mate's")),
        "senior": await register(suite, org.senior, name=unique("Senior's")),
        "team_b": await register(suite, org.junior_b, name=unique("TeamB's")),
    }
    return {"org": org, "customers": customers}


def ids(world: dict[str, Any], *names: str) -> set[str]:
    return {world["customers"][name]["id"] for name in names}


async def test_junior_sees_only_their_own_customers(suite: Suite, world: dict[str, Any]) -> None:
    org: Org = world["org"]
    seen = await visible(suite, org.junior)
    assert set(seen) == ids(world, "junior")
    assert seen[world["customers"]["junior"]["id"]]["maskedFields"] == []


async def test_junior_cannot_reach_a_teammates_customer_through_any_query_path(
    suite: Suite, world: dict[str, Any]
) -> None:
    org: Org = world["org"]
    mate = world["customers"]["mate"]
    # by ID
    by_id = await suite.gql(CUSTOMER, {"id": mate["id"]}, as_=org.junior)
    assert by_id.data.get("customer") is None
    assert "NOT_FOUND" in by_id.codes
    # by text search on the name, the code, and the exact phone (blind index)
    for text in (mate["name"], mate["code"], mate["phone"]):
        assert await visible(suite, org.junior, {"text": text}) == {}
    # through the owner filter
    assert await visible(suite, org.junior, {"ownerId": employee_id(org.junior_mate)}) == {}
    # through the audit trail and alert evidence: reps read neither
    audit = await suite.gql(AUDIT, as_=org.junior)
    assert audit.codes == ["FORBIDDEN"]
    assert not (audit.data or {}).get("auditEvents")
    alerts = await suite.gql(ALERTS, as_=org.junior)
    assert "FORBIDDEN" in alerts.codes
    assert mate["id"] not in str(alerts.body)
    assert service_id(mate["id"]) not in str(alerts.body)


async def test_senior_sees_teammates_masked_and_own_unmasked_in_one_page(
    suite: Suite, world: dict[str, Any]
) -> None:
    org: Org = world["org"]
    seen = await visible(suite, org.senior)
    assert set(seen) == ids(world, "junior", "mate", "senior")
    own = seen[world["customers"]["senior"]["id"]]
    assert own["phone"] == world["customers"]["senior"]["phone"]
    assert own["maskedFields"] == []
    for name in ("junior", "mate"):
        teammates = seen[world["customers"][name]["id"]]
        assert MASKED_PHONE.match(teammates["phone"]), teammates["phone"]
        assert teammates["phone"] != world["customers"][name]["phone"]
        assert set(teammates["maskedFields"]) == {"phone", "email", "address"}


async def test_senior_cannot_change_a_core_field_but_can_change_the_address(
    suite: Suite, world: dict[str, Any]
) -> None:
    org: Org = world["org"]
    own = world["customers"]["senior"]
    update = "mutation($input: UpdateCustomerInput!) { updateCustomer(input: $input) { customer { name address } } }"
    refused = await suite.gql(
        update, {"input": {"id": own["id"], "name": "Renamed"}}, as_=org.senior
    )
    assert refused.codes == ["FORBIDDEN"]
    refused_phone = await suite.gql(
        update, {"input": {"id": own["id"], "phone": new_phone()}}, as_=org.senior
    )
    assert refused_phone.codes == ["FORBIDDEN"]
    allowed = await suite.gql(
        update, {"input": {"id": own["id"], "address": "北京市朝阳区 1 号"}}, as_=org.senior
    )
    assert allowed.ok()["updateCustomer"]["customer"]["address"] == "北京市朝阳区 1 号"
    unchanged = await suite.gql(CUSTOMER, {"id": own["id"]}, as_=org.senior)
    assert unchanged.ok()["customer"]["name"] == own["name"]


async def test_other_team_and_other_branch_see_nothing_of_team_a(
    suite: Suite, world: dict[str, Any]
) -> None:
    org: Org = world["org"]
    assert set(await visible(suite, org.junior_b)) == ids(world, "team_b")
    assert await visible(suite, org.other_manager) == {}


async def test_manager_sees_the_whole_branch_unmasked(suite: Suite, world: dict[str, Any]) -> None:
    org: Org = world["org"]
    seen = await visible(suite, org.manager)
    assert ids(world, "junior", "mate", "senior", "team_b") <= set(seen)
    for name in ("junior", "mate", "senior", "team_b"):
        row = seen[world["customers"][name]["id"]]
        assert row["phone"] == world["customers"][name]["phone"]
        assert row["maskedFields"] == []


@pytest.mark.parametrize("role", ["hr", "finance"])
async def test_hr_and_finance_read_every_customer_with_contact_masked(
    suite: Suite, world: dict[str, Any], role: str
) -> None:
    org: Org = world["org"]
    for name in ("junior", "team_b"):
        customer = world["customers"][name]
        row = (await suite.gql(CUSTOMER, {"id": customer["id"]}, as_=getattr(org, role))).ok()[
            "customer"
        ]
        assert MASKED_PHONE.match(row["phone"])
        assert set(row["maskedFields"]) == {"phone", "email", "address"}
        assert "南京东路" not in (row["address"] or "")


async def test_admin_reads_no_customers(suite: Suite, world: dict[str, Any]) -> None:
    result = await suite.gql(CUSTOMERS, as_="admin")
    assert result.codes == ["FORBIDDEN"]
    assert not result.data.get("customers")
