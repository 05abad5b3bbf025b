"""salesguard.batching.chunks: what every "so many at a time" loop of the suite uses."""

from __future__ import annotations

import pytest

from salesguard.batching import chunks


def test_chunks_keep_order_and_the_last_one_is_the_rest() -> None:
    assert [list(chunk) for chunk in chunks(list(range(7)), 3)] == [[0, 1, 2], [3, 4, 5], [6]]
    assert [list(chunk) for chunk in chunks(list(range(6)), 3)] == [[0, 1, 2], [3, 4, 5]]
    assert list(chunks([], 1000)) == []
    assert [list(chunk) for chunk in chunks(["a"], 1000)] == [["a"]]


def test_a_chunk_holds_at_least_one_item() -> None:
    with pytest.raises(ValueError, match="at least one"):
        list(chunks([1, 2], 0))
