"""An export is downloadable once (C9), by the employee who ran it.

The ``downloadUrl`` of an export answered 200 to every GET until its TTL ran out, with
no authentication. Now it names a one-time token on the gateway's ``/downloads`` route:
the exporting employee's bearer token is required too, the owning service consumes
the token atomically, and every refusal (a second try, an expired token, another
employee) is refused with a typed error and audited. Each test runs on the full
profile (PostgreSQL, OPA, S3) and on the embedded one (SQLite, regopy, a folder).
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import update

from salesguard.downloads import DOWNLOADS_ROUTE, token_hash
from salesguard.errors import ErrorCode, Forbidden, ServiceError
from salesguard.grpc_client import ServiceChannels
from salesguard.objectstore import LocalObjectStore
from salesguard.principal import Principal, acting_as
from salesguard_api.common.v1 import downloads_pb2, downloads_pb2_grpc
from salesguard_customers.models import ExportDownload
from tests.harness import Suite, employee_id, service_id
from tests.org import Org, make_org, register
from tests.support.exports import Export, customer_export, download, error_code, payroll_export

AUDIT = """query($filter: AuditEventFilter) {
  auditEvents(first: 50, filter: $filter) {
    edges { node { action actor { hrId } customerIds after reason } }
  } }"""
EXPORT_REQUEST = "query($id: ID!) { exportRequest(id: $id) { status downloadedAt } }"
DOWNLOADED = "customer.export.download"
REFUSED = "customer.export.download_refused"


@pytest.fixture
def stack(either_profile: Suite) -> Suite:
    return either_profile


def bearer(suite: Suite, employee: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {suite.token(employee)}"}


async def exported(suite: Suite) -> tuple[Org, Export]:
    org = await make_org(suite)
    customers = [await register(suite, org.junior), await register(suite, org.senior)]
    export = await customer_export(suite, org.manager, org.manager_2, [c["id"] for c in customers])
    return org, export


async def audit_as(suite: Suite, hr: str, export: Export, action: str) -> list[dict[str, Any]]:
    result = await suite.gql(AUDIT, {"filter": {"actions": [action]}}, as_=hr)
    nodes = [edge["node"] for edge in result.ok()["auditEvents"]["edges"]]
    # The entry's details keep the service's IDs.
    request_id = service_id(export.id)
    return [node for node in nodes if (node["after"] or {}).get("export_request_id") == request_id]


async def downloaded_at(suite: Suite, org: Org, export: Export) -> str | None:
    result = await suite.gql(EXPORT_REQUEST, {"id": export.id}, as_=org.manager)
    value: str | None = result.ok()["exportRequest"]["downloadedAt"]
    return value


async def test_second_download_is_refused_and_audited(stack: Suite) -> None:
    org, export = await exported(stack)
    assert await downloaded_at(stack, org, export) is None
    first = await download(stack, export.url, as_=org.manager)
    assert first.status_code == 200, first.text
    assert hashlib.sha256(first.content).hexdigest() == export.sha256
    assert first.content.count(b"\r\n") == 1 + export.row_count

    second = await download(stack, export.url, as_=org.manager)
    assert second.status_code == 410, second.text
    assert error_code(second) == "GONE"
    assert second.json()["errors"][0]["extensions"]["reason"] == "ALREADY_DOWNLOADED"
    assert await downloaded_at(stack, org, export) is not None

    # Served by the gateway, never by the object store: no URL that bypasses the rule.
    parts = urlsplit(export.url)
    assert parts.path.startswith(f"{DOWNLOADS_ROUTE}/customers/")
    assert parts.netloc != stack.settings.get("s3_endpoint")
    assert first.headers["content-type"].startswith("text/csv")
    assert "no-store" in first.headers["cache-control"]
    assert first.headers["content-disposition"].startswith("attachment;")
    assert ".csv" in first.headers["content-disposition"]
    assert first.headers["x-content-type-options"] == "nosniff"
    assert int(first.headers["content-length"]) == len(first.content)

    (downloaded,) = await audit_as(stack, org.hr, export, DOWNLOADED)
    assert downloaded["actor"] == {"hrId": org.manager}
    assert len(downloaded["customerIds"]) == export.row_count
    assert downloaded["after"]["sha256"] == export.sha256
    (refused,) = await audit_as(stack, org.hr, export, REFUSED)
    assert refused["actor"] == {"hrId": org.manager}
    assert refused["after"]["refusal"] == "ALREADY_DOWNLOADED"
    assert refused["customerIds"] == []


async def test_leaked_url_is_useless_without_the_exporters_bearer(stack: Suite) -> None:
    org, export = await exported(stack)
    anonymous = await download(stack, export.url)
    assert anonymous.status_code == 401
    assert error_code(anonymous) == "UNAUTHENTICATED"
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    bad_bearer = await download(stack, export.url, headers={"Authorization": "Bearer nonsense"})
    assert bad_bearer.status_code == 401

    for colleague in (org.manager_2, org.hr, org.junior):
        response = await download(stack, export.url, as_=colleague)
        assert response.status_code == 403, (colleague, response.text)
        assert error_code(response) == "FORBIDDEN"
    refusals = await audit_as(stack, org.hr, export, REFUSED)
    assert sorted(entry["actor"]["hrId"] for entry in refusals) == sorted(
        (org.manager_2, org.hr, org.junior)
    )
    assert {entry["after"]["refusal"] for entry in refusals} == {"NOT_YOURS"}

    token = urlsplit(export.url).path.rsplit("/", 1)[1]
    tampered = export.url.replace(token, token[:-1] + ("A" if token[-1] != "A" else "B"))
    for url in (tampered, export.url + "x", export.url.replace("/customers/", "/orders/")):
        response = await download(stack, url, as_=org.manager)
        assert response.status_code == 404, (url, response.text)
        assert error_code(response) == "NOT_FOUND"

    unknown = await stack.gql(
        AUDIT,
        {"filter": {"actions": [REFUSED], "actorId": employee_id(org.manager)}},
        as_=org.hr,
    )
    assert [
        edge["node"]["after"]
        for edge in unknown.ok()["auditEvents"]["edges"]
        if edge["node"]["after"]["refusal"] == "NO_SUCH_DOWNLOAD"
    ] == [{"refusal": "NO_SUCH_DOWNLOAD"}]  # the tampered token (the others never reach it)
    # HEAD would hand nothing out yet use the download up: not allowed.
    head = await stack.client.head(urlsplit(export.url).path, headers=bearer(stack, org.manager))
    assert head.status_code == 405

    # None of these refusals used the download up: its owner still gets the file, once.
    mine = await download(stack, export.url, as_=org.manager)
    assert mine.status_code == 200, mine.text
    assert hashlib.sha256(mine.content).hexdigest() == export.sha256
    assert (await download(stack, export.url, as_=org.manager)).status_code == 410


async def test_expired_download_is_refused(stack: Suite) -> None:
    org, export = await exported(stack)
    token = urlsplit(export.url).path.rsplit("/", 1)[1]
    # The TTL is minutes: move the token's expiry into the past rather than wait.
    async with stack.running["customers"].runtime.db.transaction() as session:
        moved = await session.execute(
            update(ExportDownload)
            .where(ExportDownload.token_hash == token_hash(token))
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        assert moved.rowcount == 1
    response = await download(stack, export.url, as_=org.manager)
    assert response.status_code == 410
    assert error_code(response) == "GONE"
    assert response.json()["errors"][0]["extensions"]["reason"] == "EXPIRED"
    (refused,) = await audit_as(stack, org.hr, export, REFUSED)
    assert (refused["actor"], refused["after"]["refusal"]) == ({"hrId": org.manager}, "EXPIRED")
    assert await audit_as(stack, org.hr, export, DOWNLOADED) == []


async def test_concurrent_downloads_hand_the_file_out_once(stack: Suite) -> None:
    org, export = await exported(stack)
    responses = await asyncio.gather(
        *(download(stack, export.url, as_=org.manager) for _ in range(10))
    )
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200] + [410] * 9
    (file,) = [response for response in responses if response.status_code == 200]
    assert hashlib.sha256(file.content).hexdigest() == export.sha256
    assert len(await audit_as(stack, org.hr, export, DOWNLOADED)) == 1
    assert len(await audit_as(stack, org.hr, export, REFUSED)) == 9


async def test_payroll_export_downloads_once(stack: Suite) -> None:
    org = await make_org(stack)
    export = await payroll_export(stack, org.finance, "2024-03", org.branch)
    assert urlsplit(export.url).path.startswith(f"{DOWNLOADS_ROUTE}/commissions/")
    assert (await download(stack, export.url)).status_code == 401
    assert (await download(stack, export.url, as_=org.hr)).status_code == 403
    first = await download(stack, export.url, as_=org.finance)
    assert first.status_code == 200, first.text
    assert hashlib.sha256(first.content).hexdigest() == export.sha256
    assert first.content.startswith(b"line_id,period,branch_id,employee_id")
    assert "no-store" in first.headers["cache-control"]
    again = await download(stack, export.url, as_=org.finance)
    assert again.status_code == 410
    assert error_code(again) == "GONE"
    # Exporting again hands out a new one-time URL for the same bytes.
    fresh = await payroll_export(stack, org.finance, "2024-03", org.branch, run=False)
    assert fresh.url != export.url and fresh.sha256 == export.sha256
    assert (await download(stack, fresh.url, as_=org.finance)).content == first.content


async def test_no_signed_object_url_is_minted_for_an_export(stack: Suite) -> None:
    org, export = await exported(stack)
    for service in ("customers", "commissions"):
        store = stack.running[service].runtime.objects
        for key in ("exports/x/y.csv", "commissions/exports/2024-01/b/z.csv"):
            with pytest.raises(Forbidden):
                await store.download_url(key, timedelta(minutes=5))
    store = stack.running["customers"].runtime.objects
    if isinstance(store, LocalObjectStore):
        # A URL signed before this rule existed is refused by the /objects route too.
        expires_at = int(datetime.now(UTC).timestamp()) + 300
        signature = store.sign("GET", "exports/x/y.csv", expires_at)
        response = await stack.client.get(
            f"/objects/exports/x/y.csv?expires={expires_at}&signature={signature}"
        )
        assert response.status_code == 403
        assert error_code(response) == "FORBIDDEN"
    assert (await download(stack, export.url, as_=org.manager)).status_code == 200


async def test_a_role_change_since_the_export_stops_the_download(stack: Suite) -> None:
    org, export = await exported(stack)
    token = urlsplit(export.url).path.rsplit("/", 1)[1]
    customers = stack.running["customers"]
    channels = ServiceChannels(
        {"customers": customers.address}, customers.runtime.internal_secret, 30
    )
    stub = downloads_pb2_grpc.DownloadsServiceStub(channels.channel("customers"))
    demoted = Principal(id=org.manager, roles=("SALES_JUNIOR",), branch_id=org.branch)
    try:
        with acting_as(demoted), pytest.raises(ServiceError) as refused:
            async for _ in stub.Download(downloads_pb2.DownloadRequest(token=token)):
                pass
    finally:
        await channels.close()
    assert refused.value.code is ErrorCode.FORBIDDEN
    assert refused.value.details == {"reason": "NOT_PERMITTED"}
    (entry,) = await audit_as(stack, org.hr, export, REFUSED)
    assert (entry["actor"], entry["after"]["refusal"]) == ({"hrId": org.manager}, "NOT_PERMITTED")
    # As the manager they still are, the download is theirs, once.
    assert (await download(stack, export.url, as_=org.manager)).status_code == 200
