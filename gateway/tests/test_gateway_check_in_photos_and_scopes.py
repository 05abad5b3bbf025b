"""Field visits through the gateway (A2, A4): photos going up and back, signed URLs, who
sees which check-ins, batched links and filters.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gateway.tests.visits_support import (
    CHECK_IN,
    CHECK_IN_WITH_PHOTOS,
    CREATE_UPLOAD,
    NEAR_SITE,
    ONE,
    PAGE,
    SITE,
    check_in,
    codes_of,
    download,
    path_of,
    rpc_calls,
    visit,
    visits_rpc,
)
from salesguard.objectstore import LocalObjectStore
from tests.harness import Suite, employee_id, unique
from tests.org import Org, make_org, register
from tests.photos import jpeg, scene, upload

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
        juniors = {"filter": {"employeeId": employee_id(org.junior)}}
        listed = (await suite.gql(PAGE, juniors, as_=viewer)).ok()
        [node] = [e["node"] for e in listed["checkIns"]["edges"] if e["node"]["id"] == made["id"]]
        assert await download(suite, node["photos"][0]["url"]) == data

    # Another junior (same team) sees neither the check-in nor a URL.
    for outsider in (org.junior_mate, org.junior_b):
        juniors = {"filter": {"employeeId": employee_id(org.junior)}}
        page = await suite.gql(PAGE, juniors, as_=outsider)
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
            variables = {"filter": {"employeeId": employee_id(employee)}}
            result = await suite.gql(PAGE, variables, as_=as_)
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
    seen = (await suite.gql(by_employee, {"id": employee_id(org.junior)}, as_=org.manager)).ok()
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
    values = {
        "customerIds": [customer["id"]],
        "newOwnerId": employee_id(org.junior_mate),
        "reason": "cover",
    }
    (await suite.gql(reassign, {"input": values}, as_=org.manager)).ok()
    query = "query($id: ID!) { checkIn(id: $id) { customer { id } employee { id } } }"
    own_view = (await suite.gql(query, {"id": made["id"]}, as_=org.junior)).ok()["checkIn"]
    assert own_view == {"customer": None, "employee": {"id": employee_id(org.junior)}}
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
            PAGE, {"filter": {"employeeId": employee_id(org.junior), **filter_}}, as_=org.manager
        )
        return {edge["node"]["id"] for edge in result.ok()["checkIns"]["edges"]}

    assert await ids(reasonCodes=["MOCK_LOCATION"]) == {mocked["id"]}
    assert await ids(verdicts=[mocked["verdict"]]) >= {mocked["id"]}
    assert await ids(to=(datetime.now(UTC) - timedelta(minutes=20)).isoformat()) == {plain["id"]}
