"""G4: alerts from every service in one connection, newest first, in the caller's language."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest

from gateway.tests.conftest import StartSuite
from gateway.tests.support import attendance_alert
from tests.harness import Suite, employee_id, global_id, service_id
from tests.org import Org, make_org, register, register_result

PAGE = """query($after: String) {
  alerts(first: 3, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { cursor node { id source kind rule severity status title message
                          detectedAt evidence employee { id } customer { id } } }
  }
}"""
ALL = "{ alerts(first: 50) { totalCount edges { node { id source kind detectedAt } } } }"


async def late_registration(suite: Suite, as_: str) -> dict[str, Any]:
    """A customer first met 30 h ago: customers raises LATE_REGISTRATION (C2)."""
    return await register(suite, as_, hours_since_contact=30)


@dataclass(frozen=True)
class Alerts:
    org: Org
    # Newest first, as the `alerts` query must return them.
    ids: list[str]
    sources: list[str]
    newest_customer: dict[str, Any]
    claimed_customer: dict[str, Any]


@pytest.fixture(scope="module")
async def alerts(suite: Suite) -> Alerts:
    org = await make_org(suite)
    first = await late_registration(suite, org.junior)
    # The teammate registers the same customer again (C3): DUPLICATE_CUSTOMER_CLAIM.
    duplicate = await register_result(suite, org.junior_mate, phone=first["phone"])
    assert duplicate.codes == ["DUPLICATE_CUSTOMER"]
    await late_registration(suite, org.senior)
    newest = await late_registration(suite, org.junior)
    raised = (await suite.gql(ALL, as_=org.manager)).ok()["alerts"]["edges"]
    customers = [edge["node"] for edge in raised]
    assert [node["kind"] for node in customers] == [
        "LATE_REGISTRATION",
        "LATE_REGISTRATION",
        "DUPLICATE_CUSTOMER_CLAIM",
        "LATE_REGISTRATION",
    ]
    # Attendance's alerts fall between customers' in time, so a page mixes both sources.
    ids: list[str] = []
    for newer, older in itertools.pairwise(customers):
        newer_at = datetime.fromisoformat(newer["detectedAt"])
        older_at = datetime.fromisoformat(older["detectedAt"])
        ids += [
            newer["id"],
            global_id(
                "Alert", await attendance_alert(suite, org, older_at + (newer_at - older_at) / 2)
            ),
        ]
    ids.append(customers[-1]["id"])
    sources = ["customers", "attendance"] * 3 + ["customers"]
    return Alerts(org, ids, sources, newest, first)


async def test_pages_merge_newest_first(suite: Suite, alerts: Alerts) -> None:
    seen: list[tuple[str, str]] = []
    after = None
    for _ in range(5):
        connection = (await suite.gql(PAGE, {"after": after}, as_=alerts.org.manager)).ok()[
            "alerts"
        ]
        seen += [(edge["node"]["id"], edge["node"]["source"]) for edge in connection["edges"]]
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
    assert seen == list(zip(alerts.ids, alerts.sources, strict=True))


async def test_total_count_sums_every_source_on_every_page(suite: Suite, alerts: Alerts) -> None:
    totals: list[int] = []
    after = None
    for _ in range(5):
        connection = (await suite.gql(PAGE, {"after": after}, as_=alerts.org.manager)).ok()[
            "alerts"
        ]
        totals.append(connection["totalCount"])
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
    assert totals == [7, 7, 7]


async def test_edge_cursors_resume_right_after_their_node(suite: Suite, alerts: Alerts) -> None:
    first = (await suite.gql(PAGE, {"after": None}, as_=alerts.org.manager)).ok()
    second_edge = first["alerts"]["edges"][1]
    page = (await suite.gql(PAGE, {"after": second_edge["cursor"]}, as_=alerts.org.manager)).ok()
    assert [edge["node"]["id"] for edge in page["alerts"]["edges"]] == alerts.ids[2:5]


async def test_alerts_stay_in_the_callers_scope(suite: Suite, alerts: Alerts) -> None:
    other = await make_org(suite)
    # Another branch's manager sees none of this branch's alerts...
    assert (await suite.gql(ALL, as_=other.manager)).ok()["alerts"]["edges"] == []
    # ...and a sales rep none at all: every source refuses, and the field fails once.
    refused = await suite.gql(ALL, as_=alerts.org.junior)
    assert refused.codes == ["FORBIDDEN"]
    assert (refused.data or {}).get("alerts") is None
    assert not any(
        leaked in str(refused.body)
        for alert_id in alerts.ids
        for leaked in (alert_id, service_id(alert_id))
    )


async def test_alert_fields_and_language(suite: Suite, alerts: Alerts) -> None:
    manager, newest = alerts.org.manager, alerts.newest_customer
    english = (await suite.gql(PAGE, {"after": None}, as_=manager)).ok()
    node = english["alerts"]["edges"][0]["node"]
    assert node["id"] == alerts.ids[0] and node["source"] == "customers"
    assert node["kind"] == "LATE_REGISTRATION" and node["rule"] == "C2"
    assert node["severity"] == "MEDIUM" and node["status"] == "OPEN"
    assert node["title"] == "Late customer registration"
    assert node["message"] == (
        f"Customer {newest['code']} was registered 30 h after first contact (limit 24 h)."
    )
    assert node["evidence"]["customer_code"] == newest["code"]
    assert (node["evidence"]["hours_late"], node["evidence"]["limit_hours"]) == (30, 24)
    assert node["evidence"]["registered_by"] == alerts.org.junior
    assert node["detectedAt"].endswith("+00:00")
    assert node["employee"] == {"id": employee_id(alerts.org.junior)}
    assert node["customer"] == {"id": newest["id"]}

    chinese = (
        await suite.gql(
            PAGE,
            {"after": None},
            as_=manager,
            headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"},
        )
    ).ok()
    node = chinese["alerts"]["edges"][0]["node"]
    assert node["title"] == "客户登记超时"
    assert node["message"] == f"客户 {newest['code']} 在首次接触 30 小时后才登记（上限 24 小时）。"


async def test_a_duplicate_claim_reads_in_both_languages(suite: Suite, alerts: Alerts) -> None:
    query = "{ alerts(first: 5, filter: {kinds: [DUPLICATE_CUSTOMER_CLAIM]}) { edges { node { severity title message employee { id } customer { id } } } } }"
    code = alerts.claimed_customer["code"]
    for language, title, message in [
        (
            "en",
            "Duplicate customer claimed",
            f"An attempt to register customer {code} again (matched on phone); a manager should decide.",
        ),
        ("zh", "重复客户认领", f"有人试图重复登记客户 {code}（匹配项：phone），需由经理裁定。"),
    ]:
        data = (
            await suite.gql(query, as_=alerts.org.manager, headers={"Accept-Language": language})
        ).ok()
        assert [edge["node"] for edge in data["alerts"]["edges"]] == [
            {
                "severity": "MEDIUM",
                "title": title,
                "message": message,
                "employee": {"id": employee_id(alerts.org.junior_mate)},
                "customer": {"id": alerts.claimed_customer["id"]},
            }
        ]


async def two_sources(start_suite: StartSuite) -> tuple[Suite, Org]:
    """A suite of the test's own with one alert in each source, for the test to stop one."""
    suite = await start_suite()
    org = await make_org(suite)
    await late_registration(suite, org.junior)
    at = datetime.fromisoformat(
        (await suite.gql(ALL, as_=org.manager)).ok()["alerts"]["edges"][0]["node"]["detectedAt"]
    )
    await attendance_alert(suite, org, at - timedelta(minutes=1))
    edges = (await suite.gql(ALL, as_=org.manager)).ok()["alerts"]["edges"]
    assert [edge["node"]["source"] for edge in edges] == ["customers", "attendance"]
    return suite, org


async def test_a_failing_source_costs_only_its_alerts(start_suite: StartSuite) -> None:
    suite, org = await two_sources(start_suite)
    await suite.running["customers"].stop()
    result = await suite.gql(ALL, as_=org.manager)
    assert result.status == 200
    assert [edge["node"]["source"] for edge in result.data["alerts"]["edges"]] == ["attendance"]
    assert result.codes == ["UNAVAILABLE"]
    error = result.errors[0]
    assert error["path"] == ["alerts"]
    assert error["extensions"]["source"] == "customers"
    assert "alerts from customers are missing" in error["message"]


async def test_without_the_people_directory_nothing_is_answered(start_suite: StartSuite) -> None:
    """Attendance is also the people directory: while it is down no caller can be resolved,
    and a principal cached before is not used (the employee may have left or changed roles
    meanwhile), so the request fails closed rather than costing only attendance's alerts."""
    suite, org = await two_sources(start_suite)
    await suite.running["attendance"].stop()
    result = await suite.gql(ALL, as_=org.manager)
    assert (result.status, result.codes) == (503, ["UNAVAILABLE"]), result.body


async def test_total_count_is_of_the_sources_that_answered(start_suite: StartSuite) -> None:
    suite, org = await two_sources(start_suite)
    assert (await suite.gql(ALL, as_=org.manager)).ok()["alerts"]["totalCount"] == 2
    await suite.running["customers"].stop()
    assert (await suite.gql(ALL, as_=org.manager)).data["alerts"]["totalCount"] == 1


async def test_a_malformed_cursor_is_validation(suite: Suite, alerts: Alerts) -> None:
    result = await suite.gql(PAGE, {"after": "not-a-cursor"}, as_=alerts.org.manager)
    assert result.codes == ["VALIDATION"]
    assert result.errors[0]["extensions"]["field"] == "after"
