"""Field visits through the gateway (A3, A5, A6): typed validation, check-outs and a
branch's own limits, retried check-ins, visit plans, call logs and the detectors.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gateway.tests.visits_support import (
    CALL_LOGS,
    CHECK_IN,
    CHECK_OUT,
    CREATE_UPLOAD,
    IMPORT_CALLS,
    PAGE,
    PLAN_VISIT,
    RUN_DETECTORS,
    SITE,
    UPSERT_BRANCH_LIMITS,
    VISIT_PLANS,
    check_in,
    codes_of,
    rpc_calls,
    visit,
    visits_rpc,
)
from tests.harness import Suite, employee_id, global_id, unique
from tests.org import Org, admin, make_org, new_phone, register
from tests.support.field_visits import call

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
            {"checkInId": global_id("CheckIn", "x"), "location": {"lat": 91.0, "lng": 0.0}},
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
        {"filter": {"employeeId": employee_id(org.junior_mate), "reasonCodes": ["SHORT_VISIT"]}},
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
    values = {"hrId": org.branch, "name": org.branch, "timeZone": "Asia/Shanghai"}

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
    values = {"hrId": org.branch, "name": org.branch, "timeZone": "Asia/Shanghai"}
    branch = global_id("Branch", org.branch)
    limits = {"geofenceRadiusM": 150.0, "minVisitMinutes": 10.0}
    updated = await admin(suite, UPSERT_BRANCH_LIMITS, values | limits)
    assert updated["upsertBranch"]["branch"] == {"id": branch, **limits}
    listed = (
        await suite.gql("{ branches { id geofenceRadiusM minVisitMinutes } }", as_=org.hr)
    ).ok()
    assert {"id": branch, **limits} in listed["branches"]
    # Omitted: the service's settings apply, which read as null.
    reset = await admin(suite, UPSERT_BRANCH_LIMITS, values)
    assert reset["upsertBranch"]["branch"] == {
        "id": branch,
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
    juniors = {"filter": {"employeeId": employee_id(org.junior)}}
    page = (await suite.gql(PAGE, juniors, as_=org.hr)).ok()
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
    assert plan["employee"] == {"id": employee_id(org.senior)}
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

    window = {
        "employeeId": employee_id(org.senior),
        "from": (start - timedelta(hours=1)).isoformat(),
    }
    for viewer, count in ((org.senior, 1), (org.manager, 1), (org.junior, 0)):
        seen = (await suite.gql(VISIT_PLANS, {"filter": window}, as_=viewer)).ok()
        assert seen["visitPlans"]["totalCount"] == count, viewer
    # A junior plans only their own visits.
    for_other = await suite.gql(
        PLAN_VISIT,
        {"input": values | {"employeeId": employee_id(org.senior), "idempotencyKey": None}},
        as_=org.junior,
    )
    assert for_other.codes == ["FORBIDDEN"]


# --- call logs and detectors ----------------------------------------------------------------


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
    juniors = {"filter": {"employeeId": employee_id(org.junior)}}
    listed = (await suite.gql(CALL_LOGS, juniors, as_=org.junior)).ok()["callLogs"]
    assert listed["totalCount"] == 2
    nodes = [edge["node"] for edge in listed["edges"]]
    assert {node["customer"]["id"] for node in nodes} == {customer["id"]}
    assert all("****" in node["number"] and phone[-4:] in node["number"] for node in nodes)
    assert nodes[0]["durationSeconds"] == 300  # newest first
    assert nodes[0]["direction"] == "OUTGOING"
    assert {node["employee"]["id"] for node in nodes} == {employee_id(org.junior)}
    # Others' calls are out of a junior's sight; reps do not import.
    assert (await suite.gql(CALL_LOGS, juniors, as_=org.junior_b)).ok()["callLogs"][
        "totalCount"
    ] == 0
    refused = await suite.gql(IMPORT_CALLS, {"input": {"entries": entries[:1]}}, as_=org.junior)
    assert refused.codes == ["FORBIDDEN"]


async def test_run_detectors(suite: Suite) -> None:
    org = await make_org(suite)
    await check_in(suite, org.junior)
    now = datetime.now(UTC)
    values = {"from": (now - timedelta(days=7)).isoformat(), "to": now.isoformat()}

    async def run(employee: str) -> dict[str, Any]:
        ran = await suite.gql(
            RUN_DETECTORS, {"input": values | {"employeeId": employee_id(employee)}}, as_=org.hr
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
