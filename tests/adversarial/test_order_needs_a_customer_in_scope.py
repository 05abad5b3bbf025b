"""Nobody acts on a customer they may not read (SPEC §2).

A junior of branch A submitted an order on a branch-B customer: it was accepted and
approved in A while B saw nothing, and the alert evidence named B's customer. Now an
order is submitted only for a customer the submitter may order for (policy action
``customers.order``, no wider than ``customers.read``), asked of the customers service
as the submitter; anything else is NOT_FOUND, exactly as for a customer that does not
exist, and nothing is stored. The other writes that name a customer (follow-ups, visit
plans, check-ins) refuse the same way.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from salesguard_orders.models import Alert as OrdersAlert
from tests.harness import GraphQLResult, Suite, employee_id, global_id, service_id, unique
from tests.org import Org, add_employee, add_hq_manager, make_org, register

SUBMIT = """
mutation($input: SubmitOrderInput!) {
  submitOrder(input: $input) { order { id flags customer { id } owner { id } } }
}
"""
ORDERS = """
query($filter: OrderFilter) { orders(first: 50, filter: $filter) { totalCount edges { node { id } } } }
"""
ALERTS = """
query($filter: AlertFilter) { alerts(first: 50, filter: $filter) { edges { node { id kind } } } }
"""
AUDIT = """
query($filter: AuditEventFilter) { auditEvents(first: 50, filter: $filter) { edges { node { action } } } }
"""
FOLLOW_UP = """
mutation($input: RecordFollowUpInput!) { recordFollowUp(input: $input) { followUp { id } } }
"""
PLAN = "mutation($input: PlanVisitInput!) { planVisit(input: $input) { visitPlan { id } } }"
CHECK_IN = """
mutation($input: CheckInInput!) { checkIn(input: $input) { checkIn { id reasons { code } } } }
"""
CHECK_INS = """
query($filter: CheckInFilter) { checkIns(first: 50, filter: $filter) { edges { node { id } } } }
"""
# The API's ID of a customer that does not exist.
NO_SUCH_CUSTOMER = global_id("Customer", "no-such-customer")


async def branch_b_rep(suite: Suite, org: Org) -> str:
    """A junior of the other branch, who owns the customer attacked."""
    rep = unique(f"{org.other_branch}-junior")
    await add_employee(suite, rep, "钱多多", "SALES_JUNIOR", branch=org.other_branch)
    return rep


async def submit(suite: Suite, as_: str, customer_id: str) -> GraphQLResult:
    line = {"sku": "SKU-1", "quantity": "2", "unitPrice": "150.00"}
    values = {"customerId": customer_id, "currency": "CNY", "lines": [line]}
    return await suite.gql(SUBMIT, {"input": values}, as_=as_)


async def orders_of(suite: Suite, as_: str, customer_id: str) -> int:
    data = (await suite.gql(ORDERS, {"filter": {"customerId": customer_id}}, as_=as_)).ok()
    return int(data["orders"]["totalCount"])


async def alerts_of(suite: Suite, as_: str, **filter_: Any) -> list[dict[str, Any]]:
    data = (await suite.gql(ALERTS, {"filter": filter_}, as_=as_)).ok()
    return [edge["node"] for edge in data["alerts"]["edges"]]


def refused_as_absent(result: GraphQLResult, customer_id: str) -> str:
    """The refusal reads exactly like a customer that does not exist; its message, ID blanked
    (the API's and the service's)."""
    assert result.codes == ["NOT_FOUND"], result.body
    message = str(result.errors[0]["message"]).replace(customer_id, "<id>")
    return message.replace(service_id(customer_id), "<id>")


async def test_order_on_another_branchs_customer_is_refused_and_nothing_stored(
    suite: Suite,
) -> None:
    org = await make_org(suite)
    rep_b = await branch_b_rep(suite, org)
    theirs = await register(suite, rep_b)

    refused = await submit(suite, org.junior, theirs["id"])
    absent = await submit(suite, org.junior, NO_SUCH_CUSTOMER)
    # Existence does not leak: the same code and the same words as for no customer at all.
    assert refused_as_absent(refused, theirs["id"]) == refused_as_absent(absent, NO_SUCH_CUSTOMER)
    # A manager of branch A may not order for branch B's customer either.
    assert (await submit(suite, org.manager, theirs["id"])).codes == ["NOT_FOUND"]

    # Nothing stored: no order for anyone to see, no alert, no audit entry.
    for viewer in (org.junior, org.manager, org.other_manager, org.hr, org.finance, rep_b):
        assert await orders_of(suite, viewer, theirs["id"]) == 0, viewer
    for viewer in (org.manager, org.other_manager, org.hr):
        assert await alerts_of(suite, viewer, customerId=theirs["id"]) == [], viewer
        assert await alerts_of(suite, viewer, employeeId=employee_id(org.junior)) == [], viewer
    audit = (
        await suite.gql(AUDIT, {"filter": {"actorId": employee_id(org.junior)}}, as_=org.hr)
    ).ok()
    assert audit["auditEvents"]["edges"] == []


async def test_order_scope_follows_the_tier(suite: Suite) -> None:
    org = await make_org(suite)
    mates = await register(suite, org.junior_mate)
    own = await register(suite, org.junior)

    # A junior reads only their own customers, so orders only for them.
    assert (await submit(suite, org.junior, mates["id"])).codes == ["NOT_FOUND"]
    assert await orders_of(suite, org.manager, mates["id"]) == 0
    # The owner: accepted, nothing flagged.
    order = (await submit(suite, org.junior, own["id"])).ok()["submitOrder"]["order"]
    assert order["flags"] == []
    assert order["owner"]["id"] == employee_id(org.junior)
    # A senior reads the team's customers: an order on a teammate's customer is accepted,
    # flagged, and its alert reaches the manager of the branch both belong to.
    covering = (await submit(suite, org.senior, mates["id"])).ok()["submitOrder"]["order"]
    assert covering["flags"] == ["ATTRIBUTION_MISMATCH"]
    kinds = {alert["kind"] for alert in await alerts_of(suite, org.manager, orderId=covering["id"])}
    assert kinds == {"ATTRIBUTION_MISMATCH"}


async def test_a_deal_on_a_branchs_customer_is_alerted_to_that_branch(
    suite: Suite,
) -> None:
    """Headquarters reads every branch, so an HQ manager may order for branch B's
    customer; the flag is then B's alert (branch B's, not headquarters'). Being about a
    manager, it is read by HR and headquarters, not by B's manager (test_case_access)."""
    org = await make_org(suite)
    rep_b = await branch_b_rep(suite, org)
    theirs = await register(suite, rep_b)
    hq_manager = await add_hq_manager(suite, org, unique(f"{org.hq}-manager"))
    order = (await submit(suite, hq_manager, theirs["id"])).ok()["submitOrder"]["order"]
    assert order["flags"] == ["ATTRIBUTION_MISMATCH"]
    [alert] = await alerts_of(suite, org.hr, orderId=order["id"])
    assert alert["kind"] == "ATTRIBUTION_MISMATCH"
    async with suite.running["orders"].runtime.db.read() as session:
        stored_branch = await session.scalar(
            select(OrdersAlert.branch_id).where(OrdersAlert.id == service_id(alert["id"]))
        )
    assert stored_branch == org.other_branch
    assert await alerts_of(suite, org.manager, orderId=order["id"]) == []
    assert await alerts_of(suite, org.other_manager, orderId=order["id"]) == []


async def test_other_writes_naming_a_customer_refuse_the_same_way(suite: Suite) -> None:
    org = await make_org(suite)
    rep_b = await branch_b_rep(suite, org)
    theirs = await register(suite, rep_b, location={"lat": 39.9042, "lng": 116.4074})
    now = datetime.now(UTC)

    follow_up = await suite.gql(
        FOLLOW_UP, {"input": {"customerId": theirs["id"], "kind": "CALL"}}, as_=org.junior
    )
    absent_follow_up = await suite.gql(
        FOLLOW_UP, {"input": {"customerId": NO_SUCH_CUSTOMER, "kind": "CALL"}}, as_=org.junior
    )
    assert refused_as_absent(follow_up, theirs["id"]) == refused_as_absent(
        absent_follow_up, NO_SUCH_CUSTOMER
    )

    window = {
        "windowStart": (now + timedelta(hours=1)).isoformat(),
        "windowEnd": (now + timedelta(hours=2)).isoformat(),
    }
    plan = await suite.gql(PLAN, {"input": {"customerId": theirs["id"], **window}}, as_=org.junior)
    assert plan.codes == ["NOT_FOUND"], plan.body

    # A check-in linked to a customer one may not read would tell its distance (its place).
    check_in = {
        "at": now.isoformat(),
        "location": {"lat": 39.9, "lng": 116.4},
        "accuracyM": 10,
        "deviceId": "phone-1",
        "customerId": theirs["id"],
    }
    linked = await suite.gql(CHECK_IN, {"input": check_in}, as_=org.junior)
    assert linked.codes == ["NOT_FOUND"], linked.body
    stored = (
        await suite.gql(
            CHECK_INS, {"filter": {"employeeId": employee_id(org.junior)}}, as_=org.manager
        )
    ).ok()
    assert stored["checkIns"]["edges"] == []
    # Unlinked, the same visit is stored as usual.
    del check_in["customerId"]
    (await suite.gql(CHECK_IN, {"input": check_in}, as_=org.junior)).ok()


async def test_orders_scope_on_the_embedded_profile(embedded_suite: Suite) -> None:
    """The same refusal with SQLite and the policies evaluated in-process (regopy)."""
    suite = embedded_suite
    org = await make_org(suite)
    rep_b = await branch_b_rep(suite, org)
    theirs = await register(suite, rep_b)
    own = await register(suite, org.junior)
    assert (await submit(suite, org.junior, theirs["id"])).codes == ["NOT_FOUND"]
    assert await orders_of(suite, org.other_manager, theirs["id"]) == 0
    assert await alerts_of(suite, org.hr, customerId=theirs["id"]) == []
    (await submit(suite, org.junior, own["id"])).ok()
