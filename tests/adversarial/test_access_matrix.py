"""The access matrix as data: role × every read path × whose row it is.

One company is seeded once per module, on a suite of its own (so "all" means
this company): customers, pooled customers, check-ins with photos, call logs,
visit plans, orders with shipments and payments, alerts of three kinds and
an export request, each belonging to (or about) people in every relation to
the seats: their own, a teammate's, another team's, another branch's, a
manager's, HR's and finance's. Every seat (one employee per role of the tier
data, and a headquarters manager) then reads every path, and each cell is
compared with what the tier data says: read
``policies/salesguard/tiers/data.json`` here and worked out by :func:`expected`
(scopes, headquarters widening, masks, alert kinds, own cases, hidden subject
roles). A cell is "seen" (with the masked fields the tier gives) or "hidden"
(absent, null, FORBIDDEN or NOT_FOUND, and nothing else).

The data decides, the test follows: every role in the data must have a seat
and every read action in the data a path below (``test_the_matrix_covers_the_tier_data``),
so a new role or read action without a path fails here first.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import SuiteFactory
from tests.harness import POLICIES, GraphQLResult, Suite
from tests.org import UPSERT_EMPLOYEE, UPSERT_TEAM, Org, admin, make_org, new_phone, register
from tests.photos import jpeg, scene, upload
from tests.support.alerts import stored_alert
from tests.support.subscriptions import (
    ALERT_RAISED,
    SOURCES,
    GraphQLWebSocket,
    serve_gateway,
    until_watching,
    watcher_count,
)

pytestmark = pytest.mark.integration

TIERS: dict[str, Any] = json.loads((POLICIES / "salesguard/tiers/data.json").read_text())
SYSTEM = "SYSTEM"
# Read actions whose name does not end in ".read".
READ_LIKE = frozenset({"audit.verify", "customers.export.run", "commissions.export"})
# Every other action a user may take writes; their tests live with their features.
WRITES = frozenset(
    {
        "customers.register",
        "customers.update",
        "customers.follow_up",
        "pool.claim",
        "pool.sweep",
        "customers.reassign",
        "customers.export.request",
        # The customers an order may name (test_order_needs_a_customer_in_scope) and C12's sharing
        # decisions (test_shared_contact_unlock).
        "customers.order",
        "customers.criteria.share",
        "customers.criteria.unshare",
        "directory.branches.write",
        "directory.teams.write",
        "directory.employees.write",
        "customers.handover",
        "visits.plan",
        "checkins.create",
        "photos.upload",
        "calllogs.import",
        "detectors.run",
        "orders.submit",
        "orders.decide",
        "orders.transition",
        "payments.record",
        "payments.reverse",
        "payments.import",
        "payments.upload",
        "shipments.record",
        "reconciliation.run",
        "diversion.detect",
        "commissions.plans.write",
        "commissions.run",
        "commissions.lock",
        "commissions.freeze",
        "alerts.update",
    }
)
# Seeded alerts: one of a finance kind and two of others, from three sources.
ALERT_KINDS = (
    ("orders", "FAKE_DEAL_SUSPECTED"),
    ("customers", "LATE_REGISTRATION"),
    ("attendance", "PHOTO_REUSED"),
)
SITE = (31.2400, 121.4900)
CODES_OF_HIDDEN = frozenset({"FORBIDDEN", "NOT_FOUND"})

# What a cell shows: None (hidden) or the fields masked on the row (seen).
Outcome = frozenset[str] | None


@dataclass(frozen=True)
class Person:
    id: str
    roles: tuple[str, ...]
    team: str | None
    branch: str | None
    hq: bool = False


@dataclass(frozen=True)
class Row:
    """What the tier data judges a row by: whose it is (the `own` key: owner, submitter,
    employee, requester or actor), where it was recorded, whom it is about, its kind."""

    owner: str | None
    team: str | None
    branch: str | None
    subject: Person | None = None
    kind: str | None = None


def row_of(person: Person, **extra: Any) -> Row:
    return Row(person.id, person.team, person.branch, **extra)


# -- the oracle: the tier data, read as the policy reads it --------------------------------------


def _covers(scope: str, seat: Person, row: Row) -> bool:
    match scope:
        case "all":
            return True
        case "own":
            return row.owner is not None and row.owner == seat.id
        case "team":
            return seat.team is not None and row.team == seat.team
        case "branch":
            return seat.branch is not None and row.branch == seat.branch
    raise AssertionError(f"unknown scope {scope}")


def masked_fields(grant: dict[str, Any]) -> frozenset[str]:
    """A grant's ``masked_fields`` and the fields of its ``masked_field_sets``."""
    sets = TIERS["field_sets"]
    return frozenset(grant["masked_fields"]).union(
        *(sets[name] for name in grant.get("masked_field_sets", ()))
    )


def expected(seat: Person, action: str, row: Row) -> Outcome:
    """The masked fields ``seat`` reads ``row`` with under ``action``, or None when no grant
    covers it: the narrowest covering grant decides the masks (a seat holds one role)."""
    config = TIERS["actions"][action]
    headquarters = TIERS["headquarters"]
    covering: list[tuple[int, frozenset[str]]] = []
    for role in seat.roles:
        for grant in config["roles"].get(role, {}).get("grants", []):
            scope = grant["scope"]
            widened = seat.hq and role in headquarters["roles"] and scope in headquarters["widen"]
            if widened:
                scope = headquarters["widen"][scope]
            if not _covers(scope, seat, row):
                continue
            if "kinds" in grant and row.kind not in grant["kinds"]:
                continue
            if row.subject is not None:
                if "own_case" in config and row.subject.id == seat.id:
                    continue
                hidden = set() if widened else set(grant.get("hidden_subject_roles", ()))
                if hidden & set(row.subject.roles):
                    continue
            covering.append((TIERS["scope_order"].index(scope), masked_fields(grant)))
    if not covering:
        return None
    return min(covering, key=lambda entry: entry[0])[1]


def allowed(seat: Person, action: str) -> bool:
    """Whether any role of the seat holds a grant of the action at all."""
    return any(role in TIERS["actions"][action]["roles"] for role in seat.roles)


# -- the seeded world ---------------------------------------------------------------------------


@dataclass
class World:
    org: Org
    people: dict[str, Person]
    seats: dict[str, Person]
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    pooled: dict[str, str] = field(default_factory=dict)  # branch → customer
    check_ins: dict[str, str] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)  # subject → call length
    plans: dict[str, str] = field(default_factory=dict)
    orders: dict[str, str] = field(default_factory=dict)
    payments: dict[str, str] = field(default_factory=dict)  # subject → bank reference
    shipments: dict[str, str] = field(default_factory=dict)
    alerts: dict[tuple[str, str], str] = field(default_factory=dict)  # (subject, kind) → ID
    export_request: str = ""
    export_requester: str = "manager"

    def person(self, key: str) -> Person:
        return self.people[key]


# Whose data each path has, by person key.
OWNERS = ("junior", "mate", "senior", "junior_b", "other_rep", "manager")
CASE_SUBJECTS = (*OWNERS, "manager_2", "other_manager", "hq_manager", "hr", "finance")


def _people(org: Org, other_team: str, other_rep: str, hq_manager: str) -> dict[str, Person]:
    return {
        "junior": Person(org.junior, ("SALES_JUNIOR",), org.team_a, org.branch),
        "mate": Person(org.junior_mate, ("SALES_JUNIOR",), org.team_a, org.branch),
        "senior": Person(org.senior, ("SALES_SENIOR",), org.team_a, org.branch),
        "junior_b": Person(org.junior_b, ("SALES_JUNIOR",), org.team_b, org.branch),
        "other_rep": Person(other_rep, ("SALES_JUNIOR",), other_team, org.other_branch),
        "manager": Person(org.manager, ("MANAGER",), None, org.branch),
        "manager_2": Person(org.manager_2, ("MANAGER",), None, org.branch),
        "other_manager": Person(org.other_manager, ("MANAGER",), None, org.other_branch),
        "hq_manager": Person(hq_manager, ("MANAGER",), None, org.hq, hq=True),
        "hr": Person(org.hr, ("HR",), None, org.hq, hq=True),
        "finance": Person(org.finance, ("FINANCE",), None, org.hq, hq=True),
        "admin": Person(org.admin, ("ADMIN",), None, None),
    }


SEAT_KEYS = ("junior", "senior", "manager", "hq_manager", "hr", "finance", "admin")


@pytest.fixture(scope="module")
async def matrix_suite(full_suite_factory: SuiteFactory) -> Suite:
    """A suite of the module's own: "all" then means exactly the seeded company."""
    return await full_suite_factory()


@pytest.fixture(scope="module")
async def world(matrix_suite: Suite) -> World:
    suite = matrix_suite
    org = await make_org(suite)
    other_team, other_rep, hq_manager = (
        f"{org.branch}-tc",
        f"{org.branch}-rep-bj",
        f"{org.branch}-hqm",
    )
    await admin(
        suite, UPSERT_TEAM, {"id": other_team, "name": "北京一组", "branchId": org.other_branch}
    )
    for employee, name, roles, team, branch in (
        (other_rep, "外地销售", ["SALES_JUNIOR"], other_team, org.other_branch),
        (hq_manager, "总部经理", ["MANAGER"], None, org.hq),
    ):
        await admin(
            suite,
            UPSERT_EMPLOYEE,
            {"id": employee, "name": name, "roles": roles, "teamId": team, "branchId": branch},
        )
    people = _people(org, other_team, other_rep, hq_manager)
    world = World(org, people, {key: people[key] for key in SEAT_KEYS})
    await _seed_customers(suite, world)
    await _seed_pool(suite, world, other_team)
    await asyncio.gather(*(_seed_field_work(suite, world, key) for key in OWNERS))
    await _seed_calls(suite, world)
    await asyncio.gather(*(_seed_order(suite, world, key) for key in OWNERS))
    await _seed_alerts(suite, world)
    await _seed_export(suite, world)
    return world


async def _seed_customers(suite: Suite, world: World) -> None:
    for key in OWNERS:
        person = world.person(key)
        world.customers[key] = await register(
            suite,
            person.id,
            name=f"Matrix {key} {person.id}",
            email=f"{key}.{person.id}@example.com",
        )


async def _seed_pool(suite: Suite, world: World, other_team: str) -> None:
    """A leaver per branch hands their customer to the branch pool."""
    org = world.org
    for branch, team in ((org.branch, org.team_a), (org.other_branch, other_team)):
        leaver = f"{branch}-leaver"
        values = {"id": leaver, "name": leaver, "roles": ["SALES_JUNIOR"], "teamId": team}
        await admin(suite, UPSERT_EMPLOYEE, values | {"branchId": branch, "status": "ACTIVE"})
        customer = await register(suite, leaver, email=f"{leaver}@example.com")
        await admin(
            suite,
            UPSERT_EMPLOYEE,
            values
            | {"branchId": branch, "status": "LEFT", "leaveDate": "2026-11-30", "toPool": True},
        )
        world.pooled[branch] = customer["id"]


CHECK_IN = """mutation($input: CheckInInput!) { checkIn(input: $input) { checkIn { id } } }"""
PLAN_VISIT = (
    """mutation($input: PlanVisitInput!) { planVisit(input: $input) { visitPlan { id } } }"""
)


async def _seed_field_work(suite: Suite, world: World, key: str) -> None:
    person = world.person(key)
    at = datetime.now(UTC) - timedelta(hours=2)
    photo = await upload(
        suite, person.id, jpeg(scene(hash(person.id) % 10_000), gps=SITE, taken_at=at)
    )
    visit = {
        "at": at.isoformat(),
        "location": {"lat": SITE[0], "lng": SITE[1]},
        "accuracyM": 10.0,
        "deviceId": f"phone-{key}",
        "photoKeys": [photo],
    }
    done = (await suite.gql(CHECK_IN, {"input": visit}, as_=person.id)).ok()
    world.check_ins[key] = done["checkIn"]["checkIn"]["id"]
    window = {
        "customerId": world.customers[key]["id"],
        "windowStart": (at + timedelta(days=1)).isoformat(),
        "windowEnd": (at + timedelta(days=1, hours=1)).isoformat(),
    }
    planned = (await suite.gql(PLAN_VISIT, {"input": window}, as_=person.id)).ok()
    world.plans[key] = planned["planVisit"]["visitPlan"]["id"]


IMPORT_CALLS = (
    """mutation($input: ImportCallLogsInput!) { importCallLogs(input: $input) { accepted } }"""
)


async def _seed_calls(suite: Suite, world: World) -> None:
    """A call of each owner, told apart by its length (numbers come back masked)."""
    started = datetime.now(UTC) - timedelta(hours=3)
    entries = []
    for seconds, key in enumerate(OWNERS, start=61):
        world.calls[key] = seconds
        entries.append(
            {
                "employeeId": world.person(key).id,
                "number": new_phone(),
                "direction": "OUTGOING",
                "startedAt": started.isoformat(),
                "durationSeconds": seconds,
            }
        )
    imported = await suite.gql(IMPORT_CALLS, {"input": {"entries": entries}}, as_=world.org.hr)
    assert imported.ok()["importCallLogs"]["accepted"] == len(OWNERS)


SUBMIT = """mutation($input: SubmitOrderInput!) { submitOrder(input: $input) { order { id } } }"""
DECIDE = (
    """mutation($input: DecideOrderInput!) { decideOrder(input: $input) { order { status } } }"""
)
SHIP = """mutation($input: RecordShipmentInput!) { recordShipment(input: $input) { shipment { id } } }"""
PAY = (
    """mutation($input: RecordPaymentInput!) { recordPayment(input: $input) { payment { id } } }"""
)


async def _seed_order(suite: Suite, world: World, key: str) -> None:
    """An order of the owner's own customer, approved, shipped and paid."""
    org, person, customer = world.org, world.person(key), world.customers[key]
    line = {"sku": "SKU-1", "description": "Widget", "quantity": "2", "unitPrice": "100.00"}
    order_input = {
        "customerId": customer["id"],
        "lines": [line],
        "currency": "CNY",
        "expectedPaymentDate": (date.today() + timedelta(days=30)).isoformat(),
    }
    order = (await suite.gql(SUBMIT, {"input": order_input}, as_=person.id)).ok()
    order_id = order["submitOrder"]["order"]["id"]
    approver = {
        org.other_branch: org.other_manager,
        org.branch: org.manager_2 if key == "manager" else org.manager,
    }[str(person.branch)]
    decided = await suite.gql(
        DECIDE, {"input": {"orderId": order_id, "approve": True}}, as_=approver
    )
    assert decided.ok()["decideOrder"]["order"]["status"] == "APPROVED", decided.body
    shipped_at = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    shipment = {
        "orderId": order_id,
        "carrier": "SF",
        "trackingNumber": f"SF-{key}",
        "shippedAt": shipped_at,
    }
    world.shipments[key] = (await suite.gql(SHIP, {"input": shipment}, as_=org.finance)).ok()[
        "recordShipment"
    ]["shipment"]["id"]
    payment = {
        "bankReference": f"BANK-{person.id}",
        "payerName": customer["name"],
        "amount": "200.00",
        "currency": "CNY",
        "paidAt": shipped_at,
        "orderId": order_id,
    }
    (await suite.gql(PAY, {"input": payment}, as_=org.finance)).ok()
    world.orders[key] = order_id
    world.payments[key] = payment["bankReference"]


async def _seed_alerts(suite: Suite, world: World) -> None:
    for key in CASE_SUBJECTS:
        person = world.person(key)
        for source, kind in ALERT_KINDS:
            world.alerts[key, kind] = await stored_alert(
                suite,
                source,
                kind,
                employee_id=person.id,
                branch_id=str(person.branch),
                evidence={"about": person.id, "kind": kind},
            )


REQUEST_EXPORT = """mutation($input: RequestCustomerExportInput!) {
  requestCustomerExport(input: $input) { exportRequest { id } } }"""
DECIDE_EXPORT = """mutation($input: DecideExportRequestInput!) {
  decideExportRequest(input: $input) { exportRequest { status } } }"""


async def _seed_export(suite: Suite, world: World) -> None:
    org = world.org
    ids = [world.customers["junior"]["id"]]
    requested = await suite.gql(
        REQUEST_EXPORT, {"input": {"customerIds": ids, "reason": "audit"}}, as_=org.manager
    )
    world.export_request = requested.ok()["requestCustomerExport"]["exportRequest"]["id"]
    (
        await suite.gql(
            DECIDE_EXPORT,
            {"input": {"id": world.export_request, "approve": True}},
            as_=org.manager_2,
        )
    ).ok()


# -- reading ------------------------------------------------------------------------------------


def _hidden_or_data(result: GraphQLResult, name: str) -> Any:
    """The field's value, or None when the caller is refused (FORBIDDEN, NOT_FOUND) or it is
    null; any other error fails the cell."""
    assert result.status == 200, result.body
    assert set(result.codes) <= CODES_OF_HIDDEN, result.body
    return result.data.get(name)


def _masks(node: Mapping[str, Any]) -> frozenset[str]:
    return frozenset(field.lower() for field in node.get("maskedFields") or ())


async def _each(
    world: World, keys: Iterable[str], probe: Callable[[str], Awaitable[Outcome]]
) -> dict[str, Outcome]:
    keys = list(keys)
    return dict(zip(keys, await asyncio.gather(*(probe(key) for key in keys)), strict=True))


Observe = Callable[[Suite, World, Person], Awaitable[dict[str, Outcome]]]
Expect = Callable[[World, Person, str], Outcome]


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
        result = await suite.gql(AUDIT, {"actor": world.person(key).id}, as_=seat.id)
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
        variables = {"id": world.person(key).id, **window()}
        found = _hidden_or_data(
            await suite.gql(TIMELINE, variables, as_=seat.id), "employeeTimeline"
        )
        return frozenset() if found and found["edges"] else None

    return await _each(world, CASE_SUBJECTS, probe)


async def observe_risk(suite: Suite, world: World, seat: Person) -> dict[str, Outcome]:
    async def probe(key: str) -> Outcome:
        found = _hidden_or_data(
            await suite.gql(RISK, {"id": world.person(key).id}, as_=seat.id), "employeeRisk"
        )
        return frozenset() if found and found["score"] > 0 else None

    return await _each(world, CASE_SUBJECTS, probe)


async def observe_ranking(suite: Suite, world: World, seat: Person) -> dict[str, Outcome]:
    org = world.org
    ranked: set[str] = set()
    for branch in (org.branch, org.other_branch, org.hq):
        found = _hidden_or_data(
            await suite.gql(RANKING, {"branch": branch}, as_=seat.id), "riskRanking"
        )
        ranked |= {entry["employee"]["id"] for entry in found or []}
    return {key: frozenset() if world.person(key).id in ranked else None for key in CASE_SUBJECTS}


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
    lengths = {node["durationSeconds"] for node in listed.values()}
    return {key: frozenset() if world.calls[key] in lengths else None for key in OWNERS}


async def observe_plans(suite: Suite, world: World, seat: Person) -> dict[str, Outcome]:
    listed = _listed(_hidden_or_data(await suite.gql(VISIT_PLANS, as_=seat.id), "visitPlans"))
    return {key: frozenset() if world.plans[key] in listed else None for key in OWNERS}


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
    return {key: frozenset() if world.orders[key] in listed else None for key in OWNERS}


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
    references = {node["bankReference"] for node in listed.values()}
    return {key: frozenset() if world.payments[key] in references else None for key in OWNERS}


async def observe_reconciliation(suite: Suite, world: World, seat: Person) -> dict[str, Outcome]:
    found = _hidden_or_data(await suite.gql(RECONCILIATION, as_=seat.id), "reconciliation")
    listed = {item["order"]["id"] for item in (found or {}).get("items", [])}
    return {key: frozenset() if world.orders[key] in listed else None for key in OWNERS}


def expect_order_branch(action: str) -> Expect:
    """Payments and reconciliation are scoped by their order's branch (no `own` grant)."""

    def expect(world: World, seat: Person, key: str) -> Outcome:
        return expected(seat, action, row_of(world.person(key)))

    return expect


STATEMENT_SUBJECTS = (*OWNERS, "manager_2", "other_manager", "hr", "finance")


async def observe_statement(suite: Suite, world: World, seat: Person) -> dict[str, Outcome]:
    period = date.today().strftime("%Y-%m")

    async def probe(key: str) -> Outcome:
        variables = {"id": world.person(key).id, "period": period}
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
        EXPORT_PAYROLL, {"input": {"period": period, "branchId": world.org.branch}}, as_=seat.id
    )
    # Past the policy, a period never run is refused for what it is, not for who asks.
    assert "INTERNAL" not in result.codes, result.body
    return {"payroll": None if "FORBIDDEN" in result.codes else frozenset()}


# directory and exports ----------------------------------------------------------------------------

EMPLOYEE = "query($id: ID!) { employee(id: $id) { id } }"
EXPORT_REQUEST = "query($id: ID!) { exportRequest(id: $id) { id } }"
RUN_EXPORT = """mutation($id: ID!) { runCustomerExport(input: {id: $id}) { downloadUrl } }"""


async def observe_directory(suite: Suite, world: World, seat: Person) -> dict[str, Outcome]:
    async def probe(key: str) -> Outcome:
        found = _hidden_or_data(
            await suite.gql(EMPLOYEE, {"id": world.person(key).id}, as_=seat.id), "employee"
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
    ReadPath("runCustomerExport", ("customers.export.run",), observe_export_run, expect_export_run),
)


# -- the tests ------------------------------------------------------------------------------------


def test_the_matrix_covers_the_tier_data() -> None:
    """A role or a read action added to the data needs a seat or a path here."""
    actions: dict[str, Any] = TIERS["actions"]
    roles = {role for config in actions.values() for role in config["roles"]}
    seated = {role for key in SEAT_KEYS for role in _people_roles(key)}
    assert roles - {SYSTEM} <= seated, f"roles without a seat: {sorted(roles - {SYSTEM} - seated)}"
    mapped = {action for path in PATHS for action in path.actions}
    system_only = {name for name, config in actions.items() if set(config["roles"]) == {SYSTEM}}
    reads = {name for name in actions if name.endswith(".read") or name in READ_LIKE}
    unmapped = reads - system_only - mapped
    assert not unmapped, f"read actions without a path in the matrix: {sorted(unmapped)}"
    unknown = set(actions) - mapped - system_only - WRITES - reads
    assert not unknown, f"actions neither read, written nor system-only: {sorted(unknown)}"
    assert mapped <= set(actions), (
        f"paths name actions the data lacks: {sorted(mapped - set(actions))}"
    )


def _people_roles(key: str) -> tuple[str, ...]:
    roles = {
        "junior": ("SALES_JUNIOR",),
        "senior": ("SALES_SENIOR",),
        "manager": ("MANAGER",),
        "hq_manager": ("MANAGER",),
        "hr": ("HR",),
        "finance": ("FINANCE",),
        "admin": ("ADMIN",),
    }
    return roles[key]


def _cell_table(path: ReadPath, mismatches: list[tuple[str, str, Outcome, Outcome]]) -> str:
    def shown(outcome: Outcome) -> str:
        return "hidden" if outcome is None else f"seen{sorted(outcome) if outcome else ''}"

    return "\n".join(
        f"{path.name}: {seat} reading {key}: expected {shown(want)}, got {shown(got)}"
        for seat, key, want, got in mismatches
    )


@pytest.mark.parametrize("path", PATHS, ids=[path.name for path in PATHS])
async def test_every_seat_reads_what_the_tiers_say(
    matrix_suite: Suite, world: World, path: ReadPath
) -> None:
    mismatches: list[tuple[str, str, Outcome, Outcome]] = []
    outcomes: set[bool] = set()
    for seat_key, seat in world.seats.items():
        assert seat.roles == _people_roles(seat_key)
        observed = await path.observe(matrix_suite, world, seat)
        for key, got in observed.items():
            want = path.expect(world, seat, key)
            if not path.masks:
                want = None if want is None else frozenset()
            outcomes.add(want is None)
            if got != want:
                mismatches.append((seat_key, key, want, got))
    assert not mismatches, "\n" + _cell_table(path, mismatches)
    # Every path tells seats apart: some cell is seen and some hidden.
    assert outcomes == {True, False}, path.name


async def test_the_requester_runs_the_approved_export_once(
    matrix_suite: Suite, world: World
) -> None:
    """The export cell's allowed seat, after every other seat was refused."""
    requester = world.person(world.export_requester)
    ran = await matrix_suite.gql(RUN_EXPORT, {"id": world.export_request}, as_=requester.id)
    assert ran.ok()["runCustomerExport"]["downloadUrl"]


async def test_a_junior_sees_no_other_reps_customer_on_any_path(
    matrix_suite: Suite, world: World
) -> None:
    """The negative row spelled out: whatever the path, another rep's customer never shows
    for the junior, not even as a link from something the junior reads."""
    junior = world.seats["junior"]
    for other in ("mate", "junior_b", "other_rep", "manager"):
        customer = world.customers[other]
        for path in PATHS:
            if "customers.read" in path.actions:
                assert (await path.observe(matrix_suite, world, junior))[other] is None, path.name
        everything = await matrix_suite.gql(
            """{ orders(first: 100) { edges { node { customer { id } } } }
                 checkIns(first: 100) { edges { node { customer { id } } } }
                 visitPlans(first: 100) { edges { node { customer { id } } } } }""",
            as_=junior.id,
        )
        assert customer["id"] not in str(everything.ok()), other


async def test_alert_raised_sends_each_seat_what_alerts_shows(
    matrix_suite: Suite, world: World
) -> None:
    """The subscription cell of every seat: fresh alerts about every case subject, of every
    kind, reach exactly the seats the tier data lets read them."""
    suite = matrix_suite
    readers = {key: seat for key, seat in world.seats.items() if allowed(seat, "alerts.read")}
    base = watcher_count(suite)
    received: dict[str, set[str]] = {key: set() for key in readers}
    async with serve_gateway(suite) as url, AsyncExitStack() as stack:
        sockets = {
            key: await stack.enter_async_context(GraphQLWebSocket.open(url, suite.token(seat.id)))
            for key, seat in readers.items()
        }
        for socket in sockets.values():
            await socket.subscribe(
                ALERT_RAISED, {"filter": {"kinds": [kind for _, kind in ALERT_KINDS]}}
            )
        await until_watching(suite, base + SOURCES * len(sockets))
        raised: dict[str, tuple[str, str]] = {}
        for key in CASE_SUBJECTS:
            person = world.person(key)
            for source, kind in ALERT_KINDS:
                alert_id = await stored_alert(
                    suite, source, kind, employee_id=person.id, branch_id=str(person.branch)
                )
                raised[alert_id] = (key, kind)

        async def drain(key: str, socket: GraphQLWebSocket) -> None:
            while True:
                try:
                    message = await socket.receive(2.0)
                except TimeoutError:
                    return
                assert message["type"] == "next" and "errors" not in message["payload"], message
                received[key].add(message["payload"]["data"]["alertRaised"]["id"])

        await asyncio.gather(*(drain(key, socket) for key, socket in sockets.items()))
    mismatches = []
    for key, seat in readers.items():
        for alert_id, (subject, kind) in raised.items():
            person = world.person(subject)
            want = (
                expected(seat, "alerts.read", row_of(person, subject=person, kind=kind)) is not None
            )
            if (alert_id in received[key]) != want:
                mismatches.append(f"{key} {'missed' if want else 'got'} {kind} about {subject}")
    assert not mismatches, mismatches
