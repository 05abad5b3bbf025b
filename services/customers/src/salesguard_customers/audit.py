"""The append-only, hash-chained audit trail (C7).

Each entry's hash is an HMAC, with a key from the settings that the database does not
hold, of its own content and the previous entry's hash: changing, removing or
reordering any entry breaks every link after it, and whoever can write the database
cannot compute the hashes to re-chain it. The entry names its key (``key_id``) so keys
can be rotated; entries written before the chain was keyed carry plain SHA-256 hashes
and ``key_id = ''``, accepted only as the chain's prefix. Appends are serialised (an
advisory lock on PostgreSQL; SQLite has a single writer) so the chain never forks.

Deleting the newest entries leaves an intact chain behind, so the head is also
checkpointed outside the database (:mod:`salesguard_customers.audit_checkpoints`);
:func:`verify_chain` reports the first broken link, and the missing range when the
checkpoints name entries the database no longer has.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Text, cast, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from salesguard import validation
from salesguard.crypto import HmacKeyring
from salesguard.db import Database, new_id, utcnow
from salesguard.errors import InvalidInput, Unavailable
from salesguard.pagination import KeysetPage, count_if_asked, decode_cursor, keyset_page
from salesguard.policy import Decision, ScopeColumns, scope_filter
from salesguard.telemetry import current_trace_id
from salesguard.timeutil import from_timestamp
from salesguard_api.common.v1 import common_pb2
from salesguard_api.customers.v1 import audit_pb2
from salesguard_customers.audit_checkpoints import (
    AuditCheckpoints,
    Checkpoint,
    NewestCheckpoint,
    entry_hash_at,
)
from salesguard_customers.models import AuditEvent

GENESIS_HASH = "0" * 64
# The key_id of entries hashed with plain SHA-256, before the chain was keyed.
UNKEYED = ""
# Any constant shared by all writers of this database: the audit chain's lock.
_AUDIT_LOCK_KEY = 7_305_201_001
_VERIFY_BATCH = 2_000
# Where a database's sessions carry the chain's keys (Session.info).
_KEYRING_INFO = "salesguard_customers.audit.keyring"


def attach(db: Database, keyring: HmacKeyring) -> None:
    """Give every session of ``db`` the chain's keys, with which :func:`append` signs."""
    db.share_with_sessions(_KEYRING_INFO, keyring)


def _keyring(session: AsyncSession) -> HmacKeyring:
    keyring = session.info.get(_KEYRING_INFO)
    if not isinstance(keyring, HmacKeyring):
        raise RuntimeError("the audit chain's keys are not attached to this database")
    return keyring


def _message(prev_hash: str, entry: dict[str, Any]) -> bytes:
    canonical = json.dumps(
        entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )
    return f"{prev_hash}\n{canonical}".encode()


def entry_hash(
    keyring: HmacKeyring, key_id: str, prev_hash: str, entry: dict[str, Any]
) -> str | None:
    """The hash an entry must hold; None when its key is not one of ``keyring``'s."""
    if key_id == UNKEYED:
        return hashlib.sha256(_message(prev_hash, entry)).hexdigest()
    return keyring.digest(key_id, _message(prev_hash, entry))


def _content(event: AuditEvent) -> dict[str, Any]:
    """What the hash covers: everything but the hash itself."""
    content = {
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
    if event.key_id != UNKEYED:
        content["key_id"] = event.key_id
    return content


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


def reassignment(
    actor_id: str,
    customer_ids: Sequence[str],
    before: dict[str, Any],
    new_owner_id: str,
    reason: str,
    branch_id: str | None,
) -> AuditEntry:
    """The entry of customers given another owner (by a manager, or by a departure)."""
    return AuditEntry(
        actor_id=actor_id,
        action="customer.reassign",
        customer_ids=customer_ids,
        fields=["owner_id"],
        before=before,
        after={"owner_id": new_owner_id},
        reason=reason,
        branch_id=branch_id,
    )


async def record(session: AsyncSession, entry: AuditEntry) -> AuditEvent:
    """Append one entry at the end of the chain, inside the caller's transaction."""
    (event,) = await append(session, [entry])
    return event


async def append(session: AsyncSession, entries: Iterable[AuditEntry]) -> list[AuditEvent]:
    """Append entries at the end of the chain, inside the caller's transaction."""
    entries = list(entries)
    if not entries:
        return []
    keyring = _keyring(session)
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
            key_id=keyring.current_id,
        )
        event.hash = keyring.sign(_message(prev_hash, _content(event)))
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
    # Entries the checkpoints name but the database lacks (inclusive), if any.
    missing_from_seq: int | None = None
    missing_to_seq: int | None = None
    # The newest valid checkpoint the chain was compared with.
    checkpoint_seq: int | None = None
    checkpoint_at: datetime | None = None
    # Entries hashed with plain SHA-256 before the chain was keyed (its prefix).
    unkeyed_count: int = 0


@dataclass
class _Walk:
    """What walking the chain in the database found."""

    checked: int = 0
    unkeyed: int = 0
    tail_seq: int = 0
    broken_seq: int | None = None
    broken_id: str | None = None
    problem: str = ""
    missing: tuple[int, int] | None = None


async def _walk(db: Database, keyring: HmacKeyring) -> _Walk:
    """Walk the chain in order, in batches, up to its first broken link."""
    walk = _Walk()
    prev_hash = GENESIS_HASH
    keyed = False
    async with db.read() as session:
        while True:
            batch = (
                await session.scalars(
                    select(AuditEvent)
                    .where(AuditEvent.seq > walk.tail_seq)
                    .order_by(AuditEvent.seq)
                    .limit(_VERIFY_BATCH)
                )
            ).all()
            if not batch:
                return walk
            for event in batch:
                walk.checked += 1
                problem = ""
                if event.seq != walk.tail_seq + 1:
                    walk.missing = (walk.tail_seq + 1, event.seq - 1)
                    problem = f"missing range: seq {walk.tail_seq + 1}..{event.seq - 1}"
                elif event.prev_hash != prev_hash:
                    problem = "prev_hash does not match the previous entry"
                elif event.key_id == UNKEYED and keyed:
                    problem = "an entry without a key follows keyed entries"
                elif event.key_id != UNKEYED and not keyring.knows(event.key_id):
                    problem = f"the entry names a key this service does not hold ({event.key_id})"
                elif entry_hash(keyring, event.key_id, prev_hash, _content(event)) != event.hash:
                    problem = "content does not match its hash"
                if problem:
                    walk.broken_seq, walk.broken_id, walk.problem = event.seq, event.id, problem
                    return walk
                keyed = keyed or event.key_id != UNKEYED
                if event.key_id == UNKEYED:
                    walk.unkeyed += 1
                walk.tail_seq = event.seq
                prev_hash = event.hash
            session.expunge_all()


async def _newest_checkpoint(
    checkpoints: AuditCheckpoints, at_most_seq: int | None = None
) -> NewestCheckpoint:
    try:
        return await checkpoints.newest(at_most_seq)
    except Exception as error:
        raise Unavailable(
            f"the audit checkpoints cannot be read from the object store ({type(error).__name__})"
        ) from error


async def verify_chain(db: Database, checkpoints: AuditCheckpoints) -> ChainReport:
    """Check every link with the chain's keys, then the chain against its checkpoints.

    A checkpoint newer than the chain's last entry means the entries after it were
    removed (a missing range); an entry that differs from the newest checkpoint at or
    before it means the chain was rewritten with the key; an object in the checkpoint
    folder that is not a validly signed checkpoint means someone wrote it there.
    """
    # The newest checkpoint is read before the chain: it names only entries committed by
    # then, so an entry appended (and checkpointed) during the walk is never taken for a
    # missing one.
    newest = await _newest_checkpoint(checkpoints)
    walk = await _walk(db, checkpoints.keyring)
    if walk.broken_seq is not None:
        # Nothing after a broken link can be trusted; the checkpoints add nothing to it.
        gap = walk.missing
        return ChainReport(
            False,
            walk.checked,
            walk.broken_seq,
            walk.broken_id,
            walk.problem,
            missing_from_seq=gap[0] if gap else None,
            missing_to_seq=gap[1] if gap else None,
            unkeyed_count=walk.unkeyed,
        )
    at_tail = (
        newest
        if newest.checkpoint is None or newest.checkpoint.seq <= walk.tail_seq
        else await _newest_checkpoint(checkpoints, walk.tail_seq)
    )
    problems = list(dict.fromkeys([*newest.invalid, *at_tail.invalid]))
    broken_seq: int | None = None
    missing: tuple[int, int] | None = None
    compared: Checkpoint | None = newest.checkpoint
    if newest.checkpoint is not None and newest.checkpoint.seq > walk.tail_seq:
        missing = (walk.tail_seq + 1, newest.checkpoint.seq)
        problems.insert(
            0,
            f"missing range: seq {missing[0]}..{missing[1]} (checkpointed at "
            f"{newest.checkpoint.written_at.isoformat()}, no longer in the database)",
        )
    if at_tail.checkpoint is not None:
        compared = compared or at_tail.checkpoint
        if await entry_hash_at(db, at_tail.checkpoint.seq) != at_tail.checkpoint.hash:
            broken_seq = at_tail.checkpoint.seq
            problems.insert(0, f"the entry at seq {broken_seq} differs from its checkpoint")
    broken_id = None
    if broken_seq is not None:
        async with db.read() as session:
            broken_id = await session.scalar(
                select(AuditEvent.id).where(AuditEvent.seq == broken_seq)
            )
    return ChainReport(
        intact=not problems,
        checked_count=walk.checked,
        first_broken_seq=broken_seq,
        first_broken_id=broken_id,
        problem="; ".join(problems),
        missing_from_seq=missing[0] if missing else None,
        missing_to_seq=missing[1] if missing else None,
        checkpoint_seq=compared.seq if compared else None,
        checkpoint_at=compared.written_at if compared else None,
        unkeyed_count=walk.unkeyed,
    )


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
        (token_seq,) = decode_cursor(page.page_token, 1)
        if not isinstance(token_seq, int):
            raise InvalidInput("page.page_token", "the page token is malformed")
        # Newest first: after the token is lower seq, before it (a backward page) higher.
        query = query.where(
            AuditEvent.seq > token_seq if page.backward else AuditEvent.seq < token_seq
        )
    order = AuditEvent.seq.asc() if page.backward else AuditEvent.seq.desc()
    async with db.read() as session:
        rows = list((await session.scalars(query.order_by(order).limit(size + 1))).all())
        total = await count_if_asked(
            page, session, select(func.count()).select_from(AuditEvent).where(*conditions)
        )
    return keyset_page(rows, size, lambda event: (event.seq,), backward=page.backward), total
