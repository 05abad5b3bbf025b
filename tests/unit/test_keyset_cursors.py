"""Keyset cursors: a (time, number) cursor, written on a faster path, is the same token
as the general JSON encoding, and decodes back."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from salesguard.pagination import (
    decode_cursor,
    encode_cursor,
    keyset_page,
    keyset_page_by_position,
)

MOMENTS = [
    datetime(2025, 5, 1, 9, 30, tzinfo=UTC),
    datetime(2025, 5, 1, 9, 30, 0, 5, tzinfo=timezone(timedelta(hours=8))),
    datetime(1, 1, 1, tzinfo=UTC),
    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
]


def general(*values: object) -> str:
    plain = [v.isoformat() if isinstance(v, datetime) else v for v in values]
    raw = json.dumps(plain, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize("at", MOMENTS)
@pytest.mark.parametrize("number", [0, 1, -7, 10**18])
def test_a_time_and_number_cursor_is_the_json_one(at: datetime, number: int) -> None:
    token = encode_cursor(at, number)
    assert token == general(at, number)
    assert decode_cursor(token, 2) == [at.isoformat(), number]


@pytest.mark.parametrize("values", [(MOMENTS[0], "a1b2"), (MOMENTS[0], True), (MOMENTS[0], 1, 2)])
def test_other_cursors_keep_the_general_encoding(values: tuple[object, ...]) -> None:
    assert encode_cursor(*values) == general(*values)  # type: ignore[arg-type]


@pytest.mark.parametrize("size", [0, 1, 3, 4, 10])
def test_a_page_by_position_is_the_page_by_sort_key(size: int) -> None:
    """keyset_page_by_position (a list's rows, cursors written in one pass) gives the page,
    cursors and has-next of keyset_page, for usual keys and unusual ones alike."""
    rows = [("a", at, number) for at, number in zip(MOMENTS, [0, 1, -7, 10**18], strict=True)] + [
        ("b", "2025-01-01T00:00:00+00:00", 3),
        ("c", MOMENTS[0], "id-7"),
        ("d", None, True),
    ]
    assert keyset_page_by_position(rows, size, 1, 2) == keyset_page(
        rows, size, lambda row: (row[1], row[2])
    )


@pytest.mark.parametrize("size", [0, 1, 2, 3, 4, 10])
def test_a_page_with_end_cursors_only_has_the_ends_cursors(size: int) -> None:
    """ends_only: the first and the last row's cursors as without it, the others empty."""
    rows = [("a", at, number) for at, number in zip(MOMENTS, [0, 1, -7, 10**18], strict=True)] + [
        ("c", MOMENTS[0], "id-7")
    ]
    full = keyset_page_by_position(rows, size, 1, 2)
    ends = keyset_page_by_position(rows, size, 1, 2, ends_only=True)
    assert (ends.rows, ends.has_next) == (full.rows, full.has_next)
    assert len(ends.cursors) == len(full.cursors)
    if full.cursors:
        assert ends.cursors[0] == full.cursors[0] and ends.cursors[-1] == full.cursors[-1]
        assert all(cursor == "" for cursor in ends.cursors[1:-1])
        assert ends.page_info(None) == full.page_info(None)
