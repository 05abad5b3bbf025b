"""Both policy backends give the same decisions, and an unreachable engine denies."""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

import pytest

from salesguard.errors import Forbidden, PolicyUnavailable
from salesguard.policy import (
    DECISION_PATH,
    THRESHOLDS_PATH,
    EmbeddedPolicyEngine,
    OpaServerPolicyEngine,
    PolicyClient,
    ScopeColumns,
    scope_filter,
)
from salesguard.principal import Principal
from salesguard_attendance.models import Alert as AttendanceAlert
from tests.harness import POLICIES
from tests.support.servers import OpaServer, free_port

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
# The case actions' row limits (nobody reads their own case, SPEC §2) with the role mixes that merge them,
# and resources about the subject or someone else, of a finance kind or not.
CASE_ACTIONS = ["alerts.read", "risk.read", "timeline.read", "alerts.update"]
CASE_ROLES = [*ROLES, ["MANAGER", "FINANCE"], ["HR", "FINANCE"], ["HR", "MANAGER"]]
CASE_RESOURCES: list[dict[str, Any] | None] = [
    None,
    {"employee_id": "e-1", "team_id": "t-1", "branch_id": "b-1", "kind": "PAYER_MISMATCH"},
    {"employee_id": "e-2", "branch_id": "b-1", "kind": "PHOTO_REUSED", "status": "OPEN"},
    {"employee_id": "e-3", "branch_id": "b-2", "status": "RESOLVED"},
]


def cases() -> list[dict[str, Any]]:
    table = []
    for roles, action, resource, hq in [
        *itertools.product(ROLES, [*ACTIONS, "customers.delete"], RESOURCES, (False, True)),
        *itertools.product(CASE_ROLES, CASE_ACTIONS, CASE_RESOURCES, (False, True)),
    ]:
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


class Holders:
    """The directory's answer, as the services' DirectorySubjectRoles gives it."""

    def __init__(self, holders: frozenset[str]) -> None:
        self.holders_of = holders
        self.asked: list[frozenset[str]] = []

    async def holders(self, roles: frozenset[str]) -> frozenset[str]:
        self.asked.append(roles)
        return self.holders_of


async def test_hidden_subject_roles_are_resolved_once_per_decision() -> None:
    holders = Holders(frozenset({"m-1", "m-2"}))
    client = PolicyClient(EmbeddedPolicyEngine(POLICIES), subject_roles=holders)
    manager = Principal("m-1", ("MANAGER",), None, "b-1")
    decision = await client.decide(manager, "alerts.read")
    assert holders.asked == [frozenset({"MANAGER"})]
    [grant] = decision.grants
    assert grant.outside_subjects == {"m-1", "m-2"}
    assert grant.admits("j-1", "LATE_REGISTRATION") and not grant.admits("m-2", None)
    assert decision.about("j-1").grants[0].outside_subjects == frozenset()
    with pytest.raises(Forbidden) as own:
        decision.about("m-1")
    assert own.value.details["reason"] == "OWN_CASE"
    with pytest.raises(Forbidden) as peer:
        decision.about("m-2")
    assert peer.value.details["reason"] == "CASE_FOR_SUPERIORS"
    # Decisions without hidden roles ask nobody.
    await client.decide(manager, "customers.read")
    assert len(holders.asked) == 1


async def test_hidden_subject_roles_without_a_directory_fail_closed() -> None:
    client = PolicyClient(EmbeddedPolicyEngine(POLICIES))
    with pytest.raises(PolicyUnavailable):
        await client.decide(Principal("m-1", ("MANAGER",), None, "b-1"), "alerts.read")


async def test_finance_alert_filter_is_one_condition_on_kind_and_subject() -> None:
    client = PolicyClient(EmbeddedPolicyEngine(POLICIES))
    decision = await client.decide(
        Principal("f-1", ("FINANCE",), None, "b-hq", hq=True), "alerts.read"
    )
    columns = ScopeColumns(
        owner=AttendanceAlert.employee_id,
        branch=AttendanceAlert.branch_id,
        subject=AttendanceAlert.employee_id,
        kind=AttendanceAlert.kind,
    )
    sql = str(scope_filter(decision, columns).compile(compile_kwargs={"literal_binds": True}))
    assert (
        "alerts.kind IN ('ATTRIBUTION_MISMATCH', 'DIVERSION_RISK', 'FAKE_DEAL_SUSPECTED', " in sql
    )
    assert "alerts.employee_id IS NULL OR (alerts.employee_id NOT IN ('f-1'))" in sql
    # A table without a kind column cannot apply the grant: it covers nothing there.
    without_kind = ScopeColumns(
        owner=AttendanceAlert.employee_id, subject=AttendanceAlert.employee_id
    )
    assert str(scope_filter(decision, without_kind)) == "false"


async def test_a_pooled_connection_the_engine_closed_is_retried_not_denied() -> None:
    """A keep-alive connection the server drops between requests (an idle timeout, a proxy
    or a sidecar restart) must not turn a healthy engine into a denial: the query is a
    pure read, so it is asked once more on a fresh connection."""
    connections = 0

    async def answer_once_then_drop(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        nonlocal connections
        connections += 1
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        await reader.readexactly(length)
        body = json.dumps({"result": {"allow": True}}).encode()
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        # Keep the connection pooled on the client's side, then drop it at its next request.
        await reader.read(1)
        writer.close()

    server = await asyncio.start_server(answer_once_then_drop, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    engine = OpaServerPolicyEngine(f"http://127.0.0.1:{port}", timeout_seconds=5)
    try:
        for _ in range(3):
            assert await engine.evaluate(DECISION_PATH, {"action": "customers.read"}) == {
                "allow": True
            }
    finally:
        await engine.close()
        server.close()
        await server.wait_closed()
    assert connections >= 3  # each later query met a dropped connection and asked again
