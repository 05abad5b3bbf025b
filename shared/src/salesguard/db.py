"""Async SQLAlchemy 2 engines and sessions for PostgreSQL (asyncpg) and SQLite (aiosqlite)."""

from __future__ import annotations

import threading
import weakref
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import itemgetter
from pathlib import Path
from typing import Any
from uuid import uuid4

import sqlalchemy.ext.asyncio
from sqlalchemy import (
    BigInteger,
    Connection,
    DateTime,
    Integer,
    MetaData,
    TypeDecorator,
    event,
    exc,
    text,
)
from sqlalchemy.dialects.postgresql import Insert as PostgresInsert
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Dialect, Engine, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import DeclarativeBase

from salesguard.batching import chunks

# Stable constraint names, so migrations are the same on both databases.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
AutoIncrement = BigInteger().with_variant(Integer(), "sqlite")


def new_metadata() -> MetaData:
    return MetaData(naming_convention=NAMING_CONVENTION)


class ServiceBase(DeclarativeBase):
    """Base of a service's models; each service subclasses it with its own metadata."""

    __abstract__ = True


def new_id() -> str:
    return uuid4().hex


def new_id_sql(dialect: str) -> str:
    """SQL for a fresh ID per row, 32 lowercase hex digits like :func:`new_id`, on the
    database ``dialect`` names ('postgresql' or 'sqlite'): for set-based inserts."""
    if dialect == "postgresql":
        return "replace(gen_random_uuid()::text, '-', '')"
    return "lower(hex(randomblob(16)))"


def json_object_sql(dialect: str) -> str:
    """The SQL function that builds a JSON object from alternating keys and values."""
    return "json_build_object" if dialect == "postgresql" else "json_object"


def utcnow() -> datetime:
    return datetime.now(UTC)


def conflict_insert(session: AsyncSession, table: Any) -> PostgresInsert | SqliteInsert:
    """An INSERT for the session's database that can say ``ON CONFLICT DO NOTHING``
    (both dialects spell it alike; the core ``insert`` cannot)."""
    if session.bind.dialect.name == "postgresql":
        return postgres_insert(table)
    return sqlite_insert(table)


async def insert_new(
    session: AsyncSession,
    model: Any,
    rows: Sequence[Mapping[str, Any]],
    key: Sequence[str],
    *,
    chunk: int = 1000,
) -> list[Any]:
    """Inserts ``rows`` of ``model`` but those whose ``key`` (the columns of one of its
    unique indexes) is stored already; the IDs (``model.id``) of the rows inserted. In
    chunks of ``chunk`` rows a statement (bind-parameter limits).

    In the key's order: two overlapping inserts of the same keys listed in different
    orders would otherwise each hold a row the other waits for (PostgreSQL detects the
    deadlock and fails one of them). In one order, the later waits for the earlier to
    commit, then skips what it inserted."""
    inserted: list[Any] = []
    for part in chunks(sorted(rows, key=itemgetter(*key)), chunk):
        statement = (
            conflict_insert(session, model)
            .values(list(part))
            .on_conflict_do_nothing(index_elements=list(key))
            .returning(model.id)
        )
        inserted += (await session.scalars(statement)).all()
    return inserted


async def lock_keys(session: AsyncSession, *keys: str, shared: bool = False) -> None:
    """Hold ``keys`` until the session's write transaction ends: writers of one key go one
    at a time, so a check they make after this sees what the one before them wrote.
    ``shared`` holders do not wait for each other, only for (and block) exclusive ones.

    PostgreSQL: transaction-scoped advisory locks, taken in sorted order so two callers
    never wait for each other crosswise. SQLite: nothing more to take, since the
    transaction began IMMEDIATE and holds the database's write lock
    (:meth:`Database.transaction`).
    """
    if session.bind.dialect.name != "postgresql":
        return
    function = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
    for key in sorted(set(keys) - {""}):
        await session.execute(text(f"SELECT {function}(hashtextextended(:key, 0))"), {"key": key})


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on both databases (SQLite drops the offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; attach a time zone")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# Execution option naming the BEGIN a SQLite transaction starts with (see create_engine).
SQLITE_BEGIN = "salesguard_sqlite_begin"
# A pooled PostgreSQL connection is replaced after this long (see create_engine).
POOL_RECYCLE_SECONDS = 1800


# Every engine create_engine made, while it lives: telemetry reads their pools' sizes
# when metrics are collected (from the metrics server's thread, hence the lock).
_engines: weakref.WeakSet[Engine] = weakref.WeakSet()
_engines_lock = threading.Lock()


def live_engines() -> list[Engine]:
    """The engines :func:`create_engine` made that are still in use (their sync side)."""
    with _engines_lock:
        return list(_engines)


def _keep(engine: AsyncEngine) -> AsyncEngine:
    with _engines_lock:
        _engines.add(engine.sync_engine)
    return engine


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    # Looked up at call time so OpenTelemetry's wrapper (installed at start-up) applies.
    create_async_engine = sqlalchemy.ext.asyncio.create_async_engine
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
            # The driver's own handling begins a transaction only at the first INSERT,
            # UPDATE or DELETE, so the reads of a check-then-write ran outside it. It is
            # off; the begin event below emits BEGIN instead (SQLAlchemy's SQLite dialect
            # docs, "Enabling Non-Legacy SQLite Transactional Modes").
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            # WAL lets readers go on while one writer commits; foreign keys are off by default.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _sqlite_begin(connection: Connection) -> None:
            # IMMEDIATE takes the write lock at once, so a write transaction's reads see
            # what no other writer can change before it commits: SQLite's counterpart of
            # PostgreSQL's row and advisory locks. Reads stay DEFERRED (a snapshot, no lock).
            mode = connection.get_execution_options().get(SQLITE_BEGIN, "DEFERRED")
            connection.exec_driver_sql(f"BEGIN {mode}")

        return _keep(engine)
    # No pre-ping: SQLAlchemy's pings a checked-out connection with three round trips
    # (BEGIN, ";", ROLLBACK) before every use. A connection the server closed (a restart,
    # an idle timeout) is known closed to asyncpg without asking, and is replaced at
    # checkout (below); pool_recycle retires connections before a proxy or firewall
    # drops them silently.
    engine = create_async_engine(
        url, pool_size=pool_size, max_overflow=pool_size, pool_recycle=POOL_RECYCLE_SECONDS
    )

    @event.listens_for(engine.sync_engine, "checkout")
    def _replace_closed(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        # The pool retries the checkout with a fresh connection (SQLAlchemy's "custom
        # pessimistic ping" recipe, without the ping).
        connection = getattr(dbapi_connection, "_connection", None)
        if connection is not None and connection.is_closed():
            raise exc.DisconnectionError("the database closed this connection")

    return _keep(engine)


class NestedTransactionError(RuntimeError):
    """A programming error: :meth:`Database.transaction` inside another on the same database."""


@dataclass
class _OpenWrite:
    database: Database
    open: bool = True


# The write transactions this task (and the tasks it starts) has open. Tasks copy the
# tuple, not the markers: a marker closed by its owner reads as closed everywhere.
_open_writes: ContextVar[tuple[_OpenWrite, ...]] = ContextVar("salesguard_open_writes", default=())


class Database:
    """A service's engine and session factory."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.engine = create_engine(url, pool_size=pool_size)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        # Write transactions begin IMMEDIATE on SQLite; PostgreSQL ignores the option.
        self._write_sessions = async_sessionmaker(
            self.engine.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"}), expire_on_commit=False
        )
        # Statements on their own (no BEGIN, no ROLLBACK) on PostgreSQL: see statements().
        self._statement_engine = (
            self.engine
            if self.is_sqlite
            else self.engine.execution_options(isolation_level="AUTOCOMMIT")
        )

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    async def ping(self) -> None:
        """Raise unless the database answers a query now (readiness)."""
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    def share_with_sessions(self, key: str, value: object) -> None:
        """Give every session of this database, reads and writes, ``info[key] = value``:
        what a service attaches once for code that only holds a session (the audit chain's
        keys)."""
        for factory in (self.sessions, self._write_sessions):
            info = dict(factory.kw.get("info") or {})
            info[key] = value
            factory.configure(info=info)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session in one transaction: committed on success, rolled back on any error.

        Never open one inside another on the same database: the inner one would commit on
        its own (and on SQLite wait for the outer one's write lock, which waits for it).
        """
        held = _open_writes.get()
        if any(write.open and write.database is self for write in held):
            raise NestedTransactionError(
                "a write transaction was opened inside another on the same database; "
                "pass the outer session on instead"
            )
        mine = _OpenWrite(self)
        token = _open_writes.set((*held, mine))
        try:
            async with self._write_sessions() as session, session.begin():
                # BEGIN now, not at the first statement: on SQLite the write lock is held
                # from here, so whatever the block checks (even over gRPC) stays true.
                await session.connection()
                yield session
        finally:
            mine.open = False
            _open_writes.reset(token)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self.sessions() as session:
            yield session

    @asynccontextmanager
    async def statements(self) -> AsyncIterator[AsyncConnection]:
        """A connection, without a session, whose statements each run on their own on
        PostgreSQL (autocommit): no BEGIN and ROLLBACK round trips around a read.

        Only for plain SELECTs that need no snapshot shared between them (under READ
        COMMITTED a transaction's statements do not share one either): nothing that
        writes, locks (``FOR UPDATE``, advisory locks), sets ``LOCAL`` settings or reads
        through a server-side cursor. SQLite: an ordinary connection.
        """
        async with self._statement_engine.connect() as connection:
            yield connection

    async def dispose(self) -> None:
        await self.engine.dispose()
