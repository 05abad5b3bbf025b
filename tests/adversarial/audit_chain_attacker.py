"""The audit chain's attacker and the suite under attack: the attacker's hashing (written
out from the documented entry format rather than imported from the service), the
database owner's connection, forging rows, appending honest entries, and reading
checkpoints and verification.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from salesguard_customers import audit
from salesguard_customers.audit_checkpoints import AuditCheckpoints, Checkpoint
from tests.harness import Suite
from tests.org import Org, make_org, register

SuiteFactory = Callable[[], Awaitable[Suite]]

VERIFY = """{ verifyAuditChain {
  intact checkedCount firstBrokenSeq firstBrokenId problem
  missingRange { firstSeq lastSeq } checkpointSeq checkpointAt unkeyedCount
} }"""
EVENTS = "{ auditEvents(first: 50) { edges { node { seq hash prevHash keyId } } } }"
# Short enough for a test to wait for; the production default is checked separately.
FAST_INTERVAL = "0.2"
INTERVAL_VARIABLE = "SALESGUARD_AUDIT_CHECKPOINT_INTERVAL_SECONDS"


# -- the attacker's tools ------------------------------------------------------------------


def canonical_message(prev_hash: str, row: dict[str, Any]) -> bytes:
    """What an entry's hash covers, as the entry format documents it."""
    content: dict[str, Any] = {
        name: row[name]
        for name in ("seq", "id", "actor_id", "action", "reason", "trace_id", "branch_id")
    }
    at = row["at"]
    content["at"] = (
        at.astimezone(UTC).isoformat()
        if isinstance(at, datetime)
        else datetime.fromisoformat(at).replace(tzinfo=UTC).isoformat()
    )
    for name in ("customer_ids", "fields", "before", "after"):
        value = row[name]
        content[name] = json.loads(value) if isinstance(value, str) else value
    if row.get("key_id"):
        content["key_id"] = row["key_id"]
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return f"{prev_hash}\n{text}".encode()


def sha256_hash(prev_hash: str, row: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_message(prev_hash, row)).hexdigest()


def hmac_hash(key: bytes) -> Callable[[str, dict[str, Any]], str]:
    def _hash(prev_hash: str, row: dict[str, Any]) -> str:
        return hmac.new(key, canonical_message(prev_hash, row), hashlib.sha256).hexdigest()

    return _hash


def rechain(
    rows: list[dict[str, Any]],
    from_seq: int,
    hasher: Callable[[str, dict[str, Any]], str],
    key_id: str | None = None,
) -> list[dict[str, Any]]:
    """The rows from ``from_seq`` on, re-hashed in order (with ``key_id``, when given)."""
    changed = []
    prev_hash = "0" * 64
    for row in rows:
        if row["seq"] >= from_seq:
            if key_id is not None:
                row["key_id"] = key_id
            row["prev_hash"] = prev_hash
            row["hash"] = hasher(prev_hash, row)
            changed.append(row)
        prev_hash = row["hash"]
    return changed


def database_url(suite: Suite) -> str:
    url = suite.running["customers"].runtime.settings.database_url
    return str(url).replace("postgresql+asyncpg://", "postgresql://")


@asynccontextmanager
async def database_owner(suite: Suite) -> AsyncIterator[asyncpg.Connection]:
    """The database owner's connection, with the append-only trigger dropped."""
    connection = await asyncpg.connect(database_url(suite))
    try:
        await connection.execute("DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events")
        yield connection
    finally:
        await connection.close()


async def audit_rows(connection: asyncpg.Connection) -> list[dict[str, Any]]:
    return [dict(row) for row in await connection.fetch("SELECT * FROM audit_events ORDER BY seq")]


async def write_rows(connection: asyncpg.Connection, rows: list[dict[str, Any]]) -> None:
    for row in rows:
        await connection.execute(
            "UPDATE audit_events SET actor_id = $1, prev_hash = $2, hash = $3, key_id = $4 "
            "WHERE seq = $5",
            row["actor_id"],
            row["prev_hash"],
            row["hash"],
            row["key_id"],
            row["seq"],
        )


async def forge(
    suite: Suite,
    entry: int,
    from_seq: int,
    hasher: Callable[[str, dict[str, Any]], str],
    key_id: str | None = None,
) -> dict[str, Any]:
    """As the database owner: give the ``entry``-th row another actor, then re-chain the
    rows from ``from_seq`` on (see :func:`rechain`); the rewritten row."""
    async with database_owner(suite) as connection:
        rows = await audit_rows(connection)
        rows[entry]["actor_id"] = "someone-else"
        await write_rows(connection, rechain(rows, from_seq, hasher, key_id))
    return rows[entry]


# -- the suite under attack ----------------------------------------------------------------


async def suite_under_attack(
    factory: SuiteFactory, monkeypatch: pytest.MonkeyPatch
) -> tuple[Suite, Org]:
    """A suite of its own (these tests break its chain), checkpointing every 0.2 s, and a
    company in it."""
    monkeypatch.setenv(INTERVAL_VARIABLE, FAST_INTERVAL)
    suite = await factory()
    return suite, await make_org(suite)


def checkpoints_of(suite: Suite) -> AuditCheckpoints:
    return AuditCheckpoints.of(suite.running["customers"].runtime)


async def newest_checkpoint(suite: Suite) -> Checkpoint | None:
    return (await checkpoints_of(suite).newest()).checkpoint


async def wait_for_checkpoint(suite: Suite, seq: int, within: float = 15.0) -> Checkpoint:
    deadline = time.monotonic() + within
    while True:
        found = await newest_checkpoint(suite)
        if found is not None and found.seq >= seq:
            return found
        assert time.monotonic() < deadline, f"no checkpoint of seq {seq} after {within} s"
        await asyncio.sleep(0.05)


async def entries(suite: Suite, org: Org, count: int) -> int:
    """Register ``count`` customers (an audit entry each); the chain's last seq."""
    for _ in range(count):
        await register(suite, org.junior)
    events = (await suite.gql(EVENTS, as_=org.hr)).ok()["auditEvents"]["edges"]
    return max(int(edge["node"]["seq"]) for edge in events)


async def checkpointed_entries(suite: Suite, org: Org, count: int) -> int:
    """``count`` entries, the last of them checkpointed; the chain's last seq."""
    last = await entries(suite, org, count)
    await wait_for_checkpoint(suite, last)
    return last


async def verify(suite: Suite, org: Org) -> dict[str, Any]:
    result: dict[str, Any] = (await suite.gql(VERIFY, as_=org.hr)).ok()["verifyAuditChain"]
    return result


async def broken_after_deleting(
    suite: Suite, org: Org, statement: str, *args: Any
) -> dict[str, Any]:
    """Run a DELETE ``statement`` on the audit chain as the database owner; the chain's
    verification, which must find it broken."""
    async with database_owner(suite) as connection:
        await connection.execute(statement, *args)
    result = await verify(suite, org)
    assert result["intact"] is False
    return result


async def append_entries(runtime: Any, count: int) -> None:
    """``count`` honest entries, appended through the service's own audit module."""
    async with runtime.db.transaction() as session:
        await audit.append(
            session, [audit.AuditEntry(actor_id="e-1", action="test") for _ in range(count)]
        )
