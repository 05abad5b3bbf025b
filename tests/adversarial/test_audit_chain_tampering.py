"""The audit chain cannot be cut at the tail nor re-chained (C7).

The attacker has the database owner's rights and none of the service's secrets: they
drop the append-only triggers, delete or rewrite entries and recompute hashes with
what they can compute (plain SHA-256, or an HMAC with a key of their own). The chain's
HMAC key is not in the database, and the chain's head is checkpointed in the object
store, out of their reach, so `verifyAuditChain` reports what they did — on both
profiles.

The attacker's hashing (``tests/adversarial/audit_chain_attacker.py``) is written out
from the documented entry format rather than imported from the service.
"""

from __future__ import annotations

import asyncio
import base64
import os
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from salesguard.crypto import HmacKeyring
from salesguard.db import Database
from salesguard.settings import DEV_AUDIT_CHAIN_KEY
from salesguard_customers import audit
from salesguard_customers.audit_checkpoints import CHECKPOINT_FOLDER
from tests.adversarial.audit_chain_attacker import (
    EVENTS,
    FAST_INTERVAL,
    INTERVAL_VARIABLE,
    SuiteFactory,
    append_entries,
    audit_rows,
    broken_after_deleting,
    checkpointed_entries,
    database_url,
    entries,
    forge,
    hmac_hash,
    newest_checkpoint,
    rechain,
    sha256_hash,
    suite_under_attack,
    verify,
    wait_for_checkpoint,
)
from tests.harness import Backends, Suite, global_id
from tests.org import make_org

# -- (d) an honest chain ---------------------------------------------------------------------


async def test_honest_chain_is_keyed_and_verifies_against_its_checkpoint(
    full_suite_factory: SuiteFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite, org = await suite_under_attack(full_suite_factory, monkeypatch)
    last = await entries(suite, org, 3)
    checkpoint = await wait_for_checkpoint(suite, last)

    result = await verify(suite, org)
    assert result == {
        "intact": True,
        "checkedCount": last,
        "firstBrokenSeq": None,
        "firstBrokenId": None,
        "problem": None,
        "missingRange": None,
        "checkpointSeq": last,
        "checkpointAt": result["checkpointAt"],
        "unkeyedCount": 0,
    }
    assert datetime.fromisoformat(result["checkpointAt"]) == checkpoint.written_at
    # Every entry names the key of its HMAC: the fingerprint of the configured key.
    key_id = HmacKeyring.key_id(base64.b64decode(DEV_AUDIT_CHAIN_KEY))
    events = (await suite.gql(EVENTS, as_=org.hr)).ok()["auditEvents"]["edges"]
    assert {edge["node"]["keyId"] for edge in events} == {key_id}
    # The database holds no key: plain SHA-256 of an entry is not its hash.
    connection = await asyncpg.connect(database_url(suite))
    try:
        rows = await audit_rows(connection)
    finally:
        await connection.close()
    assert all(sha256_hash(row["prev_hash"], row) != row["hash"] for row in rows)
    key = base64.b64decode(DEV_AUDIT_CHAIN_KEY)
    assert all(hmac_hash(key)(row["prev_hash"], row) == row["hash"] for row in rows)


async def test_an_entry_checkpointed_while_verifying_is_not_taken_for_a_missing_one(
    full_suite_factory: SuiteFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race, made certain: right after the verification has walked the chain, an
    entry is appended and checkpointed. It is newer than the walk, not missing."""
    suite, org = await suite_under_attack(full_suite_factory, monkeypatch)
    last = await checkpointed_entries(suite, org, 2)
    runtime = suite.running["customers"].runtime
    walk = audit._walk

    async def walk_then_append(db: Database, keyring: HmacKeyring) -> Any:
        walked = await walk(db, keyring)
        await append_entries(runtime, 1)
        await wait_for_checkpoint(suite, last + 1)
        return walked

    monkeypatch.setattr(audit, "_walk", walk_then_append)
    result = await verify(suite, org)
    assert result["intact"] is True, result["problem"]
    assert result["checkedCount"] == last


# -- (a) a cut tail ------------------------------------------------------------------------------


async def test_deleting_the_newest_entries_after_a_checkpoint_reports_the_missing_range(
    full_suite_factory: SuiteFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite, org = await suite_under_attack(full_suite_factory, monkeypatch)
    last = await checkpointed_entries(suite, org, 5)

    result = await broken_after_deleting(
        suite, org, "DELETE FROM audit_events WHERE seq > $1", last - 2
    )
    assert result["missingRange"] == {"firstSeq": last - 1, "lastSeq": last}
    assert f"missing range: seq {last - 1}..{last}" in result["problem"]
    assert result["checkpointSeq"] == last
    assert result["checkedCount"] == last - 2

    # The service carries on appending at the cut; the new entries reuse the removed seqs
    # and do not match the checkpoint, so the cut stays visible.
    await asyncio.sleep(1)  # a few checkpoint periods: none may paper over the cut
    refilled = await entries(suite, org, 3)
    assert refilled == last + 1
    await asyncio.sleep(1)
    newest = await newest_checkpoint(suite)
    assert newest is not None and newest.seq == last
    result = await verify(suite, org)
    assert result["intact"] is False
    assert result["firstBrokenSeq"] == last
    assert f"the entry at seq {last} differs from its checkpoint" in result["problem"]


async def test_deleting_every_entry_is_reported(
    full_suite_factory: SuiteFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite, org = await suite_under_attack(full_suite_factory, monkeypatch)
    last = await checkpointed_entries(suite, org, 2)
    result = await broken_after_deleting(suite, org, "DELETE FROM audit_events")
    assert result["missingRange"] == {"firstSeq": 1, "lastSeq": last}
    assert result["checkedCount"] == 0


async def test_deleting_an_entry_in_the_middle_names_the_gap(
    full_suite_factory: SuiteFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite, org = await suite_under_attack(full_suite_factory, monkeypatch)
    await entries(suite, org, 4)
    result = await broken_after_deleting(suite, org, "DELETE FROM audit_events WHERE seq IN (2, 3)")
    assert result["firstBrokenSeq"] == 4
    assert result["missingRange"] == {"firstSeq": 2, "lastSeq": 3}


# -- (b) and (c) a rewritten, re-chained entry -----------------------------------------------------


async def test_rewriting_an_entry_and_rechaining_with_plain_sha256_is_a_broken_link(
    full_suite_factory: SuiteFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite, org = await suite_under_attack(full_suite_factory, monkeypatch)
    await checkpointed_entries(suite, org, 4)

    # Plain SHA-256 from seq 2 on, posing as entries from before the chain was keyed.
    target = await forge(suite, 1, 2, sha256_hash, key_id="")

    result = await verify(suite, org)
    assert result["intact"] is False
    assert result["firstBrokenSeq"] == 2
    assert result["firstBrokenId"] == global_id("AuditEvent", target["id"])
    assert result["problem"] == "an entry without a key follows keyed entries"


async def test_rechaining_with_plain_sha256_keeping_the_key_ids_is_a_broken_link(
    full_suite_factory: SuiteFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite, org = await suite_under_attack(full_suite_factory, monkeypatch)
    await entries(suite, org, 4)
    await forge(suite, 2, 3, sha256_hash)
    result = await verify(suite, org)
    assert result["intact"] is False
    assert result["firstBrokenSeq"] == 3
    assert result["problem"] == "content does not match its hash"


async def test_rechaining_the_whole_chain_as_unkeyed_is_caught_by_the_checkpoint(
    full_suite_factory: SuiteFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every entry re-hashed with SHA-256 from seq 1 passes for an old unkeyed chain,
    but no longer matches the checkpoint outside the database."""
    suite, org = await suite_under_attack(full_suite_factory, monkeypatch)
    last = await checkpointed_entries(suite, org, 4)
    await forge(suite, 1, 1, sha256_hash, key_id="")
    result = await verify(suite, org)
    assert result["intact"] is False
    assert result["firstBrokenSeq"] == last
    assert result["unkeyedCount"] == last
    assert f"the entry at seq {last} differs from its checkpoint" in result["problem"]


@pytest.mark.parametrize("claimed_key", ["the service's", "the attacker's"])
async def test_rechaining_with_an_hmac_of_the_wrong_key_is_a_broken_link(
    full_suite_factory: SuiteFactory, monkeypatch: pytest.MonkeyPatch, claimed_key: str
) -> None:
    suite, org = await suite_under_attack(full_suite_factory, monkeypatch)
    await entries(suite, org, 4)
    wrong_key = os.urandom(32)
    key_id = None if claimed_key == "the service's" else HmacKeyring.key_id(wrong_key)
    await forge(suite, 1, 2, hmac_hash(wrong_key), key_id=key_id)
    result = await verify(suite, org)
    assert result["intact"] is False
    assert result["firstBrokenSeq"] == 2
    assert result["problem"] == (
        "content does not match its hash"
        if claimed_key == "the service's"
        else f"the entry names a key this service does not hold ({key_id})"
    )


# -- the embedded profile (make run) ------------------------------------------------------------


async def test_embedded_cut_tail_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(INTERVAL_VARIABLE, FAST_INTERVAL)
    suite = await Suite.start(Backends(), tmp_path)
    try:
        org = await make_org(suite)
        last = await entries(suite, org, 4)
        await wait_for_checkpoint(suite, last)
        assert list((tmp_path / "objects" / CHECKPOINT_FOLDER).glob("*.json"))
        assert (await verify(suite, org))["intact"] is True

        with sqlite3.connect(tmp_path / "customers.db") as connection:
            connection.execute("DROP TRIGGER audit_events_no_delete")
            connection.execute("DELETE FROM audit_events WHERE seq > ?", (last - 1,))
        result = await verify(suite, org)
        assert result["intact"] is False
        assert result["missingRange"] == {"firstSeq": last, "lastSeq": last}
    finally:
        await suite.stop()


async def test_embedded_rechaining_with_plain_sha256_is_a_broken_link(
    tmp_path: Path,
) -> None:
    suite = await Suite.start(Backends(), tmp_path)
    try:
        org = await make_org(suite)
        await entries(suite, org, 3)
        with sqlite3.connect(tmp_path / "customers.db") as connection:
            connection.row_factory = sqlite3.Row
            connection.execute("DROP TRIGGER audit_events_no_update")
            rows = [
                dict(row) for row in connection.execute("SELECT * FROM audit_events ORDER BY seq")
            ]
            rows[1]["actor_id"] = "someone-else"
            for row in rechain(rows, 2, sha256_hash):
                connection.execute(
                    "UPDATE audit_events SET actor_id = ?, prev_hash = ?, hash = ? WHERE seq = ?",
                    (row["actor_id"], row["prev_hash"], row["hash"], row["seq"]),
                )
        result = await verify(suite, org)
        assert result["intact"] is False
        assert result["firstBrokenSeq"] == 2
    finally:
        await suite.stop()
