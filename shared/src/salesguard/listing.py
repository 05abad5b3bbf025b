"""What every service's list methods share: the page size the caller may have, filter
conditions (equal to, one of an enum's values, within a period), and one keyset-paged
read of a scoped query with its total when asked."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from google.protobuf import timestamp_pb2
from sqlalchemy import ColumnElement, SQLColumnExpression, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from salesguard import validation
from salesguard.errors import InvalidInput
from salesguard.pagination import (
    KeysetPage,
    count_if_asked,
    forward_only,
    keyset_page,
    keyset_query,
)
from salesguard.policy import Decision, PolicyClient
from salesguard.principal import current_principal
from salesguard.settings import PageLimits
from salesguard.timeutil import from_timestamp
from salesguard_api.common.v1 import common_pb2

Row = TypeVar("Row")
E = TypeVar("E")


async def scoped_page_size(
    policy: PolicyClient,
    action: str,
    page: common_pb2.PageRequest,
    limits: PageLimits,
    *,
    backward_supported: bool = False,
) -> tuple[Decision, int]:
    """The caller's decision for ``action`` and the size of the page they get (the size
    asked for is judged first: a bad one is refused whoever asks). A list that does not
    page backwards (``backward_supported``) refuses a backward page."""
    if not backward_supported:
        forward_only(page)
    requested = validation.page_size("page.page_size", page.page_size, limits)
    decision = (await policy.decide(current_principal(), action)).require(action)
    return decision, decision.page_size(requested)


# Records refetched by ID in one request (a page's worth: Relay's nodes(ids:)).
MAX_IDS = 100


def one_of_ids(column: SQLColumnExpression[Any], field: str, ids: Sequence[str]) -> list[Any]:
    """``column IN ids`` when IDs are given (at most :data:`MAX_IDS` record IDs)."""
    if not ids:
        return []
    if len(ids) > MAX_IDS:
        raise InvalidInput(field, f"at most {MAX_IDS} IDs")
    return [column.in_([validation.record_id(field, value) for value in ids])]


def equal_to(*pairs: tuple[SQLColumnExpression[Any], str]) -> list[ColumnElement[bool]]:
    """``column = value`` for each (column, value) whose value is given (not empty)."""
    return [column == value for column, value in pairs if value]


def enum_filter(
    column: SQLColumnExpression[Any], field: str, values: Iterable[int], allowed: dict[int, E]
) -> list[ColumnElement[bool]]:
    """``column IN (the named values)``, or nothing when none are named."""
    wanted = [validation.enum_value(field, value, allowed) for value in values]
    return [column.in_(wanted)] if wanted else []


def period(
    column: SQLColumnExpression[datetime],
    start: timestamp_pb2.Timestamp,
    end: timestamp_pb2.Timestamp,
    fields: tuple[str, str] = ("from", "to"),
) -> list[ColumnElement[bool]]:
    """``column`` within [start, end) of a request; either end may be unset. ``fields``
    name the two request fields in a refusal."""
    begins, ends = from_timestamp(start, fields[0]), from_timestamp(end, fields[1])
    conditions = []
    if begins:
        conditions.append(column >= begins)
    if ends:
        conditions.append(column < ends)
    return conditions


async def read_page(
    session: AsyncSession,
    entity: type[Row],
    conditions: list[Any],
    page: common_pb2.PageRequest,
    size: int,
    at: InstrumentedAttribute[Any],
    tiebreak: InstrumentedAttribute[Any],
    *,
    newest_first: bool = True,
) -> tuple[KeysetPage[Row], int | None]:
    """One page of ``entity`` ordered by (at, tiebreak), and the total if asked for."""
    query = keyset_query(
        select(entity).where(*conditions), page, size, at, tiebreak, newest_first=newest_first
    )
    rows = list((await session.scalars(query)).all())
    total = await count_if_asked(
        page, session, select(func.count()).select_from(entity).where(*conditions)
    )
    found = keyset_page(rows, size, lambda row: (getattr(row, at.key), getattr(row, tiebreak.key)))
    return found, total
