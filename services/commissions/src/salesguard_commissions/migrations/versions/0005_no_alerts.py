"""alerts: commissions raises none, so its alerts and alert_decisions tables go

No commissions rule raises an alert: a source conflict (M3) is a line's status and
reason, a clawback (M4) is a line, and the alerts that withhold commission (M2) are
orders'. The tables 0001 and 0003 created were never written, nor read by the gateway.
The downgrade gives them back as they were (empty).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 17:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import salesguard.db
from salesguard.alertfeed import create_feed_trigger, drop_feed_trigger
from salesguard.alerts import create_alert_decisions, drop_alert_decisions

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {
    "ix_alerts_branch_detected": ["branch_id", "detected_at"],
    "ix_alerts_customer": ["customer_id"],
    "ix_alerts_detected": ["detected_at", "id"],
    "ix_alerts_employee_detected": ["employee_id", "detected_at"],
}


def upgrade() -> None:
    drop_feed_trigger()
    drop_alert_decisions()
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        for name in INDEXES:
            batch_op.drop_index(name)
    op.drop_table("alerts")


def downgrade() -> None:
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
        for name, columns in INDEXES.items():
            batch_op.create_index(name, columns, unique=False)
    create_alert_decisions()
    create_feed_trigger()
