"""M3 at submission: an order claiming the personal channel for a customer the registry
holds as company channel is flagged and raises one SOURCE_CONFLICT alert on the submitter
(a rep cannot change the registered source, C4: claiming it on the order is the way to
ask for the 8 % rate). Who reads the alert, and which claims raise none.
"""

from __future__ import annotations

from typing import Any

from salesguard.errors import ErrorCode
from salesguard_api.common.v1 import common_pb2
from salesguard_api.customers.v1 import customers_pb2
from tests.harness import Suite, service_id, unique
from tests.integration.orders.support import Client, line, roles
from tests.org import register
from tests.support.orders_service import People, refused

PERSONAL = customers_pb2.SOURCE_CHANNEL_PERSONAL
WEBSITE = customers_pb2.SOURCE_CHANNEL_WEBSITE


async def registered(suite: Suite, people: People, source: str) -> str:
    return service_id((await register(suite, people.junior.id, source=source))["id"])


async def test_a_personal_claim_on_a_company_customer_raises_one_alert_on_the_submitter(
    suite: Suite, client: Client, people: People
) -> None:
    company = await registered(suite, people, "EXHIBITION")
    values: dict[str, Any] = {
        "customer_id": company,
        "currency": "CNY",
        "lines": [line("A", "1", "300")],
        "source_claim": PERSONAL,
        "idempotency_key": unique("relabel"),
    }
    order = await client.submit(people.junior, **values)
    assert list(order.flags) == ["SOURCE_CONFLICT"]
    assert (order.source_claim, order.registered_source) == (
        PERSONAL,
        customers_pb2.SOURCE_CHANNEL_EXHIBITION,
    )
    # Flagged, never refused: the manager's step names the flag.
    assert roles(order) == ["MANAGER"]
    assert "SOURCE_CONFLICT" in order.approval_steps[0].reason

    # The device retries with the same key: the same order, no second alert.
    assert await client.submit(people.junior, **values) == order

    for viewer in (people.manager, people.hr, people.finance):
        alerts = await client.list_alerts(viewer, order_id=order.id)
        assert [(a.kind, a.rule, a.severity) for a in alerts] == [
            ("SOURCE_CONFLICT", "M3", common_pb2.SEVERITY_MEDIUM)
        ], viewer
        [alert] = alerts
        assert (alert.employee_id, alert.customer_id, alert.order_id, alert.branch_id) == (
            people.junior.id,
            company,
            order.id,
            people.org.branch,
        )
        evidence = dict(alert.evidence)
        assert evidence["order_code"] == order.code
        assert (evidence["source_claim"], evidence["registered_source"]) == (
            "PERSONAL",
            "EXHIBITION",
        )
    # Not the submitter's own case, not a colleague's, not another branch's manager's.
    for outsider in (people.junior, people.junior_mate):
        await refused(client.list_alerts(outsider, order_id=order.id), ErrorCode.FORBIDDEN)
    assert await client.list_alerts(people.other_manager, order_id=order.id) == []


async def test_honest_claims_raise_nothing(suite: Suite, client: Client, people: People) -> None:
    personal = await registered(suite, people, "PERSONAL")
    company = await registered(suite, people, "WEBSITE")
    orders = [
        # The rep's own network, claimed as such, or by default.
        await client.one_line_order(people.junior, personal, "10", source_claim=PERSONAL),
        await client.one_line_order(people.junior, personal, "10"),
        # A company-channel customer, claimed as company channel or by default.
        await client.one_line_order(people.junior, company, "10", source_claim=WEBSITE),
        await client.one_line_order(people.junior, company, "10"),
        # A company claim on a personal customer asks for less, not more.
        await client.one_line_order(people.junior, personal, "10", source_claim=WEBSITE),
    ]
    for order in orders:
        assert list(order.flags) == [], order.code
        assert await client.list_alerts(people.hr, order_id=order.id) == [], order.code
