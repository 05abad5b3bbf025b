"""Tables of the attendance service: the people directory, visit plans, check-ins and
their photos, call logs, alerts."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from salesguard.alerts import AlertColumns, AlertDecisionColumns
from salesguard.db import ServiceBase, UtcDateTime, new_id, new_metadata, utcnow
from salesguard.idempotency import IdempotencyColumns
from salesguard.validation import EMAIL_LENGTH, NAME_LENGTH, OBJECT_KEY_LENGTH


class Base(ServiceBase):
    __abstract__ = True
    metadata = new_metadata()


class Branch(Base):
    __tablename__ = "branches"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    time_zone: Mapped[str] = mapped_column(String(64))
    headquarters: Mapped[bool] = mapped_column(Boolean, default=False)
    # Per-branch overrides of the verification settings (None: the service default).
    geofence_radius_m: Mapped[float | None] = mapped_column(Float)
    min_visit_minutes: Mapped[float | None] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class Team(Base):
    __tablename__ = "teams"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    branch_id: Mapped[str] = mapped_column(ForeignKey("branches.id"))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class Employee(Base):
    __tablename__ = "employees"

    # The HR system's employee ID, which tokens carry as `sub`.
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    email: Mapped[str] = mapped_column(String(EMAIL_LENGTH), default="")
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


class DirectoryChange(Base):
    """A change of an employee or a branch, recorded by triggers on ``employees`` and
    ``branches`` (migration 0005) whatever wrote it; the feed that gateways and services
    watch to drop what they cached (``WatchDirectoryChanges``)."""

    __tablename__ = "directory_changes"

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    # "employee:<id>" or "branch:<id>".
    subject: Mapped[str] = mapped_column(String(80))


class PhotoUpload(Base):
    """A presigned upload handed to an employee; a check-in may name only its own keys."""

    __tablename__ = "photo_uploads"

    key: Mapped[str] = mapped_column(String(OBJECT_KEY_LENGTH), primary_key=True)
    employee_id: Mapped[str] = mapped_column(String(64), index=True)
    content_type: Mapped[str] = mapped_column(String(32))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())


class VisitPlan(Base):
    __tablename__ = "visit_plans"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    employee_id: Mapped[str] = mapped_column(String(64))
    team_id: Mapped[str | None] = mapped_column(String(64))
    branch_id: Mapped[str | None] = mapped_column(String(64))
    customer_id: Mapped[str] = mapped_column(String(32))
    window_start: Mapped[datetime] = mapped_column(UtcDateTime())
    window_end: Mapped[datetime] = mapped_column(UtcDateTime())
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)

    __table_args__ = (Index("ix_visit_plans_employee_start", "employee_id", "window_start"),)


class CheckIn(Base):
    """A field check-in with its verdict (:mod:`.verification`); stored whatever the verdict."""

    __tablename__ = "check_ins"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    employee_id: Mapped[str] = mapped_column(String(64))
    team_id: Mapped[str | None] = mapped_column(String(64))
    branch_id: Mapped[str | None] = mapped_column(String(64))
    customer_id: Mapped[str | None] = mapped_column(String(32))
    visit_plan_id: Mapped[str | None] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    # The calendar day of `at` in the branch's time zone: working days and streaks.
    local_day: Mapped[date] = mapped_column(Date)
    lat: Mapped[float] = mapped_column(Float)
    lng: Mapped[float] = mapped_column(Float)
    geohash: Mapped[str] = mapped_column(String(12))
    accuracy_m: Mapped[float] = mapped_column(Float)
    device_id: Mapped[str] = mapped_column(String(128))
    mock_location: Mapped[bool] = mapped_column(Boolean, default=False)
    has_photo: Mapped[bool] = mapped_column(Boolean, default=False)
    verdict: Mapped[str] = mapped_column(String(16))
    # [{"code", "message", "detail"}], in the order found.
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # " CODE_A CODE_B ": the codes again, for a portable LIKE filter.
    reason_codes: Mapped[str] = mapped_column(String(400), default=" ")
    note: Mapped[str] = mapped_column(Text, default="")
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    checked_out_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    check_out_lat: Mapped[float | None] = mapped_column(Float)
    check_out_lng: Mapped[float | None] = mapped_column(Float)

    __table_args__ = (
        Index("ix_check_ins_employee_at", "employee_id", "at"),
        Index("ix_check_ins_employee_day", "employee_id", "local_day"),
        Index("ix_check_ins_branch_at", "branch_id", "at"),
        Index("ix_check_ins_team_at", "team_id", "at"),
        Index("ix_check_ins_at", "at", "id"),
        Index("ix_check_ins_employee_geohash", "employee_id", "geohash"),
    )


class CheckInPhoto(Base):
    """A photo a check-in named, with what the service read from it (:mod:`.photos`)."""

    __tablename__ = "check_in_photos"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    check_in_id: Mapped[str] = mapped_column(ForeignKey("check_ins.id"), index=True)
    employee_id: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(OBJECT_KEY_LENGTH))
    # The object version verified: later writes to the key never change the evidence.
    version_id: Mapped[str | None] = mapped_column(String(128))
    content_type: Mapped[str] = mapped_column(String(32))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    # The 64-bit dHash as a signed integer, and its four 16-bit bands, each indexed:
    # hashes within 3 bits share a band, so a lookup reads a few rows, never all.
    perceptual_hash: Mapped[int] = mapped_column(BigInteger)
    band_0: Mapped[int] = mapped_column(Integer, index=True)
    band_1: Mapped[int] = mapped_column(Integer, index=True)
    band_2: Mapped[int] = mapped_column(Integer, index=True)
    band_3: Mapped[int] = mapped_column(Integer, index=True)
    taken_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    exif_lat: Mapped[float | None] = mapped_column(Float)
    exif_lng: Mapped[float | None] = mapped_column(Float)
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class EmployeeDevice(Base):
    """Devices an employee has checked in from (NEW_DEVICE)."""

    __tablename__ = "employee_devices"

    employee_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    first_seen_at: Mapped[datetime] = mapped_column(UtcDateTime())


class CallLog(Base):
    """A call from telephony: the number only as a keyed hash and a masked form."""

    __tablename__ = "call_logs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    employee_id: Mapped[str] = mapped_column(String(64))
    team_id: Mapped[str | None] = mapped_column(String(64))
    branch_id: Mapped[str | None] = mapped_column(String(64))
    number_index: Mapped[str] = mapped_column(String(64))
    number_masked: Mapped[str] = mapped_column(String(32))
    direction: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    duration_seconds: Mapped[int] = mapped_column(Integer)
    customer_id: Mapped[str | None] = mapped_column(String(32))
    customer_owner_id: Mapped[str | None] = mapped_column(String(64))
    imported_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)

    __table_args__ = (
        # The same call imported twice is one call.
        UniqueConstraint("employee_id", "number_index", "started_at", "direction"),
        Index("ix_call_logs_employee_started", "employee_id", "started_at"),
        Index("ix_call_logs_employee_number", "employee_id", "number_index", "started_at"),
    )


class Alert(AlertColumns, Base):
    pass


class AlertDecision(AlertDecisionColumns, Base):
    pass


class IdempotencyKey(IdempotencyColumns, Base):
    pass
