"""Idempotent writes: a retried request with the same key returns the first response.

The key is scoped to the caller and the operation. The stored response and
the work commit in one transaction, so a crash leaves either both or neither.
Reusing a key for a different request is refused.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from google.protobuf.message import Message
from sqlalchemy import LargeBinary, String
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from salesguard.crypto import FieldCipher
from salesguard.db import Database, UtcDateTime, lock_keys, utcnow
from salesguard.errors import ErrorCode, ServiceError
from salesguard.validation import IDEMPOTENCY_KEY_LENGTH, text

R = TypeVar("R", bound=Message)


class IdempotencyColumns:
    """Columns of a service's ``idempotency_keys`` table."""

    __tablename__ = "idempotency_keys"

    if TYPE_CHECKING:  # the mapped subclass gets SQLAlchemy's keyword constructor

        def __init__(self, **values: Any) -> None: ...

    actor_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    operation: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(IDEMPOTENCY_KEY_LENGTH), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    response: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


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

    async def earlier(self, actor_id: str, request: Message, response_type: type[R]) -> R | None:
        """The stored response of a retried request, if any: lets costly preparation be
        skipped. ``run`` checks again inside its transaction, so a race stays safe."""
        scope = _Scope.of(actor_id, request)
        if scope is None:
            return None
        async with self.db.read() as session:
            return await self._replay(session, scope, response_type)

    async def run(
        self,
        actor_id: str,
        request: Message,
        response_type: type[R],
        work: Callable[[AsyncSession], Awaitable[R]],
    ) -> R:
        """Run ``work`` in one transaction, at most once per (actor, operation, key)."""
        scope = _Scope.of(actor_id, request)
        if scope is None:
            async with self.db.transaction() as session:
                return await work(session)
        try:
            async with self.db.transaction() as session:
                # Retries of one key one at a time: a second waits, then replays the first's
                # answer (rather than running the work again against what the first wrote).
                await lock_keys(session, f"idempotency:{scope.lock_name}")
                earlier = await self._replay(session, scope, response_type)
                if earlier is not None:
                    return earlier
                response = await work(session)
                stored = response.SerializeToString(deterministic=True)
                if self.cipher is not None:
                    stored = self.cipher.encrypt_bytes(
                        stored, field="idempotency", row_id=scope.row_id
                    )
                session.add(
                    self.model(
                        actor_id=scope.actor_id,
                        operation=scope.operation,
                        key=scope.key,
                        request_hash=scope.fingerprint,
                        response=stored,
                    )
                )
                await session.flush()
                return response
        except IntegrityError:
            # A concurrent retry committed first: answer with its response.
            async with self.db.read() as session:
                earlier = await self._replay(session, scope, response_type)
            if earlier is None:
                raise
            return earlier

    async def _replay(
        self, session: AsyncSession, scope: _Scope, response_type: type[R]
    ) -> R | None:
        row = await session.get(self.model, (scope.actor_id, scope.operation, scope.key))
        if row is None:
            return None
        if row.request_hash != scope.fingerprint:
            raise ServiceError(
                "this idempotency key was used for a different request",
                code=ErrorCode.IDEMPOTENCY_KEY_REUSED,
                details={"idempotency_key": scope.key},
            )
        stored = row.response
        if self.cipher is not None:
            stored = self.cipher.decrypt_bytes(stored, field="idempotency", row_id=scope.row_id)
        return response_type.FromString(stored)


@dataclass(frozen=True)
class _Scope:
    """Whose retry of what: the row a key's response is stored under."""

    actor_id: str
    operation: str
    key: str
    request: Message

    @classmethod
    def of(cls, actor_id: str, request: Message) -> _Scope | None:
        """The scope of a keyed request; None when the client sent no key."""
        given = getattr(request, "idempotency_key", "")
        key = text(
            "idempotency_key",
            given if isinstance(given, str) else "",
            max_length=IDEMPOTENCY_KEY_LENGTH,
        )
        if not key:
            return None
        return cls(actor_id, request.DESCRIPTOR.name.removesuffix("Request"), key, request)

    @cached_property
    def fingerprint(self) -> str:
        """Hashed only when compared or stored: a first request's read path skips it."""
        return hashlib.sha256(self.request.SerializeToString(deterministic=True)).hexdigest()

    @property
    def lock_name(self) -> str:
        return f"{self.actor_id}:{self.operation}:{self.key}"

    @property
    def row_id(self) -> str:
        return f"{self.operation}:{self.key}"
