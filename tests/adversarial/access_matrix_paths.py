"""The access matrix's read paths: for every way to read rows, what a seat observes per
row key and what the tier data expects (:data:`PATHS`).
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from tests.adversarial.access_matrix_world import (
    CASE_SUBJECTS,
    OWNERS,
    Expect,
    Observe,
    Outcome,
    Person,
    Row,
    World,
    _each,
    _hidden_or_data,
    _masks,
    allowed,
    expected,
    row_of,
)
from tests.harness import Suite, employee_id, global_id


@dataclass(frozen=True)
class ReadPath:
    """One way to read rows: the actions it exercises, what a seat observes per row key and
    what the tier data expects; ``masks`` when the path shows maskedFields."""

    name: str
    actions: tuple[str, ...]
    observe: Observe
    expect: Expect
    masks: bool = False


def _by_owner(action: str, keys: Iterable[str] = OWNERS) -> Callable[[World, Person, str], Outcome]:
    def expect(world: World, seat: Person, key: str) -> Outcome:
        return expected(seat, action, row_of(world.person(key)))

    return expect


# customers -------------------------------------------------------------------------------------

CUSTOMER = "query($id: ID!) { customer(id: $id) { id maskedFields } }"
CUSTOMER_SEARCH = """query($text: String!) {
  customers(first: 20, filter: {text: $text}) { edges { node { id maskedFields } } } }"""
CUSTOMERS = "{ customers(first: 100) { edges { node { id maskedFields } } } }"
POOL = "{ customerPool(first: 100) { edges { node { id maskedFields } } } }"


async def observe_customer(suite: Suite, world: World, seat: Person) -> dict[str, Outcome]:
    async def probe(key: str) -> Outcome:
        result = await suite.gql(CUSTOMER, {"id": world.customers[key]["id"]}, as_=seat.id)
        node = _hidden_or_data(result, "customer")
        return None if node is None else _masks(node)

    return await _each(world, OWNERS, probe)


async def observe_customer_search(suite: Suite, world: World, seat: Person) -> dict[str, Outcome]:
    async def probe(key: str) -> Outcome:
        customer = world.customers[key]
        result = await suite.gql(CUSTOMER_SEARCH, {"text": customer["name"]}, as_=seat.id)
        found = _hidden_or_data(result, "customers")
        nodes = [edge["node"] for edge in (found or {}).get("edges", [])]
        return next((_masks(node) for node in nodes if node["id"] == customer["id"]), None)

    return await _each(world, OWNERS, probe)


def _listed(found: Any, connection: str = "edges") -> dict[str, dict[str, Any]]:
    return {edge["node"]["id"]: edge["node"] for edge in (found or {}).get(connection, [])}


def _seen_among(by_owner: Mapping[str, object], seen: Container[object]) -> dict[str, Outcome]:
    """Per owner: seen (nothing masked) if their row's value (ID, reference, ...) is among
    ``seen``, else hidden."""
    return {key: frozenset() if by_owner[key] in seen else None for key in OWNERS}


async def observe_customers(suite: Suite, world: World, seat: Person) -> dict[str, Outcome]:
    listed = _listed(_hidden_or_data(await suite.gql(CUSTOMERS, as_=seat.id), "customers"))
    return {
        key: _masks(listed[world.customers[key]["id"]])
        if world.customers[key]["id"] in listed
        else None
        for key in OWNERS
    }


async def observe_pool(suite: Suite, world: World, seat: Person) -> dict[str, Outcome]:
    listed = _listed(_hidden_or_data(await suite.gql(POOL, as_=seat.id), "customerPool"))
    return {
        branch: _masks(listed[customer]) if customer in listed else None
        for branch, customer in world.pooled.items()
    }


def expect_pool(world: World, seat: Person, branch: str) -> Outcome:
    # A pooled customer belongs to nobody: only its branch says who sees it.
    return expected(seat, "pool.read", Row(None, None, branch))


# audit ------------------------------------------------------------------------------------------

AUDIT = """query($actor: ID!) { auditEvents(first: 50, filter: {actorId: $actor}) {
  edges { node { id action } } } }"""
VERIFY = "{ verifyAuditChain { intact } }"


async def observe_audit(suite: Suite, world: World, seat: Person) -> dict[str, Outcome]:
    async def probe(key: str) -> Outcome:
        result = await suite.gql(AUDIT, {"actor": employee_id(world.person(key).id)}, as_=seat.id)
        actions = {
            node["action"] for node in _listed(_hidden_or_data(result, "auditEvents")).values()
        }
        return frozenset() if "customer.register" in actions else None

    return await _each(world, OWNERS, probe)


def expect_audit(world: World, seat: Person, key: str) -> Outcome:
    # A registration is recorded in the customer's branch, with the registrant as actor.
    return expected(seat, "audit.read", row_of(world.person(key)))


async def observe_verify(suite: Suite, world: World, seat: Person) -> dict[str, Outcome]:
    verified = _hidden_or_data(await suite.gql(VERIFY, as_=seat.id), "verifyAuditChain")
    return {"chain": None if verified is None else frozenset()}


def expect_action(action: str) -> Expect:
    """A path without rows of its own: open to whoever holds a grant of the action."""

    def expect(world: World, seat: Person, key: str) -> Outcome:
        return frozenset() if allowed(seat, action) else None

    return expect


# alerts, timelines, risk ------------------------------------------------------------------------

ALERTS = """query($after: String) { alerts(first: 100, after: $after) {
  pageInfo { hasNextPage endCursor } edges { node { id evidence } } } }"""
TIMELINE = """query($id: ID!, $from: DateTime!, $to: DateTime!) {
  employeeTimeline(employeeId: $id, from: $from, to: $to, first: 100) {
    edges { node { kind ... on AlertItem { alert { id } } } } } }"""
RISK = "query($id: ID!) { employeeRisk(employeeId: $id) { score evidence { id } } }"
RANKING = "query($branch: ID!) { riskRanking(branchId: $branch, first: 100) { employee { id } } }"


def _alert_key(subject: str, kind: str) -> str:
    return f"{subject}/{kind}"


async def observe_alerts(suite: Suite, world: World, seat: Person) -> dict[str, Outcome]:
    seen: dict[str, dict[str, Any]] = {}
    after: str | None = None
    while True:
        found = _hidden_or_data(await suite.gql(ALERTS, {"after": after}, as_=seat.id), "alerts")
        seen |= _listed(found)
        if not found or not found["pageInfo"]["hasNextPage"]:
            break
        after = found["pageInfo"]["endCursor"]
    outcomes: dict[str, Outcome] = {}
    for (subject, kind), alert_id in world.alerts.items():
        node = seen.get(alert_id)
        if node is not None:
            # The evidence comes with the alert, or the alert does not come.
            assert node["evidence"] == {"about": world.person(subject).id, "kind": kind}, node
        outcomes[_alert_key(subject, kind)] = None if node is None else frozenset()
    return outcomes


def expect_alert(world: World, seat: Person, key: str) -> Outcome:
    subject, kind = key.split("/")
    person = world.person(subject)
    return expected(seat, "alerts.read", row_of(person, subject=person, kind=kind))


def _case_row(world: World, key: str) -> Row:
    person = world.person(key)
    return row_of(person, subject=person)


def window() -> dict[str, str]:
    now = datetime.now(UTC)
    return {
        "from": (now - timedelta(days=7)).isoformat(),
        "to": (now + timedelta(hours=1)).isoformat(),
    }


async def observe_timeline(suite: Suite, world: World, seat: Person) -> dict[str, Outcome]:
    async def probe(key: str) -> Outcome:
        variables = {"id": employee_id(world.person(key).id), **window()}
        found = _hidden_or_data(
            await suite.gql(TIMELINE, variables, as_=seat.id), "employeeTimeline"
        )
        return frozenset() if found and found["edges"] else None

    return await _each(world, CASE_SUBJECTS, probe)


async def observe_risk(suite: Suite, world: World, seat: Person) -> dict[str, Outcome]:
    async def probe(key: str) -> Outcome:
        found = _hidden_or_data(
            await suite.gql(RISK, {"id": employee_id(world.person(key).id)}, as_=seat.id),
            "employeeRisk",
        )
        return frozenset() if found and found["score"] > 0 else None

    return await _each(world, CASE_SUBJECTS, probe)


async def observe_ranking(suite: Suite, world: World, seat: Person) -> dict[str, Outcome]:
    org = world.org
    ranked: set[str] = set()
    for branch in (org.branch, org.other_branch, org.hq):
        found = _hidden_or_data(
            await suite.gql(RANKING, {"branch": global_id("Branch", branch)}, as_=seat.id),
            "riskRanking",
        )
        ranked |= {entry["employee"]["id"] for entry in found or []}
    return {
        key: frozenset() if employee_id(world.person(key).id) in ranked else None
        for key in CASE_SUBJECTS
    }


def expect_case(action: str) -> Expect:
    def expect(world: World, seat: Person, key: str) -> Outcome:
        return expected(seat, action, _case_row(world, key))

    return expect


# field work -------------------------------------------------------------------------------------

CHECK_INS = "{ checkIns(first: 100) { edges { node { id photos { url } } } } }"
ONE_CHECK_IN = "query($id: ID!) { checkIn(id: $id) { id photos { url } } }"
CALL_LOGS = "{ callLogs(first: 100) { edges { node { id durationSeconds } } } }"
VISIT_PLANS = "{ visitPlans(first: 100) { edges { node { id } } } }"


def _with_photo(node: Mapping[str, Any] | None) -> Outcome:
    if node is None:
        return None
    # A check-in that is shown comes with a signed URL for its photo.
    assert [photo["url"] for photo in node["photos"] if photo["url"]], node
    return frozenset()


async def observe_check_ins(suite: Suite, world: World, seat: Person) -> dict[str, Outcome]:
    result = await suite.gql(CHECK_INS, as_=seat.id)
    listed = _listed(_hidden_or_data(result, "checkIns"))
    assert "X-Amz-Signature" not in str(result.body) or listed, result.body
    return {key: _with_photo(listed.get(world.check_ins[key])) for key in OWNERS}


async def observe_check_in(suite: Suite, world: World, seat: Person) -> dict[str, Outcome]:
    async def probe(key: str) -> Outcome:
        result = await suite.gql(ONE_CHECK_IN, {"id": world.check_ins[key]}, as_=seat.id)
        node = _hidden_or_data(result, "checkIn")
        if node is None:
            assert "X-Amz-Signature" not in str(result.body), result.body
        return _with_photo(node)

    return await _each(world, OWNERS, probe)


async def observe_calls(suite: Suite, world: World, seat: Person) -> dict[str, Outcome]:
    listed = _listed(_hidden_or_data(await suite.gql(CALL_LOGS, as_=seat.id), "callLogs"))
    return _seen_among(world.calls, {node["durationSeconds"] for node in listed.values()})


async def observe_plans(suite: Suite, world: World, seat: Person) -> dict[str, Outcome]:
    listed = _listed(_hidden_or_data(await suite.gql(VISIT_PLANS, as_=seat.id), "visitPlans"))
    return _seen_among(world.plans, listed)


# orders, payments, reconciliation, commissions ---------------------------------------------------

ORDERS = "{ orders(first: 100) { edges { node { id } } } }"
ORDER = "query($id: ID!) { order(id: $id) { id shipments { id } } }"
PAYMENTS = "{ payments(first: 100) { edges { node { id bankReference } } } }"
RECONCILIATION = "{ reconciliation(first: 100) { items { order { id } } } }"
STATEMENT = """query($id: ID!, $period: String!) {
  commissionStatement(employeeId: $id, period: $period) { period } }"""
PLANS = "{ commissionPlans { version } }"
EXPORT_PAYROLL = """mutation($input: ExportCommissionPeriodInput!) {
  exportCommissionPeriod(input: $input) { downloadUrlExpiresAt } }"""


async def observe_orders(suite: Suite, world: World, seat: Person) -> dict[str, Outcome]:
    listed = _listed(_hidden_or_data(await suite.gql(ORDERS, as_=seat.id), "orders"))
    return _seen_among(world.orders, listed)


async def observe_order_shipments(suite: Suite, world: World, seat: Person) -> dict[str, Outcome]:
    async def probe(key: str) -> Outcome:
        order = _hidden_or_data(
            await suite.gql(ORDER, {"id": world.orders[key]}, as_=seat.id), "order"
        )
        shipments = {shipment["id"] for shipment in (order or {}).get("shipments") or []}
        return frozenset() if world.shipments[key] in shipments else None

    return await _each(world, OWNERS, probe)


async def observe_payments(suite: Suite, world: World, seat: Person) -> dict[str, Outcome]:
    listed = _listed(_hidden_or_data(await suite.gql(PAYMENTS, as_=seat.id), "payments"))
    return _seen_among(world.payments, {node["bankReference"] for node in listed.values()})


async def observe_reconciliation(suite: Suite, world: World, seat: Person) -> dict[str, Outcome]:
    found = _hidden_or_data(await suite.gql(RECONCILIATION, as_=seat.id), "reconciliation")
    return _seen_among(
        world.orders, {item["order"]["id"] for item in (found or {}).get("items", [])}
    )


def expect_order_branch(action: str) -> Expect:
    """Payments and reconciliation are scoped by their order's branch (no `own` grant)."""

    def expect(world: World, seat: Person, key: str) -> Outcome:
        return expected(seat, action, row_of(world.person(key)))

    return expect


STATEMENT_SUBJECTS = (*OWNERS, "manager_2", "other_manager", "hr", "finance")


async def observe_statement(suite: Suite, world: World, seat: Person) -> dict[str, Outcome]:
    period = date.today().strftime("%Y-%m")

    async def probe(key: str) -> Outcome:
        variables = {"id": employee_id(world.person(key).id), "period": period}
        found = _hidden_or_data(
            await suite.gql(STATEMENT, variables, as_=seat.id), "commissionStatement"
        )
        return None if found is None else frozenset()

    return await _each(world, STATEMENT_SUBJECTS, probe)


async def observe_plans_of_commission(
    suite: Suite, world: World, seat: Person
) -> dict[str, Outcome]:
    plans = _hidden_or_data(await suite.gql(PLANS, as_=seat.id), "commissionPlans")
    return {"plans": None if plans is None else frozenset()}


async def observe_payroll_export(suite: Suite, world: World, seat: Person) -> dict[str, Outcome]:
    period = (date.today().replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    result = await suite.gql(
        EXPORT_PAYROLL,
        {"input": {"period": period, "branchId": global_id("Branch", world.org.branch)}},
        as_=seat.id,
    )
    # Past the policy, a period never run is refused for what it is, not for who asks.
    assert "INTERNAL" not in result.codes, result.body
    return {"payroll": None if "FORBIDDEN" in result.codes else frozenset()}


# directory and exports ----------------------------------------------------------------------------

EMPLOYEE = "query($id: ID!) { employee(id: $id) { id } }"
EXPORT_REQUEST = "query($id: ID!) { exportRequest(id: $id) { id } }"
RUN_EXPORT = """mutation($id: ID!) { runCustomerExport(input: {id: $id}) { downloadUrl } }"""
EXPORT_REQUESTS = """query($after: String) {
  exportRequests(first: 100, after: $after) {
    pageInfo { hasNextPage endCursor } edges { node { id } }
  }
}"""


async def observe_directory(suite: Suite, world: World, seat: Person) -> dict[str, Outcome]:
    async def probe(key: str) -> Outcome:
        found = _hidden_or_data(
            await suite.gql(EMPLOYEE, {"id": employee_id(world.person(key).id)}, as_=seat.id),
            "employee",
        )
        return None if found is None else frozenset()

    return await _each(world, CASE_SUBJECTS, probe)


def expect_directory(world: World, seat: Person, key: str) -> Outcome:
    return expected(seat, "directory.read", row_of(world.person(key)))


async def observe_export_request(suite: Suite, world: World, seat: Person) -> dict[str, Outcome]:
    found = _hidden_or_data(
        await suite.gql(EXPORT_REQUEST, {"id": world.export_request}, as_=seat.id), "exportRequest"
    )
    return {"request": None if found is None else frozenset()}


async def observe_export_requests(suite: Suite, world: World, seat: Person) -> dict[str, Outcome]:
    """Whether the request is among those exportRequests lists to the seat (every page)."""
    listed: set[str] = set()
    after = None
    while True:
        page = _hidden_or_data(
            await suite.gql(EXPORT_REQUESTS, {"after": after}, as_=seat.id), "exportRequests"
        )
        if page is None:
            break
        listed |= {edge["node"]["id"] for edge in page["edges"]}
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    return {"request": frozenset() if world.export_request in listed else None}


def expect_export_request(world: World, seat: Person, key: str) -> Outcome:
    """The requester reads their request; so does whoever may decide it (never their own)."""
    requester = world.person(world.export_requester)
    if seat.id == requester.id:
        return frozenset()
    return expected(seat, "customers.export.decide", row_of(requester))


async def observe_export_run(suite: Suite, world: World, seat: Person) -> dict[str, Outcome]:
    if seat.id == world.person(world.export_requester).id:
        return {"run": frozenset()}  # the one download is the requester's: run last, below
    result = await suite.gql(RUN_EXPORT, {"id": world.export_request}, as_=seat.id)
    assert result.codes == ["FORBIDDEN"], result.body
    return {"run": None}


def expect_export_run(world: World, seat: Person, key: str) -> Outcome:
    return expected(
        seat, "customers.export.run", Row(world.person(world.export_requester).id, None, None)
    )


PATHS: tuple[ReadPath, ...] = (
    ReadPath(
        "customer(id)",
        ("customers.read",),
        observe_customer,
        _by_owner("customers.read"),
        masks=True,
    ),
    ReadPath(
        "customers", ("customers.read",), observe_customers, _by_owner("customers.read"), masks=True
    ),
    ReadPath(
        "customers(filter: {text})",
        ("customers.read",),
        observe_customer_search,
        _by_owner("customers.read"),
        masks=True,
    ),
    ReadPath("customerPool", ("pool.read",), observe_pool, expect_pool, masks=True),
    ReadPath("auditEvents", ("audit.read",), observe_audit, expect_audit),
    ReadPath("verifyAuditChain", ("audit.verify",), observe_verify, expect_action("audit.verify")),
    ReadPath("alerts (with evidence)", ("alerts.read",), observe_alerts, expect_alert),
    ReadPath(
        "employeeTimeline", ("timeline.read",), observe_timeline, expect_case("timeline.read")
    ),
    ReadPath("employeeRisk", ("risk.read",), observe_risk, expect_case("risk.read")),
    ReadPath("riskRanking", ("risk.read",), observe_ranking, expect_case("risk.read")),
    ReadPath(
        "checkIns (photo URLs)", ("checkins.read",), observe_check_ins, _by_owner("checkins.read")
    ),
    ReadPath(
        "checkIn(id) (photo URLs)", ("checkins.read",), observe_check_in, _by_owner("checkins.read")
    ),
    ReadPath("callLogs", ("calllogs.read",), observe_calls, _by_owner("calllogs.read")),
    ReadPath("visitPlans", ("visits.read",), observe_plans, _by_owner("visits.read")),
    ReadPath("orders", ("orders.read",), observe_orders, _by_owner("orders.read")),
    ReadPath(
        "order(id).shipments",
        ("shipments.read",),
        observe_order_shipments,
        _by_owner("shipments.read"),
    ),
    ReadPath(
        "payments", ("payments.read",), observe_payments, expect_order_branch("payments.read")
    ),
    ReadPath(
        "reconciliation",
        ("reconciliation.read",),
        observe_reconciliation,
        expect_order_branch("reconciliation.read"),
    ),
    ReadPath(
        "commissionStatement",
        ("commissions.read",),
        observe_statement,
        _by_owner("commissions.read"),
    ),
    ReadPath(
        "commissionPlans",
        ("commissions.plans.read",),
        observe_plans_of_commission,
        expect_action("commissions.plans.read"),
    ),
    ReadPath(
        "exportCommissionPeriod",
        ("commissions.export",),
        observe_payroll_export,
        expect_action("commissions.export"),
    ),
    ReadPath("employee(id)", ("directory.read",), observe_directory, expect_directory),
    ReadPath(
        "exportRequest(id)",
        ("customers.export.decide",),
        observe_export_request,
        expect_export_request,
    ),
    # The queue: the same rule as one decision and a scope filter (never a second copy).
    ReadPath(
        "exportRequests",
        ("customers.export.decide",),
        observe_export_requests,
        expect_export_request,
    ),
    ReadPath("runCustomerExport", ("customers.export.run",), observe_export_run, expect_export_run),
)
