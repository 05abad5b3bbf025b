"""Tables of the customers service. Contact fields are stored only encrypted."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from salesguard import geo
from salesguard.alerts import AlertColumns, AlertDecisionColumns
from salesguard.db import AutoIncrement, ServiceBase, UtcDateTime, new_id, new_metadata, utcnow
from salesguard.downloads import DownloadColumns
from salesguard.idempotency import IdempotencyColumns
from salesguard.validation import NAME_LENGTH, OBJECT_KEY_LENGTH


class Base(ServiceBase):
    __abstract__ = True
    metadata = new_metadata()


class Customer(Base):
    __tablename__ = "customers"

    # The readable code "C-000123" is this number; the opaque ID is what APIs use.
    number: Mapped[int] = mapped_column(AutoIncrement, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(32), unique=True, default=new_id)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    company: Mapped[str] = mapped_column(String(NAME_LENGTH), default="")
    # lower(name)|lower(company): the name+company duplicate criterion.
    identity_key: Mapped[str] = mapped_column(String(401), index=True)
    phone_cipher: Mapped[bytes | None] = mapped_column(LargeBinary)
    phone_index: Mapped[str | None] = mapped_column(String(64), index=True)
    email_cipher: Mapped[bytes | None] = mapped_column(LargeBinary)
    email_index: Mapped[str | None] = mapped_column(String(64), index=True)
    address_cipher: Mapped[bytes | None] = mapped_column(LargeBinary)
    lat: Mapped[float | None] = mapped_column(Float)
    lng: Mapped[float | None] = mapped_column(Float)
    # The location's geohash at geo.STORED_PRECISION: "near a point" becomes index range
    # scans on ix_customers_geohash (lookups.py).
    geohash: Mapped[str | None] = mapped_column(String(12))
    source: Mapped[str] = mapped_column(String(32))
    source_detail: Mapped[str] = mapped_column(String(500), default="")
    owner_id: Mapped[str | None] = mapped_column(String(64))
    team_id: Mapped[str | None] = mapped_column(String(64))
    branch_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="ACTIVE")
    first_contact_at: Mapped[datetime] = mapped_column(UtcDateTime())
    registered_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    registered_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    # When the current owner took the customer (registration, claim, reassignment).
    # The neglect clock runs from here or from the latest follow-up, whichever is later.
    owned_since: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    # Set while the customer sits in its branch's pool (owner and team cleared).
    pooled_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # The owner before the pool took the customer: kept out of it for a cooling-off period.
    previous_owner_id: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_customers_registered", "registered_at", "number"),
        Index("ix_customers_branch_pooled", "branch_id", "pooled_at", "number"),
        Index("ix_customers_owner_registered", "owner_id", "registered_at", "number"),
        Index("ix_customers_team_registered", "team_id", "registered_at", "number"),
        Index("ix_customers_branch_registered", "branch_id", "registered_at", "number"),
        # lat and lng ride along so the box around a circle is checked in the index:
        # rows of a cell outside the box are never fetched.
        Index("ix_customers_geohash", "geohash", "lat", "lng"),
    )

    @property
    def code(self) -> str:
        return format_code(self.number)

    def place(self, location: tuple[float, float] | None) -> None:
        """Set (or clear) the location, with the geohash the lookups search by."""
        self.lat, self.lng = location or (None, None)
        self.geohash = geo.encode(*location) if location else None


def format_code(number: int) -> str:
    return f"C-{number:06d}"


class FollowUp(Base):
    __tablename__ = "follow_ups"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    employee_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    note: Mapped[str] = mapped_column(Text, default="")
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)

    __table_args__ = (
        Index("ix_follow_ups_customer_at", "customer_id", "at"),
        Index("ix_follow_ups_employee_at", "employee_id", "at"),
    )


class AuditEvent(Base):
    """One link of the hash chain. Append-only: triggers refuse UPDATE and DELETE."""

    __tablename__ = "audit_events"

    # Assigned by the appender under the chain's lock, not by the database.
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    id: Mapped[str] = mapped_column(String(32), unique=True, default=new_id)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    actor_id: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    customer_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    fields: Mapped[list[str]] = mapped_column(JSON, default=list)
    before: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    after: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    reason: Mapped[str] = mapped_column(Text, default="")
    trace_id: Mapped[str] = mapped_column(String(32), default="")
    branch_id: Mapped[str | None] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    # HMAC-SHA256 with the key named by key_id; "" for the entries written before the
    # chain was keyed, hashed with plain SHA-256 (only ever a prefix of the chain).
    hash: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(32), server_default="")

    __table_args__ = (
        Index("ix_audit_events_actor_at", "actor_id", "at"),
        Index("ix_audit_events_branch_seq", "branch_id", "seq"),
    )


class ContactRead(Base):
    """Who saw whose unmasked contact fields when: the input of the bulk-access detector."""

    __tablename__ = "contact_reads"

    id: Mapped[int] = mapped_column(AutoIncrement, primary_key=True, autoincrement=True)
    actor_id: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (Index("ix_contact_reads_actor_at", "actor_id", "at"),)


class ExportRequest(Base):
    __tablename__ = "export_requests"
    # The queue lists newest first (requested_at, id), keyset-paged.
    __table_args__ = (Index("ix_export_requests_requested_at_id", "requested_at", "id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    requester_id: Mapped[str] = mapped_column(String(64))
    branch_id: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="PENDING")
    customer_ids: Mapped[list[str]] = mapped_column(JSON)
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    decision_comment: Mapped[str] = mapped_column(Text, default="")
    row_count: Mapped[int | None] = mapped_column(Integer)
    sha256: Mapped[str | None] = mapped_column(String(64))
    object_key: Mapped[str | None] = mapped_column(String(OBJECT_KEY_LENGTH))
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class ExportDownload(DownloadColumns, Base):
    """The one-time download URL of a completed export; ``subject_id`` is its request."""


class DuplicateBlock(Base):
    """A registration refused as a duplicate: what is counted to find shared values."""

    __tablename__ = "duplicate_blocks"

    id: Mapped[int] = mapped_column(AutoIncrement, primary_key=True, autoincrement=True)
    # "phone", "email" or "name+company", and the value's blind index or identity key.
    criterion: Mapped[str] = mapped_column(String(16))
    value_key: Mapped[str] = mapped_column(String(401))
    employee_id: Mapped[str] = mapped_column(String(64))
    # The refused employee's branch then: shared values are counted by branch, which one
    # team cannot fake.
    branch_id: Mapped[str | None] = mapped_column(String(64))
    customer_id: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (Index("ix_duplicate_blocks_value_at", "criterion", "value_key", "at"),)


class SharedContactValue(Base):
    """A duplicate criterion value too common to block on, e.g. a switchboard number,
    or one that was and has been un-shared (``shared`` false: it blocks again)."""

    __tablename__ = "shared_contact_values"

    criterion: Mapped[str] = mapped_column(String(16), primary_key=True)
    value_key: Mapped[str] = mapped_column(String(401), primary_key=True)
    shared: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # When the value last became shared or stopped being so: refusals before an
    # un-sharing no longer count.
    marked_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # Who confirmed or un-shared it, and why; no one when the refusals' count shared it.
    decided_by: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text, default="", server_default="")
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Alert(AlertColumns, Base):
    pass


class AlertDecision(AlertDecisionColumns, Base):
    pass


class IdempotencyKey(IdempotencyColumns, Base):
    pass
