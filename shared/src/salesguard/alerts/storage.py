"""How a service stores its alerts: the ``alerts`` table and the append-only history of
decisions on them (``alert_decisions``), as declarative mixins and the migration step.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from salesguard.db import UtcDateTime, new_id
from salesguard.migrations import create_append_only, drop_append_only


class AlertColumns:
    """Columns of a service's ``alerts`` table; mix into the service's declarative base."""

    __tablename__ = "alerts"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(64))
    rule: Mapped[str] = mapped_column(String(8))
    severity: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="OPEN")
    resolution: Mapped[str | None] = mapped_column(String(16))
    employee_id: Mapped[str | None] = mapped_column(String(64))
    customer_id: Mapped[str | None] = mapped_column(String(32))
    order_id: Mapped[str | None] = mapped_column(String(32))
    branch_id: Mapped[str | None] = mapped_column(String(64))
    detected_at: Mapped[datetime] = mapped_column(UtcDateTime())
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Same key, same alert: re-running a detector raises nothing twice.
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    note: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    updated_by: Mapped[str | None] = mapped_column(String(64))

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Index, ...]:
        return (
            Index("ix_alerts_detected", "detected_at", "id"),
            Index("ix_alerts_branch_detected", "branch_id", "detected_at"),
            Index("ix_alerts_employee_detected", "employee_id", "detected_at"),
            Index("ix_alerts_customer", "customer_id"),
        )


class AlertDecisionColumns:
    """The append-only history of decisions on a service's alerts (UpdateAlert): mix into the
    service's declarative base next to its alerts; the migration refuses UPDATE and DELETE."""

    __tablename__ = "alert_decisions"

    # Insertion order: the order the decisions were taken in, also within one clock tick.
    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    alert_id: Mapped[str] = mapped_column(String(32), ForeignKey("alerts.id"))
    status: Mapped[str] = mapped_column(String(16))
    resolution: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    actor_id: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    trace_id: Mapped[str] = mapped_column(String(32), default="")

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Index, ...]:
        return (Index("ix_alert_decisions_alert_seq", "alert_id", "seq"),)


def create_alert_decisions() -> None:
    """In a migration: the alert_decisions table of :class:`AlertDecisionColumns`, append-only.

    Every alert source's revision calls this (customers, attendance, orders; commissions'
    0001 did too, and its 0005 dropped the table), so the tables stay the same; a later
    change to the table is a new revision, never an edit here.
    """
    op.create_table(
        "alert_decisions",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("alert_id", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("resolution", sa.String(length=16), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("actor_id", sa.String(length=64), nullable=False),
        sa.Column("at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("trace_id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alerts.id"], name=op.f("fk_alert_decisions_alert_id_alerts")
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_alert_decisions")),
    )
    with op.batch_alter_table("alert_decisions", schema=None) as batch_op:
        batch_op.create_index("ix_alert_decisions_alert_seq", ["alert_id", "seq"], unique=False)
    create_append_only("alert_decisions")


def drop_alert_decisions() -> None:
    drop_append_only("alert_decisions")
    with op.batch_alter_table("alert_decisions", schema=None) as batch_op:
        batch_op.drop_index("ix_alert_decisions_alert_seq")
    op.drop_table("alert_decisions")
