"""G1: DataLoaders batch per request; contact fields are asked for only when shown."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.tests.conftest import World
from gateway.tests.support import Spans
from tests.harness import Suite, employee_id, global_id, unique
from tests.org import Org, register

PAGE_WITH_OWNERS = (
    "{ customers(first: 50) { edges { node { id owner { id name manager { id } } } } } }"
)


async def test_a_page_with_owners_costs_two_calls(suite: Suite, world: World, spans: Spans) -> None:
    spans.clear()
    result = await suite.gql(PAGE_WITH_OWNERS, as_=world.org.manager)
    nodes = [edge["node"] for edge in result.ok()["customers"]["edges"]]
    assert len(nodes) == 50
    owners = {node["owner"]["id"]: node["owner"] for node in nodes}
    junior, senior = employee_id(world.org.junior), employee_id(world.org.senior)
    assert owners == {
        junior: {"id": junior, "name": "李雷", "manager": {"id": senior}},
        senior: {"id": senior, "name": "王芳", "manager": None},
    }
    assert result.body["extensions"]["rpcCalls"] == {
        "/salesguard.customers.v1.CustomersService/ListCustomers": 1,
        # One batch for the owners; the junior's manager (the senior) is an owner too, so
        # already loaded.
        "/salesguard.attendance.v1.DirectoryService/BatchGetEmployees": 1,
    }
    # Behind the gateway no service fans out either: one call each, plus the caller's lookup.
    assert Counter(spans.served()) == {
        "ResolvePrincipal": 1,
        "ListCustomers": 1,
        "BatchGetEmployees": 1,
    }


CONTACT_READS = """query($actor: ID) {
  auditEvents(first: 50, filter: {actorId: $actor, actions: ["customer.contact.read"]}) {
    edges { node { customerIds fields actor { id } } }
  }
}"""


async def contact_reads(suite: Suite, org: Org) -> list[dict[str, Any]]:
    """The audit trail's record of the junior's unmasked contact reads (C7), as the manager sees it."""
    data = (
        await suite.gql(CONTACT_READS, {"actor": employee_id(org.junior)}, as_=org.manager)
    ).ok()
    return [edge["node"] for edge in data["auditEvents"]["edges"]]


async def test_contact_fields_are_requested_only_when_selected(suite: Suite, org: Org) -> None:
    """Every unmasked contact read is audited and counts towards BULK_CONTACT_ACCESS (C8), so
    the gateway asks the service for contact fields only when the query shows one."""
    older = await register(suite, org.junior, email=f"{unique('older')}@example.com")
    newer = await register(suite, org.junior)
    both = sorted([older["id"], newer["id"]])
    queries: list[tuple[str, dict[str, Any], list[str] | None]] = [
        ("{ customers(first: 2) { edges { node { id name } } } }", {}, None),
        (
            "{ customers(first: 2) { edges { node { ... on Customer { phone } } } } }",
            {},
            both,
        ),
        (
            "query($s: Boolean!) { customers(first: 2) { edges { node { id email @include(if: $s) } } } }",
            {"s": False},
            None,
        ),
        ("query($id: ID!) { customer(id: $id) { address } }", {"id": older["id"]}, [older["id"]]),
        ("query($id: ID!) { customer(id: $id) { code } }", {"id": older["id"]}, None),
    ]
    assert await contact_reads(suite, org) == []
    expected: list[list[str]] = []
    for query, variables, audited in queries:
        (await suite.gql(query, variables, as_=org.junior)).ok()
        if audited is not None:
            expected.insert(0, audited)
        recorded = await contact_reads(suite, org)
        assert [sorted(event["customerIds"]) for event in recorded] == expected, query
    assert {event["actor"]["id"] for event in recorded} == {employee_id(org.junior)}
    # What was read unmasked is named: the older customer has a phone, an email and an address.
    assert sorted(recorded[0]["fields"]) == ["address", "email", "phone"]


CUSTOMER = """query($id: ID!) {
  customer(id: $id) { id code name company phone email address location { lat lng }
    source sourceDetail status maskedFields firstContactAt registeredAt updatedAt
    owner { id } team { id name } branch { id timeZone } } }"""


async def test_customer_fields(suite: Suite, org: Org) -> None:
    first_contact = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    registered = await register(
        suite,
        org.junior,
        name="ACME 华东采购部",
        company="ACME 贸易",
        phone="+86 139 8765 4321",
        email="Li.Lei@Example.COM",
        address="上海市黄浦区南京东路 100 号",
        location={"lat": 31.2397, "lng": 121.4998},
        source="REFERRAL",
        sourceDetail="张总介绍",
        firstContactAt=first_contact.isoformat(),
    )
    own = (await suite.gql(CUSTOMER, {"id": registered["id"]}, as_=org.junior)).ok()["customer"]
    registered_at = datetime.fromisoformat(own.pop("registeredAt"))
    updated_at = datetime.fromisoformat(own.pop("updatedAt"))
    assert registered_at == updated_at
    assert timedelta(0) <= datetime.now(UTC) - registered_at < timedelta(minutes=1)
    unmasked = {
        "id": registered["id"],
        "code": registered["code"],
        "name": "ACME 华东采购部",
        "company": "ACME 贸易",
        "phone": "+8613987654321",
        "email": "li.lei@example.com",
        "address": "上海市黄浦区南京东路 100 号",
        "location": {"lat": 31.2397, "lng": 121.4998},
        "source": "REFERRAL",
        "sourceDetail": "张总介绍",
        "status": "ACTIVE",
        "maskedFields": [],
        "firstContactAt": first_contact.isoformat(),
        "owner": {"id": employee_id(org.junior)},
        "team": {"id": global_id("Team", org.team_a), "name": org.team_a},
        "branch": {"id": global_id("Branch", org.branch), "timeZone": "Asia/Shanghai"},
    }
    assert own == unmasked
    # The senior reads a teammate's customer: the service masks the contact fields.
    teammate = (await suite.gql(CUSTOMER, {"id": registered["id"]}, as_=org.senior)).ok()
    masked = teammate["customer"]
    del masked["registeredAt"], masked["updatedAt"]
    assert masked == unmasked | {
        "phone": "139****4321",
        "email": "l***@example.com",
        "address": "上海市黄浦****",
        "maskedFields": ["address", "email", "phone"],
    }


async def test_cursors_resume_after_their_edge(suite: Suite, world: World) -> None:
    query = """query($after: String) {
      customers(first: 2, after: $after) {
        totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id } } } }"""
    newest_first = [customer["id"] for customer in reversed(world.customers)]
    first = (await suite.gql(query, {"after": None}, as_=world.org.manager)).ok()["customers"]
    assert first["totalCount"] == len(world.customers)
    assert [edge["node"]["id"] for edge in first["edges"]] == newest_first[:2]
    assert first["pageInfo"] == {"hasNextPage": True, "endCursor": first["edges"][1]["cursor"]}
    second = (
        await suite.gql(query, {"after": first["pageInfo"]["endCursor"]}, as_=world.org.manager)
    ).ok()["customers"]
    assert [edge["node"]["id"] for edge in second["edges"]] == newest_first[2:4]
    # Each edge's cursor resumes right after its own node.
    after_first = (
        await suite.gql(query, {"after": first["edges"][0]["cursor"]}, as_=world.org.manager)
    ).ok()["customers"]
    assert [edge["node"]["id"] for edge in after_first["edges"]] == newest_first[1:3]
