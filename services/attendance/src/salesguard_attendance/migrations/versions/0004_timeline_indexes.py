"""indexes for an employee's timeline (issue 6, timeline)

Nothing to add: the timeline's scans are (employee, time) ranges that
ix_check_ins_employee_at and ix_call_logs_employee_started already serve (and ix_alerts_employee_detected for
the alerts); the revision stays in the chain as reserved.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 00:00:00.000000
"""

from collections.abc import Sequence

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
