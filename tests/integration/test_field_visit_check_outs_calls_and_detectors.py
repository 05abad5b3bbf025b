"""Field visits you can trust (A3, A5, A6), as GraphQL stories on PostgreSQL, OPA and S3:
short visits, call logs matched blindly and flagged, detector re-runs, a second device,
unmeasured linked customers and repeated visits to one unregistered place.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.harness import Suite, employee_id, global_id
from tests.org import make_org, register
from tests.support.field_visits import (
    CHECK_IN,
    IMPORT_CALLS,
    SITE,
    alerts,
    call,
    check_in,
    check_in_input,
    codes,
)
from tests.support.geo import offset


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
            suite, org.manager, kinds=["ABNORMAL_CALL_PATTERN"], employeeId=employee_id(org.junior)
        )
    }
    assert patterns == {"OTHERS_CUSTOMER", "UNREGISTERED_NUMBER"}
    by_pattern = {
        a["evidence"]["pattern"]: a["evidence"]
        for a in await alerts(
            suite, org.manager, kinds=["ABNORMAL_CALL_PATTERN"], employeeId=employee_id(org.junior)
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
            await alerts(
                suite,
                org.manager,
                kinds=["ABNORMAL_CALL_PATTERN"],
                employeeId=employee_id(org.junior),
            )
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
        suite, org.manager, kinds=["ABNORMAL_CALL_PATTERN"], employeeId=employee_id(org.junior)
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
        "employeeId": employee_id(org.junior),
    }
    rerun = await suite.gql(
        "mutation($input: RunDetectorsInput!) { runDetectors(input: $input) { alertsRaised employeesChecked } }",
        {"input": window},
        as_=org.hr,
    )
    assert rerun.ok()["runDetectors"] == {"alertsRaised": 1, "employeesChecked": 1}
    [alert] = await alerts(
        suite, org.hr, kinds=["ABNORMAL_CALL_PATTERN"], employeeId=employee_id(org.junior)
    )
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
    assert (
        len(await alerts(suite, org.hr, kinds=["NEW_DEVICE"], employeeId=employee_id(org.junior)))
        == 1
    )


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
        {
            "input": check_in_input(
                SITE, datetime.now(UTC), customerId=global_id("Customer", "no-such-customer")
            )
        },
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
        suite, org.manager, kinds=["UNREGISTERED_SITE_REPEATED"], employeeId=employee_id(org.junior)
    )
    assert len(raised) == 1  # at the third visit; the fourth extends it
    assert raised[0]["evidence"]["visits"] == 3
