"""SIMILAR_CUSTOMER (C3 beyond its keys): a second record of a colleague's shop, through its
other number, another buyer and the company written differently, on PostgreSQL and OPA."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.harness import Suite, employee_id, unique
from tests.integration.test_customer_lookups import east, north
from tests.integration.test_registry_rules import alerts_of
from tests.org import Org, make_org, register, register_result

KIND = "SIMILAR_CUSTOMER"
ALERTS_QUERY = "query($filter: AlertFilter) { alerts(first: 5, filter: $filter) { totalCount } }"
CUSTOMER_QUERY = "query($id: ID!) { customer(id: $id) { id phone } }"


def shop() -> tuple[float, float]:
    """A random point in eastern China, away from every other test's points."""
    return random.uniform(22.0, 40.0), random.uniform(102.0, 121.0)


def at(point: tuple[float, float]) -> dict[str, float]:
    return {"lat": point[0], "lng": point[1]}


async def colleagues_shop(
    suite: Suite, org: Org, company: str
) -> tuple[dict[str, Any], tuple[float, float]]:
    point = shop()
    customer = await register(suite, org.junior, company=company, location=at(point))
    return customer, point


async def test_a_second_record_of_a_colleagues_shop_raises_one_alert_on_the_registrant(
    suite: Suite,
) -> None:
    org = await make_org(suite)
    company = unique("Ningbo Haitian Trading")
    original, point = await colleagues_shop(suite, org, f"{company} Co., Ltd.")
    key = unique("register")
    values: dict[str, Any] = {
        "name": unique("Another buyer"),
        "company": company.upper(),
        "phone": "+86 574 8765 4321",  # the shop's switchboard, not the colleague's number
        "location": at(east(*point, 40)),
        "idempotencyKey": key,
        # A retry repeats the request exactly.
        "firstContactAt": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
    }
    shadow = await register_result(suite, org.junior_b, **values)
    payload = shadow.ok()["registerCustomer"]
    # Registered all the same: a chain's second shop is real, a manager decides.
    assert payload["warnings"] == [KIND]
    retried = await register_result(suite, org.junior_b, **values)
    assert retried.ok()["registerCustomer"]["customer"]["id"] == payload["customer"]["id"]

    raised = await alerts_of(suite, org.manager, KIND)
    assert len(raised) == 1
    alert = raised[0]
    assert alert["employee"]["id"] == employee_id(org.junior_b)
    assert alert["customer"]["id"] == payload["customer"]["id"]
    assert alert["rule"] == "C3" and alert["severity"] == "MEDIUM"
    evidence = alert["evidence"]
    assert evidence["existing_code"] == original["code"]
    assert evidence["customer_code"] == payload["customer"]["code"]
    assert 35 <= evidence["distance_m"] <= 45
    assert original["code"] in alert["message"] and payload["customer"]["code"] in alert["message"]
    # No contact detail of either record rides in the alert.
    assert "8765" not in str(alert) and original["phone"] not in str(alert)

    # The colleague whose customer it is reads neither the alert nor the second record's
    # contact details through it: reps list no alerts, and the record is not theirs.
    listed = await suite.gql(ALERTS_QUERY, {"filter": {"kinds": [KIND]}}, as_=org.junior)
    assert listed.codes == ["FORBIDDEN"]
    read = await suite.gql(CUSTOMER_QUERY, {"id": payload["customer"]["id"]}, as_=org.junior)
    assert not (read.data or {}).get("customer")
    assert "8765" not in str(read.body)


async def test_a_chain_shop_far_away_or_another_company_next_door_raises_none(
    suite: Suite,
) -> None:
    org = await make_org(suite)
    company = unique("Hangzhou Lianhua Supermarket")
    _, point = await colleagues_shop(suite, org, company)
    far = await register_result(
        suite, org.junior_b, company=f"{company} Co., Ltd.", location=at(north(*point, 2000))
    )
    next_door = await register_result(
        suite,
        org.junior_b,
        company=unique("Hangzhou Other Hardware"),
        location=at(east(*point, 20)),
    )
    assert far.ok()["registerCustomer"]["warnings"] == []
    assert next_door.ok()["registerCustomer"]["warnings"] == []
    assert await alerts_of(suite, org.manager, KIND, employeeId=employee_id(org.junior_b)) == []


async def test_the_owner_registering_a_second_branch_of_their_own_customer_raises_none(
    suite: Suite,
) -> None:
    org = await make_org(suite)
    company = unique("Suzhou Chain Store")
    _, point = await colleagues_shop(suite, org, company)
    second = await register_result(
        suite, org.junior, company=f"{company} Ltd", location=at(north(*point, 30))
    )
    assert second.ok()["registerCustomer"]["warnings"] == []
    assert await alerts_of(suite, org.manager, KIND, employeeId=employee_id(org.junior)) == []


async def test_two_records_of_one_shop_registered_at_the_same_moment_raise_one_alert(
    suite: Suite,
) -> None:
    """Two reps register the same shop at once, each in their own request: whichever
    commits second is flagged, every time. Without serialising on the company's key both
    similarity queries ran before either record was committed, and neither was flagged."""
    org = await make_org(suite)
    rounds = 12
    flagged: list[str] = []
    for _ in range(rounds):
        company = unique("Wuxi Racing Hardware")
        point = shop()
        first, second = await asyncio.gather(
            register_result(suite, org.junior, company=company, location=at(point)),
            register_result(
                suite, org.junior_b, company=f"{company} Co., Ltd.", location=at(east(*point, 25))
            ),
        )
        warnings = [result.ok()["registerCustomer"]["warnings"] for result in (first, second)]
        # One of the two, never both and never neither (the order is the database's).
        assert sorted(warnings) == [[], [KIND]], warnings
        flagged.append(org.junior if warnings[0] else org.junior_b)
    raised = await alerts_of(suite, org.manager, KIND)
    assert len(raised) == rounds
    assert sorted(alert["employee"]["id"] for alert in raised) == sorted(
        employee_id(registrant) for registrant in flagged
    )


UPDATE = """
mutation($input: UpdateCustomerInput!) {
  updateCustomer(input: $input) { customer { id code company } }
}
"""


async def test_a_record_moved_or_renamed_onto_a_colleagues_shop_raises_the_alert_too(
    suite: Suite,
) -> None:
    """Registered far away or under another name, then edited onto the colleague's shop:
    what a registration there would raise, on whoever made the edit. An edit of anything
    else (the address) raises nothing."""
    org = await make_org(suite)
    company = unique("Jiaxing Edited Trading")
    original, point = await colleagues_shop(suite, org, f"{company} Co., Ltd.")
    far = await register_result(
        suite, org.junior_b, company=company, location=at(north(*point, 5_000))
    )
    assert far.ok()["registerCustomer"]["warnings"] == []
    moved_id = far.ok()["registerCustomer"]["customer"]["id"]
    moved = await suite.gql(
        UPDATE, {"input": {"id": moved_id, "location": at(east(*point, 30))}}, as_=org.junior_b
    )
    moved.ok()
    [alert] = await alerts_of(suite, org.manager, KIND, employeeId=employee_id(org.junior_b))
    assert alert["customer"]["id"] == moved_id
    assert alert["evidence"]["existing_code"] == original["code"]

    elsewhere = await register_result(
        suite, org.junior_mate, company=unique("Unrelated Name"), location=at(north(*point, 20))
    )
    assert elsewhere.ok()["registerCustomer"]["warnings"] == []
    renamed_id = elsewhere.ok()["registerCustomer"]["customer"]["id"]
    untouched = await suite.gql(
        UPDATE, {"input": {"id": renamed_id, "address": "嘉兴市南湖区 8 号"}}, as_=org.manager
    )
    untouched.ok()
    assert await alerts_of(suite, org.hr, KIND, customerId=renamed_id) == []
    renamed = await suite.gql(
        UPDATE, {"input": {"id": renamed_id, "company": company.lower()}}, as_=org.manager
    )
    assert renamed.ok()["updateCustomer"]["customer"]["company"] == company.lower()
    # Both records of the shop now match it: the colleague's and the one moved there.
    # An alert on a manager is read by HR, not by the manager themself.
    raised = await alerts_of(suite, org.hr, KIND, customerId=renamed_id)
    assert {alert["employee"]["id"] for alert in raised} == {employee_id(org.manager)}
    assert sorted(alert["evidence"]["existing_code"] for alert in raised) == sorted(
        [original["code"], moved.ok()["updateCustomer"]["customer"]["code"]]
    )


async def test_a_move_and_a_registration_onto_one_shop_at_the_same_moment_see_each_other(
    suite: Suite,
) -> None:
    """An edit takes the same lock as a registration: whichever of the two commits second
    is flagged against the first as well as against the colleague's record."""
    org = await make_org(suite)
    for _ in range(6):
        company = unique("Shaoxing Racing Textiles")
        original, point = await colleagues_shop(suite, org, company)
        far = await register(
            suite, org.junior_b, company=company, location=at(north(*point, 5_000))
        )
        moved, registered = await asyncio.gather(
            suite.gql(
                UPDATE,
                {"input": {"id": far["id"], "location": at(east(*point, 30))}},
                as_=org.junior_b,
            ),
            register_result(
                suite, org.junior_mate, company=company, location=at(north(*point, 30))
            ),
        )
        moved.ok()
        new_id_ = registered.ok()["registerCustomer"]["customer"]["id"]
        raised = [
            alert
            for alert in await alerts_of(suite, org.hr, KIND)
            if alert["customer"]["id"] in (far["id"], new_id_)
        ]
        matched = sorted(alert["evidence"]["existing_code"] for alert in raised)
        # Each new record matches the colleague's; the second also matches the first.
        assert matched.count(original["code"]) == 2, raised
        assert len(matched) == 3, raised
