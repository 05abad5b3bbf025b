"""orders, approvals, payments, shipments, uploads, statements, reconciliation runs

Revision ID: 0001
Revises:
Create Date: 2026-11-26 22:16:16.647711
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
        "orders",
        sa.Column(
            "number",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("customer_code", sa.String(length=16), nullable=False),
        sa.Column("owner_id", sa.String(length=64), nullable=True),
        sa.Column("submitted_by", sa.String(length=64), nullable=False),
        sa.Column("team_id", sa.String(length=64), nullable=True),
        sa.Column("branch_id", sa.String(length=64), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("total_minor", sa.BigInteger(), nullable=False),
        sa.Column("order_date", sa.Date(), nullable=False),
        sa.Column("expected_payment_date", sa.Date(), nullable=False),
        sa.Column("source_claim", sa.String(length=32), nullable=False),
        sa.Column("registered_source", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("flags", sa.JSON(), nullable=False),
        sa.Column("customer_name_key", sa.String(length=200), nullable=False),
        sa.Column("customer_company_key", sa.String(length=200), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("submitted_at", salesguard.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", salesguard.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("payment_state", sa.String(length=16), nullable=False),
        sa.Column("paid_minor", sa.BigInteger(), nullable=False),
        sa.Column("fully_paid_at", salesguard.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("shipped", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_orders")),
        sa.UniqueConstraint("id", name=op.f("uq_orders_id")),
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index(
            "ix_orders_branch_submitted", ["branch_id", "submitted_at", "number"], unique=False
        )
        batch_op.create_index(
            "ix_orders_customer_date", ["customer_id", "order_date"], unique=False
        )
        batch_op.create_index("ix_orders_fully_paid", ["fully_paid_at"], unique=False)
        batch_op.create_index(
            "ix_orders_status_due", ["status", "expected_payment_date"], unique=False
        )
        batch_op.create_index("ix_orders_submitted", ["submitted_at", "number"], unique=False)
        batch_op.create_index(
            "ix_orders_submitter_submitted",
            ["submitted_by", "submitted_at", "number"],
            unique=False,
        )
        batch_op.create_index(
            "ix_orders_team_submitted", ["team_id", "submitted_at", "number"], unique=False
        )

    op.create_table(
        "payments",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("bank_reference", sa.String(length=128), nullable=False),
        sa.Column("payer_name", sa.String(length=200), nullable=False),
        sa.Column("payer_account", sa.String(length=64), nullable=False),
        sa.Column("payer_key", sa.String(length=200), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("paid_at", salesguard.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("reference_text", sa.String(length=500), nullable=False),
        sa.Column("quoted_order_number", sa.BigInteger(), nullable=True),
        sa.Column("voucher_key", sa.String(length=512), nullable=True),
        sa.Column("stated_order_id", sa.String(length=32), nullable=True),
        sa.Column("order_id", sa.String(length=32), nullable=True),
        sa.Column("customer_id", sa.String(length=32), nullable=True),
        sa.Column("branch_id", sa.String(length=64), nullable=True),
        sa.Column("matched_by", sa.String(length=16), nullable=False),
        sa.Column("reversed", sa.Boolean(), nullable=False),
        sa.Column("reversal_kind", sa.String(length=16), nullable=True),
        sa.Column("reversal_reason", sa.Text(), nullable=False),
        sa.Column("reversed_at", salesguard.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("reversed_by", sa.String(length=64), nullable=True),
        sa.Column("recorded_at", salesguard.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.Column("statement_id", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
        sa.UniqueConstraint("bank_reference", name=op.f("uq_payments_bank_reference")),
    )
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.create_index("ix_payments_branch_paid", ["branch_id", "paid_at"], unique=False)
        batch_op.create_index("ix_payments_order", ["order_id"], unique=False)
        batch_op.create_index("ix_payments_paid", ["paid_at", "id"], unique=False)
        batch_op.create_index(
            "ix_payments_payer_amount", ["payer_key", "amount_minor", "currency"], unique=False
        )
        batch_op.create_index("ix_payments_quoted_order", ["quoted_order_number"], unique=False)

    op.create_table(
        "reconciliation_runs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("started_at", salesguard.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", salesguard.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("run_by", sa.String(length=64), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconciliation_runs")),
    )
    op.create_table(
        "statement_imports",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("statement_key", sa.String(length=512), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("accepted", sa.Integer(), nullable=False),
        sa.Column("duplicates", sa.Integer(), nullable=False),
        sa.Column("imported_by", sa.String(length=64), nullable=False),
        sa.Column("imported_at", salesguard.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_statement_imports")),
        sa.UniqueConstraint("statement_key", name=op.f("uq_statement_imports_statement_key")),
    )
    op.create_table(
        "uploads",
        sa.Column("key", sa.String(length=512), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("employee_id", sa.String(length=64), nullable=False),
        sa.Column("content_type", sa.String(length=32), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("created_at", salesguard.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", salesguard.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_uploads")),
    )
    op.create_table(
        "approval_steps",
        sa.Column("order_id", sa.String(length=32), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("approver_id", sa.String(length=64), nullable=True),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("decided_at", salesguard.db.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_approval_steps_order_id_orders")
        ),
        sa.PrimaryKeyConstraint("order_id", "sequence", name=op.f("pk_approval_steps")),
    )
    with op.batch_alter_table("approval_steps", schema=None) as batch_op:
        batch_op.create_index("ix_approval_steps_pending", ["status", "role"], unique=False)

    op.create_table(
        "order_lines",
        sa.Column("order_id", sa.String(length=32), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("quantity_milli", sa.BigInteger(), nullable=False),
        sa.Column("unit_price_minor", sa.BigInteger(), nullable=False),
        sa.Column("discount_basis_points", sa.Integer(), nullable=False),
        sa.Column("line_total_minor", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_order_lines_order_id_orders")
        ),
        sa.PrimaryKeyConstraint("order_id", "line_no", name=op.f("pk_order_lines")),
    )
    op.create_table(
        "shipments",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("order_id", sa.String(length=32), nullable=False),
        sa.Column("carrier", sa.String(length=100), nullable=False),
        sa.Column("tracking_number", sa.String(length=100), nullable=False),
        sa.Column("shipped_at", salesguard.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", salesguard.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("recorded_at", salesguard.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_shipments_order_id_orders")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shipments")),
    )
    with op.batch_alter_table("shipments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_shipments_order_id"), ["order_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("shipments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_shipments_order_id"))

    op.drop_table("shipments")
    op.drop_table("order_lines")
    with op.batch_alter_table("approval_steps", schema=None) as batch_op:
        batch_op.drop_index("ix_approval_steps_pending")

    op.drop_table("approval_steps")
    op.drop_table("uploads")
    op.drop_table("statement_imports")
    op.drop_table("reconciliation_runs")
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_index("ix_payments_quoted_order")
        batch_op.drop_index("ix_payments_payer_amount")
        batch_op.drop_index("ix_payments_paid")
        batch_op.drop_index("ix_payments_order")
        batch_op.drop_index("ix_payments_branch_paid")

    op.drop_table("payments")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index("ix_orders_team_submitted")
        batch_op.drop_index("ix_orders_submitter_submitted")
        batch_op.drop_index("ix_orders_submitted")
        batch_op.drop_index("ix_orders_status_due")
        batch_op.drop_index("ix_orders_fully_paid")
        batch_op.drop_index("ix_orders_customer_date")
        batch_op.drop_index("ix_orders_branch_submitted")

    op.drop_table("orders")
    op.drop_table("idempotency_keys")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_alerts_employee_detected")
        batch_op.drop_index("ix_alerts_detected")
        batch_op.drop_index("ix_alerts_customer")
        batch_op.drop_index("ix_alerts_branch_detected")

    op.drop_table("alerts")
