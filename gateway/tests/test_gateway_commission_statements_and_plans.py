"""Commissions through the gateway (M1–M3): the contract's names in the schema, statements
(lines, rates, totals, scope, batched links, a malformed period) and plans written by
admin or finance, on the module's desk of paid orders.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from graphql import GraphQLEnumType, GraphQLInputObjectType, GraphQLObjectType, build_schema

from gateway.tests.commissions_support import (
    PERIOD,
    PLANS,
    STATEMENT_WITH_LINKS,
    UPSERT_PLAN,
    paid_orders,
    rpc_calls,
    run,
    statement,
)
from salesguard_gateway.schema.__main__ import sdl
from tests.harness import Suite, cny, employee_id, global_id, unique
from tests.org import Org, make_org, register


@dataclass(frozen=True)
class Desk:
    """The module's org: the junior's six paid orders and the teammate's one, run once."""

    org: Org
    orders: list[dict[str, Any]]
    mates_order: dict[str, Any]


@pytest.fixture(scope="module")
async def desk(suite: Suite) -> Desk:
    org = await make_org(suite)
    company = (await register(suite, org.junior, source="WEBSITE"))["id"]
    other_company = (await register(suite, org.junior, source="EXHIBITION"))["id"]
    personal = (await register(suite, org.junior, source="PERSONAL"))["id"]
    mates = (await register(suite, org.junior_mate, source="REFERRAL"))["id"]
    orders = await paid_orders(
        suite,
        org,
        [
            (org.junior, company, "33.33", None),  # 1.67
            (org.junior, other_company, "66.67", None),  # 3.33
            (org.junior, personal, "33.33", None),  # 2.67 (8 %)
            (org.junior, personal, "66.67", None),  # 5.33
            (org.junior, company, "10.10", "PERSONAL"),  # 0.51, SOURCE_CONFLICT
            (org.junior, other_company, "0.10", None),  # 0.01 (half-up)
        ],
    )
    (mates_order,) = await paid_orders(suite, org, [(org.junior_mate, mates, "2000.00", None)])
    (await run(suite, org.finance, org.branch)).ok()
    return Desk(org, orders, mates_order)


# --- the schema: the contract's names ---------------------------------------------------------


def test_the_schema_has_the_contracts_names() -> None:
    schema = build_schema(sdl())

    def fields(name: str) -> set[str]:
        found = schema.get_type(name)
        assert isinstance(found, GraphQLObjectType | GraphQLInputObjectType), name
        return set(found.fields)

    def field_type(type_name: str, field: str) -> str:
        found = schema.get_type(type_name)
        assert isinstance(found, GraphQLObjectType), type_name
        return str(found.fields[field].type)

    assert {"commissionStatement", "commissionPlans"} <= fields("Query")
    query_type = schema.query_type
    assert query_type is not None
    assert set(query_type.fields["commissionStatement"].args) == {"employeeId", "period"}
    mutations = {
        "upsertCommissionPlan": "UpsertCommissionPlanPayload",
        "runCommissions": "RunCommissionsPayload",
        "lockCommissionPeriod": "LockCommissionPeriodPayload",
        "exportCommissionPeriod": "ExportCommissionPeriodPayload",
        "updateAlert": "UpdateAlertPayload",
    }
    mutation_type = schema.mutation_type
    assert mutation_type is not None
    for name, payload in mutations.items():
        field = mutation_type.fields[name]
        assert set(field.args) == {"input"}, name
        assert str(field.type) == payload
    for name, values in {
        "LineStatus": {"PAYABLE", "WITHHELD", "PENDING_REVIEW"},
        "LineKind": {"COMMISSION", "CLAWBACK"},
        "PeriodStatus": {"OPEN", "LOCKED"},
    }.items():
        enum = schema.get_type(name)
        assert isinstance(enum, GraphQLEnumType)
        assert set(enum.values) == values
    assert {
        "id",
        "period",
        "branch",
        "employee",
        "order",
        "orderCode",
        "customer",
        "kind",
        "status",
        "base",
        "rate",
        "amount",
        "currency",
        "reason",
        "alertIds",
        "sourceClaim",
        "registeredSource",
        "planVersion",
        "fullyPaidAt",
    } <= fields("CommissionLine")
    assert {"employee", "period", "periodStatus", "lines", "totals"} <= fields(
        "CommissionStatement"
    )
    assert fields("StatementTotal") == {
        "currency",
        "payable",
        "withheld",
        "pendingReview",
        "clawback",
    }
    assert {
        "id",
        "version",
        "effectiveFrom",
        "companyRatePercent",
        "personalRatePercent",
        "capPerOrder",
        "capPerPeriod",
        "createdBy",
        "createdAt",
        "note",
    } <= fields("CommissionPlan")
    assert fields("RunCommissionsPayload") == {"periods"}
    assert fields("LockCommissionPeriodPayload") == {"period"}
    assert fields("ExportCommissionPeriodPayload") == {
        "downloadUrl",
        "downloadUrlExpiresAt",
        "rowCount",
        "sha256",
    }
    assert fields("UpsertCommissionPlanInput") == {
        "effectiveFrom",
        "companyRatePercent",
        "personalRatePercent",
        "capPerOrder",
        "capPerPeriod",
        "note",
        "idempotencyKey",
    }
    assert (
        fields("RunCommissionsInput")
        == fields("LockCommissionPeriodInput")
        == {
            "period",
            "branchId",
        }
    )
    assert {"id", "status", "resolution", "note"} <= fields("UpdateAlertInput")
    assert {"id", "source"} <= fields("Alert")
    alert_type = schema.get_type("Alert")
    assert isinstance(alert_type, GraphQLObjectType)
    assert "Node" in {interface.name for interface in alert_type.interfaces}
    for money in ("payable", "withheld", "pendingReview", "clawback"):
        assert field_type("PeriodSummary", money) == "Money"
        assert field_type("StatementTotal", money) == "Money!"
    for money in ("base", "amount"):
        assert field_type("CommissionLine", money) == "Money!"
    assert field_type("CommissionLine", "rate") == "Decimal!"
    assert fields("Money") == {"amount", "currency"}


# --- statements -------------------------------------------------------------------------------


def cents(value: str) -> Decimal:
    return Decimal(value).quantize(Decimal("0.01"))


async def test_lines_rates_and_totals_are_the_sums_of_the_lines(suite: Suite, desk: Desk) -> None:
    org = desk.org
    data = (await statement(suite, org.junior, None)).ok()["commissionStatement"]
    assert data["period"] == PERIOD and data["periodStatus"] == "OPEN"
    assert data["employee"] == {"id": employee_id(org.junior)}
    lines = data["lines"]
    assert [line["orderCode"] for line in lines] == [order["code"] for order in desk.orders]
    assert [line["amount"]["amount"] for line in lines] == [
        "1.67",
        "3.33",
        "2.67",
        "5.33",
        "0.51",
        "0.01",
    ]
    assert [line["rate"] for line in lines] == ["5.00", "5.00", "8.00", "8.00", "5.00", "5.00"]
    assert [line["base"] for line in lines] == [order["total"] for order in desk.orders]
    conflict = lines[4]
    assert (conflict["status"], conflict["reason"]) == ("PENDING_REVIEW", "SOURCE_CONFLICT")
    assert (conflict["sourceClaim"], conflict["registeredSource"]) == ("PERSONAL", "WEBSITE")
    assert {line["status"] for line in lines[:4] + lines[5:]} == {"PAYABLE"}
    assert lines[2]["reason"] == "PERSONAL_CHANNEL" and lines[0]["reason"] == "COMPANY_CHANNEL"
    for line in lines:
        assert line["kind"] == "COMMISSION" and line["period"] == PERIOD
        assert line["currency"] == "CNY" and line["alertIds"] == []
        assert line["employeeId"] == employee_id(org.junior) and line["fullyPaidAt"]
        assert line["orderId"] in {order["id"] for order in desk.orders}

    (totals,) = data["totals"]
    by_status: dict[str, Decimal] = {}
    for line in lines:
        by_status[line["status"]] = by_status.get(line["status"], Decimal(0)) + cents(
            line["amount"]["amount"]
        )
    assert cents(totals["payable"]["amount"]) == by_status["PAYABLE"] == Decimal("13.01")
    assert (
        cents(totals["pendingReview"]["amount"]) == by_status["PENDING_REVIEW"] == Decimal("0.51")
    )
    assert (totals["currency"], totals["withheld"], totals["clawback"]) == (
        "CNY",
        cny("0.00"),
        cny("0.00"),
    )


async def test_a_rep_reads_only_their_own_statement(suite: Suite, desk: Desk) -> None:
    org = desk.org
    own = (await statement(suite, org.junior, org.junior)).ok()["commissionStatement"]
    assert len(own["lines"]) == len(desk.orders)
    for reader, target in (
        (org.junior, org.junior_mate),  # a teammate's
        (org.junior_b, org.junior),  # another team's
        (org.other_manager, org.junior),  # another branch's manager
    ):
        refused = await statement(suite, reader, target)
        assert refused.codes == ["FORBIDDEN"], (reader, target, refused.body)
        assert refused.data == {"commissionStatement": None}
    # The branch manager, HR and finance read the teammate's statement.
    for reader in (org.manager, org.hr, org.finance):
        mate = (await statement(suite, reader, org.junior_mate)).ok()["commissionStatement"]
        assert [line["amount"]["amount"] for line in mate["lines"]] == ["100.00"]
    # A rep's own empty month is no secret.
    empty = (await statement(suite, org.junior_b, None)).ok()["commissionStatement"]
    assert (empty["lines"], empty["totals"]) == ([], [])


async def test_a_statement_page_costs_a_bounded_number_of_calls(suite: Suite, desk: Desk) -> None:
    org = desk.org
    large = await suite.gql(
        STATEMENT_WITH_LINKS,
        {"employeeId": employee_id(org.junior), "period": PERIOD},
        as_=org.finance,
    )
    small = await suite.gql(
        STATEMENT_WITH_LINKS,
        {"employeeId": employee_id(org.junior_mate), "period": PERIOD},
        as_=org.finance,
    )
    lines = large.ok()["commissionStatement"]["lines"]
    assert len(lines) == 6 and len(small.ok()["commissionStatement"]["lines"]) == 1
    for line in lines:
        assert line["order"]["code"] == line["orderCode"]
        assert line["order"]["submittedBy"] == {"id": employee_id(org.junior)}
        assert line["employee"] == {"id": employee_id(org.junior), "name": "李雷"}
        assert line["customer"]["owner"] == {"id": employee_id(org.junior)}
        assert line["order"]["customer"]["id"] == line["customer"]["id"]
        assert line["branch"] == {
            "id": global_id("Branch", org.branch),
            "timeZone": "Asia/Shanghai",
        }
    # Six lines, four customers, two employees: one call per service method, as for one line.
    expected = {
        "/salesguard.commissions.v1.CommissionsService/GetCommissionStatement": 1,
        "/salesguard.orders.v1.OrdersService/BatchGetOrders": 1,
        "/salesguard.customers.v1.CustomersService/BatchGetCustomers": 1,
        "/salesguard.attendance.v1.DirectoryService/BatchGetEmployees": 1,
        "/salesguard.attendance.v1.DirectoryService/ListBranches": 1,
        "/salesguard.attendance.v1.DirectoryService/ListTeams": 1,
    }
    assert rpc_calls(large) == rpc_calls(small) == expected


async def test_a_malformed_period_is_a_validation_error(suite: Suite, desk: Desk) -> None:
    org = desk.org
    for period in ("2025-13", "March", "25-03", ""):
        result = await statement(suite, org.junior, None, period)
        assert result.codes == ["VALIDATION"], (period, result.body)
        assert result.errors[0]["extensions"]["field"] == "period"
        assert result.data == {"commissionStatement": None}
    refused = await run(suite, org.finance, org.branch, "2025/03")
    assert refused.codes == ["VALIDATION"]
    assert refused.errors[0]["extensions"]["field"] == "period"
    # A period of the wrong type never reaches a service.
    typed = await suite.gql(
        "query { commissionStatement(period: 202503) { period } }", as_=org.junior
    )
    assert typed.codes == ["VALIDATION"] and rpc_calls(typed) == {}


async def test_plans_are_written_by_admin_or_finance(suite: Suite, desk: Desk) -> None:
    org = desk.org
    # Far in the future, with the default rates: no other test's run changes.
    values = {
        "effectiveFrom": "2099-01-01",
        "companyRatePercent": "5",
        "personalRatePercent": "8",
        "capPerOrder": "1000.50",
        "note": unique("gateway plan"),
        "idempotencyKey": unique("plan-key"),
    }
    refused = await suite.gql(UPSERT_PLAN, {"input": values}, as_=org.junior)
    assert refused.codes == ["FORBIDDEN"]
    invalid = await suite.gql(
        UPSERT_PLAN, {"input": {**values, "companyRatePercent": "100.5"}}, as_=org.admin
    )
    assert invalid.codes == ["VALIDATION"]
    assert invalid.errors[0]["extensions"]["field"] == "company_rate_percent"

    plan = (await suite.gql(UPSERT_PLAN, {"input": values}, as_=org.finance)).ok()[
        "upsertCommissionPlan"
    ]["plan"]
    assert plan["version"] >= 1 and plan["effectiveFrom"] == "2099-01-01"
    assert (plan["companyRatePercent"], plan["personalRatePercent"]) == ("5.00", "8.00")
    assert (plan["capPerOrder"], plan["capPerPeriod"]) == ("1000.50", None)
    assert (plan["createdById"], plan["note"]) == (employee_id(org.finance), values["note"])
    # The client retries after a lost response: the same version comes back, none is added.
    retried = (await suite.gql(UPSERT_PLAN, {"input": values}, as_=org.finance)).ok()
    assert retried["upsertCommissionPlan"]["plan"] == plan

    plans = (await suite.gql(PLANS, as_=org.hr)).ok()["commissionPlans"]
    default = plans[0]
    assert (default["version"], default["companyRatePercent"]) == (0, "5.00")
    assert default["personalRatePercent"] == "8.00" and default["createdBy"] is None
    mine = next(entry for entry in plans if entry["id"] == plan["id"])
    assert mine["createdBy"] == {"id": employee_id(org.finance)}
    assert (await suite.gql(PLANS, as_=org.junior)).codes == ["FORBIDDEN"]
