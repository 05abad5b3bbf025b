"""Several services' pages as one connection (SPEC G4): ``alerts`` over every alert
source, ``employeeTimeline`` over every timeline service and alert source.

Each source is asked for one page; the pages are merged newest first and the
connection hands out a composite cursor: per source, the page token that resumes
right after the last of its items already handed out ("" = from its start). Equal
instants keep the order of the sources, then each source's own order, so paging
returns every item exactly once. ``totalCount`` is the sum over the sources.
"""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from salesguard_api.common.v1 import common_pb2
from salesguard_gateway.schema.common import (
    Connection,
    Edge,
    ListResponse,
    PageInfo,
    encode_state,
)

M = TypeVar("M")
N = TypeVar("N")
T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[N]):
    """One item of a source's page: its sort key (newest is largest), the item, and the
    source's cursor that resumes right after it."""

    at: tuple[Any, ...]
    node: N
    cursor: str


@dataclass(frozen=True)
class SourcePage(Generic[N]):
    entries: list[Entry[N]]
    has_next: bool
    total: int


def source_page(
    response: ListResponse, items: Iterable[M], entry: Callable[[M, str], Entry[N]]
) -> SourcePage[N]:
    """A list RPC's answer as a source's page: ``entry`` makes each item and its cursor one."""
    return SourcePage(
        entries=[entry(item, cursor) for item, cursor in zip(items, response.cursors, strict=True)],
        has_next=response.page_info.has_next_page,
        total=response.page_info.total_count,
    )


def source_page_request(page: common_pb2.PageRequest, token: str) -> common_pb2.PageRequest:
    """The page one source is asked for: the merged page's size, from its own token."""
    return common_pb2.PageRequest(
        page_size=page.page_size, page_token=token, include_total_count=page.include_total_count
    )


def merged(
    pages: Mapping[str, SourcePage[N]],
    state: dict[str, str],
    page_size: int,
    convert: Callable[[N], T],
) -> Connection[T]:
    """The newest ``page_size`` items of the sources' ``pages`` (in the sources' order),
    each ``convert``-ed; ``state`` (per source, its token) moves past what is handed out."""
    # Stable sort: equal keys keep the sources' order, then each source's own order.
    candidates = sorted(
        ((entry, key) for key, source_page in pages.items() for entry in source_page.entries),
        key=lambda candidate: candidate[0].at,
        reverse=True,
    )
    remaining = {key: len(source_page.entries) for key, source_page in pages.items()}
    edges: list[Edge[T]] = []
    for entry, key in candidates[:page_size]:
        remaining[key] -= 1
        state[key] = entry.cursor
        edges.append(Edge(cursor=encode_state(state), node=convert(entry.node)))
    has_next = any(remaining[key] > 0 or source_page.has_next for key, source_page in pages.items())
    return Connection(
        edges=edges,
        page_info=PageInfo.forward([edge.cursor for edge in edges], has_next),
        total_count=sum(source_page.total for source_page in pages.values()),
    )
