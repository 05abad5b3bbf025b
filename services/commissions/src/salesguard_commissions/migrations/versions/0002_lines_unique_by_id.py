"""lines: the derived ID is the one unique key (drop the redundant unique constraint)

A line's ID is derived from (period, branch, order, kind) alone, so the primary
key already allows one line per (period, branch, order, kind). The second unique
index on the same tuple doubled the cost of every written line: a random-key
index insert plus, on a re-run, a uniqueness check against the line just deleted.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 23:10:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("lines", schema=None) as batch_op:
        batch_op.drop_constraint("uq_lines_period_branch_id_order_id_kind", type_="unique")


def downgrade() -> None:
    with op.batch_alter_table("lines", schema=None) as batch_op:
        batch_op.create_unique_constraint(
            "uq_lines_period_branch_id_order_id_kind", ["period", "branch_id", "order_id", "kind"]
        )
