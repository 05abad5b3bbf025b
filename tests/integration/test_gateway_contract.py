"""The gateway's promises: fail closed, one trace, typed errors for bad input, no N+1."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from tests.harness import DECISION_CACHE_SECONDS, Suite, employee_id, unique
from tests.org import Org, register, register_result
from tests.support.servers import OpaServer

PAGE = """
{ customers(first: 50) { totalCount edges { node { id code name phone maskedFields owner { id name team { id } } } } } }
"""


async def count_customers(suite: Suite, org: Org) -> int:
    data = (await suite.gql("{ customers(first: 1) { totalCount } }", as_=org.manager)).ok()
    return int(data["customers"]["totalCount"])


# -- fail closed --------------------------------------------------------------------


PROTECTED = {
    "customers": "{ customers(first: 5) { edges { node { id name phone } } } }",
    "customer": 'query { customer(id: "%s") { id name phone } }',
    "search": '{ customers(first: 5, filter: {text: "Acme"}) { edges { node { id } } } }',
    "auditEvents": "{ auditEvents(first: 5) { edges { node { id } } } }",
    "alerts": "{ alerts(first: 5) { edges { node { id } } } }",
    "employees": "{ employees(first: 5) { edges { node { id } } } }",
    "verifyAuditChain": "{ verifyAuditChain { intact } }",
}


async def test_with_opa_stopped_every_protected_query_fails_closed(
    suite: Suite, org: Org, opa_server: OpaServer
) -> None:
    customer = await register(suite, org.junior)
    # Resolve the callers' principals first, as a running system would have them cached.
    for caller in (org.manager, org.hr, org.junior):
        (await suite.gql("{ me { id } }", as_=caller)).ok()
    opa_server.stop()
    # Decisions made in the last moments are kept that long; after it nothing is decided.
    await asyncio.sleep(DECISION_CACHE_SECONDS)
    try:
        for name, query in PROTECTED.items():
            for caller in (org.manager, org.hr):
                result = await suite.gql(
                    query % customer["id"] if "%s" in query else query, as_=caller
                )
                assert "POLICY_UNAVAILABLE" in result.codes, (name, caller, result.body)
                assert customer["name"] not in str(result.body)
                assert customer["id"] not in str(result.data), (name, result.body)
        refused = await register_result(suite, org.junior)
        assert "POLICY_UNAVAILABLE" in refused.codes
    finally:
        opa_server.start()
    assert (await suite.gql(PROTECTED["customers"], as_=org.manager)).ok()


# -- one trace ------------------------------------------------------------------------


async def test_a_graphql_request_is_one_trace_from_gateway_to_customers(
    suite: Suite, org: Org, spans: InMemorySpanExporter
) -> None:
    await register(suite, org.junior)
    spans.clear()
    (await suite.gql(PAGE, as_=org.manager)).ok()
    finished: list[ReadableSpan] = list(spans.get_finished_spans())
    # The gateway's server span, named after the operation (`query`: PAGE has no name).
    gateway = [s for s in finished if s.kind is SpanKind.SERVER and s.name == "query"]
    customers = [
        s
        for s in finished
        if s.kind is SpanKind.SERVER and "CustomersService/ListCustomers" in s.name
    ]
    assert gateway, [s.name for s in finished]
    assert customers, [s.name for s in finished]
    trace_id = gateway[0].context.trace_id
    assert customers[0].context.trace_id == trace_id
    database = [
        s for s in finished if s.attributes and s.attributes.get("db.system") == "postgresql"
    ]
    assert any(s.context.trace_id == trace_id for s in database)


# -- bad input --------------------------------------------------------------------------

REGISTER = """
mutation($input: RegisterCustomerInput!) { registerCustomer(input: $input) { customer { id } } }
"""


def registration(**overrides: Any) -> dict[str, Any]:
    return {
        "name": unique("Bad input"),
        "phone": "+86 139 0000 0001",
        "source": "WEBSITE",
        "firstContactAt": datetime.now(UTC).isoformat(),
    } | overrides


@pytest.mark.parametrize(
    ("case", "values", "field"),
    [
        ("latitude out of range", {"location": {"lat": 91.0, "lng": 121.0}}, "location"),
        ("longitude out of range", {"location": {"lat": 31.0, "lng": -181.0}}, "location"),
        ("not a phone", {"phone": "call me maybe"}, "phone"),
        (
            "contact time in the future",
            {"firstContactAt": "2199-01-01T00:00:00+00:00"},
            "first_contact_at",
        ),
        ("1 MB name", {"name": "x" * 1_000_000}, None),
    ],
)
async def test_bad_registration_is_a_typed_error_and_writes_nothing(
    suite: Suite, org: Org, case: str, values: dict[str, Any], field: str | None
) -> None:
    before = await count_customers(suite, org)
    result = await suite.gql(REGISTER, {"input": registration(**values)}, as_=org.junior)
    assert result.status in (200, 400, 413), case
    assert result.status != 500
    assert result.codes and set(result.codes) <= {"VALIDATION", "PAYLOAD_TOO_LARGE"}, (
        case,
        result.body,
    )
    if field:
        assert field in str(result.errors[0].get("extensions", {}).get("field", "")) + str(
            result.errors[0]["message"]
        )
    assert await count_customers(suite, org) == before


async def test_unknown_enum_and_oversized_page_are_refused_before_any_service_call(
    suite: Suite, org: Org
) -> None:
    unknown = await suite.gql(REGISTER, {"input": registration(source="TELEPATHY")}, as_=org.junior)
    assert unknown.codes == ["VALIDATION"]
    literal = await suite.gql("{ customers(first: 101) { totalCount } }", as_=org.manager)
    assert literal.codes == ["VALIDATION"]
    assert not literal.body.get("extensions", {}).get("rpcCalls")
    variable = await suite.gql(
        "query($n: Int) { customers(first: $n) { totalCount } }", {"n": 500}, as_=org.manager
    )
    assert variable.codes == ["VALIDATION"]


@pytest.mark.parametrize(
    "header", ["Bearer not.a.jwt", "Bearer ", "Basic YWRtaW46YWRtaW4=", "Bearer " + "a" * 9000]
)
async def test_malformed_token_is_401_with_a_clear_message(suite: Suite, header: str) -> None:
    result = await suite.gql("{ me { id } }", headers={"Authorization": header})
    assert result.status == 401
    assert result.codes == ["UNAUTHENTICATED"]
    assert result.errors[0]["message"]


# -- no N+1 --------------------------------------------------------------------------------


async def test_a_page_of_50_customers_with_owners_costs_a_bounded_number_of_calls(
    suite: Suite, org: Org
) -> None:
    reps = [org.junior, org.junior_mate, org.senior, org.junior_b]
    for index in range(52):
        await register(suite, reps[index % len(reps)])
    result = await suite.gql(PAGE, as_=org.manager)
    data = result.ok()
    edges = data["customers"]["edges"]
    assert len(edges) == 50
    assert {edge["node"]["owner"]["id"] for edge in edges} == {employee_id(rep) for rep in reps}
    calls: dict[str, int] = result.body["extensions"]["rpcCalls"]
    # One page, one batch of owners: the count does not grow with the page.
    assert calls.get("/salesguard.customers.v1.CustomersService/ListCustomers") == 1
    assert calls.get("/salesguard.attendance.v1.DirectoryService/BatchGetEmployees", 0) <= 1
    assert sum(calls.values()) <= 4, calls
