"""Idempotent writes: a retried request with the same key returns the first response.

The key is scoped to the caller and the operation. The stored response and
the work commit in one transaction, so a crash leaves either both or neither.
Reusing a key for a different request is refused.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from google.protobuf.message import Message
from sqlalchemy import LargeBinary, String
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from salesguard.crypto import FieldCipher
from salesguard.db import Database, UtcDateTime, lock_keys, utcnow
from salesguard.errors import ErrorCode, ServiceError
from salesguard.validation import text

R = TypeVar("R", bound=Message)


class IdempotencyColumns:
    """Columns of a service's ``idempotency_keys`` table."""

    __tablename__ = "idempotency_keys"

    if TYPE_CHECKING:  # the mapped subclass gets SQLAlchemy's keyword constructor

        def __init__(self, **values: Any) -> None: ...

    actor_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    operation: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    response: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


def _fingerprint(request: Message) -> str:
    return hashlib.sha256(request.SerializeToString(deterministic=True)).hexdigest()


async def _replay(
    session: AsyncSession,
    model: type[IdempotencyColumns],
    actor_id: str,
    operation: str,
    key: str,
    fingerprint: str,
    response_type: type[R],
    cipher: FieldCipher | None,
) -> R | None:
    row = await session.get(model, (actor_id, operation, key))
    if row is None:
        return None
    if row.request_hash != fingerprint:
        raise ServiceError(
            "this idempotency key was used for a different request",
            code=ErrorCode.IDEMPOTENCY_KEY_REUSED,
            details={"idempotency_key": key},
        )
    stored = row.response
    if cipher is not None:
        stored = cipher.decrypt_bytes(stored, field="idempotency", row_id=f"{operation}:{key}")
    return response_type.FromString(stored)


class IdempotentWrites:
    """A service's idempotent writes, bound once to its database and keys table.

    The operation a key is scoped to is the request's message name without
    ``Request`` (``CheckInRequest`` → ``CheckIn``) and the key is the request's
    ``idempotency_key``, so a call site names only who asks, what and how to answer.
    Pass ``cipher`` when responses hold data that must not rest in plaintext.
    """

    def __init__(
        self,
        db: Database,
        model: type[IdempotencyColumns],
        *,
        cipher: FieldCipher | None = None,
    ) -> None:
        self.db = db
        self.model = model
        self.cipher = cipher

    async def run(
        self,
        actor_id: str,
        request: Message,
        response_type: type[R],
        work: Callable[[AsyncSession], Awaitable[R]],
    ) -> R:
        """Run ``work`` in one transaction, at most once per (actor, operation, key)."""
        return await run_idempotent(
            self.db,
            self.model,
            actor_id=actor_id,
            operation=_operation(request),
            key=_key(request),
            request=request,
            response_type=response_type,
            work=work,
            cipher=self.cipher,
        )

    async def earlier(self, actor_id: str, request: Message, response_type: type[R]) -> R | None:
        """The stored response of a retried request, if any (see ``earlier_response``)."""
        return await earlier_response(
            self.db,
            self.model,
            actor_id=actor_id,
            operation=_operation(request),
            key=_key(request),
            request=request,
            response_type=response_type,
            cipher=self.cipher,
        )


def _operation(request: Message) -> str:
    return request.DESCRIPTOR.name.removesuffix("Request")


def _key(request: Message) -> str:
    key = getattr(request, "idempotency_key", "")
    return key if isinstance(key, str) else ""


async def earlier_response(
    db: Database,
    model: type[IdempotencyColumns],
    *,
    actor_id: str,
    operation: str,
    key: str,
    request: Message,
    response_type: type[R],
    cipher: FieldCipher | None = None,
) -> R | None:
    """The stored response of a retried request, if any: lets costly preparation be skipped.

    ``run_idempotent`` checks again inside its transaction, so a race stays safe.
    """
    if not key:
        return None
    async with db.read() as session:
        return await _replay(
            session, model, actor_id, operation, key, _fingerprint(request), response_type, cipher
        )


async def run_idempotent(
    db: Database,
    model: type[IdempotencyColumns],
    *,
    actor_id: str,
    operation: str,
    key: str,
    request: Message,
    response_type: type[R],
    work: Callable[[AsyncSession], Awaitable[R]],
    cipher: FieldCipher | None = None,
) -> R:
    """Run ``work`` in one transaction, at most once per (actor, operation, key).

    Pass ``cipher`` when the response holds data that must not rest in plaintext.
    """
    key = text("idempotency_key", key, max_length=128)
    if not key:
        async with db.transaction() as session:
            return await work(session)
    fingerprint = _fingerprint(request)
    try:
        async with db.transaction() as session:
            # Retries of one key one at a time: a second waits, then replays the first's answer
            # (rather than running the work again against what the first wrote).
            await lock_keys(session, f"idempotency:{actor_id}:{operation}:{key}")
            earlier = await _replay(
                session, model, actor_id, operation, key, fingerprint, response_type, cipher
            )
            if earlier is not None:
                return earlier
            response = await work(session)
            stored = response.SerializeToString(deterministic=True)
            if cipher is not None:
                stored = cipher.encrypt_bytes(
                    stored, field="idempotency", row_id=f"{operation}:{key}"
                )
            session.add(
                model(
                    actor_id=actor_id,
                    operation=operation,
                    key=key,
                    request_hash=fingerprint,
                    response=stored,
                )
            )
            await session.flush()
            return response
    except IntegrityError:
        # A concurrent retry committed first: answer with its response.
        async with db.read() as session:
            earlier = await _replay(
                session, model, actor_id, operation, key, fingerprint, response_type, cipher
            )
        if earlier is None:
            raise
        return earlier
