"""G4: the `alerts` filter (kind, severity, status, employee, customer, order, time range)
applies in every source, with a cursor and totalCount that hold across sources."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.harness import Suite, employee_id, global_id, service_id
from tests.org import Org, make_org, register
from tests.support.alerts import ALERTS_PAGE, stored_alert

QUERY = ALERTS_PAGE


@dataclass(frozen=True)
class Alerts:
    org: Org
    customer_id: str
    # The order's ID in the orders service (no such order exists).
    order_id: str
    # Alert IDs by name, see the fixture; all OPEN but `payer` (ACKNOWLEDGED).
    ids: dict[str, str]
    now: datetime


@pytest.fixture(scope="module")
async def alerts(suite: Suite) -> Alerts:
    """Five alerts of one branch in three sources, newest first:

    late (customers, junior, the customer, MEDIUM, now: a real late registration),
    fake (orders, junior, the customer and an order, HIGH, 1 day ago),
    mock (attendance, senior, HIGH, 2 days ago),
    device (attendance, junior, LOW, 5 days ago),
    payer (orders, senior, MEDIUM, 10 days ago, ACKNOWLEDGED).
    """
    org = await make_org(suite)
    customer = await register(suite, org.junior, hours_since_contact=30)
    now = datetime.now(UTC)
    order_id = "0" * 31 + "1"

    async def stored(
        source: str,
        kind: str,
        employee: str,
        days_ago: int,
        customer_id: str = "",
        order_id: str = "",
    ) -> str:
        alert_id = await stored_alert(
            suite,
            source,
            kind,
            employee_id=employee,
            detected_at=now - timedelta(days=days_ago),
            branch_id=org.branch,
            customer_id=customer_id or None,
            order_id=order_id or None,
        )
        return global_id("Alert", alert_id)

    ids = {
        "fake": await stored(
            "orders",
            "FAKE_DEAL_SUSPECTED",
            org.junior,
            1,
            customer_id=service_id(customer["id"]),
            order_id=order_id,
        ),
        "mock": await stored("attendance", "MOCK_LOCATION", org.senior, 2),
        "device": await stored("attendance", "NEW_DEVICE", org.junior, 5),
        "payer": await stored("orders", "PAYER_MISMATCH", org.senior, 10),
    }
    acknowledged = await suite.gql(
        'mutation($id: ID!) { updateAlert(input: {id: $id, status: ACKNOWLEDGED, source: "orders"}) { alert { status } } }',
        {"id": ids["payer"]},
        as_=org.manager,
    )
    assert acknowledged.ok()["updateAlert"]["alert"]["status"] == "ACKNOWLEDGED"
    late = await suite.gql(
        QUERY, {"filter": {"kinds": ["LATE_REGISTRATION"]}, "first": 5}, as_=org.manager
    )
    (edge,) = late.ok()["alerts"]["edges"]
    ids["late"] = edge["node"]["id"]
    return Alerts(org, customer["id"], order_id, ids, now)


async def matching(suite: Suite, alerts: Alerts, alert_filter: dict[str, Any]) -> list[str]:
    """The names of the alerts the filter returns, in order; totalCount must agree."""
    result = await suite.gql(QUERY, {"filter": alert_filter, "first": 50}, as_=alerts.org.manager)
    connection = result.ok()["alerts"]
    names = {alert_id: name for name, alert_id in alerts.ids.items()}
    found = [names[edge["node"]["id"]] for edge in connection["edges"]]
    assert connection["totalCount"] == len(found)
    return found


def iso(moment: datetime) -> str:
    return moment.isoformat()


@pytest.mark.parametrize(
    ("alert_filter", "expected"),
    [
        ({}, ["late", "fake", "mock", "device", "payer"]),
        ({"kinds": ["MOCK_LOCATION", "PAYER_MISMATCH"]}, ["mock", "payer"]),
        ({"severities": ["HIGH"]}, ["fake", "mock"]),
        ({"severities": ["LOW", "MEDIUM"]}, ["late", "device", "payer"]),
        ({"statuses": ["ACKNOWLEDGED"]}, ["payer"]),
        ({"statuses": ["OPEN"]}, ["late", "fake", "mock", "device"]),
        ({"severities": ["HIGH"], "statuses": ["OPEN"], "kinds": ["MOCK_LOCATION"]}, ["mock"]),
    ],
)
async def test_filters_by_kind_severity_and_status(
    suite: Suite, alerts: Alerts, alert_filter: dict[str, Any], expected: list[str]
) -> None:
    assert await matching(suite, alerts, alert_filter) == expected


async def test_filters_by_employee_customer_and_order(suite: Suite, alerts: Alerts) -> None:
    org = alerts.org
    senior, junior = employee_id(org.senior), employee_id(org.junior)
    assert await matching(suite, alerts, {"employeeId": senior}) == ["mock", "payer"]
    assert await matching(suite, alerts, {"employeeId": junior}) == ["late", "fake", "device"]
    assert await matching(suite, alerts, {"customerId": alerts.customer_id}) == ["late", "fake"]
    order = global_id("Order", alerts.order_id)
    assert await matching(suite, alerts, {"orderId": order}) == ["fake"]
    assert await matching(suite, alerts, {"employeeId": employee_id(org.junior_b)}) == []


async def test_filters_by_time_range(suite: Suite, alerts: Alerts) -> None:
    now = alerts.now
    window = {"from": iso(now - timedelta(days=6)), "to": iso(now - timedelta(hours=12))}
    assert await matching(suite, alerts, window) == ["fake", "mock", "device"]
    # From is inclusive, to exclusive: pages of adjacent windows never overlap.
    since = {"from": iso(now - timedelta(days=5, seconds=1))}
    assert await matching(suite, alerts, since) == ["late", "fake", "mock", "device"]
    before = {"to": iso(now - timedelta(days=2))}
    assert await matching(suite, alerts, before) == ["device", "payer"]


async def test_a_filtered_cursor_walks_every_source_once(suite: Suite, alerts: Alerts) -> None:
    names = {alert_id: name for name, alert_id in alerts.ids.items()}
    alert_filter = {"employeeId": employee_id(alerts.org.junior)}
    seen: list[str] = []
    totals: list[int] = []
    after = None
    for _ in range(5):
        result = await suite.gql(
            QUERY, {"filter": alert_filter, "first": 1, "after": after}, as_=alerts.org.manager
        )
        connection = result.ok()["alerts"]
        seen += [names[edge["node"]["id"]] for edge in connection["edges"]]
        totals.append(connection["totalCount"])
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
    # customers, orders, attendance in turn, each exactly once; the count on every page.
    assert seen == ["late", "fake", "device"]
    assert totals == [3, 3, 3]


async def test_an_empty_or_reversed_time_range_is_validation(suite: Suite, alerts: Alerts) -> None:
    at = iso(alerts.now)
    result = await suite.gql(QUERY, {"filter": {"from": at, "to": at}}, as_=alerts.org.manager)
    assert result.codes == ["VALIDATION"]
    assert result.errors[0]["extensions"]["field"] == "filter.to"


async def test_a_filter_every_source_rejects_is_one_error(suite: Suite, alerts: Alerts) -> None:
    too_long = employee_id("X" * 600)
    result = await suite.gql(QUERY, {"filter": {"employeeId": too_long}}, as_=alerts.org.manager)
    assert result.codes == ["VALIDATION"]
    assert result.errors[0]["extensions"]["field"] == "filter.employee_id"


async def test_a_kind_the_gateway_does_not_know_is_one_error_naming_the_field(
    suite: Suite, alerts: Alerts
) -> None:
    result = await suite.gql(QUERY, {"filter": {"kinds": ["X" * 600]}}, as_=alerts.org.manager)
    assert result.codes == ["VALIDATION"]
    assert result.errors[0]["extensions"]["field"] == "filter.kinds"


async def test_the_detection_day_is_the_branch_s_day(suite: Suite) -> None:
    # 23:30 UTC is 07:30 the next morning in Shanghai, the org's branch time zone.
    org = await make_org(suite)
    detected = datetime(2026, 3, 9, 23, 30, tzinfo=UTC)
    alert_id = await stored_alert(
        suite,
        "attendance",
        "NEW_DEVICE",
        employee_id=org.junior,
        branch_id=org.branch,
        detected_at=detected,
    )
    result = await suite.gql(
        """query($filter: AlertFilter) {
          alerts(first: 5, filter: $filter) { edges { node { id detectedAt detectedOn } } } }""",
        {"filter": {"employeeId": employee_id(org.junior), "kinds": ["NEW_DEVICE"]}},
        as_=org.hr,
    )
    (node,) = [edge["node"] for edge in result.ok()["alerts"]["edges"]]
    assert node["id"] == global_id("Alert", alert_id)
    assert datetime.fromisoformat(node["detectedAt"]) == detected
    assert node["detectedOn"] == "2026-03-10"
