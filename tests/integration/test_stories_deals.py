"""Stories of deals and commissions, told the way the HR console and the field app tell them:
everything through the GraphQL gateway, against the full profile (PostgreSQL, OPA, S3).

- The seed's third scenario: a rep fakes deals — three orders approved, never
  paid nor shipped by their due date; reconciliation calls them out.
- The seed's rate example: 5 % on a company-channel customer, 8 % on the rep's
  own; claiming PERSONAL for a company customer earns the company rate, pending review.
- A suspected fake deal withholds its commission until HR clears the alert.

Each story works in a company of its own (``make_org``) and in a month no other test pays
orders in; commission periods are per branch, so stories never see each other's lines.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import SuiteFactory
from tests.harness import Suite, cny, employee_id, global_id
from tests.org import Org, make_org, register
from tests.support.payments import bank_line

SHANGHAI = ZoneInfo("Asia/Shanghai")

SUBMIT = """mutation($input: SubmitOrderInput!) {
  submitOrder(input: $input) { order {
    id code total { amount currency } status flags orderDate expectedPaymentDate sourceClaim registeredSource
    submittedBy { id } customer { id }
  } } }"""
DECIDE = """mutation($input: DecideOrderInput!) {
  decideOrder(input: $input) { order { id status approvalSteps { role status approver { id } } } }
}"""
RECORD_PAYMENT = """mutation($input: RecordPaymentInput!) {
  recordPayment(input: $input) { duplicate payment { id amount { amount currency } matchedBy order { id } } } }"""
RUN_RECONCILIATION = """mutation($input: RunReconciliationInput) {
  runReconciliation(input: $input) { orders unpaid reconciled alertsRaised } }"""
RECONCILIATION = """query($asOf: Date, $after: String) {
  reconciliation(asOf: $asOf, states: [UNPAID], first: 100, after: $after) {
    pageInfo { hasNextPage endCursor }
    items { order { id code paymentState } status paid { amount currency } due { amount currency } expectedPaymentDate pastDue }
  } }"""
ORDER = """query($id: ID!) { order(id: $id) { id status paymentState shipped paidAmount { amount currency } } }"""
ALERTS = """query($filter: AlertFilter) {
  alerts(first: 50, filter: $filter) {
    totalCount
    edges { node {
      id source kind rule status resolution title message evidence
      employee { id } customer { id } order { id code status paymentState }
    } }
  } }"""
UPDATE_ALERT = """mutation($input: UpdateAlertInput!) {
  updateAlert(input: $input) { alert { id source kind status resolution note } } }"""
RUN_COMMISSIONS = """mutation($input: RunCommissionsInput!) {
  runCommissions(input: $input) { periods {
    period branchId status lines orders payable { amount currency } withheld { amount currency } pendingReview { amount currency } clawback { amount currency }
  } } }"""
STATEMENT = """query($employeeId: ID!, $period: String!) {
  commissionStatement(employeeId: $employeeId, period: $period) {
    period periodStatus employee { id }
    lines {
      id orderCode kind status base { amount currency } rate amount { amount currency } currency reason alertIds
      sourceClaim registeredSource
      order { id code total { amount currency } } customer { id }
    }
    totals { currency payable { amount currency } withheld { amount currency } pendingReview { amount currency } clawback { amount currency } }
  } }"""


def today() -> date:
    """Today in the org's branches (Asia/Shanghai)."""
    return datetime.now(SHANGHAI).date()


def at(day: date, hour: int = 10, minute: int = 0) -> str:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=SHANGHAI).isoformat()


async def submit(
    suite: Suite,
    rep: str,
    customer_id: str,
    total: str,
    *,
    ordered: date | None = None,
    due: date | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """``rep`` submits a one-line order; ``ordered`` and ``due`` date it (the order date and
    the expected payment date), ``extra`` adds to the input."""
    values = {
        "customerId": customer_id,
        "currency": "CNY",
        "lines": [{"sku": "SKU-9", "description": "goods", "quantity": "1", "unitPrice": total}],
        **extra,
    }
    if ordered is not None:
        values["orderDate"] = ordered.isoformat()
    if due is not None:
        values["expectedPaymentDate"] = due.isoformat()
    order = (await suite.gql(SUBMIT, {"input": values}, as_=rep)).ok()["submitOrder"]["order"]
    assert order["status"] == "SUBMITTED" and order["submittedBy"] == {"id": employee_id(rep)}
    return dict(order)


async def approve(suite: Suite, org: Org, order: dict[str, Any]) -> None:
    values = {"orderId": order["id"], "approve": True, "comment": "looks fine"}
    decided = (await suite.gql(DECIDE, {"input": values}, as_=org.manager)).ok()
    approved = decided["decideOrder"]["order"]
    assert approved["status"] == "APPROVED"
    assert [(step["role"], step["status"]) for step in approved["approvalSteps"]] == [
        ("MANAGER", "APPROVED")
    ]


@pytest.fixture(scope="module")
async def suite(full_suite_factory: SuiteFactory) -> Suite:
    """A suite of this module's own (fresh databases on the same servers). These stories
    keep deals unpaid on purpose; in the shared suite other tests leave bank lines open
    (unmatched on purpose, or the fuzz test's), and reconciliation, as O5 says, may match
    one to an order here by the code it quotes or by customer and amount. Which one
    depended on how many tests ran before, so it failed in some full runs only."""
    return await full_suite_factory()


def company_of(org: Org) -> str:
    """The company of ``org``'s customers, who pay under its name. Not the harness's default
    "Acme Trading": the suite's other companies leave open payments from that payer (the
    GraphQL fuzz test among them), and matching by customer and amount would hand one to
    an order here whose total it happens to equal, so a deal meant to stay unpaid would not."""
    return f"Acme Trading {org.branch}"


async def customer_of(suite: Suite, org: Org, source: str) -> str:
    """A customer of ``org``'s junior rep registered through ``source``: its ID."""
    registered = await register(suite, org.junior, source=source, company=company_of(org))
    return str(registered["id"])


async def pay(suite: Suite, org: Org, order: dict[str, Any], paid_at: str) -> None:
    """Finance records the bank line; the remittance text quotes the order code."""
    values = bank_line(
        order["total"]["amount"],
        paid_at,
        payerName=company_of(org),
        referenceText=f"payment for {order['code']}",
    )
    recorded = (await suite.gql(RECORD_PAYMENT, {"input": values}, as_=org.finance)).ok()
    assert recorded["recordPayment"]["duplicate"] is False


async def reconcile(suite: Suite, org: Org, as_of: date | None = None) -> dict[str, Any]:
    values = {"asOf": as_of.isoformat()} if as_of else {}
    result = await suite.gql(RUN_RECONCILIATION, {"input": values}, as_=org.finance)
    return dict(result.ok()["runReconciliation"])


async def run_commissions(suite: Suite, org: Org, period: str) -> dict[str, Any]:
    branch = global_id("Branch", org.branch)
    values = {"period": period, "branchId": branch}
    result = await suite.gql(RUN_COMMISSIONS, {"input": values}, as_=org.finance)
    (summary,) = result.ok()["runCommissions"]["periods"]
    assert (summary["period"], summary["branchId"]) == (period, branch)
    return dict(summary)


async def statement(suite: Suite, as_: str, employee: str, period: str) -> dict[str, Any]:
    """``employee``'s statement (their HR key)."""
    variables = {"employeeId": employee_id(employee), "period": period}
    result = await suite.gql(STATEMENT, variables, as_=as_)
    return dict(result.ok()["commissionStatement"])


async def alerts(suite: Suite, as_: str, **filter: Any) -> list[dict[str, Any]]:
    result = await suite.gql(ALERTS, {"filter": filter}, as_=as_)
    return [edge["node"] for edge in result.ok()["alerts"]["edges"]]


async def unpaid_items(
    suite: Suite, as_: str, as_of: date, order_ids: set[str]
) -> dict[str, dict[str, Any]]:
    """The reconciliation items of these orders among the UNPAID ones (paged: the suite's
    other companies have unpaid orders too)."""
    found: dict[str, dict[str, Any]] = {}
    after = None
    for _ in range(50):
        result = await suite.gql(
            RECONCILIATION, {"asOf": as_of.isoformat(), "after": after}, as_=as_
        )
        page = result.ok()["reconciliation"]
        for item in page["items"]:
            if item["order"]["id"] in order_ids:
                found[item["order"]["id"]] = item
        if len(found) == len(order_ids) or not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    return found


def cents(value: str) -> Decimal:
    return Decimal(value).quantize(Decimal("0.01"))


# -- Fake deals: three approved orders, never paid nor shipped ----------------------------------


async def test_unpaid_unshipped_deals_are_suspected_fakes(suite: Suite) -> None:
    org = await make_org(suite)
    rep = org.junior
    customers = [await customer_of(suite, org, "WEBSITE") for _ in range(3)]
    ordered, due = today() - timedelta(days=40), today() - timedelta(days=35)
    orders = []
    for customer_id, total in zip(customers, ("8800.00", "12500.00", "9900.00"), strict=True):
        order = await submit(suite, rep, customer_id, total, ordered=ordered, due=due)
        # Dated before the customer was registered (O3): flagged, and fine for this story.
        assert order["flags"] == ["UNREGISTERED_CUSTOMER"]
        assert (order["orderDate"], order["expectedPaymentDate"]) == (
            ordered.isoformat(),
            due.isoformat(),
        )
        await approve(suite, org, order)
        orders.append(order)
    by_id = {order["id"]: order for order in orders}

    # The due date passed: no payment, no shipment. Finance reconciles.
    ran = await reconcile(suite, org, today())
    assert ran["alertsRaised"] >= 3 and ran["unpaid"] >= 3

    items = await unpaid_items(suite, org.finance, today(), set(by_id))
    assert set(items) == set(by_id)
    for order_id, item in items.items():
        assert item["status"] == "UNPAID" and item["order"]["paymentState"] == "UNPAID"
        assert (item["paid"]["amount"], item["due"]["amount"]) == (
            "0.00",
            by_id[order_id]["total"]["amount"],
        )
        assert item["pastDue"] is True
        assert item["expectedPaymentDate"] == due.isoformat()
    for order in orders:
        shown = (await suite.gql(ORDER, {"id": order["id"]}, as_=org.finance)).ok()["order"]
        assert shown == {
            "id": order["id"],
            "status": "APPROVED",
            "paymentState": "UNPAID",
            "shipped": False,
            "paidAmount": cny("0.00"),
        }

    # Three alerts, one per order, each linking its order; finance and HR both see them.
    for reader in (org.finance, org.hr):
        raised = await alerts(
            suite, reader, employeeId=employee_id(rep), kinds=["FAKE_DEAL_SUSPECTED"]
        )
        assert len(raised) == 3, raised
        assert sorted(alert["order"]["id"] for alert in raised) == sorted(by_id)
        for alert in raised:
            order = by_id[alert["order"]["id"]]
            assert (alert["kind"], alert["rule"], alert["source"]) == (
                "FAKE_DEAL_SUSPECTED",
                "O5",
                "orders",
            )
            assert alert["status"] == "OPEN" and alert["resolution"] is None
            assert alert["employee"] == {"id": employee_id(rep)}
            assert alert["customer"] == {"id": order["customer"]["id"]}
            assert alert["order"]["code"] == order["code"]
            assert alert["order"]["paymentState"] == "UNPAID"
            assert order["code"] in alert["message"]
            assert alert["evidence"]["order_code"] == order["code"]
    # One alert per order: reconciling again raises none twice.
    await reconcile(suite, org, today())
    for order in orders:
        per_order = await alerts(
            suite, org.finance, orderId=order["id"], kinds=["FAKE_DEAL_SUSPECTED"]
        )
        assert len(per_order) == 1
    # The rep does not read the company's suspicions of them: every source refuses.
    refused = await suite.gql(ALERTS, {"filter": {}}, as_=rep)
    assert set(refused.codes) == {"FORBIDDEN"}
    assert not (refused.data.get("alerts") or {}).get("edges")


# -- Rates by source channel; a false PERSONAL claim waits for review ---------------------------

RATES_PERIOD = "2023-06"
RATES_DAY = date(2023, 6, 5)


async def test_rates_follow_the_registered_source(suite: Suite) -> None:
    org = await make_org(suite)
    rep = org.junior
    company = await customer_of(suite, org, "WEBSITE")
    personal = await customer_of(suite, org, "PERSONAL")
    specs = [
        (company, "10000.00", None),  # company channel: 5 %
        (personal, "10000.00", None),  # the rep's own network: 8 %
        (company, "2000.00", "PERSONAL"),  # a PERSONAL claim for a company customer
    ]
    orders = []
    for minute, (customer_id, total, claim) in enumerate(specs):
        extra: dict[str, Any] = {"sourceClaim": claim} if claim else {}
        order = await submit(suite, rep, customer_id, total, ordered=RATES_DAY, **extra)
        await approve(suite, org, order)
        await pay(suite, org, order, at(RATES_DAY + timedelta(days=7), minute=minute))
        orders.append(order)
    fair, own, claimed = orders
    assert (claimed["sourceClaim"], claimed["registeredSource"]) == ("PERSONAL", "WEBSITE")
    await reconcile(suite, org)
    for order in orders:
        shown = (await suite.gql(ORDER, {"id": order["id"]}, as_=org.finance)).ok()["order"]
        assert shown["paymentState"] == "RECONCILED"

    summary = await run_commissions(suite, org, RATES_PERIOD)
    assert (summary["status"], summary["lines"], summary["orders"]) == ("OPEN", 3, 3)
    assert (summary["payable"]["amount"], summary["pendingReview"]["amount"]) == (
        "1300.00",
        "100.00",
    )

    mine = await statement(suite, rep, rep, RATES_PERIOD)
    assert (mine["period"], mine["periodStatus"], mine["employee"]) == (
        RATES_PERIOD,
        "OPEN",
        {"id": employee_id(rep)},
    )
    lines = {line["orderCode"]: line for line in mine["lines"]}
    assert set(lines) == {fair["code"], own["code"], claimed["code"]}

    company_line = lines[fair["code"]]
    assert (
        company_line["base"]["amount"],
        company_line["rate"],
        company_line["amount"]["amount"],
    ) == (
        "10000.00",
        "5.00",
        "500.00",
    )
    assert (company_line["status"], company_line["reason"]) == ("PAYABLE", "COMPANY_CHANNEL")

    personal_line = lines[own["code"]]
    assert (personal_line["rate"], personal_line["amount"]["amount"]) == ("8.00", "800.00")
    assert (personal_line["status"], personal_line["reason"]) == ("PAYABLE", "PERSONAL_CHANNEL")
    assert personal_line["registeredSource"] == "PERSONAL"

    conflict = lines[claimed["code"]]
    assert (conflict["rate"], conflict["amount"]["amount"]) == ("5.00", "100.00")
    assert (conflict["status"], conflict["reason"]) == ("PENDING_REVIEW", "SOURCE_CONFLICT")
    assert (conflict["sourceClaim"], conflict["registeredSource"]) == ("PERSONAL", "WEBSITE")

    for order in orders:
        line = lines[order["code"]]
        assert line["kind"] == "COMMISSION" and line["currency"] == "CNY"
        assert line["alertIds"] == []
        # The rep sees their own order and customer through the line.
        assert line["order"] == {"id": order["id"], "code": order["code"], "total": order["total"]}
        assert line["customer"] == {"id": order["customer"]["id"]}
    (totals,) = mine["totals"]
    assert totals == {
        "currency": "CNY",
        "payable": cny("1300.00"),
        "withheld": cny("0.00"),
        "pendingReview": cny("100.00"),
        "clawback": cny("0.00"),
    }
    # Another rep may not read it.
    refused = await suite.gql(
        STATEMENT, {"employeeId": employee_id(rep), "period": RATES_PERIOD}, as_=org.junior_mate
    )
    assert refused.codes == ["FORBIDDEN"]


# -- A suspected fake deal withholds its commission until HR clears the alert -------------------

HELD_PERIOD = "2023-09"
HELD_ORDERED = date(2023, 9, 4)
HELD_DUE = date(2023, 9, 8)
HELD_PAID = date(2023, 9, 20)


async def test_clearing_a_fake_deal_alert_releases_exactly_its_line(suite: Suite) -> None:
    org = await make_org(suite)
    rep = org.junior
    company = await customer_of(suite, org, "EXHIBITION")
    # Two orders due long ago, still unpaid at the first reconciliation: suspected fakes.
    suspects = []
    for total in ("3000.00", "4000.00"):
        order = await submit(suite, rep, company, total, ordered=HELD_ORDERED, due=HELD_DUE)
        await approve(suite, org, order)
        suspects.append(order)
    run = await reconcile(suite, org)
    raised: dict[str, dict[str, Any]] = {}
    for order in suspects:
        found = await alerts(suite, org.hr, orderId=order["id"], kinds=["FAKE_DEAL_SUSPECTED"])
        if len(found) != 1:  # say what HR and finance see instead
            seen = {who: await alerts(suite, who) for who in (org.hr, org.finance)}
            raise AssertionError(f"run {run}, order {order}: HR and finance see {seen}")
        (alert,) = found
        assert alert["status"] == "OPEN"
        raised[order["id"]] = alert
    # The money turns up after all (in the period); the alerts stay until someone decides.
    for minute, order in enumerate(suspects):
        await pay(suite, org, order, at(HELD_PAID, minute=minute))
    await reconcile(suite, org)

    summary = await run_commissions(suite, org, HELD_PERIOD)
    assert (summary["lines"], summary["withheld"]["amount"], summary["payable"]["amount"]) == (
        2,
        "350.00",
        "0.00",
    )
    before = await statement(suite, org.hr, rep, HELD_PERIOD)
    released, kept = suspects
    lines = {line["orderCode"]: line for line in before["lines"]}
    for order in suspects:
        line = lines[order["code"]]
        assert line["status"] == "WITHHELD"
        assert line["alertIds"] == [raised[order["id"]]["id"]]
        assert line["reason"] == "FAKE_DEAL_SUSPECTED; COMPANY_CHANNEL"

    # HR looks into the first, finds the deal real, and clears the alert the line names.
    values = {
        "id": lines[released["code"]]["alertIds"][0],
        "status": "RESOLVED",
        "resolution": "CLEARED",
        "note": "customer confirmed the order; payment was late",
    }
    cleared = (await suite.gql(UPDATE_ALERT, {"input": values}, as_=org.hr)).ok()
    assert cleared["updateAlert"]["alert"] == {
        "id": raised[released["id"]]["id"],
        "source": "orders",
        "kind": "FAKE_DEAL_SUSPECTED",
        "status": "RESOLVED",
        "resolution": "CLEARED",
        "note": values["note"],
    }
    # A rep cannot clear their own suspicion (out of scope reads as absent).
    own_try = {"id": raised[kept["id"]]["id"], "status": "DISMISSED"}
    assert (await suite.gql(UPDATE_ALERT, {"input": own_try}, as_=rep)).codes == ["NOT_FOUND"]

    # Nothing moves until the next run, which releases exactly that line.
    assert await statement(suite, org.hr, rep, HELD_PERIOD) == before
    summary = await run_commissions(suite, org, HELD_PERIOD)
    assert (summary["withheld"]["amount"], summary["payable"]["amount"]) == ("200.00", "150.00")
    after = await statement(suite, org.hr, rep, HELD_PERIOD)
    after_lines = {line["orderCode"]: line for line in after["lines"]}
    changed = {code for code, line in after_lines.items() if line != lines[code]}
    assert changed == {released["code"]}
    # The rep sees the same statement.
    assert await statement(suite, rep, rep, HELD_PERIOD) == after
    line = after_lines[released["code"]]
    assert (line["status"], line["alertIds"], line["reason"]) == ("PAYABLE", [], "COMPANY_CHANNEL")
    assert line["amount"]["amount"] == "150.00"
    held = after_lines[kept["code"]]
    assert (held["status"], held["alertIds"]) == ("WITHHELD", [raised[kept["id"]]["id"]])
    (totals,) = after["totals"]
    assert (totals["payable"]["amount"], totals["withheld"]["amount"]) == ("150.00", "200.00")
    assert cents(totals["payable"]["amount"]) + cents(totals["withheld"]["amount"]) == sum(
        (cents(line["amount"]["amount"]) for line in after["lines"]), Decimal(0)
    )
    # The kept alert is still open; the cleared one no longer withholds anything.
    (still_open,) = await alerts(
        suite, org.hr, orderId=kept["id"], kinds=["FAKE_DEAL_SUSPECTED"], statuses=["OPEN"]
    )
    assert still_open["id"] == raised[kept["id"]]["id"]
