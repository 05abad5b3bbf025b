"""Opaque keyset cursors: the sort key of the last row seen, base64url-encoded JSON.

Keyset pagination keeps every page an index range scan, however deep; a cursor
that does not decode is a VALIDATION error, never a 500.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

from salesguard.errors import InvalidInput

Key = str | int | float | None


def encode_cursor(*values: Key | datetime) -> str:
    plain = [value.isoformat() if isinstance(value, datetime) else value for value in values]
    raw = json.dumps(plain, separators=(",", ":")).encode()
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


def page_of(rows: Sequence[T], size: int) -> tuple[Sequence[T], bool]:
    """Rows fetched with ``limit size + 1``: the page and whether more follow."""
    return rows[:size], len(rows) > size
