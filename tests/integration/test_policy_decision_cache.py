"""Services keep a policy decision for a few seconds: same input, same answer, one engine
call. What may not happen: a role change, a transfer or another resource reusing
someone else's answer; a failure kept; a policy the security team loads ignored for
longer than the cache's lifetime."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from salesguard.errors import PolicyUnavailable
from salesguard.policy import (
    DECISION_PATH,
    EmbeddedPolicyEngine,
    OpaServerPolicyEngine,
    PolicyClient,
)
from salesguard.principal import Principal
from tests.harness import POLICIES
from tests.support.servers import OpaServer

JUNIOR = Principal("j-1", ("SALES_JUNIOR",), "t-1", "b-1")


class CountingEngine:
    """The real embedded engine, counting what reaches it; can be made to fail."""

    def __init__(self) -> None:
        self._engine = EmbeddedPolicyEngine(POLICIES)
        self.inputs: list[Mapping[str, Any] | None] = []
        self.failing = False

    async def evaluate(self, path: str, input_document: Mapping[str, Any] | None) -> Any:
        self.inputs.append(input_document)
        if self.failing:
            raise ConnectionError("engine down")
        return await self._engine.evaluate(path, input_document)

    async def healthy(self) -> bool:
        return True

    async def close(self) -> None:
        await self._engine.close()


async def test_the_same_input_is_decided_once_within_the_lifetime() -> None:
    engine = CountingEngine()
    client = PolicyClient(engine, decision_ttl_seconds=60)
    first = await client.decide(JUNIOR, "customers.read")
    again = await client.decide(JUNIOR, "customers.read")
    assert again == first and [g.scope.kind for g in first.grants] == ["own"]
    resource = {"owner_id": "j-1", "team_id": "t-1", "branch_id": "b-1", "fields": ["phone"]}
    assert (await client.decide(JUNIOR, "customers.update", resource)).allow
    # The same resource with its keys in another order is the same input.
    await client.decide(JUNIOR, "customers.update", dict(reversed(resource.items())))
    assert len(engine.inputs) == 2


async def test_anything_the_gateway_resolves_per_request_is_decided_afresh() -> None:
    """A promotion, a transfer or another caller never gets a kept answer."""
    engine = CountingEngine()
    client = PolicyClient(engine, decision_ttl_seconds=60)
    junior = await client.decide(JUNIOR, "customers.read")
    promoted = await client.decide(
        Principal("j-1", ("SALES_SENIOR",), "t-1", "b-1"), "customers.read"
    )
    assert [g.scope.kind for g in junior.grants] == ["own"]
    assert [g.scope.kind for g in promoted.grants] == ["own", "team"]
    moved = await client.decide(Principal("j-1", ("SALES_SENIOR",), "t-2", "b-1"), "customers.read")
    assert moved.grants[1].scope.team_id == "t-2"
    other = await client.decide(Principal("j-2", ("SALES_JUNIOR",), "t-1", "b-1"), "customers.read")
    assert other.grants[0].scope.employee_id == "j-2"
    branch_manager = await client.decide(
        Principal("m", ("MANAGER",), None, "b-1", hq=False), "customers.read"
    )
    widened = await client.decide(
        Principal("m", ("MANAGER",), None, "b-1", hq=True), "customers.read"
    )
    assert [g.scope.kind for g in branch_manager.grants] == ["branch"]
    assert [g.scope.kind for g in widened.grants] == ["all"]
    own = {"owner_id": "j-1", "team_id": "t-1", "branch_id": "b-1", "fields": ["phone"]}
    assert (await client.decide(JUNIOR, "customers.update", own)).allow
    foreign = {**own, "owner_id": "j-9"}
    assert not (await client.decide(JUNIOR, "customers.update", foreign)).allow
    assert len(engine.inputs) == 8  # each one asked


async def test_a_failure_is_never_kept_and_an_expired_answer_is_asked_again() -> None:
    engine = CountingEngine()
    client = PolicyClient(engine, decision_ttl_seconds=0.2)
    engine.failing = True
    with pytest.raises(PolicyUnavailable):
        await client.decide(JUNIOR, "customers.read")
    engine.failing = False
    assert (await client.decide(JUNIOR, "customers.read")).allow
    await asyncio.sleep(0.25)
    engine.failing = True
    with pytest.raises(PolicyUnavailable):  # expired: the engine's failure denies
        await client.decide(JUNIOR, "customers.read")
    assert len(engine.inputs) == 3


async def test_without_a_lifetime_every_decision_reaches_the_engine() -> None:
    engine = CountingEngine()
    client = PolicyClient(engine, decision_ttl_seconds=0)
    for _ in range(3):
        await client.decide(JUNIOR, "customers.read")
    assert len(engine.inputs) == 3


async def test_hidden_subjects_follow_the_directory_under_a_kept_decision() -> None:
    """The policy's answer is kept; who holds the hidden roles is asked per decision (the
    directory's own cache), so a new manager is hidden at once."""

    class Holders:
        def __init__(self) -> None:
            self.holders_of = frozenset({"m-1"})

        async def holders(self, roles: frozenset[str]) -> frozenset[str]:
            return self.holders_of

    holders = Holders()
    engine = CountingEngine()
    client = PolicyClient(engine, decision_ttl_seconds=60, subject_roles=holders)
    manager = Principal("m-1", ("MANAGER",), None, "b-1")
    before = await client.decide(manager, "alerts.read")
    holders.holders_of = frozenset({"m-1", "m-2"})
    after = await client.decide(manager, "alerts.read")
    assert len(engine.inputs) == 1
    assert before.grants[0].admits("m-2", None)
    assert not after.grants[0].admits("m-2", None)


async def test_a_policy_loaded_into_opa_applies_within_the_lifetime(tmp_path: Path) -> None:
    """The security team takes customers.read away from juniors on a running OPA server:
    the service's kept answer lasts its lifetime, never longer."""
    policies = tmp_path / "policies"
    shutil.copytree(POLICIES, policies)
    ttl = 2.0
    with OpaServer(policies, watch=True) as opa:
        client = PolicyClient(OpaServerPolicyEngine(opa.url, 2), decision_ttl_seconds=ttl)
        try:
            assert (await client.decide(JUNIOR, "customers.read")).allow
            kept_at = time.monotonic()
            tiers = policies / "salesguard" / "tiers" / "data.json"
            data = json.loads(tiers.read_text())
            del data["actions"]["customers.read"]["roles"]["SALES_JUNIOR"]
            tiers.write_text(json.dumps(data))
            await _until_opa_denies(opa.url)
            if time.monotonic() - kept_at < ttl * 0.9:
                assert (await client.decide(JUNIOR, "customers.read")).allow  # kept
            await asyncio.sleep(max(0.0, kept_at + ttl - time.monotonic()))
            assert not (await client.decide(JUNIOR, "customers.read")).allow
        finally:
            await client.close()


async def _until_opa_denies(url: str) -> None:
    """OPA reloads a rewritten file on its own: wait until it answers with the change."""
    policy_input = {"input": {"subject": JUNIOR.policy_subject(), "action": "customers.read"}}
    async with httpx.AsyncClient() as http:
        for _ in range(100):
            answer = await http.post(
                f"{url}/v1/data/" + DECISION_PATH.replace(".", "/"), json=policy_input
            )
            if not answer.json()["result"]["allow"]:
                return
            await asyncio.sleep(0.05)
    raise AssertionError("OPA did not load the rewritten tiers")


async def test_twenty_callers_asking_at_once_share_one_engine_call() -> None:
    """Twenty requests of one caller arriving together (a page's parallel calls, a
    reconnecting console) make one round trip, and a failure reaches them all, kept for
    none of them."""
    engine = CountingEngine()
    client = PolicyClient(engine, decision_ttl_seconds=60)
    answers = await asyncio.gather(*(client.decide(JUNIOR, "customers.read") for _ in range(20)))
    assert len(engine.inputs) == 1 and all(answer == answers[0] for answer in answers)
    engine.failing = True
    other = Principal("j-2", ("SALES_JUNIOR",), "t-1", "b-1")
    failures = await asyncio.gather(
        *(client.decide(other, "customers.read") for _ in range(20)), return_exceptions=True
    )
    assert all(isinstance(failure, PolicyUnavailable) for failure in failures)
    assert len(engine.inputs) == 2
    engine.failing = False
    assert (await client.decide(other, "customers.read")).allow
    assert len(engine.inputs) == 3


async def test_a_cancelled_caller_leaves_the_shared_call_to_the_others() -> None:
    engine = CountingEngine()
    client = PolicyClient(engine, decision_ttl_seconds=60)
    first = asyncio.ensure_future(client.decide(JUNIOR, "customers.read"))
    second = asyncio.ensure_future(client.decide(JUNIOR, "customers.read"))
    await asyncio.sleep(0)
    first.cancel()
    assert (await second).allow
    assert first.cancelled() and len(engine.inputs) == 1
