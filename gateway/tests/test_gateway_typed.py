"""A typed contract: closed sets are GraphQL enums, money is Money, a refusal's reasons a list.

Against the real services (embedded profile), like the other gateway tests.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import update

from gateway.tests.orders_support import Shop, decide, submit
from gateway.tests.support import attendance_alert
from salesguard import vocabulary
from salesguard.alerts import CATALOG
from salesguard_attendance.models import Alert as AttendanceAlert
from tests.harness import Suite, employee_id
from tests.org import Org, make_org, register_result

ROLES = "query($id: ID!) { order(id: $id) { approvalSteps { role } } }"

# --- extensions.reasons ----------------------------------------------------------------------


async def test_a_refusal_lists_its_reasons(suite: Suite, shop: Shop) -> None:
    org = shop.org
    order = await submit(suite, org.manager, shop.managers_customer["id"])
    result = await decide(suite, org.manager, order["id"])
    assert result.codes == ["FORBIDDEN"]
    reasons = result.errors[0]["extensions"]["reasons"]
    assert isinstance(reasons, list), reasons
    assert "SELF_APPROVAL" in reasons
    assert all(isinstance(reason, str) and reason for reason in reasons)


# --- enums for the codes services send as strings -----------------------------------------

TYPE_OF = """query($name: String!) {
  __type(name: $name) {
    kind enumValues { name description }
    fields { name type { kind name ofType { kind name ofType { kind name ofType { kind name } } } } }
    inputFields { name type { kind name ofType { kind name ofType { kind name ofType { kind name } } } } }
  }
}"""


async def introspect(suite: Suite, as_: str, name: str) -> dict[str, Any]:
    found = (await suite.gql(TYPE_OF, {"name": name}, as_=as_)).ok()["__type"]
    assert found is not None, name
    return dict(found)


def named_type(field: dict[str, Any]) -> str:
    """The named type under any NON_NULL and LIST wrappers."""
    kind = field["type"]
    while kind["name"] is None:
        kind = kind["ofType"]
    return str(kind["name"])


def member_of(found: dict[str, Any], key: str, name: str) -> dict[str, Any]:
    return next(field for field in found[key] if field["name"] == name)


@pytest.mark.parametrize(
    ("type_name", "field", "enum"),
    [
        ("Alert", "kind", "AlertKind"),
        ("RiskSignal", "kind", "AlertKind"),
        ("RegisterCustomerPayload", "warnings", "AlertKind"),
        ("ImportCallLogsPayload", "alertsRaised", "AlertKind"),
        ("Order", "flags", "AlertKind"),
        ("RegisterCustomerPayload", "sharedCriteria", "DuplicateCriterion"),
        ("ApprovalStep", "role", "ApprovalRole"),
        ("CheckInReason", "code", "CheckInReasonCode"),
        ("CheckIn", "verdict", "Verdict"),
        ("Employee", "roles", "Role"),
    ],
)
async def test_codes_are_enums(
    suite: Suite, org: Org, type_name: str, field: str, enum: str
) -> None:
    found = await introspect(suite, org.hr, type_name)
    assert named_type(member_of(found, "fields", field)) == enum


@pytest.mark.parametrize(
    ("input_name", "field", "enum"),
    [("AlertFilter", "kinds", "AlertKind"), ("CheckInFilter", "reasonCodes", "CheckInReasonCode")],
)
async def test_filters_take_enums(
    suite: Suite, org: Org, input_name: str, field: str, enum: str
) -> None:
    found = await introspect(suite, org.hr, input_name)
    assert named_type(member_of(found, "inputFields", field)) == enum


async def test_the_enums_are_made_from_their_one_source(suite: Suite, org: Org) -> None:
    kinds = await introspect(suite, org.hr, "AlertKind")
    assert kinds["kind"] == "ENUM"
    assert {value["name"] for value in kinds["enumValues"]} == set(CATALOG)
    late = next(v for v in kinds["enumValues"] if v["name"] == "LATE_REGISTRATION")
    assert late["description"].startswith("C2: ")
    roles = await introspect(suite, org.hr, "ApprovalRole")
    assert {value["name"] for value in roles["enumValues"]} == set(vocabulary.ApprovalRole)
    reasons = await introspect(suite, org.hr, "CheckInReasonCode")
    assert {value["name"] for value in reasons["enumValues"]} == set(vocabulary.CheckInReasonCode)


LATE_ALERTS = """query($employeeId: ID) {
  alerts(first: 5, filter: {kinds: [LATE_REGISTRATION], employeeId: $employeeId}) {
    edges { node { kind rule } }
  }
}"""


async def test_alerts_are_filtered_and_answered_by_kind(suite: Suite) -> None:
    org = await make_org(suite)
    registered = await register_result(suite, org.junior, hours_since_contact=30)
    assert registered.ok()["registerCustomer"]["warnings"] == ["LATE_REGISTRATION"]
    result = await suite.gql(LATE_ALERTS, {"employeeId": employee_id(org.junior)}, as_=org.manager)
    nodes = [edge["node"] for edge in result.ok()["alerts"]["edges"]]
    assert nodes == [{"kind": "LATE_REGISTRATION", "rule": "C2"}]


async def test_a_kind_outside_the_enum_is_refused_as_validation(suite: Suite, org: Org) -> None:
    result = await suite.gql(
        '{ alerts(first: 1, filter: {kinds: ["NO_SUCH_KIND"]}) { totalCount } }', as_=org.hr
    )
    assert result.body["data"] is None
    assert result.codes == ["VALIDATION"]


async def test_a_kind_newer_than_the_gateway_is_null_and_logged(
    suite: Suite, caplog: pytest.LogCaptureFixture
) -> None:
    """A service that knows a kind the gateway does not: the alert still comes, its kind
    null, the rest of the query unharmed, and the gateway logs what it could not name."""
    org = await make_org(suite)
    alert_id = await attendance_alert(suite, org, datetime.now(UTC))
    async with suite.running["attendance"].runtime.db.transaction() as session:
        await session.execute(
            update(AttendanceAlert)
            .where(AttendanceAlert.id == alert_id)
            .values(kind="A_KIND_FROM_THE_FUTURE")
        )
    query = """query($employeeId: ID) {
      alerts(first: 5, filter: {employeeId: $employeeId}) {
        totalCount edges { node { kind rule source severity } }
      }
    }"""
    with caplog.at_level(logging.WARNING, logger="salesguard_gateway"):
        result = await suite.gql(query, {"employeeId": employee_id(org.junior)}, as_=org.manager)
    page = result.ok()["alerts"]
    assert page["totalCount"] == 1
    assert page["edges"][0]["node"] == {
        "kind": None,
        "rule": "C11",
        "source": "attendance",
        "severity": "LOW",
    }
    assert any(
        getattr(record, "code", None) == "A_KIND_FROM_THE_FUTURE" for record in caplog.records
    )


async def test_approval_roles_come_back_as_enum_values(suite: Suite, shop: Shop) -> None:
    org = shop.org
    order = await submit(suite, org.junior, shop.customer["id"])
    steps = (await suite.gql(ROLES, {"id": order["id"]}, as_=org.junior)).ok()["order"]
    assert steps["approvalSteps"][0]["role"] == "MANAGER"


# --- Money -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("type_name", "field"),
    [
        ("Order", "total"),
        ("Order", "paidAmount"),
        ("OrderLine", "unitPrice"),
        ("OrderLine", "lineTotal"),
        ("Payment", "amount"),
        ("ReconciliationItem", "paid"),
        ("ReconciliationItem", "due"),
        ("CommissionLine", "base"),
        ("CommissionLine", "amount"),
        ("StatementTotal", "payable"),
        ("StatementTotal", "withheld"),
        ("StatementTotal", "pendingReview"),
        ("StatementTotal", "clawback"),
        ("PeriodSummary", "payable"),
        ("PeriodSummary", "withheld"),
        ("PeriodSummary", "pendingReview"),
        ("PeriodSummary", "clawback"),
    ],
)
async def test_money_is_an_amount_with_its_currency(
    suite: Suite, org: Org, type_name: str, field: str
) -> None:
    found = await introspect(suite, org.hr, type_name)
    assert named_type(member_of(found, "fields", field)) == "Money"


async def test_money_has_an_amount_and_a_currency(suite: Suite, org: Org) -> None:
    money = await introspect(suite, org.hr, "Money")
    assert {field["name"]: named_type(field) for field in money["fields"]} == {
        "amount": "Decimal",
        "currency": "String",
    }
