"""keyed audit chain and its checkpoints (C7) (issue 11)

Each audit entry records which key its hash was made with (``key_id``): an HMAC key
from the settings from now on. The entries already written keep their plain SHA-256
hashes and get ``key_id = ''``: they are not re-keyed, because rewriting an append-only
log would need its triggers off and would launder any tampering done before (and the
migration job holds no key). Verification accepts unkeyed entries only as the chain's
prefix, and the service checkpoints the head outside the database as soon as it starts,
which anchors that prefix too.

The column is added in place (``ALTER TABLE ... ADD COLUMN`` on both databases), so the
append-only triggers stay; no existing row is updated.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 00:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "audit_events",
        sa.Column("key_id", sa.String(length=32), server_default="", nullable=False),
    )


def downgrade() -> None:
    # SQLite 3.35+ drops a column in place too (a batch copy would lose the triggers).
    op.execute("ALTER TABLE audit_events DROP COLUMN key_id")
