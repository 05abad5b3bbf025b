"""the export queue pages newest first by (requested_at, id): an index for it (issue 15)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 00:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_export_requests_requested_at_id", "export_requests", ["requested_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_export_requests_requested_at_id", table_name="export_requests")
