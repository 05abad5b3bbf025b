"""The access matrix's world and oracle: the tier data read as the policy reads it
(:func:`expected`), the seats and the people in every relation to them, and the
company seeded once for the matrix (customers, pool, field work, calls, orders,
alerts, an export request).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from tests.harness import POLICIES, GraphQLResult, Suite, employee_id, global_id
from tests.org import UPSERT_EMPLOYEE, Org, admin, new_phone, register
from tests.photos import jpeg, scene, upload
from tests.support.alerts import stored_alert

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
    alerts: dict[tuple[str, str], str] = field(default_factory=dict)  # (subject, kind) → API ID
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
        values = {
            "hrId": leaver,
            "name": leaver,
            "roles": ["SALES_JUNIOR"],
            "teamId": global_id("Team", team),
            "branchId": global_id("Branch", branch),
        }
        await admin(suite, UPSERT_EMPLOYEE, values | {"status": "ACTIVE"})
        customer = await register(suite, leaver, email=f"{leaver}@example.com")
        await admin(
            suite,
            UPSERT_EMPLOYEE,
            values | {"status": "LEFT", "leaveDate": "2026-11-30", "toPool": True},
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
                "employeeId": employee_id(world.person(key).id),
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
            alert_id = await stored_alert(
                suite,
                source,
                kind,
                employee_id=person.id,
                branch_id=str(person.branch),
                evidence={"about": person.id, "kind": kind},
            )
            world.alerts[key, kind] = global_id("Alert", alert_id)


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
