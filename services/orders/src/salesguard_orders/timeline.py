"""An employee's orders, approvals, payments and shipments, for their timeline.

One ``timeline.read`` decision; every item is in scope by its order's submitter,
team and branch (an approval by the order it decided). Approvals are the steps
decided on the employee's orders and those the employee decided (never the same
step: nobody approves their own order). Payments and shipments are those of the
employee's orders; a payment belongs to the order reconciliation matched it to,
else to the order it was recorded for.

Steps, payments and shipments carry their order's submitter (``order_submitted_by``,
copied from that order when the row is written or matched), so each kind's page is one
range of an (employee, time) index, not every employee's rows in the window joined to
their orders; each row's order is still read, for the scope (a ScopingRow).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import String, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from salesguard.grpc_server import Servicer
from salesguard.timeline import (
    Column,
    PresentedRow,
    Presenter,
    ScopingRow,
    TimelineKind,
    TimelineSources,
    each,
    employee_timeline_servicer,
)
from salesguard_api.orders.v1 import orders_pb2, timeline_pb2_grpc
from salesguard_api.orders.v1 import timeline_pb2 as pb
from salesguard_orders.models import ApprovalStep, Order, Payment, Shipment, format_order_code
from salesguard_orders.ordering import ORDER_SCOPE, Orders, present_orders, step_to_proto
from salesguard_orders.payments import payment_to_proto, shipment_to_proto

ORDER = pb.ORDERS_TIMELINE_KIND_ORDER
APPROVAL = pb.ORDERS_TIMELINE_KIND_APPROVAL
PAYMENT = pb.ORDERS_TIMELINE_KIND_PAYMENT
SHIPMENT = pb.ORDERS_TIMELINE_KIND_SHIPMENT


def _order_of(order_id: Column, *, lateral: bool) -> ScopingRow:
    """The order of each row of a kind, for its scope (and an approval's order number)."""
    return ScopingRow(
        Order.id,
        order_id,
        ORDER_SCOPE,
        lateral=lateral,
        name="timeline_order",
        columns=(Order.number,),
    )


def _sources(*, lateral: bool) -> TimelineSources:
    step_order = _order_of(ApprovalStep.order_id, lateral=lateral)
    # A payment's order: the reconciled match, else the order it was recorded for.
    payment_order = _order_of(
        func.coalesce(Payment.order_id, Payment.stated_order_id), lateral=lateral
    )
    shipment_order = _order_of(Shipment.order_id, lateral=lateral)

    def approvals(*, decided_by_employee: bool) -> TimelineKind:
        return TimelineKind(
            APPROVAL,
            step_order.join(select(ApprovalStep, step_order.column(Order.number))),
            employee=ApprovalStep.approver_id
            if decided_by_employee
            else ApprovalStep.order_submitted_by,
            at=ApprovalStep.decided_at,
            # Unique per step; digits and hex sort alike in every collation.
            id=ApprovalStep.order_id.concat(cast(ApprovalStep.sequence, String)),
            scope=step_order.scope,
        )

    def of_orders(
        kind: int, entity: Any, order: ScopingRow, employee: Column, at: Column
    ) -> TimelineKind:
        """A kind of rows about the employee's orders (``employee``: the order's submitter,
        as the row carries it): theirs and in scope by the order."""
        return TimelineKind(
            kind, order.join(select(entity)), employee=employee, at=at, scope=order.scope
        )

    return TimelineSources(
        TimelineKind(
            ORDER,
            select(Order),
            employee=Order.submitted_by,
            at=Order.submitted_at,
            scope=ORDER_SCOPE,
        ),
        approvals(decided_by_employee=False),
        approvals(decided_by_employee=True),
        of_orders(PAYMENT, Payment, payment_order, Payment.order_submitted_by, Payment.paid_at),
        of_orders(
            SHIPMENT, Shipment, shipment_order, Shipment.order_submitted_by, Shipment.shipped_at
        ),
    )


# PostgreSQL's (what the benchmark EXPLAINs), and SQLite's.
sources = _sources(lateral=True)
JOINED_SOURCES = _sources(lateral=False)
KINDS = sources.kinds


async def _present_orders(
    session: AsyncSession, rows: Sequence[PresentedRow], request: object
) -> list[orders_pb2.Order]:
    # Lines and steps of every order on the page in one query each.
    return await present_orders(session, [row[0] for row in rows])


async def _present_approvals(
    session: AsyncSession, rows: Sequence[PresentedRow], request: object
) -> list[pb.TimelineApproval]:
    # Each row: the step and its order's number (then the timeline's own columns).
    return [
        pb.TimelineApproval(
            order_id=row[0].order_id,
            order_code=format_order_code(row[1]),
            step=step_to_proto(row[0]),
        )
        for row in rows
    ]


PRESENTERS: dict[int, Presenter] = {
    ORDER: Presenter("order", _present_orders),
    APPROVAL: Presenter("approval", _present_approvals),
    PAYMENT: each("payment", payment_to_proto),
    SHIPMENT: each("shipment", shipment_to_proto),
}


def timeline_servicer(orders: Orders) -> Servicer:
    return employee_timeline_servicer(
        timeline_pb2_grpc.OrdersTimelineServiceServicer,
        orders,
        JOINED_SOURCES if orders.db.is_sqlite else sources,
        PRESENTERS,
    )
