"""Opaque keyset cursors: the sort key of the last row seen, base64url-encoded JSON.

Keyset pagination keeps every page an index range scan, however deep; a cursor
that does not decode is a VALIDATION error, never a 500.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, and_, bindparam, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from salesguard.errors import InvalidInput
from salesguard_api.common.v1 import common_pb2

Key = str | int | float | None
# json.dumps builds an encoder per call when given separators: one, built once.
_COMPACT_JSON = json.JSONEncoder(separators=(",", ":"))
_URLSAFE = bytes.maketrans(b"+/", b"-_")


def encode_cursor(*values: Key | datetime) -> str:
    if len(values) == 2:
        at, key = values
        if isinstance(at, datetime) and type(key) is int:
            # A list's usual cursor, (time, number), written as JSON would write it (an
            # ISO time needs no escaping): a page encodes one per row.
            raw = f'["{at.isoformat()}",{key}]'.encode()
            # base64.urlsafe_b64encode without its two Python-level wrappers.
            encoded = binascii.b2a_base64(raw, newline=False).translate(_URLSAFE)
            return encoded.decode().rstrip("=")
    plain = [value.isoformat() if isinstance(value, datetime) else value for value in values]
    raw = _COMPACT_JSON.encode(plain).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str, arity: int, *, field: str = "page.page_token") -> list[Any]:
    if len(token) > 1024:
        raise InvalidInput(field, "the page token is too long")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        values = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidInput(field, "the page token is malformed") from None
    if not isinstance(values, list) or len(values) != arity:
        raise InvalidInput(field, "the page token is malformed")
    return values


def cursor_datetime(value: Any, *, field: str = "page.page_token") -> datetime:
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        raise InvalidInput(field, "the page token is malformed") from None


T = TypeVar("T")


@dataclass(frozen=True)
class KeysetPage(Generic[T]):
    """One page of rows fetched with ``limit size + 1``, with a cursor after each row."""

    rows: list[T]
    cursors: list[str]
    has_next: bool

    def page_info(self, total_count: int | None) -> common_pb2.PageInfo:
        return common_pb2.PageInfo(
            next_page_token=self.cursors[-1] if self.has_next and self.cursors else "",
            has_next_page=self.has_next,
            total_count=total_count or 0,
        )


def forward_only(page: common_pb2.PageRequest) -> None:
    """Refuse a backward page on a list that pages forward only: answering it as a forward
    page would hand the caller rows from the wrong side of their cursor."""
    if page.backward:
        raise InvalidInput("page.backward", "this list pages forward only")


# The names of a page token's time and tiebreak in a statement keyset_query builds with
# named_cursor: one statement then serves every token, each request binding its own.
PAGE_AFTER_AT = "page_after_at"
PAGE_AFTER_KEY = "page_after_key"


def page_after(page: common_pb2.PageRequest) -> tuple[datetime, str | int] | None:
    """The (time, tiebreak) a page token resumes after; None without a token; VALIDATION
    for a token that does not decode to one."""
    if not page.page_token:
        return None
    after_at, after_key = decode_cursor(page.page_token, 2)
    when = cursor_datetime(after_at)
    if not isinstance(after_key, str | int) or isinstance(after_key, bool):
        raise InvalidInput("page.page_token", "the page token is malformed")
    return when, after_key


def keyset_query(
    query: Select[Any],
    page: common_pb2.PageRequest,
    size: int,
    at: InstrumentedAttribute[Any],
    tiebreak: InstrumentedAttribute[Any],
    *,
    newest_first: bool = True,
    backward_supported: bool = False,
    named_cursor: bool = False,
) -> Select[Any]:
    """Order by (time, tiebreak), resume after the page token's position, fetch size + 1.

    The token is what :func:`keyset_page` encodes for a row: the row's time and its
    unique tiebreak (an ID or a number). A backward page (``page.backward``) walks the
    other way from the token, nearest first: :func:`keyset_page` puts it back in order.
    Only a list whose caller passes ``backward=page.backward`` to :func:`keyset_page`
    says ``backward_supported``; any other refuses a backward page. ``named_cursor``:
    the token's values are the parameters :data:`PAGE_AFTER_AT` and
    :data:`PAGE_AFTER_KEY`, so the statement can be kept for other tokens (each bound
    with ``.params()``).
    """
    if not backward_supported:
        forward_only(page)
    # Which way the rows are read: the list's order, or its reverse for a backward page.
    descending = newest_first != page.backward
    after = page_after(page)
    if after is not None:
        when: Any = after[0]
        after_key: Any = after[1]
        if named_cursor:
            when = bindparam(PAGE_AFTER_AT, when, type_=at.type)
            after_key = bindparam(PAGE_AFTER_KEY, after_key, type_=tiebreak.type)
        inclusive = page.backward and page.include_token_item
        if descending:
            beyond = tiebreak <= after_key if inclusive else tiebreak < after_key
            query = query.where(or_(at < when, and_(at == when, beyond)))
        else:
            beyond = tiebreak >= after_key if inclusive else tiebreak > after_key
            query = query.where(or_(at > when, and_(at == when, beyond)))
    order = (at.desc(), tiebreak.desc()) if descending else (at.asc(), tiebreak.asc())
    return query.order_by(*order).limit(size + 1)


async def count_if_asked(
    page: common_pb2.PageRequest, session: AsyncSession, query: Select[tuple[int]]
) -> int | None:
    """The total behind a page, only when the caller asked for it (it costs a scan)."""
    if not page.include_total_count:
        return None
    return int(await session.scalar(query) or 0)


def keyset_page(
    rows: Sequence[T],
    size: int,
    sort_key: Callable[[T], tuple[Any, ...]],
    *,
    backward: bool = False,
) -> KeysetPage[T]:
    """Split off the extra row that tells whether more follow, and encode each row's sort key.

    ``backward``: the rows were read from the token towards the start (nearest first); the
    page is the ``size`` nearest, in the list's order."""
    page = list(rows[:size])
    if backward:
        page.reverse()
    return KeysetPage(page, [encode_cursor(*sort_key(row)) for row in page], len(rows) > size)


def keyset_page_by_position(
    rows: Sequence[T], size: int, at: int, tiebreak: int, *, ends_only: bool = False
) -> KeysetPage[T]:
    """:func:`keyset_page` of rows read by position (SQL rows), sorted by the time at
    ``at`` and the tiebreak at ``tiebreak``: the same page and cursors, each written
    in one pass (issue 16: a page encodes one per row, and the calls per row cost more
    than the encoding). ``ends_only``: only the first and the last row's cursors are
    written, the others left empty (a caller that resumes from the page's ends only)."""
    page = list(rows[:size])
    cursors = [""] * len(page)
    written = (0, len(page) - 1) if ends_only and len(page) > 2 else range(len(page))
    urlsafe, b2a = _URLSAFE, binascii.b2a_base64
    for index in written:
        when, key = page[index][at], page[index][tiebreak]  # type: ignore[index]
        if isinstance(when, datetime) and type(key) is int:
            raw = f'["{when.isoformat()}",{key}]'.encode()
            cursors[index] = b2a(raw, newline=False).translate(urlsafe).decode().rstrip("=")
        else:
            cursors[index] = encode_cursor(when, key)
    return KeysetPage(page, cursors, len(rows) > size)
