"""The embedded profile's object store behind signed URLs: /objects/{key}."""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

import pytest

from gateway.tests.conftest import StartSuite
from salesguard.objectstore import LocalObjectStore
from tests.harness import Suite
from tests.org import Org, register


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def store_of(suite: Suite) -> LocalObjectStore:
    """The customers service's own object store: the folder and key its URLs are signed with."""
    store = suite.running["customers"].runtime.objects
    assert isinstance(store, LocalObjectStore)
    return store


@dataclass(frozen=True)
class Export:
    url: str
    key: str
    sha256: str
    codes: list[str]


@pytest.fixture(scope="module")
async def export(suite: Suite, org: Org) -> Export:
    """A customer export run the way managers run one (C9): requested, approved, run."""
    customers = [await register(suite, org.junior), await register(suite, org.senior)]
    requested = (
        await suite.gql(
            """mutation($input: RequestCustomerExportInput!) {
                 requestCustomerExport(input: $input) { exportRequest { id } } }""",
            {"input": {"customerIds": [c["id"] for c in customers], "reason": "quarterly review"}},
            as_=org.manager,
        )
    ).ok()["requestCustomerExport"]["exportRequest"]
    (
        await suite.gql(
            """mutation($input: DecideExportRequestInput!) {
                 decideExportRequest(input: $input) { exportRequest { status } } }""",
            {"input": {"id": requested["id"], "approve": True}},
            as_=org.manager_2,
        )
    ).ok()
    ran = (
        await suite.gql(
            """mutation($id: ID!) { runCustomerExport(input: {id: $id}) {
                 exportRequest { sha256 } downloadUrl } }""",
            {"id": requested["id"]},
            as_=org.manager,
        )
    ).ok()["runCustomerExport"]
    url = ran["downloadUrl"]
    key = urlsplit(url).path.removeprefix("/objects/")
    return Export(url, key, ran["exportRequest"]["sha256"], sorted(c["code"] for c in customers))


async def test_download_with_a_good_signature(suite: Suite, export: Export) -> None:
    response = await suite.client.get(path_of(export.url))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert hashlib.sha256(response.content).hexdigest() == export.sha256
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert sorted(row["code"] for row in rows) == export.codes


async def test_expired_tampered_and_missing(suite: Suite, export: Export) -> None:
    store = store_of(suite)
    expired = await store.download_url(export.key, timedelta(seconds=-1))
    assert (await suite.client.get(path_of(expired))).status_code == 403
    good = path_of(export.url)
    other_key = good.replace(".csv", "-other.csv")
    response = await suite.client.get(other_key)
    assert response.status_code == 403
    assert response.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert (await suite.client.get(good.replace("signature=", "signature=A"))).status_code == 403
    assert (await suite.client.get(f"/objects/{export.key}")).status_code == 403
    missing = await store.download_url("exports/none.csv", timedelta(minutes=5))
    response = await suite.client.get(path_of(missing))
    assert response.status_code == 404
    assert response.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_upload_once_with_the_signed_content_type(suite: Suite) -> None:
    # No service hands out photo uploads through the API yet (attendance's check-ins will);
    # the URL is signed by the same store a service would sign it with.
    store = store_of(suite)
    url = path_of(await store.upload_url("photos/p1.jpg", "image/jpeg", timedelta(minutes=5)))
    wrong_type = await suite.client.put(
        url, content=b"\xff\xd8", headers={"Content-Type": "image/png"}
    )
    assert wrong_type.status_code == 403
    first = await suite.client.put(
        url, content=b"\xff\xd8jpeg", headers={"Content-Type": "image/jpeg"}
    )
    assert first.status_code == 200
    again = await suite.client.put(
        url, content=b"\xff\xd8evil", headers={"Content-Type": "image/jpeg"}
    )
    assert again.status_code == 409
    assert again.json()["errors"][0]["extensions"]["code"] == "CONFLICT"
    assert await store.get("photos/p1.jpg") == b"\xff\xd8jpeg"
    # A download URL does not allow an upload, nor the reverse.
    download = path_of(await store.download_url("photos/p2.jpg", timedelta(minutes=5)))
    refused = await suite.client.put(download, content=b"x", headers={"Content-Type": "image/jpeg"})
    assert refused.status_code == 403
    assert (await suite.client.get(url)).status_code == 403


async def test_oversized_upload_writes_nothing(start_suite: StartSuite) -> None:
    suite = await start_suite(max_object_bytes=1024)
    store = store_of(suite)
    url = path_of(await store.upload_url("photos/big.jpg", "image/jpeg", timedelta(minutes=5)))
    response = await suite.client.put(
        url, content=b"x" * 4096, headers={"Content-Type": "image/jpeg"}
    )
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
    assert await store.stat("photos/big.jpg") is None
