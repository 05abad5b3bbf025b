"""One-time downloads: an export leaves once, and only to the employee who ran it.

**Issuing.** In the transaction that completes an export, the service stores a ticket
(:class:`DownloadColumns`): the SHA-256 of a fresh 256-bit token (the token itself is
never stored), the owner, the object and its facts, and an expiry. The export's
``downloadUrl`` is ``{public_url}/downloads/{service}/{token}``.

**Downloading.** The gateway's ``GET /downloads/{service}/{token}`` authenticates the
bearer token and calls the issuing service's ``DownloadsService.Download`` acting as
the caller; a leaked URL alone is useless. The service (:meth:`OneTimeDownloads.open`):

1. finds the ticket by the token's hash: none is NOT_FOUND (``NO_SUCH_DOWNLOAD``);
2. refuses anyone but the owner: FORBIDDEN (``NOT_YOURS``), without using the ticket
   up, so whoever holds a leaked URL cannot burn the owner's download either;
3. asks the policy again for the action that issued it, so a change of roles since
   takes effect: FORBIDDEN (``NOT_PERMITTED``);
4. marks the ticket used with one ``UPDATE … WHERE consumed_at IS NULL AND expires_at
   > now``, in the transaction that records the outcome: of racing downloads exactly
   one matches; a used or expired ticket matches none and is refused, GONE
   (``ALREADY_DOWNLOADED``, ``EXPIRED``);
5. streams a header, then the bytes, checking them against the recorded SHA-256:
   bytes that differ end the stream before its last chunk, so the client never
   gets a complete file that is not the one recorded.

Every attempt is recorded, naming who tried, by the service's :data:`DownloadRecorder`
(customers: the audit trail; commissions: its download log): the download and
step 4's refusals in step 4's transaction, the others in one of their own. A
transfer that breaks after step 4 has used the download up (at most once is the
rule): a new export is needed.

The object is never exposed through a signed URL (:data:`salesguard.objectstore.
ONE_TIME_PREFIXES`), so the gateway needs no object-store credentials and both
profiles behave alike.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cached_property
from typing import TYPE_CHECKING, Any, NoReturn

import sqlalchemy as sa
from alembic import op
from sqlalchemy import BigInteger, String, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from salesguard.db import Database, UtcDateTime, utcnow
from salesguard.errors import Forbidden, Gone, NotFound, ServiceError
from salesguard.grpc_server import Servicer, ServicerContext
from salesguard.objectstore import ObjectStore
from salesguard.policy import PolicyClient
from salesguard.principal import Principal, current_principal
from salesguard.validation import OBJECT_KEY_LENGTH
from salesguard_api.common.v1 import downloads_pb2, downloads_pb2_grpc

log = logging.getLogger(__name__)

CSV_CONTENT_TYPE = "text/csv; charset=utf-8"
DOWNLOADS_ROUTE = "/downloads"
# The services that issue downloads, as they appear in the route.
DOWNLOAD_SOURCES = ("customers", "commissions")
CHUNK_BYTES = 256 * 1024
# secrets.token_urlsafe(32): 43 characters of the URL-safe base64 alphabet.
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{43}")


class Refusal(StrEnum):
    NO_SUCH_DOWNLOAD = "NO_SUCH_DOWNLOAD"
    NOT_YOURS = "NOT_YOURS"
    NOT_PERMITTED = "NOT_PERMITTED"
    EXPIRED = "EXPIRED"
    ALREADY_DOWNLOADED = "ALREADY_DOWNLOADED"


def token_hash(token: str) -> str:
    """What a ticket is stored under: a database reader learns no usable token."""
    return hashlib.sha256(token.encode()).hexdigest()


class DownloadColumns:
    """Columns of a service's ``downloads`` table: one row per issued download URL."""

    __tablename__ = "downloads"

    if TYPE_CHECKING:  # the mapped subclass gets SQLAlchemy's keyword constructor

        def __init__(self, **values: Any) -> None: ...

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    # What was exported (an export request's ID, a payroll period and branch).
    subject_id: Mapped[str] = mapped_column(String(128))
    owner_id: Mapped[str] = mapped_column(String(64))
    branch_id: Mapped[str | None] = mapped_column(String(64))
    object_key: Mapped[str] = mapped_column(String(OBJECT_KEY_LENGTH))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(128))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    row_count: Mapped[int] = mapped_column(BigInteger)
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    consumed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    @declared_attr.directive
    def __table_args__(cls) -> tuple[sa.Index, ...]:
        return (sa.Index("ix_downloads_subject_id", "subject_id"),)


def create_downloads_table() -> None:
    """In a migration: the ``downloads`` table of :class:`DownloadColumns`."""
    op.create_table(
        "downloads",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("subject_id", sa.String(length=128), nullable=False),
        sa.Column("owner_id", sa.String(length=64), nullable=False),
        sa.Column("branch_id", sa.String(length=64), nullable=True),
        sa.Column("object_key", sa.String(length=512), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=128), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("row_count", sa.BigInteger(), nullable=False),
        sa.Column("issued_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("consumed_at", UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_downloads")),
    )
    with op.batch_alter_table("downloads", schema=None) as batch_op:
        batch_op.create_index("ix_downloads_subject_id", ["subject_id"], unique=False)


def drop_downloads_table() -> None:
    with op.batch_alter_table("downloads", schema=None) as batch_op:
        batch_op.drop_index("ix_downloads_subject_id")
    op.drop_table("downloads")


@dataclass(frozen=True)
class DownloadFile:
    """An object to hand out once, with the facts its export recorded: each field is the
    :class:`DownloadColumns` column of that name, which its ticket stores."""

    subject_id: str
    object_key: str
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    row_count: int
    branch_id: str | None = None


@dataclass(frozen=True)
class CsvExport:
    """The bytes of a rendered CSV export and how many data rows they hold."""

    data: bytes
    row_count: int

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def file(
        self, subject_id: str, object_key: str, filename: str, branch_id: str | None
    ) -> DownloadFile:
        """The export, stored under ``object_key``, as a file to hand out once."""
        return DownloadFile(
            subject_id=subject_id,
            object_key=object_key,
            filename=filename,
            content_type=CSV_CONTENT_TYPE,
            size_bytes=len(self.data),
            sha256=self.sha256,
            row_count=self.row_count,
            branch_id=branch_id,
        )


@dataclass(frozen=True)
class IssuedDownload:
    url: str
    expires_at: datetime


@dataclass(frozen=True)
class DownloadAttempt:
    """Who tried which ticket (None: no ticket has the token), and why it was refused
    (None: the file is being handed out)."""

    actor: Principal
    ticket: DownloadColumns | None
    refusal: Refusal | None


# Records an attempt inside the given transaction (the download's, or a refusal's own).
DownloadRecorder = Callable[[AsyncSession, DownloadAttempt], Awaitable[None]]
# The policy resource of a ticket, for the action that issued it.
ResourceOf = Callable[[DownloadColumns], Mapping[str, Any] | None]


class OneTimeDownloads:
    """A service's one-time downloads: issued by its exports, served by its DownloadsService."""

    def __init__(
        self,
        *,
        service: str,
        db: Database,
        objects: ObjectStore,
        policy: PolicyClient,
        model: type[DownloadColumns],
        public_url: str,
        action: str,
        resource_of: ResourceOf,
        record: DownloadRecorder,
    ) -> None:
        if service not in DOWNLOAD_SOURCES:
            raise ValueError(f"{service} is not one of the download sources {DOWNLOAD_SOURCES}")
        self.service = service
        self.db = db
        self.objects = objects
        self.policy = policy
        self.model = model
        self.base_url = f"{public_url.rstrip('/')}{DOWNLOADS_ROUTE}/{service}/"
        self.action = action
        self.resource_of = resource_of
        self.record = record

    async def issue(
        self, session: AsyncSession, file: DownloadFile, *, owner_id: str, ttl: timedelta
    ) -> IssuedDownload:
        """A ticket for ``owner_id``, stored in the caller's transaction; its URL."""
        token = secrets.token_urlsafe(32)
        issued_at = utcnow()
        expires_at = issued_at + ttl
        # The ticket records the file's facts as its export recorded them.
        session.add(
            self.model(
                token_hash=token_hash(token),
                owner_id=owner_id,
                issued_at=issued_at,
                expires_at=expires_at,
                **asdict(file),
            )
        )
        await session.flush()
        return IssuedDownload(self.base_url + token, expires_at)

    async def open(self, token: str) -> tuple[DownloadColumns, AsyncIterator[bytes]]:
        """Use the ticket up for the caller: its facts and its bytes; a typed refusal otherwise."""
        principal = current_principal()
        digest = token_hash(token)
        async with self.db.read() as session:
            ticket = await session.get(self.model, digest)
        if ticket is None:
            await self._refuse(principal, None, Refusal.NO_SUCH_DOWNLOAD)
        if ticket.owner_id != principal.id:
            await self._refuse(principal, ticket, Refusal.NOT_YOURS)
        decision = await self.policy.decide(principal, self.action, self.resource_of(ticket))
        if not decision.allow:
            await self._refuse(principal, ticket, Refusal.NOT_PERMITTED)
        if ticket.consumed_at is None and await self.objects.stat(ticket.object_key) is None:
            # Checked before the ticket is used up: a missing file costs the owner nothing.
            log.error(
                "the file of download %s is missing: %s", ticket.subject_id, ticket.object_key
            )
            raise NotFound(f"the file of this download ({ticket.subject_id}) is missing")
        now = utcnow()
        async with self.db.transaction() as session:
            # The one statement that decides, whatever was read above: of racing downloads
            # exactly one matches (and on SQLite it takes the write lock first, so the
            # record below is written in turn).
            used = await session.execute(
                update(self.model)
                .where(
                    self.model.token_hash == digest,
                    self.model.consumed_at.is_(None),
                    self.model.expires_at > now,
                )
                .values(consumed_at=now)
            )
            refusal: Refusal | None = None
            if used.rowcount != 1:  # type: ignore[attr-defined]
                current = await session.get(self.model, digest)
                used_up = current is None or current.consumed_at is not None
                refusal = Refusal.ALREADY_DOWNLOADED if used_up else Refusal.EXPIRED
            await self.record(session, DownloadAttempt(principal, ticket, refusal))
        if refusal is not None:
            self._log_refusal(principal, ticket, refusal)
            raise _refusal_error(refusal, ticket)
        return ticket, self._verified(ticket)

    async def _refuse(
        self, principal: Principal, ticket: DownloadColumns | None, refusal: Refusal
    ) -> NoReturn:
        async with self.db.transaction() as session:
            await self.record(session, DownloadAttempt(principal, ticket, refusal))
        self._log_refusal(principal, ticket, refusal)
        raise _refusal_error(refusal, ticket)

    def _log_refusal(
        self, principal: Principal, ticket: DownloadColumns | None, refusal: Refusal
    ) -> None:
        log.warning(
            "download refused",
            extra={
                "service": self.service,
                "actor": principal.id,
                "refusal": refusal.value,
                "subject_id": ticket.subject_id if ticket is not None else None,
            },
        )

    async def _verified(self, ticket: DownloadColumns) -> AsyncIterator[bytes]:
        """The object's bytes, the last chunk held back until the whole matches the record."""
        digest = hashlib.sha256()
        size = 0
        held: bytes | None = None
        async for chunk in self.objects.stream(ticket.object_key, CHUNK_BYTES):
            digest.update(chunk)
            size += len(chunk)
            if held is not None:
                yield held
            held = chunk
        if digest.hexdigest() != ticket.sha256 or size != ticket.size_bytes:
            log.error(
                "the file of download %s differs from its record: %s",
                ticket.subject_id,
                ticket.object_key,
            )
            raise ServiceError(f"the file of {ticket.subject_id} is not the one recorded")
        if held is not None:
            yield held

    def servicer(self) -> Servicer:
        return Servicer.of(DownloadsServicer(self))


def _refusal_error(refusal: Refusal, ticket: DownloadColumns | None) -> ServiceError:
    details = {"reason": refusal.value}
    match refusal:
        case Refusal.NO_SUCH_DOWNLOAD:
            return NotFound("no download has this URL", details=details)
        case Refusal.NOT_YOURS:
            return Forbidden(
                "only the employee who ran the export downloads it, with their own token",
                details=details,
            )
        case Refusal.NOT_PERMITTED:
            return Forbidden("you may no longer download this export", details=details)
        case Refusal.EXPIRED:
            assert ticket is not None
            return Gone(
                f"this download expired at {ticket.expires_at.isoformat()}; run a new export",
                details=details,
            )
        case Refusal.ALREADY_DOWNLOADED:
            return Gone(
                "this export was downloaded already; it is handed out once", details=details
            )


class DownloadsServicer(downloads_pb2_grpc.DownloadsServiceServicer):
    def __init__(self, downloads: OneTimeDownloads) -> None:
        self._downloads = downloads

    async def Download(
        self, request: downloads_pb2.DownloadRequest, context: ServicerContext
    ) -> AsyncIterator[downloads_pb2.DownloadResponse]:
        ticket, chunks = await self._downloads.open(request.token)
        yield downloads_pb2.DownloadResponse(
            header=downloads_pb2.DownloadHeader(
                filename=ticket.filename,
                content_type=ticket.content_type,
                size_bytes=ticket.size_bytes,
                sha256=ticket.sha256,
                row_count=ticket.row_count,
            )
        )
        async for chunk in chunks:
            yield downloads_pb2.DownloadResponse(chunk=chunk)
