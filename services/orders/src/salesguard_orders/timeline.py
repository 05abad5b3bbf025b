"""An employee's orders, approvals, payments and shipments, for their timeline.

One ``timeline.read`` decision; every item is in scope by its order's submitter,
team and branch (an approval by the order it decided). Approvals are the steps
decided on the employee's orders and those the employee decided (never the same
step: nobody approves their own order). Payments and shipments are those of the
employee's orders; a payment belongs to the order reconciliation matched it to,
else to the order it was recorded for.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import String, and_, cast, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from salesguard.grpc_server import ServicerContext
from salesguard.timeline import EmployeeTimeline, TimelineQuery, TimelineRow, TimelineSource
from salesguard.timeutil import to_timestamp
from salesguard_api.orders.v1 import timeline_pb2 as pb
from salesguard_api.orders.v1 import timeline_pb2_grpc
from salesguard_orders.models import ApprovalStep, Order, Payment, Shipment, format_order_code
from salesguard_orders.ordering import ORDER_SCOPE, Orders, present_orders, step_to_proto
from salesguard_orders.payments import payment_to_proto, shipment_to_proto

ORDER = pb.ORDERS_TIMELINE_KIND_ORDER
APPROVAL = pb.ORDERS_TIMELINE_KIND_APPROVAL
PAYMENT = pb.ORDERS_TIMELINE_KIND_PAYMENT
SHIPMENT = pb.ORDERS_TIMELINE_KIND_SHIPMENT
KINDS = (ORDER, APPROVAL, PAYMENT, SHIPMENT)

# A payment's order: the reconciled match, else the order it was recorded for.
_PAYMENT_ORDER = or_(
    Payment.order_id == Order.id,
    and_(Payment.order_id.is_(None), Payment.stated_order_id == Order.id),
)


def _approvals(query: TimelineQuery, *, decided_by_employee: bool) -> TimelineSource:
    return query.source(
        APPROVAL,
        select(ApprovalStep, Order.number).join(Order, Order.id == ApprovalStep.order_id),
        employee=ApprovalStep.approver_id if decided_by_employee else Order.submitted_by,
        at=ApprovalStep.decided_at,
        # Unique per step; digits and hex sort alike in every collation.
        id=ApprovalStep.order_id.concat(cast(ApprovalStep.sequence, String)),
        scope=ORDER_SCOPE,
    )


def sources(query: TimelineQuery) -> list[TimelineSource]:
    return [
        query.source(
            ORDER,
            select(Order),
            employee=Order.submitted_by,
            at=Order.submitted_at,
            id=Order.id,
            scope=ORDER_SCOPE,
        ),
        _approvals(query, decided_by_employee=False),
        _approvals(query, decided_by_employee=True),
        query.source(
            PAYMENT,
            select(Payment).join(Order, _PAYMENT_ORDER),
            employee=Order.submitted_by,
            at=Payment.paid_at,
            id=Payment.id,
            scope=ORDER_SCOPE,
        ),
        query.source(
            SHIPMENT,
            select(Shipment).join(Order, Order.id == Shipment.order_id),
            employee=Order.submitted_by,
            at=Shipment.shipped_at,
            id=Shipment.id,
            scope=ORDER_SCOPE,
        ),
    ]


async def present(
    session: AsyncSession, rows: Sequence[TimelineRow]
) -> list[pb.OrdersTimelineItem]:
    # Lines and steps of every order on the page in one query each.
    presented = iter(
        await present_orders(session, [entry.row[0] for entry in rows if entry.kind == ORDER])
    )
    items = []
    for entry in rows:
        item = pb.OrdersTimelineItem(at=to_timestamp(entry.at))
        row = entry.row
        if entry.kind == ORDER:
            item.order.CopyFrom(next(presented))
        elif entry.kind == APPROVAL:
            item.approval.CopyFrom(
                pb.TimelineApproval(
                    order_id=row[0].order_id,
                    order_code=format_order_code(row[1]),
                    step=step_to_proto(row[0]),
                )
            )
        elif entry.kind == PAYMENT:
            item.payment.CopyFrom(payment_to_proto(row[0]))
        else:
            item.shipment.CopyFrom(shipment_to_proto(row[0]))
        items.append(item)
    return items


class OrdersTimelineServicer(timeline_pb2_grpc.OrdersTimelineServiceServicer):
    def __init__(self, orders: Orders) -> None:
        self._timeline = EmployeeTimeline(
            orders.db, orders.policy, orders.settings.page_limits, KINDS, sources
        )

    async def ListEmployeeTimeline(
        self, request: pb.ListEmployeeTimelineRequest, context: ServicerContext
    ) -> pb.ListEmployeeTimelineResponse:
        return await self._timeline.serve(request, present, pb.ListEmployeeTimelineResponse)
