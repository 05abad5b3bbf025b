"""customer registry, follow-ups, audit trail, exports, alerts

Revision ID: 0001
Revises:
Create Date: 2026-11-26 20:26:43.945802
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
        "audit_events",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("at", salesguard.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("customer_ids", sa.JSON(), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("before", sa.JSON(), nullable=False),
        sa.Column("after", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("trace_id", sa.String(length=32), nullable=False),
        sa.Column("branch_id", sa.String(length=64), nullable=True),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_events")),
        sa.UniqueConstraint("id", name=op.f("uq_audit_events_id")),
    )
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index("ix_audit_events_actor_at", ["actor_id", "at"], unique=False)
        batch_op.create_index("ix_audit_events_branch_seq", ["branch_id", "seq"], unique=False)

    op.create_table(
        "contact_reads",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("actor_id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("at", salesguard.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_reads")),
    )
    with op.batch_alter_table("contact_reads", schema=None) as batch_op:
        batch_op.create_index("ix_contact_reads_actor_at", ["actor_id", "at"], unique=False)

    op.create_table(
        "customers",
        sa.Column(
            "number",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("company", sa.String(length=200), nullable=False),
        sa.Column("identity_key", sa.String(length=401), nullable=False),
        sa.Column("phone_cipher", sa.LargeBinary(), nullable=True),
        sa.Column("phone_index", sa.String(length=64), nullable=True),
        sa.Column("email_cipher", sa.LargeBinary(), nullable=True),
        sa.Column("email_index", sa.String(length=64), nullable=True),
        sa.Column("address_cipher", sa.LargeBinary(), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lng", sa.Float(), nullable=True),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("source_detail", sa.String(length=500), nullable=False),
        sa.Column("owner_id", sa.String(length=64), nullable=True),
        sa.Column("team_id", sa.String(length=64), nullable=True),
        sa.Column("branch_id", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("first_contact_at", salesguard.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("registered_at", salesguard.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("registered_by", sa.String(length=64), nullable=False),
        sa.Column("updated_at", salesguard.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_customers")),
        sa.UniqueConstraint("id", name=op.f("uq_customers_id")),
    )
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.create_index(
            "ix_customers_branch_registered", ["branch_id", "registered_at", "number"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_customers_email_index"), ["email_index"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_customers_identity_key"), ["identity_key"], unique=False
        )
        batch_op.create_index(
            "ix_customers_owner_registered", ["owner_id", "registered_at", "number"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_customers_phone_index"), ["phone_index"], unique=False)
        batch_op.create_index("ix_customers_registered", ["registered_at", "number"], unique=False)
        batch_op.create_index(
            "ix_customers_team_registered", ["team_id", "registered_at", "number"], unique=False
        )

    op.create_table(
        "export_requests",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("requester_id", sa.String(length=64), nullable=False),
        sa.Column("branch_id", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("customer_ids", sa.JSON(), nullable=False),
        sa.Column("requested_at", salesguard.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decided_at", salesguard.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("decision_comment", sa.Text(), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("object_key", sa.String(length=512), nullable=True),
        sa.Column("completed_at", salesguard.db.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_export_requests")),
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
        "follow_ups",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("employee_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("at", salesguard.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("recorded_at", salesguard.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_follow_ups_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_follow_ups")),
    )
    with op.batch_alter_table("follow_ups", schema=None) as batch_op:
        batch_op.create_index("ix_follow_ups_customer_at", ["customer_id", "at"], unique=False)
        batch_op.create_index("ix_follow_ups_employee_at", ["employee_id", "at"], unique=False)

    _forbid_audit_changes()


# The audit trail is append-only: the database itself refuses UPDATE and DELETE.
def _forbid_audit_changes() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION audit_events_append_only() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION 'audit_events is append-only';
            END;
            $$ LANGUAGE plpgsql
            """
        )
        op.execute(
            "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
            "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()"
        )
    else:
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_events_no_{event.lower()} BEFORE {event} ON audit_events "
                "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events")
        op.execute("DROP FUNCTION IF EXISTS audit_events_append_only()")
    with op.batch_alter_table("follow_ups", schema=None) as batch_op:
        batch_op.drop_index("ix_follow_ups_employee_at")
        batch_op.drop_index("ix_follow_ups_customer_at")

    op.drop_table("follow_ups")
    op.drop_table("idempotency_keys")
    op.drop_table("export_requests")
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_index("ix_customers_team_registered")
        batch_op.drop_index("ix_customers_registered")
        batch_op.drop_index(batch_op.f("ix_customers_phone_index"))
        batch_op.drop_index("ix_customers_owner_registered")
        batch_op.drop_index(batch_op.f("ix_customers_identity_key"))
        batch_op.drop_index(batch_op.f("ix_customers_email_index"))
        batch_op.drop_index("ix_customers_branch_registered")

    op.drop_table("customers")
    with op.batch_alter_table("contact_reads", schema=None) as batch_op:
        batch_op.drop_index("ix_contact_reads_actor_at")

    op.drop_table("contact_reads")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_events_branch_seq")
        batch_op.drop_index("ix_audit_events_actor_at")

    op.drop_table("audit_events")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_alerts_employee_detected")
        batch_op.drop_index("ix_alerts_detected")
        batch_op.drop_index("ix_alerts_customer")
        batch_op.drop_index("ix_alerts_branch_detected")

    op.drop_table("alerts")
