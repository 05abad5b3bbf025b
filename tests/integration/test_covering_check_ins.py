"""Covering a colleague's customers (issue 17), as GraphQL stories on PostgreSQL, OPA and
S3: a rep's visit to a customer they cannot read links to it when someone else planned
that visit for them (planVisit) around the check-in's time, the geofence still judged;
without such a plan the check-in is refused as before. The covering rep gains no read of
the customer: no contact fields, no list entry.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.harness import Suite, employee_id, service_id
from tests.org import Org, make_org, register
from tests.support.field_visits import (
    CHECK_IN,
    SITE,
    alerts,
    check_in,
    check_in_input,
    codes,
)
from tests.support.geo import offset

PLAN_ID_ONLY = "mutation($input: PlanVisitInput!) { planVisit(input: $input) { visitPlan { id } } }"
CONTACT = "query($id: ID!) { customer(id: $id) { id phone address } }"
CUSTOMERS = "query { customers(first: 100) { edges { node { id } } } }"


def _window(start: datetime, hours: float = 2) -> dict[str, str]:
    return {
        "windowStart": start.isoformat(),
        "windowEnd": (start + timedelta(hours=hours)).isoformat(),
    }


async def _plan(
    suite: Suite, as_: str, employee: str, customer_id: str, start: datetime
) -> dict[str, Any]:
    values = {"employeeId": employee_id(employee), "customerId": customer_id, **_window(start)}
    return dict((await suite.gql(PLAN_ID_ONLY, {"input": values}, as_=as_)).ok())


async def _covered(suite: Suite, bearing: float) -> tuple[Org, dict[str, Any], tuple[float, float]]:
    """An org of its own and a customer of the junior's teammate at a site of its own."""
    org = await make_org(suite)
    site = offset(SITE, 7000, bearing)
    customer = await register(suite, org.junior_mate, location={"lat": site[0], "lng": site[1]})
    return org, customer, site


async def test_a_plan_the_manager_made_lets_the_covering_rep_link_the_visit(suite: Suite) -> None:
    org, customer, site = await _covered(suite, 200)
    now = datetime.now(UTC)
    start = now - timedelta(hours=5)
    await _plan(suite, org.manager, org.junior, customer["id"], start)

    visit = await check_in(
        suite,
        org.junior,
        offset(site, 30, 90),
        start + timedelta(hours=1),
        customerId=customer["id"],
        photoKeys=[],
    )
    # Linked: not an unlinked site, not outside the plan, within the geofence.
    assert not codes(visit) & {"UNLINKED_CUSTOMER_SITE", "OUTSIDE_PLAN", "LOCATION_MISMATCH"}
    # Within the tolerance after the window's end, and far from the shop: the geofence holds.
    far = await check_in(
        suite,
        org.junior,
        offset(site, 600, 90),
        start + timedelta(hours=2, minutes=20),
        customerId=customer["id"],
        deviceId="phone-1",
    )
    mismatch = next(r for r in far["reasons"] if r["code"] == "LOCATION_MISMATCH")
    assert mismatch["detail"]["customer_id"] == service_id(customer["id"])
    assert "OUTSIDE_PLAN" not in codes(far)
    assert not await alerts(
        suite, org.hr, kinds=["UNLINKED_CUSTOMER_SITE"], employeeId=employee_id(org.junior)
    )

    # The covering rep reads nothing of the customer: no contact, no list entry.
    read = await suite.gql(CONTACT, {"id": customer["id"]}, as_=org.junior)
    assert (read.data.get("customer") or {}).get("phone") is None
    listed = (await suite.gql(CUSTOMERS, {}, as_=org.junior)).ok()
    assert customer["id"] not in {edge["node"]["id"] for edge in listed["customers"]["edges"]}
    # Its owner still does.
    owned = (await suite.gql(CONTACT, {"id": customer["id"]}, as_=org.junior_mate)).ok()
    assert owned["customer"]["phone"]


async def test_without_a_covering_plan_the_check_in_is_refused(suite: Suite) -> None:
    org, customer, site = await _covered(suite, 250)
    other, _, _ = await _covered(suite, 260)
    elsewhere = await register(
        suite, org.junior_mate, location={"lat": site[0] + 0.01, "lng": site[1]}
    )
    now = datetime.now(UTC)
    point = offset(site, 20, 0)

    async def refused(as_: str, at: datetime) -> list[str]:
        values = check_in_input(point, at, customerId=customer["id"])
        return (await suite.gql(CHECK_IN, {"input": values}, as_=as_)).codes

    # No plan at all.
    assert await refused(org.junior, now - timedelta(hours=30)) == ["NOT_FOUND"]
    # A plan for another of the colleague's customers.
    await _plan(suite, org.manager, org.junior, elsewhere["id"], now - timedelta(hours=28))
    assert await refused(org.junior, now - timedelta(hours=27)) == ["NOT_FOUND"]
    # A plan whose window is over: past its end beyond the 30-minute tolerance.
    start = now - timedelta(hours=24)
    await _plan(suite, org.manager, org.junior, customer["id"], start)
    assert await refused(org.junior, start + timedelta(hours=2, minutes=45)) == ["NOT_FOUND"]
    # nor before its start beyond it.
    assert await refused(org.junior, start - timedelta(minutes=45)) == ["NOT_FOUND"]
    # A plan for another employee covers only them.
    start_b = now - timedelta(hours=20)
    await _plan(suite, org.manager, org.senior, customer["id"], start_b)
    assert await refused(org.junior, start_b + timedelta(hours=1)) == ["NOT_FOUND"]
    # A manager of another branch cannot plan it (the customer is not theirs to read).
    values = {
        "employeeId": employee_id(other.junior),
        "customerId": customer["id"],
        **_window(now - timedelta(hours=10)),
    }
    assert (await suite.gql(PLAN_ID_ONLY, {"input": values}, as_=other.manager)).codes
    # The rep cannot plan it for themselves: planVisit refuses a customer they cannot read.
    values = {
        "employeeId": employee_id(org.junior),
        "customerId": customer["id"],
        **_window(now - timedelta(hours=8)),
    }
    assert (await suite.gql(PLAN_ID_ONLY, {"input": values}, as_=org.junior)).codes == ["NOT_FOUND"]
    assert await refused(org.junior, now - timedelta(hours=7)) == ["NOT_FOUND"]
    # Within the plan the manager made, the same check-in links.
    assert await refused(org.junior, start + timedelta(minutes=30)) == []


async def test_a_plan_the_rep_made_for_themselves_does_not_cover(suite: Suite) -> None:
    """A rep's own plan for a customer they could read then (their own, since handed to a
    colleague) does not let them link the customer once it is not theirs."""
    org, _, site = await _covered(suite, 280)
    own = await register(suite, org.junior, location={"lat": site[0] - 0.01, "lng": site[1] + 0.01})
    now = datetime.now(UTC)
    start = now - timedelta(hours=6)
    await _plan(suite, org.junior, org.junior, own["id"], start)
    # The customer goes to the teammate (a manager reassigns it).
    reassign = {
        "customerIds": [own["id"]],
        "newOwnerId": employee_id(org.junior_mate),
        "reason": "junior covers less",
    }
    (
        await suite.gql(
            """mutation($input: ReassignCustomersInput!) {
              reassignCustomers(input: $input) { customers { id } } }""",
            {"input": reassign},
            as_=org.manager,
        )
    ).ok()
    values = check_in_input(
        offset((site[0] - 0.01, site[1] + 0.01), 20, 0),
        start + timedelta(hours=1),
        customerId=own["id"],
    )
    assert (await suite.gql(CHECK_IN, {"input": values}, as_=org.junior)).codes == ["NOT_FOUND"]
