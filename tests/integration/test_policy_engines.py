"""Both policy backends give the same decisions, and an unreachable engine denies."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from salesguard.errors import PolicyUnavailable
from salesguard.policy import (
    DECISION_PATH,
    THRESHOLDS_PATH,
    EmbeddedPolicyEngine,
    OpaServerPolicyEngine,
    PolicyClient,
)
from salesguard.principal import Principal
from tests.harness import POLICIES
from tests.support.servers import OpaServer, free_port

pytestmark = pytest.mark.integration

ROLES = [
    ["SALES_JUNIOR"],
    ["SALES_SENIOR"],
    ["MANAGER"],
    ["HR"],
    ["FINANCE"],
    ["ADMIN"],
    ["SYSTEM"],
    ["MANAGER", "SALES_SENIOR"],
    [],
]
ACTIONS = json.loads((POLICIES / "salesguard/tiers/data.json").read_text())["actions"].keys()
RESOURCES: list[dict[str, Any] | None] = [
    None,
    {"owner_id": "e-1", "team_id": "t-1", "branch_id": "b-1"},
    {"owner_id": "e-2", "team_id": "t-1", "branch_id": "b-1", "fields": ["phone"]},
    {
        "owner_id": "e-3",
        "team_id": "t-2",
        "branch_id": "b-2",
        "fields": ["address"],
        "new_owner_branch_id": "b-2",
    },
    {"requester_id": "e-1", "branch_id": "b-1"},
    {"requester_id": "e-9", "branch_id": "b-1"},
]


def cases() -> list[dict[str, Any]]:
    table = []
    for roles, action, resource, hq in itertools.product(
        ROLES, [*ACTIONS, "customers.delete"], RESOURCES, (False, True)
    ):
        subject = {"id": "e-1", "roles": roles, "team": "t-1", "branch": "b-1", "hq": hq}
        table.append({"subject": subject, "action": action, "resource": resource})
    return table


async def test_opa_server_and_regopy_decide_identically(opa_server: OpaServer) -> None:
    embedded = EmbeddedPolicyEngine(POLICIES)
    server = OpaServerPolicyEngine(opa_server.url, timeout_seconds=5)
    table = cases()
    assert len(table) > 1000
    differences = []
    try:
        for policy_input in table:
            from_server = await server.evaluate(DECISION_PATH, policy_input)
            from_embedded = await embedded.evaluate(DECISION_PATH, policy_input)
            if from_server != from_embedded:
                differences.append((policy_input, from_server, from_embedded))
        assert await server.evaluate(THRESHOLDS_PATH, None) == await embedded.evaluate(
            THRESHOLDS_PATH, None
        )
    finally:
        await server.close()
    assert not differences, f"{len(differences)} differing decisions, first: {differences[0]}"
    # The table exercises both outcomes, not only refusals.
    allowed = [await embedded.evaluate(DECISION_PATH, c) for c in table[:200]]
    assert any(d["allow"] for d in allowed) and not all(d["allow"] for d in allowed)


async def test_unreachable_opa_fails_closed() -> None:
    client = PolicyClient(
        OpaServerPolicyEngine(f"http://127.0.0.1:{free_port()}", timeout_seconds=1)
    )
    with pytest.raises(PolicyUnavailable):
        await client.decide(Principal("e-1", ("MANAGER",), "t-1", "b-1"), "customers.read")
    await client.close()


async def test_junior_gets_only_their_own_customers_and_senior_a_masked_team() -> None:
    client = PolicyClient(EmbeddedPolicyEngine(POLICIES))
    junior = await client.decide(Principal("j", ("SALES_JUNIOR",), "t-1", "b-1"), "customers.read")
    assert [g.scope.kind for g in junior.grants] == ["own"]
    senior = await client.decide(Principal("s", ("SALES_SENIOR",), "t-1", "b-1"), "customers.read")
    assert senior.masks_for("s", "t-1", "b-1") == frozenset()
    assert senior.masks_for("other", "t-1", "b-1") == frozenset({"phone", "email", "address"})
    assert senior.masks_for("other", "t-2", "b-1") is None
