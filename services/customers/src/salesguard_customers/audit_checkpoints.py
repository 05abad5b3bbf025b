"""Checkpoints of the audit chain's head, kept outside the database.

Whoever can write the database can delete the newest audit entries, and nothing left
in the database would show it. So the service writes the chain's head — its seq and
hash, signed with the chain's HMAC key — to the object store at most 60 s after any
entry, as a new object that is never overwritten (``If-None-Match: *``) and, where
the bucket has object locking, cannot be deleted before its retention ends (S3
COMPLIANCE mode). :func:`salesguard_customers.audit.verify_chain` compares the chain
with the newest checkpoints: entries a checkpoint names but the database lacks are a
missing range, and an entry that differs from its checkpoint is a broken link.

Checkpoint keys sort newest first (``audit-checkpoints/<10^16-1-seq>-<seq>.json``), so
one listing request finds the newest checkpoint, or the newest at or before a seq,
without trusting anything the database says.

:class:`CheckpointWriter` runs in every customers process. It polls the database for
the head instead of being woken by its own appends, so entries written by another
replica or a job's process are checkpointed too; on start-up it checkpoints a head
left uncheckpointed by a crash, and on shutdown it checkpoints once more.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Self

from sqlalchemy import select

from salesguard.crypto import HmacKeyring
from salesguard.db import Database, utcnow
from salesguard.errors import Conflict
from salesguard.objectstore import ObjectInfo, ObjectStore
from salesguard.service import Runtime
from salesguard_customers.models import AuditEvent
from salesguard_customers.settings import CustomersSettings

log = logging.getLogger(__name__)

CHECKPOINT_FOLDER = "audit-checkpoints/"
CHECKPOINT_CONTENT_TYPE = "application/json"
_SEQ_DIGITS = 16
_MAX_SEQ = 10**_SEQ_DIGITS - 1
_KEY_PATTERN = re.compile(
    rf"^{re.escape(CHECKPOINT_FOLDER)}(\d{{{_SEQ_DIGITS}}})-(\d{{{_SEQ_DIGITS}}})\.json$"
)
# Signed messages start with this, so a checkpoint's signature is never a chain hash.
_SIGNATURE_CONTEXT = b"salesguard audit checkpoint\n"
# Objects in the folder that are not valid checkpoints (forged, or damaged) are reported
# and skipped; this many at most, so a flood of them cannot stall a verification.
_MAX_INVALID = 50
_SHUTDOWN_CHECKPOINT_SECONDS = 5.0


def checkpoint_key(seq: int) -> str:
    if not 0 < seq <= _MAX_SEQ:
        raise ValueError(f"seq {seq} is out of range")
    return f"{CHECKPOINT_FOLDER}{_MAX_SEQ - seq:0{_SEQ_DIGITS}d}-{seq:0{_SEQ_DIGITS}d}.json"


def _listing_start_after(at_most_seq: int) -> str:
    """Where a listing starts to yield the checkpoints of seq ≤ ``at_most_seq`` only."""
    # Keys of higher seqs sort before this ('~' follows every character of a key).
    return f"{CHECKPOINT_FOLDER}{_MAX_SEQ - at_most_seq - 1:0{_SEQ_DIGITS}d}~"


def _canonical(document: dict[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Checkpoint:
    """The chain's head at one moment, signed with the chain's key."""

    seq: int
    hash: str
    # When the entry at seq was appended, and when this checkpoint was written.
    entry_at: datetime
    written_at: datetime
    key_id: str
    signature: str = ""

    def _body(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "hash": self.hash,
            "entry_at": self.entry_at.isoformat(),
            "written_at": self.written_at.isoformat(),
            "key_id": self.key_id,
        }

    @classmethod
    def signed(
        cls, keyring: HmacKeyring, seq: int, hash: str, entry_at: datetime, written_at: datetime
    ) -> Self:
        unsigned = cls(seq, hash, entry_at, written_at, keyring.current_id)
        signature = keyring.sign(_SIGNATURE_CONTEXT + _canonical(unsigned._body()))
        return cls(seq, hash, entry_at, written_at, keyring.current_id, signature)

    def to_bytes(self) -> bytes:
        return _canonical({**self._body(), "signature": self.signature})

    @classmethod
    def parse(cls, key: str, data: bytes, keyring: HmacKeyring) -> Self:
        """The checkpoint stored under ``key``; ValueError saying why it is not a valid one."""
        match = _KEY_PATTERN.match(key)
        if match is None or int(match[1]) != _MAX_SEQ - int(match[2]):
            raise ValueError("its name is not a checkpoint's")
        try:
            document = json.loads(data)
            checkpoint = cls(
                seq=int(document["seq"]),
                hash=str(document["hash"]),
                entry_at=datetime.fromisoformat(document["entry_at"]),
                written_at=datetime.fromisoformat(document["written_at"]),
                key_id=str(document["key_id"]),
                signature=str(document["signature"]),
            )
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"it is not a checkpoint ({error})") from None
        if checkpoint.seq != int(match[2]):
            raise ValueError("it names another seq than its key")
        if not keyring.knows(checkpoint.key_id):
            raise ValueError(f"it is signed with an unknown key {checkpoint.key_id!r}")
        message = _SIGNATURE_CONTEXT + _canonical(checkpoint._body())
        if not keyring.verify(checkpoint.key_id, message, checkpoint.signature):
            raise ValueError("its signature does not verify")
        return checkpoint


@dataclass(frozen=True)
class NewestCheckpoint:
    """The newest valid checkpoint found (if any), and the invalid objects passed over."""

    checkpoint: Checkpoint | None
    invalid: list[str] = field(default_factory=list)


class AuditCheckpoints:
    """Checkpoints in the object store: written once, read newest first."""

    def __init__(self, store: ObjectStore, keyring: HmacKeyring, retention: timedelta) -> None:
        self.store = store
        self.keyring = keyring
        self.retention = retention

    @classmethod
    def of(cls, runtime: Runtime[CustomersSettings]) -> Self:
        settings = runtime.settings
        return cls(
            runtime.objects,
            HmacKeyring(settings.audit_chain_keys),
            timedelta(days=settings.audit_checkpoint_retention_days),
        )

    async def write(self, seq: int, hash: str, entry_at: datetime) -> tuple[Checkpoint, ObjectInfo]:
        """Store a checkpoint of the entry at ``seq``; Conflict when one is there already."""
        now = utcnow()
        checkpoint = Checkpoint.signed(self.keyring, seq, hash, entry_at, now)
        info = await self.store.put(
            checkpoint_key(seq),
            checkpoint.to_bytes(),
            CHECKPOINT_CONTENT_TYPE,
            retain_until=now + self.retention,
        )
        return checkpoint, info

    async def newest(self, at_most_seq: int | None = None) -> NewestCheckpoint:
        """The newest valid checkpoint (of seq ≤ ``at_most_seq`` when given)."""
        if at_most_seq is not None and at_most_seq <= 0:
            return NewestCheckpoint(None)
        start_after = None if at_most_seq is None else _listing_start_after(at_most_seq)
        invalid: list[str] = []
        while len(invalid) < _MAX_INVALID:
            keys = await self.store.list_keys(
                CHECKPOINT_FOLDER, start_after=start_after, limit=_MAX_INVALID
            )
            if not keys:
                return NewestCheckpoint(None, invalid)
            for key in keys:
                try:
                    return NewestCheckpoint(
                        Checkpoint.parse(key, await self.store.get(key), self.keyring), invalid
                    )
                except ValueError as error:
                    invalid.append(f"checkpoint {key}: {error}")
            start_after = keys[-1]
        invalid.append(f"more than {_MAX_INVALID} invalid checkpoints; the rest were not read")
        return NewestCheckpoint(None, invalid)


@dataclass(frozen=True)
class _Head:
    seq: int
    hash: str
    at: datetime


async def _head(db: Database) -> _Head | None:
    async with db.read() as session:
        row = (
            await session.execute(
                select(AuditEvent.seq, AuditEvent.hash, AuditEvent.at)
                .order_by(AuditEvent.seq.desc())
                .limit(1)
            )
        ).first()
    return None if row is None else _Head(row.seq, row.hash, row.at)


async def entry_hash_at(db: Database, seq: int) -> str | None:
    async with db.read() as session:
        found = await session.scalar(select(AuditEvent.hash).where(AuditEvent.seq == seq))
    return None if found is None else str(found)


class CheckpointWriter:
    """Checkpoints the chain's head whenever it has moved, every ``interval`` seconds."""

    def __init__(self, db: Database, checkpoints: AuditCheckpoints, interval: float) -> None:
        self._db = db
        self._checkpoints = checkpoints
        self._interval = interval
        # The head this process last saw checkpointed (by itself or another process).
        self._checkpointed_seq: int | None = None
        # Why the last check refused to checkpoint, so each refusal is logged once.
        self._refusal: str | None = None

    async def run(self) -> None:
        try:
            while True:
                try:
                    await self.checkpoint_head()
                except Exception:
                    # The database or the object store is down: try again next period.
                    log.exception("the audit chain's head could not be checkpointed")
                await asyncio.sleep(self._interval)
        except asyncio.CancelledError:
            # Shutting down: checkpoint the last entries now rather than at the next start.
            try:
                await asyncio.wait_for(self.checkpoint_head(), _SHUTDOWN_CHECKPOINT_SECONDS)
            except Exception:
                log.exception("the audit chain's head could not be checkpointed at shutdown")
            raise

    async def checkpoint_head(self) -> Checkpoint | None:
        """Write a checkpoint of the head if none is there yet; the new one, if written.

        The newest checkpoint must still match the chain first: writing a new one over a
        cut or rewritten tail would make the break disappear from the next verification.
        """
        head = await _head(self._db)
        if head is None or head.seq == self._checkpointed_seq:
            return None
        newest = (await self._checkpoints.newest()).checkpoint
        if newest is not None:
            if newest.seq > head.seq:
                # Another process may have checkpointed entries appended since the head was read.
                head = await _head(self._db)
            head_seq = 0 if head is None else head.seq
            if newest.seq > head_seq:
                self._refuse(
                    f"the audit chain ends at seq {head_seq} but was checkpointed at seq "
                    f"{newest.seq}: entries were removed"
                )
                return None
            if await entry_hash_at(self._db, newest.seq) != newest.hash:
                self._refuse(
                    f"the audit entry at seq {newest.seq} no longer matches its checkpoint: "
                    "the chain was rewritten"
                )
                return None
        self._refusal = None
        if head is None:
            return None
        if newest is not None and newest.seq == head.seq:
            self._checkpointed_seq = head.seq
            return None
        try:
            checkpoint, info = await self._checkpoints.write(head.seq, head.hash, head.at)
        except Conflict:
            # Another replica checkpointed this head just now.
            self._checkpointed_seq = head.seq
            return None
        self._checkpointed_seq = head.seq
        log.info(
            "audit chain checkpointed",
            extra={"seq": head.seq, "key": info.key, "retained_until": str(info.retained_until)},
        )
        return checkpoint

    def _refuse(self, problem: str) -> None:
        if problem != self._refusal:
            log.error(
                "%s; no new checkpoint is written until this is resolved (verifyAuditChain)",
                problem,
            )
        self._refusal = problem


async def write_checkpoints(runtime: Runtime[CustomersSettings]) -> None:
    """The customers process's background task (see :class:`CheckpointWriter`)."""
    writer = CheckpointWriter(
        runtime.db,
        AuditCheckpoints.of(runtime),
        runtime.settings.audit_checkpoint_interval_seconds,
    )
    await writer.run()
