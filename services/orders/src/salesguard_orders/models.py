"""Tables of the orders service. Money is stored as integer minor units (cents)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    exists,
    func,
    or_,
    select,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.elements import ColumnElement, SQLColumnExpression

from salesguard.alerts import AlertColumns, AlertDecisionColumns
from salesguard.db import AutoIncrement, ServiceBase, UtcDateTime, new_id, new_metadata, utcnow
from salesguard.idempotency import IdempotencyColumns
from salesguard.validation import OBJECT_KEY_LENGTH


class Base(ServiceBase):
    __abstract__ = True
    metadata = new_metadata()


# Partial indexes' predicates, the same text as the statements' conditions that use them
# (:mod:`salesguard_orders.rules.reconciliation`), so the planner proves they apply.
OPEN_PAYMENT = "order_id IS NULL AND NOT reversed"
STATES_AN_ORDER = "stated_order_id IS NOT NULL"
UNCLASSIFIED = "status NOT IN ('APPROVED', 'FULFILLED', 'CLOSED')"
# A classified order not paid at all: what may be a fake deal (with its order's status and
# shipping), the same text as the rules' condition (rules.reconciliation.unpaid_state_sql).
UNPAID_STATE_ROW = "payment_state = 'UNPAID' AND paid_minor = 0"


def format_order_code(number: int) -> str:
    return f"O-{number:06d}"


class Order(Base):
    __tablename__ = "orders"

    # The readable code "O-000123" is this number; bank transfers quote it.
    number: Mapped[int] = mapped_column(AutoIncrement, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(32), unique=True, default=new_id)
    customer_id: Mapped[str] = mapped_column(String(32))
    customer_code: Mapped[str] = mapped_column(String(16), default="")
    # The customer's owner at submission; the order belongs to its submitter.
    owner_id: Mapped[str | None] = mapped_column(String(64))
    submitted_by: Mapped[str] = mapped_column(String(64))
    team_id: Mapped[str | None] = mapped_column(String(64))
    branch_id: Mapped[str | None] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3))
    total_minor: Mapped[int] = mapped_column(BigInteger)
    order_date: Mapped[date] = mapped_column(Date)
    expected_payment_date: Mapped[date] = mapped_column(Date)
    source_claim: Mapped[str] = mapped_column(String(32))
    registered_source: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="SUBMITTED")
    # ATTRIBUTION_MISMATCH, UNREGISTERED_CUSTOMER (rules.attribution), SOURCE_CONFLICT
    # (rules.source_claim).
    flags: Mapped[list[str]] = mapped_column(JSON, default=list)
    # The customer's name and company as matching keys, to match payers.
    customer_name_key: Mapped[str] = mapped_column(String(200), default="")
    customer_company_key: Mapped[str] = mapped_column(String(200), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    submitted_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    # The payment state reconciliation sets is :class:`OrderPaymentState`.
    shipped: Mapped[bool] = mapped_column(Boolean, default=False)
    # The latest back-order's promised shipping day (shipments.record_back_order): a fake
    # deal is past due only once this day is past too.
    promised_ship_date: Mapped[date | None] = mapped_column(Date)

    __table_args__ = (
        Index("ix_orders_submitter_submitted", "submitted_by", "submitted_at", "number"),
        Index("ix_orders_team_submitted", "team_id", "submitted_at", "number"),
        Index("ix_orders_branch_submitted", "branch_id", "submitted_at", "number"),
        Index("ix_orders_submitted", "submitted_at", "number"),
        Index("ix_orders_customer_date", "customer_id", "order_date"),
        # Listing and counting by status: only the rarer statuses an index helps with (a
        # classified status is most orders), and classification writes no entry here.
        Index(
            "ix_orders_status_unclassified",
            "status",
            postgresql_where=text(UNCLASSIFIED),
            sqlite_where=text(UNCLASSIFIED),
        ),
        # A payment that quotes no order finds the orders of its payer and amount, on
        # every write: by the customer's name or company key.
        Index("ix_orders_name_key_total", "customer_name_key", "currency", "total_minor"),
        Index("ix_orders_company_key_total", "customer_company_key", "currency", "total_minor"),
    )

    @property
    def code(self) -> str:
        return format_order_code(self.number)


class OrderPaymentState(Base):
    """An order's payment state, set by reconciliation (rules.reconciliation): a narrow row
    of its own, so that classifying most orders does not rewrite the wide order rows and
    their indexes (issue 16). Classification gives every classified order one (when it is
    approved, or by a full run); an order without one (submitted, rejected, cancelled
    before approval) is ``UNPAID``, nothing paid, not fully paid (:func:`payment_state_of`)."""

    __tablename__ = "order_payment_states"

    order_number: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    payment_state: Mapped[str] = mapped_column(String(16))
    paid_minor: Mapped[int] = mapped_column(BigInteger)
    fully_paid_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # The order's branch (it never changes): a commission run streams each branch's valid
    # orders of a period, one range of this table's index rather than every branch's.
    branch_id: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        # The valid orders of a branch and period, by the moment they were fully paid
        # (StreamValidOrders).
        Index(
            "ix_order_payment_states_branch_fully_paid",
            "branch_id",
            "fully_paid_at",
            "order_number",
        ),
        # The fake-deal and overdue-shipment checks read only the orders not paid at all:
        # what is outstanding, not all history; an order paid leaves it without an index
        # write (its new row is not in it).
        Index(
            "ix_order_payment_states_unpaid",
            "order_number",
            postgresql_where=text(UNPAID_STATE_ROW),
            sqlite_where=text(UNPAID_STATE_ROW),
        ),
    )


UNPAID_STATE = "UNPAID"


def payment_state_of(order_number: SQLColumnExpression[int]) -> ColumnElement[str]:
    """An order's payment state as an SQL expression (``UNPAID`` without a row)."""
    state = (
        select(OrderPaymentState.payment_state)
        .where(OrderPaymentState.order_number == order_number)
        .scalar_subquery()
    )
    return func.coalesce(state, UNPAID_STATE)


def is_unpaid(order_number: SQLColumnExpression[int]) -> ColumnElement[bool]:
    """The order has no payment state or an unpaid one, nothing paid (the rules' unpaid)."""
    return ~exists().where(
        OrderPaymentState.order_number == order_number,
        or_(
            OrderPaymentState.payment_state != UNPAID_STATE,
            OrderPaymentState.paid_minor != 0,
        ),
    )


class OrderLine(Base):
    __tablename__ = "order_lines"

    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), primary_key=True)
    line_no: Mapped[int] = mapped_column(Integer, primary_key=True)
    sku: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(500), default="")
    quantity_milli: Mapped[int] = mapped_column(BigInteger)
    unit_price_minor: Mapped[int] = mapped_column(BigInteger)
    discount_basis_points: Mapped[int] = mapped_column(Integer, default=0)
    line_total_minor: Mapped[int] = mapped_column(BigInteger)


class ApprovalStep(Base):
    """One step of an order's approval chain (rules.approvals)."""

    __tablename__ = "approval_steps"

    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), primary_key=True)
    sequence: Mapped[int] = mapped_column(Integer, primary_key=True)
    # MANAGER (of the order's branch), FINANCE, or HQ_MANAGER.
    role: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="PENDING")
    reason: Mapped[str] = mapped_column(String(200), default="")
    approver_id: Mapped[str | None] = mapped_column(String(64))
    comment: Mapped[str] = mapped_column(Text, default="")
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # The order's submitter, copied when the step is created (an order's submitter never
    # changes): whose timeline the step is on, read by one index range like their orders.
    order_submitted_by: Mapped[str] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_approval_steps_pending", "status", "role"),
        # The decisions one employee made, by time: their timeline.
        Index("ix_approval_steps_approver_decided", "approver_id", "decided_at"),
        # The decisions on one employee's orders, by time: their timeline.
        Index("ix_approval_steps_submitter_decided", "order_submitted_by", "decided_at"),
    )


class Payment(Base):
    """A payment received; reversals are recorded on it, never deletions."""

    __tablename__ = "payments"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    bank_reference: Mapped[str] = mapped_column(String(128), unique=True)
    payer_name: Mapped[str] = mapped_column(String(200), default="")
    payer_account: Mapped[str] = mapped_column(String(64), default="")
    # The payer's name as a matching key (same normalisation as customers' names).
    payer_key: Mapped[str] = mapped_column(String(200), default="")
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    paid_at: Mapped[datetime] = mapped_column(UtcDateTime())
    reference_text: Mapped[str] = mapped_column(String(500), default="")
    # An order code the remittance text quotes ("O-000123"), extracted when recorded.
    quoted_order_number: Mapped[int | None] = mapped_column(BigInteger)
    voucher_key: Mapped[str | None] = mapped_column(String(OBJECT_KEY_LENGTH))
    # Given when recorded, or found by reconciliation.
    stated_order_id: Mapped[str | None] = mapped_column(String(32))
    order_id: Mapped[str | None] = mapped_column(String(32))
    customer_id: Mapped[str | None] = mapped_column(String(32))
    branch_id: Mapped[str | None] = mapped_column(String(64))
    matched_by: Mapped[str] = mapped_column(String(16), default="")
    reversed: Mapped[bool] = mapped_column(Boolean, default=False)
    reversal_kind: Mapped[str | None] = mapped_column(String(16))
    reversal_reason: Mapped[str] = mapped_column(Text, default="")
    reversed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    reversed_by: Mapped[str | None] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    recorded_by: Mapped[str] = mapped_column(String(64))
    statement_id: Mapped[str | None] = mapped_column(String(32))
    # The submitter of the payment's order (the one it was matched to, else the one it was
    # recorded for; none while it has neither), set with that order: whose timeline it is on.
    # Copied like ``branch_id`` (a payment's match never changes once made).
    order_submitted_by: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        # Open payments (not matched, not reversed) by customer + amount group: matching
        # reads no other. A match leaves it without an index write (issue 16).
        Index(
            "ix_payments_open_payer_amount",
            "payer_key",
            "amount_minor",
            "currency",
            postgresql_where=text(OPEN_PAYMENT),
            sqlite_where=text(OPEN_PAYMENT),
        ),
        # The incremental run's open payments: recorded since the last run, or quoting an
        # order submitted since.
        Index(
            "ix_payments_open_recorded",
            "recorded_at",
            postgresql_where=text(OPEN_PAYMENT),
            sqlite_where=text(OPEN_PAYMENT),
        ),
        Index(
            "ix_payments_open_quoted",
            "quoted_order_number",
            postgresql_where=text(OPEN_PAYMENT),
            sqlite_where=text(OPEN_PAYMENT),
        ),
        Index("ix_payments_order", "order_id"),
        # Payments not yet matched belong to the order they were recorded for (timeline);
        # the few that state one (a lookup by it implies it is set).
        Index(
            "ix_payments_stated_order",
            "stated_order_id",
            postgresql_where=text(STATES_AN_ORDER),
            sqlite_where=text(STATES_AN_ORDER),
        ),
        Index("ix_payments_paid", "paid_at", "id"),
        Index("ix_payments_branch_paid", "branch_id", "paid_at"),
        # One employee's payments by time, in the timeline's order: their timeline.
        Index("ix_payments_submitter_paid", "order_submitted_by", "paid_at", "id"),
    )


class Shipment(Base):
    __tablename__ = "shipments"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    carrier: Mapped[str] = mapped_column(String(100))
    tracking_number: Mapped[str] = mapped_column(String(100))
    shipped_at: Mapped[datetime] = mapped_column(UtcDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    recorded_by: Mapped[str] = mapped_column(String(64))
    # The order's submitter, copied when the shipment is recorded: whose timeline it is on.
    order_submitted_by: Mapped[str] = mapped_column(String(64))

    __table_args__ = (
        # One employee's shipments by time, in the timeline's order: their timeline.
        Index("ix_shipments_submitter_shipped", "order_submitted_by", "shipped_at", "id"),
    )


class BackOrder(Base):
    """A promise that an approved order's goods ship by a day; each one is kept, the
    latest is the order's ``promised_ship_date``."""

    __tablename__ = "back_orders"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    promised_ship_date: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    recorded_by: Mapped[str] = mapped_column(String(64))


class Upload(Base):
    """A presigned upload handed out: a statement CSV or a payment voucher photo."""

    __tablename__ = "uploads"

    key: Mapped[str] = mapped_column(String(OBJECT_KEY_LENGTH), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(16))
    employee_id: Mapped[str] = mapped_column(String(64))
    content_type: Mapped[str] = mapped_column(String(32))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())


class StatementImport(Base):
    """One import of a bank statement file: applied whole or not at all."""

    __tablename__ = "statement_imports"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    statement_key: Mapped[str] = mapped_column(String(OBJECT_KEY_LENGTH), unique=True)
    sha256: Mapped[str] = mapped_column(String(64))
    rows: Mapped[int] = mapped_column(Integer)
    accepted: Mapped[int] = mapped_column(Integer)
    duplicates: Mapped[int] = mapped_column(Integer)
    imported_by: Mapped[str] = mapped_column(String(64))
    imported_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class ReconciliationRun(Base):
    __tablename__ = "reconciliation_runs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    as_of: Mapped[date] = mapped_column(Date)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    run_by: Mapped[str] = mapped_column(String(64))
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Alert(AlertColumns, Base):
    pass


class AlertDecision(AlertDecisionColumns, Base):
    pass


class IdempotencyKey(IdempotencyColumns, Base):
    pass
