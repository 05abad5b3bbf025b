"""The audit chain's checkpoints and keys (C7): a checkpoint within the 60 s bound, written
once and retention-locked, a forged one reported; the chain key's secret setting,
rotation, entries from before the chain was keyed; and the object store's parts the
checkpoints need (listing a folder, retention where the bucket can).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from minio import Minio
from minio.commonconfig import COMPLIANCE
from minio.error import S3Error
from minio.retention import Retention
from sqlalchemy import column, insert, table, text

from salesguard import migrations
from salesguard.crypto import HmacKeyring
from salesguard.db import Database, UtcDateTime
from salesguard.errors import Conflict, InvalidInput
from salesguard.objectstore import LocalObjectStore, ObjectStore, S3ObjectStore
from salesguard.settings import DEV_AUDIT_CHAIN_KEY, SettingsError
from salesguard_customers import audit
from salesguard_customers.audit_checkpoints import (
    CHECKPOINT_CONTENT_TYPE,
    CHECKPOINT_FOLDER,
    AuditCheckpoints,
    Checkpoint,
    checkpoint_key,
)
from salesguard_customers.server import service as customers_app
from salesguard_customers.settings import CustomersSettings
from tests.adversarial.audit_chain_attacker import (
    INTERVAL_VARIABLE,
    SuiteFactory,
    append_entries,
    checkpointed_entries,
    database_url,
    entries,
    newest_checkpoint,
    rechain,
    sha256_hash,
    suite_under_attack,
    verify,
    wait_for_checkpoint,
)
from tests.harness import POLICIES
from tests.org import make_org
from tests.support.s3server import S3Server
from tests.support.servers import PostgresDatabases, free_port

# -- (e) the 60 s bound ----------------------------------------------------------------------------


def test_the_default_checkpoint_interval_keeps_the_60_s_bound() -> None:
    field = CustomersSettings.model_fields["audit_checkpoint_interval_seconds"]
    assert field.default <= 45, "an interval plus one write must stay within 60 s"
    with pytest.raises(SettingsError, match="AUDIT_CHECKPOINT_INTERVAL_SECONDS"):
        customers_app.load_settings(audit_checkpoint_interval_seconds=61)


async def test_a_checkpoint_is_written_within_the_bound_after_an_entry(
    full_suite_factory: SuiteFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite, org = await suite_under_attack(full_suite_factory, monkeypatch)
    last = await entries(suite, org, 1)
    checkpoint = await wait_for_checkpoint(suite, last, within=5)
    assert checkpoint.written_at - checkpoint.entry_at < timedelta(seconds=5)
    # The checkpoint says what the database holds, signed with the chain's key.
    connection = await asyncpg.connect(database_url(suite))
    try:
        head = await connection.fetchrow("SELECT seq, hash FROM audit_events ORDER BY seq DESC")
    finally:
        await connection.close()
    assert head is not None
    assert (checkpoint.seq, checkpoint.hash) == (head["seq"], head["hash"])
    assert checkpoint.key_id == HmacKeyring.key_id(base64.b64decode(DEV_AUDIT_CHAIN_KEY))


async def test_a_process_starting_up_checkpoints_a_head_left_behind(
    full_suite_factory: SuiteFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Entries appended while no process checkpoints (a crash, a job's own process) are
    checkpointed by the next customers process at its start."""
    monkeypatch.setenv(INTERVAL_VARIABLE, "45")  # no checkpoint within this test
    suite = await full_suite_factory()
    org = await make_org(suite)
    last = await entries(suite, org, 2)
    assert (await newest_checkpoint(suite)) is None
    settings = suite.running["customers"].runtime.settings
    restarted = await customers_app.start(settings, port=free_port())
    try:
        checkpoint = await wait_for_checkpoint(suite, last, within=10)
    finally:
        await restarted.stop()
    assert checkpoint.seq == last


# -- (f) the checkpoints themselves ----------------------------------------------------------------


def minio_of(s3: S3Server) -> Minio:
    return Minio(s3.endpoint, access_key=s3.access_key, secret_key=s3.secret_key, secure=False)


async def test_a_checkpoint_cannot_be_overwritten_and_is_retention_locked(
    full_suite_factory: SuiteFactory, monkeypatch: pytest.MonkeyPatch, s3_server: S3Server
) -> None:
    suite, org = await suite_under_attack(full_suite_factory, monkeypatch)
    last = await entries(suite, org, 1)
    checkpoint = await wait_for_checkpoint(suite, last)
    store = suite.running["customers"].runtime.objects
    assert isinstance(store, S3ObjectStore)
    key = checkpoint_key(checkpoint.seq)

    # Through the store's API a written key is never written again.
    with pytest.raises(Conflict):
        await store.put(key, b"{}", CHECKPOINT_CONTENT_TYPE)
    assert await store.get(key) == checkpoint.to_bytes()

    # SeaweedFS has object locking: the version is under COMPLIANCE retention, which
    # nobody (not the bucket's owner) lifts, shortens or deletes through before it ends.
    client = minio_of(s3_server)
    info = await store.stat(key)
    assert info is not None and info.version_id
    retention = client.get_object_retention(store.bucket, key, version_id=info.version_id)
    assert retention is not None
    assert retention.mode == COMPLIANCE
    expected = checkpoint.written_at + timedelta(days=365)
    assert abs(retention.retain_until_date - expected) < timedelta(seconds=5)
    with pytest.raises(S3Error) as refused:
        client.remove_object(store.bucket, key, version_id=info.version_id)
    assert refused.value.code == "AccessDenied"
    with pytest.raises(S3Error):
        client.set_object_retention(
            store.bucket,
            key,
            Retention(COMPLIANCE, datetime.now(UTC) + timedelta(seconds=5)),
            version_id=info.version_id,
        )
    assert await store.get(key, info.version_id) == checkpoint.to_bytes()


async def test_a_forged_checkpoint_is_reported_and_not_trusted(
    full_suite_factory: SuiteFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Someone with the store's credentials but not the chain's key writes a checkpoint of
    their own: it is reported, and it cannot pose as a cut tail."""
    suite, org = await suite_under_attack(full_suite_factory, monkeypatch)
    last = await checkpointed_entries(suite, org, 2)
    forged = Checkpoint.signed(
        HmacKeyring([os.urandom(32)]), last + 10, "f" * 64, datetime.now(UTC), datetime.now(UTC)
    )
    store = suite.running["customers"].runtime.objects
    await store.put(checkpoint_key(last + 10), forged.to_bytes(), CHECKPOINT_CONTENT_TYPE)
    # Named to sort before every checkpoint, so it is read first.
    stray = f"{CHECKPOINT_FOLDER}0-not-a-checkpoint.json"
    await store.put(stray, b"{}", CHECKPOINT_CONTENT_TYPE)

    result = await verify(suite, org)
    assert result["intact"] is False
    assert result["missingRange"] is None
    assert result["checkpointSeq"] == last
    assert (
        f"checkpoint {checkpoint_key(last + 10)}: it is signed with an unknown key"
        in (result["problem"])
    )
    assert f"checkpoint {stray}: its name is not a checkpoint's" in result["problem"]


# -- keys: the secret setting, rotation, entries from before the chain was keyed -------------


def test_production_refuses_the_dev_audit_chain_key() -> None:
    real = base64.b64encode(os.urandom(32)).decode()
    production = {
        "environment": "production",
        "internal_secret": "real-internal-secret",
        "field_encryption_key": base64.b64encode(os.urandom(32)).decode(),
        "blind_index_key": base64.b64encode(os.urandom(32)).decode(),
    }
    for value in (DEV_AUDIT_CHAIN_KEY, f"{real},{DEV_AUDIT_CHAIN_KEY}"):
        with pytest.raises(SettingsError, match="SALESGUARD_AUDIT_CHAIN_KEY still holds the dev"):
            customers_app.load_settings(**production, audit_chain_key=value)
    with pytest.raises(SettingsError, match="SALESGUARD_AUDIT_CHAIN_KEY must decode to 32 bytes"):
        customers_app.load_settings(**production, audit_chain_key="c2hvcnQ=")
    settings = customers_app.load_settings(**production, audit_chain_key=real)
    assert settings.audit_chain_keys == [base64.b64decode(real)]


async def _embedded_runtime(tmp_path: Path, key: str) -> Any:
    settings = customers_app.load_settings(
        data_dir=tmp_path, policies_dir=POLICIES, audit_chain_key=key
    )
    await customers_app.migrate(settings)
    return customers_app.build_runtime(settings)


async def test_a_rotated_key_verifies_what_the_old_key_signed(tmp_path: Path) -> None:
    old, new = (base64.b64encode(os.urandom(32)).decode() for _ in range(2))
    runtime = await _embedded_runtime(tmp_path, old)
    await append_entries(runtime, 2)
    await runtime.close()

    # Rotation: the new key first, the old one kept after it to verify.
    runtime = await _embedded_runtime(tmp_path, f"{new},{old}")
    try:
        await append_entries(runtime, 2)
        report = await audit.verify_chain(runtime.db, AuditCheckpoints.of(runtime))
        assert report.intact, report
        assert report.checked_count == 4
    finally:
        await runtime.close()

    # Without the old key, what it signed cannot be verified.
    runtime = await _embedded_runtime(tmp_path, new)
    try:
        report = await audit.verify_chain(runtime.db, AuditCheckpoints.of(runtime))
        assert not report.intact
        assert report.first_broken_seq == 1
        assert "a key this service does not hold" in report.problem
    finally:
        await runtime.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_entries_from_before_the_keyed_chain_verify_as_its_prefix(
    backend: str, tmp_path: Path, postgres: PostgresDatabases
) -> None:
    """Migration 0007 keeps the old SHA-256 entries as they are; new ones are keyed after
    them, the start-up checkpoint anchors them, and no keyed entry may turn unkeyed."""
    url = (
        f"sqlite+aiosqlite:///{tmp_path / 'customers.db'}"
        if backend == "sqlite"
        else await postgres.create("customers")
    )
    db = Database(url)
    try:
        await migrations.upgrade(db.engine, customers_app.migrations_dir, "0006")
        legacy = []
        prev_hash = "0" * 64
        for seq in (1, 2, 3):
            row: dict[str, Any] = {
                "seq": seq,
                "id": f"legacy{seq}",
                "at": datetime(2026, 1, seq, tzinfo=UTC),
                "actor_id": "e-1",
                "action": "customer.update",
                "customer_ids": json.dumps(["c1"]),
                "fields": json.dumps(["name"]),
                "before": json.dumps({"name": "a"}),
                "after": json.dumps({"name": "b"}),
                "reason": "",
                "trace_id": "",
                "branch_id": None,
                "prev_hash": prev_hash,
            }
            row["hash"] = prev_hash = sha256_hash(prev_hash, row)
            legacy.append(row)
        async with db.engine.begin() as connection:
            events = table(
                "audit_events",
                *(column(name) for name in legacy[0] if name != "at"),
                column("at", UtcDateTime()),
            )
            await connection.execute(insert(events), legacy)
        await migrations.upgrade(db.engine, customers_app.migrations_dir)
    finally:
        await db.dispose()

    settings = customers_app.load_settings(
        data_dir=tmp_path,
        policies_dir=POLICIES,
        database_url=url,
        audit_checkpoint_interval_seconds=0.2,
    )
    running = await customers_app.start(settings, port=free_port())
    runtime = running.runtime
    checkpoints = AuditCheckpoints.of(runtime)
    try:
        deadline = time.monotonic() + 10
        while (found := (await checkpoints.newest()).checkpoint) is None:
            assert time.monotonic() < deadline, "the start-up checkpoint was not written"
            await asyncio.sleep(0.05)
        assert found.seq == 3
        report = await audit.verify_chain(runtime.db, checkpoints)
        assert report.intact, report
        assert (report.checked_count, report.unkeyed_count) == (3, 3)

        await append_entries(runtime, 2)
        report = await audit.verify_chain(runtime.db, checkpoints)
        assert report.intact, report
        assert (report.checked_count, report.unkeyed_count) == (5, 3)
    finally:
        await running.stop()

    # A keyed entry re-hashed as an unkeyed one is refused, wherever it is.
    db = Database(url)
    try:
        async with db.engine.begin() as connection:
            if backend == "postgresql":
                await connection.execute(
                    text("DROP TRIGGER audit_events_append_only ON audit_events")
                )
            else:
                await connection.execute(text("DROP TRIGGER audit_events_no_update"))
            rows = [
                dict(row._mapping)
                for row in await connection.execute(text("SELECT * FROM audit_events ORDER BY seq"))
            ]
            for changed in rechain(rows, 5, sha256_hash, key_id=""):
                await connection.execute(
                    text(
                        "UPDATE audit_events SET prev_hash = :p, hash = :h, key_id = '' WHERE seq = :s"
                    ),
                    {"p": changed["prev_hash"], "h": changed["hash"], "s": changed["seq"]},
                )
    finally:
        await db.dispose()
    runtime = customers_app.build_runtime(settings)
    try:
        report = await audit.verify_chain(runtime.db, AuditCheckpoints.of(runtime))
    finally:
        await runtime.close()
    assert not report.intact
    assert report.first_broken_seq == 5
    assert report.problem == "an entry without a key follows keyed entries"


# -- the object store's parts: listing a folder, retention where the bucket can --------------


def _s3_store(s3: S3Server, bucket: str) -> S3ObjectStore:
    return S3ObjectStore(
        s3.endpoint, s3.access_key, s3.secret_key, bucket, secure=False, region="us-east-1"
    )


@pytest.mark.parametrize("kind", ["local", "s3"])
async def test_a_store_lists_the_keys_of_a_folder_in_order(
    kind: str, tmp_path: Path, s3_server: S3Server
) -> None:
    store: ObjectStore = (
        LocalObjectStore(tmp_path, "http://gateway", b"k" * 32)
        if kind == "local"
        else _s3_store(s3_server, f"list-{os.urandom(5).hex()}")
    )
    await store.ensure_bucket()
    for key in ("a/1.json", "a/3.json", "a/2.json", "a/sub/x.json", "b/1.json", "a1.json"):
        await store.put(key, b"{}", CHECKPOINT_CONTENT_TYPE)
    assert await store.list_keys("a/") == ["a/1.json", "a/2.json", "a/3.json"]
    assert await store.list_keys("a/", start_after="a/1.json", limit=1) == ["a/2.json"]
    assert await store.list_keys("a/", start_after="a/3.json") == []
    assert await store.list_keys("none/") == []
    with pytest.raises(InvalidInput):
        await store.list_keys("a")


async def test_retention_is_skipped_where_the_bucket_has_no_object_locking(
    s3_server: S3Server,
) -> None:
    store = _s3_store(s3_server, f"nolock-{os.urandom(5).hex()}")
    minio_of(s3_server).make_bucket(store.bucket)  # made elsewhere, without object locking
    await store.ensure_bucket()
    until = datetime.now(UTC) + timedelta(days=1)
    info = await store.put("cp/1.json", b"{}", CHECKPOINT_CONTENT_TYPE, retain_until=until)
    assert info.retained_until is None
    assert await store.get("cp/1.json") == b"{}"
    with pytest.raises(Conflict):
        await store.put("cp/1.json", b"[]", CHECKPOINT_CONTENT_TYPE, retain_until=until)

    locked = _s3_store(s3_server, f"locked-{os.urandom(5).hex()}")
    await locked.ensure_bucket()
    info = await locked.put("cp/1.json", b"{}", CHECKPOINT_CONTENT_TYPE, retain_until=until)
    assert info.retained_until == until.replace(microsecond=0)
