"""Orders through the gateway (O4–O6): payments, shipments, reconciliation and fake-deal and
diversion detection, alerts linking to their order, and a failing orders service failing
only the fields that need it (G2).

Against the real orders, customers and attendance services (embedded profile).
Each test works in an org of its own, or in the module's, so the shared suite's
other orders stay out of the way; reconciliation is global, so its test looks
for its own order in the result.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.tests.conftest import StartSuite
from gateway.tests.orders_support import (
    ALERTS_OF_ORDER,
    RECONCILIATION,
    RECORD_PAYMENT,
    RUN_RECONCILIATION,
    TRANSITION,
    Shop,
    decide,
    line,
    rpc_calls,
    submit,
    today,
)
from salesguard.alerts import AlertDraft, raise_alert
from salesguard_orders.models import Alert as OrdersAlert
from tests.harness import Suite, cny, employee_id, service_id, unique
from tests.org import make_org, register
from tests.photos import upload_payment_file

# --- payments, shipments, reconciliation (O4, O5) ---------------------------------------------


async def find_item(suite: Suite, as_: str, order_id: str, **variables: Any) -> dict[str, Any]:
    """The order's reconciliation item, paging through the whole (suite-wide) result."""
    after = None
    for _ in range(100):
        data = (await suite.gql(RECONCILIATION, {**variables, "after": after}, as_=as_)).ok()
        result = data["reconciliation"]
        for item in result["items"]:
            if item["order"]["id"] == order_id:
                return dict(item)
        if not result["pageInfo"]["hasNextPage"]:
            break
        after = result["pageInfo"]["endCursor"]
    raise AssertionError(f"order {order_id} is not in the reconciliation")


async def test_a_paid_order_reconciles(suite: Suite) -> None:
    org = await make_org(suite)
    customer = await register(suite, org.junior)
    order = await submit(
        suite, org.junior, customer["id"], [line(quantity="4", unitPrice="250.25")]
    )
    assert order["total"]["amount"] == "1001.00"
    (await decide(suite, org.manager, order["id"])).ok()

    bank_reference = unique("BANK")
    payment_input = {
        "bankReference": bank_reference,
        "payerName": customer["name"],
        "payerAccount": "6222 0000 1111 2222",
        "amount": "1001.00",
        "currency": "CNY",
        "paidAt": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
        "referenceText": f"payment for {order['code']}",
    }
    recorded = (await suite.gql(RECORD_PAYMENT, {"input": payment_input}, as_=org.finance)).ok()
    payment = recorded["recordPayment"]["payment"]
    assert recorded["recordPayment"]["duplicate"] is False
    assert payment["bankReference"] == bank_reference
    assert payment["amount"] == {"amount": "1001.00", "currency": "CNY"}
    assert payment["currency"] == "CNY"
    assert payment["reversed"] is False and payment["reversalKind"] is None
    assert payment["recordedBy"] == {"id": employee_id(org.finance)}
    # The same bank line again is the same payment.
    again = (await suite.gql(RECORD_PAYMENT, {"input": payment_input}, as_=org.finance)).ok()
    assert again["recordPayment"]["duplicate"] is True
    assert again["recordPayment"]["payment"]["id"] == payment["id"]

    # A rep records no payments.
    refused = await suite.gql(
        RECORD_PAYMENT, {"input": {**payment_input, "bankReference": unique("B")}}, as_=org.junior
    )
    assert refused.codes == ["FORBIDDEN"]

    as_of = today().isoformat()
    ran = (await suite.gql(RUN_RECONCILIATION, {"input": {"asOf": as_of}}, as_=org.finance)).ok()
    counts = ran["runReconciliation"]
    assert counts["orders"] >= 1 and counts["reconciled"] >= 1 and counts["paymentsMatched"] >= 1

    item = await find_item(suite, org.finance, order["id"], asOf=as_of, states=["RECONCILED"])
    assert item["status"] == "RECONCILED"
    assert (item["paid"], item["due"]) == (cny("1001.00"), cny("0.00"))
    assert item["pastDue"] is False
    assert item["order"]["code"] == order["code"]
    assert item["order"]["customer"] == {"id": customer["id"]}
    assert item["expectedPaymentDate"] == order["expectedPaymentDate"]
    # The branch manager reads the branch's reconciliation too.
    assert (await find_item(suite, org.manager, order["id"], asOf=as_of))["status"] == "RECONCILED"
    # A rep does not.
    assert (await suite.gql(RECONCILIATION, {"asOf": as_of}, as_=org.junior)).codes == ["FORBIDDEN"]

    # The order and its payment now point at each other.
    query = """query($id: ID!) { order(id: $id) {
      paymentState paidAmount { amount currency } fullyPaidAt
      payments(first: 5) { totalCount edges { node { id matchedBy order { id } customer { id } } } }
    } }"""
    shown = (await suite.gql(query, {"id": order["id"]}, as_=org.finance)).ok()["order"]
    assert shown["paymentState"] == "RECONCILED"
    assert shown["paidAmount"] == cny("1001.00")
    assert shown["fullyPaidAt"] is not None
    assert shown["payments"]["totalCount"] == 1
    [edge] = shown["payments"]["edges"]
    assert edge["node"] == {
        "id": payment["id"],
        "matchedBy": "ORDER_CODE",
        "order": {"id": order["id"]},
        "customer": {"id": customer["id"]},
    }
    listed = """query($order: ID!) { payments(first: 5, filter: {orderId: $order}) {
      edges { node { id } } } }"""
    data = (await suite.gql(listed, {"order": order["id"]}, as_=org.finance)).ok()
    assert [e["node"]["id"] for e in data["payments"]["edges"]] == [payment["id"]]


async def test_an_unpaid_order_past_due_is_a_suspected_fake_deal(suite: Suite) -> None:
    org = await make_org(suite)
    customer = await register(suite, org.junior)
    order = await submit(
        suite,
        org.junior,
        customer["id"],
        orderDate=(today() - timedelta(days=20)).isoformat(),
        # Past due by more than the policy's grace (fake_deal.grace_days, 7).
        expectedPaymentDate=(today() - timedelta(days=10)).isoformat(),
    )
    # Dated before the customer was registered (O3).
    assert order["flags"] == ["UNREGISTERED_CUSTOMER"]
    (await decide(suite, org.manager, order["id"])).ok()
    as_of = today().isoformat()
    ran = (await suite.gql(RUN_RECONCILIATION, {"input": {"asOf": as_of}}, as_=org.finance)).ok()
    assert ran["runReconciliation"]["alertsRaised"] >= 1

    item = await find_item(suite, org.manager, order["id"], asOf=as_of, states=["UNPAID"])
    assert item["status"] == "UNPAID"
    assert (item["paid"], item["due"]) == (cny("0.00"), order["total"])
    assert item["pastDue"] is True

    query = """query($orderId: ID!) {
      alerts(first: 10, filter: {orderId: $orderId, kinds: [FAKE_DEAL_SUSPECTED]}) {
        edges { node { kind rule message order { id paymentState } } } } }"""
    data = (await suite.gql(query, {"orderId": order["id"]}, as_=org.manager)).ok()
    [edge] = data["alerts"]["edges"]
    assert (edge["node"]["kind"], edge["node"]["rule"]) == ("FAKE_DEAL_SUSPECTED", "O5")
    assert order["code"] in edge["node"]["message"]
    assert edge["node"]["order"] == {"id": order["id"], "paymentState": "UNPAID"}
    # Re-running raises nothing twice.
    (await suite.gql(RUN_RECONCILIATION, {"input": {"asOf": as_of}}, as_=org.finance)).ok()
    data = (await suite.gql(query, {"orderId": order["id"]}, as_=org.manager)).ok()
    assert len(data["alerts"]["edges"]) == 1


async def test_diversion_detection_is_for_hr(suite: Suite, shop: Shop) -> None:
    mutation = """mutation($input: DetectDiversionRiskInput) {
      detectDiversionRisk(input: $input) { customersChecked alertsRaised } }"""
    ran = await suite.gql(mutation, {"input": {"asOf": today().isoformat()}}, as_=shop.org.hr)
    counts = ran.ok()["detectDiversionRisk"]
    assert counts["customersChecked"] >= 0 and counts["alertsRaised"] >= 0
    refused = await suite.gql(mutation, {"input": {}}, as_=shop.org.junior)
    assert refused.data == {"detectDiversionRisk": None}
    assert refused.codes == ["FORBIDDEN"]


def unmatched_payment(amount: str) -> dict[str, Any]:
    """A payment's input quoting no order, paid just now."""
    return {
        "bankReference": unique("BANK"),
        "payerName": "Somebody",
        "amount": amount,
        "currency": "CNY",
        "paidAt": datetime.now(UTC).isoformat(),
    }


async def test_a_payment_is_reversed_never_deleted(suite: Suite) -> None:
    org = await make_org(suite)
    values = unmatched_payment("12.50")
    recorded = (await suite.gql(RECORD_PAYMENT, {"input": values}, as_=org.finance)).ok()
    payment_id = recorded["recordPayment"]["payment"]["id"]
    reverse = """mutation($input: ReversePaymentInput!) { reversePayment(input: $input) {
      payment { id reversed reversalKind reversalReason reversedAt reversedBy { id } amount { amount currency } } } }"""
    result = await suite.gql(
        reverse,
        {"input": {"paymentId": payment_id, "kind": "REFUND", "reason": "returned goods"}},
        as_=org.finance,
    )
    reversed_ = result.ok()["reversePayment"]["payment"]
    assert reversed_["reversed"] is True
    assert (reversed_["reversalKind"], reversed_["reversalReason"]) == ("REFUND", "returned goods")
    assert reversed_["reversedBy"] == {"id": employee_id(org.finance)}
    assert reversed_["reversedAt"] is not None
    assert reversed_["amount"]["amount"] == "12.50"


async def test_an_invalid_payment_amount_names_the_field(suite: Suite) -> None:
    org = await make_org(suite)
    values = unmatched_payment("12.505")
    result = await suite.gql(RECORD_PAYMENT, {"input": values}, as_=org.finance)
    assert result.codes == ["VALIDATION"]
    assert result.errors[0]["extensions"]["field"] == "amount"


async def test_a_bank_statement_is_imported_whole_or_not_at_all(suite: Suite) -> None:
    org = await make_org(suite)
    run = """mutation($input: ImportPaymentsInput!) {
      importPayments(input: $input) { applied accepted duplicates rows rejected { line field reason } } }"""
    paid_at = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    header = "bank_reference,paid_at,amount,currency,payer_name,payer_account,reference_text\n"
    good = [
        f"{unique('S')},{paid_at},{amount},CNY,Payer {n},,statement"
        for n, amount in (
            (1, "10.00"),
            (2, "20.50"),
        )
    ]

    async def imported(text: str) -> dict[str, Any]:
        key = await upload_payment_file(suite, org.finance, "STATEMENT", "text/csv", text.encode())
        result = await suite.gql(run, {"input": {"statementKey": key}}, as_=org.finance)
        return dict(result.ok()["importPayments"])

    bad = await imported(
        header + "\n".join([*good, f"{unique('S')},{paid_at},1.234,CNY,X,,y"]) + "\n"
    )
    assert (bad["applied"], bad["rows"]) == (False, 3)
    assert [(row["line"], row["field"]) for row in bad["rejected"]] == [(4, "amount")]

    applied = await imported(header + "\n".join(good) + "\n")
    assert applied == {"applied": True, "accepted": 2, "duplicates": 0, "rows": 2, "rejected": []}
    # The same lines again are duplicates, not new payments.
    again = await imported(header + "\n".join(good) + "\n")
    assert again == {"applied": True, "accepted": 0, "duplicates": 2, "rows": 2, "rejected": []}


async def test_a_payment_upload_needs_a_positive_size(suite: Suite, shop: Shop) -> None:
    query = """mutation { createPaymentUpload(input: {purpose: VOUCHER, contentType: "image/jpeg",
      sizeBytes: 0}) { key } }"""
    result = await suite.gql(query, as_=shop.org.finance)
    assert result.codes == ["VALIDATION"]
    assert result.errors[0]["extensions"]["field"] == "size_bytes"
    assert rpc_calls(result) == {}


async def test_shipments_and_transitions(suite: Suite) -> None:
    org = await make_org(suite)
    customer = await register(suite, org.junior)
    order = await submit(suite, org.junior, customer["id"])
    (await decide(suite, org.manager, order["id"])).ok()
    record = """mutation($input: RecordShipmentInput!) { recordShipment(input: $input) {
      shipment { id carrier trackingNumber shippedAt deliveredAt recordedAt order { id } } } }"""
    shipped_at = datetime.now(UTC) - timedelta(hours=5)
    values = {
        "orderId": order["id"],
        "carrier": "SF Express",
        "trackingNumber": unique("SF"),
        "shippedAt": shipped_at.isoformat(),
    }
    shipment = (await suite.gql(record, {"input": values}, as_=org.manager)).ok()["recordShipment"][
        "shipment"
    ]
    assert shipment["carrier"] == "SF Express"
    assert shipment["order"] == {"id": order["id"]}
    assert shipment["deliveredAt"] is None
    assert abs(datetime.fromisoformat(shipment["shippedAt"]) - shipped_at) < timedelta(seconds=1)

    # The same parcel again is the same shipment; a delivery time is added to it.
    delivered_at = datetime.now(UTC) - timedelta(minutes=5)
    again = (
        await suite.gql(
            record, {"input": {**values, "deliveredAt": delivered_at.isoformat()}}, as_=org.manager
        )
    ).ok()["recordShipment"]["shipment"]
    assert again["id"] == shipment["id"]
    assert abs(datetime.fromisoformat(again["deliveredAt"]) - delivered_at) < timedelta(seconds=1)

    query = """query($id: ID!) { order(id: $id) { shipped shipments { id trackingNumber } } }"""
    shown = (await suite.gql(query, {"id": order["id"]}, as_=org.junior)).ok()["order"]
    assert shown["shipped"] is True
    assert shown["shipments"] == [
        {"id": shipment["id"], "trackingNumber": values["trackingNumber"]}
    ]

    moved = await suite.gql(
        TRANSITION, {"input": {"orderId": order["id"], "to": "FULFILLED"}}, as_=org.manager
    )
    assert moved.ok()["transitionOrder"]["order"]["status"] == "FULFILLED"
    # A rep may only cancel, and not a fulfilled order.
    refused = await suite.gql(
        TRANSITION,
        {"input": {"orderId": order["id"], "to": "CLOSED", "reason": "done"}},
        as_=org.junior,
    )
    assert refused.data == {"transitionOrder": None}
    assert refused.codes[0] in {"FORBIDDEN", "FAILED_PRECONDITION"}


# --- alerts link to their order --------------------------------------------------------------


async def test_alerts_link_to_their_order(suite: Suite) -> None:
    org = await make_org(suite)
    customer = await register(suite, org.junior)
    # The senior of the team takes the junior's customer (O3: ATTRIBUTION_MISMATCH).
    order = await submit(suite, org.senior, customer["id"])
    data = (await suite.gql(ALERTS_OF_ORDER, {"orderId": order["id"]}, as_=org.manager)).ok()
    nodes = [edge["node"] for edge in data["alerts"]["edges"]]
    assert [(node["kind"], node["source"]) for node in nodes] == [
        ("ATTRIBUTION_MISMATCH", "orders")
    ]
    [node] = nodes
    assert node["orderId"] == order["id"]
    assert node["order"] == {"id": order["id"], "code": order["code"], "status": "SUBMITTED"}
    assert node["employee"] == {"id": employee_id(org.senior)}
    assert node["customer"] == {"id": customer["id"]}


async def test_an_alerts_order_is_null_when_out_of_sight(suite: Suite) -> None:
    org = await make_org(suite)
    customer = await register(suite, org.other_manager)
    elsewhere = await submit(suite, org.other_manager, customer["id"])
    # An alert of this branch about the other branch's order: its manager sees the
    # alert, but not the order.
    async with suite.running["orders"].runtime.db.transaction() as session:
        await raise_alert(
            session,
            OrdersAlert,
            AlertDraft(
                kind="FAKE_DEAL_SUSPECTED",
                dedupe_key=unique("orders-test"),
                employee_id=org.junior,
                order_id=service_id(elsewhere["id"]),
                branch_id=org.branch,
                detected_at=datetime.now(UTC),
                evidence={"order_code": elsewhere["code"]},
            ),
            source="orders",
        )
    data = (await suite.gql(ALERTS_OF_ORDER, {"orderId": elsewhere["id"]}, as_=org.manager)).ok()
    [edge] = data["alerts"]["edges"]
    assert edge["node"]["orderId"] == elsewhere["id"]
    assert edge["node"]["order"] is None
    # The other branch's manager sees the order (and not this branch's alert).
    theirs = await suite.gql(ALERTS_OF_ORDER, {"orderId": elsewhere["id"]}, as_=org.other_manager)
    assert theirs.ok()["alerts"]["edges"] == []


# --- a failing orders service fails only the fields that need it (G2) ---------------------------


async def test_without_the_orders_service_only_order_fields_fail(start_suite: StartSuite) -> None:
    suite = await start_suite()
    org = await make_org(suite)
    customer = await register(suite, org.junior)
    await suite.running["orders"].stop()
    query = """{ me { id } customers(first: 5) { edges { node { id } } }
                 orders(first: 5) { totalCount } }"""
    result = await suite.gql(query, as_=org.junior)
    assert result.status == 200
    assert result.data["me"] == {"id": employee_id(org.junior)}
    assert result.data["customers"]["edges"] == [{"node": {"id": customer["id"]}}]
    assert result.data["orders"] is None
    assert result.codes == ["UNAVAILABLE"]
    assert result.errors[0]["path"] == ["orders"]
