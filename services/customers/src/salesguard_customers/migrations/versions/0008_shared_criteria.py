"""shared duplicate criteria that one team cannot orchestrate (C12) (issue 11)

A refused registration keeps the refused employee's branch, so C12 can count the
branches that hit a value (one team cannot fake another branch's refusals). A shared
value gains its state: shared or un-shared again, since when, by whom and why (a
manager's confirmation or an un-sharing); values shared so far stay shared.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 00:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

shared_contact_values = sa.table("shared_contact_values", sa.column("shared", sa.Boolean()))


def upgrade() -> None:
    with op.batch_alter_table("duplicate_blocks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("branch_id", sa.String(length=64), nullable=True))
    with op.batch_alter_table("shared_contact_values", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("shared", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
        batch_op.add_column(sa.Column("decided_by", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("reason", sa.Text(), server_default="", nullable=False))


def downgrade() -> None:
    # Without the state, every row would read as shared: an un-shared value keeps blocking.
    op.execute(
        sa.delete(shared_contact_values).where(shared_contact_values.c.shared.is_(sa.false()))
    )
    with op.batch_alter_table("shared_contact_values", schema=None) as batch_op:
        batch_op.drop_column("reason")
        batch_op.drop_column("decided_by")
        batch_op.drop_column("shared")
    with op.batch_alter_table("duplicate_blocks", schema=None) as batch_op:
        batch_op.drop_column("branch_id")
