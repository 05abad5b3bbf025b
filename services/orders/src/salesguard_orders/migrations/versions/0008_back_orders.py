"""back-orders: an approved order's promised shipping day (issue 17)

An honest order whose goods are out of stock ships and is paid after its due date, and
until then it is exactly what FAKE_DEAL_SUSPECTED describes. The warehouse now records a
back-order with the day it promises to ship; a fake deal is past due only once that day
is past too. Every back-order is kept (``back_orders``); the order carries the latest.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 00:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import salesguard.db

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("orders", sa.Column("promised_ship_date", sa.Date(), nullable=True))
    op.create_table(
        "back_orders",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("order_id", sa.String(length=32), nullable=False),
        sa.Column("promised_ship_date", sa.Date(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("recorded_at", salesguard.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_back_orders_order_id", "back_orders", ["order_id"])


def downgrade() -> None:
    op.drop_index("ix_back_orders_order_id", table_name="back_orders")
    op.drop_table("back_orders")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_column("promised_ship_date")
