"""One page of a listing, newest first, with its total when asked (orders, payments)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from salesguard.pagination import KeysetPage, count_if_asked, keyset_page, keyset_query
from salesguard_api.common.v1 import common_pb2

Row = TypeVar("Row")


async def newest_first(
    session: AsyncSession,
    model: type[Row],
    conditions: Sequence[ColumnElement[bool]],
    page: common_pb2.PageRequest,
    size: int,
    at: InstrumentedAttribute[Any],
    tiebreak: InstrumentedAttribute[Any],
) -> tuple[KeysetPage[Row], int | None]:
    """The rows of ``model`` meeting ``conditions`` on the requested page, ordered by
    (``at``, ``tiebreak``) newest first, and their total when the caller asked for it."""
    query = keyset_query(select(model).where(*conditions), page, size, at, tiebreak)
    rows: list[Row] = list((await session.scalars(query)).all())
    total = await count_if_asked(
        page, session, select(func.count()).select_from(model).where(*conditions)
    )
    return keyset_page(
        rows, size, lambda row: (getattr(row, at.key), getattr(row, tiebreak.key))
    ), total
