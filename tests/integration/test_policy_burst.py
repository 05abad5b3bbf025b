"""A burst of first decisions (a thousand subscribers opening their watches at once, each a
principal of their own) reaches OPA as a bounded number of queries and is decided well
inside the engine's timeout; an engine that is down or hangs still denies every one."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

import pytest

from salesguard.errors import PolicyUnavailable
from salesguard.policy import OpaServerPolicyEngine, PolicyClient
from salesguard.policy.client import MAX_CONCURRENT_EVALUATIONS
from salesguard.principal import Principal
from tests.support.servers import OpaServer, free_port


class InFlight:
    """A real engine, noting how many of its queries are in flight at once."""

    def __init__(self, engine: OpaServerPolicyEngine) -> None:
        self._engine = engine
        self.now = 0
        self.most = 0

    async def evaluate(self, path: str, input_document: Mapping[str, Any] | None) -> Any:
        self.now += 1
        self.most = max(self.most, self.now)
        try:
            return await self._engine.evaluate(path, input_document)
        finally:
            self.now -= 1

    async def healthy(self) -> bool:
        return await self._engine.healthy()

    async def close(self) -> None:
        await self._engine.close()


def hr(index: int) -> Principal:
    return Principal(f"hr-{index}", ("HR",), None, "b-1")


async def test_three_thousand_first_decisions_at_once_are_all_decided(
    opa_server: OpaServer,
) -> None:
    # Three services' clients (one per process), a thousand distinct principals each: none
    # shares a kept or pending decision. Unbounded, the queries queued in the HTTP client
    # against their 2 s timeout and 1,269 of the 3,000 were refused.
    engines = [InFlight(OpaServerPolicyEngine(opa_server.url, 2.0)) for _ in range(3)]
    clients = [PolicyClient(engine, decision_ttl_seconds=60) for engine in engines]
    try:
        started = time.monotonic()
        decisions = await asyncio.gather(
            *(
                client.decide(hr(index), "alerts.read")
                for client in clients
                for index in range(1000)
            )
        )
        took = time.monotonic() - started
    finally:
        for client in clients:
            await client.close()
    assert len(decisions) == 3000 and all(decision.allow for decision in decisions)
    assert all(engine.most <= MAX_CONCURRENT_EVALUATIONS for engine in engines)
    assert took < 15, f"the burst took {took:.1f} s"


async def test_a_burst_on_an_unreachable_engine_is_denied_every_time() -> None:
    client = PolicyClient(OpaServerPolicyEngine(f"http://127.0.0.1:{free_port()}", 1.0))
    try:
        failures = await asyncio.gather(
            *(client.decide(hr(index), "alerts.read") for index in range(200)),
            return_exceptions=True,
        )
    finally:
        await client.close()
    assert all(isinstance(failure, PolicyUnavailable) for failure in failures)


async def test_a_decision_that_cannot_get_its_turn_is_refused() -> None:
    """An engine that accepts queries and never answers holds every slot until its timeout:
    the callers queued behind them are refused after queue_seconds, never allowed."""
    hanging: list[asyncio.StreamWriter] = []

    async def never_answer(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        hanging.append(writer)

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = PolicyClient(
        OpaServerPolicyEngine(f"http://127.0.0.1:{port}", 5.0), max_concurrent=2, queue_seconds=0.5
    )
    try:
        waiting = [
            asyncio.ensure_future(client.decide(hr(index), "alerts.read")) for index in range(6)
        ]
        done, _ = await asyncio.wait(waiting, timeout=2)
        # The four behind the two hanging queries were refused after their half second.
        assert len(done) == 4
        assert all(isinstance(task.exception(), PolicyUnavailable) for task in done)
        with pytest.raises(PolicyUnavailable):  # the two in flight time out: denied too
            await asyncio.gather(*waiting)
    finally:
        await client.close()
        for writer in hanging:
            writer.close()
        server.close()
        await server.wait_closed()
