"""Orders as protos: lines, approval steps and the order, loaded without N+1."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from salesguard import money, validation
from salesguard.batching import chunks
from salesguard.timeutil import to_timestamp
from salesguard_api.customers.v1 import customers_pb2
from salesguard_api.orders.v1 import orders_pb2 as pb
from salesguard_orders.models import UNPAID_STATE, ApprovalStep, Order, OrderLine, OrderPaymentState

ORDER_STATUSES = validation.enum_names(pb.OrderStatus, "ORDER_STATUS_")
PAYMENT_STATES = validation.enum_names(pb.PaymentState, "PAYMENT_STATE_")
SOURCES = validation.enum_names(customers_pb2.SourceChannel, "SOURCE_CHANNEL_")


def _source(name: str) -> customers_pb2.SourceChannel.ValueType:
    return customers_pb2.SourceChannel.Value(
        f"SOURCE_CHANNEL_{name}" if name in SOURCES.values() else "SOURCE_CHANNEL_UNSPECIFIED"
    )


def line_to_proto(row: OrderLine) -> pb.OrderLine:
    return pb.OrderLine(
        sku=row.sku,
        description=row.description,
        quantity=money.quantity_to_proto(row.quantity_milli),
        unit_price=money.to_proto(row.unit_price_minor),
        discount_percent=money.percent_to_proto(row.discount_basis_points),
        line_total=money.to_proto(row.line_total_minor),
    )


def step_to_proto(row: ApprovalStep) -> pb.ApprovalStep:
    return pb.ApprovalStep(
        sequence=row.sequence,
        role=row.role,
        status=pb.StepStatus.Value(f"STEP_STATUS_{row.status}"),
        approver_id=row.approver_id or "",
        comment=row.comment,
        decided_at=to_timestamp(row.decided_at),
        reason=row.reason,
    )


def order_to_proto(
    row: Order,
    lines: Sequence[OrderLine],
    steps: Sequence[ApprovalStep],
    paid: OrderPaymentState | None = None,
) -> pb.Order:
    """An order with its lines and steps (pass them sorted by line_no / sequence) and its
    payment state (none: unpaid)."""
    return pb.Order(
        id=row.id,
        code=row.code,
        customer_id=row.customer_id,
        owner_id=row.owner_id or "",
        submitted_by=row.submitted_by,
        team_id=row.team_id or "",
        branch_id=row.branch_id or "",
        lines=[line_to_proto(line) for line in lines],
        currency=row.currency,
        total=money.to_proto(row.total_minor),
        order_date=row.order_date.isoformat(),
        expected_payment_date=row.expected_payment_date.isoformat(),
        source_claim=_source(row.source_claim),
        registered_source=_source(row.registered_source),
        status=pb.OrderStatus.Value(f"ORDER_STATUS_{row.status}"),
        approval_steps=[step_to_proto(step) for step in steps],
        flags=list(row.flags or []),
        submitted_at=to_timestamp(row.submitted_at),
        updated_at=to_timestamp(row.updated_at),
        payment_state=pb.PaymentState.Value(
            f"PAYMENT_STATE_{paid.payment_state if paid else UNPAID_STATE}"
        ),
        paid_amount=money.to_proto(paid.paid_minor if paid else 0),
        fully_paid_at=to_timestamp(paid.fully_paid_at if paid else None),
        shipped=row.shipped,
        note=row.note,
        promised_ship_date=(
            row.promised_ship_date.isoformat() if row.promised_ship_date is not None else ""
        ),
    )


async def payment_states(
    session: AsyncSession, numbers: Iterable[int]
) -> dict[int, OrderPaymentState]:
    """The payment states of the orders numbered ``numbers`` that have one, in one query
    per thousand (an order without one is unpaid)."""
    wanted = list(dict.fromkeys(numbers))
    states: dict[int, OrderPaymentState] = {}
    for chunk in chunks(wanted, 1000):
        for state in await session.scalars(
            select(OrderPaymentState).where(OrderPaymentState.order_number.in_(chunk))
        ):
            states[state.order_number] = state
    return states


async def present_orders(session: AsyncSession, rows: Sequence[Order]) -> list[pb.Order]:
    """Orders as protos, their lines, steps and payment states loaded in one query each
    (no N+1)."""
    if not rows:
        return []
    lines: dict[str, list[OrderLine]] = {}
    steps: dict[str, list[ApprovalStep]] = {}
    paid = await payment_states(session, (row.number for row in rows))
    ids = list(dict.fromkeys(row.id for row in rows))
    for chunk in chunks(ids, 1000):
        for line in await session.scalars(
            select(OrderLine)
            .where(OrderLine.order_id.in_(chunk))
            .order_by(OrderLine.order_id, OrderLine.line_no)
        ):
            lines.setdefault(line.order_id, []).append(line)
        for step in await session.scalars(
            select(ApprovalStep)
            .where(ApprovalStep.order_id.in_(chunk))
            .order_by(ApprovalStep.order_id, ApprovalStep.sequence)
        ):
            steps.setdefault(step.order_id, []).append(step)
    return [
        order_to_proto(row, lines.get(row.id, []), steps.get(row.id, []), paid.get(row.number))
        for row in rows
    ]
