"""Tables of the commissions service. Money in integer cents, rates in basis points.

No alerts table: no commissions rule raises an alert (a source conflict and a clawback
are lines and their reasons; the alerts that withhold commission are orders').
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Date, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from salesguard.db import ServiceBase, UtcDateTime, new_id, new_metadata, utcnow
from salesguard.downloads import DownloadColumns
from salesguard.idempotency import IdempotencyColumns


class Base(ServiceBase):
    __abstract__ = True
    metadata = new_metadata()


class Plan(Base):
    """A commission plan version; versions only grow, none is rewritten."""

    __tablename__ = "plans"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    version: Mapped[int] = mapped_column(Integer, unique=True)
    effective_from: Mapped[date] = mapped_column(Date)
    # Percent in basis points of a percent: 5 % = 500.
    company_rate_bp: Mapped[int] = mapped_column(Integer)
    personal_rate_bp: Mapped[int] = mapped_column(Integer)
    cap_per_order_minor: Mapped[int | None] = mapped_column(BigInteger)
    cap_per_period_minor: Mapped[int | None] = mapped_column(BigInteger)
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class Period(Base):
    """A month of one branch: OPEN (re-runnable) or LOCKED (never changes again)."""

    __tablename__ = "periods"

    branch_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    status: Mapped[str] = mapped_column(String(8), default="OPEN")
    plan_version: Mapped[int | None] = mapped_column(Integer)
    run_count: Mapped[int] = mapped_column(Integer, default=0)
    last_run_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    locked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    locked_by: Mapped[str | None] = mapped_column(String(64))
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Line(Base):
    """One commission or clawback line; the ID is derived from what it is about,
    so a re-run of an open period writes identical lines (``rules.locking.line_id``).

    The ID is a function of (period, branch, order, kind) alone: the primary key is
    what allows one line per (period, branch, order, kind), with no second unique index.
    """

    __tablename__ = "lines"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    period: Mapped[str] = mapped_column(String(7))
    branch_id: Mapped[str] = mapped_column(String(64))
    employee_id: Mapped[str] = mapped_column(String(64))
    team_id: Mapped[str | None] = mapped_column(String(64))
    order_id: Mapped[str] = mapped_column(String(32))
    order_code: Mapped[str] = mapped_column(String(16))
    customer_id: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    base_minor: Mapped[int] = mapped_column(BigInteger)
    rate_bp: Mapped[int] = mapped_column(Integer)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    reason: Mapped[str] = mapped_column(Text, default="")
    alert_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    source_claim: Mapped[str] = mapped_column(String(32))
    registered_source: Mapped[str] = mapped_column(String(32))
    plan_version: Mapped[int] = mapped_column(Integer)
    fully_paid_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    __table_args__ = (
        Index("ix_lines_employee_period", "employee_id", "period"),
        Index("ix_lines_branch_period", "branch_id", "period"),
        Index("ix_lines_order", "order_id", "kind"),
    )


class FrozenEmployee(Base):
    """Employees who left: their open lines stay PENDING_REVIEW on every run."""

    __tablename__ = "frozen_employees"

    employee_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    reason: Mapped[str] = mapped_column(Text)
    frozen_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    frozen_by: Mapped[str] = mapped_column(String(64))


class IdempotencyKey(IdempotencyColumns, Base):
    pass


class Download(DownloadColumns, Base):
    """The one-time download URL of a payroll export; ``subject_id`` is ``period/branch``."""


class DownloadEvent(Base):
    """Every payroll export download and every refused attempt at one (append-only)."""

    __tablename__ = "download_events"

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    actor_id: Mapped[str] = mapped_column(String(64))
    # None when no download has the token that was tried.
    subject_id: Mapped[str | None] = mapped_column(String(128))
    owner_id: Mapped[str | None] = mapped_column(String(64))
    # DOWNLOADED, or the refusal (salesguard.downloads.Refusal).
    outcome: Mapped[str] = mapped_column(String(32))
    trace_id: Mapped[str] = mapped_column(String(32), default="")
