"""A backward page over several services asks only the sources that can answer it: one
with nothing handed out before the cursor is left alone unless totalCount is shown. A
forward page is the newest of the sources' pages, as a stable sort of them all writes it."""

from __future__ import annotations

import random

from salesguard_api.common.v1 import common_pb2
from salesguard_gateway.schema.common import Paging, decode_state, encode_state
from salesguard_gateway.schema.federation import (
    EDGE_SOURCE,
    Entries,
    Entry,
    MergePlan,
    SourcePage,
    merged,
)

SOURCES = ("customers", "attendance", "orders")
# An edge of attendance's; nothing of orders' came before it.
CURSOR = encode_state(
    {"customers": "c-token", "attendance": "a-token", "orders": "", EDGE_SOURCE: "attendance"}
)


def plan(total: bool) -> MergePlan:
    page = common_pb2.PageRequest(page_size=2, include_total_count=total, backward=True)
    return MergePlan.of(Paging(2, CURSOR, backward=True), page, SOURCES)


def test_a_source_with_nothing_before_the_cursor_is_not_asked() -> None:
    quiet = plan(total=False)
    assert [quiet.asks(key) for key in SOURCES] == [True, True, False]
    # The others: backwards from their tokens, the edge's own source without its item.
    assert quiet.request("customers").include_token_item
    assert not quiet.request("attendance").include_token_item


def test_it_is_asked_for_its_total_only_when_the_page_shows_it() -> None:
    counted = plan(total=True)
    assert counted.asks("orders")
    request = counted.request("orders")
    assert (request.page_size, request.include_total_count, request.backward) == (1, True, False)


def _reference(pages: dict[str, SourcePage[str]], page_size: int) -> list[tuple[str, str, str]]:
    """A forward merged page as a stable sort of every source's every entry writes it."""
    candidates = sorted(
        ((entry, key) for key, page in pages.items() for entry in page.entries),
        key=lambda candidate: candidate[0].at,
        reverse=True,
    )
    return [(key, entry.node, entry.cursor) for entry, key in candidates[:page_size]]


def test_a_forward_page_is_the_newest_of_the_sources_in_their_order_ties_included() -> None:
    # Many ties across and within sources; each source's page newest first.
    randomness = random.Random(16)  # noqa: S311 - reproducible pages, not secrets
    made: list[str] = []

    def entry(item: tuple[int, str], cursor: str) -> Entry[str]:
        made.append(item[1])
        return Entry((item[0], 0), item[1], cursor)

    for _ in range(200):
        pages: dict[str, SourcePage[str]] = {}
        for key in SOURCES:
            times = sorted(randomness.randint(0, 6) for _ in range(randomness.randint(0, 9)))
            items = [(at, f"{key}-{index}") for index, at in enumerate(reversed(times))]
            cursors = [f"{key}:{index}" for index in range(len(items))]
            pages[key] = SourcePage(Entries(items, cursors, entry), randomness.random() < 0.5, 0)
        page_size = randomness.randint(1, 12)
        made.clear()
        paging = Paging(page_size, None)
        request = common_pb2.PageRequest(page_size=page_size)
        connection = merged(pages, MergePlan.of(paging, request, SOURCES), str)
        # Only the entries the merge reads are made: at most a page and one a source.
        assert len(made) <= page_size + len(SOURCES)
        expected = _reference(pages, page_size)
        assert [edge.node for edge in connection.edges] == [node for _, node, _ in expected]
        states = [decode_state(edge.cursor) for edge in connection.edges]
        state = dict.fromkeys(SOURCES, "")
        for (key, _, cursor), written in zip(expected, states, strict=True):
            state[key] = cursor
            assert written == {**state, EDGE_SOURCE: key}
        total = sum(len(page.entries) for page in pages.values())
        has_next = total > page_size or any(page.has_next for page in pages.values())
        assert connection.page_info.has_next_page is has_next
