"""plans, periods, lines, frozen employees

Revision ID: 0001
Revises:
Create Date: 2026-11-26 22:19:05.784411
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
        "frozen_employees",
        sa.Column("employee_id", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("frozen_at", salesguard.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("frozen_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("employee_id", name=op.f("pk_frozen_employees")),
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
        "lines",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("branch_id", sa.String(length=64), nullable=False),
        sa.Column("employee_id", sa.String(length=64), nullable=False),
        sa.Column("team_id", sa.String(length=64), nullable=True),
        sa.Column("order_id", sa.String(length=32), nullable=False),
        sa.Column("order_code", sa.String(length=16), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("base_minor", sa.BigInteger(), nullable=False),
        sa.Column("rate_bp", sa.Integer(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("alert_ids", sa.JSON(), nullable=False),
        sa.Column("source_claim", sa.String(length=32), nullable=False),
        sa.Column("registered_source", sa.String(length=32), nullable=False),
        sa.Column("plan_version", sa.Integer(), nullable=False),
        sa.Column("fully_paid_at", salesguard.db.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lines")),
        sa.UniqueConstraint(
            "period",
            "branch_id",
            "order_id",
            "kind",
            name=op.f("uq_lines_period_branch_id_order_id_kind"),
        ),
    )
    with op.batch_alter_table("lines", schema=None) as batch_op:
        batch_op.create_index("ix_lines_branch_period", ["branch_id", "period"], unique=False)
        batch_op.create_index("ix_lines_employee_period", ["employee_id", "period"], unique=False)
        batch_op.create_index("ix_lines_order", ["order_id", "kind"], unique=False)

    op.create_table(
        "periods",
        sa.Column("branch_id", sa.String(length=64), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("plan_version", sa.Integer(), nullable=True),
        sa.Column("run_count", sa.Integer(), nullable=False),
        sa.Column("last_run_at", salesguard.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("locked_at", salesguard.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("locked_by", sa.String(length=64), nullable=True),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("branch_id", "period", name=op.f("pk_periods")),
    )
    op.create_table(
        "plans",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("company_rate_bp", sa.Integer(), nullable=False),
        sa.Column("personal_rate_bp", sa.Integer(), nullable=False),
        sa.Column("cap_per_order_minor", sa.BigInteger(), nullable=True),
        sa.Column("cap_per_period_minor", sa.BigInteger(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", salesguard.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plans")),
        sa.UniqueConstraint("version", name=op.f("uq_plans_version")),
    )


def downgrade() -> None:
    op.drop_table("plans")
    op.drop_table("periods")
    with op.batch_alter_table("lines", schema=None) as batch_op:
        batch_op.drop_index("ix_lines_order")
        batch_op.drop_index("ix_lines_employee_period")
        batch_op.drop_index("ix_lines_branch_period")

    op.drop_table("lines")
    op.drop_table("idempotency_keys")
    op.drop_table("frozen_employees")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_alerts_employee_detected")
        batch_op.drop_index("ix_alerts_detected")
        batch_op.drop_index("ix_alerts_customer")
        batch_op.drop_index("ix_alerts_branch_detected")

    op.drop_table("alerts")
