"""G1: DataLoaders batch per request; contact fields are asked for only when shown."""

from __future__ import annotations

import httpx

from gateway.tests.gateway_fakes import FakeService, gql


async def test_a_page_with_owners_costs_two_calls(
    gateway: httpx.AsyncClient, customers: FakeService
) -> None:
    status, body = await gql(
        gateway,
        "{ customers(first: 50) { edges { node { id owner { id name manager { id } } } } } }",
    )
    assert status == 200 and "errors" not in body, body
    nodes = [edge["node"] for edge in body["data"]["customers"]["edges"]]
    assert len(nodes) == 50
    assert {node["owner"]["id"] for node in nodes} == {"E1", "E2"}
    assert body["extensions"]["rpcCalls"] == {
        "/salesguard.customers.v1.CustomersService/ListCustomers": 1,
        # One batch for the owners; their manager (E2) is an owner too, so already loaded.
        "/salesguard.attendance.v1.DirectoryService/BatchGetEmployees": 1,
    }


async def test_contact_fields_are_requested_only_when_selected(
    gateway: httpx.AsyncClient, customers: FakeService
) -> None:
    fake = customers.servicers["customers"]
    fake.include_contact.clear()
    await gql(gateway, "{ customers(first: 2) { edges { node { id name } } } }")
    await gql(gateway, "{ customers(first: 2) { edges { node { ... on Customer { phone } } } } }")
    await gql(
        gateway,
        "query($s: Boolean!) { customers(first: 2) { edges { node { id email @include(if: $s) } } } }",
        {"s": False},
    )
    await gql(gateway, '{ customer(id: "c1") { address } }')
    await gql(gateway, '{ customer(id: "c1") { code } }')
    assert fake.include_contact == [
        ("ListCustomers", False),
        ("ListCustomers", True),
        ("ListCustomers", False),
        ("GetCustomer", True),
        ("GetCustomer", False),
    ]


async def test_customer_fields(gateway: httpx.AsyncClient) -> None:
    status, body = await gql(
        gateway,
        """{ customers(first: 1) { totalCount pageInfo { hasNextPage endCursor }
             edges { cursor node { id code name company phone email address
               location { lat lng } source sourceDetail status maskedFields
               firstContactAt registeredAt updatedAt team { name } branch { name timeZone } } } } }""",
    )
    assert status == 200 and "errors" not in body, body
    connection = body["data"]["customers"]
    assert connection["totalCount"] == 60
    assert connection["pageInfo"] == {"hasNextPage": True, "endCursor": "1"}
    assert connection["edges"][0] == {
        "cursor": "1",
        "node": {
            "id": "c1",
            "code": "C-000001",
            "name": "Customer 1",
            "company": "ACME",
            "phone": "138****5678",
            "email": "a@example.com",
            "address": "1 Nanjing Road",
            "location": {"lat": 31.23, "lng": 121.47},
            "source": "WEBSITE",
            "sourceDetail": None,
            "status": "ACTIVE",
            "maskedFields": ["phone"],
            "firstContactAt": "2024-12-31T23:00:00+00:00",
            "registeredAt": "2025-01-01T01:00:00+00:00",
            "updatedAt": None,
            "team": {"name": "East"},
            "branch": {"name": "Shanghai", "timeZone": "Asia/Shanghai"},
        },
    }
    status, body = await gql(
        gateway,
        "query($after: String) { customers(first: 2, after: $after) { edges { node { id } } } }",
        {"after": connection["pageInfo"]["endCursor"]},
    )
    assert [edge["node"]["id"] for edge in body["data"]["customers"]["edges"]] == ["c10", "c11"]
