"""A value sent where a global ID belongs that is not one is VALIDATION naming where it
was sent: written in the query or passed in a variable, as an argument, in an input
object or in a list, before any service is asked."""

from __future__ import annotations

from typing import Any

import pytest

from tests.harness import Suite, employee_id, global_id
from tests.org import make_org

CASES: list[tuple[str, dict[str, Any], str]] = [
    ('{ employeeRisk(employeeId: "nope") { score } }', {}, "employeeId"),
    ("query($e: ID!) { employeeRisk(employeeId: $e) { score } }", {"e": ""}, "employeeId"),
    (
        "mutation($i: ClaimCustomerInput!) { claimCustomer(input: $i) { customer { id } } }",
        {"i": {"customerId": "C-000001"}},
        "customerId",
    ),
    (
        'mutation { claimCustomer(input: {customerId: "x"}) { customer { id } } }',
        {},
        "customerId",
    ),
    ("query($ids: [ID!]!) { nodes(ids: $ids) { id } }", {"ids": ["", "x"]}, "ids"),
    (
        "query($f: AlertFilter) { alerts(filter: $f) { totalCount } }",
        {"f": {"kinds": ["PAYER_MISMATCH"], "orderId": "O-000001"}},
        "orderId",
    ),
]


@pytest.mark.parametrize(("query", "variables", "field"), CASES)
async def test_a_value_that_is_no_global_id_is_named(
    suite: Suite, query: str, variables: dict[str, Any], field: str
) -> None:
    org = await make_org(suite)
    result = await suite.gql(query, variables, as_=org.hr)
    assert [(e["extensions"]["code"], e["extensions"].get("field")) for e in result.errors] == [
        ("VALIDATION", field)
    ]
    assert not result.body.get("extensions", {}).get("rpcCalls", {}).keys() - {
        "/salesguard.attendance.v1.DirectoryService/GetPrincipal",
        "/salesguard.attendance.v1.DirectoryService/BatchGetEmployees",
    }


async def test_well_formed_ids_of_the_right_type_pass_the_edge(suite: Suite) -> None:
    org = await make_org(suite)
    risk = await suite.gql(
        "query($e: ID!) { employeeRisk(employeeId: $e) { score } }",
        {"e": employee_id(org.junior)},
        as_=org.hr,
    )
    assert risk.errors == []
    wrong = await suite.gql(
        "query($e: ID!) { employeeRisk(employeeId: $e) { score } }",
        {"e": global_id("Branch", org.branch)},
        as_=org.hr,
    )
    assert [(e["extensions"]["code"], e["extensions"].get("field")) for e in wrong.errors] == [
        ("VALIDATION", "employeeId")
    ]
