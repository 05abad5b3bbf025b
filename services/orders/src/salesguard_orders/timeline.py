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
their orders; the join to the order remains, for the scope.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, Select, String, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from salesguard.grpc_server import Servicer
from salesguard.policy import ScopeColumns
from salesguard.timeline import (
    Column,
    Presenter,
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


class _OrderOf:
    """The order of each row of a kind, for its scope (and an approval's order number).

    Each of its columns is read per row by the order's key, as a scalar subquery, not
    joined: joined, a manager's page was planned as every order of their branch hashed
    against the employee's rows in the window, then sorted (the planner cannot know that
    an employee's orders are in their branch). A scalar subquery is not flattened into a
    join, so the page is read as the employee's rows newest first, each looking up its
    order, and stops after a page (a manager's payments at 0.58M rows: 7.7 ms -> ~0.5 ms,
    and no longer growing with the branch's orders). ``exists``: the row has an order (as
    the join required; steps and shipments always do, by their foreign key)."""

    def __init__(self, order_id: Column) -> None:
        def of_order(column: Column) -> Any:
            return select(column).where(Order.id == order_id).limit(1).scalar_subquery()

        self.number = of_order(Order.number)
        self.exists = of_order(Order.id).is_not(None)
        # ScopeColumns names mapped attributes; an order's columns read per row filter alike.
        self.scope = ScopeColumns(
            owner=of_order(Order.submitted_by),
            team=of_order(Order.team_id),
            branch=of_order(Order.branch_id),
        )


_STEP_ORDER = _OrderOf(ApprovalStep.order_id)
# A payment's order: the reconciled match, else the order it was recorded for.
_PAYMENT_ORDER = _OrderOf(func.coalesce(Payment.order_id, Payment.stated_order_id))
_SHIPMENT_ORDER = _OrderOf(Shipment.order_id)


def _approvals(*, decided_by_employee: bool) -> TimelineKind:
    return TimelineKind(
        APPROVAL,
        select(ApprovalStep, _STEP_ORDER.number.label("order_number")),
        employee=ApprovalStep.approver_id
        if decided_by_employee
        else ApprovalStep.order_submitted_by,
        at=ApprovalStep.decided_at,
        # Unique per step; digits and hex sort alike in every collation.
        id=ApprovalStep.order_id.concat(cast(ApprovalStep.sequence, String)),
        scope=_STEP_ORDER.scope,
    )


def _of_orders(
    kind: int, statement: Select[Any], order: _OrderOf, employee: Column, at: Column
) -> TimelineKind:
    """A kind of rows about the employee's orders (``employee``: the order's submitter, as
    the row carries it): theirs and in scope by the order."""
    return TimelineKind(kind, statement, employee=employee, at=at, scope=order.scope)


sources = TimelineSources(
    TimelineKind(
        ORDER,
        select(Order),
        employee=Order.submitted_by,
        at=Order.submitted_at,
        scope=ORDER_SCOPE,
    ),
    _approvals(decided_by_employee=False),
    _approvals(decided_by_employee=True),
    _of_orders(
        PAYMENT,
        select(Payment).where(_PAYMENT_ORDER.exists),
        _PAYMENT_ORDER,
        Payment.order_submitted_by,
        Payment.paid_at,
    ),
    _of_orders(
        SHIPMENT,
        select(Shipment),
        _SHIPMENT_ORDER,
        Shipment.order_submitted_by,
        Shipment.shipped_at,
    ),
)
KINDS = sources.kinds


async def _present_orders(
    session: AsyncSession, rows: Sequence[Row[Any]], request: object
) -> list[orders_pb2.Order]:
    # Lines and steps of every order on the page in one query each.
    return await present_orders(session, [row[0] for row in rows])


async def _present_approvals(
    session: AsyncSession, rows: Sequence[Row[Any]], request: object
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
        timeline_pb2_grpc.OrdersTimelineServiceServicer, orders, sources, PRESENTERS
    )
