"""O6 blames the customer's owner now (issue 17's two false HIGH on honest reps): not a
leaver whose regular customer went to the pool and quiet, not a colleague whose shop
orders on another rep's second record (C3's SIMILAR_CUSTOMER); while a rep who keeps
visiting their own quiet regular is still caught. Over the services' gRPC APIs and the
gateway, on PostgreSQL and OPA.
"""

from __future__ import annotations

from datetime import timedelta

from salesguard.principal import Principal, acting_as
from salesguard_api.orders.v1 import orders_pb2 as pb
from tests.harness import Suite, service_id, unique
from tests.integration.reconciliation.support import (
    SITE,
    Client,
    People,
    customer,
    people_of,
    today,
)
from tests.integration.test_customer_lookups import east
from tests.integration.test_departure import UPSERT, leaving
from tests.org import make_org, register
from tests.support.orders_service import dec

KIND = "DIVERSION_RISK"
# A monthly rhythm for five months, then silence for 120 days (4 × the interval).
RHYTHM_DAYS_AGO = (240, 210, 180, 150, 120)


def service_id_of(registered: dict[str, object]) -> str:
    return service_id(str(registered["id"]))


async def order_by(
    client: Client, people: People, rep: Principal, customer_id: str, days_ago: int
) -> None:
    """An order of ``rep`` for ``customer_id`` dated ``days_ago``, approved by the manager."""
    with acting_as(rep):
        submitted = await client.orders.SubmitOrder(
            pb.SubmitOrderRequest(
                customer_id=customer_id,
                currency="CNY",
                lines=[pb.OrderLine(sku="SKU-1", quantity=dec("1"), unit_price=dec("5000.00"))],
                order_date=(today() - timedelta(days=days_ago)).isoformat(),
            )
        )
    with acting_as(people.manager):
        await client.orders.DecideOrder(
            pb.DecideOrderRequest(order_id=submitted.order.id, approve=True)
        )


async def test_a_leaver_is_not_blamed_for_a_regular_customer_gone_to_the_pool_and_quiet(
    suite: Suite, client: Client
) -> None:
    people = people_of(await make_org(suite))
    org = people.org
    mate = Principal(org.junior_mate, ("SALES_JUNIOR",), org.team_a, org.branch)
    # The junior's regular, and one of the teammate's, both silent for 120 days.
    leavers = await customer(suite, people, unique("Suzhou Valves"))
    kept = service_id_of(
        await register(
            suite,
            org.junior_mate,
            name=unique("Kunshan Pumps"),
            company=unique("Kunshan Pumps Trading"),
        )
    )
    for days in RHYTHM_DAYS_AGO:
        await client.approved_order(
            people, leavers, "5000.00", order_date=today() - timedelta(days=days)
        )
        await order_by(client, people, mate, kept, days)
    # Both kept visiting in their last days; then the junior leaves, the book to the pool.
    for days in (3, 2):
        await client.visit(people.junior, leavers, days_ago=days)
        await client.visit(mate, kept, days_ago=days)
    request = {"input": leaving(org, org.junior, team=org.team_a, toPool=True)}
    (await suite.gql(UPSERT, request, as_=org.admin)).ok()

    detected = await client.detect_diversion_risk(people.hr)
    assert detected.customers_checked >= 2
    # Nobody owns the pooled customer: no alert, on the leaver least of all.
    assert not await client.list_alerts(people.hr, KIND, customer_id=leavers)
    assert not await client.list_alerts(people.hr, KIND, employee_id=people.junior.id)
    # The teammate who still owns their quiet regular and keeps visiting is still caught.
    alerts = await client.list_alerts(people.hr, KIND, customer_id=kept)
    assert [alert.employee_id for alert in alerts] == [mate.id]
    evidence = dict(alerts[0].evidence)
    assert evidence["owner_id"] == evidence["last_order_owner_id"] == mate.id
    assert evidence["visits_since_last_order"] == 2
    assert evidence["days_silent"] == 120


async def test_the_colleague_whose_shop_orders_on_a_second_record_is_not_blamed(
    suite: Suite, client: Client
) -> None:
    people = people_of(await make_org(suite))
    org = people.org
    schemer = Principal(org.junior_b, ("SALES_JUNIOR",), org.team_b, org.branch)
    company = unique("Ningbo Haitian Trading")
    shop = service_id_of(
        await register(
            suite,
            org.junior,
            name=unique("Shop buyer"),
            company=f"{company} Co., Ltd.",
            location={"lat": SITE[0], "lng": SITE[1]},
        )
    )
    for days in RHYTHM_DAYS_AGO:
        await client.approved_order(
            people, shop, "5000.00", order_date=today() - timedelta(days=days)
        )
    # A colleague registers the shop again, 30 m away, and its orders go there since.
    point = east(*SITE, 30)
    second = await register(
        suite,
        org.junior_b,
        name=unique("Another buyer"),
        company=company.upper(),
        location={"lat": point[0], "lng": point[1]},
    )
    for days in (90, 60, 30):
        await order_by(client, people, schemer, service_id_of(second), days)
    # The shop's owner goes on visiting it.
    for days in (2, 1):
        await client.visit(people.junior, shop, days_ago=days)

    await client.detect_diversion_risk(people.hr)
    # Not on the owner who visits a shop that never went quiet ...
    assert not await client.list_alerts(people.hr, KIND, employee_id=people.junior.id)
    raised = await client.list_alerts(people.hr, KIND, branch_id=org.branch)
    # ... but on the owner of the record its orders went to, naming that record.
    assert len(raised) == 1
    alert = raised[0]
    assert (alert.employee_id, alert.customer_id) == (schemer.id, service_id_of(second))
    assert not alert.order_id  # M2 holds the moved orders' commission, not the shop's
    evidence = dict(alert.evidence)
    assert evidence["quiet_customer_id"] == shop
    assert evidence["orders_moved_to_code"] == second["code"]
    assert evidence["orders_moved_to_owner_id"] == schemer.id
    assert evidence["owner_id"] == people.junior.id
    assert evidence["orders_moved_to_last_order_date"] == (today() - timedelta(days=30)).isoformat()
    assert 25 <= float(str(evidence["similar_distance_m"])) <= 35

    again = await client.detect_diversion_risk(people.hr)
    assert again.alerts_raised == 0
