"""C12 cannot be unlocked by one team.

Three refused registrations by a junior, a senior and a manager of one branch marked a
phone as shared, after which the junior registered a second record of a colleague's
customer. A value now becomes shared only on refusals one team cannot orchestrate —
different reps of at least ``distinct_branches`` branches within the window (policy
data, ``thresholds.shared_contact``) — or on the confirmation of someone outside every
branch involved (``markCriterionShared``: in practice HR or a headquarters manager).
Either way the customer's branch managers get ``SHARED_CONTACT_DETAIL``;
``unmarkCriterionShared`` makes the value block again.
"""

from __future__ import annotations

from typing import Any

from tests.harness import GraphQLResult, Suite, unique
from tests.org import (
    Org,
    add_employee,
    make_org,
    new_phone,
    register,
    register_result,
)

ALERTS = """
query($filter: AlertFilter) {
  alerts(first: 50, filter: $filter) { edges { node { kind message customer { id } evidence } } }
}
"""
MARK = """
mutation($input: MarkCriterionSharedInput!) {
  markCriterionShared(input: $input) { customer { id } criterion shared changed changedAt }
}
"""
UNMARK = """
mutation($input: UnmarkCriterionSharedInput!) {
  unmarkCriterionShared(input: $input) { customer { id } criterion shared changed changedAt }
}
"""
AUDIT = """
query($filter: AuditEventFilter) {
  auditEvents(first: 20, filter: $filter) { edges { node { action reason actor { hrId } } } }
}
"""


async def employee(suite: Suite, branch: str, role: str, *, team: str | None = None) -> str:
    """A new employee of ``branch`` (an HR key); their HR key."""
    employee_id = unique(f"{branch}-{role.lower()}")
    await add_employee(suite, employee_id, "张三", role, branch=branch, team=team)
    return employee_id


async def shared_alerts(suite: Suite, as_: str, customer_id: str) -> list[dict[str, Any]]:
    filter_ = {"kinds": ["SHARED_CONTACT_DETAIL"], "customerId": customer_id}
    data = (await suite.gql(ALERTS, {"filter": filter_}, as_=as_)).ok()
    return [edge["node"] for edge in data["alerts"]["edges"]]


async def attempt(suite: Suite, as_: str, phone: str) -> GraphQLResult:
    result: GraphQLResult = await register_result(suite, as_, phone=phone)
    return result


async def mark(
    suite: Suite, as_: str, customer_id: str, reason: str = "our switchboard", *, undo: bool = False
) -> GraphQLResult:
    values = {"customerId": customer_id, "criterion": "PHONE", "reason": reason}
    return await suite.gql(UNMARK if undo else MARK, {"input": values}, as_=as_)


async def collude(suite: Suite, org: Org, phone: str) -> None:
    """The issue's attack: everyone of one branch is refused on the colleague's number."""
    for rep in (org.junior, org.senior, org.manager, org.junior_b, org.manager_2):
        assert (await attempt(suite, rep, phone)).codes == ["DUPLICATE_CUSTOMER"], rep


async def test_one_branch_cannot_unlock_a_colleagues_number(suite: Suite) -> None:
    org = await make_org(suite)
    phone = new_phone()
    colleagues = await register(suite, org.junior_mate, phone=phone)
    await collude(suite, org, phone)
    # The junior still cannot register a second record of the colleague's customer.
    assert (await attempt(suite, org.junior, phone)).codes == ["DUPLICATE_CUSTOMER"]
    for viewer in (org.manager, org.hr):
        assert await shared_alerts(suite, viewer, colleagues["id"]) == [], viewer
    # Nor can anyone of the branch confirm the number as shared: not the manager who
    # was refused on it, not the junior; a manager elsewhere does not even see it.
    assert (await mark(suite, org.manager, colleagues["id"])).codes == ["FORBIDDEN"]
    assert (await mark(suite, org.manager_2, colleagues["id"])).codes == ["FORBIDDEN"]
    assert (await mark(suite, org.junior, colleagues["id"])).codes == ["FORBIDDEN"]
    assert (await mark(suite, org.other_manager, colleagues["id"])).codes == ["NOT_FOUND"]
    assert (await attempt(suite, org.junior, phone)).codes == ["DUPLICATE_CUSTOMER"]


async def test_refusals_across_branches_share_a_number_and_alert_its_managers(
    suite: Suite,
) -> None:
    org = await make_org(suite)
    rep_elsewhere = await employee(suite, org.other_branch, "SALES_JUNIOR")
    switchboard = new_phone()
    first = await register(suite, org.junior_mate, phone=switchboard)
    await collude(suite, org, switchboard)
    assert await shared_alerts(suite, org.manager, first["id"]) == []
    # A rep of another branch is refused on the same number: two branches now, so the
    # number is a shared one (a company switchboard, not one team's arrangement).
    assert (await attempt(suite, rep_elsewhere, switchboard)).codes == ["DUPLICATE_CUSTOMER"]
    [alert] = await shared_alerts(suite, org.manager, first["id"])
    assert alert["evidence"]["branch_count"] == 2
    assert alert["evidence"]["rep_count"] == 6
    assert "****" in alert["evidence"]["value"]
    assert "2 branches" in alert["message"]
    # It is for the customer's branch: the other branch's manager sees no alert about it.
    assert await shared_alerts(suite, org.other_manager, first["id"]) == []

    done = (await attempt(suite, org.junior, switchboard)).ok()["registerCustomer"]
    assert done["warnings"] == ["SHARED_CONTACT_DETAIL"]

    # Un-shared (a tightening: the customer's own manager may), it blocks again, and the
    # refusals before count no more.
    undone = (await mark(suite, org.manager, first["id"], "not a switchboard", undo=True)).ok()
    assert undone["unmarkCriterionShared"]["shared"] is False
    assert (await attempt(suite, rep_elsewhere, switchboard)).codes == ["DUPLICATE_CUSTOMER"]
    assert (await attempt(suite, org.junior_b, switchboard)).codes == ["DUPLICATE_CUSTOMER"]


async def test_a_manager_outside_the_branch_confirms_a_shared_number(
    suite: Suite,
) -> None:
    org = await make_org(suite)
    hq_manager = await employee(suite, org.hq, "MANAGER")
    phone = new_phone()
    customer = await register(suite, org.junior_mate, phone=phone)
    assert (await attempt(suite, org.junior, phone)).codes == ["DUPLICATE_CUSTOMER"]

    # Authorised first, then validated: the reason is required (and audited).
    assert (await mark(suite, hq_manager, customer["id"], "")).codes == ["VALIDATION"]
    marked = (await mark(suite, hq_manager, customer["id"])).ok()["markCriterionShared"]
    assert (marked["criterion"], marked["shared"], marked["changed"]) == ("PHONE", True, True)
    assert marked["customer"] == {"id": customer["id"]}
    again = (await mark(suite, hq_manager, customer["id"])).ok()["markCriterionShared"]
    assert again["changed"] is False
    [alert] = await shared_alerts(suite, org.manager, customer["id"])
    assert alert["evidence"]["confirmed_by"] == hq_manager
    assert alert["evidence"]["reason"] == "our switchboard"

    done = (await attempt(suite, org.junior, phone)).ok()["registerCustomer"]
    assert done["warnings"] == ["SHARED_CONTACT_DETAIL"]

    audit = (
        await suite.gql(
            AUDIT,
            {"filter": {"customerId": customer["id"], "actions": ["customer.criterion.share"]}},
            as_=org.hr,
        )
    ).ok()["auditEvents"]["edges"]
    assert [(e["node"]["actor"]["hrId"], e["node"]["reason"]) for e in audit] == [
        (hq_manager, "our switchboard")
    ]
    # HR takes it back: the number blocks again.
    (await mark(suite, org.hr, customer["id"], "a personal mobile", undo=True)).ok()
    assert (await attempt(suite, org.junior_b, phone)).codes == ["DUPLICATE_CUSTOMER"]


async def test_collusion_and_confirmation_on_the_embedded_profile(
    embedded_suite: Suite,
) -> None:
    """SQLite and the policies in-process (regopy): the same two rules."""
    suite = embedded_suite
    org = await make_org(suite)
    phone = new_phone()
    colleagues = await register(suite, org.junior_mate, phone=phone)
    await collude(suite, org, phone)
    assert (await attempt(suite, org.junior, phone)).codes == ["DUPLICATE_CUSTOMER"]
    assert (await mark(suite, org.manager, colleagues["id"])).codes == ["FORBIDDEN"]
    (await mark(suite, org.hr, colleagues["id"])).ok()
    [alert] = await shared_alerts(suite, org.manager, colleagues["id"])
    assert alert["evidence"]["confirmed_by"] == org.hr
    (await attempt(suite, org.junior, phone)).ok()
