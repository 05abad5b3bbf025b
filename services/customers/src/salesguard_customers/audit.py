"""The append-only, hash-chained audit trail (C7).

Each entry's hash covers its own content and the previous entry's hash, so
changing, removing or reordering any entry breaks every link after it and
:func:`verify_chain` reports the first one. Appends are serialised (an
advisory lock on PostgreSQL; SQLite has a single writer) so the chain never
forks.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Text, cast, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from salesguard import validation
from salesguard.common.v1 import common_pb2
from salesguard.customers.v1 import audit_pb2
from salesguard.db import Database, new_id, utcnow
from salesguard.errors import InvalidInput
from salesguard.pagination import KeysetPage, count_if_asked, decode_cursor, keyset_page
from salesguard.policy import Decision, ScopeColumns, scope_filter
from salesguard.telemetry import current_trace_id
from salesguard.timeutil import from_timestamp
from salesguard_customers.models import AuditEvent

GENESIS_HASH = "0" * 64
# Any constant shared by all writers of this database: the audit chain's lock.
_AUDIT_LOCK_KEY = 7_305_201_001
_VERIFY_BATCH = 2_000


def entry_hash(prev_hash: str, entry: dict[str, Any]) -> str:
    canonical = json.dumps(
        entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )
    return hashlib.sha256(f"{prev_hash}\n{canonical}".encode()).hexdigest()


def _content(event: AuditEvent) -> dict[str, Any]:
    """What the hash covers: everything but the hash itself."""
    return {
        "seq": event.seq,
        "id": event.id,
        "at": event.at.isoformat(),
        "actor_id": event.actor_id,
        "action": event.action,
        "customer_ids": list(event.customer_ids),
        "fields": list(event.fields),
        "before": event.before,
        "after": event.after,
        "reason": event.reason,
        "trace_id": event.trace_id,
        "branch_id": event.branch_id,
    }


@dataclass(frozen=True)
class AuditEntry:
    actor_id: str
    action: str
    customer_ids: Sequence[str] = ()
    fields: Sequence[str] = ()
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    reason: str = ""
    branch_id: str | None = None


async def append(session: AsyncSession, entries: Iterable[AuditEntry]) -> list[AuditEvent]:
    """Append entries at the end of the chain, inside the caller's transaction."""
    entries = list(entries)
    if not entries:
        return []
    if session.bind.dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _AUDIT_LOCK_KEY})
    last = (
        await session.execute(
            select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)
        )
    ).first()
    prev_hash = last.hash if last is not None else GENESIS_HASH
    seq = last.seq if last is not None else 0
    trace_id = current_trace_id() or ""
    at = utcnow()
    appended = []
    for entry in entries:
        # Under the chain's lock the next position is known, so the row goes in whole:
        # the table refuses updates.
        seq += 1
        event = AuditEvent(
            seq=seq,
            id=new_id(),
            at=at,
            actor_id=entry.actor_id,
            action=entry.action,
            customer_ids=list(entry.customer_ids),
            fields=list(entry.fields),
            before=entry.before or {},
            after=entry.after or {},
            reason=entry.reason,
            trace_id=trace_id,
            branch_id=entry.branch_id,
            prev_hash=prev_hash,
            hash="",
        )
        event.hash = entry_hash(prev_hash, _content(event))
        prev_hash = event.hash
        session.add(event)
        appended.append(event)
    await session.flush()
    return appended


@dataclass(frozen=True)
class ChainReport:
    intact: bool
    checked_count: int
    first_broken_seq: int | None = None
    first_broken_id: str | None = None
    problem: str = ""


async def verify_chain(db: Database) -> ChainReport:
    """Walk the chain in order, in batches, and report the first broken link."""
    prev_hash = GENESIS_HASH
    checked = 0
    after_seq = 0
    async with db.read() as session:
        while True:
            batch = (
                await session.scalars(
                    select(AuditEvent)
                    .where(AuditEvent.seq > after_seq)
                    .order_by(AuditEvent.seq)
                    .limit(_VERIFY_BATCH)
                )
            ).all()
            if not batch:
                return ChainReport(intact=True, checked_count=checked)
            for event in batch:
                checked += 1
                if event.prev_hash != prev_hash:
                    return ChainReport(
                        False,
                        checked,
                        event.seq,
                        event.id,
                        "prev_hash does not match the previous entry",
                    )
                if entry_hash(prev_hash, _content(event)) != event.hash:
                    return ChainReport(
                        False, checked, event.seq, event.id, "content does not match its hash"
                    )
                prev_hash = event.hash
            after_seq = batch[-1].seq
            session.expunge_all()


# A manager sees the events of their branch; "own" would be the events one acted in.
AUDIT_SCOPE = ScopeColumns(owner=AuditEvent.actor_id, branch=AuditEvent.branch_id)


async def list_events(
    db: Database,
    decision: Decision,
    event_filter: audit_pb2.AuditEventFilter,
    page: common_pb2.PageRequest,
    size: int,
) -> tuple[KeysetPage[AuditEvent], int | None]:
    """Newest first, within the decision's scope; and how many match in all."""
    conditions: list[Any] = [scope_filter(decision, AUDIT_SCOPE)]
    if event_filter.actor_id:
        conditions.append(AuditEvent.actor_id == event_filter.actor_id)
    if event_filter.actions:
        actions = [
            validation.text("filter.actions", a, max_length=64) for a in event_filter.actions
        ]
        conditions.append(AuditEvent.action.in_(actions))
    start, end = (
        from_timestamp(getattr(event_filter, "from"), "from"),
        from_timestamp(event_filter.to, "to"),
    )
    if start:
        conditions.append(AuditEvent.at >= start)
    if end:
        conditions.append(AuditEvent.at < end)
    if event_filter.customer_id:
        customer_id = event_filter.customer_id
        if not (customer_id.isalnum() and len(customer_id) <= 32):
            raise InvalidInput("filter.customer_id", "not a customer ID")
        # customer_ids is a JSON list of hex IDs: matching its text stays portable across databases.
        conditions.append(cast(AuditEvent.customer_ids, Text).like(f'%"{customer_id}"%'))
    query = select(AuditEvent).where(*conditions)
    if page.page_token:
        (after_seq,) = decode_cursor(page.page_token, 1)
        if not isinstance(after_seq, int):
            raise InvalidInput("page.page_token", "the page token is malformed")
        query = query.where(AuditEvent.seq < after_seq)
    async with db.read() as session:
        rows = list(
            (await session.scalars(query.order_by(AuditEvent.seq.desc()).limit(size + 1))).all()
        )
        total = await count_if_asked(
            page, session, select(func.count()).select_from(AuditEvent).where(*conditions)
        )
    return keyset_page(rows, size, lambda event: (event.seq,)), total
