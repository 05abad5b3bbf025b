"""The customer pool (C11) and shared duplicate criteria (C12), through GraphQL.

The sweep acts on every customer of the database, so this module runs a suite of
its own (fresh PostgreSQL databases, the OPA server, S3). Time is driven by the
sweep's ``asOf``: customers registered now are "neglected" as of 31 days ahead.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from salesguard.jobs import JobStatus, run_job
from salesguard.principal import Principal, acting_as
from salesguard_customers.pool import move_to_pool
from salesguard_customers.server import service as customers_app
from tests.conftest import SuiteFactory
from tests.harness import Suite, employee_id, service_id, unique
from tests.org import Org, add_employee, make_org, new_phone, register, register_result

SWEEP = """
mutation($input: RunPoolSweepInput) { runPoolSweep(input: $input) { alerted pooled } }
"""
POOL = """
query($after: String) {
  customerPool(first: 100, after: $after) {
    totalCount
    edges { node { id code phone maskedFields pooledAt owner { id } } }
  }
}
"""
CLAIM = """
mutation($input: ClaimCustomerInput!) {
  claimCustomer(input: $input) { claimedAt customer { id phone maskedFields pooledAt owner { id } } }
}
"""
CUSTOMER = "query($id: ID!) { customer(id: $id) { id pooledAt owner { id } } }"
CUSTOMERS = "query { customers(first: 100) { edges { node { id } } } }"
ALERTS = """
query($filter: AlertFilter) {
  alerts(first: 50, filter: $filter) {
    edges { node { kind title message customer { id } employee { id } evidence } }
  }
}
"""
AUDIT = """
query($filter: AuditEventFilter) {
  auditEvents(first: 50, filter: $filter) {
    edges { node { action reason before after actor { id } } }
  }
}
"""
FOLLOW_UP = """
mutation($input: RecordFollowUpInput!) { recordFollowUp(input: $input) { followUp { id } } }
"""
REGISTER = """
mutation($input: RegisterCustomerInput!) {
  registerCustomer(input: $input) { customer { id owner { id } } warnings sharedCriteria }
}
"""
UPSERT_EMPLOYEE = """
mutation($input: UpsertEmployeeInput!) { upsertEmployee(input: $input) { employee { id } } }
"""

NEGLECT = timedelta(days=31)  # past the 30-day neglect setting
GRACE = timedelta(days=7)  # the pool_grace_days setting


@pytest.fixture(scope="module")
async def pool_suite(full_suite_factory: SuiteFactory) -> Suite:
    return await full_suite_factory()


async def sweep(suite: Suite, as_of: datetime) -> dict[str, Any]:
    """The sweep as of ``as_of``: the scheduled job, in-process (the API sweeps as of now)."""
    outcome = await run_job(
        suite.running["customers"].runtime, customers_app.job("customers.pool-sweep"), as_of=as_of
    )
    assert outcome.status is JobStatus.APPLIED, outcome
    return dict(outcome.summary)


async def pool_ids(suite: Suite, as_: str) -> dict[str, dict[str, Any]]:
    data = (await suite.gql(POOL, as_=as_)).ok()["customerPool"]
    return {edge["node"]["id"]: edge["node"] for edge in data["edges"]}


async def claim(suite: Suite, customer_id: str, as_: str, key: str | None = None) -> Any:
    return await suite.gql(
        CLAIM, {"input": {"customerId": customer_id, "idempotencyKey": key}}, as_=as_
    )


async def owned_ids(suite: Suite, as_: str) -> set[str]:
    data = (await suite.gql(CUSTOMERS, as_=as_)).ok()["customers"]
    return {edge["node"]["id"] for edge in data["edges"]}


async def neglect_and_pool(suite: Suite) -> datetime:
    """Sweep far enough ahead that every customer registered so far is pooled."""
    start = datetime.now(UTC)
    await sweep(suite, start + NEGLECT)
    await sweep(suite, start + NEGLECT + GRACE)
    return start + NEGLECT + GRACE


async def two_new_customers(
    suite: Suite,
) -> tuple[Org, dict[str, Any], dict[str, Any], datetime]:
    """A company whose junior has just registered two customers (the one to be neglected,
    then the one to be followed up), and the moment after."""
    org = await make_org(suite)
    neglected = await register(suite, org.junior)
    followed = await register(suite, org.junior)
    return org, neglected, followed, datetime.now(UTC)


async def swept_again_to_no_effect(suite: Suite, as_of: datetime, done: dict[str, Any]) -> None:
    """The sweep as of the same moment again: it counts what ``done`` counted, and alerts
    and pools nothing more."""
    assert await sweep(suite, as_of) == {**done, "alerted": 0, "pooled": 0}


async def follow_up(suite: Suite, as_: str, customer_id: str, kind: str) -> None:
    values = {"customerId": customer_id, "kind": kind}
    (await suite.gql(FOLLOW_UP, {"input": values}, as_=as_)).ok()


async def test_neglected_customer_is_alerted_pooled_and_claimed(pool_suite: Suite) -> None:
    suite = pool_suite
    org, neglected, followed, start = await two_new_customers(suite)

    first = await sweep(suite, start + NEGLECT)
    assert first["alerted"] >= 2
    # HR sees the alert on the owner and the customer, in English and Chinese.
    alerts = (
        await suite.gql(
            ALERTS,
            {"filter": {"kinds": ["CUSTOMER_NEGLECTED"], "customerId": neglected["id"]}},
            as_=org.hr,
        )
    ).ok()["alerts"]["edges"]
    assert len(alerts) == 1
    alert = alerts[0]["node"]
    assert alert["employee"]["id"] == employee_id(org.junior)
    assert alert["evidence"]["customer_code"] == neglected["code"]
    assert alert["evidence"]["days_silent"] >= 30
    assert neglected["code"] in alert["message"]
    # Re-running the same sweep changes nothing.
    await swept_again_to_no_effect(suite, start + NEGLECT, first)

    # A follow-up after the alert starts a new episode: that alert no longer pools it.
    await follow_up(suite, org.junior, followed["id"], "CALL")
    # Inside the grace period nothing moves.
    almost = await sweep(suite, start + NEGLECT + GRACE - timedelta(hours=1))
    assert almost["pooled"] == 0
    assert neglected["id"] in await owned_ids(suite, org.junior)

    returned = await sweep(suite, start + NEGLECT + GRACE)
    assert returned["pooled"] >= 1
    await swept_again_to_no_effect(suite, start + NEGLECT + GRACE, returned)
    # The scheduled job is the same sweep: as of the same moment it finds nothing to do.
    outcome = await run_job(
        suite.running["customers"].runtime,
        customers_app.job("customers.pool-sweep"),
        as_of=start + NEGLECT + GRACE,
    )
    assert outcome.summary == {"alerted": 0, "pooled": 0}

    # The neglected customer is nobody's now; the followed-up one stays with the junior.
    mine = await owned_ids(suite, org.junior)
    assert neglected["id"] not in mine
    assert followed["id"] in mine
    seen_by_manager = (await suite.gql(CUSTOMER, {"id": neglected["id"]}, as_=org.manager)).ok()
    assert seen_by_manager["customer"]["owner"] is None
    assert seen_by_manager["customer"]["pooledAt"] is not None
    pool_events = await audit(suite, org.manager, neglected["id"], "customer.pool")
    assert [
        (e["reason"], e["before"]["owners"][service_id(neglected["id"])]) for e in pool_events
    ] == [("neglected", org.junior)]

    # A teammate sees it in the branch pool, contact masked until claimed.
    in_pool = (await pool_ids(suite, org.junior_mate))[neglected["id"]]
    assert in_pool["owner"] is None
    assert in_pool["maskedFields"] == ["address", "email", "phone"]
    assert "****" in in_pool["phone"]
    assert followed["id"] not in await pool_ids(suite, org.junior_mate)

    # The previous owner may not take it back during the cooling-off period.
    again = await claim(suite, neglected["id"], org.junior)
    assert again.codes == ["FAILED_PRECONDITION"]
    assert "cooling-off" in again.errors[0]["message"]
    assert neglected["id"] not in await owned_ids(suite, org.junior)

    key = unique("claim")
    taken = (await claim(suite, neglected["id"], org.junior_mate, key)).ok()["claimCustomer"]
    assert taken["customer"]["owner"]["id"] == employee_id(org.junior_mate)
    assert taken["customer"]["maskedFields"] == []
    assert taken["customer"]["phone"] == neglected["phone"]
    assert taken["customer"]["pooledAt"] is None
    # A retry with the same key answers the same, and claims nothing twice.
    retried = (await claim(suite, neglected["id"], org.junior_mate, key)).ok()["claimCustomer"]
    assert retried["claimedAt"] == taken["claimedAt"]
    assert neglected["id"] not in await pool_ids(suite, org.junior_mate)
    assert neglected["id"] in await owned_ids(suite, org.junior_mate)
    claims = await audit(suite, org.manager, neglected["id"], "customer.claim")
    assert [(e["actor"]["id"], e["after"]["owner_id"]) for e in claims] == [
        (employee_id(org.junior_mate), org.junior_mate)
    ]
    # Gone from the pool: nobody else can claim it.
    assert (await claim(suite, neglected["id"], org.junior_b)).codes == ["NOT_FOUND"]


async def audit(suite: Suite, as_: str, customer_id: str, action: str) -> list[dict[str, Any]]:
    data = (
        await suite.gql(
            AUDIT, {"filter": {"customerId": customer_id, "actions": [action]}}, as_=as_
        )
    ).ok()
    return [edge["node"] for edge in data["auditEvents"]["edges"]]


async def test_of_racing_claims_exactly_one_wins(pool_suite: Suite) -> None:
    suite = pool_suite
    org = await make_org(suite)
    customers = [await register(suite, org.junior) for _ in range(3)]
    await neglect_and_pool(suite)
    claimants = (org.junior_mate, org.junior_b, org.senior)
    for customer in customers:
        results = await asyncio.gather(
            *(claim(suite, customer["id"], claimant) for claimant in claimants)
        )
        winners = [who for who, result in zip(claimants, results, strict=True) if not result.errors]
        assert len(winners) == 1, [result.body for result in results]
        # The losers learn it is gone: taken under them, or no longer in the pool.
        assert all(
            result.codes in (["CONFLICT"], ["NOT_FOUND"]) for result in results if result.errors
        )
        owner = (await suite.gql(CUSTOMER, {"id": customer["id"]}, as_=org.manager)).ok()
        assert owner["customer"]["owner"]["id"] == employee_id(winners[0])
        assert len(await audit(suite, org.manager, customer["id"], "customer.claim")) == 1


async def test_a_rep_at_the_holding_cap_cannot_claim(pool_suite: Suite) -> None:
    suite = pool_suite
    org = await make_org(suite)
    pooled = await register(suite, org.junior)
    await neglect_and_pool(suite)
    thresholds = await suite.running["customers"].runtime.policy.thresholds()
    cap = int(thresholds["customer_pool"]["holding_caps"]["SALES_JUNIOR"])
    for _ in range(cap):
        await register(suite, org.junior_b)
    refused = await claim(suite, pooled["id"], org.junior_b)
    assert refused.codes == ["FAILED_PRECONDITION"]
    assert f"at most {cap}" in refused.errors[0]["message"]
    assert pooled["id"] in await pool_ids(suite, org.junior_b)
    # Below the cap a teammate may.
    (await claim(suite, pooled["id"], org.junior_mate)).ok()


async def test_another_branch_neither_sees_nor_claims_the_pool(pool_suite: Suite) -> None:
    suite = pool_suite
    org = await make_org(suite)
    outsider = unique("rep-bj")
    await add_employee(suite, outsider, "外地销售", "SALES_JUNIOR", branch=org.other_branch)
    pooled = await register(suite, org.junior)
    await neglect_and_pool(suite)
    assert pooled["id"] in await pool_ids(suite, org.junior_b)
    assert pooled["id"] not in await pool_ids(suite, outsider)
    assert (await claim(suite, pooled["id"], outsider)).codes == ["NOT_FOUND"]
    assert (await suite.gql(CUSTOMER, {"id": pooled["id"]}, as_=outsider)).codes == ["NOT_FOUND"]
    # Nor does the pool show up as anybody's customers.
    for rep in (org.junior, org.junior_mate, org.senior, outsider):
        assert pooled["id"] not in await owned_ids(suite, rep)
    # Managers and HR do not claim: they hand customers out by reassignment.
    assert (await claim(suite, pooled["id"], org.manager)).codes == ["FORBIDDEN"]
    assert (await claim(suite, pooled["id"], org.hr)).codes == ["FORBIDDEN"]
    # Only HR, admins and the scheduler run the sweep.
    assert (
        await suite.gql(SWEEP, {"input": {"asOf": datetime.now(UTC).isoformat()}}, as_=org.junior)
    ).codes == ["FORBIDDEN"]
    assert pooled["id"] in await pool_ids(suite, org.junior_b)


async def register_phone(suite: Suite, as_: str, phone: str, **extra: Any) -> Any:
    return await register_result(suite, as_, phone=phone, **extra)


async def test_a_contact_detail_shared_by_many_stops_blocking_but_is_reported(
    pool_suite: Suite,
) -> None:
    suite = pool_suite
    org = await make_org(suite)
    switchboard = new_phone()
    first = await register(suite, org.junior, phone=switchboard)
    thresholds = await suite.running["customers"].runtime.policy.thresholds()
    reps_needed = int(thresholds["shared_contact"]["distinct_reps"])
    assert reps_needed == 3
    assert int(thresholds["shared_contact"]["distinct_branches"]) == 2
    # The owner retrying and one rep retrying count once each (the owner not at all).
    for rep in (org.junior, org.junior_mate, org.junior_mate, org.junior_b):
        assert (await register_phone(suite, rep, switchboard)).codes == ["DUPLICATE_CUSTOMER"]
    assert await shared_alerts(suite, org) == []
    # A third different rep of the same branch: one team cannot share a number (C12).
    assert (await register_phone(suite, org.senior, switchboard)).codes == ["DUPLICATE_CUSTOMER"]
    assert await shared_alerts(suite, org) == []
    # A rep of a second branch is refused too, and the number becomes a shared one.
    elsewhere = unique("rep-bj")
    await add_employee(suite, elsewhere, "钱多多", "SALES_JUNIOR", branch=org.other_branch)
    assert (await register_phone(suite, elsewhere, switchboard)).codes == ["DUPLICATE_CUSTOMER"]
    [alert] = await shared_alerts(suite, org)
    assert alert["customer"]["id"] == first["id"]
    assert alert["evidence"]["criterion"] == "phone"
    assert (alert["evidence"]["rep_count"], alert["evidence"]["branch_count"]) == (4, 2)
    assert "****" in alert["evidence"]["value"]

    # From now on the number blocks nobody, and the registration says so.
    values = {
        "name": unique("Front desk"),
        "company": "Acme Trading",
        "phone": switchboard,
        "source": "WEBSITE",
        "firstContactAt": datetime.now(UTC).isoformat(),
    }
    done = (await suite.gql(REGISTER, {"input": values}, as_=org.junior_mate)).ok()
    payload = done["registerCustomer"]
    assert payload["warnings"] == ["SHARED_CONTACT_DETAIL"]
    assert payload["sharedCriteria"] == ["PHONE"]
    assert payload["customer"]["owner"]["id"] == employee_id(org.junior_mate)
    # The other criteria still block: same shared phone, but an email already registered.
    email = f"{unique('buyer')}@example.com"
    await register(suite, org.junior, email=email)
    still = await register_phone(suite, org.junior_b, switchboard, email=email)
    assert still.codes == ["DUPLICATE_CUSTOMER"]
    # One alert per value, however many registrations follow.
    assert len(await shared_alerts(suite, org)) == 1


async def shared_alerts(suite: Suite, org: Org) -> list[dict[str, Any]]:
    data = (
        await suite.gql(ALERTS, {"filter": {"kinds": ["SHARED_CONTACT_DETAIL"]}}, as_=org.manager)
    ).ok()
    return [edge["node"] for edge in data["alerts"]["edges"]]


async def test_the_pool_works_on_the_embedded_profile(embedded_suite: Suite) -> None:
    """The same statements on SQLite (what `make run` starts), policies in-process."""
    suite = embedded_suite
    org, neglected, followed, start = await two_new_customers(suite)
    assert (await sweep(suite, start + NEGLECT))["alerted"] == 2
    await follow_up(suite, org.junior, followed["id"], "VISIT")
    returned = await sweep(suite, start + NEGLECT + GRACE)
    # The followed-up customer starts a new episode (alerted again), the other is pooled.
    assert (returned["alerted"], returned["pooled"]) == (1, 1)
    await swept_again_to_no_effect(suite, start + NEGLECT + GRACE, returned)
    assert set(await pool_ids(suite, org.junior_mate)) == {neglected["id"]}
    assert (await claim(suite, neglected["id"], org.junior)).codes == ["FAILED_PRECONDITION"]
    taken = (await claim(suite, neglected["id"], org.junior_mate)).ok()["claimCustomer"]
    assert taken["customer"]["owner"]["id"] == employee_id(org.junior_mate)


async def test_move_to_pool_moves_owned_customers_once_and_audits(pool_suite: Suite) -> None:
    """The departure handover's building block: set-based, in the caller's transaction."""
    suite = pool_suite
    org = await make_org(suite)
    kept, leaving = await register(suite, org.senior), await register(suite, org.junior)
    runtime = suite.running["customers"].runtime
    leaving_id = service_id(leaving["id"])  # the customers service's own ID
    with acting_as(Principal(org.hr, roles=("HR",))):
        async with runtime.db.transaction() as session:
            moved = await move_to_pool(
                session, [leaving_id, leaving_id, "no-such-customer"], reason="left"
            )
        async with runtime.db.transaction() as session:
            again = await move_to_pool(session, [leaving_id], reason="left")
    assert (moved, again) == ([leaving_id], [])
    assert set(await pool_ids(suite, org.junior_mate)) == {leaving["id"]}
    assert kept["id"] in await owned_ids(suite, org.senior)
    [event] = await audit(suite, org.hr, leaving["id"], "customer.pool")
    assert (event["reason"], event["actor"]["id"]) == ("left", employee_id(org.hr))
    assert event["before"]["owners"] == {leaving_id: org.junior}
