"""Several services' pages as one connection (SPEC G4): ``alerts`` over every alert
source, ``employeeTimeline`` over every timeline service and alert source.

Each source is asked for one page; the pages are merged newest first and the
connection hands out a composite cursor: per source, the page token that resumes
right after the last of its items already handed out ("" = from its start), and
which source the edge came from. Equal instants keep the order of the sources, then
each source's own order, so paging returns every item exactly once.
``totalCount`` is the sum over the sources.

Paging backwards (``last``/``before``): the items before an edge are, per source,
those before its token, and for every source but the edge's own the token's item
too (handed out before the edge); each source is asked for that many, backwards,
and the merged page is the ``last`` nearest the edge. A source with nothing handed
out before the edge has nothing before it.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any, Generic, NamedTuple, TypeVar, overload

from salesguard.errors import InvalidInput
from salesguard_api.common.v1 import common_pb2
from salesguard_gateway.schema.common import (
    Connection,
    Edge,
    ListResponse,
    Paging,
    decode_state,
    encode_state,
    source_state,
)

# In a composite cursor: the source of the edge it is the cursor of (not a source's key).
EDGE_SOURCE = "@"

M = TypeVar("M")
N = TypeVar("N")
T = TypeVar("T")


class Entry(NamedTuple, Generic[N]):
    """One item of a source's page: its sort key (newest is largest), the item, and the
    source's cursor that resumes right after it. A tuple (frozen dataclasses cost more)."""

    at: tuple[Any, ...]
    node: N
    cursor: str


class Entries(Sequence[Entry[N]]):
    """A source's page's entries, each made when first read, in the page's order: a forward
    merged page reads about a page of them in all, of every source's whole page (a timeline
    page: ~56 of ~300; making each costs its item's time and the item's conversion)."""

    __slots__ = ("_cursors", "_entry", "_items", "_made")

    def __init__(
        self, items: Sequence[M], cursors: Sequence[str], entry: Callable[[M, str], Entry[N]]
    ) -> None:
        if len(items) != len(cursors):
            raise ValueError("a source answered a number of cursors other than of items")
        self._items: Sequence[Any] = items
        self._cursors = cursors
        self._entry: Callable[[Any, str], Entry[N]] = entry
        self._made: list[Entry[N]] = []

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Entry[N]]:
        made = self._made
        for index in range(len(self._items)):
            if index == len(made):
                made.append(self._entry(self._items[index], self._cursors[index]))
            yield made[index]

    @overload
    def __getitem__(self, index: int) -> Entry[N]: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Entry[N]]: ...
    def __getitem__(self, index: int | slice) -> Entry[N] | Sequence[Entry[N]]:
        return list(self)[index]


@dataclass(frozen=True)
class SourcePage(Generic[N]):
    entries: Sequence[Entry[N]]
    has_next: bool
    total: int


def source_page(
    response: ListResponse, items: Sequence[M], entry: Callable[[M, str], Entry[N]]
) -> SourcePage[N]:
    """A list RPC's answer as a source's page: ``entry`` makes each item and its cursor one
    (when the merge reads it: :class:`Entries`)."""
    return SourcePage(
        entries=Entries(items, response.cursors, entry),
        has_next=response.page_info.has_next_page,
        total=response.page_info.total_count,
    )


def _of_source(key: str, entries: Iterable[Entry[N]]) -> Iterator[tuple[Entry[N], str]]:
    for entry in entries:
        yield entry, key


def _newest(candidate: tuple[Entry[Any], str]) -> tuple[Any, ...]:
    return candidate[0].at


def source_page_request(page: common_pb2.PageRequest, token: str) -> common_pb2.PageRequest:
    """The page one source is asked for: the merged page's size, from its own token."""
    return common_pb2.PageRequest(
        page_size=page.page_size, page_token=token, include_total_count=page.include_total_count
    )


@dataclass(frozen=True)
class MergePlan:
    """What each source is asked for one merged page, and the cursor state its first edge
    starts from."""

    paging: Paging
    page: common_pb2.PageRequest
    start: dict[str, str]
    requests: dict[str, common_pb2.PageRequest | None]

    @classmethod
    def of(cls, paging: Paging, page: common_pb2.PageRequest, keys: Iterable[str]) -> MergePlan:
        keys = tuple(keys)
        if not paging.backward:
            state = source_state(paging.cursor, keys)
            return cls(
                paging, page, state, {key: source_page_request(page, state[key]) for key in keys}
            )
        requests: dict[str, common_pb2.PageRequest | None] = {}
        if not paging.cursor:  # the end of the list: every source's last items
            for key in keys:
                requests[key] = common_pb2.PageRequest(
                    page_size=page.page_size,
                    include_total_count=page.include_total_count,
                    backward=True,
                )
            return cls(paging, page, dict.fromkeys(keys, ""), requests)
        state = source_state(paging.cursor, keys, field="before")
        edge_source = decode_state(paging.cursor, "before").get(EDGE_SOURCE)
        if edge_source not in keys:
            raise InvalidInput("before", "the cursor is malformed (not an edge's cursor)")
        for key in keys:
            requests[key] = (
                common_pb2.PageRequest(
                    page_size=page.page_size,
                    page_token=state[key],
                    include_total_count=page.include_total_count,
                    backward=True,
                    include_token_item=key != edge_source,
                )
                if state[key]
                else None
            )
        return cls(paging, page, dict.fromkeys(keys, ""), requests)

    def asks(self, key: str) -> bool:
        """Whether the source is asked at all: one with nothing before the cursor is asked
        only when the page shows ``totalCount``."""
        return self.requests[key] is not None or self.page.include_total_count

    def request(self, key: str) -> common_pb2.PageRequest:
        """The source's request; a source with nothing to give is asked only for its total
        (one item forward, dropped by :meth:`answered`)."""
        request = self.requests[key]
        if request is None:
            return common_pb2.PageRequest(page_size=1, include_total_count=True)
        return request

    @staticmethod
    def nothing() -> SourcePage[N]:
        """The part of a source that was not asked."""
        return SourcePage([], False, 0)

    def answered(self, key: str, page: SourcePage[N]) -> SourcePage[N]:
        """A source's answer as its part of the merged page."""
        if self.requests[key] is None:
            return SourcePage([], False, page.total)
        return page


def merged(
    pages: Mapping[str, SourcePage[N]],
    plan: MergePlan,
    convert: Callable[[N], T],
    *,
    edge_cursors: bool = True,
) -> Connection[T]:
    """The ``plan``'s page of the sources' ``pages`` (in the sources' order), newest first,
    each ``convert``-ed: the newest items after its cursor, or the nearest before it.

    ``edge_cursors`` false (the query shows no edge's ``cursor``): only the first and last
    edge's cursor is written (pageInfo's start and end), the others left empty, unread;
    each is every source's state in JSON and base64 (a timeline page: 50 of ~500 bytes)."""
    page_size = plan.page.page_size
    if plan.paging.backward:
        # Stable sort: equal keys keep the sources' order, then each source's own order.
        candidates = sorted(
            ((entry, key) for key, source_page in pages.items() for entry in source_page.entries),
            key=_newest,
            reverse=True,
        )
        # The nearest the cursor are the last; those before them only move the state.
        shown = max(len(candidates) - page_size, 0)
        window, more = candidates[shown:], shown > 0
    else:
        # The newest ``page_size`` of that order: each source's page is newest first (its
        # list's order), and heapq.merge, like the stable sort, takes equal keys in the
        # sources' order, then each source's own; it reads each source only that far.
        window = list(
            islice(
                heapq.merge(
                    *(_of_source(key, page.entries) for key, page in pages.items()),
                    key=_newest,
                    reverse=True,
                ),
                page_size,
            )
        )
    state = dict(plan.start)
    remaining = {key: len(source_page.entries) for key, source_page in pages.items()}
    if plan.paging.backward:
        for entry, key in candidates[:shown]:
            state[key] = entry.cursor
        more = more or any(source_page.has_next for source_page in pages.values())
    edges: list[Edge[T]] = []
    last = len(window) - 1
    for index, (entry, key) in enumerate(window):
        remaining[key] -= 1
        state[key] = entry.cursor
        cursor = (
            encode_state({**state, EDGE_SOURCE: key})
            if edge_cursors or index == 0 or index == last
            else ""
        )
        edges.append(Edge(cursor=cursor, node=convert(entry.node)))
    if not plan.paging.backward:
        more = any(remaining[key] > 0 or source_page.has_next for key, source_page in pages.items())
    return Connection(
        edges=edges,
        page_info=plan.paging.page_info([edge.cursor for edge in edges], more),
        total_count=sum(source_page.total for source_page in pages.values()),
    )
