"""The embedded profile's object store behind signed URLs: /objects/{key}."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from gateway.tests.conftest import gateway_settings
from salesguard.objectstore import LocalObjectStore, object_store_from_settings


@pytest.fixture
def store(tmp_path: Path) -> LocalObjectStore:
    # The same data folder and secret as the gateway the `gateway` fixture builds.
    store = object_store_from_settings(gateway_settings(tmp_path))
    assert isinstance(store, LocalObjectStore)
    return store


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


async def test_download_with_a_good_signature(
    gateway: httpx.AsyncClient, store: LocalObjectStore
) -> None:
    await store.put("exports/e1.csv", b"code,name\nC-000001,ACME\n", "text/csv")
    url = await store.download_url("exports/e1.csv", timedelta(minutes=5))
    response = await gateway.get(path_of(url))
    assert response.status_code == 200
    assert response.content == b"code,name\nC-000001,ACME\n"
    assert response.headers["content-type"].startswith("text/csv")


async def test_expired_tampered_and_missing(
    gateway: httpx.AsyncClient, store: LocalObjectStore
) -> None:
    await store.put("exports/e2.csv", b"x", "text/csv")
    expired = await store.download_url("exports/e2.csv", timedelta(seconds=-1))
    assert (await gateway.get(path_of(expired))).status_code == 403
    good = path_of(await store.download_url("exports/e2.csv", timedelta(minutes=5)))
    other_key = good.replace("e2.csv", "e1.csv")
    response = await gateway.get(other_key)
    assert response.status_code == 403
    assert response.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert (await gateway.get(good.replace("signature=", "signature=A"))).status_code == 403
    assert (await gateway.get("/objects/exports/e2.csv")).status_code == 403
    missing = await store.download_url("exports/none.csv", timedelta(minutes=5))
    assert (await gateway.get(path_of(missing))).status_code == 404


async def test_upload_once_with_the_signed_content_type(
    gateway: httpx.AsyncClient, store: LocalObjectStore
) -> None:
    url = path_of(await store.upload_url("photos/p1.jpg", "image/jpeg", timedelta(minutes=5)))
    wrong_type = await gateway.put(url, content=b"\xff\xd8", headers={"Content-Type": "image/png"})
    assert wrong_type.status_code == 403
    first = await gateway.put(url, content=b"\xff\xd8jpeg", headers={"Content-Type": "image/jpeg"})
    assert first.status_code == 200
    again = await gateway.put(url, content=b"\xff\xd8evil", headers={"Content-Type": "image/jpeg"})
    assert again.status_code == 409
    assert again.json()["errors"][0]["extensions"]["code"] == "CONFLICT"
    assert await store.get("photos/p1.jpg") == b"\xff\xd8jpeg"
    # A download URL does not allow an upload, nor the reverse.
    download = path_of(await store.download_url("photos/p2.jpg", timedelta(minutes=5)))
    refused = await gateway.put(download, content=b"x", headers={"Content-Type": "image/jpeg"})
    assert refused.status_code == 403


async def test_oversized_upload_writes_nothing(
    make_gateway: object, store: LocalObjectStore
) -> None:
    gateway = await make_gateway(max_object_bytes=1024)  # type: ignore[operator]
    url = path_of(await store.upload_url("photos/big.jpg", "image/jpeg", timedelta(minutes=5)))
    response = await gateway.put(url, content=b"x" * 4096, headers={"Content-Type": "image/jpeg"})
    assert response.status_code == 413
    assert await store.stat("photos/big.jpg") is None
