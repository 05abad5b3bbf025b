"""The attack suite's concurrency part: registrations (C3), export requests (C9), the pool (C11),
reassignment (C6) and the directory, raced by 20 clients through the gateway, on both
profiles.

``racing`` is the full profile (PostgreSQL, OPA, S3: the shared ``suite``) and the embedded
one (SQLite, regopy, local objects: one suite for this module). Each test starts its own
company, fires 20 requests at once with ``asyncio.gather`` and then checks what the
database says: one winner, typed refusals for the rest, and an audit chain that verifies.
"""

from __future__ import annotations

import asyncio
from typing import Any

from tests.adversarial.concurrency.support import (
    CLAIM,
    CLIENTS,
    CUSTOMER,
    CUSTOMERS,
    DECIDE_EXPORT,
    EMPLOYEES,
    EXPORT_REQUEST,
    REASSIGN,
    REGISTER,
    RUN_EXPORT,
    UPDATE_CUSTOMER,
    audit_events,
    chain_intact,
    leaver_to_be,
    race,
    refusals,
    registration,
    seed_customers,
    winners,
)
from tests.harness import GraphQLResult, Suite, employee_id, global_id, service_id, unique
from tests.org import (
    UPSERT_BRANCH,
    UPSERT_EMPLOYEE,
    UPSERT_TEAM,
    Org,
    new_phone,
    register,
)
from tests.support.exports import request_export

# -- registrations (C3) --------------------------------------------------------------------


async def one_customer_won(
    racing: Suite, org: Org, results: list[GraphQLResult], searched: str
) -> None:
    """One of the raced writes won, the others were refused as duplicates, and a search for
    ``searched`` finds the one customer."""
    assert len(winners(results)) == 1, refusals(results)
    assert refusals(results) == {"DUPLICATE_CUSTOMER": CLIENTS - 1}
    found = await racing.gql(CUSTOMERS, {"filter": {"text": searched}}, as_=org.manager)
    assert found.ok()["customers"]["totalCount"] == 1


async def test_one_phone_in_four_formats_by_two_reps_is_one_customer(
    racing: Suite, org: Org
) -> None:
    # Rounds, because one race may happen to run in order; the bug showed in most rounds.
    for _ in range(3):
        digits = new_phone().replace(" ", "").removeprefix("+86")
        formats = [
            f"+86 {digits[:3]} {digits[3:7]} {digits[7:]}",
            digits,
            f"+86{digits}",
            f"0086-{digits[:3]}-{digits[3:7]}-{digits[7:]}",
        ]
        results = await race(
            [
                racing.gql(
                    REGISTER,
                    {"input": registration(phone=formats[n % 4])},
                    as_=(org.junior, org.junior_b)[n % 2],
                )
                for n in range(CLIENTS)
            ]
        )
        await one_customer_won(racing, org, results, digits)
    await chain_intact(racing, org)


async def test_email_case_variants_and_name_company_race_to_one_customer(
    racing: Suite, org: Org
) -> None:
    name, company = unique("Zhang Wei"), unique("Acme")
    email = f"{unique('buyer')}@example.com"
    emails = [email, email.upper(), email.title(), f"  {email.capitalize()} "]
    # Two reps: refusals of three would mark the value shared (C12) and let registrations in.
    reps = (org.junior, org.junior_b)
    by_email = [registration(email=emails[n % 4], phone=None) for n in range(CLIENTS)]
    by_name = [
        registration(name=(name, name.upper())[n % 2], company=(company, company.lower())[n % 2])
        for n in range(CLIENTS)
    ]
    results = await race(
        [
            racing.gql(REGISTER, {"input": values}, as_=reps[n % 2])
            for n, values in enumerate([*by_email, *by_name])
        ]
    )
    for searched, raced in ((email, results[:CLIENTS]), (name, results[CLIENTS:])):
        await one_customer_won(racing, org, raced, searched)
    await chain_intact(racing, org)


async def test_customers_updated_to_one_phone_at_once_keep_it_unique(
    racing: Suite, org: Org
) -> None:
    customers = await asyncio.gather(*(register(racing, org.junior) for _ in range(CLIENTS)))
    phone = new_phone()
    results = await race(
        [
            racing.gql(
                UPDATE_CUSTOMER, {"input": {"id": customer["id"], "phone": phone}}, as_=org.junior
            )
            for customer in customers
        ]
    )
    await one_customer_won(racing, org, results, phone.replace(" ", "").removeprefix("+86"))
    await chain_intact(racing, org)


# -- export requests (C9) -------------------------------------------------------------------


async def test_export_decisions_raced_one_decision_wins(racing: Suite, org: Org) -> None:
    customer = await register(racing, org.junior)
    request = await request_export(racing, org.manager, [customer["id"]], "quarterly review")
    results = await race(
        [
            racing.gql(
                DECIDE_EXPORT,
                {"input": {"id": request["id"], "approve": n % 2 == 0, "comment": f"#{n}"}},
                as_=org.manager_2,
            )
            for n in range(CLIENTS)
        ]
    )
    (won,) = winners(results)
    assert refusals(results) == {"FAILED_PRECONDITION": CLIENTS - 1}
    status = won.data["decideExportRequest"]["exportRequest"]["status"]
    stored = (await racing.gql(EXPORT_REQUEST, {"id": request["id"]}, as_=org.manager)).ok()
    assert stored["exportRequest"]["status"] == status
    decisions = [
        *await audit_events(racing, org, customer["id"], "customer.export.approve"),
        *await audit_events(racing, org, customer["id"], "customer.export.reject"),
    ]
    assert len(decisions) == 1
    await chain_intact(racing, org)


async def test_an_approved_export_runs_once_however_many_run_it(racing: Suite, org: Org) -> None:
    customer = await register(racing, org.junior)
    request = await request_export(racing, org.manager, [customer["id"]], "audit")
    (
        await racing.gql(
            DECIDE_EXPORT, {"input": {"id": request["id"], "approve": True}}, as_=org.manager_2
        )
    ).ok()
    results = await race(
        [racing.gql(RUN_EXPORT, {"id": request["id"]}, as_=org.manager) for _ in range(CLIENTS)]
    )
    (won,) = winners(results)
    assert refusals(results) == {"FAILED_PRECONDITION": CLIENTS - 1}
    stored = (await racing.gql(EXPORT_REQUEST, {"id": request["id"]}, as_=org.manager)).ok()
    assert stored["exportRequest"]["status"] == "COMPLETED"
    assert (
        stored["exportRequest"]["sha256"]
        == won.data["runCustomerExport"]["exportRequest"]["sha256"]
    )
    assert len(await audit_events(racing, org, customer["id"], "customer.export")) == 1
    await chain_intact(racing, org)


# -- the pool (C11) and reassignment (C6) --------------------------------------------------------


async def test_one_pooled_customer_claimed_by_many_reps_has_one_owner(
    racing: Suite, org: Org
) -> None:
    (customer_id,) = await seed_customers(racing, org, 1, owner=None)
    reps = (org.junior, org.junior_mate, org.senior, org.junior_b)
    results = await race(
        [
            racing.gql(CLAIM, {"input": {"customerId": customer_id}}, as_=reps[n % 4])
            for n in range(CLIENTS)
        ]
    )
    (won,) = winners(results)
    assert set(refusals(results)) <= {"CONFLICT", "NOT_FOUND", "FAILED_PRECONDITION"}
    owner = won.data["claimCustomer"]["customer"]["owner"]["id"]
    stored = (await racing.gql(CUSTOMER, {"id": customer_id}, as_=org.manager)).ok()
    assert stored["customer"]["owner"] == {"id": owner}
    assert stored["customer"]["pooledAt"] is None
    assert len(await audit_events(racing, org, customer_id, "customer.claim")) == 1
    await chain_intact(racing, org)


async def test_claims_raced_at_the_holding_cap_stop_at_the_cap(racing: Suite, org: Org) -> None:
    cap = 50  # policy data: customer_pool.holding_caps.SALES_JUNIOR
    await seed_customers(racing, org, cap - 1, owner=org.junior)
    pooled = await seed_customers(racing, org, CLIENTS, owner=None)
    results = await race(
        [racing.gql(CLAIM, {"input": {"customerId": c}}, as_=org.junior) for c in pooled]
    )
    assert len(winners(results)) == 1, refusals(results)
    assert refusals(results) == {"FAILED_PRECONDITION": CLIENTS - 1}
    held = await racing.gql(
        CUSTOMERS, {"filter": {"ownerId": employee_id(org.junior)}}, as_=org.manager
    )
    assert held.ok()["customers"]["totalCount"] == cap


async def test_reassignments_raced_apply_one_after_another(racing: Suite, org: Org) -> None:
    customer = await register(racing, org.junior)
    reps = (org.junior, org.junior_mate, org.senior, org.junior_b)
    results = await race(
        [
            racing.gql(
                REASSIGN,
                {
                    "input": {
                        "customerIds": [customer["id"]],
                        "newOwnerId": employee_id(reps[(n + 1) % 4]),
                        "reason": f"round {n}",
                    }
                },
                as_=org.manager,
            )
            for n in range(CLIENTS)
        ]
    )
    assert len(winners(results)) == CLIENTS, refusals(results)
    events = await audit_events(racing, org, customer["id"], "customer.reassign")
    assert len(events) == CLIENTS
    # Serialised: each reassignment saw the owner the one before it left (the audit trail
    # keeps the services' IDs).
    owners = [org.junior, *(event["after"]["owner_id"] for event in events)]
    assert [event["before"]["owners"][service_id(customer["id"])] for event in events] == owners[
        :-1
    ]
    stored = (await racing.gql(CUSTOMER, {"id": customer["id"]}, as_=org.manager)).ok()
    assert stored["customer"]["owner"] == {"id": employee_id(owners[-1])}
    await chain_intact(racing, org)


async def test_a_leaver_never_owns_a_customer_registered_during_the_departure(
    racing: Suite, org: Org
) -> None:
    leaver, departure = await leaver_to_be(racing, org)
    await register(racing, leaver)
    # A manager registering for them, and the leaver for themselves.
    calls = [
        racing.gql(
            REGISTER,
            {"input": registration(ownerId=employee_id(leaver))},
            as_=(org.manager, leaver)[n % 2],
        )
        for n in range(CLIENTS - 1)
    ]
    calls.insert(
        CLIENTS // 2,
        racing.gql(
            UPSERT_EMPLOYEE,
            {"input": departure},
            as_="admin",
        ),
    )
    results = await race(calls)
    assert not results[CLIENTS // 2].errors, results[CLIENTS // 2].body
    assert set(refusals(results)) <= {"VALIDATION", "FORBIDDEN", "UNAUTHENTICATED"}
    owned = await racing.gql(
        CUSTOMERS, {"filter": {"ownerId": employee_id(leaver)}}, as_=org.manager
    )
    assert owned.ok()["customers"]["totalCount"] == 0
    await chain_intact(racing, org)


async def test_one_new_branch_team_and_employee_upserted_by_many_admins_is_one_row(
    racing: Suite, org: Org
) -> None:
    branch, team, person = unique("branch"), unique("team"), unique("person")

    async def upserted_by_all(mutation: str, values: dict[str, Any]) -> None:
        """Every client upserts ``values`` at once, each under its own name; none fails."""
        results = await race(
            [
                racing.gql(mutation, {"input": {**values, "name": f"#{n}"}}, as_="admin")
                for n in range(CLIENTS)
            ]
        )
        assert not [result.body for result in results if result.errors]

    await upserted_by_all(UPSERT_BRANCH, {"hrId": branch, "timeZone": "Asia/Shanghai"})
    await upserted_by_all(UPSERT_TEAM, {"hrId": team, "branchId": global_id("Branch", branch)})
    await upserted_by_all(
        UPSERT_EMPLOYEE,
        {
            "hrId": person,
            "roles": ["SALES_JUNIOR"],
            "teamId": global_id("Team", team),
            "branchId": global_id("Branch", branch),
        },
    )
    found = await racing.gql(
        EMPLOYEES, {"filter": {"branchId": global_id("Branch", branch)}}, as_=org.hr
    )
    assert [edge["node"]["id"] for edge in found.ok()["employees"]["edges"]] == [
        employee_id(person)
    ]
