"""Fixtures: the real attendance and customers services (embedded profile), the gateway in front.

Every test talks to the gateway's ASGI app, which calls real ``grpc.aio``
servers on loopback over SQLite files, in-process Rego (regopy) and a local
object folder. Tests that leave the services running share one session suite
and keep out of each other's way by working in an org (branch, teams, people)
of their own; tests that stop a service or need other gateway settings start
a suite of their own with ``start_suite``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from gateway.tests.orders_support import Shop
from gateway.tests.support import Spans
from tests.harness import Backends, Suite, employee_id, global_id
from tests.org import UPSERT_EMPLOYEE, Org, admin, make_org, register


@pytest.fixture(scope="session")
def spans() -> Spans:
    return Spans()


@pytest.fixture
def calls(spans: Spans) -> Callable[[], list[str]]:
    """The RPCs the services served since the test started (from their server spans)."""
    spans.clear()
    return spans.served


@pytest.fixture(scope="session")
async def suite(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Suite]:
    """The suite most gateway tests share.

    Principals are not cached: each request resolves its caller once (a fixed
    number of calls to count) and a directory change shows on the next request.
    """
    suite = await Suite.start(
        Backends(),
        tmp_path_factory.mktemp("gateway-suite"),
        gateway_overrides={"principal_cache_seconds": 0},
    )
    yield suite
    await suite.stop()


StartSuite = Callable[..., Awaitable[Suite]]


@pytest.fixture
async def start_suite(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[StartSuite]:
    """Suites of this test's own, with gateway setting overrides: ``await start_suite(**overrides)``."""
    started: list[Suite] = []

    async def start(**gateway_overrides: Any) -> Suite:
        suite = await Suite.start(
            Backends(), tmp_path_factory.mktemp("own-suite"), gateway_overrides=gateway_overrides
        )
        started.append(suite)
        return suite

    yield start
    for suite in started:
        await suite.stop()


@dataclass(frozen=True)
class World:
    """An org whose junior reports to the senior, with customers of both (registered in turn)."""

    org: Org
    # Oldest first.
    customers: list[dict[str, Any]]


WORLD_CUSTOMERS = 60


@pytest.fixture(scope="session")
async def world(suite: Suite) -> World:
    org = await make_org(suite)
    await admin(
        suite,
        UPSERT_EMPLOYEE,
        {
            "hrId": org.junior,
            "name": "李雷",
            "roles": ["SALES_JUNIOR"],
            "teamId": global_id("Team", org.team_a),
            "branchId": global_id("Branch", org.branch),
            "managerId": employee_id(org.senior),
            "status": "ACTIVE",
        },
    )
    customers = [
        await register(suite, org.junior if number % 2 else org.senior)
        for number in range(WORLD_CUSTOMERS)
    ]
    return World(org, customers)


@pytest.fixture(scope="module")
async def org(suite: Suite) -> Org:
    """An org of the test module's own, in the shared suite."""
    return await make_org(suite)


@pytest.fixture(scope="module")
async def shop(suite: Suite) -> Shop:
    """The orders tests' org of the module's own, with a customer of the junior's and one of
    the manager's."""
    org = await make_org(suite)
    return Shop(
        org=org,
        customer=await register(suite, org.junior),
        managers_customer=await register(suite, org.manager),
    )
