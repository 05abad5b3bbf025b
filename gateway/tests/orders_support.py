"""What the gateway's orders tests share: the order operations and fields, submitting and
deciding through the gateway, and the module's shop (an org with two customers).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from tests.harness import GraphQLResult, Suite
from tests.org import Org

SHANGHAI = ZoneInfo("Asia/Shanghai")

ORDER_FIELDS = """
  id code currency total { amount currency } orderDate expectedPaymentDate sourceClaim
  registeredSource status flags submittedAt updatedAt paymentState
  paidAmount { amount currency } fullyPaidAt shipped note
  lines { sku description quantity unitPrice { amount currency } discountPercent
          lineTotal { amount currency } }
  approvalSteps { sequence role status comment decidedAt reason approverId approver { id } }
  customer { id code } owner { id } submittedBy { id } team { id } branch { id }
"""
SUBMIT = (
    "mutation($input: SubmitOrderInput!) { submitOrder(input: $input) { order { "
    + ORDER_FIELDS
    + " } } }"
)
DECIDE = """
mutation($input: DecideOrderInput!) {
  decideOrder(input: $input) {
    order { id status approvalSteps { sequence role status comment decidedAt approver { id } } }
  }
}
"""
TRANSITION = """
mutation($input: TransitionOrderInput!) { transitionOrder(input: $input) { order { id status } } }
"""
ONE = "query($id: ID!) { order(id: $id) { " + ORDER_FIELDS + " } }"
PAGE = """
query($filter: OrderFilter, $after: String) {
  orders(first: 100, filter: $filter, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id code status } }
  }
}
"""
PAGE_WITH_LINKS = """
query($filter: OrderFilter) {
  orders(first: 50, filter: $filter) {
    totalCount
    edges { node {
      id code total { amount currency }
      customer { id code name owner { id } }
      owner { id name }
      submittedBy { id name team { id } }
      team { id name }
      branch { id name }
      approvalSteps { role status }
    } }
  }
}
"""
RECORD_PAYMENT = """
mutation($input: RecordPaymentInput!) {
  recordPayment(input: $input) {
    duplicate
    payment {
      id bankReference payerName payerAccount amount { amount currency } currency paidAt referenceText voucherKey
      matchedBy reversed reversalKind reversalReason reversedAt recordedAt
      order { id } customer { id } recordedBy { id }
    }
  }
}
"""
RUN_RECONCILIATION = """
mutation($input: RunReconciliationInput) {
  runReconciliation(input: $input) {
    orders paymentsMatched paymentsUnmatched reconciled partiallyPaid unpaid overpaid alertsRaised
  }
}
"""
RECONCILIATION = """
query($asOf: Date, $states: [PaymentState!], $after: String) {
  reconciliation(asOf: $asOf, states: $states, first: 100, after: $after) {
    asOf totalCount pageInfo { hasNextPage endCursor }
    items { cursor order { id code total { amount currency } customer { id } } status paid { amount currency } due { amount currency }
            expectedPaymentDate pastDue }
    unmatchedPayments { id bankReference amount { amount currency } }
  }
}
"""
ALERTS_OF_ORDER = """
query($orderId: ID!) {
  alerts(first: 10, filter: {orderId: $orderId}) {
    edges { node { id kind source orderId employee { id } customer { id } order { id code status } } }
  }
}
"""


def today() -> date:
    """Today where the test org's branches are (Asia/Shanghai)."""
    return datetime.now(SHANGHAI).date()


def line(**extra: Any) -> dict[str, Any]:
    return {
        "sku": "SKU-1",
        "description": "Widget",
        "quantity": "2",
        "unitPrice": "100.00",
        **extra,
    }


async def submit_result(
    suite: Suite,
    as_: str,
    customer_id: str,
    lines: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> GraphQLResult:
    values = {"customerId": customer_id, "lines": lines or [line()], "currency": "CNY", **extra}
    return await suite.gql(SUBMIT, {"input": values}, as_=as_)


async def submit(
    suite: Suite,
    as_: str,
    customer_id: str,
    lines: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    result = await submit_result(suite, as_, customer_id, lines, **extra)
    return dict(result.ok()["submitOrder"]["order"])


async def decide(
    suite: Suite, as_: str, order_id: str, *, approve: bool = True, comment: str = "ok"
) -> GraphQLResult:
    values = {"orderId": order_id, "approve": approve, "comment": comment}
    return await suite.gql(DECIDE, {"input": values}, as_=as_)


async def order_ids(suite: Suite, as_: str, **filter: Any) -> set[str]:
    data = (await suite.gql(PAGE, {"filter": filter}, as_=as_)).ok()
    return {edge["node"]["id"] for edge in data["orders"]["edges"]}


def rpc_calls(result: GraphQLResult) -> dict[str, int]:
    return dict(result.body.get("extensions", {}).get("rpcCalls", {}))


@dataclass(frozen=True)
class Shop:
    """The module's org, with a customer of the junior's and one of the manager's."""

    org: Org
    customer: dict[str, Any]
    managers_customer: dict[str, Any]
