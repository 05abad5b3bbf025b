"""StreamValidOrders: the valid orders of a period, what the commissions service prices.

An order is valid once approved (or fulfilled, closed) and reconciled or overpaid
(:mod:`salesguard_orders.rules.reconciliation`); the stream gives those fully paid in
[paid_from, paid_to), of one branch or every branch the caller's scope covers, oldest
payment first, in batches of ``stream_batch_size``.

The feed of a commission run (a million orders a month): the rows are read as plain rows
on the session's connection (no ORM loading) and each message is built field by field.
The valid orders are read from their payment states (``order_payment_states``) by the
moment they were fully paid, each joined to its order by number.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, select

from salesguard.errors import InvalidInput
from salesguard.policy import scope_filter
from salesguard.principal import current_principal
from salesguard.service import Runtime
from salesguard.timeutil import from_timestamp
from salesguard_api.orders.v1 import payments_pb2 as pb
from salesguard_orders.models import Order, OrderPaymentState
from salesguard_orders.ordering import ORDER_SCOPE
from salesguard_orders.presentation import SOURCES
from salesguard_orders.rules.reconciliation import CLASSIFIED, VALID_STATES
from salesguard_orders.settings import OrdersSettings

ACTION = "orders.stream_valid"
SOURCE_VALUES = {name: number for number, name in SOURCES.items()}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


async def stream_valid_orders(
    runtime: Runtime[OrdersSettings], request: pb.StreamValidOrdersRequest
) -> AsyncIterator[pb.StreamValidOrdersResponse]:
    decision = (await runtime.policy.decide(current_principal(), ACTION)).require(ACTION)
    paid_from = from_timestamp(request.paid_from, "paid_from")
    paid_to = from_timestamp(request.paid_to, "paid_to")
    if paid_from is None or paid_to is None:
        raise InvalidInput("paid_from", "paid_from and paid_to are required")
    if paid_from >= paid_to:
        raise InvalidInput("paid_to", "paid_to must be after paid_from")
    conditions: list[Any] = [
        scope_filter(decision, ORDER_SCOPE),
        Order.status.in_(CLASSIFIED),
        OrderPaymentState.payment_state.in_(VALID_STATES),
        OrderPaymentState.fully_paid_at >= paid_from,
        OrderPaymentState.fully_paid_at < paid_to,
    ]
    if request.branch_id:
        # Both copies of the branch: the states' for their range, the orders' so that the
        # planner joins only the branch's orders (6 ms a branch at 100k orders, against
        # 27-60 ms with either alone).
        conditions.append(OrderPaymentState.branch_id == request.branch_id)
        conditions.append(Order.branch_id == request.branch_id)
    batch = runtime.settings.stream_batch_size
    query = (
        select(
            Order.id,
            Order.number,
            Order.customer_id,
            Order.submitted_by,
            Order.team_id,
            Order.branch_id,
            Order.total_minor,
            Order.currency,
            OrderPaymentState.fully_paid_at,
            Order.source_claim,
        )
        .join(Order, Order.number == OrderPaymentState.order_number)
        .where(*conditions)
        # A branch's: one range of the payment states' index of (branch, fully paid, order
        # number), in order.
        .order_by(OrderPaymentState.fully_paid_at, OrderPaymentState.order_number)
        .execution_options(yield_per=batch)
    )
    async with runtime.db.read() as session:
        connection = await session.connection()
        result = await connection.stream(query)
        async for rows in result.partitions(batch):
            yield valid_orders_batch(rows)


def valid_orders_batch(rows: Sequence[Row[Any]]) -> pb.StreamValidOrdersResponse:
    """One message of the stream, built field by field (the hot loop of a million orders)."""
    response = pb.StreamValidOrdersResponse()
    add = response.orders.add
    sources = SOURCE_VALUES
    epoch = EPOCH
    for (
        order_id,
        number,
        customer_id,
        submitted_by,
        team_id,
        branch_id,
        total_minor,
        currency,
        fully_paid_at,
        source_claim,
    ) in rows:
        order = add(
            order_id=order_id,
            code=f"O-{number:06d}",
            customer_id=customer_id,
            submitted_by=submitted_by,
            team_id=team_id or "",
            branch_id=branch_id or "",
            currency=currency,
            source_claim=sources.get(source_claim, 0),
        )
        whole, cents = divmod(total_minor, 100)
        order.total.value = f"{whole}.{cents:02d}"
        delta = fully_paid_at - epoch
        stamp = order.fully_paid_at
        stamp.seconds = delta.days * 86_400 + delta.seconds
        stamp.nanos = delta.microseconds * 1000
    return response
