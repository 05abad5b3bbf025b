"""What a directory change costs and how fast it reaches a gateway (a leaver, SPEC §2).

The suite runs in one process as the tests run it (real gRPC servers on loopback,
the gateway's ASGI app behind httpx), full profile (PostgreSQL, an OPA server) or
embedded (SQLite, regopy). It prints:

- ``{ me { id } }`` latency with the gateway's principal cache (the default) and
  without it (``principal_cache_seconds=0``: one ResolvePrincipal per request);
- ``registerCustomer`` for oneself (the customers service checks the owner);
- ``upsertEmployee`` setting an employee SUSPENDED and back;
- how long after an ``upsertEmployee`` (status SUSPENDED, through one gateway) a
  second gateway replica that held the employee's principal still answered them.

    uv run python -m benchmarks.directory_changes [--profile full|embedded] [--rounds 500]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from benchmarks.support import HEADER, summary
from salesguard_gateway.app import create_app
from salesguard_gateway.settings import GatewaySettings
from tests.harness import POLICIES, SERVICES, Backends, Suite, global_id
from tests.org import UPSERT_EMPLOYEE, admin, make_org, new_phone
from tests.support.servers import OpaServer, PostgresDatabases

ME = {"query": "{ me { id } }"}
REGISTER = """
mutation($input: RegisterCustomerInput!) { registerCustomer(input: $input) { customer { id } } }
"""
# How long a stale principal is looked for before giving up (the old cache held 30 s).
PROPAGATION_LIMIT_SECONDS = 40.0


async def timed(rounds: int, *calls: Callable[[], Awaitable[Any]]) -> list[list[float]]:
    """Milliseconds per call of each of ``calls``, taken in alternation (drift on a shared
    machine affects them alike)."""
    for _ in range(min(20, rounds)):  # warm-up: connections, caches, the watch
        for call in calls:
            await call()
    samples: list[list[float]] = [[] for _ in calls]
    for _ in range(rounds):
        for call, taken in zip(calls, samples, strict=True):
            started = time.perf_counter()
            await call()
            taken.append((time.perf_counter() - started) * 1000)
    return samples


@asynccontextmanager
async def gateway(suite: Suite, **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
    """One more gateway replica over the suite's services, started and stopped as uvicorn would."""
    app = create_app(GatewaySettings(**{**suite.settings, **overrides}))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://bench"
        ) as client,
    ):
        yield client


async def measure(suite: Suite, rounds: int) -> None:
    org = await make_org(suite)
    junior = {"Authorization": f"Bearer {suite.token(org.junior)}"}

    async def me_via(client: httpx.AsyncClient) -> None:
        response = await client.post("/graphql", json=ME, headers=junior)
        assert response.status_code == 200, response.text

    async def register() -> None:
        values = {
            "name": f"Bench {time.perf_counter_ns()}",
            "phone": new_phone(),
            "source": "WEBSITE",
            "firstContactAt": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
        }
        (await suite.gql(REGISTER, {"input": values}, as_=org.junior)).ok()

    employee = {
        "hrId": f"{org.branch}-bench",
        "name": "Bench",
        "roles": ["SALES_JUNIOR"],
        "teamId": global_id("Team", org.team_a),
        "branchId": global_id("Branch", org.branch),
        "status": "ACTIVE",
    }
    await admin(suite, UPSERT_EMPLOYEE, employee)
    flips = iter(range(10**9))

    async def upsert() -> None:
        status = "SUSPENDED" if next(flips) % 2 == 0 else "ACTIVE"
        await admin(suite, UPSERT_EMPLOYEE, employee | {"status": status})

    async with gateway(suite, principal_cache_seconds=0) as uncached:
        cached, not_cached = await timed(
            rounds, lambda: me_via(suite.client), lambda: me_via(uncached)
        )
    (registering,) = await timed(max(rounds // 5, 20), register)
    (upserting,) = await timed(max(rounds // 10, 20), upsert)
    print(HEADER)
    print(summary("{ me { id } }, principal cached", cached))
    print(summary("{ me { id } }, not cached", not_cached))
    print(summary("registerCustomer (own)", registering))
    print(summary("upsertEmployee (status flip)", upserting))
    await admin(suite, UPSERT_EMPLOYEE, employee)
    print(f"  stale answers after a change: {await propagation(suite, employee)}")


async def propagation(suite: Suite, employee: dict[str, Any]) -> str:
    """Seconds and requests a second replica still answered a suspended employee."""
    headers = {"Authorization": f"Bearer {suite.token(employee['hrId'])}"}
    async with gateway(suite) as replica:
        for _ in range(3):
            assert (await replica.post("/graphql", json=ME, headers=headers)).status_code == 200
        await admin(suite, UPSERT_EMPLOYEE, employee | {"status": "SUSPENDED"})
        changed = time.perf_counter()
        stale = 0
        while time.perf_counter() - changed < PROPAGATION_LIMIT_SECONDS:
            response = await replica.post("/graphql", json=ME, headers=headers)
            if response.status_code == 403:
                return f"{stale} requests during {time.perf_counter() - changed:.3f} s"
            stale += 1
            await asyncio.sleep(0.01)
        return f"{stale} requests, still answered after {PROPAGATION_LIMIT_SECONDS:.0f} s"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--profile", choices=("full", "embedded"), default="full")
    parser.add_argument("--rounds", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        if args.profile == "embedded":
            suite = await Suite.start(Backends(), Path(scratch))
            try:
                await measure(suite, args.rounds)
            finally:
                await suite.stop()
            return
        databases = PostgresDatabases()
        with OpaServer(POLICIES) as opa:
            backends = Backends(
                database_urls={name: await databases.create(name) for name in SERVICES},
                opa_url=opa.url,
            )
            suite = await Suite.start(backends, Path(scratch))
            try:
                await measure(suite, args.rounds)
            finally:
                await suite.stop()
                await databases.drop_all()


if __name__ == "__main__":
    asyncio.run(main())
