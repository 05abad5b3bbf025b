"""Exports the way managers and finance run them, and their downloads through the gateway.

A customer export (C9) is requested, approved by another manager and run; a payroll
export is run by finance on a period that has run. Either hands out a ``downloadUrl``
that the exporting employee fetches once, with their bearer token (:func:`download`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from tests.harness import Suite, global_id

REQUEST_EXPORT = """
mutation($input: RequestCustomerExportInput!) {
  requestCustomerExport(input: $input) { exportRequest { id status customerCount } }
}
"""
DECIDE_EXPORT = """
mutation($input: DecideExportRequestInput!) {
  decideExportRequest(input: $input) { exportRequest { id status } }
}
"""
RUN_EXPORT = """
mutation($id: ID!) {
  runCustomerExport(input: {id: $id}) {
    exportRequest { id status rowCount sha256 }
    downloadUrl downloadUrlExpiresAt
  }
}
"""
RUN_COMMISSIONS = """mutation($input: RunCommissionsInput!) {
  runCommissions(input: $input) { periods { period lines } } }"""
EXPORT_COMMISSIONS = """mutation($input: ExportCommissionPeriodInput!) {
  exportCommissionPeriod(input: $input) { downloadUrl downloadUrlExpiresAt rowCount sha256 } }"""


@dataclass(frozen=True)
class Export:
    """A file handed out for download: its URL, SHA-256 and row count."""

    url: str
    sha256: str
    row_count: int
    id: str = ""


async def request_export(
    suite: Suite, requester: str, customer_ids: list[str], reason: str = "quarterly review"
) -> dict[str, Any]:
    """Request an export of the customers (C9); the pending request (``id``, ``status``)."""
    requested: dict[str, Any] = (
        await suite.gql(
            REQUEST_EXPORT,
            {"input": {"customerIds": customer_ids, "reason": reason}},
            as_=requester,
        )
    ).ok()["requestCustomerExport"]["exportRequest"]
    return requested


async def customer_export(
    suite: Suite, requester: str, approver: str, customer_ids: list[str]
) -> Export:
    """Request (as ``requester``), approve (as ``approver``) and run an export of the customers."""
    requested = await request_export(suite, requester, customer_ids)
    (
        await suite.gql(
            DECIDE_EXPORT,
            {"input": {"id": requested["id"], "approve": True, "comment": "ok"}},
            as_=approver,
        )
    ).ok()
    ran = (await suite.gql(RUN_EXPORT, {"id": requested["id"]}, as_=requester)).ok()[
        "runCustomerExport"
    ]
    assert ran["exportRequest"]["status"] == "COMPLETED"
    assert ran["downloadUrlExpiresAt"]
    return Export(
        ran["downloadUrl"],
        ran["exportRequest"]["sha256"],
        ran["exportRequest"]["rowCount"],
        requested["id"],
    )


async def payroll_export(
    suite: Suite, finance: str, period: str, branch_id: str, *, run: bool = True
) -> Export:
    """Export a period's commission lines (running the period first, unless told not to)."""
    period_input = {"period": period, "branchId": global_id("Branch", branch_id)}
    if run:
        (await suite.gql(RUN_COMMISSIONS, {"input": period_input}, as_=finance)).ok()
    exported = (await suite.gql(EXPORT_COMMISSIONS, {"input": period_input}, as_=finance)).ok()[
        "exportCommissionPeriod"
    ]
    assert exported["downloadUrlExpiresAt"]
    return Export(exported["downloadUrl"], exported["sha256"], exported["rowCount"])


def _bearer(suite: Suite, as_: str | None, headers: dict[str, str] | None) -> dict[str, str]:
    sent = dict(headers or {})
    if as_ is not None:
        sent["Authorization"] = f"Bearer {suite.token(as_)}"
    return sent


async def download(
    suite: Suite, url: str, *, as_: str | None = None, headers: dict[str, str] | None = None
) -> httpx.Response:
    """GET a download URL as ``as_`` (their bearer token), the way a client follows it.

    A URL on the gateway (its ``/downloads`` route) goes to the suite's gateway app; a URL
    of another server (an S3 presigned URL) is fetched from that server.
    """
    parts = urlsplit(url)
    sent = _bearer(suite, as_, headers)
    s3_endpoint: Any = suite.settings.get("s3_endpoint")
    if s3_endpoint and parts.netloc == s3_endpoint:
        async with httpx.AsyncClient(trust_env=False, timeout=30) as http:
            return await http.get(url, headers=sent)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    return await suite.client.get(path, headers=sent)


def error_code(response: httpx.Response) -> str:
    """The ``extensions.code`` of an HTTP-level error body."""
    return str(response.json()["errors"][0]["extensions"]["code"])
