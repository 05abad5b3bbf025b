"""Relay as its clients use it, on both profiles: every object refetched by its global ID
through node(id:) / nodes(ids:) within the caller's grants, IDs unique across types and
checked at the edge, and the lists a client browses backwards (alerts, an employee's
timeline, the audit trail) paged with last/before to the same items as forwards."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from salesguard.errors import ErrorCode, ServiceError
from salesguard.grpc_client import ServiceChannels
from salesguard.principal import Principal, acting_as
from salesguard_api.attendance.v1 import directory_pb2, directory_pb2_grpc
from salesguard_api.common.v1 import common_pb2, common_pb2_grpc
from salesguard_api.customers.v1 import customers_pb2, customers_pb2_grpc
from tests.harness import Suite, employee_id, global_id, service_id, unique
from tests.org import Org, make_org, register
from tests.support.exports import request_export
from tests.support.field_visits import check_in
from tests.support.subscriptions import mock_location_check_in
from tests.support.timeline import record_follow_up, somewhere_of_its_own, submit_order

NODE = """query($id: ID!) {
  node(id: $id) {
    __typename id
    ... on Customer { name phone maskedFields }
    ... on Order { code }
    ... on Alert { kind source }
    ... on Employee { hrId name }
    ... on Branch { hrId }
    ... on Team { hrId }
    ... on CheckIn { verdict }
    ... on ExportRequest { status }
    ... on CommissionPlan { version }
  }
}"""
NODES = """query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }"""
CUSTOMER = """query($id: ID!) { customer(id: $id) { id name phone maskedFields } }"""
ME = """{ me { id hrId branch { id hrId } team { id hrId } } }"""
ALERTS = """query($first: Int, $after: String, $last: Int, $before: String) {
  alerts(first: $first, after: $after, last: $last, before: $before,
         filter: {employeeId: %s}) {
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id source } }
  }
}"""
TIMELINE = """query($employeeId: ID!, $from: DateTime!, $to: DateTime!, $first: Int,
                    $after: String, $last: Int, $before: String) {
  employeeTimeline(employeeId: $employeeId, from: $from, to: $to, first: $first, after: $after,
                   last: $last, before: $before) {
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { __typename at } }
  }
}"""
AUDIT = """query($first: Int, $after: String, $last: Int, $before: String, $customer: ID) {
  auditEvents(first: $first, after: $after, last: $last, before: $before,
              filter: {customerId: $customer}) {
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id action } }
  }
}"""


async def node(suite: Suite, as_: str, node_id: str) -> dict[str, Any] | None:
    answer: dict[str, Any] | None = (await suite.gql(NODE, {"id": node_id}, as_=as_)).ok()["node"]
    return answer


async def test_node_refetches_every_kind_of_object_as_its_own_query_answers_it(
    either_profile: Suite,
) -> None:
    suite = either_profile
    org = await make_org(suite)
    # Customers first met 30 hours ago: the registration raises LATE_REGISTRATION.
    customer = await register(suite, org.junior, hours_since_contact=30)
    order = await submit_order(suite, org.junior, customer["id"], quantity="1", unit_price="100")
    me = (await suite.gql(ME, as_=org.junior)).ok()["me"]
    visit = await check_in(
        suite, org.junior, somewhere_of_its_own(), datetime.now(UTC) - timedelta(minutes=5)
    )
    export = await request_export(suite, org.manager, [customer["id"]])
    alert = (
        await suite.gql(
            """query($c: ID) { alerts(filter: {customerId: $c}) { edges { node { id } } } }""",
            {"c": customer["id"]},
            as_=org.manager,
        )
    ).ok()["alerts"]["edges"][0]["node"]
    plan = (await suite.gql("{ commissionPlans { id version } }", as_=org.finance)).ok()[
        "commissionPlans"
    ][0]

    expected = {
        customer["id"]: ("Customer", {"name": customer["name"]}),
        order["id"]: ("Order", {"code": order["code"]}),
        alert["id"]: ("Alert", {"kind": "LATE_REGISTRATION", "source": "customers"}),
        me["id"]: ("Employee", {"hrId": org.junior}),
        me["branch"]["id"]: ("Branch", {"hrId": org.branch}),
        me["team"]["id"]: ("Team", {"hrId": org.team_a}),
        visit["id"]: ("CheckIn", {}),
        export["id"]: ("ExportRequest", {"status": "PENDING"}),
    }
    for node_id, (type_name, fields) in expected.items():
        found = await node(suite, org.manager, node_id)
        assert found is not None, type_name
        assert (found["__typename"], found["id"]) == (type_name, node_id)
        assert {name: found[name] for name in fields} == fields
    found_plan = await node(suite, org.finance, plan["id"])
    assert found_plan == {"__typename": "CommissionPlan", "id": plan["id"], "version": 0}

    # nodes: in the order asked, one batch per type, null for what is not there.
    missing = global_id("Order", "0" * 32)
    asked = [order["id"], customer["id"], missing, me["id"], alert["id"], customer["id"]]
    answered = (await suite.gql(NODES, {"ids": asked}, as_=org.manager)).ok()["nodes"]
    assert [item and item["id"] for item in answered] == [
        order["id"],
        customer["id"],
        None,
        me["id"],
        alert["id"],
        customer["id"],
    ]
    # Check-ins and export requests: one list call per type for the whole batch.
    visit_2 = await check_in(
        suite, org.junior, somewhere_of_its_own(), datetime.now(UTC) - timedelta(minutes=4)
    )
    export_2 = await request_export(suite, org.manager, [customer["id"]])
    nowhere = global_id("CheckIn", "0" * 32)
    asked = [export_2["id"], visit["id"], nowhere, export["id"], visit_2["id"]]
    result = await suite.gql(NODES, {"ids": asked}, as_=org.manager)
    assert [item and item["id"] for item in result.ok()["nodes"]] == [
        export_2["id"],
        visit["id"],
        None,
        export["id"],
        visit_2["id"],
    ]
    calls = result.body["extensions"]["rpcCalls"]
    assert calls == {
        "/salesguard.attendance.v1.VisitsService/ListCheckIns": 1,
        "/salesguard.customers.v1.ExportsService/ListExportRequests": 1,
    }, calls
    # Another team's rep: neither the check-ins nor the requests are theirs to see.
    hidden = (await suite.gql(NODES, {"ids": asked}, as_=org.junior_b)).ok()["nodes"]
    assert hidden == [None] * len(asked)


async def test_node_keeps_the_callers_grants_and_masking(either_profile: Suite) -> None:
    suite = either_profile
    org = await make_org(suite)
    customer = await register(suite, org.junior)
    # Another team's rep: customer(id:) says NOT_FOUND, node(id:) null, never the customer.
    refused = await suite.gql(CUSTOMER, {"id": customer["id"]}, as_=org.junior_b)
    assert [error["extensions"]["code"] for error in refused.errors] == ["NOT_FOUND"]
    assert await node(suite, org.junior_b, customer["id"]) is None
    assert (await suite.gql(NODES, {"ids": [customer["id"]]}, as_=org.junior_b)).ok() == {
        "nodes": [None]
    }
    # The senior of the team sees it masked, through node exactly as through customer(id:).
    direct = (await suite.gql(CUSTOMER, {"id": customer["id"]}, as_=org.senior)).ok()["customer"]
    through_node = await node(suite, org.senior, customer["id"])
    assert direct["maskedFields"] and "****" in direct["phone"]
    assert through_node is not None
    assert {name: through_node[name] for name in direct} == direct
    # An alert by ID: for those who may read alerts about its subject.
    await register(suite, org.junior_mate, hours_since_contact=30)
    alert_id = (
        await suite.gql(
            "query($e: ID) { alerts(filter: {employeeId: $e}) { edges { node { id } } } }",
            {"e": employee_id(org.junior_mate)},
            as_=org.manager,
        )
    ).ok()["alerts"]["edges"][0]["node"]["id"]
    assert await node(suite, org.manager, alert_id) is not None
    # A rep may read no alerts at all, not even about themselves: as alerts answers it.
    own = await suite.gql(NODE, {"id": alert_id}, as_=org.junior_mate)
    assert own.body["data"] == {"node": None}
    assert [error["extensions"]["code"] for error in own.errors] == ["FORBIDDEN"]


async def test_ids_are_unique_across_types_and_checked_at_the_edge(
    either_profile: Suite,
) -> None:
    suite = either_profile
    org = await make_org(suite)
    customer = await register(suite, org.junior)
    # The directory numbers branches and employees alike: the same HR key, two global IDs.
    shared_key = unique("same")
    await suite.gql(
        "mutation($i: UpsertBranchInput!) { upsertBranch(input: $i) { branch { id } } }",
        {"i": {"hrId": shared_key, "name": shared_key, "timeZone": "Asia/Shanghai"}},
        as_=org.admin,
    )
    employee = (
        await suite.gql(
            "mutation($i: UpsertEmployeeInput!) { upsertEmployee(input: $i) { employee { id } } }",
            {
                "i": {
                    "hrId": shared_key,
                    "name": "同号",
                    "roles": ["SALES_JUNIOR"],
                    "branchId": global_id("Branch", shared_key),
                }
            },
            as_=org.admin,
        )
    ).ok()["upsertEmployee"]["employee"]
    branch = await node(suite, org.hr, global_id("Branch", shared_key))
    assert branch is not None and branch["__typename"] == "Branch"
    assert employee["id"] != branch["id"]
    assert service_id(employee["id"]) == service_id(branch["id"]) == shared_key
    assert (await node(suite, org.hr, employee["id"]) or {}).get("__typename") == "Employee"

    def refusal(result: Any) -> tuple[str, str | None]:
        (error,) = result.errors
        return error["extensions"]["code"], error["extensions"].get("field")

    # A raw service ID is not an ID of the API.
    raw = await suite.gql(CUSTOMER, {"id": service_id(customer["id"])}, as_=org.junior)
    assert refusal(raw)[0] == "VALIDATION"
    # Another type's ID where a customer's is asked for: named, not a quiet NOT_FOUND.
    wrong_type = await suite.gql(CUSTOMER, {"id": employee_id(org.junior)}, as_=org.junior)
    assert refusal(wrong_type) == ("VALIDATION", "id")
    # Neither a type the API has nor base64 at all.
    unknown_type = base64.b64encode(b"Secret:1").decode()
    assert refusal(await suite.gql(NODE, {"id": unknown_type}, as_=org.hr)) == (
        "VALIDATION",
        "id",
    )
    assert refusal(await suite.gql(NODE, {"id": "not an id!"}, as_=org.hr))[0] == "VALIDATION"
    too_many = [customer["id"]] * 101
    assert refusal(await suite.gql(NODES, {"ids": too_many}, as_=org.hr)) == ("VALIDATION", "ids")


async def pages_both_ways(
    suite: Suite, query: str, field: str, as_: str, size: int, **variables: Any
) -> tuple[list[list[str]], list[list[str]], dict[str, Any]]:
    """Every page of ``field`` forward (first/after) and backward from the end (last/before):
    the cursors of each page's edges, both in the list's order; and the last backward page."""

    def cursors(connection: dict[str, Any]) -> list[str]:
        return [edge["node"].get("id") or edge["node"]["at"] for edge in connection["edges"]]

    forward: list[list[str]] = []
    after = None
    for _ in range(20):
        page = (await suite.gql(query, {**variables, "first": size, "after": after}, as_=as_)).ok()[
            field
        ]
        forward.append(cursors(page))
        assert page["pageInfo"]["hasPreviousPage"] is False
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    backward: list[list[str]] = []
    before = None
    for _ in range(20):
        page = (
            await suite.gql(query, {**variables, "last": size, "before": before}, as_=as_)
        ).ok()[field]
        backward.insert(0, cursors(page))
        # Items follow a page read before a cursor; none follow the list's end.
        assert page["pageInfo"]["hasNextPage"] is (before is not None)
        if not page["pageInfo"]["hasPreviousPage"]:
            break
        before = page["pageInfo"]["startCursor"]
    return forward, backward, page


def flat(pages: list[list[str]]) -> list[str]:
    return [item for page in pages for item in page]


async def alerts_of_two_sources(suite: Suite, org: Org) -> None:
    """Five alerts about the junior: three from customers, two from attendance."""
    for _ in range(3):
        await register(suite, org.junior, hours_since_contact=30)
    for _ in range(2):
        await mock_location_check_in(suite, org.junior)


async def test_alerts_page_backwards_to_the_same_alerts_across_sources(
    either_profile: Suite,
) -> None:
    suite = either_profile
    org = await make_org(suite)
    await alerts_of_two_sources(suite, org)
    query = ALERTS % f'"{employee_id(org.junior)}"'
    forward, backward, _ = await pages_both_ways(suite, query, "alerts", org.manager, 2)
    assert len(flat(forward)) == 5
    assert flat(backward) == flat(forward)
    # From the end the pages are cut from the end: the oldest page is the short one.
    assert [len(page) for page in backward] == [1, 2, 2]
    # A backward page resumes forward from its own cursors, without a gap or a repeat.
    last_two = (await suite.gql(query, {"last": 2}, as_=org.manager)).ok()["alerts"]
    before_them = (
        await suite.gql(
            query, {"last": 2, "before": last_two["pageInfo"]["startCursor"]}, as_=org.manager
        )
    ).ok()["alerts"]
    after_those = (
        await suite.gql(
            query, {"first": 2, "after": before_them["pageInfo"]["endCursor"]}, as_=org.manager
        )
    ).ok()["alerts"]
    assert [edge["node"]["id"] for edge in after_those["edges"]] == [
        edge["node"]["id"] for edge in last_two["edges"]
    ]
    # first with before, or last with after, mixes directions: refused, named.
    mixed = await suite.gql(
        query, {"first": 2, "before": last_two["pageInfo"]["startCursor"]}, as_=org.manager
    )
    assert [(e["extensions"]["code"], e["extensions"]["field"]) for e in mixed.errors] == [
        ("VALIDATION", "first")
    ]
    too_big = await suite.gql(query, {"last": 101}, as_=org.manager)
    assert [(e["extensions"]["code"], e["extensions"]["field"]) for e in too_big.errors] == [
        ("VALIDATION", "last")
    ]


async def test_a_timeline_pages_backwards_to_the_same_evidence(either_profile: Suite) -> None:
    suite = either_profile
    org = await make_org(suite)
    customer = await register(suite, org.junior)
    for kind in ("CALL", "VISIT", "MESSAGE"):
        await record_follow_up(suite, org.junior, customer["id"], kind)
    await submit_order(suite, org.junior, customer["id"], quantity="1", unit_price="10")
    await mock_location_check_in(suite, org.junior)
    now = datetime.now(UTC)
    window = {
        "employeeId": employee_id(org.junior),
        "from": (now - timedelta(days=1)).isoformat(),
        "to": (now + timedelta(minutes=5)).isoformat(),
    }
    forward, backward, _ = await pages_both_ways(
        suite, TIMELINE, "employeeTimeline", org.manager, 3, **window
    )
    assert len(flat(forward)) >= 6  # follow-ups, order, check-in, its alert, audit reads
    assert flat(backward) == flat(forward)


async def test_the_audit_trail_pages_backwards_to_the_same_entries(
    either_profile: Suite,
) -> None:
    suite = either_profile
    org = await make_org(suite)
    customer = await register(suite, org.junior)
    # Each unmasked read of the contact fields is an audit entry (C7).
    for _ in range(5):
        (await suite.gql(CUSTOMER, {"id": customer["id"]}, as_=org.junior)).ok()
    forward, backward, _ = await pages_both_ways(
        suite, AUDIT, "auditEvents", org.hr, 2, customer=customer["id"]
    )
    assert len(flat(forward)) >= 5
    assert flat(backward) == flat(forward)


async def test_nodes_costs_one_object_per_id_asked_for(suite: Suite) -> None:
    """nodes(ids:) is sized by its IDs, like a page by first: a hundred employees each
    with a page of a hundred customers is over the budget (50 000), twenty are not."""
    org = await make_org(suite)
    query = """query($ids: [ID!]!) { nodes(ids: $ids) {
      ... on Employee { customers(first: 100) {
        edges { node { id code name company source registeredAt } } } } } }"""

    async def codes(count: int) -> list[str]:
        ids = [employee_id(org.junior)] * count
        result = await suite.gql(query, {"ids": ids}, as_=org.hr)
        return [error["extensions"]["code"] for error in result.errors]

    assert await codes(100) == ["QUERY_TOO_COSTLY"]
    assert await codes(20) == []


async def test_a_list_that_pages_forward_only_refuses_a_backward_page(suite: Suite) -> None:
    """A service asked directly for a backward page of a list that only pages forward says
    so (VALIDATION on ``page.backward``) instead of answering rows from the wrong side of
    the cursor; the lists that page backwards answer it."""
    addresses = {name: suite.settings[f"{name}_address"] for name in ("attendance", "customers")}
    secret = suite.running["attendance"].runtime.internal_secret
    channels = ServiceChannels(addresses, secret, 5)
    backward = common_pb2.PageRequest(page_size=5, backward=True)
    org = await make_org(suite)
    try:
        directory = directory_pb2_grpc.DirectoryServiceStub(channels.channel("attendance"))
        customers = customers_pb2_grpc.CustomersServiceStub(channels.channel("customers"))
        alerts = common_pb2_grpc.AlertsServiceStub(channels.channel("customers"))
        with acting_as(Principal(org.hr, ("HR",), None, org.hq, hq=True)):
            for call in (
                directory.ListEmployees(directory_pb2.ListEmployeesRequest(page=backward)),
                customers.ListCustomers(customers_pb2.ListCustomersRequest(page=backward)),
            ):
                with pytest.raises(ServiceError) as refused:
                    await call
                assert refused.value.code is ErrorCode.VALIDATION
                assert refused.value.field == "page.backward"
            await alerts.ListAlerts(common_pb2.ListAlertsRequest(page=backward))
    finally:
        await channels.close()
