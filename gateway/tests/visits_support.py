"""What the gateway's field-visit tests share: the attendance operations, a check-in through
the gateway, downloading a photo and reading codes and RPC counts off a result.

The field-visit tests run against the real attendance and customers services (embedded
profile): photo uploads go to the gateway's own /objects route, as the mobile app's would.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from tests.harness import GraphQLResult, Suite

# A customer's site in Shanghai, away from the sites other test modules use.
SITE = (31.2304, 121.4737)
NEAR_SITE = (31.2305, 121.4738)

CREATE_UPLOAD = """
mutation($input: CreatePhotoUploadInput!) {
  createPhotoUpload(input: $input) { key uploadUrl uploadHeaders expiresAt }
}
"""
CHECK_IN = """
mutation($input: CheckInInput!) {
  checkIn(input: $input) {
    checkIn {
      id at location { lat lng } accuracyM verdict reasons { code message detail }
      deviceId mockLocation visitPlanId checkedOutAt note recordedAt
      employee { id } customer { id }
    }
  }
}
"""
CHECK_IN_WITH_PHOTOS = """
mutation($input: CheckInInput!) {
  checkIn(input: $input) {
    checkIn {
      id verdict reasons { code }
      photos {
        key url urlExpiresAt contentType sizeBytes sha256 perceptualHash takenAt
        location { lat lng } hasExifLocation
      }
    }
  }
}
"""
ONE = "query($id: ID!) { checkIn(id: $id) { id photos { key url } } }"
PAGE = """
query($filter: CheckInFilter) {
  checkIns(first: 100, filter: $filter) {
    totalCount
    edges { cursor node { id employee { id } photos { key url } } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
CHECK_OUT = """
mutation($input: CheckOutInput!) {
  checkOut(input: $input) {
    checkIn { id verdict reasons { code detail } checkedOutAt checkOutLocation { lat lng } }
  }
}
"""
IMPORT_CALLS = """
mutation($input: ImportCallLogsInput!) {
  importCallLogs(input: $input) { accepted duplicates rejected { index field reason } alertsRaised }
}
"""
CALL_LOGS = """
query($filter: CallLogFilter) {
  callLogs(first: 50, filter: $filter) {
    totalCount
    edges { node { id number direction startedAt durationSeconds employee { id } customer { id } } }
  }
}
"""
PLAN_VISIT = """
mutation($input: PlanVisitInput!) {
  planVisit(input: $input) {
    visitPlan { id windowStart windowEnd note createdAt employee { id } customer { id } }
  }
}
"""
VISIT_PLANS = """
query($filter: VisitPlanFilter) {
  visitPlans(first: 50, filter: $filter) { totalCount edges { node { id employee { id } } } }
}
"""
UPSERT_BRANCH_LIMITS = """
mutation($input: UpsertBranchInput!) {
  upsertBranch(input: $input) { branch { id geofenceRadiusM minVisitMinutes } }
}
"""
RUN_DETECTORS = """
mutation($input: RunDetectorsInput!) {
  runDetectors(input: $input) { alertsRaised employeesChecked }
}
"""


def visit(point: tuple[float, float] = SITE, **extra: Any) -> dict[str, Any]:
    """A check-in input as the app sends one: ten minutes ago, unless told otherwise."""
    at = extra.pop("at", datetime.now(UTC) - timedelta(minutes=10))
    return {
        "at": at.isoformat(),
        "location": {"lat": point[0], "lng": point[1]},
        "accuracyM": 12.0,
        "deviceId": "phone-1",
        **extra,
    }


async def check_in(suite: Suite, as_: str, **extra: Any) -> dict[str, Any]:
    data = (await suite.gql(CHECK_IN, {"input": visit(**extra)}, as_=as_)).ok()
    return dict(data["checkIn"]["checkIn"])


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


async def download(suite: Suite, url: str) -> bytes:
    """GET a signed URL; in the embedded profile the gateway itself serves /objects."""
    response = await suite.client.get(path_of(url))
    assert response.status_code == 200, response.text
    return response.content


def codes_of(check_in: dict[str, Any]) -> set[str]:
    return {reason["code"] for reason in check_in["reasons"]}


def rpc_calls(result: GraphQLResult) -> dict[str, int]:
    return dict(result.body.get("extensions", {}).get("rpcCalls", {}))


def visits_rpc(method: str) -> str:
    return f"/salesguard.attendance.v1.VisitsService/{method}"
