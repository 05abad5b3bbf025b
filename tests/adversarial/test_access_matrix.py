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
from typing import Any

import pytest

from tests.adversarial.access_matrix_paths import PATHS, RUN_EXPORT, ReadPath
from tests.adversarial.access_matrix_world import (
    ALERT_KINDS,
    CASE_SUBJECTS,
    OWNERS,
    READ_LIKE,
    SEAT_KEYS,
    SYSTEM,
    TIERS,
    WRITES,
    Outcome,
    World,
    _people,
    _seed_alerts,
    _seed_calls,
    _seed_customers,
    _seed_export,
    _seed_field_work,
    _seed_order,
    _seed_pool,
    allowed,
    expected,
    row_of,
)
from tests.conftest import SuiteFactory
from tests.harness import Suite, global_id
from tests.org import UPSERT_EMPLOYEE, UPSERT_TEAM, admin, make_org
from tests.support.alerts import stored_alert
from tests.support.subscriptions import (
    GraphQLWebSocket,
    watching_alerts,
)


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
        suite,
        UPSERT_TEAM,
        {"hrId": other_team, "name": "北京一组", "branchId": global_id("Branch", org.other_branch)},
    )
    for employee, name, roles, team, branch in (
        (other_rep, "外地销售", ["SALES_JUNIOR"], other_team, org.other_branch),
        (hq_manager, "总部经理", ["MANAGER"], None, org.hq),
    ):
        await admin(
            suite,
            UPSERT_EMPLOYEE,
            {
                "hrId": employee,
                "name": name,
                "roles": roles,
                "teamId": global_id("Team", team) if team else None,
                "branchId": global_id("Branch", branch),
            },
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
    received: dict[str, set[str]] = {key: set() for key in readers}
    every_kind = {"filter": {"kinds": [kind for _, kind in ALERT_KINDS]}}
    seat_ids = [seat.id for seat in readers.values()]
    async with watching_alerts(suite, every_kind, *seat_ids) as opened:
        sockets = dict(zip(readers, opened, strict=True))
        raised: dict[str, tuple[str, str]] = {}
        for key in CASE_SUBJECTS:
            person = world.person(key)
            for source, kind in ALERT_KINDS:
                alert_id = await stored_alert(
                    suite, source, kind, employee_id=person.id, branch_id=str(person.branch)
                )
                raised[global_id("Alert", alert_id)] = (key, kind)

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
