"""Orders (O1–O3): submission with attribution checks, approval chains, the status machine.

Every operation asks the policy engine once. Reads turn the ``orders.read``
decision into one SQL filter (submitter, team, branch); single reads outside
it are NOT_FOUND. Decisions and transitions ask about the one order they act
on and refuse with FORBIDDEN and the policy's reasons.

An order keeps its customer's owner at submission, its lines and total in
integer cents (half-up per line), the attribution flags of O3 (stored,
alerted, never refused) and an approval chain built from the settings'
thresholds (O2). Steps are decided in sequence; the order becomes APPROVED
when its last step is approved and REJECTED on any rejection.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, exists, false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from salesguard import money, validation
from salesguard.alerts import AlertDraft, raise_alert
from salesguard.customers.v1 import customers_pb2, lookups_pb2
from salesguard.db import new_id, utcnow
from salesguard.errors import FailedPrecondition, Forbidden, InvalidInput, NotFound
from salesguard.idempotency import IdempotentWrites
from salesguard.orders.v1 import orders_pb2 as pb
from salesguard.pagination import count_if_asked, keyset_page, keyset_query
from salesguard.policy import Decision, ScopeColumns, scope_filter
from salesguard.principal import Principal, current_principal
from salesguard.service import Runtime
from salesguard.timeutil import from_timestamp, to_timestamp
from salesguard_orders import SERVICE_NAME
from salesguard_orders.matching import Reconciler, Touched
from salesguard_orders.models import Alert, ApprovalStep, IdempotencyKey, Order, OrderLine
from salesguard_orders.peers import BranchZones, CustomerFacts, day_end, local_today
from salesguard_orders.settings import OrdersSettings

ORDER_SCOPE = ScopeColumns(owner=Order.submitted_by, team=Order.team_id, branch=Order.branch_id)
ORDER_STATUSES = validation.enum_names(pb.OrderStatus, "ORDER_STATUS_")
PAYMENT_STATES = validation.enum_names(pb.PaymentState, "PAYMENT_STATE_")
SOURCES = validation.enum_names(customers_pb2.SourceChannel, "SOURCE_CHANNEL_")

# Approval step roles (O2).
MANAGER = "MANAGER"
FINANCE = "FINANCE"
HQ_MANAGER = "HQ_MANAGER"

# Attribution flags and the alert kinds they raise (O3).
ATTRIBUTION_MISMATCH = "ATTRIBUTION_MISMATCH"
UNREGISTERED_CUSTOMER = "UNREGISTERED_CUSTOMER"

# O1: the moves TransitionOrder makes (target ← allowed sources). Approval and
# rejection are DecideOrder's; nothing leaves REJECTED, CLOSED or CANCELLED.
TRANSITIONS: dict[str, frozenset[str]] = {
    "FULFILLED": frozenset({"APPROVED"}),
    "CLOSED": frozenset({"FULFILLED"}),
    "CANCELLED": frozenset({"SUBMITTED", "APPROVED"}),
}

# The policy's reason when a caller may act on an order but not move it to that status.
TRANSITION_NOT_PERMITTED = "TRANSITION_NOT_PERMITTED"

MAX_SKU = 64
MAX_DESCRIPTION = 500
MAX_REASON = 200  # ApprovalStep.reason
_ORDER_CODE = re.compile(r"O-(\d{1,15})", re.IGNORECASE)


# -- presentation ---------------------------------------------------------------------------


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
    row: Order, lines: Sequence[OrderLine], steps: Sequence[ApprovalStep]
) -> pb.Order:
    """An order with its lines and steps (pass them sorted by line_no / sequence)."""
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
        payment_state=pb.PaymentState.Value(f"PAYMENT_STATE_{row.payment_state}"),
        paid_amount=money.to_proto(row.paid_minor),
        fully_paid_at=to_timestamp(row.fully_paid_at),
        shipped=row.shipped,
        note=row.note,
    )


async def present_orders(session: AsyncSession, rows: Sequence[Order]) -> list[pb.Order]:
    """Orders as protos, their lines and steps loaded in one query each (no N+1)."""
    if not rows:
        return []
    lines: dict[str, list[OrderLine]] = {}
    steps: dict[str, list[ApprovalStep]] = {}
    ids = list(dict.fromkeys(row.id for row in rows))
    for start in range(0, len(ids), 1000):
        chunk = ids[start : start + 1000]
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
    return [order_to_proto(row, lines.get(row.id, []), steps.get(row.id, [])) for row in rows]


def parse_order_code(field: str, value: str) -> int:
    """The number of an order code such as "O-000123"."""
    match = _ORDER_CODE.fullmatch(value.strip())
    if match is None:
        raise InvalidInput(field, f"{field} is not an order code like O-000123: {value!r}")
    return int(match.group(1))


# -- approval chain (O2) ----------------------------------------------------------------------


@dataclass(frozen=True)
class StepPlan:
    role: str
    reason: str


def _cny(value: Decimal) -> str:
    return f"{value.quantize(money.CENT)} CNY"


def approval_chain(
    settings: OrdersSettings,
    *,
    currency: str,
    total_minor: int,
    max_discount_basis_points: int,
    flags: Sequence[str],
) -> list[StepPlan]:
    """The steps an order needs: a manager always, finance and HQ above the thresholds."""
    total_cny = money.minor_to_decimal(total_minor) * settings.currency_rates_to_cny[currency]
    shown = _cny(total_cny)
    if currency != "CNY":
        shown += f" ({money.minor_to_decimal(total_minor)} {currency})"
    manager = "every order is approved by a manager of its branch"
    if flags:
        manager += f"; flagged {', '.join(flags)}"
    steps = [StepPlan(MANAGER, manager)]
    if total_cny > settings.finance_approval_above_cny:
        steps.append(
            StepPlan(FINANCE, f"total {shown} above {_cny(settings.finance_approval_above_cny)}")
        )
    hq: list[str] = []
    if total_cny > settings.hq_approval_above_cny:
        hq.append(f"total {shown} above {_cny(settings.hq_approval_above_cny)}")
    discount = Decimal(max_discount_basis_points) / 100
    if discount > settings.hq_approval_discount_above_percent:
        limit = settings.hq_approval_discount_above_percent.quantize(money.CENT)
        hq.append(f"line discount {discount.quantize(money.CENT)} % above {limit} %")
    if hq:
        steps.append(StepPlan(HQ_MANAGER, "; ".join(hq)))
    return [StepPlan(step.role, step.reason[:MAX_REASON]) for step in steps]


def awaiting_decision_of(principal: Principal) -> ColumnElement[bool]:
    """Orders whose current step (the lowest pending one) the principal may decide.

    A set-based filter for listings, mirroring the policy's step roles (MANAGER of the
    branch, FINANCE, HQ_MANAGER); deciding itself is always the policy's call.

    Excludes the principal's own orders and orders where they already approved a step.
    """
    step = aliased(ApprovalStep)
    earlier = aliased(ApprovalStep)
    mine = aliased(ApprovalStep)
    roles: list[ColumnElement[bool]] = []
    if principal.has_role("MANAGER"):
        if principal.hq:
            roles += [step.role == MANAGER, step.role == HQ_MANAGER]
        elif principal.branch_id:
            roles.append(and_(step.role == MANAGER, Order.branch_id == principal.branch_id))
    if principal.has_role("FINANCE"):
        roles.append(step.role == FINANCE)
    if not roles:
        return false()
    current = ~exists().where(
        earlier.order_id == step.order_id,
        earlier.status == "PENDING",
        earlier.sequence < step.sequence,
    )
    return and_(
        Order.status == "SUBMITTED",
        Order.submitted_by != principal.id,
        exists().where(step.order_id == Order.id, step.status == "PENDING", or_(*roles), current),
        ~exists().where(mine.order_id == Order.id, mine.approver_id == principal.id),
    )


# -- submission -------------------------------------------------------------------------------


@dataclass(frozen=True)
class LineInput:
    sku: str
    description: str
    quantity_milli: int
    unit_price_minor: int
    discount_basis_points: int
    total_minor: int


@dataclass(frozen=True)
class OrderInput:
    lines: list[LineInput]
    currency: str
    order_date: str
    expected_payment_date: str
    source_claim: str | None
    note: str

    @property
    def total_minor(self) -> int:
        return sum(line.total_minor for line in self.lines)

    @property
    def max_discount_basis_points(self) -> int:
        return max((line.discount_basis_points for line in self.lines), default=0)


def validate_currency(field: str, value: str, currencies: Collection[str]) -> str:
    """A supported currency code (``currencies``: the settings' rates), upper-cased."""
    currency = value.strip().upper()
    if not currency:
        raise InvalidInput(field, f"{field} is required")
    if currency not in currencies:
        known = ", ".join(sorted(currencies))
        raise InvalidInput(field, f"{field} {value!r} is not supported (one of {known})")
    return currency


def validate_line(index: int, line: pb.OrderLine) -> LineInput:
    prefix = f"lines[{index}]"
    quantity = money.quantity_to_milli(f"{prefix}.quantity", line.quantity)
    price = money.amount_to_minor(f"{prefix}.unit_price", line.unit_price, allow_zero=True)
    discount = money.percent_to_basis_points(f"{prefix}.discount_percent", line.discount_percent)
    total = money.line_total_minor(quantity, price, discount)
    if total > money.MAX_MINOR:
        raise InvalidInput(f"{prefix}.unit_price", f"the total of {prefix} is too large")
    return LineInput(
        sku=validation.text(f"{prefix}.sku", line.sku, required=True, max_length=MAX_SKU),
        description=validation.text(
            f"{prefix}.description", line.description, max_length=MAX_DESCRIPTION
        ),
        quantity_milli=quantity,
        unit_price_minor=price,
        discount_basis_points=discount,
        total_minor=total,
    )


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

    # -- submission (O1–O3) ----------------------------------------------------

    def _validate(self, request: pb.SubmitOrderRequest) -> OrderInput:
        if not request.lines:
            raise InvalidInput("lines", "an order needs at least one line")
        if len(request.lines) > self.settings.max_order_lines:
            raise InvalidInput(
                "lines", f"an order has at most {self.settings.max_order_lines} lines"
            )
        lines = [validate_line(index, line) for index, line in enumerate(request.lines)]
        if sum(line.total_minor for line in lines) > money.MAX_MINOR:
            raise InvalidInput("lines", "the order total is too large")
        source_claim = (
            validation.enum_value("source_claim", request.source_claim, SOURCES)
            if request.source_claim != customers_pb2.SOURCE_CHANNEL_UNSPECIFIED
            else None
        )
        return OrderInput(
            lines=lines,
            currency=validate_currency(
                "currency", request.currency, self.settings.currency_rates_to_cny
            ),
            order_date=request.order_date,
            expected_payment_date=request.expected_payment_date,
            source_claim=source_claim,
            note=validation.text("note", request.note, max_length=validation.MAX_NOTE),
        )

    def _dates(self, given: OrderInput, zone: ZoneInfo) -> tuple[date, date]:
        today = local_today(zone)
        order_date = (
            validation.civil_date("order_date", given.order_date)
            if given.order_date.strip()
            else today
        )
        if order_date > today:
            raise InvalidInput(
                "order_date", f"order_date {order_date} lies in the future (today is {today})"
            )
        if given.expected_payment_date.strip():
            expected = validation.civil_date("expected_payment_date", given.expected_payment_date)
            if expected < order_date:
                raise InvalidInput(
                    "expected_payment_date", "expected_payment_date precedes the order date"
                )
        else:
            expected = order_date + timedelta(days=self.settings.default_payment_terms_days)
        return order_date, expected

    async def _customer(self, customer_id: str) -> lookups_pb2.CustomerFacts:
        """The order's customer, if the submitter may order for it (SPEC §2): asked as the
        submitter, NOT_FOUND otherwise, as for a customer that does not exist."""
        facts = await self.customers.orderable(customer_id)
        if facts.status == customers_pb2.CUSTOMER_STATUS_ARCHIVED:
            raise InvalidInput("customer_id", f"customer {facts.code} is archived")
        return facts

    async def submit(self, request: pb.SubmitOrderRequest) -> pb.SubmitOrderResponse:
        principal = current_principal()
        resource = {
            "employee_id": principal.id,
            "team_id": principal.team_id,
            "branch_id": principal.branch_id,
        }
        (await self.policy.decide(principal, "orders.submit", resource)).require("orders.submit")
        # The order (and its commission) is credited to the submitter: active (SPEC §2).
        await self.directory.require_active(principal.id)
        customer_id = validation.text(
            "customer_id", request.customer_id, required=True, max_length=32
        )
        earlier = await self.idempotent.earlier(principal.id, request, pb.SubmitOrderResponse)
        if earlier is not None:
            return earlier
        # The customer is authorised before the rest of the order is judged (item 12).
        facts = await self._customer(customer_id)
        given = self._validate(request)
        zone = await self.zones.zone(principal.branch_id)
        order_date, expected_payment_date = self._dates(given, zone)
        owner_id = facts.owner_id or None
        registered_at = from_timestamp(facts.registered_at, "registered_at")
        flags: list[str] = []
        if owner_id != principal.id:
            flags.append(ATTRIBUTION_MISMATCH)
        if registered_at is not None and registered_at >= day_end(order_date, zone):
            flags.append(UNREGISTERED_CUSTOMER)
        registered_source = SOURCES.get(facts.source, "UNSPECIFIED")
        chain = approval_chain(
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
                source_claim=given.source_claim or registered_source,
                registered_source=registered_source,
                status="SUBMITTED",
                flags=flags,
                customer_name_key=facts.name_key,
                customer_company_key=facts.company_key,
                note=given.note,
                submitted_at=now,
                updated_at=now,
                payment_state="UNPAID",
                paid_minor=0,
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
                    status="PENDING",
                    reason=step.reason,
                    comment="",
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
        evidence: dict[str, Any] = {
            "order_code": order.code,
            "customer_code": facts.code,
            "submitted_by": order.submitted_by,
            "owner_id": order.owner_id or "—",
            "order_date": order.order_date.isoformat(),
            "total": str(money.minor_to_decimal(order.total_minor)),
            "currency": order.currency,
        }
        if registered_at is not None:
            evidence["registered_at"] = registered_at.isoformat()
            evidence["registered_on"] = registered_at.astimezone(zone).date().isoformat()
        for kind in order.flags:
            await raise_alert(
                session,
                Alert,
                AlertDraft(
                    kind=kind,
                    dedupe_key=f"{kind}:{order.id}",
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
            row = await session.scalar(
                select(Order).where(Order.id == order_id, scope_filter(decision, ORDER_SCOPE))
            )
            if row is None:
                raise NotFound(f"order {order_id} not found")
            return (await present_orders(session, [row]))[0]

    async def batch_get(self, ids: list[str]) -> list[pb.Order]:
        wanted = list(dict.fromkeys(ids))
        if len(wanted) > validation.MAX_BATCH:
            raise InvalidInput("ids", f"at most {validation.MAX_BATCH} IDs per call")
        decision = await self.read_decision(current_principal())
        if not wanted:
            return []
        async with self.db.read() as session:
            rows = (
                await session.scalars(
                    select(Order).where(Order.id.in_(wanted), scope_filter(decision, ORDER_SCOPE))
                )
            ).all()
            by_id = {row.id: row for row in rows}
            return await present_orders(session, [by_id[i] for i in wanted if i in by_id])

    def filter_conditions(
        self, principal: Principal, order_filter: pb.OrderFilter
    ) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = []
        if order_filter.customer_id:
            conditions.append(Order.customer_id == order_filter.customer_id)
        if order_filter.submitted_by:
            conditions.append(Order.submitted_by == order_filter.submitted_by)
        if order_filter.statuses:
            conditions.append(
                Order.status.in_(
                    [
                        validation.enum_value("filter.statuses", s, ORDER_STATUSES)
                        for s in order_filter.statuses
                    ]
                )
            )
        if order_filter.payment_states:
            conditions.append(
                Order.payment_state.in_(
                    [
                        validation.enum_value("filter.payment_states", s, PAYMENT_STATES)
                        for s in order_filter.payment_states
                    ]
                )
            )
        submitted_from = from_timestamp(order_filter.submitted_from, "submitted_from")
        submitted_to = from_timestamp(order_filter.submitted_to, "submitted_to")
        if submitted_from:
            conditions.append(Order.submitted_at >= submitted_from)
        if submitted_to:
            conditions.append(Order.submitted_at < submitted_to)
        if order_filter.code:
            conditions.append(Order.number == parse_order_code("filter.code", order_filter.code))
        if order_filter.awaiting_my_decision:
            conditions.append(awaiting_decision_of(principal))
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
        query = keyset_query(
            select(Order).where(*conditions), request.page, size, Order.submitted_at, Order.number
        )
        async with self.db.read() as session:
            rows = list((await session.scalars(query)).all())
            total = await count_if_asked(
                request.page, session, select(func.count()).select_from(Order).where(*conditions)
            )
            page = keyset_page(rows, size, lambda row: (row.submitted_at, row.number))
            orders = await present_orders(session, page.rows)
        return pb.ListOrdersResponse(
            orders=orders, cursors=page.cursors, page_info=page.page_info(total)
        )

    # -- approval (O2) -------------------------------------------------------------

    async def _locked(self, session: AsyncSession, order_id: str) -> Order:
        order_id = validation.text("order_id", order_id, required=True, max_length=32)
        order = await session.scalar(select(Order).where(Order.id == order_id).with_for_update())
        if order is None:
            raise NotFound(f"order {order_id} not found")
        return order

    async def decide(self, request: pb.DecideOrderRequest) -> pb.Order:
        principal = current_principal()
        order_id = validation.text("order_id", request.order_id, required=True, max_length=32)
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
            current = next((step for step in steps if step.status == "PENDING"), None)
            # Without a pending step the policy is asked about the last one, so that an
            # approver of a decided order learns it is decided (FAILED_PRECONDITION).
            concerned = current if current is not None else (steps[-1] if steps else None)
            decision = await self.policy.decide(
                principal,
                "orders.decide",
                {
                    "submitted_by": order.submitted_by,
                    "branch_id": order.branch_id,
                    "step_role": concerned.role if concerned is not None else None,
                },
            )
            if "SELF_APPROVAL" in decision.reasons or order.submitted_by == principal.id:
                raise Forbidden(
                    f"nobody decides their own order ({order.code}): SELF_APPROVAL",
                    details={
                        "action": "orders.decide",
                        "reasons": ",".join(decision.reasons) or "SELF_APPROVAL",
                    },
                )
            decision.require("orders.decide")
            comment = validation.text("comment", request.comment, max_length=validation.MAX_NOTE)
            if order.status != "SUBMITTED" or current is None:
                raise FailedPrecondition(
                    f"order {order.code} is {order.status}; only SUBMITTED orders are decided",
                    details={"status": order.status},
                )
            if any(step.approver_id == principal.id for step in steps):
                raise Forbidden(
                    f"you already approved a step of order {order.code}; another approver decides",
                    details={"action": "orders.decide", "reasons": "SAME_APPROVER"},
                )
            now = utcnow()
            current.status = "APPROVED" if request.approve else "REJECTED"
            current.approver_id = principal.id
            current.comment = comment
            current.decided_at = now
            if not request.approve:
                order.status = "REJECTED"
            elif all(step.status == "APPROVED" for step in steps):
                order.status = "APPROVED"
            order.updated_at = now
            await session.flush()
            if order.status == "APPROVED":
                # Payments recorded before the approval count from now on (O5).
                touched = Touched(order_ids=frozenset({order.id}))
                await self.reconciler.reconcile(session, touched, now)
                await session.refresh(order)
            return (await present_orders(session, [order]))[0]

    # -- the status machine (O1) ------------------------------------------------------

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
                and target not in TRANSITIONS
                and set(decision.reasons) == {TRANSITION_NOT_PERMITTED}
            ):
                # In scope, but no transition leads there at all (approval is DecideOrder's).
                raise illegal
            decision.require("orders.transition")
            if order.status not in TRANSITIONS.get(target, frozenset()):
                raise illegal
            reason = validation.text("reason", request.reason, max_length=1000)
            if target == "CANCELLED" and not reason:
                raise InvalidInput("reason", "cancelling an order needs a reason")
            now = utcnow()
            order.status = target
            order.updated_at = now
            if reason:
                # The order has no column for it: the reason is kept on the note.
                entry = f"[{target} {now.date().isoformat()} by {principal.id}] {reason}"
                order.note = f"{order.note}\n{entry}" if order.note else entry
            await session.flush()
            return (await present_orders(session, [order]))[0]
