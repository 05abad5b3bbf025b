"""A manager approving a colluding rep's fake deals (issue 17, O2 ``APPROVAL_DESPITE_WARNING``):
raised by the approval itself, on the approver, once orders they approved for the rep stand
suspected as fake deals; the case is HR's and headquarters', never the manager's own nor
their branch's.

- A manager who approved a rep's fake deal in good faith is not flagged for it; approving
  another order of that rep after the FAKE_DEAL_SUSPECTED is. HR and headquarters' manager
  read it; the manager it names, the branch's other manager, another branch's manager and
  finance do not, and neither the named manager nor the branch's other manager can decide it. Approving again
  on the same warning raises nothing more.
- An honest manager who rejects the rep's next order once warned is not flagged; nor is
  another approver who never approved the suspected order, nor an approver whose warning
  HR dismissed, nor one whose warned order was paid after all.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from salesguard_orders.jobs import RECONCILIATION
from tests.harness import Suite, employee_id, service_id
from tests.integration.stories_detection.support import (
    DECIDE,
    RECORD_BACK_ORDER,
    alerts_of,
    overdue_order,
    paid_moment,
    record_payment,
    run,
)
from tests.integration.test_stories_deals import UPDATE_ALERT, approve, submit, today
from tests.org import Org, add_employee, make_org, register
from tests.support.orders_service import move_approval

KIND = "APPROVAL_DESPITE_WARNING"


async def decide(suite: Suite, approver: str, order: dict[str, Any], approve: bool) -> str:
    values = {"orderId": order["id"], "approve": approve, "comment": "decided"}
    decided = (await suite.gql(DECIDE, {"input": values}, as_=approver)).ok()
    return str(decided["decideOrder"]["order"]["status"])


async def flagged(suite: Suite, org: Org, *approvers: str) -> list[dict[str, Any]]:
    """The APPROVAL_DESPITE_WARNING alerts on ``approvers`` (the org's managers by
    default), as HR lists them (the module's other stories have alerts of their own)."""
    found = []
    for approver in approvers or (org.manager, org.manager_2):
        found += await alerts_of(suite, org.hr, kinds=[KIND], employeeId=employee_id(approver))
    return found


async def warned(suite: Suite, org: Org) -> tuple[str, dict[str, Any]]:
    """The junior's overdue order, approved by the manager in good faith, suspected as a fake
    deal by the daily job: the warning. Returns the customer and the suspected order."""
    customer = (await register(suite, org.junior))["id"]
    fake = await overdue_order(suite, org, customer, "6600.00")
    await run(suite, RECONCILIATION, datetime.now(UTC))
    (alert,) = await alerts_of(suite, org.hr, orderId=fake["id"], kinds=["FAKE_DEAL_SUSPECTED"])
    assert alert["employee"] == {"id": employee_id(org.junior)}
    # Approving the fake deal in good faith flagged nobody.
    assert not await flagged(suite, org)
    return customer, fake


async def test_a_manager_who_approves_after_the_warning_is_flagged_for_hr_only(
    suite: Suite,
) -> None:
    org = await make_org(suite)
    customer, fake = await warned(suite, org)

    # The manager keeps approving the rep's orders.
    again = await submit(suite, org.junior, customer, "5400.00")
    await approve(suite, org, again)
    (alert,) = await flagged(suite, org)
    assert (alert["rule"], alert["status"], alert["employee"]) == (
        "O2",
        "OPEN",
        {"id": employee_id(org.manager)},
    )
    assert alert["evidence"]["submitted_by"] == org.junior
    assert alert["evidence"]["warned_order_codes"] == fake["code"]
    assert alert["evidence"]["order_code"] == again["code"]
    assert alert["evidence"]["warnings"] == 1
    assert fake["code"] in alert["message"]

    # One case per warning ignored: another approval on the same warning adds none.
    third = await submit(suite, org.junior, customer, "3300.00")
    await approve(suite, org, third)
    assert len(await flagged(suite, org)) == 1

    # Headquarters' manager reads it too (the case of a manager is theirs and HR's).
    hq_manager = f"{org.branch}-hq-manager"
    await add_employee(suite, hq_manager, "HQ manager", "MANAGER", branch=org.hq)
    (seen,) = await alerts_of(suite, hq_manager, kinds=[KIND], employeeId=employee_id(org.manager))
    assert seen["id"] == alert["id"]
    # Nobody but HR and headquarters reads it: not the manager it names, not the
    # branch's other manager, not another branch's manager, not finance.
    for reader in (org.manager, org.manager_2, org.other_manager, org.finance):
        assert not await alerts_of(suite, reader, kinds=[KIND]), reader
        assert not await alerts_of(suite, reader, employeeId=employee_id(org.manager)), reader
    # Nor can they decide it: the named manager least of all.
    for actor in (org.manager, org.manager_2, org.junior):
        values = {"id": alert["id"], "status": "DISMISSED"}
        result = await suite.gql(UPDATE_ALERT, {"input": values}, as_=actor)
        assert result.codes and result.codes[0] in {"NOT_FOUND", "FORBIDDEN"}, (actor, result.body)
    (still,) = await flagged(suite, org)
    assert still["status"] == "OPEN"
    # HR decides it.
    values = {"id": alert["id"], "status": "ACKNOWLEDGED", "note": "looking into it"}
    decided = (await suite.gql(UPDATE_ALERT, {"input": values}, as_=org.hr)).ok()
    assert decided["updateAlert"]["alert"]["status"] == "ACKNOWLEDGED"


async def test_an_honest_manager_who_holds_the_rep_s_orders_once_warned_is_not_flagged(
    suite: Suite,
) -> None:
    org = await make_org(suite)
    customer, _fake = await warned(suite, org)

    # Warned, the manager rejects the rep's next order: nothing is raised.
    held = await submit(suite, org.junior, customer, "5400.00")
    assert await decide(suite, org.manager, held, approve=False) == "REJECTED"
    # The branch's other manager never approved the suspected order: approving is no
    # ignored warning of theirs.
    other = await submit(suite, org.junior, customer, "2100.00")
    assert await decide(suite, org.manager_2, other, approve=True) == "APPROVED"
    assert not await flagged(suite, org)


async def test_a_dismissed_or_answered_warning_warns_nobody(suite: Suite) -> None:
    org = await make_org(suite)
    customer, fake = await warned(suite, org)
    (alert,) = await alerts_of(suite, org.hr, orderId=fake["id"], kinds=["FAKE_DEAL_SUSPECTED"])
    # HR looked into it and dismissed it: the manager may approve the rep's orders again.
    values = {"id": alert["id"], "status": "DISMISSED", "note": "a real deal, paid late"}
    (await suite.gql(UPDATE_ALERT, {"input": values}, as_=org.hr)).ok()
    after_dismissal = await submit(suite, org.junior, customer, "5400.00")
    await approve(suite, org, after_dismissal)
    assert not await flagged(suite, org)

    # A second suspected fake, still open, but paid late after all: it warns nobody either.
    org_b = await make_org(suite)
    customer_b, fake_b = await warned(suite, org_b)
    await record_payment(
        suite,
        org_b,
        "6600.00",
        paid_moment(),
        referenceText=f"payment for {fake_b['code']}",
    )
    paid_late = await submit(suite, org_b.junior, customer_b, "5400.00")
    await approve(suite, org_b, paid_late)
    assert not await flagged(suite, org_b)


# -- the earlier warning: an order approved a week ago, neither shipped nor explained -----------


async def shipment_overdue(suite: Suite, org: Org) -> tuple[str, dict[str, Any]]:
    """The junior's order, approved by the manager nine days ago (the approval moved back in
    the service's database), due weeks from now and neither shipped, back-ordered nor paid:
    the daily job raises SHIPMENT_OVERDUE, the warning."""
    customer = (await register(suite, org.junior))["id"]
    order = await submit(suite, org.junior, customer, "7300.00", due=today() + timedelta(days=30))
    await approve(suite, org, order)
    await move_approval(suite, service_id(order["id"]), datetime.now(UTC) - timedelta(days=9))
    await run(suite, RECONCILIATION, datetime.now(UTC))
    (alert,) = await alerts_of(suite, org.hr, orderId=order["id"], kinds=["SHIPMENT_OVERDUE"])
    assert alert["employee"] == {"id": employee_id(org.junior)}
    assert not await flagged(suite, org)
    return customer, order


async def test_approving_after_an_overdue_shipment_is_flagged_unless_a_back_order_answers_it(
    suite: Suite,
) -> None:
    # Ignored: the manager approves the rep's next order.
    org = await make_org(suite)
    customer, unshipped = await shipment_overdue(suite, org)
    again = await submit(suite, org.junior, customer, "5100.00")
    await approve(suite, org, again)
    (alert,) = await flagged(suite, org)
    assert alert["employee"] == {"id": employee_id(org.manager)}
    assert alert["evidence"]["warned_order_codes"] == unshipped["code"]

    # Answered: finance records the back-order (the approving manager may not), and the
    # manager's next approval is no offence.
    org_b = await make_org(suite)
    customer_b, unshipped_b = await shipment_overdue(suite, org_b)
    values = {
        "orderId": unshipped_b["id"],
        "promisedShipDate": (today() + timedelta(days=3)).isoformat(),
        "reason": "the plant is out of glass",
    }
    refused = await suite.gql(RECORD_BACK_ORDER, {"input": values}, as_=org_b.manager)
    assert refused.codes == ["FORBIDDEN"], refused.body
    (await suite.gql(RECORD_BACK_ORDER, {"input": values}, as_=org_b.finance)).ok()
    explained = await submit(suite, org_b.junior, customer_b, "5100.00")
    await approve(suite, org_b, explained)
    assert not await flagged(suite, org_b)
