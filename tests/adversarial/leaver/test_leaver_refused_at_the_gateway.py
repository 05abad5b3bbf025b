"""A leaver stops acting on their next request, at the gateway.

SPEC §2: "A change of an employee's status, roles, team or branch takes effect on
their next request, and nothing new is ever owned by an employee who is not active."

The attacks: a token whose principal the gateway holds in a warm cache (one gateway
replica or another), a live websocket, and a directory that is down while the employee
changes. Full profile (PostgreSQL, NOTIFY) and, where it differs, the embedded profile
(SQLite, polling).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from salesguard.db import Database
from salesguard_attendance.models import Employee
from salesguard_attendance.server import service as attendance_app
from salesguard_gateway.app import create_app
from salesguard_gateway.settings import GatewaySettings
from tests.adversarial.leaver.support import (
    CLAIM,
    CUSTOMERS,
    UPSERT_BRANCH,
    assert_forbidden,
    customers_owned_by,
    departure,
    me,
    pooled_customer,
    rep,
    warm,
)
from tests.conftest import SuiteFactory
from tests.harness import Backends, GraphQLResult, Suite, employee_id, global_id
from tests.org import UPSERT_EMPLOYEE, admin, make_org, register, register_result
from tests.support.subscriptions import (
    mock_location_check_in,
    watching_alerts,
)

# -- the next request through the gateway ----------------------------------------------------


@pytest.mark.parametrize("status", ["LEFT", "SUSPENDED"])
async def test_leaver_token_refused_on_next_request(any_suite: Suite, status: str) -> None:
    suite = any_suite
    org = await make_org(suite)
    employee = rep(org)
    await admin(suite, UPSERT_EMPLOYEE, employee)
    await register(suite, employee["hrId"])
    await warm(suite, employee["hrId"])

    await admin(suite, UPSERT_EMPLOYEE, departure(employee, status))

    # The very next request, with the principal still in the gateway's cache: refused.
    assert_forbidden(await me(suite, employee["hrId"]))
    # ...and so is a write that would make an orphan: nothing is stored.
    owned_before = await customers_owned_by(suite, employee["hrId"])
    assert_forbidden(await register_result(suite, employee["hrId"]))
    assert await customers_owned_by(suite, employee["hrId"]) == owned_before


async def test_role_change_takes_effect_on_next_request(any_suite: Suite) -> None:
    suite = any_suite
    org = await make_org(suite)
    manager = rep(org, roles=["MANAGER"], teamId=None)
    await admin(suite, UPSERT_EMPLOYEE, manager)
    await register(suite, org.junior)
    assert (await suite.gql(CUSTOMERS, as_=manager["hrId"])).ok()["customers"]["totalCount"] >= 1
    await warm(suite, manager["hrId"])

    await admin(
        suite,
        UPSERT_EMPLOYEE,
        manager | {"roles": ["SALES_JUNIOR"], "teamId": global_id("Team", org.team_b)},
    )

    data = (await me(suite, manager["hrId"])).ok()
    assert data["me"]["roles"] == ["SALES_JUNIOR"]
    # The branch's customers are no longer theirs to read: a junior sees their own (none).
    assert (await suite.gql(CUSTOMERS, as_=manager["hrId"])).ok()["customers"]["totalCount"] == 0


async def test_team_and_branch_change_take_effect_on_next_request(
    any_suite: Suite,
) -> None:
    suite = any_suite
    org = await make_org(suite)
    employee = rep(org)
    await admin(suite, UPSERT_EMPLOYEE, employee)
    await warm(suite, employee["hrId"])

    team_b = global_id("Team", org.team_b)
    await admin(suite, UPSERT_EMPLOYEE, employee | {"teamId": team_b})
    moved = (await me(suite, employee["hrId"])).ok()["me"]
    branch = global_id("Branch", org.branch)
    assert (moved["team"], moved["branch"]) == ({"id": team_b}, {"id": branch})

    other_branch = global_id("Branch", org.other_branch)
    await admin(suite, UPSERT_EMPLOYEE, employee | {"teamId": None, "branchId": other_branch})
    moved = (await me(suite, employee["hrId"])).ok()["me"]
    assert (moved["team"], moved["branch"]) == (None, {"id": other_branch})


async def test_branch_headquarters_change_takes_effect_on_next_request(
    any_suite: Suite,
) -> None:
    """Principals carry whether their branch is headquarters (a manager there reads every
    branch): a change of the branch, not of the employee, must reach them too."""
    suite = any_suite
    org = await make_org(suite)
    elsewhere = await register(suite, org.junior)
    await warm(suite, org.other_manager)
    seen = await suite.gql(CUSTOMERS, as_=org.other_manager)
    assert elsewhere["id"] not in {edge["node"]["id"] for edge in seen.ok()["customers"]["edges"]}

    branch = {
        "hrId": org.other_branch,
        "name": org.other_branch,
        "timeZone": "Asia/Shanghai",
    }
    await admin(suite, UPSERT_BRANCH, branch | {"headquarters": True})
    seen = await suite.gql(CUSTOMERS, as_=org.other_manager)
    assert elsewhere["id"] in {edge["node"]["id"] for edge in seen.ok()["customers"]["edges"]}


async def test_two_gateway_replicas_refuse_on_the_very_next_request(
    any_suite: Suite,
) -> None:
    """Kubernetes runs several gateways: the change made through one reaches the other's
    cache before the leaver's next request, whichever replica it hits."""
    suite = any_suite
    org = await make_org(suite)
    employee = rep(org)
    await admin(suite, UPSERT_EMPLOYEE, employee)
    async with replica(suite) as first, replica(suite) as second:
        for gateway in (first, second):
            for _ in range(2):
                assert (await me(gateway, employee["hrId"])).ok()["me"]["hrId"] == employee["hrId"]
        # A role change through the first replica, seen by the second...
        changed = employee | {"roles": ["SALES_SENIOR"]}
        assert (await as_admin(first, UPSERT_EMPLOYEE, changed)).ok()
        assert (await me(second, employee["hrId"])).ok()["me"]["roles"] == ["SALES_SENIOR"]
        # ...and the departure through the second, refused by the first.
        assert (await as_admin(second, UPSERT_EMPLOYEE, departure(changed, "LEFT"))).ok()
        assert_forbidden(await me(first, employee["hrId"]))
        assert_forbidden(await me(second, employee["hrId"]))


@asynccontextmanager
async def replica(suite: Suite) -> AsyncIterator[httpx.AsyncClient]:
    """One more gateway replica (its own principal cache) over the suite's services."""
    app = create_app(GatewaySettings(**suite.settings))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://replica.test", timeout=30
        ) as client,
    ):
        yield client


async def as_admin(
    client: httpx.AsyncClient, mutation: str, values: dict[str, Any]
) -> GraphQLResult:
    response = await client.post(
        "/graphql",
        json={"query": mutation, "variables": {"input": values}},
        headers={"Authorization": f"Bearer {Suite.token('admin')}"},
    )
    return GraphQLResult(response.status_code, response.json())


# -- a websocket sees the change on its next operation and alert --------------------------------


async def test_live_feed_ends_on_the_next_alert_with_a_warm_cache(suite: Suite) -> None:
    org = await make_org(suite)
    manager = {
        "hrId": org.manager_2,
        "name": "周经理",
        "roles": ["MANAGER"],
        "branchId": global_id("Branch", org.branch),
        "status": "ACTIVE",
    }
    # The gateway's default cache: the principal is resolved once and then held.
    mock_locations = {"filter": {"kinds": ["MOCK_LOCATION"]}}
    async with watching_alerts(suite, mock_locations, org.manager_2) as (leaver,):
        await mock_location_check_in(suite, org.junior)
        assert (await leaver.next_alert("MOCK_LOCATION", within=5))["employee"] == {
            "id": employee_id(org.junior)
        }
        await admin(suite, UPSERT_EMPLOYEE, manager | {"status": "LEFT", "toPool": True})
        await mock_location_check_in(suite, org.junior)
        ended = await leaver.receive(5)
        assert ended["type"] == "next" and ended["payload"].get("data") is None, ended
        assert [e["extensions"]["code"] for e in ended["payload"]["errors"]] == ["FORBIDDEN"]
        assert (await leaver.receive(5))["type"] == "complete"


# -- the directory down: fail closed, and distrust the cache after --------------------------------

StartSuite = Callable[[], Awaitable[Suite]]


@pytest.fixture(params=["full", "embedded"])
async def own_suite(
    request: pytest.FixtureRequest, full_suite_factory: SuiteFactory, tmp_path: Path
) -> AsyncIterator[Suite]:
    """A suite of this test's own: the test stops and restarts its people directory."""
    if request.param == "full":
        yield await full_suite_factory()
        return
    started = await Suite.start(Backends(), tmp_path)
    yield started
    await started.stop()


async def test_directory_down_fails_closed_not_from_a_stale_cache(own_suite: Suite) -> None:
    suite = own_suite
    org = await make_org(suite)
    await warm(suite, org.junior)
    attendance = suite.running["attendance"]
    settings, port = attendance.runtime.settings, attendance.port
    await attendance.stop()

    # While the directory is down HR's system suspends the rep (the database is the truth):
    # no gateway can be told, so none may answer from what it held before.
    db = Database(settings.database_url_for("attendance"))
    try:
        async with db.transaction() as session:
            await session.execute(
                update(Employee).where(Employee.id == org.junior).values(status="SUSPENDED")
            )
    finally:
        await db.dispose()
    down = await me(suite, org.junior)
    assert down.status == 503 and down.codes == ["UNAVAILABLE"], down.body

    # Back up: once the gateway reaches it again (its channel retries with a backoff), the
    # first answer is the directory's, never the cache's.
    suite.running["attendance"] = await attendance_app.start(settings, port=port)
    deadline = time.monotonic() + 15
    while (answer := await me(suite, org.junior)).status == 503:
        assert time.monotonic() < deadline, answer.body
        await asyncio.sleep(0.1)
    assert_forbidden(answer)
    assert (await me(suite, org.junior_mate)).ok()["me"]["hrId"] == org.junior_mate


async def test_claim_by_a_departed_rep_is_refused_through_the_gateway(suite: Suite) -> None:
    """The pool: a suspended rep's warm token claims nothing."""
    org = await make_org(suite)
    employee = rep(org)
    await admin(suite, UPSERT_EMPLOYEE, employee)
    pooled = await pooled_customer(suite, org, org.junior_b, "赵强", org.team_b)
    await warm(suite, employee["hrId"])
    await admin(suite, UPSERT_EMPLOYEE, employee | {"status": "SUSPENDED"})
    claimed = await suite.gql(CLAIM, {"input": {"customerId": pooled["id"]}}, as_=employee["hrId"])
    assert_forbidden(claimed)
    assert await customers_owned_by(suite, employee["hrId"]) == 0
