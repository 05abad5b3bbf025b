"""Commissions through the gateway (M1–M5) and updateAlert's routing to the owning service.

Against the real services (embedded profile): orders go the real way — a rep submits, the
branch manager approves, finance records a payment quoting the order code (paid in the
test period) and runs reconciliation — and finance runs the commissions of the org's branch.
Commission periods are per branch, so the orgs of these tests never see each other's lines.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from graphql import GraphQLEnumType, GraphQLInputObjectType, GraphQLObjectType, build_schema

from salesguard_gateway.schema.__main__ import sdl
from salesguard_gateway.schema.alerts import alert_route
from tests.harness import GraphQLResult, Suite, unique
from tests.org import Org, make_org, register

SHANGHAI = ZoneInfo("Asia/Shanghai")
# A month of its own: no other gateway test pays orders in it.
PERIOD = "2025-03"
ORDER_DATE = "2025-03-03"

SUBMIT = """mutation($input: SubmitOrderInput!) {
  submitOrder(input: $input) { order { id code total } } }"""
DECIDE = """mutation($input: DecideOrderInput!) {
  decideOrder(input: $input) { order { id status } } }"""
RECORD_PAYMENT = """mutation($input: RecordPaymentInput!) {
  recordPayment(input: $input) { payment { id matchedBy } } }"""
RECONCILE = """mutation($input: RunReconciliationInput) {
  runReconciliation(input: $input) { alertsRaised } }"""
RUN = """mutation($input: RunCommissionsInput!) {
  runCommissions(input: $input) { periods {
    period status lines orders payable withheld pendingReview clawback lastRunAt lockedAt
    planVersion branchId branch { id } lockedBy { id }
  } } }"""
LOCK = """mutation($input: LockCommissionPeriodInput!) {
  lockCommissionPeriod(input: $input) { period { period status lockedAt lockedBy { id } } } }"""
EXPORT = """mutation($input: ExportCommissionPeriodInput!) {
  exportCommissionPeriod(input: $input) { downloadUrl downloadUrlExpiresAt rowCount sha256 } }"""
STATEMENT = """query($employeeId: ID, $period: String!) {
  commissionStatement(employeeId: $employeeId, period: $period) {
    period periodStatus employee { id }
    lines { id period orderCode orderId kind status base rate amount currency reason alertIds
            sourceClaim registeredSource planVersion fullyPaidAt employeeId }
    totals { currency payable withheld pendingReview clawback }
  } }"""
STATEMENT_WITH_LINKS = """query($employeeId: ID!, $period: String!) {
  commissionStatement(employeeId: $employeeId, period: $period) {
    employee { id name team { id } }
    lines {
      orderCode amount
      order { id code total customer { id code } submittedBy { id } }
      customer { id code owner { id } }
      employee { id name }
      branch { id timeZone }
    }
  } }"""
PLANS = """{ commissionPlans { id version effectiveFrom companyRatePercent personalRatePercent
  capPerOrder capPerPeriod createdBy { id } createdById createdAt note } }"""
UPSERT_PLAN = """mutation($input: UpsertCommissionPlanInput!) {
  upsertCommissionPlan(input: $input) { plan { id version effectiveFrom companyRatePercent
    personalRatePercent capPerOrder capPerPeriod createdById createdAt note } } }"""
UPDATE_ALERT = """mutation($input: UpdateAlertInput!) {
  updateAlert(input: $input) { alert { id globalId source kind status resolution note } } }"""
ALERTS = """query($filter: AlertFilter) {
  alerts(first: 20, filter: $filter) { edges { node { id globalId source kind status order { id } } } }
}"""


def paid_at(day: int, minute: int = 0) -> str:
    return datetime(2025, 3, day, 10, minute, tzinfo=SHANGHAI).isoformat()


def rpc_calls(result: GraphQLResult) -> dict[str, int]:
    return dict(result.body.get("extensions", {}).get("rpcCalls", {}))


async def submit(
    suite: Suite, rep: str, customer_id: str, total: str, **extra: Any
) -> dict[str, Any]:
    values = {
        "customerId": customer_id,
        "currency": "CNY",
        "lines": [{"sku": "SKU-1", "quantity": "1", "unitPrice": total}],
        "orderDate": ORDER_DATE,
        **extra,
    }
    result = await suite.gql(SUBMIT, {"input": values}, as_=rep)
    return dict(result.ok()["submitOrder"]["order"])


async def approve(suite: Suite, org: Org, order: dict[str, Any]) -> None:
    values = {"orderId": order["id"], "approve": True, "comment": "ok"}
    decided = (await suite.gql(DECIDE, {"input": values}, as_=org.manager)).ok()
    assert decided["decideOrder"]["order"]["status"] == "APPROVED"


async def pay(suite: Suite, org: Org, order: dict[str, Any], when: str) -> None:
    values = {
        "bankReference": unique("BANK"),
        "payerName": "Acme Trading",
        "amount": order["total"],
        "currency": "CNY",
        "paidAt": when,
        "referenceText": f"payment for {order['code']}",
    }
    (await suite.gql(RECORD_PAYMENT, {"input": values}, as_=org.finance)).ok()


async def reconcile(suite: Suite, org: Org) -> None:
    (await suite.gql(RECONCILE, {"input": {}}, as_=org.finance)).ok()


async def paid_orders(
    suite: Suite, org: Org, specs: list[tuple[str, str, str, str | None]]
) -> list[dict[str, Any]]:
    """(rep, customer ID, total, source claim) orders, approved, paid in PERIOD, reconciled."""
    orders = []
    for minute, (rep, customer_id, total, claim) in enumerate(specs):
        extra = {"sourceClaim": claim} if claim else {}
        order = await submit(suite, rep, customer_id, total, **extra)
        await approve(suite, org, order)
        await pay(suite, org, order, paid_at(10, minute))
        orders.append(order)
    await reconcile(suite, org)
    return orders


async def run(suite: Suite, as_: str, branch: str, period: str = PERIOD) -> GraphQLResult:
    return await suite.gql(RUN, {"input": {"period": period, "branchId": branch}}, as_=as_)


async def statement(
    suite: Suite, as_: str, employee_id: str | None, period: str = PERIOD
) -> GraphQLResult:
    return await suite.gql(STATEMENT, {"employeeId": employee_id, "period": period}, as_=as_)


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
    assert {"id", "globalId", "source"} <= fields("Alert")
    for money in ("payable", "withheld", "pendingReview", "clawback"):
        assert field_type("PeriodSummary", money) == "Decimal"
    for money in ("base", "rate", "amount"):
        assert field_type("CommissionLine", money) == "Decimal!"


# --- statements -------------------------------------------------------------------------------


def cents(value: str) -> Decimal:
    return Decimal(value).quantize(Decimal("0.01"))


async def test_lines_rates_and_totals_are_the_sums_of_the_lines(suite: Suite, desk: Desk) -> None:
    org = desk.org
    data = (await statement(suite, org.junior, None)).ok()["commissionStatement"]
    assert data["period"] == PERIOD and data["periodStatus"] == "OPEN"
    assert data["employee"] == {"id": org.junior}
    lines = data["lines"]
    assert [line["orderCode"] for line in lines] == [order["code"] for order in desk.orders]
    assert [line["amount"] for line in lines] == ["1.67", "3.33", "2.67", "5.33", "0.51", "0.01"]
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
        assert line["employeeId"] == org.junior and line["fullyPaidAt"]
        assert line["orderId"] in {order["id"] for order in desk.orders}

    (totals,) = data["totals"]
    by_status: dict[str, Decimal] = {}
    for line in lines:
        by_status[line["status"]] = by_status.get(line["status"], Decimal(0)) + cents(
            line["amount"]
        )
    assert cents(totals["payable"]) == by_status["PAYABLE"] == Decimal("13.01")
    assert cents(totals["pendingReview"]) == by_status["PENDING_REVIEW"] == Decimal("0.51")
    assert (totals["currency"], totals["withheld"], totals["clawback"]) == ("CNY", "0.00", "0.00")


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
        assert [line["amount"] for line in mate["lines"]] == ["100.00"]
    # A rep's own empty month is no secret.
    empty = (await statement(suite, org.junior_b, None)).ok()["commissionStatement"]
    assert (empty["lines"], empty["totals"]) == ([], [])


async def test_a_statement_page_costs_a_bounded_number_of_calls(suite: Suite, desk: Desk) -> None:
    org = desk.org
    large = await suite.gql(
        STATEMENT_WITH_LINKS, {"employeeId": org.junior, "period": PERIOD}, as_=org.finance
    )
    small = await suite.gql(
        STATEMENT_WITH_LINKS, {"employeeId": org.junior_mate, "period": PERIOD}, as_=org.finance
    )
    lines = large.ok()["commissionStatement"]["lines"]
    assert len(lines) == 6 and len(small.ok()["commissionStatement"]["lines"]) == 1
    for line in lines:
        assert line["order"]["code"] == line["orderCode"]
        assert line["order"]["submittedBy"] == {"id": org.junior}
        assert line["employee"] == {"id": org.junior, "name": "李雷"}
        assert line["customer"]["owner"] == {"id": org.junior}
        assert line["order"]["customer"]["id"] == line["customer"]["id"]
        assert line["branch"] == {"id": org.branch, "timeZone": "Asia/Shanghai"}
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


# --- runs, locks and exports: finance only ----------------------------------------------------


async def test_only_finance_runs_locks_and_exports(suite: Suite) -> None:
    org = await make_org(suite)
    company = (await register(suite, org.junior, source="WEBSITE"))["id"]
    await paid_orders(
        suite, org, [(org.junior, company, "1000.00", None), (org.junior, company, "200.00", None)]
    )
    branch = {"period": PERIOD, "branchId": org.branch}
    for outsider in (org.junior, org.manager, org.hr, org.admin):
        for mutation, name in (
            (RUN, "runCommissions"),
            (LOCK, "lockCommissionPeriod"),
            (EXPORT, "exportCommissionPeriod"),
        ):
            refused = await suite.gql(mutation, {"input": branch}, as_=outsider)
            assert refused.codes == ["FORBIDDEN"], (outsider, name, refused.body)
            assert refused.data == {name: None}

    # Locking or exporting a period that has not run is refused, not empty.
    not_run = await suite.gql(LOCK, {"input": branch}, as_=org.finance)
    assert not_run.codes == ["FAILED_PRECONDITION"]

    ran = (await run(suite, org.finance, org.branch)).ok()["runCommissions"]
    (summary,) = ran["periods"]
    assert summary["period"] == PERIOD and summary["branchId"] == org.branch
    assert summary["branch"] == {"id": org.branch}
    assert (summary["status"], summary["lines"], summary["orders"]) == ("OPEN", 2, 2)
    assert (summary["payable"], summary["withheld"]) == ("60.00", "0.00")
    assert (summary["pendingReview"], summary["clawback"]) == ("0.00", "0.00")
    assert summary["lastRunAt"] and summary["lockedAt"] is None and summary["lockedBy"] is None
    assert summary["planVersion"] >= 0

    locked = (await suite.gql(LOCK, {"input": branch}, as_=org.finance)).ok()
    period = locked["lockCommissionPeriod"]["period"]
    assert (period["status"], period["lockedBy"]) == ("LOCKED", {"id": org.finance})
    again = await run(suite, org.finance, org.branch)
    assert again.codes == ["FAILED_PRECONDITION"]
    assert (await statement(suite, org.junior, None)).ok()["commissionStatement"][
        "periodStatus"
    ] == "LOCKED"

    exported = (await suite.gql(EXPORT, {"input": branch}, as_=org.finance)).ok()
    export = exported["exportCommissionPeriod"]
    assert export["rowCount"] == 2 and len(export["sha256"]) == 64
    assert export["downloadUrl"] and export["downloadUrlExpiresAt"]


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
    assert (plan["createdById"], plan["note"]) == (org.finance, values["note"])
    # The client retries after a lost response: the same version comes back, none is added.
    retried = (await suite.gql(UPSERT_PLAN, {"input": values}, as_=org.finance)).ok()
    assert retried["upsertCommissionPlan"]["plan"] == plan

    plans = (await suite.gql(PLANS, as_=org.hr)).ok()["commissionPlans"]
    default = plans[0]
    assert (default["version"], default["companyRatePercent"]) == (0, "5.00")
    assert default["personalRatePercent"] == "8.00" and default["createdBy"] is None
    mine = next(entry for entry in plans if entry["id"] == plan["id"])
    assert mine["createdBy"] == {"id": org.finance}
    assert (await suite.gql(PLANS, as_=org.junior)).codes == ["FORBIDDEN"]


# --- updateAlert: routed to the service that owns the alert -----------------------------------


def test_an_alert_id_routes_by_source_prefix_or_every_source() -> None:
    sources = ("customers", "attendance", "orders")
    assert alert_route("abc", None, sources) == (list(sources), "abc")
    assert alert_route("orders:abc", None, sources) == (["orders"], "abc")
    assert alert_route("abc", "orders", sources) == (["orders"], "abc")
    assert alert_route("orders:abc", "orders", sources) == (["orders"], "abc")
    # Not a known source: the ID as it is, asked everywhere.
    assert alert_route("x:abc", None, sources) == (list(sources), "x:abc")


async def fake_deal(
    suite: Suite, org: Org, customer_id: str, total: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """An approved order past due without payment or shipment, and its FAKE_DEAL_SUSPECTED."""
    order = await submit(suite, org.junior, customer_id, total, expectedPaymentDate="2025-03-05")
    await approve(suite, org, order)
    await reconcile(suite, org)
    filter_ = {"orderId": order["id"], "kinds": ["FAKE_DEAL_SUSPECTED"]}
    edges = (await suite.gql(ALERTS, {"filter": filter_}, as_=org.hr)).ok()["alerts"]["edges"]
    (alert,) = [edge["node"] for edge in edges]
    assert alert["source"] == "orders" and alert["status"] == "OPEN"
    assert alert["globalId"] == f"orders:{alert['id']}"
    assert alert["order"] == {"id": order["id"]}
    return order, alert


async def test_update_alert_goes_to_the_owning_service(suite: Suite) -> None:
    org = await make_org(suite)
    company = (await register(suite, org.junior, source="WEBSITE"))["id"]
    _, by_global = await fake_deal(suite, org, company, "300.00")
    _, by_plain = await fake_deal(suite, org, company, "400.00")
    _, by_source = await fake_deal(suite, org, company, "500.00")

    # A global ID costs one call, to its source.
    result = await suite.gql(
        UPDATE_ALERT,
        {"input": {"id": by_global["globalId"], "status": "ACKNOWLEDGED", "note": "looking"}},
        as_=org.hr,
    )
    updated = result.ok()["updateAlert"]["alert"]
    assert (updated["id"], updated["status"], updated["note"]) == (
        by_global["id"],
        "ACKNOWLEDGED",
        "looking",
    )
    assert rpc_calls(result) == {"/salesguard.common.v1.AlertsService/UpdateAlert": 1}

    # The service's own ID, with the source: one call.
    result = await suite.gql(
        UPDATE_ALERT,
        {"input": {"id": by_source["id"], "source": "orders", "status": "DISMISSED"}},
        as_=org.hr,
    )
    assert result.ok()["updateAlert"]["alert"]["status"] == "DISMISSED"
    assert rpc_calls(result) == {"/salesguard.common.v1.AlertsService/UpdateAlert": 1}

    # The service's own ID alone (as a commission line's alertIds give it): each source in turn.
    values = {"id": by_plain["id"], "status": "RESOLVED", "resolution": "CLEARED"}
    result = await suite.gql(UPDATE_ALERT, {"input": values}, as_=org.hr)
    cleared = result.ok()["updateAlert"]["alert"]
    assert (cleared["status"], cleared["resolution"], cleared["source"]) == (
        "RESOLVED",
        "CLEARED",
        "orders",
    )
    assert rpc_calls(result)["/salesguard.common.v1.AlertsService/UpdateAlert"] <= 3

    # Out of the caller's scope reads as absent; so does an unknown ID.
    for caller, alert_id in (
        (org.junior, by_global["globalId"]),
        (org.other_manager, by_global["id"]),
        (org.hr, "orders:" + unique("nope")),
        (org.hr, unique("nope")),
    ):
        missing = await suite.gql(
            UPDATE_ALERT, {"input": {"id": alert_id, "status": "ACKNOWLEDGED"}}, as_=caller
        )
        assert missing.codes == ["NOT_FOUND"], (caller, alert_id, missing.body)
    # Typed refusals of the input: a source the gateway does not know or that the ID
    # contradicts, a resolution without RESOLVED, reopening.
    for values, field in (
        ({"id": by_global["id"], "source": "nowhere", "status": "ACKNOWLEDGED"}, "source"),
        ({"id": by_global["globalId"], "source": "customers", "status": "ACKNOWLEDGED"}, "source"),
        (
            {"id": by_global["globalId"], "status": "DISMISSED", "resolution": "CLEARED"},
            "resolution",
        ),
        ({"id": by_global["globalId"], "status": "OPEN"}, "status"),
    ):
        refused = await suite.gql(UPDATE_ALERT, {"input": values}, as_=org.hr)
        assert refused.codes == ["VALIDATION"], (values, refused.body)
        assert refused.errors[0]["extensions"]["field"] == field


async def test_clearing_an_alert_releases_the_withheld_line(suite: Suite) -> None:
    org = await make_org(suite)
    company = (await register(suite, org.junior, source="WEBSITE"))["id"]
    cleared_order, cleared = await fake_deal(suite, org, company, "300.00")
    kept_order, kept = await fake_deal(suite, org, company, "400.00")
    for minute, order in enumerate((cleared_order, kept_order)):
        await pay(suite, org, order, paid_at(20, minute))
    await reconcile(suite, org)
    (await run(suite, org.finance, org.branch)).ok()
    lines = (await statement(suite, org.junior, None)).ok()["commissionStatement"]["lines"]
    assert [(line["status"], line["alertIds"]) for line in lines] == [
        ("WITHHELD", [cleared["id"]]),
        ("WITHHELD", [kept["id"]]),
    ]

    # HR clears one, with the ID the line names.
    values = {"id": lines[0]["alertIds"][0], "status": "RESOLVED", "resolution": "CLEARED"}
    (await suite.gql(UPDATE_ALERT, {"input": values}, as_=org.hr)).ok()
    (await run(suite, org.finance, org.branch)).ok()
    data = (await statement(suite, org.junior, None)).ok()["commissionStatement"]
    assert [(line["orderCode"], line["status"]) for line in data["lines"]] == [
        (cleared_order["code"], "PAYABLE"),
        (kept_order["code"], "WITHHELD"),
    ]
    (totals,) = data["totals"]
    assert (totals["payable"], totals["withheld"]) == ("15.00", "20.00")
