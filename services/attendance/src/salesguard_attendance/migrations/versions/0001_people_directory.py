"""people directory and alerts

Revision ID: 0001
Revises:
Create Date: 2026-11-26 20:27:29.982965
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import salesguard.db

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("rule", sa.String(length=8), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("resolution", sa.String(length=16), nullable=True),
        sa.Column("employee_id", sa.String(length=64), nullable=True),
        sa.Column("customer_id", sa.String(length=32), nullable=True),
        sa.Column("order_id", sa.String(length=32), nullable=True),
        sa.Column("branch_id", sa.String(length=64), nullable=True),
        sa.Column("detected_at", salesguard.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("dedupe_key", sa.String(length=200), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("updated_at", salesguard.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("updated_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_alerts_dedupe_key")),
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_alerts_branch_detected", ["branch_id", "detected_at"], unique=False
        )
        batch_op.create_index("ix_alerts_customer", ["customer_id"], unique=False)
        batch_op.create_index("ix_alerts_detected", ["detected_at", "id"], unique=False)
        batch_op.create_index(
            "ix_alerts_employee_detected", ["employee_id", "detected_at"], unique=False
        )

    op.create_table(
        "branches",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("headquarters", sa.Boolean(), nullable=False),
        sa.Column("updated_at", salesguard.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_branches")),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("actor_id", sa.String(length=64), nullable=False),
        sa.Column("operation", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("response", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", salesguard.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("actor_id", "operation", "key", name=op.f("pk_idempotency_keys")),
    )
    op.create_table(
        "teams",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("branch_id", sa.String(length=64), nullable=False),
        sa.Column("updated_at", salesguard.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branches.id"], name=op.f("fk_teams_branch_id_branches")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teams")),
    )
    op.create_table(
        "employees",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("team_id", sa.String(length=64), nullable=True),
        sa.Column("branch_id", sa.String(length=64), nullable=True),
        sa.Column("manager_id", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("hire_date", sa.Date(), nullable=True),
        sa.Column("leave_date", sa.Date(), nullable=True),
        sa.Column("updated_at", salesguard.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branches.id"], name=op.f("fk_employees_branch_id_branches")
        ),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_employees_team_id_teams")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_employees")),
    )
    with op.batch_alter_table("employees", schema=None) as batch_op:
        batch_op.create_index("ix_employees_branch", ["branch_id", "id"], unique=False)
        batch_op.create_index("ix_employees_team", ["team_id", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("employees", schema=None) as batch_op:
        batch_op.drop_index("ix_employees_team")
        batch_op.drop_index("ix_employees_branch")

    op.drop_table("employees")
    op.drop_table("teams")
    op.drop_table("idempotency_keys")
    op.drop_table("branches")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_alerts_employee_detected")
        batch_op.drop_index("ix_alerts_detected")
        batch_op.drop_index("ix_alerts_customer")
        batch_op.drop_index("ix_alerts_branch_detected")

    op.drop_table("alerts")
