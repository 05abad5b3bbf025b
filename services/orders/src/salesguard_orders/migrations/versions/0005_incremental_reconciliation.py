"""incremental reconciliation on every payment write (issue 12)

A payment recorded without an order code is matched by customer + amount in the same
transaction: its payer's orders of that amount are found by the customer's name
key or company key, currency and total, so the lookup costs what it touches, not a
scan of every order. Payments already have the matching index (payer key, amount,
currency), and every other lookup of the narrowed statements uses a primary key or an
existing index.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 00:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index(
            "ix_orders_name_key_total",
            ["customer_name_key", "currency", "total_minor"],
            unique=False,
        )
        batch_op.create_index(
            "ix_orders_company_key_total",
            ["customer_company_key", "currency", "total_minor"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index("ix_orders_company_key_total")
        batch_op.drop_index("ix_orders_name_key_total")
