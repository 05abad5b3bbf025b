"""The embedded profile's object store behind signed URLs: /objects/{key} (never an export)."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from gateway.tests.conftest import StartSuite
from salesguard.errors import Conflict, Forbidden, InvalidInput
from salesguard.objectstore import LocalObjectStore, ObjectInfo, check_key
from tests.harness import Suite, service_id
from tests.org import Org, register
from tests.support.exports import customer_export, download


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def store_of(suite: Suite) -> LocalObjectStore:
    """The customers service's own object store: the folder and key its URLs are signed with."""
    store = suite.running["customers"].runtime.objects
    assert isinstance(store, LocalObjectStore)
    return store


@dataclass(frozen=True)
class Stored:
    url: str
    key: str
    data: bytes


@pytest.fixture(scope="module")
async def stored(suite: Suite) -> Stored:
    """A photo in the customers service's folder, and a GET URL that service signed."""
    store = store_of(suite)
    key = f"photos/{uuid.uuid4().hex}/evidence.jpg"
    data = b"\xff\xd8 a photo of a shop front"
    await store.put(key, data, "image/jpeg")
    return Stored(await store.download_url(key, timedelta(minutes=5)), key, data)


async def test_download_with_a_good_signature(suite: Suite, stored: Stored) -> None:
    response = await suite.client.get(path_of(stored.url))
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    assert response.content == stored.data
    assert "no-store" in response.headers["cache-control"]


async def test_expired_tampered_and_missing(suite: Suite, stored: Stored) -> None:
    store = store_of(suite)
    expired = await store.download_url(stored.key, timedelta(seconds=-1))
    assert (await suite.client.get(path_of(expired))).status_code == 403
    good = path_of(stored.url)
    other_key = good.replace(".jpg", "-other.jpg")
    response = await suite.client.get(other_key)
    assert response.status_code == 403
    assert response.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert (await suite.client.get(good.replace("signature=", "signature=A"))).status_code == 403
    assert (await suite.client.get(f"/objects/{stored.key}")).status_code == 403
    missing = await store.download_url("photos/none.jpg", timedelta(minutes=5))
    response = await suite.client.get(path_of(missing))
    assert response.status_code == 404
    assert response.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_an_export_is_never_served_by_a_signed_url(suite: Suite, org: Org) -> None:
    """Exports leave once, through /downloads (tests/adversarial/test_export_download_once.py)."""
    customer = await register(suite, org.junior)
    export = await customer_export(suite, org.manager, org.manager_2, [customer["id"]])
    store = store_of(suite)
    (key,) = [
        str(path.relative_to(store.root))
        for path in (store.root / "exports" / service_id(export.id)).glob("*.csv")
    ]
    with pytest.raises(Forbidden):
        await store.download_url(key, timedelta(minutes=5))
    # Even signed by hand, as a URL minted before the rule was: refused.
    expires_at = int(datetime.now(UTC).timestamp()) + 300
    signature = store.sign("GET", key, expires_at)
    response = await suite.client.get(f"/objects/{key}?expires={expires_at}&signature={signature}")
    assert response.status_code == 403
    assert code_of(response) == "FORBIDDEN"
    downloaded = await download(suite, export.url, as_=org.manager)
    assert downloaded.status_code == 200
    assert hashlib.sha256(downloaded.content).hexdigest() == export.sha256


def code_of(response: httpx.Response) -> str:
    return str(response.json()["errors"][0]["extensions"]["code"])


async def test_upload_url_names_the_headers_the_signature_covers(suite: Suite) -> None:
    store = store_of(suite)
    before = datetime.now(UTC)
    upload = await store.upload_url("photos/h.jpg", "image/jpeg", 1234, timedelta(minutes=5))
    assert upload.headers == {
        "Content-Type": "image/jpeg",
        "Content-Length": "1234",
        "If-None-Match": "*",
    }
    assert (
        before + timedelta(minutes=4)
        < upload.expires_at
        <= before + timedelta(minutes=5, seconds=1)
    )
    assert urlsplit(upload.url).path == "/objects/photos/h.jpg"


async def test_upload_once_with_exactly_the_signed_headers(suite: Suite) -> None:
    # Signed directly with a service's store (the same code signs attendance's photo
    # uploads), so every header can be varied one at a time.
    store = store_of(suite)
    body = b"\xff\xd8jpeg"
    upload = await store.upload_url("photos/p1.jpg", "image/jpeg", len(body), timedelta(minutes=5))
    url = path_of(upload.url)

    async def put(content: bytes, **changes: str | None) -> httpx.Response:
        headers = {**upload.headers, **changes}
        sent = {name: value for name, value in headers.items() if value is not None}
        return await suite.client.put(url, content=content, headers=sent)

    # What the signature covers, the store checks: type, size, If-None-Match.
    refused = [
        await put(body, **{"Content-Type": "image/png"}),
        await put(body + b"more", **{"Content-Length": None}),
        await put(body[:2], **{"Content-Length": None}),
        await put(body, **{"If-None-Match": None}),
    ]

    async def chunks() -> AsyncIterator[bytes]:
        yield body  # sent chunked: no Content-Length at all

    unsized = {name: value for name, value in upload.headers.items() if name != "Content-Length"}
    refused.append(await suite.client.put(url, content=chunks(), headers=unsized))
    assert [r.status_code for r in refused] == [403] * 5
    assert {code_of(r) for r in refused} == {"FORBIDDEN"}
    assert await store.stat("photos/p1.jpg") is None
    # A body that is not as long as the (signed) Content-Length it came with.
    short = await put(body[:-1])
    assert short.status_code == 400
    assert code_of(short) == "VALIDATION"
    long = await put(body + b"x")
    assert long.status_code == 400
    assert await store.stat("photos/p1.jpg") is None

    first = await put(body)
    assert first.status_code == 200
    again = await put(b"\xff\xd8evil")
    assert again.status_code == 412
    assert code_of(again) == "CONFLICT"
    assert await store.get("photos/p1.jpg") == body
    info = await store.stat("photos/p1.jpg")
    assert info is not None
    assert (info.size, info.content_type, info.version_id) == (len(body), "image/jpeg", None)
    assert info.etag == hashlib.md5(body, usedforsecurity=False).hexdigest()

    download = await suite.client.get(
        path_of(await store.download_url("photos/p1.jpg", timedelta(minutes=5)))
    )
    assert download.status_code == 200
    assert download.content == body
    assert download.headers["content-type"] == "image/jpeg"
    assert download.headers["etag"] == f'"{info.etag}"'

    # A download URL does not allow an upload, nor the reverse.
    download_url = path_of(await store.download_url("photos/p2.jpg", timedelta(minutes=5)))
    refused_put = await suite.client.put(download_url, content=b"x", headers=upload.headers)
    assert refused_put.status_code == 403
    assert (await suite.client.get(url)).status_code == 403


async def test_expired_or_other_key_upload_is_refused(suite: Suite) -> None:
    store = store_of(suite)
    expired = await store.upload_url("photos/late.jpg", "image/jpeg", 3, timedelta(seconds=-1))
    response = await suite.client.put(path_of(expired.url), content=b"abc", headers=expired.headers)
    assert response.status_code == 403
    good = await store.upload_url("photos/mine.jpg", "image/jpeg", 3, timedelta(minutes=5))
    other = path_of(good.url).replace("mine.jpg", "yours.jpg")
    response = await suite.client.put(other, content=b"abc", headers=good.headers)
    assert response.status_code == 403
    assert await store.stat("photos/yours.jpg") is None


async def test_oversized_upload_writes_nothing(start_suite: StartSuite) -> None:
    suite = await start_suite(max_object_bytes=1024)
    store = store_of(suite)
    upload = await store.upload_url("photos/big.jpg", "image/jpeg", 4096, timedelta(minutes=5))
    response = await suite.client.put(
        path_of(upload.url), content=b"x" * 4096, headers=upload.headers
    )
    assert response.status_code == 413
    assert code_of(response) == "PAYLOAD_TOO_LARGE"
    assert await store.stat("photos/big.jpg") is None


async def test_concurrent_writes_to_a_key_store_one_object(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path, "http://gateway", b"k" * 32)
    results = await asyncio.gather(
        *(store.put("photos/race.jpg", bytes([n]) * 1000, "image/jpeg") for n in range(8)),
        return_exceptions=True,
    )
    written = [r for r in results if isinstance(r, ObjectInfo)]
    assert len(written) == 1
    assert all(isinstance(r, Conflict) for r in results if r not in written)
    stored = await store.get("photos/race.jpg")
    assert stored == stored[:1] * 1000  # one writer's bytes, whole
    assert hashlib.md5(stored, usedforsecurity=False).hexdigest() == written[0].etag
    info = await store.stat("photos/race.jpg")
    assert info == written[0]
    # Nothing but the object and its sidecar is left in the folder.
    assert sorted(p.name for p in (tmp_path / "photos").iterdir()) == [
        "race.jpg",
        "race.jpg.meta.json",
    ]


def test_keys_cannot_name_a_sidecar() -> None:
    for key in ["photos/a.jpg.meta.json", "a.content-type", "../a", "/a", ""]:
        with pytest.raises(InvalidInput):
            check_key(key)
    assert check_key("photos//e1/./a.jpg") == "photos/e1/a.jpg"
