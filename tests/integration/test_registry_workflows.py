"""Everyday changes to the registry: source (C4), follow-ups (C5), reassignment (C6), audit (C7)."""

from __future__ import annotations

from typing import Any

from tests.harness import GraphQLResult, Suite, employee_id, service_id, unique
from tests.org import make_org, register

UPDATE = """
mutation($input: UpdateCustomerInput!) { updateCustomer(input: $input) { customer { source sourceDetail } } }
"""
FOLLOW_UP = """
mutation($input: RecordFollowUpInput!) { recordFollowUp(input: $input) { followUp { id kind note } } }
"""
FOLLOW_UPS = """
query($id: ID!) { customer(id: $id) { followUps(first: 10) { totalCount edges { node { id kind note employee { id } } } } } }
"""
REASSIGN = """
mutation($input: ReassignCustomersInput!) { reassignCustomers(input: $input) { customers { id owner { id } } } }
"""
AUDIT = """
query($filter: AuditEventFilter) {
  auditEvents(first: 50, filter: $filter) {
    edges { node { action customerIds fields reason before after actor { id } } }
  }
}
"""


async def audit_events(suite: Suite, as_: str, **filter_: Any) -> list[dict[str, Any]]:
    data = (await suite.gql(AUDIT, {"filter": filter_}, as_=as_)).ok()
    return [edge["node"] for edge in data["auditEvents"]["edges"]]


async def test_only_a_manager_changes_the_source_and_only_with_a_reason(suite: Suite) -> None:
    org = await make_org(suite)
    customer = await register(suite, org.junior, source="PERSONAL")
    by_rep = await suite.gql(
        UPDATE,
        {"input": {"id": customer["id"], "source": "WEBSITE", "reason": "mine"}},
        as_=org.junior,
    )
    assert by_rep.codes == ["FORBIDDEN"]
    no_reason = await suite.gql(
        UPDATE, {"input": {"id": customer["id"], "source": "WEBSITE"}}, as_=org.manager
    )
    assert no_reason.codes == ["VALIDATION"]
    changed = await suite.gql(
        UPDATE,
        {
            "input": {
                "id": customer["id"],
                "source": "EXHIBITION",
                "reason": "met at the Canton fair",
            }
        },
        as_=org.manager,
    )
    assert changed.ok()["updateCustomer"]["customer"]["source"] == "EXHIBITION"
    [event] = await audit_events(
        suite, org.hr, customerId=customer["id"], actions=["customer.source.change"]
    )
    assert event["actor"]["id"] == employee_id(org.manager)
    assert event["reason"] == "met at the Canton fair"
    assert event["before"]["source"] == "PERSONAL"
    assert event["after"]["source"] == "EXHIBITION"


async def test_follow_ups_are_recorded_on_own_customers_once_per_idempotency_key(
    suite: Suite,
) -> None:
    org = await make_org(suite)
    own = await register(suite, org.junior)
    teammates = await register(suite, org.junior_mate)
    values = {
        "customerId": own["id"],
        "kind": "VISIT",
        "note": "demo at their office",
        "idempotencyKey": unique("visit"),
    }
    first = (await suite.gql(FOLLOW_UP, {"input": values}, as_=org.junior)).ok()["recordFollowUp"][
        "followUp"
    ]
    retried = (await suite.gql(FOLLOW_UP, {"input": values}, as_=org.junior)).ok()[
        "recordFollowUp"
    ]["followUp"]
    assert retried["id"] == first["id"]
    listed = (await suite.gql(FOLLOW_UPS, {"id": own["id"]}, as_=org.junior)).ok()["customer"][
        "followUps"
    ]
    assert listed["totalCount"] == 1
    assert listed["edges"][0]["node"]["employee"]["id"] == employee_id(org.junior)
    refused = await suite.gql(
        FOLLOW_UP, {"input": {"customerId": teammates["id"], "kind": "CALL"}}, as_=org.junior
    )
    assert refused.codes in (["FORBIDDEN"], ["NOT_FOUND"])


async def test_reassignment_moves_the_customer_with_a_reason_and_is_audited(suite: Suite) -> None:
    org = await make_org(suite)
    customer = await register(suite, org.junior)

    async def reassign(as_: str, new_owner: str, reason: str) -> GraphQLResult:
        values = {
            "customerIds": [customer["id"]],
            "newOwnerId": employee_id(new_owner),
            "reason": reason,
        }
        return await suite.gql(REASSIGN, {"input": values}, as_=as_)

    by_rep = await reassign(org.junior, org.junior_mate, "x")
    assert by_rep.codes == ["FORBIDDEN"]
    outside = await reassign(org.manager, org.other_manager, "to Beijing")
    assert outside.codes == ["FORBIDDEN"]
    moved = await reassign(org.manager, org.junior_mate, "conflict decided")
    assert moved.ok()["reassignCustomers"]["customers"][0]["owner"]["id"] == employee_id(
        org.junior_mate
    )
    old_owner = await suite.gql(
        "query($id: ID!) { customer(id: $id) { id } }", {"id": customer["id"]}, as_=org.junior
    )
    assert old_owner.data.get("customer") is None
    new_owner = await suite.gql(
        "query($id: ID!) { customer(id: $id) { id } }", {"id": customer["id"]}, as_=org.junior_mate
    )
    assert new_owner.ok()["customer"]["id"] == customer["id"]
    [event] = await audit_events(
        suite, org.manager, customerId=customer["id"], actions=["customer.reassign"]
    )
    assert event["actor"]["id"] == employee_id(org.manager)
    assert event["reason"] == "conflict decided"
    assert event["before"]["owners"] == {service_id(customer["id"]): org.junior}
    assert event["after"]["owner_id"] == org.junior_mate


async def test_unmasked_reads_are_in_the_audit_trail_with_actor_and_fields(suite: Suite) -> None:
    org = await make_org(suite)
    customer = await register(suite, org.junior)
    await suite.gql(
        "query($id: ID!) { customer(id: $id) { phone } }", {"id": customer["id"]}, as_=org.manager
    )
    await suite.gql(
        "query($id: ID!) { customer(id: $id) { phone } }", {"id": customer["id"]}, as_=org.hr
    )  # masked
    await suite.gql(
        "query($id: ID!) { customer(id: $id) { name } }", {"id": customer["id"]}, as_=org.senior
    )  # no contact
    reads = await audit_events(
        suite, org.hr, customerId=customer["id"], actions=["customer.contact.read"]
    )
    assert [r["actor"]["id"] for r in reads] == [employee_id(org.manager)]
    assert "phone" in reads[0]["fields"]
    # A manager of another branch sees nothing of this branch's trail.
    assert await audit_events(suite, org.other_manager, customerId=customer["id"]) == []
