"""Field visits you can trust (A2–A4), as GraphQL stories on PostgreSQL, OPA and S3: the
seed's photo-less streak, the geofence and impossible travel, photo evidence, bad input,
idempotent check-ins and days in the branch's time zone.
"""

from __future__ import annotations

import asyncio
import io
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from PIL import Image

from salesguard.errors import ServiceError
from salesguard.grpc_client import ServiceChannels
from salesguard.principal import Principal, acting_as
from salesguard.timeutil import to_timestamp
from salesguard_api.attendance.v1 import visits_pb2, visits_pb2_grpc
from salesguard_api.common.v1 import common_pb2
from tests.harness import Suite, employee_id, service_id, unique
from tests.org import Org, make_org, register
from tests.photos import CREATE_UPLOAD, jpeg, put, retaken, scene, upload
from tests.support.field_visits import (
    ALERTS,
    CHECK_IN,
    CHECK_INS,
    SHANGHAI,
    SITE,
    alerts,
    at_local,
    check_in,
    check_in_input,
    codes,
    recent_working_days,
)
from tests.support.geo import offset

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
    assert unlinked["detail"]["customer_id"] == service_id(customer["id"])
    assert 15 < unlinked["detail"]["distance_m"] < 25

    for viewer in (org.hr, org.manager):
        streaks = await alerts(
            suite, viewer, kinds=["PHOTO_MISSING_STREAK"], employeeId=employee_id(org.junior)
        )
        assert len(streaks) == 1, viewer
        assert streaks[0]["evidence"]["days"] == 3
        seen = (
            await suite.gql(
                CHECK_INS, {"filter": {"employeeId": employee_id(org.junior)}}, as_=viewer
            )
        ).ok()
        assert seen["checkIns"]["totalCount"] == 3
        assert await alerts(
            suite, viewer, kinds=["UNLINKED_CUSTOMER_SITE"], employeeId=employee_id(org.junior)
        )
    # Another junior rep sees none of it.
    other = (
        await suite.gql(
            CHECK_INS, {"filter": {"employeeId": employee_id(org.junior)}}, as_=org.junior_b
        )
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
                "employeeId": employee_id(org.junior),
            }
        },
        as_=org.hr,
    )
    assert rerun.ok()["runDetectors"]["alertsRaised"] == 0
    assert (
        len(
            await alerts(
                suite, org.hr, kinds=["PHOTO_MISSING_STREAK"], employeeId=employee_id(org.junior)
            )
        )
        == 1
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
    assert await alerts(
        suite, org.manager, kinds=["IMPOSSIBLE_TRAVEL"], employeeId=employee_id(org.junior)
    )


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


async def test_a_photo_retaken_minutes_later_at_the_same_customer_raises_no_alert(
    suite: Suite,
) -> None:
    """The visit checked in again, the photo shot anew from the same spot: it looks alike, so
    PHOTO_REUSED stays on the check-in (suspicious) but HR gets no alert. The same look-alike
    after the 30-minute retake window is raised."""
    org = await make_org(suite)
    site = offset(SITE, 7000, 300)  # a site of its own, away from the other tests
    customer = await register(suite, org.junior, location={"lat": site[0], "lng": site[1]})
    at = datetime.now(UTC) - timedelta(hours=5)
    picture = scene(204)

    async def visit(person: str, minutes_later: int, image: Image.Image) -> dict[str, Any]:
        when = at + timedelta(minutes=minutes_later)
        photo = jpeg(image, gps=site, taken_at=when.astimezone(SHANGHAI))
        return await check_in(
            suite,
            person,
            site,
            when,
            customerId=customer["id"],
            photoKeys=[await upload(suite, person, photo)],
        )

    first = await visit(org.junior, 0, picture)
    assert "PHOTO_REUSED" not in codes(first)
    retake = await visit(org.junior, 8, retaken(picture))
    reused = next(r for r in retake["reasons"] if r["code"] == "PHOTO_REUSED")
    assert reused["detail"]["earlier_check_in_id"] == service_id(first["id"])
    assert (reused["detail"]["retake"], reused["detail"]["same_bytes"]) == (True, False)
    assert retake["verdict"] == "SUSPICIOUS"
    raised = await alerts(suite, org.hr, kinds=["PHOTO_REUSED"], employeeId=employee_id(org.junior))
    assert raised == []
    # Forty minutes after the first: no longer the same visit.
    later = await visit(org.junior, 40, retaken(picture))
    reused = next(r for r in later["reasons"] if r["code"] == "PHOTO_REUSED")
    assert (reused["detail"]["earlier_check_in_id"], reused["detail"]["retake"]) == (
        service_id(first["id"]),
        False,
    )
    raised = await alerts(suite, org.hr, kinds=["PHOTO_REUSED"], employeeId=employee_id(org.junior))
    assert len(raised) == 1


async def test_the_same_photo_and_a_resized_copy_are_caught_as_reused(suite: Suite) -> None:
    org = await make_org(suite)
    at = datetime.now(UTC) - timedelta(hours=4)
    original = jpeg(scene(202), gps=SITE, taken_at=at.astimezone(SHANGHAI))

    async def check_in_with(person: str, hours_later: int, photo: bytes) -> dict[str, Any]:
        """A check-in at SITE ``hours_later`` than the first, with ``photo`` uploaded anew."""
        when = at + timedelta(hours=hours_later)
        return await check_in(
            suite, person, SITE, when, photoKeys=[await upload(suite, person, photo)]
        )

    first = await check_in_with(org.junior, 0, original)
    assert "PHOTO_REUSED" not in codes(first)
    # The very same file, uploaded again under a new key by a teammate.
    same = await check_in_with(org.junior_mate, 1, original)
    reused = next(r for r in same["reasons"] if r["code"] == "PHOTO_REUSED")
    assert reused["detail"]["earlier_check_in_id"] == service_id(first["id"])
    assert reused["detail"]["same_bytes"] is True
    # A re-encoded, resized copy still matches.
    image = Image.open(io.BytesIO(original))
    copy = jpeg(
        image.resize((320, 240)),
        gps=SITE,
        taken_at=(at + timedelta(hours=2)).astimezone(SHANGHAI),
        quality=60,
    )
    resized = await check_in_with(org.junior, 2, copy)
    reused = next(r for r in resized["reasons"] if r["code"] == "PHOTO_REUSED")
    assert reused["detail"]["earlier_check_in_id"] == service_id(first["id"])
    assert reused["detail"]["same_bytes"] is False
    assert resized["verdict"] == "SUSPICIOUS"  # a retake from the same spot could look alike
    assert same["verdict"] == "REJECTED"
    # An unrelated photo is not.
    fresh = jpeg(scene(203), gps=SITE, taken_at=(at + timedelta(hours=3)).astimezone(SHANGHAI))
    clean = await check_in_with(org.junior, 3, fresh)
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
            await suite.gql(
                CHECK_INS, {"filter": {"employeeId": employee_id(org.junior)}}, as_=viewer
            )
        ).ok()
        [edge] = found["checkIns"]["edges"]
        url = edge["node"]["photos"][0]["url"]
        async with httpx.AsyncClient() as http:
            assert (await http.get(url)).content == data
    for outsider in (org.junior_mate, org.junior_b, org.other_manager):
        hidden = await suite.gql(
            CHECK_INS, {"filter": {"employeeId": employee_id(org.junior)}}, as_=outsider
        )
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


async def count_check_ins(suite: Suite, org: Org, employee: str) -> int:
    filter_ = {"employeeId": employee_id(employee)}
    data = (await suite.gql(CHECK_INS, {"filter": filter_}, as_=org.hr)).ok()
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
