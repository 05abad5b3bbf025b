"""reconciliation's indexes narrowed to the rows its statements read (issue 16)

A full run writes most payments once (their match) and most orders once (their state):
each index a row is in costs that write. The payment indexes matching reads become partial
over open payments (not matched, not reversed), which a match leaves without an index
write: the quoted order number, the customer + amount group, and the new one by the time
recorded (the incremental run's payments since the last run); the stated-order index
becomes partial over the payments that state one. Orders gain a
partial index of the orders that may be fake deals (unpaid, unshipped, approved or
fulfilled) by due day, so the fake-deal check reads what is outstanding, not history; a
classified order's new row is not in it, so classification writes no entry there. The
status index (which the fake-deal check no longer reads) becomes partial over the
unclassified statuses: listing or counting a classified status reads most orders anyway
(the planner scans), and classification writes no entry there either.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 00:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The models' predicates (salesguard_orders.models), as of this revision.
OPEN_PAYMENT = "order_id IS NULL AND NOT reversed"
STATES_AN_ORDER = "stated_order_id IS NOT NULL"
UNCLASSIFIED = "status NOT IN ('APPROVED', 'FULFILLED', 'CLOSED')"
FAKE_DEAL_CANDIDATE = (
    "status IN ('APPROVED', 'FULFILLED') AND payment_state = 'UNPAID' AND paid_minor = 0"
    " AND NOT shipped"
)


def _partial_index(name: str, table: str, columns: list[str], predicate: str) -> None:
    op.create_index(
        name,
        table,
        columns,
        postgresql_where=sa.text(predicate),
        sqlite_where=sa.text(predicate),
    )


def upgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_index("ix_payments_quoted_order")
        batch_op.drop_index("ix_payments_payer_amount")
        batch_op.drop_index("ix_payments_stated_order")
    _partial_index(
        "ix_payments_open_payer_amount",
        "payments",
        ["payer_key", "amount_minor", "currency"],
        OPEN_PAYMENT,
    )
    _partial_index("ix_payments_open_quoted", "payments", ["quoted_order_number"], OPEN_PAYMENT)
    _partial_index("ix_payments_open_recorded", "payments", ["recorded_at"], OPEN_PAYMENT)
    _partial_index("ix_payments_stated_order", "payments", ["stated_order_id"], STATES_AN_ORDER)
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index("ix_orders_status_due")
    _partial_index(
        "ix_orders_fake_deal_candidates", "orders", ["expected_payment_date"], FAKE_DEAL_CANDIDATE
    )
    _partial_index("ix_orders_status_unclassified", "orders", ["status"], UNCLASSIFIED)


def downgrade() -> None:
    op.drop_index("ix_orders_status_unclassified", table_name="orders")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index(
            "ix_orders_status_due", ["status", "expected_payment_date"], unique=False
        )
    op.drop_index("ix_orders_fake_deal_candidates", table_name="orders")
    op.drop_index("ix_payments_stated_order", table_name="payments")
    op.drop_index("ix_payments_open_recorded", table_name="payments")
    op.drop_index("ix_payments_open_quoted", table_name="payments")
    op.drop_index("ix_payments_open_payer_amount", table_name="payments")
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.create_index("ix_payments_stated_order", ["stated_order_id"], unique=False)
        batch_op.create_index(
            "ix_payments_payer_amount", ["payer_key", "amount_minor", "currency"], unique=False
        )
        batch_op.create_index("ix_payments_quoted_order", ["quoted_order_number"], unique=False)
