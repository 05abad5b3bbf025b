"""PAYER_MISMATCH (O5) once per customer and payer: a parent company paying every invoice of
its subsidiary is one question for a manager, not one per payment (issue 17's simulation
measured what one alert per payment did to the risk ranking)."""

from __future__ import annotations

from datetime import timedelta

from salesguard_api.common.v1 import common_pb2
from tests.harness import Suite, unique
from tests.integration.reconciliation.support import (
    Client,
    ago,
    customer,
    people_of,
    row,
    today,
)
from tests.org import make_org


async def test_a_payer_other_than_the_customer_is_raised_once_per_customer_and_payer(
    suite: Suite, client: Client
) -> None:
    people = people_of(await make_org(suite))
    name, sister = unique("Ningbo Haitian"), unique("Ningbo Haixing")
    parent = unique("Haitian Holdings")
    subsidiary = await customer(suite, people, name)
    other = await customer(suite, people, sister)
    recent = today() - timedelta(days=20)
    first, second, third, fourth = [
        await client.approved_order(people, subsidiary, total, order_date=recent)
        for total in ("100.00", "200.00", "300.00", "400.00")
    ]
    sisters = await client.approved_order(people, other, "500.00", order_date=recent)
    await client.import_statement(
        suite,
        people.finance,
        [
            # The statement lists a later payment first: the earliest is still the evidence.
            row(unique("BR"), ago(8), "200.00", f" {parent.upper()} ", f"Invoice {second.code}"),
            row(unique("BR"), ago(9), "100.00", parent, f"Invoice {first.code}"),
            row(unique("BR"), ago(7), "300.00", "Someone Else Ltd", f"for {third.code}"),
            row(unique("BR"), ago(6), "500.00", parent, f"Invoice {sisters.code}"),
        ],
    )

    def payers(alerts: list[common_pb2.Alert]) -> list[str]:
        return sorted(str(alert.evidence["payer_name"]).strip().upper() for alert in alerts)

    raised = await client.list_alerts(people.hr, "PAYER_MISMATCH", customer_id=subsidiary)
    # The parent twice (its name written two ways) and another payer: two alerts.
    assert payers(raised) == sorted([parent.upper(), "SOMEONE ELSE LTD"])
    (parents,) = [a for a in raised if str(a.evidence["payer_name"]).strip() == parent]
    assert parents.evidence["order_code"] == first.code
    # The parent paying another customer is that customer's question.
    assert len(await client.list_alerts(people.hr, "PAYER_MISMATCH", customer_id=other)) == 1
    # A later statement: the parent again raises nothing new, and a run neither. (A first
    # run takes whatever the shared suite's other tests left to raise.)
    await client.run(people.finance)
    await client.import_statement(
        suite,
        people.finance,
        [row(unique("BR"), ago(2), "400.00", parent, f"Invoice {fourth.code}")],
    )
    assert (await client.run(people.finance)).alerts_raised == 0
    again = await client.list_alerts(people.hr, "PAYER_MISMATCH", customer_id=subsidiary)
    assert sorted(alert.id for alert in again) == sorted(alert.id for alert in raised)
