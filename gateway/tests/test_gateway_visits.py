"""Field visits through the gateway (A2–A6): photos, check-ins, plans, call logs.

Against the real attendance and customers services (embedded profile): photo
uploads go to the gateway's own /objects route, as the mobile app's would.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest

from salesguard.objectstore import LocalObjectStore
from tests.harness import GraphQLResult, Suite, unique
from tests.org import Org, admin, make_org, new_phone, register
from tests.photos import jpeg, scene, upload

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


# --- photos: upload, check in, download ----------------------------------------------------


async def test_a_photo_goes_up_and_only_those_who_may_see_the_check_in_get_it_back(
    suite: Suite, org: Org
) -> None:
    taken_at = datetime.now(UTC) - timedelta(minutes=12)
    data = jpeg(scene(7001), gps=NEAR_SITE, taken_at=taken_at)
    created = (
        await suite.gql(
            CREATE_UPLOAD,
            {"input": {"contentType": "image/jpeg", "sizeBytes": len(data)}},
            as_=org.junior,
        )
    ).ok()["createPhotoUpload"]
    assert created["key"].startswith(f"photos/{org.junior}/")
    assert created["uploadHeaders"]["Content-Type"] == "image/jpeg"
    assert created["uploadHeaders"]["Content-Length"] == str(len(data))
    assert datetime.fromisoformat(created["expiresAt"]) > datetime.now(UTC)
    # The app PUTs the bytes with exactly the returned headers (here: the gateway's /objects).
    put = await suite.client.put(
        path_of(created["uploadUrl"]), content=data, headers=created["uploadHeaders"]
    )
    assert put.status_code == 200, put.text

    customer = await register(suite, org.junior, location={"lat": SITE[0], "lng": SITE[1]})
    result = await suite.gql(
        CHECK_IN_WITH_PHOTOS,
        {"input": visit(customerId=customer["id"], photoKeys=[created["key"]])},
        as_=org.junior,
    )
    made = result.ok()["checkIn"]["checkIn"]
    [photo] = made["photos"]
    assert photo["key"] == created["key"]
    assert photo["contentType"] == "image/jpeg"
    assert photo["sizeBytes"] == len(data)
    assert photo["sha256"] == hashlib.sha256(data).hexdigest()
    assert len(photo["perceptualHash"]) == 16
    assert photo["hasExifLocation"] is True
    assert photo["location"] == pytest.approx({"lat": NEAR_SITE[0], "lng": NEAR_SITE[1]})
    assert abs(datetime.fromisoformat(photo["takenAt"]) - taken_at) < timedelta(seconds=1)
    assert "NO_PHOTO" not in codes_of(made)
    # The URL was asked for, so the mutation read the check-in again with signed URLs.
    assert await download(suite, photo["url"]) == data
    assert datetime.fromisoformat(photo["urlExpiresAt"]) > datetime.now(UTC)
    assert rpc_calls(result)[visits_rpc("GetCheckIn")] == 1

    # The rep and their manager get URLs that download the same bytes.
    for viewer in (org.junior, org.manager):
        shown = (await suite.gql(ONE, {"id": made["id"]}, as_=viewer)).ok()["checkIn"]
        assert await download(suite, shown["photos"][0]["url"]) == data
        listed = (await suite.gql(PAGE, {"filter": {"employeeId": org.junior}}, as_=viewer)).ok()
        [node] = [e["node"] for e in listed["checkIns"]["edges"] if e["node"]["id"] == made["id"]]
        assert await download(suite, node["photos"][0]["url"]) == data

    # Another junior (same team) sees neither the check-in nor a URL.
    for outsider in (org.junior_mate, org.junior_b):
        page = await suite.gql(PAGE, {"filter": {"employeeId": org.junior}}, as_=outsider)
        assert page.ok()["checkIns"] == {
            "totalCount": 0,
            "edges": [],
            "pageInfo": {"hasNextPage": False, "endCursor": None},
        }
        one = await suite.gql(ONE, {"id": made["id"]}, as_=outsider)
        assert one.data == {"checkIn": None}
        assert one.codes == ["NOT_FOUND"]
        for body in (page.body, one.body):
            assert "signature=" not in str(body)
            assert created["key"] not in str(body)


async def test_urls_are_signed_only_when_the_query_shows_them(
    suite: Suite, org: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = await upload(suite, org.senior, jpeg(scene(7002), gps=SITE))
    made = (await suite.gql(CHECK_IN, {"input": visit(photoKeys=[key])}, as_=org.senior)).ok()[
        "checkIn"
    ]["checkIn"]
    store = suite.running["attendance"].runtime.objects
    assert isinstance(store, LocalObjectStore)
    signed: list[str] = []
    sign = store.download_url

    async def counting(key: str, expires: timedelta, version_id: str | None = None) -> str:
        signed.append(key)
        return await sign(key, expires, version_id)

    monkeypatch.setattr(store, "download_url", counting)
    without = "query($id: ID!) { checkIn(id: $id) { photos { key sha256 } } }"
    assert (await suite.gql(without, {"id": made["id"]}, as_=org.senior)).ok()["checkIn"]["photos"][
        0
    ]["key"] == key
    page = "{ checkIns(first: 5) { edges { node { id photos { key } } } } }"
    (await suite.gql(page, as_=org.senior)).ok()
    assert signed == []
    with_url = (await suite.gql(ONE, {"id": made["id"]}, as_=org.senior)).ok()
    assert with_url["checkIn"]["photos"][0]["url"]
    assert signed == [key]


# --- who sees which check-ins ---------------------------------------------------------------


async def test_check_ins_are_scoped_per_role(suite: Suite) -> None:
    org = await make_org(suite)
    mine = {
        employee: (await check_in(suite, employee, deviceId=unique("device")))["id"]
        for employee in (org.junior, org.junior_mate, org.junior_b, org.other_manager)
    }

    async def visible(as_: str) -> set[str]:
        seen: set[str] = set()
        for employee in mine:
            result = await suite.gql(PAGE, {"filter": {"employeeId": employee}}, as_=as_)
            seen |= {edge["node"]["id"] for edge in result.ok()["checkIns"]["edges"]}
        return seen

    # Own only, for a junior and a senior alike (the senior has none).
    assert await visible(org.junior) == {mine[org.junior]}
    assert await visible(org.senior) == set()
    # A manager: the branch, not the other branch.
    assert await visible(org.manager) == {
        mine[org.junior],
        mine[org.junior_mate],
        mine[org.junior_b],
    }
    assert await visible(org.other_manager) == {mine[org.other_manager]}
    # HR: everyone.
    assert await visible(org.hr) == set(mine.values())
    # Finance does not read check-ins at all.
    refused = await suite.gql(PAGE, {"filter": {}}, as_=org.finance)
    assert refused.data == {"checkIns": None}
    assert refused.codes == ["FORBIDDEN"]

    # The same scope through an employee's own connection.
    by_employee = """query($id: ID!) {
      employee(id: $id) { checkIns(first: 10) { totalCount edges { node { id } } } } }"""
    seen = (await suite.gql(by_employee, {"id": org.junior}, as_=org.manager)).ok()
    assert seen["employee"]["checkIns"]["totalCount"] == 1
    assert seen["employee"]["checkIns"]["edges"][0]["node"]["id"] == mine[org.junior]


async def test_a_page_of_check_ins_batches_its_links(suite: Suite) -> None:
    org = await make_org(suite)
    customers = [
        await register(suite, owner, location={"lat": SITE[0], "lng": SITE[1]})
        for owner in (org.junior, org.junior_mate)
    ]
    start = datetime.now(UTC) - timedelta(hours=3)
    for number, (employee, customer) in enumerate(
        [(org.junior, customers[0]), (org.junior_mate, customers[1])] * 3
    ):
        await check_in(
            suite, employee, at=start + timedelta(minutes=20 * number), customerId=customer["id"]
        )
    query = """query($filter: CheckInFilter) { checkIns(first: 10, filter: $filter) {
      edges { node { id employee { id name } customer { id code } } } } }"""
    result = await suite.gql(query, {"filter": {"from": start.isoformat()}}, as_=org.manager)
    nodes = [edge["node"] for edge in result.ok()["checkIns"]["edges"]]
    assert len(nodes) == 6
    assert {node["customer"]["id"] for node in nodes} == {c["id"] for c in customers}
    assert rpc_calls(result) == {
        visits_rpc("ListCheckIns"): 1,
        "/salesguard.attendance.v1.DirectoryService/BatchGetEmployees": 1,
        "/salesguard.customers.v1.CustomersService/BatchGetCustomers": 1,
    }
    # Pages resume after their cursor, newest first, and count the whole set.
    paged = """query($after: String, $filter: CheckInFilter) {
      checkIns(first: 4, after: $after, filter: $filter) {
        totalCount edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }"""
    seen: list[str] = []
    after = None
    for expected_next in (True, False):
        variables = {"after": after, "filter": {"from": start.isoformat()}}
        page = (await suite.gql(paged, variables, as_=org.manager)).ok()["checkIns"]
        assert page["totalCount"] == 6
        assert page["pageInfo"]["hasNextPage"] is expected_next
        assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]
        seen += [edge["node"]["id"] for edge in page["edges"]]
        after = page["pageInfo"]["endCursor"]
    assert seen == [node["id"] for node in nodes]


async def test_a_linked_customer_the_caller_may_not_see_reads_as_null(suite: Suite) -> None:
    org = await make_org(suite)
    customer = await register(suite, org.junior, location={"lat": SITE[0], "lng": SITE[1]})
    made = await check_in(suite, org.junior, customerId=customer["id"])
    assert made["customer"] == {"id": customer["id"]}
    # The customer goes to a teammate: the junior no longer sees it on their own visit.
    reassign = """
    mutation($input: ReassignCustomersInput!) { reassignCustomers(input: $input) { customers { id } } }
    """
    values = {"customerIds": [customer["id"]], "newOwnerId": org.junior_mate, "reason": "cover"}
    (await suite.gql(reassign, {"input": values}, as_=org.manager)).ok()
    query = "query($id: ID!) { checkIn(id: $id) { customer { id } employee { id } } }"
    own_view = (await suite.gql(query, {"id": made["id"]}, as_=org.junior)).ok()["checkIn"]
    assert own_view == {"customer": None, "employee": {"id": org.junior}}
    seen = (await suite.gql(query, {"id": made["id"]}, as_=org.manager)).ok()
    assert seen["checkIn"]["customer"] == {"id": customer["id"]}
    # Linking a visit to a customer one may not read is refused (SPEC §2).
    linked = await suite.gql(CHECK_IN, {"input": visit(customerId=customer["id"])}, as_=org.junior)
    assert linked.codes == ["NOT_FOUND"]


async def test_filters_by_verdict_and_reason(suite: Suite) -> None:
    org = await make_org(suite)
    mocked = await check_in(suite, org.junior, mockLocation=True)
    assert "MOCK_LOCATION" in codes_of(mocked)
    assert mocked["mockLocation"] is True
    plain = await check_in(suite, org.junior, at=datetime.now(UTC) - timedelta(minutes=40))
    assert "MOCK_LOCATION" not in codes_of(plain)

    async def ids(**filter_: Any) -> set[str]:
        result = await suite.gql(
            PAGE, {"filter": {"employeeId": org.junior, **filter_}}, as_=org.manager
        )
        return {edge["node"]["id"] for edge in result.ok()["checkIns"]["edges"]}

    assert await ids(reasonCodes=["MOCK_LOCATION"]) == {mocked["id"]}
    assert await ids(verdicts=[mocked["verdict"]]) >= {mocked["id"]}
    assert await ids(to=(datetime.now(UTC) - timedelta(minutes=20)).isoformat()) == {plain["id"]}


# --- typed validation -----------------------------------------------------------------------


async def test_bad_input_is_a_typed_validation_error(suite: Suite, org: Org) -> None:
    cases: list[tuple[str, str, dict[str, Any], str | None, str | None]] = [
        # (case, mutation, input, field, the visits RPC the gateway must not have made)
        ("latitude 91", CHECK_IN, visit((91.0, 121.0)), "location", "CheckIn"),
        ("longitude -181", CHECK_IN, visit((31.0, -181.0)), "location", "CheckIn"),
        (
            "a negative size",
            CREATE_UPLOAD,
            {"contentType": "image/jpeg", "sizeBytes": -5},
            "size_bytes",
            "CreatePhotoUpload",
        ),
        (
            "a zero size",
            CREATE_UPLOAD,
            {"contentType": "image/jpeg", "sizeBytes": 0},
            "size_bytes",
            "CreatePhotoUpload",
        ),
        (
            "an unknown content type",
            CREATE_UPLOAD,
            {"contentType": "application/x-msdownload", "sizeBytes": 1000},
            "content_type",
            None,
        ),
        (
            "a check-out at latitude 91",
            CHECK_OUT,
            {"checkInId": "x", "location": {"lat": 91.0, "lng": 0.0}},
            "location",
            "CheckOut",
        ),
    ]
    for case, mutation, values, field, not_called in cases:
        result = await suite.gql(mutation, {"input": values}, as_=org.junior)
        assert result.status == 200, case
        assert result.codes == ["VALIDATION"], (case, result.body)
        assert result.errors[0]["extensions"].get("field") == field, (case, result.body)
        assert list(result.data.values()) == [None], case
        if not_called is not None:
            assert visits_rpc(not_called) not in rpc_calls(result), case


async def test_malformed_values_are_refused_before_execution(suite: Suite, org: Org) -> None:
    cases: list[tuple[str, str, dict[str, Any]]] = [
        ("a date-time without offset", CHECK_IN, visit() | {"at": "2025-05-01T09:30:00"}),
        ("not a date-time", CHECK_IN, visit() | {"at": "yesterday"}),
        ("no location", CHECK_IN, {k: v for k, v in visit().items() if k != "location"}),
        (
            "a size that is not an Int",
            CREATE_UPLOAD,
            {"contentType": "image/png", "sizeBytes": 1.5},
        ),
        (
            "an unknown direction",
            IMPORT_CALLS,
            {"entries": [call(org.junior, new_phone(), datetime.now(UTC)) | {"direction": "UP"}]},
        ),
    ]
    for case, mutation, values in cases:
        result = await suite.gql(mutation, {"input": values}, as_=org.junior)
        assert result.codes == ["VALIDATION"], (case, result.body)
        assert result.data == {}, case
        assert not any(name.startswith(visits_rpc("")) for name in rpc_calls(result)), case


# --- check-out ------------------------------------------------------------------------------


async def test_a_check_out_after_two_minutes_adds_short_visit(suite: Suite, org: Org) -> None:
    at = datetime.now(UTC) - timedelta(minutes=15)
    made = await check_in(suite, org.junior_mate, at=at, deviceId="mate-phone")
    assert "SHORT_VISIT" not in codes_of(made)
    out_at = at + timedelta(minutes=2)
    values = {
        "checkInId": made["id"],
        "at": out_at.isoformat(),
        "location": {"lat": SITE[0], "lng": SITE[1]},
        "accuracyM": 8.0,
        "idempotencyKey": unique("out"),
    }
    result = await suite.gql(CHECK_OUT, {"input": values}, as_=org.junior_mate)
    out = result.ok()["checkOut"]["checkIn"]
    assert "SHORT_VISIT" in codes_of(out)
    short = next(r for r in out["reasons"] if r["code"] == "SHORT_VISIT")
    assert short["detail"]["minutes"] == pytest.approx(2.0)
    assert out["verdict"] in {"SUSPICIOUS", "REJECTED"}
    assert abs(datetime.fromisoformat(out["checkedOutAt"]) - out_at) < timedelta(seconds=1)
    assert out["checkOutLocation"] == pytest.approx({"lat": SITE[0], "lng": SITE[1]})
    # Retried with the same key: the same answer, not a second check-out.
    again = (await suite.gql(CHECK_OUT, {"input": values}, as_=org.junior_mate)).ok()
    assert again["checkOut"]["checkIn"] == out
    # The check-in now carries it for everyone who may see it.
    found = await suite.gql(
        PAGE,
        {"filter": {"employeeId": org.junior_mate, "reasonCodes": ["SHORT_VISIT"]}},
        as_=org.manager,
    )
    assert made["id"] in {edge["node"]["id"] for edge in found.ok()["checkIns"]["edges"]}
    # Nobody checks out someone else's visit, nor twice.
    others = await suite.gql(CHECK_OUT, {"input": {"checkInId": made["id"]}}, as_=org.junior)
    assert others.codes == ["NOT_FOUND"]
    twice = await suite.gql(CHECK_OUT, {"input": {"checkInId": made["id"]}}, as_=org.junior_mate)
    assert twice.codes == ["FAILED_PRECONDITION"]


async def test_a_branch_s_own_limits_apply_to_its_check_ins(suite: Suite) -> None:
    org = await make_org(suite)
    customer = await register(suite, org.junior, location={"lat": SITE[0], "lng": SITE[1]})
    hundred_metres_north = (SITE[0] + 100 / 111_195, SITE[1])
    values = {"id": org.branch, "name": org.branch, "timeZone": "Asia/Shanghai"}

    async def visit_for_two_minutes(at: datetime) -> tuple[set[str], set[str]]:
        made = await check_in(
            suite, org.junior, point=hundred_metres_north, at=at, customerId=customer["id"]
        )
        out = await suite.gql(
            CHECK_OUT,
            {"input": {"checkInId": made["id"], "at": (at + timedelta(minutes=2)).isoformat()}},
            as_=org.junior,
        )
        return codes_of(made), codes_of(out.ok()["checkOut"]["checkIn"])

    # A tight geofence and a one-minute minimum visit.
    await admin(suite, UPSERT_BRANCH_LIMITS, values | {"geofenceRadiusM": 50, "minVisitMinutes": 1})
    checked_in, checked_out = await visit_for_two_minutes(datetime.now(UTC) - timedelta(hours=1))
    assert "LOCATION_MISMATCH" in checked_in
    assert "SHORT_VISIT" not in checked_out
    # Omitted again: the service's settings (300 m, 5 minutes) apply.
    await admin(suite, UPSERT_BRANCH_LIMITS, values)
    checked_in, checked_out = await visit_for_two_minutes(datetime.now(UTC) - timedelta(minutes=30))
    assert "LOCATION_MISMATCH" not in checked_in
    assert "SHORT_VISIT" in checked_out


async def test_a_branch_s_own_limits_read_back(suite: Suite) -> None:
    org = await make_org(suite)
    values = {"id": org.branch, "name": org.branch, "timeZone": "Asia/Shanghai"}
    limits = {"geofenceRadiusM": 150.0, "minVisitMinutes": 10.0}
    updated = await admin(suite, UPSERT_BRANCH_LIMITS, values | limits)
    assert updated["upsertBranch"]["branch"] == {"id": org.branch, **limits}
    listed = (
        await suite.gql("{ branches { id geofenceRadiusM minVisitMinutes } }", as_=org.hr)
    ).ok()
    assert {"id": org.branch, **limits} in listed["branches"]
    # Omitted: the service's settings apply, which read as null.
    reset = await admin(suite, UPSERT_BRANCH_LIMITS, values)
    assert reset["upsertBranch"]["branch"] == {
        "id": org.branch,
        "geofenceRadiusM": None,
        "minVisitMinutes": None,
    }


# --- idempotency and plans ------------------------------------------------------------------


async def test_a_retried_check_in_is_one_record(suite: Suite) -> None:
    org = await make_org(suite)
    values = visit(idempotencyKey=unique("visit"), note="回访")
    first = (await suite.gql(CHECK_IN, {"input": values}, as_=org.junior)).ok()
    again = (await suite.gql(CHECK_IN, {"input": values}, as_=org.junior)).ok()
    assert first == again
    assert first["checkIn"]["checkIn"]["note"] == "回访"
    page = (await suite.gql(PAGE, {"filter": {"employeeId": org.junior}}, as_=org.hr)).ok()
    assert page["checkIns"]["totalCount"] == 1


async def test_plan_a_visit_and_check_in_against_it(suite: Suite, org: Org) -> None:
    customer = await register(suite, org.senior, location={"lat": SITE[0], "lng": SITE[1]})
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    values = {
        "customerId": customer["id"],
        "windowStart": start.isoformat(),
        "windowEnd": (start + timedelta(hours=1)).isoformat(),
        "note": "quarterly review",
        "idempotencyKey": unique("plan"),
    }
    planned = (await suite.gql(PLAN_VISIT, {"input": values}, as_=org.senior)).ok()
    plan = planned["planVisit"]["visitPlan"]
    assert plan["employee"] == {"id": org.senior}
    assert plan["customer"] == {"id": customer["id"]}
    assert datetime.fromisoformat(plan["windowStart"]) == start
    assert plan["note"] == "quarterly review"
    replayed = (await suite.gql(PLAN_VISIT, {"input": values}, as_=org.senior)).ok()
    assert replayed == planned

    made = await check_in(
        suite, org.senior, customerId=customer["id"], visitPlanId=plan["id"], deviceId="s-phone"
    )
    assert made["visitPlanId"] == plan["id"]
    assert "OUTSIDE_PLAN" not in codes_of(made)

    window = {"employeeId": org.senior, "from": (start - timedelta(hours=1)).isoformat()}
    for viewer, count in ((org.senior, 1), (org.manager, 1), (org.junior, 0)):
        seen = (await suite.gql(VISIT_PLANS, {"filter": window}, as_=viewer)).ok()
        assert seen["visitPlans"]["totalCount"] == count, viewer
    # A junior plans only their own visits.
    for_other = await suite.gql(
        PLAN_VISIT,
        {"input": values | {"employeeId": org.senior, "idempotencyKey": None}},
        as_=org.junior,
    )
    assert for_other.codes == ["FORBIDDEN"]


# --- call logs and detectors ----------------------------------------------------------------


def call(employee_id: str, number: str, started_at: datetime, seconds: int = 90) -> dict[str, Any]:
    return {
        "employeeId": employee_id,
        "number": number,
        "direction": "OUTGOING",
        "startedAt": started_at.isoformat(),
        "durationSeconds": seconds,
    }


async def test_import_call_logs_counts_accepted_duplicates_and_rejected(suite: Suite) -> None:
    org = await make_org(suite)
    phone = new_phone()
    customer = await register(suite, org.junior, phone=phone)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    entries = [
        call(org.junior, phone, start),
        call(org.junior, phone.replace(" ", ""), start + timedelta(hours=1), 300),
        call(org.junior, "no number here", start),
        call(org.junior, phone, start, seconds=-1),
        call("nobody-" + unique("x"), phone, start),
    ]
    imported = await suite.gql(IMPORT_CALLS, {"input": {"entries": entries}}, as_=org.hr)
    first = imported.ok()["importCallLogs"]
    assert (first["accepted"], first["duplicates"]) == (2, 0)
    assert [(r["index"], r["field"]) for r in first["rejected"]] == [
        (2, "number"),
        (3, "duration_seconds"),
        (4, "employee_id"),
    ]
    assert all(r["reason"] for r in first["rejected"])
    assert first["alertsRaised"] == []
    # The same calls again (another file, no key): duplicates, not new calls.
    again = (await suite.gql(IMPORT_CALLS, {"input": {"entries": entries[:2]}}, as_=org.hr)).ok()
    assert again["importCallLogs"] == {
        "accepted": 0,
        "duplicates": 2,
        "rejected": [],
        "alertsRaised": [],
    }
    # Listed with the number masked and the customer matched.
    listed = (
        await suite.gql(CALL_LOGS, {"filter": {"employeeId": org.junior}}, as_=org.junior)
    ).ok()["callLogs"]
    assert listed["totalCount"] == 2
    nodes = [edge["node"] for edge in listed["edges"]]
    assert {node["customer"]["id"] for node in nodes} == {customer["id"]}
    assert all("****" in node["number"] and phone[-4:] in node["number"] for node in nodes)
    assert nodes[0]["durationSeconds"] == 300  # newest first
    assert nodes[0]["direction"] == "OUTGOING"
    assert {node["employee"]["id"] for node in nodes} == {org.junior}
    # Others' calls are out of a junior's sight; reps do not import.
    assert (
        await suite.gql(CALL_LOGS, {"filter": {"employeeId": org.junior}}, as_=org.junior_b)
    ).ok()["callLogs"]["totalCount"] == 0
    refused = await suite.gql(IMPORT_CALLS, {"input": {"entries": entries[:1]}}, as_=org.junior)
    assert refused.codes == ["FORBIDDEN"]


async def test_run_detectors(suite: Suite) -> None:
    org = await make_org(suite)
    await check_in(suite, org.junior)
    now = datetime.now(UTC)
    values = {"from": (now - timedelta(days=7)).isoformat(), "to": now.isoformat()}

    async def run(employee_id: str) -> dict[str, Any]:
        ran = await suite.gql(
            RUN_DETECTORS, {"input": values | {"employeeId": employee_id}}, as_=org.hr
        )
        return dict(ran.ok()["runDetectors"])

    assert await run(org.junior) == {"alertsRaised": 0, "employeesChecked": 1}
    assert await run(org.junior_b) == {"alertsRaised": 0, "employeesChecked": 0}
    assert (await suite.gql(RUN_DETECTORS, {"input": values}, as_=org.junior)).codes == [
        "FORBIDDEN"
    ]
    backwards = {"from": values["to"], "to": values["from"]}
    assert (await suite.gql(RUN_DETECTORS, {"input": backwards}, as_=org.hr)).codes == [
        "VALIDATION"
    ]
