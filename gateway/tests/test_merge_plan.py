"""A backward page over several services asks only the sources that can answer it: one
with nothing handed out before the cursor is left alone unless totalCount is shown."""

from __future__ import annotations

from salesguard_api.common.v1 import common_pb2
from salesguard_gateway.schema.common import Paging, encode_state
from salesguard_gateway.schema.federation import EDGE_SOURCE, MergePlan

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
