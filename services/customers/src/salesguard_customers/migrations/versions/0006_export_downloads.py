"""one-time export downloads (C9) (issue 11)

A completed export is downloaded once, by the employee who ran it, through a URL
holding a one-time token: the downloads table keeps each token's hash, its owner,
the object and its facts, its expiry and when it was used (salesguard.downloads).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 00:00:00.000000
"""

from collections.abc import Sequence

from salesguard.downloads import create_downloads_table, drop_downloads_table

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_downloads_table()


def downgrade() -> None:
    drop_downloads_table()
