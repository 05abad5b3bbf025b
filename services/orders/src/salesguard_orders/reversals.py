"""Reversed payments for clawbacks: what the commissions service takes back."""

from __future__ import annotations

from collections.abc import AsyncIterator

from sqlalchemy import select

from salesguard.errors import InvalidInput
from salesguard.money import to_proto
from salesguard.principal import current_principal
from salesguard.service import Runtime
from salesguard.timeutil import from_timestamp, to_timestamp
from salesguard_api.orders.v1 import payments_pb2 as pb
from salesguard_orders.models import Order, Payment
from salesguard_orders.payments import reversal_kind_to_proto
from salesguard_orders.settings import OrdersSettings

# The commissions feed is one SYSTEM action, for valid orders and reversals alike.
ACTION = "orders.stream_valid"


async def stream_reversals(
    runtime: Runtime[OrdersSettings], request: pb.StreamPaymentReversalsRequest
) -> AsyncIterator[pb.StreamPaymentReversalsResponse]:
    """Matched payments reversed in [from, to), oldest first, in batches."""
    (await runtime.policy.decide(current_principal(), ACTION)).require(ACTION)
    start, end = (
        from_timestamp(request.reversed_from, "reversed_from"),
        from_timestamp(request.reversed_to, "reversed_to"),
    )
    if start is None or end is None or not start < end:
        raise InvalidInput(
            "reversed_from", "a range with reversed_from before reversed_to is required"
        )
    query = (
        select(
            Payment.id,
            Payment.order_id,
            Payment.amount_minor,
            Payment.currency,
            Payment.reversal_kind,
            Payment.reversed_at,
            Order.submitted_by,
            Order.branch_id,
        )
        .join(Order, Order.id == Payment.order_id)
        .where(Payment.reversed.is_(True), Payment.reversed_at >= start, Payment.reversed_at < end)
        .order_by(Payment.reversed_at, Payment.id)
    )
    size = runtime.settings.stream_batch_size
    async with runtime.db.read() as session:
        result = await session.stream(query.execution_options(yield_per=size))
        async for rows in result.partitions(size):
            yield pb.StreamPaymentReversalsResponse(
                reversals=[
                    pb.PaymentReversal(
                        payment_id=row.id,
                        order_id=row.order_id,
                        amount=to_proto(row.amount_minor),
                        currency=row.currency,
                        kind=reversal_kind_to_proto(row.reversal_kind),
                        reversed_at=to_timestamp(row.reversed_at),
                        submitted_by=row.submitted_by,
                        branch_id=row.branch_id or "",
                    )
                    for row in rows
                ]
            )
