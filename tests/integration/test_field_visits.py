"""Field visits you can trust (A2–A6), as GraphQL stories on PostgreSQL, OPA and S3."""

from __future__ import annotations

import asyncio
import io
import math
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from PIL import Image

from salesguard.errors import ServiceError
from salesguard.grpc_client import ServiceChannels
from salesguard.principal import Principal, acting_as
from salesguard.timeutil import to_timestamp
from salesguard_api.attendance.v1 import visits_pb2, visits_pb2_grpc
from salesguard_api.common.v1 import common_pb2
from tests.harness import Suite, unique
from tests.org import Org, make_org, register
from tests.photos import CREATE_UPLOAD, jpeg, put, scene, upload
from tests.support.geo import offset

pytestmark = pytest.mark.integration

SHANGHAI = ZoneInfo("Asia/Shanghai")
# A customer's site on the Bund.
SITE = (31.2400, 121.4900)
CHECK_IN = """
mutation($input: CheckInInput!) {
  checkIn(input: $input) {
    checkIn { id verdict reasons { code message detail } photos { key sha256 url } }
  }
}
"""
CHECK_INS = """
query($filter: CheckInFilter) {
  checkIns(first: 50, filter: $filter) {
    totalCount
    edges { node { id verdict reasons { code } employee { id } photos { key url } } }
  }
}
"""
ALERTS = """
query($filter: AlertFilter) { alerts(first: 50, filter: $filter) { edges { node { kind evidence employee { id } } } } }
"""


def recent_working_days(count: int) -> list[date]:
    """The last ``count`` consecutive working days before today (Shanghai), oldest first."""
    day = datetime.now(SHANGHAI).date() - timedelta(days=1)
    days: list[date] = []
    while len(days) < count:
        if day.weekday() < 5:
            days.append(day)
        day -= timedelta(days=1)
    return sorted(days)


def at_local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=SHANGHAI)


def check_in_input(point: tuple[float, float], at: datetime, **extra: Any) -> dict[str, Any]:
    return {
        "at": at.isoformat(),
        "location": {"lat": point[0], "lng": point[1]},
        "accuracyM": 15.0,
        "deviceId": "phone-1",
        **extra,
    }


async def check_in(
    suite: Suite, as_: str, point: tuple[float, float], at: datetime, **extra: Any
) -> dict[str, Any]:
    data = (await suite.gql(CHECK_IN, {"input": check_in_input(point, at, **extra)}, as_=as_)).ok()
    return dict(data["checkIn"]["checkIn"])


def codes(check_in: dict[str, Any]) -> set[str]:
    return {reason["code"] for reason in check_in["reasons"]}


async def alerts(suite: Suite, as_: str, **filter_: Any) -> list[dict[str, Any]]:
    result = await suite.gql(ALERTS, {"filter": filter_}, as_=as_)
    return [edge["node"] for edge in result.ok()["alerts"]["edges"]]


@pytest.fixture(scope="module")
async def org(suite: Suite) -> Org:
    return await make_org(suite)


# -- the seed's first scenario -------------------------------------------------------------


async def test_unlinked_visits_without_photos_three_field_days_in_a_row(suite: Suite) -> None:
    org = await make_org(suite)
    customer = await register(suite, org.junior_mate, location={"lat": SITE[0], "lng": SITE[1]})
    visits = []
    for day in recent_working_days(3):
        visits.append(await check_in(suite, org.junior, offset(SITE, 20), at_local(day, 10)))
    for visit in visits:
        assert {"UNLINKED_CUSTOMER_SITE", "NO_PHOTO"} <= codes(visit)
        assert visit["verdict"] == "SUSPICIOUS"
    unlinked = next(r for r in visits[0]["reasons"] if r["code"] == "UNLINKED_CUSTOMER_SITE")
    assert unlinked["detail"]["customer_id"] == customer["id"]
    assert 15 < unlinked["detail"]["distance_m"] < 25

    for viewer in (org.hr, org.manager):
        streaks = await alerts(suite, viewer, kinds=["PHOTO_MISSING_STREAK"], employeeId=org.junior)
        assert len(streaks) == 1, viewer
        assert streaks[0]["evidence"]["days"] == 3
        seen = (await suite.gql(CHECK_INS, {"filter": {"employeeId": org.junior}}, as_=viewer)).ok()
        assert seen["checkIns"]["totalCount"] == 3
        assert await alerts(suite, viewer, kinds=["UNLINKED_CUSTOMER_SITE"], employeeId=org.junior)
    # Another junior rep sees none of it.
    other = (
        await suite.gql(CHECK_INS, {"filter": {"employeeId": org.junior}}, as_=org.junior_b)
    ).ok()
    assert other["checkIns"]["totalCount"] == 0
    assert set((await suite.gql(ALERTS, {"filter": {}}, as_=org.junior_b)).codes) == {"FORBIDDEN"}
    # A re-run of the detectors raises nothing twice.
    days = recent_working_days(3)
    rerun = await suite.gql(
        "mutation($input: RunDetectorsInput!) { runDetectors(input: $input) { alertsRaised employeesChecked } }",
        {
            "input": {
                "from": at_local(days[0], 0).isoformat(),
                "to": at_local(days[-1], 23).isoformat(),
                "employeeId": org.junior,
            }
        },
        as_=org.hr,
    )
    assert rerun.ok()["runDetectors"]["alertsRaised"] == 0
    assert (
        len(await alerts(suite, org.hr, kinds=["PHOTO_MISSING_STREAK"], employeeId=org.junior)) == 1
    )


# -- geofence and travel -------------------------------------------------------------------


@pytest.mark.parametrize(("metres", "mismatch"), [(299.0, False), (301.0, True)])
async def test_location_mismatch_at_the_geofence_radius(
    suite: Suite, org: Org, metres: float, mismatch: bool
) -> None:
    site = offset(SITE, 5000 + metres * 10, 10)  # a site of its own, away from the other tests
    customer = await register(suite, org.senior, location={"lat": site[0], "lng": site[1]})
    visit = await check_in(
        suite,
        org.senior,
        offset(site, metres, 45),
        datetime.now(UTC) - timedelta(hours=2),
        customerId=customer["id"],
        deviceId=unique("device"),
    )
    assert ("LOCATION_MISMATCH" in codes(visit)) is mismatch
    if mismatch:
        reason = next(r for r in visit["reasons"] if r["code"] == "LOCATION_MISMATCH")
        assert reason["detail"]["distance_m"] == pytest.approx(metres, abs=1.5)
        assert visit["verdict"] == "REJECTED"


async def test_impossible_travel_between_two_check_ins(suite: Suite) -> None:
    org = await make_org(suite)
    start = datetime.now(UTC) - timedelta(hours=3)
    await check_in(suite, org.junior, SITE, start)
    far = offset(SITE, 100_000, 200)
    visit = await check_in(suite, org.junior, far, start + timedelta(minutes=10))
    assert "IMPOSSIBLE_TRAVEL" in codes(visit)
    detail = next(r for r in visit["reasons"] if r["code"] == "IMPOSSIBLE_TRAVEL")["detail"]
    assert detail["speed_kmh"] == pytest.approx(600, rel=0.02)
    assert visit["verdict"] == "REJECTED"
    assert await alerts(suite, org.manager, kinds=["IMPOSSIBLE_TRAVEL"], employeeId=org.junior)


# -- photo evidence --------------------------------------------------------------------------


async def test_photo_taken_5_km_away_is_an_exif_mismatch(suite: Suite) -> None:
    org = await make_org(suite)
    at = datetime.now(UTC) - timedelta(hours=1)
    near = await upload(
        suite, org.junior, jpeg(scene(101), gps=offset(SITE, 30), taken_at=at.astimezone(SHANGHAI))
    )
    far = await upload(
        suite,
        org.junior,
        jpeg(scene(102), gps=offset(SITE, 5000), taken_at=at.astimezone(SHANGHAI)),
    )
    good = await check_in(suite, org.junior, SITE, at, photoKeys=[near])
    assert "PHOTO_EXIF_MISMATCH" not in codes(good)
    assert "NO_PHOTO" not in codes(good)
    bad = await check_in(suite, org.junior, SITE, at + timedelta(minutes=5), photoKeys=[far])
    mismatch = next(r for r in bad["reasons"] if r["code"] == "PHOTO_EXIF_MISMATCH")
    assert mismatch["detail"]["distance_m"] == pytest.approx(5000, rel=0.01)


async def test_the_same_photo_and_a_resized_copy_are_caught_as_reused(suite: Suite) -> None:
    org = await make_org(suite)
    at = datetime.now(UTC) - timedelta(hours=4)
    original = jpeg(scene(202), gps=SITE, taken_at=at.astimezone(SHANGHAI))
    first = await check_in(
        suite, org.junior, SITE, at, photoKeys=[await upload(suite, org.junior, original)]
    )
    assert "PHOTO_REUSED" not in codes(first)
    # The very same file, uploaded again under a new key by a teammate.
    same = await check_in(
        suite,
        org.junior_mate,
        SITE,
        at + timedelta(hours=1),
        photoKeys=[await upload(suite, org.junior_mate, original)],
    )
    reused = next(r for r in same["reasons"] if r["code"] == "PHOTO_REUSED")
    assert reused["detail"]["earlier_check_in_id"] == first["id"]
    assert reused["detail"]["same_bytes"] is True
    # A re-encoded, resized copy still matches.
    image = Image.open(io.BytesIO(original))
    copy = jpeg(
        image.resize((320, 240)),
        gps=SITE,
        taken_at=(at + timedelta(hours=2)).astimezone(SHANGHAI),
        quality=60,
    )
    resized = await check_in(
        suite,
        org.junior,
        SITE,
        at + timedelta(hours=2),
        photoKeys=[await upload(suite, org.junior, copy)],
    )
    reused = next(r for r in resized["reasons"] if r["code"] == "PHOTO_REUSED")
    assert reused["detail"]["earlier_check_in_id"] == first["id"]
    assert reused["detail"]["same_bytes"] is False
    assert resized["verdict"] == "SUSPICIOUS"  # a retake from the same spot could look alike
    assert same["verdict"] == "REJECTED"
    # An unrelated photo is not.
    fresh = jpeg(scene(203), gps=SITE, taken_at=(at + timedelta(hours=3)).astimezone(SHANGHAI))
    clean = await check_in(
        suite,
        org.junior,
        SITE,
        at + timedelta(hours=3),
        photoKeys=[await upload(suite, org.junior, fresh)],
    )
    assert "PHOTO_REUSED" not in codes(clean)


async def test_photo_urls_go_only_to_callers_who_may_see_the_check_in(suite: Suite) -> None:
    org = await make_org(suite)
    at = datetime.now(UTC) - timedelta(hours=1)
    data = jpeg(scene(301), gps=SITE, taken_at=at.astimezone(SHANGHAI))
    visit = await check_in(
        suite, org.junior, SITE, at, photoKeys=[await upload(suite, org.junior, data)]
    )
    for viewer in (org.junior, org.manager, org.hr):
        found = (
            await suite.gql(CHECK_INS, {"filter": {"employeeId": org.junior}}, as_=viewer)
        ).ok()
        [edge] = found["checkIns"]["edges"]
        url = edge["node"]["photos"][0]["url"]
        async with httpx.AsyncClient() as http:
            assert (await http.get(url)).content == data
    for outsider in (org.junior_mate, org.junior_b, org.other_manager):
        hidden = await suite.gql(CHECK_INS, {"filter": {"employeeId": org.junior}}, as_=outsider)
        assert hidden.ok()["checkIns"]["totalCount"] == 0
        one = await suite.gql(
            "query($id: ID!) { checkIn(id: $id) { photos { url } } }",
            {"id": visit["id"]},
            as_=outsider,
        )
        assert one.data.get("checkIn") is None
        assert "X-Amz-Signature" not in str(one.body) and "signature=" not in str(one.body)
    assert (await suite.gql(CHECK_INS, {"filter": {}}, as_=org.finance)).codes == ["FORBIDDEN"]


# -- bad input ---------------------------------------------------------------------------------


async def count_check_ins(suite: Suite, org: Org, employee_id: str) -> int:
    data = (await suite.gql(CHECK_INS, {"filter": {"employeeId": employee_id}}, as_=org.hr)).ok()
    return int(data["checkIns"]["totalCount"])


async def test_bad_check_ins_are_typed_errors_and_store_nothing(suite: Suite) -> None:
    org = await make_org(suite)
    at = datetime.now(UTC) - timedelta(minutes=30)
    others_key = await upload(suite, org.junior_mate, jpeg(scene(401)))
    text_key = await upload(suite, org.junior, b"this is not a picture at all, just text\n" * 20)
    cases: list[tuple[str, dict[str, Any]]] = [
        ("latitude 91", check_in_input((91.0, 121.0), at)),
        ("another employee's photo", check_in_input(SITE, at, photoKeys=[others_key])),
        ("a text file named .jpg", check_in_input(SITE, at, photoKeys=[text_key])),
        ("in the future", check_in_input(SITE, datetime.now(UTC) + timedelta(hours=1))),
        (
            "an unknown photo key",
            check_in_input(SITE, at, photoKeys=[f"photos/{org.junior}/2020-01-01/nope.jpg"]),
        ),
    ]
    for case, values in cases:
        result = await suite.gql(CHECK_IN, {"input": values}, as_=org.junior)
        assert result.codes == ["VALIDATION"], (case, result.body)
        assert result.status != 500
    assert await count_check_ins(suite, org, org.junior) == 0


async def test_nan_coordinates_over_grpc_are_refused(suite: Suite) -> None:
    org = await make_org(suite)
    attendance = suite.running["attendance"]
    channels = ServiceChannels(
        {"attendance": attendance.address}, attendance.runtime.internal_secret, 10
    )
    try:
        stub = visits_pb2_grpc.VisitsServiceStub(channels.channel("attendance"))
        with (
            acting_as(Principal(org.junior, ("SALES_JUNIOR",), org.team_a, org.branch)),
            pytest.raises(ServiceError) as refused,
        ):
            await stub.CheckIn(
                visits_pb2.CheckInRequest(
                    at=to_timestamp(datetime.now(UTC)),
                    location=common_pb2.GeoPoint(lat=math.nan, lng=121.0),
                    device_id="phone-1",
                )
            )
        assert refused.value.code.value == "VALIDATION"
        assert refused.value.field == "location"
    finally:
        await channels.close()
    assert await count_check_ins(suite, org, org.junior) == 0


async def test_oversized_and_mistyped_uploads_are_refused(suite: Suite) -> None:
    org = await make_org(suite)
    too_big = await suite.gql(
        CREATE_UPLOAD,
        {"input": {"contentType": "image/jpeg", "sizeBytes": 30 * 1024 * 1024}},
        as_=org.junior,
    )
    assert too_big.codes == ["VALIDATION"]
    wrong_type = await suite.gql(
        CREATE_UPLOAD, {"input": {"contentType": "text/plain", "sizeBytes": 100}}, as_=org.junior
    )
    assert wrong_type.codes == ["VALIDATION"]
    # A URL signed for 1 000 bytes does not take 30 MB, nor a second upload to the same key.
    created = (
        await suite.gql(
            CREATE_UPLOAD,
            {"input": {"contentType": "image/jpeg", "sizeBytes": 1000}},
            as_=org.junior,
        )
    ).ok()["createPhotoUpload"]
    oversized = {
        **created,
        "uploadHeaders": {**created["uploadHeaders"], "Content-Length": str(30 * 1024 * 1024)},
    }
    with pytest.raises(httpx.HTTPStatusError) as refused:
        await put(suite, oversized, b"\xff" * (30 * 1024 * 1024))
    assert refused.value.response.status_code == 403
    await put(suite, created, b"\xff" * 1000)
    with pytest.raises(httpx.HTTPStatusError) as overwrite:
        await put(suite, created, b"\x00" * 1000)
    assert overwrite.value.response.status_code == 412


# -- idempotency -------------------------------------------------------------------------------


async def test_the_same_check_in_sent_five_times_at_once_is_one_record(suite: Suite) -> None:
    org = await make_org(suite)
    values = check_in_input(
        SITE, datetime.now(UTC) - timedelta(minutes=10), idempotencyKey=unique("visit")
    )
    results = await asyncio.gather(
        *(suite.gql(CHECK_IN, {"input": values}, as_=org.junior) for _ in range(5))
    )
    ids = {result.ok()["checkIn"]["checkIn"]["id"] for result in results}
    assert len(ids) == 1
    assert await count_check_ins(suite, org, org.junior) == 1


# -- check-out and call logs ---------------------------------------------------------------------


async def test_a_check_out_after_two_minutes_is_a_short_visit(suite: Suite) -> None:
    org = await make_org(suite)
    at = datetime.now(UTC) - timedelta(minutes=30)
    visit = await check_in(suite, org.junior, SITE, at)
    out = await suite.gql(
        "mutation($input: CheckOutInput!) { checkOut(input: $input) { checkIn { verdict reasons { code detail } } } }",
        {"input": {"checkInId": visit["id"], "at": (at + timedelta(minutes=2)).isoformat()}},
        as_=org.junior,
    )
    checked = out.ok()["checkOut"]["checkIn"]
    assert "SHORT_VISIT" in {r["code"] for r in checked["reasons"]}
    short = next(r for r in checked["reasons"] if r["code"] == "SHORT_VISIT")
    assert short["detail"]["minutes"] == pytest.approx(2.0)
    assert short["detail"]["minimum_minutes"] == 5  # the service's setting
    assert checked["verdict"] == "SUSPICIOUS"


IMPORT_CALLS = """
mutation($input: ImportCallLogsInput!) {
  importCallLogs(input: $input) { accepted duplicates rejected { index field reason } alertsRaised }
}
"""


def call(employee_id: str, number: str, started_at: datetime, seconds: int = 120) -> dict[str, Any]:
    return {
        "employeeId": employee_id,
        "number": number,
        "direction": "OUTGOING",
        "startedAt": started_at.isoformat(),
        "durationSeconds": seconds,
    }


async def test_call_logs_match_customers_blindly_and_flag_abnormal_patterns(suite: Suite) -> None:
    org = await make_org(suite)
    teammates = await register(suite, org.junior_mate)
    digits = teammates["phone"].removeprefix("+86")
    start = datetime.now(UTC) - timedelta(days=2)
    stranger = "+86 139 9999 0001"
    entries = [
        call(org.junior, digits, start),  # a teammate's customer, typed without the country code
        *(
            call(org.junior, stranger, start + timedelta(hours=i)) for i in range(5)
        ),  # an unregistered number, 5 times
        call(org.junior, "not a number", start),  # rejected, the rest still imported
    ]
    first = (await suite.gql(IMPORT_CALLS, {"input": {"entries": entries}}, as_=org.hr)).ok()[
        "importCallLogs"
    ]
    assert first["accepted"] == 6
    assert first["duplicates"] == 0
    assert first["rejected"] == [
        {"index": 6, "field": "number", "reason": first["rejected"][0]["reason"]}
    ]
    assert first["alertsRaised"] == ["ABNORMAL_CALL_PATTERN"]
    patterns = {
        a["evidence"]["pattern"]
        for a in await alerts(
            suite, org.manager, kinds=["ABNORMAL_CALL_PATTERN"], employeeId=org.junior
        )
    }
    assert patterns == {"OTHERS_CUSTOMER", "UNREGISTERED_NUMBER"}
    by_pattern = {
        a["evidence"]["pattern"]: a["evidence"]
        for a in await alerts(
            suite, org.manager, kinds=["ABNORMAL_CALL_PATTERN"], employeeId=org.junior
        )
    }
    assert by_pattern["OTHERS_CUSTOMER"]["owner_id"] == org.junior_mate
    assert by_pattern["OTHERS_CUSTOMER"]["call_id"]
    assert by_pattern["UNREGISTERED_NUMBER"]["calls"] == 5
    assert "****" in by_pattern["UNREGISTERED_NUMBER"]["number"]
    # The same file again: all duplicates, no new alert.
    again = (await suite.gql(IMPORT_CALLS, {"input": {"entries": entries[:-1]}}, as_=org.hr)).ok()[
        "importCallLogs"
    ]
    assert (again["accepted"], again["duplicates"]) == (0, 6)
    assert (
        len(
            await alerts(suite, org.manager, kinds=["ABNORMAL_CALL_PATTERN"], employeeId=org.junior)
        )
        == 2
    )
    # Reps cannot import call logs.
    assert (
        await suite.gql(IMPORT_CALLS, {"input": {"entries": entries[:1]}}, as_=org.junior)
    ).codes == ["FORBIDDEN"]


async def test_a_long_call_to_an_own_customer_without_a_follow_up_is_flagged(
    suite: Suite,
) -> None:
    org = await make_org(suite)
    customer = await register(suite, org.junior)
    start = datetime.now(UTC) - timedelta(days=20)
    usual = [call(org.junior, customer["phone"], start + timedelta(days=i), 60) for i in range(5)]
    first = (await suite.gql(IMPORT_CALLS, {"input": {"entries": usual}}, as_=org.hr)).ok()[
        "importCallLogs"
    ]
    assert (first["accepted"], first["alertsRaised"]) == (5, [])
    # Ten minutes against a usual one, and nobody recorded a follow-up around it.
    long_call = call(org.junior, customer["phone"], start + timedelta(days=10), 600)
    second = (await suite.gql(IMPORT_CALLS, {"input": {"entries": [long_call]}}, as_=org.hr)).ok()[
        "importCallLogs"
    ]
    assert (second["accepted"], second["alertsRaised"]) == (1, ["ABNORMAL_CALL_PATTERN"])
    [alert] = await alerts(
        suite, org.manager, kinds=["ABNORMAL_CALL_PATTERN"], employeeId=org.junior
    )
    evidence = alert["evidence"]
    assert evidence["pattern"] == "LONG_CALL_WITHOUT_FOLLOW_UP"
    assert (evidence["duration_seconds"], evidence["usual_seconds"]) == (600, 60)
    assert evidence["call_id"]


async def test_a_re_run_of_the_detectors_finds_what_one_import_could_not(suite: Suite) -> None:
    org = await make_org(suite)
    customer = await register(suite, org.junior)
    start = datetime.now(UTC) - timedelta(days=20)
    entries = [call(org.junior, customer["phone"], start + timedelta(days=i), 60) for i in range(5)]
    long_at = start + timedelta(days=10)
    entries.append(call(org.junior, customer["phone"], long_at, 600))
    # In one import the usual length is not known yet: no alert.
    imported = (await suite.gql(IMPORT_CALLS, {"input": {"entries": entries}}, as_=org.hr)).ok()
    assert imported["importCallLogs"]["alertsRaised"] == []
    # Re-run over the long call's day, the earlier calls are its history.
    window = {
        "from": (long_at - timedelta(hours=1)).isoformat(),
        "to": (long_at + timedelta(hours=1)).isoformat(),
        "employeeId": org.junior,
    }
    rerun = await suite.gql(
        "mutation($input: RunDetectorsInput!) { runDetectors(input: $input) { alertsRaised employeesChecked } }",
        {"input": window},
        as_=org.hr,
    )
    assert rerun.ok()["runDetectors"] == {"alertsRaised": 1, "employeesChecked": 1}
    [alert] = await alerts(suite, org.hr, kinds=["ABNORMAL_CALL_PATTERN"], employeeId=org.junior)
    assert alert["evidence"]["pattern"] == "LONG_CALL_WITHOUT_FOLLOW_UP"


async def test_a_second_device_is_flagged_once(suite: Suite) -> None:
    org = await make_org(suite)
    at = datetime.now(UTC) - timedelta(hours=5)
    assert "NEW_DEVICE" not in codes(
        await check_in(suite, org.junior, SITE, at, deviceId="phone-a")
    )
    assert "NEW_DEVICE" in codes(
        await check_in(suite, org.junior, SITE, at + timedelta(hours=1), deviceId="phone-b")
    )
    assert "NEW_DEVICE" not in codes(
        await check_in(suite, org.junior, SITE, at + timedelta(hours=2), deviceId="phone-b")
    )
    assert len(await alerts(suite, org.hr, kinds=["NEW_DEVICE"], employeeId=org.junior)) == 1


async def test_a_linked_customer_without_a_location_is_accepted_unmeasured(suite: Suite) -> None:
    org = await make_org(suite)
    customer = await register(suite, org.junior)  # no location registered
    visit = await check_in(
        suite, org.junior, SITE, datetime.now(UTC) - timedelta(hours=1), customerId=customer["id"]
    )
    assert visit["verdict"] == "SUSPICIOUS"  # no photo, but no LOCATION_MISMATCH
    assert codes(visit) == {"NO_PHOTO"}
    unknown = await suite.gql(
        CHECK_IN,
        {"input": check_in_input(SITE, datetime.now(UTC), customerId="no-such-customer")},
        as_=org.junior,
    )
    # As for a customer the caller may not read (SPEC §2): absent either way.
    assert unknown.codes == ["NOT_FOUND"]


async def test_repeated_visits_to_one_unregistered_place_raise_one_alert(suite: Suite) -> None:
    org = await make_org(suite)
    place = offset(SITE, 40_000, 300)  # nowhere near a registered customer
    start = datetime.now(UTC) - timedelta(days=3)
    for visit in range(4):
        spot = offset(place, 30 * visit, 90)  # within a few dozen metres each time
        found = await check_in(suite, org.junior, spot, start + timedelta(hours=5 * visit))
        assert "UNREGISTERED_SITE" in codes(found)
    raised = await alerts(
        suite, org.manager, kinds=["UNREGISTERED_SITE_REPEATED"], employeeId=org.junior
    )
    assert len(raised) == 1  # at the third visit; the fourth extends it
    assert raised[0]["evidence"]["visits"] == 3


# -- days are the branch's -------------------------------------------------------------------


async def test_a_visit_s_day_is_the_day_in_the_branch_s_time_zone(suite: Suite, org: Org) -> None:
    # 07:30 in Shanghai is 23:30 UTC the evening before: the visit belongs to the morning's day.
    day = recent_working_days(1)[0]
    moment = at_local(day, 7, 30)
    assert moment.astimezone(UTC).date() == day - timedelta(days=1)
    visit = await check_in(suite, org.junior_b, offset(SITE, 40_000, 300), moment)
    shown = await suite.gql(
        "query($id: ID!) { checkIn(id: $id) { id at day } }", {"id": visit["id"]}, as_=org.hr
    )
    assert shown.ok()["checkIn"]["day"] == day.isoformat()
