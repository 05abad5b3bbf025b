"""``employeeTimeline`` in the embedded profile: a service that is down costs only its kinds.

The full story (every kind, scopes, paging, bad input) is told on the full profile in
``tests/integration/test_timeline.py``; these tests stop a service of a suite of their own.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.tests.conftest import StartSuite
from tests.harness import Suite, employee_id
from tests.org import Org, make_org, register
from tests.support.field_visits import check_in
from tests.support.timeline import TIMELINE, record_follow_up, somewhere_of_its_own, submit_order

ORDERS_KINDS = ["ALERT", "APPROVAL", "ORDER", "PAYMENT", "SHIPMENT"]


async def field_day_and_a_deal(suite: Suite) -> tuple[Org, dict[str, str]]:
    org = await make_org(suite)
    now = datetime.now(UTC)
    visit = await check_in(suite, org.junior, somewhere_of_its_own(), now - timedelta(hours=3))
    customer = await register(suite, org.junior)
    follow_up = await record_follow_up(suite, org.junior, customer["id"], "CALL")
    order = await submit_order(suite, org.junior, customer["id"], quantity="1", unit_price="99.00")
    return org, {"CHECK_IN": visit["id"], "FOLLOW_UP": follow_up["id"], "ORDER": order["id"]}


def variables(org: Org, **extra: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "employeeId": employee_id(org.junior),
        "from": (now - timedelta(days=1)).isoformat(),
        "to": (now + timedelta(hours=1)).isoformat(),
        "first": 50,
        **extra,
    }


def kinds_and_ids(result: Any) -> list[tuple[str, str]]:
    pairs = []
    for edge in result.data["employeeTimeline"]["edges"]:
        node = edge["node"]
        held = next(
            value for key, value in node.items() if isinstance(value, dict) and "id" in value
        )
        pairs.append((node["kind"], held["id"]))
    return pairs


async def test_with_orders_down_the_field_evidence_still_comes_with_a_typed_error(
    start_suite: StartSuite,
) -> None:
    suite = await start_suite()
    org, ids = await field_day_and_a_deal(suite)
    before = await suite.gql(TIMELINE, variables(org), as_=org.hr)
    before.ok()
    assert ("ORDER", ids["ORDER"]) in kinds_and_ids(before)

    await suite.running["orders"].stop()
    result = await suite.gql(TIMELINE, variables(org), as_=org.hr)
    assert result.status == 200
    seen = kinds_and_ids(result)
    assert ("CHECK_IN", ids["CHECK_IN"]) in seen and ("FOLLOW_UP", ids["FOLLOW_UP"]) in seen
    assert not {kind for kind, _ in seen} & set(ORDERS_KINDS) - {"ALERT"}
    # One error for the service, naming it and every kind it would have given.
    assert result.codes == ["UNAVAILABLE"]
    (error,) = result.errors
    assert error["path"] == ["employeeTimeline"]
    assert error["extensions"]["source"] == "orders"
    assert error["extensions"]["kinds"] == ORDERS_KINDS
    assert "timeline items from orders are missing" in error["message"]

    # Asked only for the deal, the answer is empty and says why.
    deal_only = await suite.gql(TIMELINE, variables(org, kinds=["ORDER"]), as_=org.hr)
    assert deal_only.data["employeeTimeline"]["edges"] == []
    assert deal_only.codes == ["UNAVAILABLE"]
    assert deal_only.errors[0]["extensions"]["kinds"] == ["ORDER"]


async def test_with_customers_down_follow_ups_and_audit_events_are_missing(
    start_suite: StartSuite,
) -> None:
    suite = await start_suite()
    org, ids = await field_day_and_a_deal(suite)
    await suite.running["customers"].stop()
    result = await suite.gql(TIMELINE, variables(org), as_=org.hr)
    seen = kinds_and_ids(result)
    assert ("CHECK_IN", ids["CHECK_IN"]) in seen and ("ORDER", ids["ORDER"]) in seen
    assert result.codes == ["UNAVAILABLE"]
    assert result.errors[0]["extensions"]["source"] == "customers"
    assert result.errors[0]["extensions"]["kinds"] == ["ALERT", "AUDIT_EVENT", "FOLLOW_UP"]
