"""an order's payment state in a narrow table of its own (issue 16)

Reconciliation's first run classifies most orders: written into the wide ``orders`` rows,
each classification rewrote the whole row and an entry in each of its ten indexes (37
buffer hits and 12 WAL records a row), most of the run. The payment state (state, amount
paid, the moment fully paid) moves to ``order_payment_states``, keyed by the order's
number, with only the indexes queries read: the valid orders of a branch and period by the
moment they were fully paid (the order's branch is copied: it never changes), and
(partial) the orders not paid at all. Every classified order has a row (classification
gives it one when the order is approved); an order without one is unpaid, nothing paid.
Existing states are copied set-based.

The fake-deal and overdue-shipment checks read the unpaid rows' partial index, then their
orders by number: the orders' partial index of fake-deal candidates (which said "unpaid"
on the order) goes.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 00:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import salesguard.db

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The models' predicates (salesguard_orders.models), as of this revision and the one before.
UNPAID_STATE_ROW = "payment_state = 'UNPAID' AND paid_minor = 0"
FAKE_DEAL_CANDIDATE = (
    "status IN ('APPROVED', 'FULFILLED') AND payment_state = 'UNPAID' AND paid_minor = 0"
    " AND NOT shipped"
)
STATE_COLUMNS = ("payment_state", "paid_minor", "fully_paid_at")


def upgrade() -> None:
    op.create_table(
        "order_payment_states",
        sa.Column("order_number", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("payment_state", sa.String(length=16), nullable=False),
        sa.Column("paid_minor", sa.BigInteger(), nullable=False),
        sa.Column("fully_paid_at", salesguard.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("branch_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("order_number"),
    )
    op.execute(
        "INSERT INTO order_payment_states"
        " (order_number, payment_state, paid_minor, fully_paid_at, branch_id)"
        " SELECT number, payment_state, paid_minor, fully_paid_at, branch_id FROM orders"
        " WHERE status IN ('APPROVED', 'FULFILLED', 'CLOSED') OR payment_state <> 'UNPAID'"
        " OR paid_minor <> 0 OR fully_paid_at IS NOT NULL"
    )
    op.create_index(
        "ix_order_payment_states_branch_fully_paid",
        "order_payment_states",
        ["branch_id", "fully_paid_at", "order_number"],
    )
    op.create_index(
        "ix_order_payment_states_unpaid",
        "order_payment_states",
        ["order_number"],
        postgresql_where=sa.text(UNPAID_STATE_ROW),
        sqlite_where=sa.text(UNPAID_STATE_ROW),
    )
    op.drop_index("ix_orders_fake_deal_candidates", table_name="orders")
    op.drop_index("ix_orders_fully_paid", table_name="orders")
    # Both databases drop a column in place (SQLite since 3.35): no table rebuilt.
    for column in STATE_COLUMNS:
        op.execute(f"ALTER TABLE orders DROP COLUMN {column}")


def downgrade() -> None:
    op.add_column(
        "orders",
        sa.Column("payment_state", sa.String(length=16), nullable=False, server_default="UNPAID"),
    )
    op.add_column(
        "orders", sa.Column("paid_minor", sa.BigInteger(), nullable=False, server_default="0")
    )
    op.add_column(
        "orders",
        sa.Column("fully_paid_at", salesguard.db.UtcDateTime(timezone=True), nullable=True),
    )
    op.execute(
        "UPDATE orders SET payment_state = s.payment_state, paid_minor = s.paid_minor,"
        " fully_paid_at = s.fully_paid_at FROM order_payment_states s"
        " WHERE s.order_number = orders.number"
    )
    op.create_index("ix_orders_fully_paid", "orders", ["fully_paid_at"])
    op.create_index(
        "ix_orders_fake_deal_candidates",
        "orders",
        ["expected_payment_date"],
        postgresql_where=sa.text(FAKE_DEAL_CANDIDATE),
        sqlite_where=sa.text(FAKE_DEAL_CANDIDATE),
    )
    op.drop_table("order_payment_states")
