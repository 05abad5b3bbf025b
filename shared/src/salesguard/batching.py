"""Work split into batches: a list asked of a peer, inserted or looked up so many at a
time (a request's limit, a statement's bind parameters)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """``items`` in order, ``size`` at a time (the last chunk may be shorter; none when
    ``items`` is empty)."""
    if size < 1:
        raise ValueError("a chunk holds at least one item")
    for start in range(0, len(items), size):
        yield items[start : start + size]
