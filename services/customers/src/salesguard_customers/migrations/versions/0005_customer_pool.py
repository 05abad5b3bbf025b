"""customer pool, claims and over-broad duplicate criteria (issue 6, C11/C12)

Customers gain the pool's state (when the current owner took them, when they were
pooled, who held them before); two tables record refused duplicate registrations
and the criterion values found too common to block on.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 00:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import salesguard.db

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

customers = sa.table(
    "customers",
    sa.column("registered_at", salesguard.db.UtcDateTime(timezone=True)),
    sa.column("owned_since", salesguard.db.UtcDateTime(timezone=True)),
)


def upgrade() -> None:
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("owned_since", salesguard.db.UtcDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("pooled_at", salesguard.db.UtcDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("previous_owner_id", sa.String(length=64), nullable=True))
    # Existing customers have been owned since their registration (one statement).
    op.execute(sa.update(customers).values(owned_since=customers.c.registered_at))
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.alter_column(
            "owned_since",
            existing_type=salesguard.db.UtcDateTime(timezone=True),
            nullable=False,
        )
        batch_op.create_index(
            "ix_customers_branch_pooled", ["branch_id", "pooled_at", "number"], unique=False
        )

    op.create_table(
        "duplicate_blocks",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("criterion", sa.String(length=16), nullable=False),
        sa.Column("value_key", sa.String(length=401), nullable=False),
        sa.Column("employee_id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("at", salesguard.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_duplicate_blocks")),
    )
    with op.batch_alter_table("duplicate_blocks", schema=None) as batch_op:
        batch_op.create_index(
            "ix_duplicate_blocks_value_at", ["criterion", "value_key", "at"], unique=False
        )

    op.create_table(
        "shared_contact_values",
        sa.Column("criterion", sa.String(length=16), nullable=False),
        sa.Column("value_key", sa.String(length=401), nullable=False),
        sa.Column("marked_at", salesguard.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("criterion", "value_key", name=op.f("pk_shared_contact_values")),
    )


def downgrade() -> None:
    op.drop_table("shared_contact_values")
    with op.batch_alter_table("duplicate_blocks", schema=None) as batch_op:
        batch_op.drop_index("ix_duplicate_blocks_value_at")
    op.drop_table("duplicate_blocks")
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_index("ix_customers_branch_pooled")
        batch_op.drop_column("previous_owner_id")
        batch_op.drop_column("pooled_at")
        batch_op.drop_column("owned_since")
