"""The customer pool, handovers and timelines under attack, from the wrong seat.

A security review of the customer pool, the departure handover, timelines and risk: what
a rep, another branch's manager or HR must not see or do through GraphQL, and the typed
errors bad input gets. The paths already covered elsewhere (test_timeline,
test_customer_pool, test_departure, test_risk) are not repeated here.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import SuiteFactory
from tests.harness import Suite, employee_id, global_id
from tests.org import (
    UPSERT_EMPLOYEE,
    Org,
    add_employee,
    admin,
    make_org,
    register,
    register_result,
)
from tests.support.alerts import UPDATE_ALERT, stored_alert

# -- the customer pool --------------------------------------------------------------------

POOL = """
query {
  customerPool(first: 100) {
    edges { node { id phone email address maskedFields owner { id } team { id }
                   followUps(first: 10) { edges { node { note } } } } }
  }
}
"""
CUSTOMER = "query($id: ID!) { customer(id: $id) { id phone } }"
FOLLOW_UP = """
mutation($input: RecordFollowUpInput!) { recordFollowUp(input: $input) { followUp { id } } }
"""
CLAIM = """
mutation($input: ClaimCustomerInput!) {
  claimCustomer(input: $input) { claimedAt customer { id owner { id } } }
}
"""
AUDIT = """
query($filter: AuditEventFilter) {
  auditEvents(first: 50, filter: $filter) { edges { node { action actor { id } } } }
}
"""


async def pooled_by_departure(suite: Suite, org: Org, count: int) -> list[dict[str, Any]]:
    """``count`` customers of a rep of team A (with a follow-up noting the phone) who left to
    the branch pool: the pool filled through GraphQL without a company-wide sweep."""
    leaver = f"{org.junior}-leaver"
    rep = await add_employee(
        suite, leaver, "离职销售", "SALES_JUNIOR", branch=org.branch, team=org.team_a
    )
    customers = [
        await register(suite, leaver, email=f"{leaver}-{i}@example.com") for i in range(count)
    ]
    for customer in customers:
        note = {"customerId": customer["id"], "kind": "CALL", "note": f"call {customer['phone']}"}
        (await suite.gql(FOLLOW_UP, {"input": note}, as_=leaver)).ok()
    await suite.gql(
        UPSERT_EMPLOYEE,
        {"input": {**rep, "status": "LEFT", "toPool": True}},
        as_=org.hr,
    )
    return customers


def pool_nodes_of(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {edge["node"]["id"]: edge["node"] for edge in data["customerPool"]["edges"]}


async def pool_nodes(suite: Suite, as_: str) -> dict[str, dict[str, Any]]:
    return pool_nodes_of((await suite.gql(POOL, as_=as_)).ok())


async def test_a_pooled_customer_shows_no_contact_and_no_notes_before_a_claim(
    suite: Suite,
) -> None:
    org = await make_org(suite)
    (customer,) = await pooled_by_departure(suite, org, 1)
    secrets = (customer["phone"], customer["email"], customer["address"])
    for rep in (org.junior_mate, org.senior, org.junior_b):
        result = await suite.gql(POOL, as_=rep)
        node = pool_nodes_of(result.ok())[customer["id"]]
        assert node["maskedFields"] == ["address", "email", "phone"], rep
        assert (node["owner"], node["team"]) == (None, None), rep
        # The previous owner's notes (free text, here with the phone) are not the pool's.
        assert node["followUps"]["edges"] == [], rep
        assert not any(secret in str(result.body) for secret in secrets), rep
        # Nor is it reachable as a customer of theirs.
        assert (await suite.gql(CUSTOMER, {"id": customer["id"]}, as_=rep)).codes == [
            "NOT_FOUND"
        ], rep
    # HR investigates: the notes, but the contact fields masked as everywhere for HR.
    seen_by_hr = (await pool_nodes(suite, org.hr))[customer["id"]]
    assert seen_by_hr["maskedFields"] == ["address", "email", "phone"]
    assert customer["phone"] not in str(seen_by_hr["phone"])
    # Finance has no business in the pool; another branch's manager does not see this one.
    assert (await suite.gql(POOL, as_=org.finance)).codes == ["FORBIDDEN"]
    assert customer["id"] not in await pool_nodes(suite, org.other_manager)

    # The branch manager reads it unmasked, and that read is on the audit trail (C7).
    seen = (await pool_nodes(suite, org.manager))[customer["id"]]
    assert (seen["phone"], seen["maskedFields"]) == (customer["phone"], [])
    reads = await suite.gql(
        AUDIT,
        {"filter": {"customerId": customer["id"], "actions": ["customer.contact.read"]}},
        as_=org.hr,
    )
    readers = {edge["node"]["actor"]["id"] for edge in reads.ok()["auditEvents"]["edges"]}
    assert employee_id(org.manager) in readers
    assert not readers & {
        employee_id(e) for e in (org.junior_mate, org.senior, org.junior_b, org.hr)
    }


async def test_a_claim_key_cannot_be_replayed_for_another_customer(suite: Suite) -> None:
    org = await make_org(suite)
    first, second = await pooled_by_departure(suite, org, 2)
    key = "claim-once"
    claimed = await suite.gql(
        CLAIM, {"input": {"customerId": first["id"], "idempotencyKey": key}}, as_=org.junior_mate
    )
    assert claimed.ok()["claimCustomer"]["customer"]["owner"] == {
        "id": employee_id(org.junior_mate)
    }
    replayed = await suite.gql(
        CLAIM, {"input": {"customerId": second["id"], "idempotencyKey": key}}, as_=org.junior_mate
    )
    assert replayed.codes == ["IDEMPOTENCY_KEY_REUSED"], replayed.body
    assert second["id"] in await pool_nodes(suite, org.junior_b)
    # The same key is another rep's own: it claims for them, once.
    theirs = await suite.gql(
        CLAIM, {"input": {"customerId": second["id"], "idempotencyKey": key}}, as_=org.junior_b
    )
    assert theirs.ok()["claimCustomer"]["customer"]["owner"] == {"id": employee_id(org.junior_b)}
    claims = await suite.gql(
        AUDIT,
        {"filter": {"customerId": second["id"], "actions": ["customer.claim"]}},
        as_=org.hr,
    )
    assert [e["node"]["actor"]["id"] for e in claims.ok()["auditEvents"]["edges"]] == [
        employee_id(org.junior_b)
    ]


# -- bad input ------------------------------------------------------------------------------

ALERT_IDS = "query($filter: AlertFilter) { alerts(first: 5, filter: $filter) { totalCount } }"
POOL_PAGE = "query($first: Int, $after: String) { customerPool(first: $first, after: $after) { totalCount } }"
RISK_RANKING = (
    "query($branch: ID, $first: Int) { riskRanking(branchId: $branch, first: $first) { score } }"
)
RISK = "query($id: ID!) { employeeRisk(employeeId: $id) { score } }"


async def test_bad_alert_pool_and_risk_input_is_a_typed_validation_error(suite: Suite) -> None:
    org = await make_org(suite)
    too_long = "x" * 100
    # A note is judged once the caller may decide the alert (authorise, then validate).
    decidable = await stored_alert(
        suite, "orders", "FAKE_DEAL_SUSPECTED", employee_id=org.junior, branch_id=org.branch
    )
    cases: list[tuple[str, str, dict[str, Any], str]] = [
        (
            ALERT_IDS,
            org.hr,
            {"filter": {"employeeId": employee_id(too_long)}},
            "filter.employee_id",
        ),
        (
            ALERT_IDS,
            org.hr,
            {"filter": {"customerId": global_id("Customer", too_long)}},
            "filter.customer_id",
        ),
        (
            ALERT_IDS,
            org.hr,
            {"filter": {"orderId": global_id("Order", too_long)}},
            "filter.order_id",
        ),
        (ALERT_IDS, org.hr, {"filter": {"kinds": ["K" * 5000]}}, "filter.kinds"),
        (ALERT_IDS, org.hr, {"filter": {"kinds": ["PAYER_MISMATCH"] * 500}}, "filter.kinds"),
        (POOL_PAGE, org.junior, {"first": 0}, "first"),
        (POOL_PAGE, org.junior, {"first": 1000}, "first"),
        # Fields the services check carry the services' names, as on every connection.
        (POOL_PAGE, org.junior, {"first": 10, "after": "not-a-cursor"}, "page.page_token"),
        # A value that is not an ID at all is refused at the edge, named as the client sent it.
        (CLAIM, org.junior, {"input": {"customerId": ""}}, "customerId"),
        (
            CLAIM,
            org.junior,
            {"input": {"customerId": global_id("Customer", too_long)}},
            "customer_id",
        ),
        (RISK_RANKING, org.hr, {"branch": global_id("Branch", too_long)}, "branch_id"),
        (RISK_RANKING, org.hr, {"branch": global_id("Branch", org.branch), "first": 0}, "first"),
        (RISK, org.hr, {"id": employee_id(too_long)}, "employeeId"),
        (UPDATE_ALERT, org.hr, {"input": {"id": "", "status": "DISMISSED"}}, "id"),
        (
            UPDATE_ALERT,
            org.hr,
            {"input": {"id": global_id("Alert", "a1"), "status": "DISMISSED", "source": "bogus"}},
            "source",
        ),
        (
            UPDATE_ALERT,
            org.hr,
            {
                "input": {
                    "id": global_id("Alert", decidable),
                    "status": "DISMISSED",
                    "note": "n" * 5000,
                }
            },
            "note",
        ),
    ]
    for query, caller, variables, field in cases:
        result = await suite.gql(query, variables, as_=caller)
        assert result.codes == ["VALIDATION"], (variables, result.body)
        assert result.errors[0]["extensions"].get("field") == field, (variables, result.errors)


SWEEP = """
mutation($input: RunPoolSweepInput) { runPoolSweep(input: $input) { alerted pooled } }
"""


@pytest.fixture
async def sweep_suite(full_suite_factory: SuiteFactory) -> Suite:
    """A suite of its own: were the check gone, a sweep a month ahead would pool the
    customers of every other test."""
    return await full_suite_factory()


async def test_hr_cannot_move_the_sweep_s_clock(sweep_suite: Suite) -> None:
    """C11 promises a rep the neglect period and then a grace period: a sweep "as of" a
    moment of HR's choosing would skip both (a month ahead pools every customer of the
    company; a week back pools at once what was alerted today). The API sweeps as of now;
    only the job runner takes another moment (tests drive time there)."""
    suite = sweep_suite
    org = await make_org(suite)
    now = datetime.now(UTC)
    for moment in (now + timedelta(days=31), now - timedelta(days=8)):
        refused = await suite.gql(SWEEP, {"input": {"asOf": moment.isoformat()}}, as_=org.hr)
        assert refused.codes == ["VALIDATION"], refused.body
        assert refused.errors[0]["extensions"]["field"] == "as_of"
    # As of now (give or take a client's clock) it runs: nothing here is a month old.
    swept = await suite.gql(SWEEP, {"input": {"asOf": now.isoformat()}}, as_=org.hr)
    assert swept.ok()["runPoolSweep"] == {"alerted": 0, "pooled": 0}


# -- the departure handover -----------------------------------------------------------------

OWNER = "query($id: ID!) { customer(id: $id) { id owner { id } } }"
REASSIGN = """
mutation($input: ReassignCustomersInput!) {
  reassignCustomers(input: $input) { customers { id owner { id } } }
}
"""


async def test_nobody_hands_customers_to_someone_who_just_left(suite: Suite) -> None:
    """C6: once an employee has left, no path gives them a customer again — not a manager's
    reassignment nor a registration in their name right after the handover."""
    org = await make_org(suite)
    leaver = f"{org.junior}-leaver"
    rep = await add_employee(
        suite, leaver, "离职销售", "SALES_JUNIOR", branch=org.branch, team=org.team_a
    )
    theirs = await register(suite, leaver)
    left = await suite.gql(
        UPSERT_EMPLOYEE,
        {
            "input": {
                **rep,
                "status": "LEFT",
                "successorId": employee_id(org.junior_mate),
            }
        },
        as_=org.hr,
    )
    left.ok()
    someone_elses = await register(suite, org.junior)
    given_back = await suite.gql(
        REASSIGN,
        {
            "input": {
                "customerIds": [someone_elses["id"], theirs["id"]],
                "newOwnerId": employee_id(leaver),
                "reason": "back to the old owner",
            }
        },
        as_=org.manager,
    )
    assert given_back.codes == ["VALIDATION"], given_back.body
    registered = await register_result(suite, org.manager, ownerId=employee_id(leaver))
    assert registered.codes == ["VALIDATION"], registered.body
    # Both customers stay where they were.
    owners = {}
    for customer_id in (someone_elses["id"], theirs["id"]):
        found = await suite.gql(OWNER, {"id": customer_id}, as_=org.manager)
        owners[customer_id] = found.ok()["customer"]["owner"]["id"]
    assert owners == {
        someone_elses["id"]: employee_id(org.junior),
        theirs["id"]: employee_id(org.junior_mate),
    }


# -- timelines ------------------------------------------------------------------------------

TIMELINE = """
query($id: ID!, $from: DateTime!, $to: DateTime!, $kinds: [TimelineKind!]) {
  employeeTimeline(employeeId: $id, from: $from, to: $to, first: 50, kinds: $kinds) {
    totalCount
  }
}
"""


async def test_finance_and_administrators_read_no_timeline(suite: Suite) -> None:
    """Timelines are HR's and managers' (timeline.read); finance reads payments and alerts
    in their own views, an administrator runs the directory: neither follows a person."""
    org = await make_org(suite)
    now = datetime.now(UTC)
    window = {"from": (now - timedelta(days=1)).isoformat(), "to": now.isoformat()}
    for caller in (org.finance, org.admin):
        for kinds in (None, ["CHECK_IN"], ["PAYMENT"], ["AUDIT_EVENT"]):
            refused = await suite.gql(
                TIMELINE, {"id": employee_id(org.junior), **window, "kinds": kinds}, as_=caller
            )
            assert refused.codes == ["FORBIDDEN"], (caller, kinds, refused.body)
            assert refused.data.get("employeeTimeline") is None


async def test_two_departures_raced_with_different_successors_move_each_customer_once(
    suite: Suite,
) -> None:
    """HR and an administrator set the same rep LEFT at once, naming different successors:
    every customer ends with one of them (never split, never moved twice), one audit
    entry per customer."""
    org = await make_org(suite)
    leaver = f"{org.junior}-racer"
    rep = {
        "hrId": leaver,
        "name": "离职销售",
        "roles": ["SALES_JUNIOR"],
        "teamId": global_id("Team", org.team_a),
        "branchId": global_id("Branch", org.branch),
    }
    await admin(suite, UPSERT_EMPLOYEE, {**rep, "status": "ACTIVE"})
    customers = [await register(suite, leaver) for _ in range(3)]
    leaving = {**rep, "status": "LEFT"}
    results = await asyncio.gather(
        suite.gql(
            UPSERT_EMPLOYEE,
            {"input": {**leaving, "successorId": employee_id(org.junior_mate)}},
            as_=org.hr,
        ),
        suite.gql(
            UPSERT_EMPLOYEE,
            {"input": {**leaving, "successorId": employee_id(org.senior)}},
            as_="admin",
        ),
    )
    for result in results:
        result.ok()
    owners = set()
    for customer in customers:
        found = await suite.gql(OWNER, {"id": customer["id"]}, as_=org.manager)
        owners.add(found.ok()["customer"]["owner"]["id"])
    assert len(owners) == 1 and owners <= {employee_id(org.junior_mate), employee_id(org.senior)}, (
        owners
    )
    for customer in customers:
        moves = await suite.gql(
            AUDIT,
            {"filter": {"customerId": customer["id"], "actions": ["customer.reassign"]}},
            as_=org.hr,
        )
        assert len(moves.ok()["auditEvents"]["edges"]) == 1


async def test_a_claim_retried_after_the_customer_moved_on_shows_no_stale_customer(
    suite: Suite,
) -> None:
    org = await make_org(suite)
    (customer,) = await pooled_by_departure(suite, org, 1)
    claim = {"customerId": customer["id"], "idempotencyKey": "claim-then-moved"}
    (await suite.gql(CLAIM, {"input": claim}, as_=org.junior_mate)).ok()
    moved = {
        "customerIds": [customer["id"]],
        "newOwnerId": employee_id(org.junior_b),
        "reason": "rebalance",
    }
    (await suite.gql(REASSIGN, {"input": moved}, as_=org.manager)).ok()
    # The retry answers the claim that was made, but shows no customer that is not theirs.
    retried = (await suite.gql(CLAIM, {"input": claim}, as_=org.junior_mate)).ok()
    assert retried["claimCustomer"]["claimedAt"] is not None
    assert retried["claimCustomer"]["customer"] is None
