"""one-time payroll export downloads (issue 11)

A payroll export is downloaded once, by the employee who exported it, through a URL
holding a one-time token (salesguard.downloads): ``downloads`` keeps each token's
hash, owner, object, facts, expiry and when it was used; ``download_events`` logs
every download and every refused attempt, append-only.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05 00:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import salesguard.db
from salesguard.downloads import create_downloads_table, drop_downloads_table
from salesguard.migrations import create_append_only, drop_append_only

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_downloads_table()
    op.create_table(
        "download_events",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("at", salesguard.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.String(length=64), nullable=False),
        sa.Column("subject_id", sa.String(length=128), nullable=True),
        sa.Column("owner_id", sa.String(length=64), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("trace_id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_download_events")),
    )
    create_append_only("download_events")


def downgrade() -> None:
    drop_append_only("download_events")
    op.drop_table("download_events")
    drop_downloads_table()
