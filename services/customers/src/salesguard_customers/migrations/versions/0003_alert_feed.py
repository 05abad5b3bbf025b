"""alerts: the feed of newly raised alerts and the history of alert decisions (issue 6, alerts)

On PostgreSQL, a trigger notifies ``salesguard_alerts`` with the ID of every
inserted alert (delivered on commit); ``alert_decisions`` keeps every decision
taken on an alert, append-only on both databases.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 00:00:00.000000
"""

from collections.abc import Sequence

from salesguard.alertfeed import create_feed_trigger, drop_feed_trigger
from salesguard.alerts import create_alert_decisions, drop_alert_decisions

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_alert_decisions()
    create_feed_trigger()


def downgrade() -> None:
    drop_feed_trigger()
    drop_alert_decisions()
