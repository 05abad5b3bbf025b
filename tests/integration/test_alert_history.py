"""Every decision on an alert is kept, in order, append-only: who, what, when, why."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from tests.harness import Suite, employee_id, service_id
from tests.org import Org, make_org
from tests.support.subscriptions import mock_location_check_in

HISTORY = "history { status resolution note at traceId by { id } }"
ALERTS = f"""
query($filter: AlertFilter) {{
  alerts(first: 20, filter: $filter) {{ edges {{ node {{ id kind status resolution {HISTORY} }} }} }}
}}
"""
UPDATE_ALERT = f"""mutation($input: UpdateAlertInput!) {{
  updateAlert(input: $input) {{ alert {{ id status resolution note {HISTORY} }} }} }}"""


async def mock_location_alert_ids(suite: Suite, org: Org) -> set[str]:
    found = await suite.gql(
        ALERTS,
        {"filter": {"employeeId": employee_id(org.junior), "kinds": ["MOCK_LOCATION"]}},
        as_=org.hr,
    )
    return {edge["node"]["id"] for edge in found.ok()["alerts"]["edges"]}


async def new_alert(suite: Suite, org: Org) -> str:
    """The ID of the MOCK_LOCATION alert a new check-in of the junior raises."""
    known = await mock_location_alert_ids(suite, org)
    await mock_location_check_in(suite, org.junior)
    (new,) = await mock_location_alert_ids(suite, org) - known
    return new


async def history(suite: Suite, org: Org, alert_id: str) -> list[dict[str, Any]]:
    found = await suite.gql(ALERTS, {"filter": {"employeeId": employee_id(org.junior)}}, as_=org.hr)
    (node,) = [e["node"] for e in found.ok()["alerts"]["edges"] if e["node"]["id"] == alert_id]
    return list(node["history"])


async def test_two_decisions_are_two_entries_in_order_with_actor_and_note(suite: Suite) -> None:
    org = await make_org(suite)
    alert_id = await new_alert(suite, org)
    assert await history(suite, org, alert_id) == []

    acknowledged = await suite.gql(
        UPDATE_ALERT,
        {"input": {"id": alert_id, "status": "ACKNOWLEDGED", "note": "calling the rep"}},
        as_=org.manager,
    )
    assert [entry["note"] for entry in acknowledged.ok()["updateAlert"]["alert"]["history"]] == [
        "calling the rep"
    ]
    resolved = await suite.gql(
        UPDATE_ALERT,
        {
            "input": {
                "id": alert_id,
                "status": "RESOLVED",
                "resolution": "CONFIRMED",
                "note": "GPS spoofing app found on the phone",
            }
        },
        as_=org.hr,
    )
    assert resolved.ok()["updateAlert"]["alert"]["status"] == "RESOLVED"

    entries = await history(suite, org, alert_id)
    assert [
        (entry["status"], entry["resolution"], entry["note"], entry["by"]) for entry in entries
    ] == [
        ("ACKNOWLEDGED", None, "calling the rep", {"id": employee_id(org.manager)}),
        (
            "RESOLVED",
            "CONFIRMED",
            "GPS spoofing app found on the phone",
            {"id": employee_id(org.hr)},
        ),
    ]
    assert entries[0]["at"] <= entries[1]["at"]
    assert all(re.fullmatch("[0-9a-f]{32}", entry["traceId"]) for entry in entries)
    assert resolved.ok()["updateAlert"]["alert"]["history"] == entries


async def test_refused_decisions_leave_no_trace(suite: Suite) -> None:
    org = await make_org(suite)
    alert_id = await new_alert(suite, org)
    # A rep decides nothing (not even on their own alert); nor does another branch's manager.
    for caller in (org.junior, org.senior, org.other_manager):
        refused = await suite.gql(
            UPDATE_ALERT, {"input": {"id": alert_id, "status": "DISMISSED"}}, as_=caller
        )
        assert refused.codes == ["NOT_FOUND"], (caller, refused.body)
        assert refused.data.get("updateAlert") is None
    # Bad input is a typed error, and writes nothing either.
    invalid = await suite.gql(
        UPDATE_ALERT,
        {"input": {"id": alert_id, "status": "ACKNOWLEDGED", "resolution": "CLEARED"}},
        as_=org.hr,
    )
    assert invalid.codes == ["VALIDATION"]
    assert invalid.errors[0]["extensions"]["field"] == "resolution"
    assert await history(suite, org, alert_id) == []


async def test_the_history_is_append_only_in_the_database(suite: Suite) -> None:
    org = await make_org(suite)
    alert_id = await new_alert(suite, org)
    (
        await suite.gql(
            UPDATE_ALERT, {"input": {"id": alert_id, "status": "DISMISSED"}}, as_=org.hr
        )
    ).ok()
    db = suite.running["attendance"].runtime.db
    for statement in (
        "UPDATE alert_decisions SET note = 'nothing happened' WHERE alert_id = :id",
        "DELETE FROM alert_decisions WHERE alert_id = :id",
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            async with db.transaction() as session:
                await session.execute(text(statement), {"id": service_id(alert_id)})
    assert [entry["status"] for entry in await history(suite, org, alert_id)] == ["DISMISSED"]


async def test_a_page_of_alerts_reads_histories_with_one_call_per_source(suite: Suite) -> None:
    org = await make_org(suite)
    for _ in range(3):
        alert_id = await new_alert(suite, org)
        (
            await suite.gql(
                UPDATE_ALERT, {"input": {"id": alert_id, "status": "ACKNOWLEDGED"}}, as_=org.hr
            )
        ).ok()
    page = await suite.gql(ALERTS, {"filter": {"employeeId": employee_id(org.junior)}}, as_=org.hr)
    nodes = [edge["node"] for edge in page.ok()["alerts"]["edges"]]
    assert len([node for node in nodes if node["history"]]) >= 3
    calls = page.body["extensions"]["rpcCalls"]
    assert calls["/salesguard.common.v1.AlertsService/ListAlerts"] == 3  # one per alert source
