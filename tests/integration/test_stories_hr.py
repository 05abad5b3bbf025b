"""The seed's scenarios as HR lives them: each story runs through the GraphQL gateway from the
first event in the field to what HR (and the manager who acts) sees, on the full profile.

1. A rep visits a site nobody registered, three field days in a row, without a photo: the
   signals reach HR's ``alerts`` and the rep's ``employeeTimeline``.
2. A regular customer goes quiet while their owner keeps visiting (``DIVERSION_RISK``): HR
   reads the evidence, the manager reassigns the customer, the audit trail says who did what.
3. Fake deals withhold commissions until HR clears one — told in
   ``test_stories_deals.py::test_clearing_a_fake_deal_alert_releases_exactly_its_line``
   (and ``test_unpaid_unshipped_deals_are_suspected_fakes`` for the first half).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tests.harness import Suite, employee_id, service_id, unique
from tests.org import make_org, register
from tests.support.field_visits import at_local, check_in, codes, recent_working_days
from tests.support.geo import offset

SHANGHAI = ZoneInfo("Asia/Shanghai")

ALERTS = """query($filter: AlertFilter) {
  alerts(first: 50, filter: $filter) {
    totalCount
    edges { node {
      id kind rule severity status title message evidence detectedAt
      employee { id } customer { id }
    } }
  } }"""
SUBMIT = """mutation($input: SubmitOrderInput!) {
  submitOrder(input: $input) { order { id code status } } }"""
DECIDE = """mutation($input: DecideOrderInput!) {
  decideOrder(input: $input) { order { id status } } }"""
DETECT = """mutation { detectDiversionRisk { customersChecked alertsRaised } }"""
REASSIGN = """mutation($input: ReassignCustomersInput!) {
  reassignCustomers(input: $input) { customers { id owner { id } } } }"""
CUSTOMER = """query($id: ID!) { customer(id: $id) { id name owner { id } } }"""
AUDIT = """query($filter: AuditEventFilter) {
  auditEvents(first: 50, filter: $filter) {
    edges { node { action customerIds reason before after actor { id } at } }
  } }"""
TIMELINE = """query($employeeId: ID!, $from: DateTime!, $to: DateTime!, $after: String) {
  employeeTimeline(employeeId: $employeeId, from: $from, to: $to, first: 50, after: $after) {
    pageInfo { hasNextPage endCursor }
    edges { node {
      __typename at kind day
      ... on CheckInItem { checkIn { id verdict reasons { code } } }
      ... on AlertItem { alert { id kind } }
    } }
  } }"""
UPDATE_ALERT = """mutation($input: UpdateAlertInput!) {
  updateAlert(input: $input) { alert { id status resolution note } } }"""


def shanghai_today() -> date:
    return datetime.now(SHANGHAI).date()


async def alerts(
    suite: Suite, as_: str, *, language: str | None = None, **filter_: Any
) -> list[dict[str, Any]]:
    headers = {"Accept-Language": language} if language else None
    result = await suite.gql(ALERTS, {"filter": filter_}, as_=as_, headers=headers)
    return [edge["node"] for edge in result.ok()["alerts"]["edges"]]


async def employee_timeline(
    suite: Suite, as_: str, employee: str, start: datetime, end: datetime
) -> list[dict[str, Any]]:
    """Every item of ``employee``'s timeline (their HR key) in [start, end), page after page,
    newest first."""
    items: list[dict[str, Any]] = []
    after = None
    for _ in range(20):
        values = {
            "employeeId": employee_id(employee),
            "from": start.isoformat(),
            "to": end.isoformat(),
            "after": after,
        }
        page = (await suite.gql(TIMELINE, values, as_=as_)).ok()["employeeTimeline"]
        items.extend(edge["node"] for edge in page["edges"])
        if not page["pageInfo"]["hasNextPage"]:
            return items
        after = page["pageInfo"]["endCursor"]
    raise AssertionError("the timeline did not end within 20 pages")


# -- 1. the unregistered site, visited without photos --------------------------------------------

# A place in Hangzhou no customer is registered at.
HANGZHOU = (30.2741, 120.1551)


async def test_scenario_1_unregistered_visits_without_photos_reach_hr(suite: Suite) -> None:
    org = await make_org(suite)
    rep = org.junior
    place = offset(HANGZHOU, 900, 200)
    days = recent_working_days(3)
    visits = [await check_in(suite, rep, place, at_local(day, 14)) for day in days]
    for visit in visits:
        assert {"UNREGISTERED_SITE", "NO_PHOTO"} <= codes(visit)
        assert visit["verdict"] == "SUSPICIOUS"

    # HR's console: both signals, about this rep, in English and in Chinese.
    raised = await alerts(suite, org.hr, employeeId=employee_id(rep))
    kinds = {alert["kind"]: alert for alert in raised}
    assert {"PHOTO_MISSING_STREAK", "UNREGISTERED_SITE_REPEATED"} <= set(kinds)
    assert kinds["PHOTO_MISSING_STREAK"]["evidence"]["days"] == 3
    assert kinds["UNREGISTERED_SITE_REPEATED"]["rule"] == "A5"
    for alert in raised:
        assert alert["employee"] == {"id": employee_id(rep)} and alert["status"] == "OPEN"
    chinese = await alerts(suite, org.hr, language="zh-CN", employeeId=employee_id(rep))
    assert {alert["id"] for alert in chinese} == {alert["id"] for alert in raised}
    assert all(any("\u4e00" <= char <= "\u9fff" for char in a["title"]) for a in chinese)
    # The branch's manager sees them; another branch's manager and a fellow rep do not.
    assert {a["id"] for a in await alerts(suite, org.manager, employeeId=employee_id(rep))} >= {
        kinds["PHOTO_MISSING_STREAK"]["id"]
    }
    assert not await alerts(suite, org.other_manager, employeeId=employee_id(rep))
    assert (
        await suite.gql(ALERTS, {"filter": {"employeeId": employee_id(rep)}}, as_=org.junior_b)
    ).codes

    # The rep's timeline, as HR pulls it: the three visits with their verdicts and the alerts.
    # Up to now: the alerts were raised now, which may be days after the last visit (a
    # Monday morning's last working day is Friday).
    start, end = at_local(days[0], 0), datetime.now(UTC) + timedelta(minutes=5)
    timeline = await employee_timeline(suite, org.hr, rep, start, end)
    seen_visits = [item for item in timeline if item["__typename"] == "CheckInItem"]
    assert [item["day"] for item in seen_visits] == [day.isoformat() for day in reversed(days)]
    assert [item["checkIn"]["id"] for item in seen_visits] == [v["id"] for v in reversed(visits)]
    assert all(item["checkIn"]["verdict"] == "SUSPICIOUS" for item in seen_visits)
    seen_alerts = {item["alert"]["kind"] for item in timeline if item["__typename"] == "AlertItem"}
    assert {"PHOTO_MISSING_STREAK", "UNREGISTERED_SITE_REPEATED"} <= seen_alerts
    moments = [item["at"] for item in timeline]
    assert moments == sorted(moments, key=datetime.fromisoformat, reverse=True)  # newest first
    # A fellow rep cannot pull it.
    refused = await suite.gql(
        TIMELINE,
        {"employeeId": employee_id(rep), "from": start.isoformat(), "to": end.isoformat()},
        as_=org.junior_b,
    )
    assert refused.codes and not (refused.data.get("employeeTimeline") or {}).get("edges")


# -- 2. the diverted customer ------------------------------------------------------------------

# A customer's site in Suzhou, away from the other stories' sites.
SUZHOU = (31.2990, 120.5853)


async def test_scenario_2_diverted_customer_is_spotted_reassigned_and_audited(
    suite: Suite,
) -> None:
    org = await make_org(suite)
    rep, successor = org.junior, org.senior
    site = offset(SUZHOU, 700, 30)
    # A customer first met 300 days ago, who then ordered every month for five months.
    customer = await register(
        suite,
        rep,
        name=unique("Suzhou Silk"),
        hours_since_contact=300 * 24,
        location={"lat": site[0], "lng": site[1]},
    )
    for days_ago in (240, 210, 180, 150, 120):
        values = {
            "customerId": customer["id"],
            "currency": "CNY",
            "orderDate": (shanghai_today() - timedelta(days=days_ago)).isoformat(),
            "lines": [
                {"sku": "SILK-1", "description": "silk", "quantity": "10", "unitPrice": "500"}
            ],
        }
        order = (await suite.gql(SUBMIT, {"input": values}, as_=rep)).ok()["submitOrder"]["order"]
        decided = await suite.gql(
            DECIDE, {"input": {"orderId": order["id"], "approve": True}}, as_=org.manager
        )
        assert decided.ok()["decideOrder"]["order"]["status"] == "APPROVED"
    # Then four months of silence — while the owner keeps visiting the customer.
    for days_ago in (2, 1):
        at = datetime.now(UTC) - timedelta(days=days_ago)
        visit = await check_in(suite, rep, site, at, customerId=customer["id"])
        assert "LOCATION_MISMATCH" not in codes(visit)

    detected = (await suite.gql(DETECT, as_=org.hr)).ok()["detectDiversionRisk"]
    assert detected["alertsRaised"] >= 1

    # HR sees the signal with its evidence, in the language the console asks for.
    (risk,) = await alerts(suite, org.hr, kinds=["DIVERSION_RISK"], customerId=customer["id"])
    assert (risk["rule"], risk["status"]) == ("O6", "OPEN")
    assert risk["employee"] == {"id": employee_id(rep)}
    evidence = risk["evidence"]
    assert evidence["usual_interval_days"] == 30
    assert evidence["days_silent"] == 120
    assert evidence["visits_since_last_order"] == 2
    assert evidence["owner_id"] == rep
    (in_chinese,) = await alerts(
        suite, org.hr, language="zh-CN", kinds=["DIVERSION_RISK"], customerId=customer["id"]
    )
    assert in_chinese["id"] == risk["id"]
    assert in_chinese["title"] != risk["title"]
    assert any("\u4e00" <= char <= "\u9fff" for char in in_chinese["title"])
    # The manager of the branch sees it too; the rep under suspicion reads no alerts at all.
    assert await alerts(suite, org.manager, kinds=["DIVERSION_RISK"], customerId=customer["id"])
    assert (await suite.gql(ALERTS, {"filter": {}}, as_=rep)).codes
    assert not await alerts(
        suite, org.other_manager, kinds=["DIVERSION_RISK"], customerId=customer["id"]
    )

    # The manager moves the customer to a senior rep, saying why.
    reason = f"diversion suspected, see alert {risk['id']}"
    moved = await suite.gql(
        REASSIGN,
        {
            "input": {
                "customerIds": [customer["id"]],
                "newOwnerId": employee_id(successor),
                "reason": reason,
            }
        },
        as_=org.manager,
    )
    assert moved.ok()["reassignCustomers"]["customers"] == [
        {"id": customer["id"], "owner": {"id": employee_id(successor)}}
    ]
    # The rep no longer reaches the customer; the successor does.
    assert (await suite.gql(CUSTOMER, {"id": customer["id"]}, as_=rep)).codes == ["NOT_FOUND"]
    shown = (await suite.gql(CUSTOMER, {"id": customer["id"]}, as_=successor)).ok()
    assert shown["customer"]["owner"] == {"id": employee_id(successor)}
    # A rep cannot do the manager's part.
    refused = await suite.gql(
        REASSIGN,
        {
            "input": {
                "customerIds": [customer["id"]],
                "newOwnerId": employee_id(rep),
                "reason": "mine",
            }
        },
        as_=org.junior_mate,
    )
    assert refused.codes and refused.codes[0] in {"FORBIDDEN", "NOT_FOUND"}

    # HR confirms the suspicion, and the audit trail says who did what.
    confirmed = await suite.gql(
        UPDATE_ALERT,
        {
            "input": {
                "id": risk["id"],
                "status": "RESOLVED",
                "resolution": "CONFIRMED",
                "note": "customer confirmed buying through a side company",
            }
        },
        as_=org.hr,
    )
    assert confirmed.ok()["updateAlert"]["alert"]["resolution"] == "CONFIRMED"
    trail = (await suite.gql(AUDIT, {"filter": {"customerId": customer["id"]}}, as_=org.hr)).ok()[
        "auditEvents"
    ]["edges"]
    events = [edge["node"] for edge in trail]
    reassigned = [event for event in events if event["action"] == "customer.reassign"]
    assert len(reassigned) == 1
    (event,) = reassigned
    assert event["actor"] == {"id": employee_id(org.manager)}
    assert event["reason"] == reason
    assert event["customerIds"] == [customer["id"]]
    assert event["before"] == {"owners": {service_id(customer["id"]): rep}}
    assert event["after"] == {"owner_id": successor}
    registered = [event for event in events if event["action"] == "customer.register"]
    assert [event["actor"] for event in registered] == [{"id": employee_id(rep)}]
