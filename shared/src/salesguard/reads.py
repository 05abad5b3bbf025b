"""What the services' reads of their own records share: one record by ID (absent, or out
of the caller's scope, is NOT_FOUND), a batch of records by ID in the order asked, the
order a list method pages its records in, and plain SELECTs read through the driver
(:func:`driver_rows`) where a hot read cannot afford SQLAlchemy's execution."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Generic, Protocol, TypeVar, cast

import asyncpg
from sqlalchemy import Column, Numeric, Select, select
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.pool import Pool
from sqlalchemy.types import TypeEngine
from sqlalchemy.util import await_only, greenlet_spawn

from salesguard import validation
from salesguard.db import Database
from salesguard.errors import InvalidInput, NotFound
from salesguard.listing import read_page
from salesguard.pagination import KeysetPage
from salesguard_api.common.v1 import common_pb2


class Identified(Protocol):
    """A mapped record whose primary key is its string ``id``."""

    @property
    def id(self) -> str: ...


Row = TypeVar("Row", bound=Identified)
Listed = TypeVar("Listed")


def _id_column(entity: type[Identified]) -> InstrumentedAttribute[str]:
    return cast("InstrumentedAttribute[str]", entity.id)


async def one_by_id(
    session: AsyncSession,
    entity: type[Row],
    record_id: str,
    *conditions: Any,
    noun: str,
    lock: bool = False,
    field: str | None = None,
) -> Row:
    """The ``entity`` with this ID that meets ``conditions`` (the caller's scope); NOT_FOUND
    ``"{noun} {id} not found"`` otherwise, so a record out of scope reads as absent.
    ``lock``: locked for the caller's transaction."""
    query = select(entity).where(_id_column(entity) == record_id, *conditions)
    row = await session.scalar(query.with_for_update() if lock else query)
    if row is None:
        raise NotFound(f"{noun} {record_id} not found", field=field)
    return row


def distinct_ids(ids: Iterable[str], *, limit: int = validation.MAX_BATCH) -> list[str]:
    """The IDs of a batch get, each once, in the order first asked; at most ``limit``."""
    wanted = list(dict.fromkeys(ids))
    if len(wanted) > limit:
        raise InvalidInput("ids", f"at most {limit} IDs per call")
    return wanted


async def rows_by_id(
    session: AsyncSession, entity: type[Row], ids: Sequence[str], *conditions: Any
) -> list[Row]:
    """The ``entity`` rows with these IDs that meet ``conditions``, in the order of ``ids``;
    the absent and those out of scope are left out."""
    if not ids:
        return []
    rows = (
        await session.scalars(select(entity).where(_id_column(entity).in_(ids), *conditions))
    ).all()
    by_id = {row.id: row for row in rows}
    return [by_id[i] for i in ids if i in by_id]


@dataclass(frozen=True)
class Listing(Generic[Listed]):
    """How a list method pages its records: ``entity`` ordered by (``at``, ``tiebreak``),
    newest first unless told otherwise."""

    entity: type[Listed]
    at: InstrumentedAttribute[Any]
    tiebreak: InstrumentedAttribute[Any]
    newest_first: bool = True

    async def read(
        self,
        session: AsyncSession,
        conditions: list[Any],
        page: common_pb2.PageRequest,
        size: int,
    ) -> tuple[KeysetPage[Listed], int | None]:
        """One page of the records meeting ``conditions``, and their total if asked for."""
        return await read_page(
            session,
            self.entity,
            conditions,
            page,
            size,
            self.at,
            self.tiebreak,
            newest_first=self.newest_first,
        )

    async def read_in(
        self, db: Database, conditions: list[Any], page: common_pb2.PageRequest, size: int
    ) -> tuple[KeysetPage[Listed], int | None]:
        """:meth:`read` in a read transaction of its own on ``db``."""
        async with db.read() as session:
            return await self.read(session, conditions, page, size)


# -- plain SELECTs through the driver -------------------------------------------------


@dataclass(frozen=True)
class DriverStatement:
    """A SELECT as asyncpg runs it: SQLAlchemy's SQL for it and its arguments, bound once
    (their values processed as SQLAlchemy would bind them)."""

    sql: str
    args: tuple[Any, ...]
    # The parameters' names, by position, and how SQLAlchemy binds those it processes.
    names: tuple[str, ...] = ()
    binds: Mapping[str, Callable[[Any], Any]] = field(default_factory=dict)

    def bound(self, values: Mapping[str, Any]) -> DriverStatement:
        """The statement with the named parameters set to ``values`` (bound as SQLAlchemy
        binds them): a statement kept for others of its shape, e.g. a page's cursor."""
        args = list(self.args)
        for name, value in values.items():
            bind = self.binds.get(name)
            args[self.names.index(name)] = value if bind is None else bind(value)
        return replace(self, args=tuple(args))


def driver_statement(statement: Select[Any], dialect: Dialect) -> DriverStatement | None:
    """``statement`` compiled for :func:`driver_rows`; None unless the database is
    PostgreSQL through asyncpg and no column of the result needs SQLAlchemy's processing
    (a row is then the driver's values as they are, as SQLAlchemy would return them).

    Compile once and keep: compiling costs more than the statement saves (issue 16)."""
    if dialect.name != "postgresql" or dialect.driver != "asyncpg":
        return None
    compiled = statement.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    for entry in compiled._result_columns:
        try:
            processor = entry.type._cached_result_processor(
                dialect, _server_type(entry.type, entry.objects, dialect)
            )
        except (TypeError, ValueError, InvalidRequestError):
            return None  # it depends on what the server says the column is
        if processor is not None:
            return None
    params = compiled.construct_params()
    processors = compiled._bind_processors
    names = tuple(compiled.positiontup or ())
    args, binds = [], {}
    for name in names:
        value, bind = params[name], processors.get(name)
        if bind is not None:
            if not callable(bind):
                return None  # a tuple's, element by element: not for this path
            binds[name] = bind
            value = bind(value)
        args.append(value)
    return DriverStatement(compiled.string, tuple(args), names, binds)


# PostgreSQL's type OIDs of the number types a column is created as: what the driver
# reports for such a column, on which SQLAlchemy's processing of a number depends.
_NUMBER_OIDS = {
    "SMALLINT": 21,
    "INTEGER": 23,
    "BIGINT": 20,
    "REAL": 700,
    "FLOAT": 701,
    "DOUBLE PRECISION": 701,
    "NUMERIC": 1700,
}


def _server_type(type_: TypeEngine[Any], objects: Sequence[Any], dialect: Dialect) -> int | None:
    """The OID PostgreSQL reports for a result column of ``type_`` that is a table's
    column of a non-integer number type, as created from that type; None for any other
    type (whose processing does not depend on it). ValueError for a number computed by an
    expression: what the server makes of it is not known here."""
    if not isinstance(type_, Numeric):
        return None
    if not any(isinstance(each, Column) and each.type is type_ for each in objects):
        raise ValueError("a computed number")
    name = dialect.type_compiler_instance.process(type_)
    oid = _NUMBER_OIDS.get(name.partition("(")[0].strip().upper())
    if oid is None:
        raise ValueError(f"an unknown number type {name}")
    return oid


class DriverRecord(asyncpg.Record):
    """A row read by :func:`driver_rows`: indexed (by position or name) and sliced like a
    tuple, its columns also read as attributes, as a SQLAlchemy row's are."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


async def driver_rows(db: Database, *statements: DriverStatement) -> list[list[DriverRecord]]:
    """Each statement's rows, run in turn on one connection of ``db``'s pool by asyncpg
    itself: no SQLAlchemy connection, execution context or result (issue 16: ~0.25 ms a
    read, more than a 50-row page's SELECT costs PostgreSQL).

    The connection is the pool's, checked out and in as every other use does (a closed
    one is replaced at checkout, :func:`salesguard.db.create_engine`), and used as
    :meth:`Database.statements` uses it: each statement on its own, autocommitted. Only
    for plain SELECTs (see there). A connection an error other than the server's answer
    leaves in doubt (a lost connection, a cancelled read) is closed, not reused."""
    pool = db.engine.sync_engine.pool
    return await greenlet_spawn(_driver_rows, pool, statements)


def _driver_rows(pool: Pool, statements: Sequence[DriverStatement]) -> list[list[DriverRecord]]:
    pooled = pool.connect()
    try:
        driver = cast(asyncpg.Connection, pooled.driver_connection)
        return [
            await_only(driver.fetch(each.sql, *each.args, record_class=DriverRecord))
            for each in statements
        ]
    except asyncpg.PostgresError:
        raise  # the server's answer (a refused statement): the connection is as before
    except BaseException as error:
        pooled.invalidate(error)
        raise
    finally:
        pooled.close()
