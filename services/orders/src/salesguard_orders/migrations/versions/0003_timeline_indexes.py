"""indexes for an employee's timeline (issue 6, timeline)

The approvals an employee decided, by time; and the payments recorded for an
order that reconciliation has not matched yet (the timeline joins a payment to
its matched order, else to that one). Orders, payments' matched orders and
shipments already have the indexes the timeline uses.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 00:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("approval_steps", schema=None) as batch_op:
        batch_op.create_index(
            "ix_approval_steps_approver_decided", ["approver_id", "decided_at"], unique=False
        )
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.create_index("ix_payments_stated_order", ["stated_order_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_index("ix_payments_stated_order")
    with op.batch_alter_table("approval_steps", schema=None) as batch_op:
        batch_op.drop_index("ix_approval_steps_approver_decided")
