"""The timeline's and alert lists' cursors are written directly (salesguard.timeline's
write_cursor): the same tokens encode_cursor writes, for every shape of sort key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from salesguard.pagination import decode_cursor, encode_cursor, keyset_page
from salesguard.timeline import cursor_page, write_cursor

MOMENTS = [
    datetime(2026, 12, 7, 3, 4, 5, 678901, tzinfo=UTC),
    datetime(2026, 1, 1, tzinfo=UTC),
    datetime(2026, 6, 1, 8, 0, tzinfo=timezone(timedelta(hours=8))),
]
KEYS: list[Any] = [
    "0123456789abcdef0123456789abcdef",  # an alert's, a check-in's ID
    "5f0c1a2b3c4d5e6f708192a3b4c5d6e71",  # an approval's: order ID and step
    "bench-rep-0",  # not letters and digits alone: written by encode_cursor
    'a "quoted" \\ id',
    "日本",
    "",
    0,
    42,
    -7,
    True,
    None,
    1.5,
]


def test_every_sort_key_writes_the_token_encode_cursor_writes() -> None:
    for at in MOMENTS:
        for key in KEYS:
            assert write_cursor(at, key) == encode_cursor(at, key)
            for kind in (0, 3, 12):
                assert write_cursor(at, kind, key) == encode_cursor(at, kind, key)
                assert decode_cursor(write_cursor(at, kind, key), 3)[1:] == [kind, key]


def test_a_page_of_rows_has_the_cursors_and_rows_keyset_page_gives() -> None:
    rows = [(MOMENTS[0] - timedelta(seconds=index), f"{index:032x}") for index in range(7)]
    for size in (1, 3, 6, 7, 10):
        for backward in (False, True):
            expected = keyset_page(rows, size, lambda row: row, backward=backward)
            assert cursor_page(rows, size, lambda row: row, backward=backward) == expected
