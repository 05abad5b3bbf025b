"""GraphQL subscriptions as a frontend makes them: the gateway under uvicorn, a real websocket.

``serve_gateway`` runs a gateway over the suite's services on a free loopback
port; ``GraphQLWebSocket`` speaks graphql-transport-ws to it with the
``websockets`` client. ``mock_location_alert_reaches_its_subscribers`` is the
live-alert story both profiles must pass (PostgreSQL NOTIFY and SQLite polling).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import uvicorn
from websockets.asyncio.client import ClientConnection, connect

from salesguard_gateway.app import create_app
from salesguard_gateway.serving import uvicorn_config
from salesguard_gateway.settings import GatewaySettings
from tests.harness import Suite, employee_id
from tests.org import Org, add_other_branch_rep
from tests.support.servers import free_port

PROTOCOL = "graphql-transport-ws"
ALERT_RAISED = """
subscription($filter: AlertFilter) {
  alertRaised(filter: $filter) {
    id kind source title message status employee { id } history { status }
  }
}
"""
CHECK_IN = """
mutation($input: CheckInInput!) { checkIn(input: $input) { checkIn { id verdict } } }
"""
# Somewhere in Shanghai, far from any customer.
SOMEWHERE = {"lat": 31.30, "lng": 121.60}


@asynccontextmanager
async def serve_gateway(
    suite: Suite, *, port: int | None = None, **overrides: Any
) -> AsyncIterator[str]:
    """A gateway over the suite's services (with setting ``overrides``), served by uvicorn
    on ``port`` (a free one if omitted: a suite whose public_url names it signs URLs the
    browser can load from it); yields its ws:// GraphQL URL."""
    port = port or free_port()
    app = create_app(GatewaySettings(**{**suite.settings, **overrides}))
    server = uvicorn.Server(uvicorn_config(app, host="127.0.0.1", port=port, lifespan="on"))
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if serving.done():
                serving.result()  # raises why it could not start
            await asyncio.sleep(0.02)
        yield f"ws://127.0.0.1:{port}/graphql"
    finally:
        server.should_exit = True
        await serving


class GraphQLWebSocket:
    """One graphql-transport-ws connection, acknowledged, acting as one employee."""

    def __init__(self, connection: ClientConnection) -> None:
        self._connection = connection
        self._ids = 0

    @classmethod
    @asynccontextmanager
    async def open(
        cls, url: str, token: str, *, accept_language: str = "en"
    ) -> AsyncIterator[GraphQLWebSocket]:
        async with connect(
            url,
            subprotocols=[PROTOCOL],  # type: ignore[list-item]
            additional_headers={"Accept-Language": accept_language},
            proxy=None,
        ) as connection:
            await connection.send(
                json.dumps(
                    {"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}
                )
            )
            ack = json.loads(await asyncio.wait_for(connection.recv(), 10))
            assert ack["type"] == "connection_ack", ack
            yield cls(connection)

    async def subscribe(self, query: str, variables: dict[str, Any] | None = None) -> str:
        self._ids += 1
        operation = str(self._ids)
        payload = {"query": query, "variables": variables or {}}
        await self._connection.send(
            json.dumps({"id": operation, "type": "subscribe", "payload": payload})
        )
        return operation

    async def complete(self, operation: str) -> None:
        await self._connection.send(json.dumps({"id": operation, "type": "complete"}))

    async def receive(self, within: float) -> dict[str, Any]:
        """The next message of any operation (pings answered on the way)."""
        deadline = time.monotonic() + within
        while True:
            remaining = deadline - time.monotonic()
            message = json.loads(await asyncio.wait_for(self._connection.recv(), remaining))
            if message["type"] == "ping":
                await self._connection.send(json.dumps({"type": "pong"}))
                continue
            return dict(message)

    async def next_alert(self, kind: str, within: float) -> dict[str, Any]:
        """The next alert of ``kind`` this connection's subscription sends (others skipped)."""
        deadline = time.monotonic() + within
        while True:
            message = await self.receive(deadline - time.monotonic())
            assert message["type"] == "next" and "errors" not in message["payload"], message
            alert = message["payload"]["data"]["alertRaised"]
            if alert["kind"] == kind:
                return dict(alert)

    async def nothing_within(self, seconds: float) -> None:
        """Asserts that no message arrives for ``seconds``."""
        try:
            message = await self.receive(seconds)
        except TimeoutError:
            return
        raise AssertionError(f"expected nothing, got {message}")


# The services a subscription watches (the gateway's alert sources): one watch in each.
ALERT_SOURCES: tuple[str, ...] = GatewaySettings.model_fields["alert_sources"].default
SOURCES = len(ALERT_SOURCES)


def watcher_count(suite: Suite) -> int:
    return sum(suite.running[name].runtime.alert_feed.watcher_count for name in ALERT_SOURCES)


async def until_watching(suite: Suite, count: int, within: float = 10.0) -> None:
    """Until the services hold ``count`` watches in all (a subscription is one per source)."""
    deadline = time.monotonic() + within
    while watcher_count(suite) != count:
        assert time.monotonic() < deadline, f"{watcher_count(suite)} watches, not {count}"
        await asyncio.sleep(0.02)


async def watch_alerts(
    suite: Suite, base: int, variables: dict[str, Any], *sockets: GraphQLWebSocket
) -> None:
    """Subscribe each socket to alertRaised with ``variables``, then wait until every source
    watches for each of them (on top of the ``base`` watches held before)."""
    for socket in sockets:
        await socket.subscribe(ALERT_RAISED, variables)
    await until_watching(suite, base + SOURCES * len(sockets))


@asynccontextmanager
async def watching_alerts(
    suite: Suite, variables: dict[str, Any], *employees: str, **overrides: Any
) -> AsyncIterator[list[GraphQLWebSocket]]:
    """A gateway over the suite's services (with setting ``overrides``) and a websocket per
    employee, each subscribed to alertRaised with ``variables`` and watched for by every
    source; the sockets, in the employees' order."""
    base = watcher_count(suite)
    async with serve_gateway(suite, **overrides) as url, AsyncExitStack() as stack:
        sockets = [
            await stack.enter_async_context(GraphQLWebSocket.open(url, suite.token(employee)))
            for employee in employees
        ]
        await watch_alerts(suite, base, variables, *sockets)
        yield sockets


async def mock_location_check_in(suite: Suite, employee_id: str) -> float:
    """A check-in whose device reports a mock location (a MOCK_LOCATION alert); when it returned."""
    values = {
        "at": datetime.now(UTC).isoformat(),
        "location": SOMEWHERE,
        "accuracyM": 10.0,
        "deviceId": "phone-1",
        "mockLocation": True,
    }
    (await suite.gql(CHECK_IN, {"input": values}, as_=employee_id)).ok()
    return time.monotonic()


async def mock_location_alert_reaches_its_subscribers(suite: Suite, org: Org) -> None:
    """HR and the branch's manager get the alert within a second, localised; the other branch's
    manager never does (but does get their own branch's); a junior rep is refused."""
    other_rep = await add_other_branch_rep(suite, org)
    base = watcher_count(suite)
    async with AsyncExitStack() as stack, serve_gateway(suite) as url:

        async def open_as(employee_id: str, language: str) -> GraphQLWebSocket:
            return await stack.enter_async_context(
                GraphQLWebSocket.open(url, suite.token(employee_id), accept_language=language)
            )

        hr = await open_as(org.hr, "zh-CN,zh;q=0.9,en;q=0.5")
        manager = await open_as(org.manager, "en-GB")
        other_manager = await open_as(org.other_manager, "en")
        junior = await open_as(org.junior, "en")

        # The junior rep may read no alerts: an error, never data, and the operation ends.
        await junior.subscribe(ALERT_RAISED)
        refused = await junior.receive(10)
        assert refused["type"] == "next" and refused["payload"].get("data") is None, refused
        assert [e["extensions"]["code"] for e in refused["payload"]["errors"]] == ["FORBIDDEN"]
        assert (await junior.receive(10))["type"] == "complete"

        hr_operation = await hr.subscribe(
            ALERT_RAISED, {"filter": {"employeeId": employee_id(org.junior)}}
        )
        await manager.subscribe(ALERT_RAISED, {"filter": {"kinds": ["MOCK_LOCATION"]}})
        await other_manager.subscribe(ALERT_RAISED)
        await until_watching(suite, base + 3 * SOURCES)

        raised_at = await mock_location_check_in(suite, org.junior)
        to_hr = await hr.next_alert("MOCK_LOCATION", within=5)
        hr_latency = time.monotonic() - raised_at
        to_manager = await manager.next_alert("MOCK_LOCATION", within=5)
        manager_latency = time.monotonic() - raised_at
        assert hr_latency < 1.0, f"HR got the alert after {hr_latency:.3f} s"
        assert manager_latency < 1.0, f"the manager got the alert after {manager_latency:.3f} s"
        assert to_hr["id"] == to_manager["id"]
        assert to_hr["employee"] == {"id": employee_id(org.junior)}
        assert (to_hr["source"], to_hr["status"], to_hr["history"]) == ("attendance", "OPEN", [])
        assert to_hr["title"] == "模拟定位"  # in the language of the websocket's Accept-Language
        assert to_manager["title"] == "Simulated location"

        # The other branch's manager: their own branch's alert, never the first one.
        await mock_location_check_in(suite, other_rep)
        theirs = await other_manager.next_alert("MOCK_LOCATION", within=5)
        assert theirs["employee"] == {"id": employee_id(other_rep)}
        await other_manager.nothing_within(0.5)
        # ...and the first branch's manager does not get the other branch's.
        await manager.nothing_within(0.5)

        # Completing a subscription ends its watches in every service.
        await hr.complete(hr_operation)
        await until_watching(suite, base + 2 * SOURCES)
    # Closing the websockets (and the gateway) ends the rest.
    await until_watching(suite, base)
