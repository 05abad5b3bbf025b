"""Shipments: who records that an order's parcel left and when it arrived, and that its
goods cannot ship yet (a back-order, with the day they are promised to ship).

Recording a shipment reconciles its order at once: a shipped order is no suspected
fake deal, and its payments are matched and classified. A back-order defers the fake-deal
check to its promised day, at most ``fake_deal.back_order_max_days`` after the due date.
The rules are :mod:`salesguard_orders.rules.payments` (which orders ship, deliveries after
shipping) and :mod:`salesguard_orders.rules.reconciliation` (past due, latest promise).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from salesguard import validation
from salesguard.db import new_id, utcnow
from salesguard.errors import FailedPrecondition, Forbidden, InvalidInput
from salesguard.idempotency import IdempotentWrites
from salesguard.policy import scope_filter
from salesguard.principal import Principal, current_principal
from salesguard.reads import one_by_id
from salesguard.service import Runtime
from salesguard.timeutil import from_timestamp, to_timestamp
from salesguard_api.orders.v1 import payments_pb2 as pb
from salesguard_orders.matching import Touched, fake_deal_thresholds
from salesguard_orders.models import ApprovalStep, BackOrder, IdempotencyKey, Order, Shipment
from salesguard_orders.ordering import ORDER_SCOPE, Orders, OrdersPart
from salesguard_orders.rules import approvals as approval_rules
from salesguard_orders.rules import payments as rules
from salesguard_orders.rules import reconciliation as reconciliation_rules
from salesguard_orders.settings import OrdersSettings

MAX_CARRIER = 100
MAX_TRACKING = 100
MAX_REASON = 500


def shipment_to_proto(row: Shipment) -> pb.Shipment:
    return pb.Shipment(
        id=row.id,
        order_id=row.order_id,
        carrier=row.carrier,
        tracking_number=row.tracking_number,
        shipped_at=to_timestamp(row.shipped_at),
        delivered_at=to_timestamp(row.delivered_at),
        recorded_at=to_timestamp(row.recorded_at),
    )


def back_order_to_proto(row: BackOrder) -> pb.BackOrder:
    return pb.BackOrder(
        id=row.id,
        order_id=row.order_id,
        promised_ship_date=row.promised_ship_date.isoformat(),
        reason=row.reason,
        recorded_by=row.recorded_by,
        recorded_at=to_timestamp(row.recorded_at),
    )


def shipment_fields(
    request: pb.RecordShipmentRequest, skew_seconds: int
) -> tuple[str, str, datetime, datetime | None]:
    """Carrier, tracking number, shipped and delivered time of a shipment, validated."""
    carrier = validation.text("carrier", request.carrier, required=True, max_length=MAX_CARRIER)
    tracking = validation.text(
        "tracking_number", request.tracking_number, required=True, max_length=MAX_TRACKING
    )
    shipped_at = from_timestamp(request.shipped_at, "shipped_at")
    delivered_at = from_timestamp(request.delivered_at, "delivered_at")
    now = utcnow()
    if shipped_at is None:
        raise InvalidInput("shipped_at", "shipped_at is required")
    validation.not_in_future("shipped_at", shipped_at, now=now, skew_seconds=skew_seconds)
    delivered_at = rules.check_delivery(shipped_at, delivered_at)
    if delivered_at is not None:
        validation.not_in_future("delivered_at", delivered_at, now=now, skew_seconds=skew_seconds)
    return carrier, tracking, shipped_at, delivered_at


class Shipments(OrdersPart):
    def __init__(self, runtime: Runtime[OrdersSettings], orders: Orders) -> None:
        super().__init__(runtime, orders)
        self.idempotent = IdempotentWrites(self.db, IdempotencyKey)

    async def _order_to_ship(
        self, session: AsyncSession, principal: Principal, order_id: str
    ) -> Order:
        """The order, locked (its reconciliation locks first, as for every write), once the
        caller may record its shipping (``shipments.record`` on its branch)."""
        await self.reconciler.lock(session, order_ids=[order_id])
        order = await one_by_id(session, Order, order_id, noun="order", lock=True)
        (
            await self.policy.decide(principal, "shipments.record", {"branch_id": order.branch_id})
        ).require("shipments.record")
        return order

    async def record_shipment(self, request: pb.RecordShipmentRequest) -> pb.Shipment:
        principal = current_principal()
        order_id = validation.record_id("order_id", request.order_id, required=True)

        async def work(session: AsyncSession) -> pb.RecordShipmentResponse:
            order = await self._order_to_ship(session, principal, order_id)
            # Judged once the caller may ship this order (issue 11 item 12).
            carrier, tracking, shipped_at, delivered_at = shipment_fields(
                request, self.settings.clock_skew_seconds
            )
            if not rules.can_ship(order.status):
                raise FailedPrecondition(
                    f"order {order.code} is {order.status}; only APPROVED or FULFILLED orders ship",
                    details={"status": order.status},
                )
            shipment = await session.scalar(
                select(Shipment).where(
                    Shipment.order_id == order.id,
                    Shipment.carrier == carrier,
                    Shipment.tracking_number == tracking,
                )
            )
            if shipment is not None:
                # The same parcel again: only a delivery time not known before is added.
                if rules.delivery_to_add(shipment.delivered_at, delivered_at):
                    shipment.delivered_at = rules.check_delivery(shipment.shipped_at, delivered_at)
            else:
                shipment = Shipment(
                    id=new_id(),
                    order_id=order.id,
                    carrier=carrier,
                    tracking_number=tracking,
                    shipped_at=shipped_at,
                    delivered_at=delivered_at,
                    recorded_at=utcnow(),
                    recorded_by=principal.id,
                    order_submitted_by=order.submitted_by,
                )
                session.add(shipment)
            if not order.shipped:
                order.shipped = True
                order.updated_at = utcnow()
            await session.flush()
            # A shipped order is no fake deal; its payments are matched and classified.
            await self.reconciler.reconcile(
                session, Touched(order_ids=frozenset({order.id})), utcnow()
            )
            return pb.RecordShipmentResponse(shipment=shipment_to_proto(shipment))

        response = await self.idempotent.run(principal.id, request, pb.RecordShipmentResponse, work)
        return response.shipment

    async def record_back_order(self, request: pb.RecordBackOrderRequest) -> pb.BackOrder:
        """The order's goods cannot ship yet; they are promised for a day. Whoever may
        record the order's shipment may record this (the same action, ``shipments.record``),
        but for its approvers (:func:`.rules.approvals.may_record_back_order`)."""
        principal = current_principal()
        order_id = validation.record_id("order_id", request.order_id, required=True)

        async def work(session: AsyncSession) -> pb.RecordBackOrderResponse:
            order = await self._order_to_ship(session, principal, order_id)
            approvers = await session.scalars(
                select(ApprovalStep.approver_id).where(ApprovalStep.order_id == order.id)
            )
            if not approval_rules.may_record_back_order(
                {approver for approver in approvers if approver}, principal.id
            ):
                raise Forbidden(
                    f"you approved order {order.code}: its back-order is recorded by finance or"
                    " by someone who did not approve it"
                )
            promised = validation.civil_date("promised_ship_date", request.promised_ship_date)
            reason = validation.text("reason", request.reason, required=True, max_length=MAX_REASON)
            if not rules.can_ship(order.status) or order.shipped:
                raise FailedPrecondition(
                    f"order {order.code} is {order.status}"
                    f"{', shipped' if order.shipped else ''}; only an APPROVED or FULFILLED"
                    " order not shipped yet is back-ordered",
                    details={"status": order.status, "shipped": str(order.shipped).lower()},
                )
            thresholds = await fake_deal_thresholds(self.policy)
            latest = reconciliation_rules.latest_promise(
                order.expected_payment_date, thresholds.back_order_max_days
            )
            if promised > latest:
                # Otherwise a promise pushed on and on would hide a fake deal for good.
                raise InvalidInput(
                    "promised_ship_date",
                    f"promised_ship_date may be at most {thresholds.back_order_max_days} days"
                    f" after the order's expected payment date: {latest.isoformat()} at the latest",
                )
            if promised < order.order_date:
                raise InvalidInput(
                    "promised_ship_date", "promised_ship_date is before the order's date"
                )
            back_order = BackOrder(
                id=new_id(),
                order_id=order.id,
                promised_ship_date=promised,
                reason=reason,
                recorded_at=utcnow(),
                recorded_by=principal.id,
            )
            session.add(back_order)
            order.promised_ship_date = promised
            order.updated_at = utcnow()
            await session.flush()
            return pb.RecordBackOrderResponse(back_order=back_order_to_proto(back_order))

        response = await self.idempotent.run(
            principal.id, request, pb.RecordBackOrderResponse, work
        )
        return response.back_order

    async def list_shipments(self, order_id: str) -> list[pb.Shipment]:
        order_id = validation.record_id("order_id", order_id, required=True)
        decision = (await self.policy.decide(current_principal(), "shipments.read")).require(
            "shipments.read"
        )
        async with self.db.read() as session:
            await one_by_id(
                session, Order, order_id, scope_filter(decision, ORDER_SCOPE), noun="order"
            )
            rows = (
                await session.scalars(
                    select(Shipment)
                    .where(Shipment.order_id == order_id)
                    .order_by(Shipment.shipped_at, Shipment.id)
                )
            ).all()
        return [shipment_to_proto(row) for row in rows]
