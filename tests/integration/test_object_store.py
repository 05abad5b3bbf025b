"""The S3 object store against a real S3 server (SeaweedFS): presigned uploads, versions, locks.

An upload URL's signature covers Content-Type, Content-Length and
``If-None-Match: *`` (with host), so the S3 server itself refuses another type,
another size, a missing header and a second upload to the key.
"""

from __future__ import annotations

import asyncio
import io
import logging
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from minio import Minio
from minio.error import S3Error
from urllib3 import HTTPResponse

from salesguard.errors import Conflict, Forbidden, NotFound
from salesguard.objectstore import LocalObjectStore, PresignedUpload, S3ObjectStore, presign_v4
from tests.support.s3server import S3Server

JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4


def minio_of(s3: S3Server) -> Minio:
    return Minio(s3.endpoint, access_key=s3.access_key, secret_key=s3.secret_key, secure=False)


def new_store(s3: S3Server, prefix: str = "objects") -> S3ObjectStore:
    bucket = f"{prefix}-{uuid.uuid4().hex[:10]}"
    return S3ObjectStore(
        s3.endpoint, s3.access_key, s3.secret_key, bucket, secure=False, region="us-east-1"
    )


@pytest.fixture
async def store(s3_server: S3Server) -> S3ObjectStore:
    store = new_store(s3_server)
    await store.ensure_bucket()
    return store


async def send(upload: PresignedUpload, content: bytes, **changes: str | None) -> httpx.Response:
    """PUT as a client would, with the upload's headers changed (None: left out)."""
    headers = {**upload.headers, **changes}
    sent = {name: value for name, value in headers.items() if value is not None}
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.put(upload.url, content=content, headers=sent)


async def fetch(url: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.get(url)


def s3_code(response: httpx.Response) -> str:
    text = response.text
    return text.split("<Code>", 1)[1].split("</Code>", 1)[0] if "<Code>" in text else ""


# -- the presigner ---------------------------------------------------------------------------


def test_presign_v4_matches_the_aws_documented_example() -> None:
    # "Authenticating Requests: Using Query Parameters (AWS Signature Version 4)", the
    # worked example: GET /test.txt from examplebucket, valid for 86400 s.
    url = presign_v4(
        method="GET",
        endpoint="examplebucket.s3.amazonaws.com",
        secure=True,
        path="/test.txt",
        region="us-east-1",
        access_key="AKIAIOSFODNN7EXAMPLE",
        secret_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        expires=timedelta(seconds=86400),
        now=datetime(2013, 5, 24, tzinfo=UTC),
    )
    query = parse_qs(urlsplit(url).query)
    assert url.startswith("https://examplebucket.s3.amazonaws.com/test.txt?")
    assert query["X-Amz-SignedHeaders"] == ["host"]
    assert query["X-Amz-Signature"] == [
        "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
    ]


def test_presign_v4_refuses_lifetimes_s3_refuses() -> None:
    common: dict[str, Any] = {
        "method": "GET",
        "endpoint": "127.0.0.1:9000",
        "secure": False,
        "path": "/b/k",
        "region": "us-east-1",
        "access_key": "a",
        "secret_key": "s",
    }
    with pytest.raises(ValueError, match="7 days"):
        presign_v4(expires=timedelta(days=8), **common)
    with pytest.raises(ValueError, match="7 days"):
        presign_v4(expires=timedelta(0), **common)


# -- the bucket --------------------------------------------------------------------------------


async def test_ensure_bucket_creates_a_locked_hence_versioned_bucket(
    s3_server: S3Server,
) -> None:
    store = new_store(s3_server)
    await store.ensure_bucket()
    await store.ensure_bucket()  # again: nothing to do
    client = minio_of(s3_server)
    assert client.get_bucket_versioning(store.bucket).status == "Enabled"
    client.get_object_lock_config(store.bucket)  # raises when the bucket has no object lock


async def test_ensure_bucket_falls_back_to_a_plain_bucket_with_a_warning(
    s3_server: S3Server, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = new_store(s3_server)
    client = store._client
    make_bucket = client.make_bucket

    def no_locks(bucket: str, location: str | None = None, object_lock: bool = False) -> None:
        if object_lock:
            raise S3Error(
                HTTPResponse(status=501),
                "NotImplemented",
                "object lock is not supported",
                f"/{bucket}",
                "request",
                "host",
            )
        make_bucket(bucket, location)

    monkeypatch.setattr(client, "make_bucket", no_locks)
    with caplog.at_level(logging.WARNING, logger="salesguard.objectstore"):
        await store.ensure_bucket()
    assert client.bucket_exists(store.bucket)
    assert "refused a bucket with object locking" in caplog.text
    assert "NotImplemented" in caplog.text
    # Unversioned: the store says so, and reports no versions.
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="salesguard.objectstore"):
        await store.ensure_bucket()
    assert "is not versioned" in caplog.text
    info = await store.put("exports/a.csv", b"a\n", "text/csv")
    assert info.version_id is None
    stat = await store.stat("exports/a.csv")
    assert stat is not None
    assert stat.version_id is None


# -- presigned uploads ---------------------------------------------------------------------------


async def test_upload_with_exactly_the_signed_headers(store: S3ObjectStore) -> None:
    before = datetime.now(UTC)
    upload = await store.upload_url(
        "photos/e1/p.jpg", "image/jpeg", len(JPEG), timedelta(minutes=5)
    )
    # The headers are exactly what the client must send.
    assert upload.headers == {
        "Content-Type": "image/jpeg",
        "Content-Length": str(len(JPEG)),
        "If-None-Match": "*",
    }
    assert (
        before + timedelta(minutes=4)
        < upload.expires_at
        <= before + timedelta(minutes=5, seconds=1)
    )
    signed = parse_qs(urlsplit(upload.url).query)["X-Amz-SignedHeaders"]
    assert signed == ["content-length;content-type;host;if-none-match"]

    response = await send(upload, JPEG)
    assert response.status_code == 200, response.text
    info = await store.stat("photos/e1/p.jpg")
    assert info is not None
    assert (info.size, info.content_type) == (len(JPEG), "image/jpeg")
    assert info.version_id  # the bucket is versioned
    assert info.etag
    assert await store.get("photos/e1/p.jpg") == JPEG


async def test_the_server_refuses_what_was_not_signed(store: S3ObjectStore) -> None:
    upload = await store.upload_url(
        "photos/e1/q.jpg", "image/jpeg", len(JPEG), timedelta(minutes=5)
    )
    other_type = await send(upload, JPEG, **{"Content-Type": "image/png"})
    longer = await send(upload, JPEG + b"more", **{"Content-Length": None})
    shorter = await send(upload, JPEG[:100], **{"Content-Length": None})
    no_precondition = await send(upload, JPEG, **{"If-None-Match": None})
    unsigned_amz_header = await send(upload, JPEG, **{"x-amz-meta-note": "extra"})
    refused = [other_type, longer, shorter, no_precondition, unsigned_amz_header]
    assert [r.status_code for r in refused] == [403] * 5
    assert {s3_code(r) for r in refused} == {"SignatureDoesNotMatch"}
    assert await store.stat("photos/e1/q.jpg") is None


async def test_a_second_upload_to_the_key_gets_412(store: S3ObjectStore) -> None:
    upload = await store.upload_url(
        "photos/e1/r.jpg", "image/jpeg", len(JPEG), timedelta(minutes=5)
    )
    assert (await send(upload, JPEG)).status_code == 200
    first = await store.stat("photos/e1/r.jpg")
    forged = bytes(reversed(JPEG))  # same size and type: only If-None-Match stops it
    again = await send(upload, forged)
    assert again.status_code == 412
    assert s3_code(again) == "PreconditionFailed"
    assert await store.get("photos/e1/r.jpg") == JPEG
    assert await store.stat("photos/e1/r.jpg") == first


async def test_expired_and_other_key_uploads_are_refused(store: S3ObjectStore) -> None:
    upload = await store.upload_url("photos/e1/s.jpg", "image/jpeg", 3, timedelta(seconds=1))
    other_key = PresignedUpload(
        upload.url.replace("photos/e1/s.jpg", "photos/e1/t.jpg"), upload.headers, upload.expires_at
    )
    assert (await send(other_key, b"abc")).status_code == 403
    # SigV4 times are whole seconds: wait until the URL is surely past its expiry.
    await asyncio.sleep(2.2)
    expired = await send(upload, b"abc")
    assert expired.status_code == 403
    assert s3_code(expired) == "AccessDenied"
    assert await store.stat("photos/e1/s.jpg") is None


# -- writes from the services, versions --------------------------------------------------------------


async def test_put_never_replaces_an_object(store: S3ObjectStore) -> None:
    written = await store.put("exports/e/1.csv", b"a,b\n", "text/csv; charset=utf-8")
    assert written.version_id
    with pytest.raises(Conflict):
        await store.put("exports/e/1.csv", b"evil\n", "text/csv; charset=utf-8")
    info = await store.stat("exports/e/1.csv")
    assert info is not None
    assert (info.size, info.content_type, info.version_id) == (
        4,
        "text/csv; charset=utf-8",
        written.version_id,
    )
    assert info.etag == written.etag


async def test_a_recorded_version_keeps_its_bytes(
    s3_server: S3Server, store: S3ObjectStore
) -> None:
    await store.put("photos/e2/p.jpg", JPEG, "image/jpeg")
    verified = await store.stat("photos/e2/p.jpg")
    assert verified is not None
    assert verified.version_id is not None
    # Someone with the bucket's credentials writes the key again, around the store.
    minio_of(s3_server).put_object(store.bucket, "photos/e2/p.jpg", io.BytesIO(b"swapped"), 7)
    latest = await store.stat("photos/e2/p.jpg")
    assert latest is not None
    assert latest.version_id != verified.version_id
    assert latest.size == 7
    # The version a check-in recorded still reads as it was verified.
    assert await store.get("photos/e2/p.jpg", version_id=verified.version_id) == JPEG
    pinned = await store.stat("photos/e2/p.jpg", version_id=verified.version_id)
    assert pinned == verified
    url = await store.download_url(
        "photos/e2/p.jpg", timedelta(minutes=5), version_id=verified.version_id
    )
    response = await fetch(url)
    assert response.status_code == 200
    assert response.content == JPEG
    assert response.headers["content-type"] == "image/jpeg"
    newest = await fetch(await store.download_url("photos/e2/p.jpg", timedelta(minutes=5)))
    assert newest.content == b"swapped"


async def test_missing_objects_and_versions(store: S3ObjectStore) -> None:
    assert await store.stat("photos/none.jpg") is None
    with pytest.raises(NotFound):
        await store.get("photos/none.jpg")
    written = await store.put("photos/e3/p.jpg", JPEG, "image/jpeg")
    assert written.version_id
    with pytest.raises(NotFound):
        await store.get("photos/e3/p.jpg", version_id="0" * 32)
    response = await fetch(await store.download_url("photos/none.jpg", timedelta(minutes=1)))
    assert response.status_code == 404


# -- one-time objects (exports) ---------------------------------------------------------------


async def test_stream_and_no_signed_url_for_exports_on_both_stores(
    store: S3ObjectStore, tmp_path: Path
) -> None:
    data = bytes(range(256)) * 2500  # 640,000 bytes: two full chunks and a short one
    local = LocalObjectStore(tmp_path, "http://gateway.test", b"k" * 32)
    for each in (store, local):
        await each.put("exports/s1/e.csv", data, "text/csv; charset=utf-8")
        chunks = [chunk async for chunk in each.stream("exports/s1/e.csv", 256 * 1024)]
        assert [len(chunk) for chunk in chunks] == [262144, 262144, 115712]
        assert b"".join(chunks) == data
        with pytest.raises(NotFound):
            _ = [chunk async for chunk in each.stream("exports/s1/none.csv", 1024)]
        # Exports leave once, through salesguard.downloads: never by a signed URL.
        for key in ("exports/s1/e.csv", "commissions/exports/2026-01/b/d.csv"):
            with pytest.raises(Forbidden):
                await each.download_url(key, timedelta(minutes=5))
