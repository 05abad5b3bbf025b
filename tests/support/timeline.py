"""What the timeline tests share (on the full profile and the gateway's own): the
``employeeTimeline`` query, a place for check-ins that no other test's customer is near,
and the follow-ups and orders a rep's day is made of."""

from __future__ import annotations

import random
from datetime import datetime
from typing import Any

from tests.harness import Suite
from tests.support.geo import offset

# What a timeline item is, and what each kind but alerts holds (a reader adds the alert's
# fields it wants).
ITEM_FIELDS = """
      __typename at kind day
      ... on CheckInItem { checkIn { id verdict reasons { code } photos { key } } }
      ... on FollowUpItem { followUp { id kind customer { id } } }
      ... on CallItem { call { id number direction } }
      ... on OrderItem { order { id code status } }
      ... on ApprovalItem { orderCode step { status approverId } decidedOrder { id } }
      ... on PaymentItem { payment { id amount { amount currency } order { id } } }
      ... on ShipmentItem { shipment { id trackingNumber order { id } } }
      ... on AuditEventItem { event { id action customerIds actor { id } } }"""
TIMELINE = (
    """
query($employeeId: ID!, $from: DateTime!, $to: DateTime!, $first: Int, $after: String,
      $kinds: [TimelineKind!]) {
  employeeTimeline(employeeId: $employeeId, from: $from, to: $to, first: $first, after: $after,
                   kinds: $kinds) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node {"""
    + ITEM_FIELDS
    + """
      ... on AlertItem { alert { id kind employee { id } } }
    } }
  } }"""
)
FOLLOW_UP = """mutation($input: RecordFollowUpInput!) {
  recordFollowUp(input: $input) { followUp { id } } }"""
SUBMIT = """mutation($input: SubmitOrderInput!) {
  submitOrder(input: $input) { order { id code total { amount currency } } } }"""

# Around Chongqing, where no other test registers customers: a check-in here raises no
# alert about a customer site another test registered nearby.
CHONGQING = (29.5630, 106.5516)


def somewhere_of_its_own() -> tuple[float, float]:
    return offset(CHONGQING, random.uniform(0, 40_000), random.uniform(0, 360))


async def record_follow_up(
    suite: Suite, rep: str, customer_id: str, kind: str, at: datetime | None = None
) -> dict[str, Any]:
    """The rep records a follow-up of ``customer_id`` (now, unless ``at``)."""
    values = {"customerId": customer_id, "kind": kind}
    if at is not None:
        values["at"] = at.isoformat()
    result = await suite.gql(FOLLOW_UP, {"input": values}, as_=rep)
    return dict(result.ok()["recordFollowUp"]["followUp"])


async def submit_order(
    suite: Suite, rep: str, customer_id: str, *, quantity: str, unit_price: str
) -> dict[str, Any]:
    """The rep submits a one-line CNY order for ``customer_id``."""
    line = {"sku": "SKU-1", "quantity": quantity, "unitPrice": unit_price}
    values = {"customerId": customer_id, "currency": "CNY", "lines": [line]}
    result = await suite.gql(SUBMIT, {"input": values}, as_=rep)
    return dict(result.ok()["submitOrder"]["order"])
