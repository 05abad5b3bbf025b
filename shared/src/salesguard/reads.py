"""What the services' reads of their own records share: one record by ID (absent, or out
of the caller's scope, is NOT_FOUND), a batch of records by ID in the order asked, and
the order a list method pages its records in."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar, cast

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

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
