"""Orders: submission with attribution checks, approval chains, the status machine.

Every operation asks the policy engine once. Reads turn the ``orders.read``
decision into one SQL filter (submitter, team, branch); single reads outside
it are NOT_FOUND. Decisions and transitions ask about the one order they act
on and refuse with FORBIDDEN and the policy's reasons.

An order keeps its customer's owner at submission, its lines and total in
integer cents (half-up per line), its flags (stored, alerted, never refused: the
attribution flags of :mod:`.rules.attribution`, a personal-channel claim on a
company-channel customer from :mod:`.rules.source_claim`) and an approval chain built
from the settings' thresholds (:mod:`.rules.approvals`); the status machine is :mod:`.rules.orders`.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from salesguard import validation
from salesguard.alerts import AlertDraft, raise_alert
from salesguard.db import new_id, utcnow
from salesguard.errors import FailedPrecondition, Forbidden, InvalidInput
from salesguard.idempotency import IdempotentWrites
from salesguard.listing import enum_filter, equal_to, period
from salesguard.policy import Decision, ScopeColumns, scope_filter
from salesguard.principal import Principal, current_principal
from salesguard.reads import Listing, distinct_ids, one_by_id, rows_by_id
from salesguard.service import Runtime
from salesguard.timeutil import from_timestamp
from salesguard.writes import own_resource
from salesguard_api.customers.v1 import customers_pb2, lookups_pb2
from salesguard_api.orders.v1 import orders_pb2 as pb
from salesguard_orders import SERVICE_NAME, approval_warnings
from salesguard_orders.matching import Reconciler, Touched
from salesguard_orders.models import (
    Alert,
    ApprovalStep,
    IdempotencyKey,
    Order,
    OrderLine,
    payment_state_of,
)
from salesguard_orders.order_input import order_dates, parse_order_code, validate_order
from salesguard_orders.peers import BranchZones, CustomerFacts, day_end, local_today
from salesguard_orders.presentation import (
    ORDER_STATUSES,
    PAYMENT_STATES,
    SOURCES,
    order_to_proto,
)

# Re-exported: the timeline module reads them from here.
from salesguard_orders.presentation import present_orders as present_orders
from salesguard_orders.presentation import step_to_proto as step_to_proto
from salesguard_orders.rules import approvals, attribution, source_claim
from salesguard_orders.rules import orders as order_rules
from salesguard_orders.settings import OrdersSettings

ORDER_SCOPE = ScopeColumns(owner=Order.submitted_by, team=Order.team_id, branch=Order.branch_id)
ORDER_LISTING = Listing(Order, Order.submitted_at, Order.number)

# The policy's reason when a caller may act on an order but not move it to that status.
TRANSITION_NOT_PERMITTED = "TRANSITION_NOT_PERMITTED"


class Orders:
    def __init__(self, runtime: Runtime[OrdersSettings]) -> None:
        self.runtime = runtime
        self.db = runtime.db
        self.idempotent = IdempotentWrites(self.db, IdempotencyKey)
        self.policy = runtime.policy
        self.settings = runtime.settings
        self.customers = CustomerFacts(runtime.channels)
        self.zones = BranchZones(runtime.channels, lambda: runtime.directory.generation())
        self.directory = runtime.directory
        # One per process: payments, statements and approvals reconcile what they touch.
        self.reconciler = Reconciler(runtime.db)

    async def read_decision(self, principal: Principal) -> Decision:
        return (await self.policy.decide(principal, "orders.read")).require("orders.read")

    # -- submission ----------------------------------------------------

    async def _customer(self, customer_id: str) -> lookups_pb2.CustomerFacts:
        """The order's customer, if the submitter may order for it (SPEC §2): asked as the
        submitter, NOT_FOUND otherwise, as for a customer that does not exist."""
        facts = await self.customers.orderable(customer_id)
        if facts.status == customers_pb2.CUSTOMER_STATUS_ARCHIVED:
            raise InvalidInput("customer_id", f"customer {facts.code} is archived")
        return facts

    async def submit(self, request: pb.SubmitOrderRequest) -> pb.SubmitOrderResponse:
        principal = current_principal()
        resource = own_resource(principal)
        (await self.policy.decide(principal, "orders.submit", resource)).require("orders.submit")
        # The order (and its commission) is credited to the submitter: active (SPEC §2).
        await self.directory.require_active(principal.id)
        customer_id = validation.record_id("customer_id", request.customer_id, required=True)
        earlier = await self.idempotent.earlier(principal.id, request, pb.SubmitOrderResponse)
        if earlier is not None:
            return earlier
        # The customer is authorised before the rest of the order is judged (item 12).
        facts = await self._customer(customer_id)
        given = validate_order(request, self.settings)
        zone = await self.zones.zone(principal.branch_id)
        order_date, expected_payment_date = order_dates(
            given, local_today(zone), self.settings.default_payment_terms_days
        )
        owner_id = facts.owner_id or None
        registered_at = from_timestamp(facts.registered_at, "registered_at")
        flags = attribution.attribution_flags(
            submitted_by=principal.id,
            owner_id=owner_id,
            registered_at=registered_at,
            order_day_end=day_end(order_date, zone),
        )
        registered_source = SOURCES.get(facts.source, "UNSPECIFIED")
        claimed = given.source_claim or registered_source
        flags += source_claim.source_flags(
            source_claim=claimed, registered_source=registered_source
        )
        chain = approvals.approval_chain(
            self.settings,
            currency=given.currency,
            total_minor=given.total_minor,
            max_discount_basis_points=given.max_discount_basis_points,
            flags=flags,
        )

        async def insert(session: AsyncSession) -> pb.SubmitOrderResponse:
            now = utcnow()
            order = Order(
                id=new_id(),
                customer_id=facts.customer_id,
                customer_code=facts.code,
                owner_id=owner_id,
                submitted_by=principal.id,
                team_id=principal.team_id,
                branch_id=principal.branch_id,
                currency=given.currency,
                total_minor=given.total_minor,
                order_date=order_date,
                expected_payment_date=expected_payment_date,
                source_claim=claimed,
                registered_source=registered_source,
                status="SUBMITTED",
                flags=flags,
                customer_name_key=facts.name_key,
                customer_company_key=facts.company_key,
                note=given.note,
                submitted_at=now,
                updated_at=now,
                shipped=False,
            )
            session.add(order)
            await session.flush()  # assigns the number behind the code
            lines = [
                OrderLine(
                    order_id=order.id,
                    line_no=number,
                    sku=line.sku,
                    description=line.description,
                    quantity_milli=line.quantity_milli,
                    unit_price_minor=line.unit_price_minor,
                    discount_basis_points=line.discount_basis_points,
                    line_total_minor=line.total_minor,
                )
                for number, line in enumerate(given.lines, start=1)
            ]
            steps = [
                ApprovalStep(
                    order_id=order.id,
                    sequence=number,
                    role=step.role,
                    status=approvals.PENDING,
                    reason=step.reason,
                    comment="",
                    order_submitted_by=order.submitted_by,
                )
                for number, step in enumerate(chain, start=1)
            ]
            session.add_all([*lines, *steps])
            await session.flush()
            await self._raise_flags(session, order, facts, registered_at, zone)
            return pb.SubmitOrderResponse(order=order_to_proto(order, lines, steps))

        return await self.idempotent.run(principal.id, request, pb.SubmitOrderResponse, insert)

    async def _raise_flags(
        self,
        session: AsyncSession,
        order: Order,
        facts: lookups_pb2.CustomerFacts,
        registered_at: datetime | None,
        zone: ZoneInfo,
    ) -> None:
        evidence = attribution.flag_evidence(
            order_code=order.code,
            customer_code=facts.code,
            submitted_by=order.submitted_by,
            owner_id=order.owner_id,
            order_date=order.order_date,
            total_minor=order.total_minor,
            currency=order.currency,
            registered_at=registered_at,
            zone=zone,
            source_claim=order.source_claim,
            registered_source=order.registered_source,
        )
        for kind in order.flags:
            await raise_alert(
                session,
                Alert,
                AlertDraft(
                    kind=kind,
                    dedupe_key=attribution.flag_dedupe_key(kind, order.id),
                    employee_id=order.submitted_by,
                    customer_id=order.customer_id,
                    order_id=order.id,
                    # The customer's branch: its managers learn of a deal on their
                    # customer even when headquarters submitted it (the order's branch).
                    branch_id=facts.branch_id or order.branch_id,
                    detected_at=order.submitted_at,
                    evidence=evidence,
                ),
                source=SERVICE_NAME,
            )

    # -- reads -------------------------------------------------------------------

    async def get(self, order_id: str) -> pb.Order:
        decision = await self.read_decision(current_principal())
        async with self.db.read() as session:
            row = await one_by_id(
                session, Order, order_id, scope_filter(decision, ORDER_SCOPE), noun="order"
            )
            return (await present_orders(session, [row]))[0]

    async def batch_get(self, ids: list[str]) -> list[pb.Order]:
        wanted = distinct_ids(ids)
        decision = await self.read_decision(current_principal())
        if not wanted:
            return []
        async with self.db.read() as session:
            rows = await rows_by_id(session, Order, wanted, scope_filter(decision, ORDER_SCOPE))
            return await present_orders(session, rows)

    def filter_conditions(
        self, principal: Principal, order_filter: pb.OrderFilter
    ) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = [
            *equal_to(
                (Order.customer_id, order_filter.customer_id),
                (Order.submitted_by, order_filter.submitted_by),
            ),
            *enum_filter(Order.status, "filter.statuses", order_filter.statuses, ORDER_STATUSES),
            *enum_filter(
                payment_state_of(Order.number),
                "filter.payment_states",
                order_filter.payment_states,
                PAYMENT_STATES,
            ),
            *period(
                Order.submitted_at,
                order_filter.submitted_from,
                order_filter.submitted_to,
                ("submitted_from", "submitted_to"),
            ),
        ]
        if order_filter.code:
            conditions.append(Order.number == parse_order_code("filter.code", order_filter.code))
        if order_filter.awaiting_my_decision:
            conditions.append(approvals.awaiting_decision_of(principal))
        return conditions

    async def list_orders(self, request: pb.ListOrdersRequest) -> pb.ListOrdersResponse:
        principal = current_principal()
        requested = validation.page_size(
            "page.page_size", request.page.page_size, self.settings.page_limits
        )
        decision = await self.read_decision(principal)
        size = decision.page_size(requested)
        conditions = [
            scope_filter(decision, ORDER_SCOPE),
            *self.filter_conditions(principal, request.filter),
        ]
        async with self.db.read() as session:
            page, total = await ORDER_LISTING.read(session, conditions, request.page, size)
            orders = await present_orders(session, page.rows)
        return pb.ListOrdersResponse(
            orders=orders, cursors=page.cursors, page_info=page.page_info(total)
        )

    # -- approval -------------------------------------------------------------

    async def _locked(self, session: AsyncSession, order_id: str) -> Order:
        order_id = validation.record_id("order_id", order_id, required=True)
        return await one_by_id(session, Order, order_id, noun="order", lock=True)

    async def decide(self, request: pb.DecideOrderRequest) -> pb.Order:
        principal = current_principal()
        order_id = validation.record_id("order_id", request.order_id, required=True)
        async with self.db.transaction() as session:
            # Approval may make the order one a waiting payment pays (reconciled below): the
            # reconciliation locks come before the row lock, as for every write.
            await self.reconciler.lock(session, order_ids=[order_id])
            # The order's row lock serialises decisions on it (and on its steps).
            order = await self._locked(session, order_id)
            steps = list(
                (
                    await session.scalars(
                        select(ApprovalStep)
                        .where(ApprovalStep.order_id == order.id)
                        .order_by(ApprovalStep.sequence)
                    )
                ).all()
            )
            statuses = [step.status for step in steps]
            current_index = approvals.current_step(statuses)
            current = steps[current_index] if current_index is not None else None
            # Without a pending step the policy is asked about the last one, so that an
            # approver of a decided order learns it is decided (FAILED_PRECONDITION).
            asked = approvals.step_asked_about(statuses)
            concerned = steps[asked] if asked is not None else None
            decision = await self.policy.decide(
                principal,
                "orders.decide",
                {
                    "submitted_by": order.submitted_by,
                    "branch_id": order.branch_id,
                    "step_role": concerned.role if concerned is not None else None,
                },
            )
            if approvals.is_self_approval(order.submitted_by, principal.id, decision.reasons):
                raise Forbidden(
                    f"nobody decides their own order ({order.code}): {approvals.SELF_APPROVAL}",
                    details={
                        "action": "orders.decide",
                        "reasons": ",".join(decision.reasons) or approvals.SELF_APPROVAL,
                    },
                )
            decision.require("orders.decide")
            comment = validation.text("comment", request.comment, max_length=validation.MAX_NOTE)
            if order.status != order_rules.SUBMITTED or current is None:
                raise FailedPrecondition(
                    f"order {order.code} is {order.status}; only SUBMITTED orders are decided",
                    details={"status": order.status},
                )
            if approvals.approved_before((step.approver_id for step in steps), principal.id):
                raise Forbidden(
                    f"you already approved a step of order {order.code}; another approver decides",
                    details={"action": "orders.decide", "reasons": approvals.SAME_APPROVER},
                )
            now = utcnow()
            current.status = approvals.step_status(request.approve)
            current.approver_id = principal.id
            current.comment = comment
            current.decided_at = now
            order.status = approvals.order_status_after(
                [step.status for step in steps], approve=request.approve, current=order.status
            )
            order.updated_at = now
            await session.flush()
            if request.approve:
                # Approving a rep's order while alerts on orders one approved for them
                # stand (APPROVAL_DESPITE_WARNING, raised on the approver).
                await approval_warnings.check_approval(session, self.policy, order, principal, now)
            if order.status == approvals.APPROVED:
                # Payments recorded before the approval count from now on (reconciliation).
                touched = Touched(order_ids=frozenset({order.id}))
                await self.reconciler.reconcile(session, touched, now)
                await session.refresh(order)
            return (await present_orders(session, [order]))[0]

    # -- the status machine ------------------------------------------------------

    async def transition(self, request: pb.TransitionOrderRequest) -> pb.Order:
        principal = current_principal()
        # The target is part of what is authorised; the rest is judged after.
        target = validation.enum_value("to", request.to, ORDER_STATUSES)
        async with self.db.transaction() as session:
            order = await self._locked(session, request.order_id)
            illegal = FailedPrecondition(
                f"order {order.code} cannot move from {order.status} to {target}",
                details={"from": order.status, "to": target},
            )
            decision = await self.policy.decide(
                principal,
                "orders.transition",
                {"submitted_by": order.submitted_by, "branch_id": order.branch_id, "to": target},
            )
            if (
                not decision.allow
                and not order_rules.leads_anywhere(target)
                and set(decision.reasons) == {TRANSITION_NOT_PERMITTED}
            ):
                # In scope, but no transition leads there at all (approval is DecideOrder's).
                raise illegal
            decision.require("orders.transition")
            if not order_rules.can_move(order.status, target):
                raise illegal
            reason = validation.text("reason", request.reason, max_length=validation.REASON_LENGTH)
            if order_rules.needs_reason(target) and not reason:
                raise InvalidInput("reason", "cancelling an order needs a reason")
            now = utcnow()
            order.status = target
            order.updated_at = now
            order.note = order_rules.noted_transition(order.note, target, now, principal.id, reason)
            await session.flush()
            return (await present_orders(session, [order]))[0]


class OrdersPart:
    """What each part of the service (payments, shipments, statements, uploads,
    reconciliation) holds: the runtime's database, policy client and settings, and the
    one branch-zone cache and reconciler of :class:`Orders`."""

    def __init__(self, runtime: Runtime[OrdersSettings], orders: Orders) -> None:
        self.runtime = runtime
        self.orders = orders
        self.db = runtime.db
        self.policy = runtime.policy
        self.settings = runtime.settings
        self.zones = orders.zones
        self.reconciler = orders.reconciler
