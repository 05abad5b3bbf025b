"""Tables of the attendance service: the people directory (A1)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from salesguard.alerts import AlertColumns
from salesguard.db import ServiceBase, UtcDateTime, new_metadata, utcnow
from salesguard.idempotency import IdempotencyColumns


class Base(ServiceBase):
    __abstract__ = True
    metadata = new_metadata()


class Branch(Base):
    __tablename__ = "branches"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    time_zone: Mapped[str] = mapped_column(String(64))
    headquarters: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class Team(Base):
    __tablename__ = "teams"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    branch_id: Mapped[str] = mapped_column(ForeignKey("branches.id"))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class Employee(Base):
    __tablename__ = "employees"

    # The HR system's employee ID, which tokens carry as `sub`.
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254), default="")
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    team_id: Mapped[str | None] = mapped_column(ForeignKey("teams.id"))
    branch_id: Mapped[str | None] = mapped_column(ForeignKey("branches.id"))
    manager_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="ACTIVE")
    hire_date: Mapped[date | None] = mapped_column(Date)
    leave_date: Mapped[date | None] = mapped_column(Date)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)

    __table_args__ = (
        Index("ix_employees_branch", "branch_id", "id"),
        Index("ix_employees_team", "team_id", "id"),
    )


class Alert(AlertColumns, Base):
    pass


class IdempotencyKey(IdempotencyColumns, Base):
    pass
