"""The test-server helpers work against the real servers (OPA, SeaweedFS, PostgreSQL).

Needs the tools from scripts/ensure-tools.sh and the server from
scripts/ensure-postgres.sh (`make test` and .ci/run do both).
"""

from __future__ import annotations

import datetime as dt
import io
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from minio import Minio
from minio.commonconfig import COMPLIANCE
from minio.error import S3Error
from minio.objectlockconfig import DAYS, ObjectLockConfig

from tests.support.s3server import S3Server
from tests.support.servers import OpaServer, PostgresDatabases, ServerStartError, free_port

POLICY = """\
package salesguard.infra

default allow := false

allow if input.subject.roles[_] == "HR"
"""

# Smallest well-formed JPEG framing is enough: the server must keep bytes and type.
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 4 + b"\xff\xd9"


def _decide(opa: OpaServer, roles: list[str]) -> bool:
    resp = httpx.post(
        f"{opa.url}/v1/data/salesguard/infra/allow",
        json={"input": {"subject": {"id": "E1", "roles": roles}}},
        timeout=5,
    )
    resp.raise_for_status()
    return bool(resp.json()["result"])


# --- OPA -------------------------------------------------------------------


@pytest.fixture
def policies_dir(tmp_path: Path) -> Path:
    (tmp_path / "infra.rego").write_text(POLICY)
    return tmp_path


def test_opa_answers_a_query(policies_dir: Path) -> None:
    with OpaServer(policies_dir) as opa:
        assert opa.url.startswith("http://127.0.0.1:")
        assert _decide(opa, ["HR"]) is True
        assert _decide(opa, ["SALES_JUNIOR"]) is False


def test_opa_stop_refuses_connections_and_restarts_on_same_port(policies_dir: Path) -> None:
    with OpaServer(policies_dir) as opa:
        url = opa.url
        opa.stop()
        assert not opa.running
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{url}/health", timeout=2)
        opa.start()
        assert opa.url == url
        assert _decide(opa, ["HR"]) is True
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/health", timeout=2)


def test_opa_start_failure_explains_itself(tmp_path: Path) -> None:
    (tmp_path / "broken.rego").write_text("package broken\n\nallow if {\n")
    with pytest.raises(ServerStartError, match=r"(?s)OPA exited.*broken\.rego"):
        OpaServer(tmp_path).start()


def test_free_port_is_bindable() -> None:
    import socket

    port = free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))


# --- S3 (SeaweedFS) ----------------------------------------------------------


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with S3Server() as server:
        yield server


@pytest.fixture(scope="module")
def minio_client(s3: S3Server) -> Minio:
    return Minio(s3.endpoint, access_key=s3.access_key, secret_key=s3.secret_key, secure=False)


def _bucket(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def read_object(client: Minio, bucket: str, key: str) -> bytes:
    response = client.get_object(bucket, key)
    try:
        return response.read()
    finally:
        response.close()
        response.release_conn()


def test_s3_round_trip_with_presigned_urls(minio_client: Minio) -> None:
    bucket = _bucket("photos")
    minio_client.make_bucket(bucket)
    assert minio_client.bucket_exists(bucket)

    put_url = minio_client.presigned_put_object(
        bucket, "visits/v1/p1.jpg", expires=dt.timedelta(minutes=5)
    )
    put = httpx.put(put_url, content=JPEG, headers={"Content-Type": "image/jpeg"}, timeout=10)
    assert put.status_code == 200, put.text

    stat = minio_client.stat_object(bucket, "visits/v1/p1.jpg")
    assert stat.size == len(JPEG)
    assert stat.content_type == "image/jpeg"

    get = httpx.get(minio_client.presigned_get_object(bucket, "visits/v1/p1.jpg"), timeout=10)
    assert get.status_code == 200
    assert get.headers["content-type"] == "image/jpeg"
    assert get.content == JPEG

    minio_client.put_object(bucket, "raw.bin", io.BytesIO(b"hello"), 5)
    assert read_object(minio_client, bucket, "raw.bin") == b"hello"


def test_s3_requires_valid_credentials(s3: S3Server, minio_client: Minio) -> None:
    bucket = _bucket("private")
    minio_client.make_bucket(bucket)
    minio_client.put_object(bucket, "k", io.BytesIO(b"x"), 1)
    assert httpx.get(f"{s3.url}/{bucket}/k", timeout=5).status_code == 403
    wrong = Minio(s3.endpoint, access_key=s3.access_key, secret_key="wrong", secure=False)
    with pytest.raises(S3Error) as info:
        wrong.list_buckets()
    assert info.value.code == "SignatureDoesNotMatch"


def test_s3_object_lock_is_supported(minio_client: Minio) -> None:
    bucket = _bucket("locked")
    minio_client.make_bucket(bucket, object_lock=True)
    minio_client.set_object_lock_config(bucket, ObjectLockConfig(COMPLIANCE, 1, DAYS))
    assert minio_client.get_object_lock_config(bucket).mode == COMPLIANCE
    written = minio_client.put_object(bucket, "evidence", io.BytesIO(b"v1"), 2)
    assert written.version_id
    with pytest.raises(S3Error) as info:
        minio_client.remove_object(bucket, "evidence", version_id=written.version_id)
    assert info.value.code == "AccessDenied"


def test_s3_if_none_match_refuses_overwrite(minio_client: Minio) -> None:
    bucket = _bucket("once")
    minio_client.make_bucket(bucket)
    url = minio_client.presigned_put_object(bucket, "photo.jpg")
    first = httpx.put(url, content=b"first", headers={"If-None-Match": "*"}, timeout=10)
    assert first.status_code == 200
    second = httpx.put(url, content=b"second", headers={"If-None-Match": "*"}, timeout=10)
    assert second.status_code == 412
    assert read_object(minio_client, bucket, "photo.jpg") == b"first"


# --- PostgreSQL --------------------------------------------------------------


async def test_postgres_databases_create_and_drop() -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    dbs = PostgresDatabases()
    url_a = await dbs.create("infra test")
    url_b = await dbs.create("infra")
    assert url_a.startswith("postgresql+asyncpg://")
    assert url_a != url_b
    name_a = url_a.rsplit("/", 1)[1]
    assert name_a.startswith("infra_test_")

    engine = create_async_engine(url_a)
    try:
        async with engine.begin() as conn:
            assert (await conn.execute(text("select current_database()"))).scalar() == name_a
            await conn.execute(text("create table t (id int primary key)"))
    finally:
        await engine.dispose()
    # A connection that a test left open must not stop drop_all.
    lingering = await asyncpg.connect(url_a.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await dbs.drop_all()
    finally:
        lingering.terminate()

    assert dbs.created == []
    admin = await asyncpg.connect(dbs.server_url)
    try:
        left = await admin.fetchval(
            "select count(*) from pg_database where datname = any($1::text[])",
            [name_a, url_b.rsplit("/", 1)[1]],
        )
    finally:
        await admin.close()
    assert left == 0
