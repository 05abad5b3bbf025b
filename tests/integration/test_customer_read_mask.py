"""ListCustomers' read_mask (issue 16): a page leaves out the optional fields (times,
location) its caller does not name, and the gateway names every one its query shows, by
any way a query can show it. A field it forgot would read as null, so each is checked
against the page that shows them all."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, cast

import pytest

from salesguard.errors import ErrorCode, ServiceError
from salesguard.grpc_client import ServiceChannels
from salesguard.principal import Principal, acting_as
from salesguard_api.common.v1 import common_pb2
from salesguard_api.customers.v1 import customers_pb2, customers_pb2_grpc
from tests.harness import Suite, service_id, unique
from tests.org import Org, make_org, register

OPTIONAL = ("firstContactAt", "registeredAt", "updatedAt", "pooledAt", "location")
PROTO_OPTIONAL = ("first_contact_at", "registered_at", "updated_at", "location")
ALL_FIELDS = "id name phone firstContactAt registeredAt updatedAt pooledAt location { lat lng }"


def page_query(node: str, variables: str = "($text: String)") -> str:
    return (
        f"query{variables} {{ customers(first: 50, filter: {{text: $text}}) "
        f"{{ edges {{ node {{ {node} }} }} }} }}"
    )


async def nodes(suite: Suite, as_: str, query: str, **variables: Any) -> dict[str, Any]:
    data = (await suite.gql(query, variables, as_=as_)).ok()
    return {edge["node"]["id"]: edge["node"] for edge in data["customers"]["edges"]}


@pytest.fixture(scope="module")
async def org(suite: Suite) -> Org:
    return await make_org(suite)


@pytest.fixture(scope="module")
async def customer(suite: Suite, org: Org) -> dict[str, Any]:
    return await register(
        suite, org.junior, name=unique("Masked"), location={"lat": 31.23, "lng": 121.47}
    )


@pytest.fixture(scope="module")
async def customers_stub(suite: Suite) -> AsyncIterator[Any]:
    """The customers service's stub (typed Any: its stubs are typed for the sync API)."""
    running = suite.running["customers"]
    channels = ServiceChannels({"customers": running.address}, running.runtime.internal_secret, 20)
    yield customers_pb2_grpc.CustomersServiceStub(channels.channel("customers"))
    await channels.close()


async def test_each_optional_field_reads_as_on_the_full_page(
    suite: Suite, org: Org, customer: dict[str, Any]
) -> None:
    text = customer["name"]
    full = (await nodes(suite, org.junior, page_query(ALL_FIELDS), text=text))[customer["id"]]
    assert full["firstContactAt"] and full["registeredAt"] and full["updatedAt"]
    assert full["location"] == {"lat": 31.23, "lng": 121.47}
    for field in OPTIONAL:
        subfields = " { lat lng }" if field == "location" else ""
        shown = field + subfields
        # Plainly, under an alias, in an inline fragment, in a named fragment on Node's
        # implementation, and kept by @include: each way must name the field to the service.
        ways = {
            "plain": (page_query(f"id {shown}"), {}),
            "fragment": (page_query(f"id ... on Customer {{ {shown} }}"), {}),
            "included": (
                page_query(
                    f"id {field} @include(if: $show){subfields}", "($text: String, $show: Boolean!)"
                ),
                {"show": True},
            ),
        }
        for way, (query, variables) in ways.items():
            got = (await nodes(suite, org.junior, query, text=text, **variables))[customer["id"]]
            assert got[field] == full[field], (field, way)
        aliased = page_query(f"id shown: {shown}")
        got = (await nodes(suite, org.junior, aliased, text=text))[customer["id"]]
        assert got["shown"] == full[field], field
        named = (
            "query($text: String) { customers(first: 50, filter: {text: $text}) "
            "{ edges { node { id ...Shown } } } } fragment Shown on Customer { " + shown + " }"
        )
        got = (await nodes(suite, org.junior, named, text=text))[customer["id"]]
        assert got[field] == full[field], (field, "named fragment")
    # Skipped, the field is not answered at all; the others still are.
    skipped = page_query(
        "id name updatedAt @skip(if: $hide) registeredAt", "($text: String, $hide: Boolean!)"
    )
    got = (await nodes(suite, org.junior, skipped, text=text, hide=True))[customer["id"]]
    assert got == {"id": customer["id"], "name": text, "registeredAt": full["registeredAt"]}


async def test_the_service_leaves_out_what_the_mask_does_not_name(
    org: Org, customer: dict[str, Any], customers_stub: Any
) -> None:
    junior = Principal(
        id=org.junior, roles=("SALES_JUNIOR",), team_id=org.team_a, branch_id=org.branch
    )
    customer_id = service_id(customer["id"])

    async def listed(*paths: str) -> customers_pb2.Customer:
        request = customers_pb2.ListCustomersRequest(
            filter=customers_pb2.CustomerFilter(text=customer["name"]),
            page=common_pb2.PageRequest(page_size=10),
        )
        request.read_mask.paths.extend(paths)
        with acting_as(junior):
            response = await customers_stub.ListCustomers(request)
        [found] = [c for c in response.customers if c.id == customer_id]
        return cast(customers_pb2.Customer, found)

    everything = await listed()
    assert all(cast(Any, everything).HasField(field) for field in PROTO_OPTIONAL)
    narrow = await listed("id", "name", "registered_at")
    assert narrow.HasField("registered_at") and narrow.name == everything.name
    assert not any(narrow.HasField(f) for f in ("first_contact_at", "updated_at", "location"))
    # Everything else is written whatever the mask says: the same message but for those.
    for field in ("first_contact_at", "updated_at", "location"):
        everything.ClearField(field)
    assert narrow == everything
    # Every field named: the whole customer.
    assert await listed(*customers_pb2.Customer.DESCRIPTOR.fields_by_name) == await listed()

    for wrong in ("nope", "Name", "location.lat", "x" * 5000):
        request = customers_pb2.ListCustomersRequest(page=common_pb2.PageRequest(page_size=10))
        request.read_mask.paths.extend(["id", wrong])
        with acting_as(junior), pytest.raises(ServiceError) as raised:
            await customers_stub.ListCustomers(request)
        assert raised.value.code is ErrorCode.VALIDATION, raised.value
        assert raised.value.field == "read_mask.paths", raised.value
        assert len(str(raised.value)) < 200


CURSORS = """
query($text: String, $after: String) {
  customers(first: 3, after: $after, filter: {text: $text}) {
    edges { node { id } %s }
    pageInfo { hasNextPage startCursor endCursor }
  }
}
"""


async def test_edge_cursors_are_written_when_shown_and_every_cursor_resumes(
    suite: Suite, org: Org, customers_stub: Any
) -> None:
    """Without edges' cursors in the query the service writes the page's ends' only; the
    page info's cursors are the same either way, and each resumes where it should."""
    text = unique("Paged")
    registered = [(await register(suite, org.junior, name=f"{text} {i}"))["id"] for i in range(7)]
    newest_first = registered[::-1]

    async def page(after: str | None, edge_cursor: bool) -> dict[str, Any]:
        query = CURSORS % ("cursor" if edge_cursor else "")
        data = (await suite.gql(query, {"text": text, "after": after}, as_=org.junior)).ok()
        return dict(data["customers"])

    with_cursors = await page(None, True)
    without = await page(None, False)
    assert with_cursors["pageInfo"] == without["pageInfo"]
    assert [e["node"]["id"] for e in without["edges"]] == newest_first[:3]
    cursors = [edge["cursor"] for edge in with_cursors["edges"]]
    assert all(cursors) and len(set(cursors)) == 3
    assert with_cursors["pageInfo"]["startCursor"] == cursors[0]
    assert with_cursors["pageInfo"]["endCursor"] == cursors[-1]
    # Resuming after the middle edge's cursor, and after the end cursor of a page that
    # showed no edge cursors, page on exactly where they should.
    middle = await page(cursors[1], False)
    assert [e["node"]["id"] for e in middle["edges"]] == newest_first[2:5]
    seen: list[str] = []
    after = None
    while True:
        current = await page(after, False)
        seen += [edge["node"]["id"] for edge in current["edges"]]
        if not current["pageInfo"]["hasNextPage"]:
            break
        after = current["pageInfo"]["endCursor"]
    assert seen == newest_first

    # The service itself writes the ends' cursors only when asked to.
    junior = Principal(
        id=org.junior, roles=("SALES_JUNIOR",), team_id=org.team_a, branch_id=org.branch
    )
    for ends_only in (False, True):
        request = customers_pb2.ListCustomersRequest(
            filter=customers_pb2.CustomerFilter(text=text),
            page=common_pb2.PageRequest(page_size=5),
            end_cursors_only=ends_only,
        )
        with acting_as(junior):
            response = await customers_stub.ListCustomers(request)
        written = [bool(cursor) for cursor in response.cursors]
        assert written == ([True, False, False, False, True] if ends_only else [True] * 5)
