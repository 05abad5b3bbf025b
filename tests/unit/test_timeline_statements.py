"""A kind's page statements are kept per scope and shape (salesguard.timeline): a caller's
statement filters by their own grants, never by those of the caller it was first built
for; the request's values are parameters; the kept statements are bounded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.dialects import postgresql

from salesguard.policy import Decision
from salesguard.timeline import (
    MAX_SCOPES,
    MAX_SHAPES,
    TimelineCursor,
    TimelineQuery,
    page_statement,
)
from salesguard_api.common.v1 import common_pb2
from salesguard_orders import timeline as orders_timeline

ENDS = datetime(2026, 12, 1, tzinfo=UTC)


def branch(branch_id: str) -> Decision:
    grant = {"scope": {"kind": "branch", "branch_id": branch_id}}
    return Decision.from_result({"allow": True, "grants": [grant], "max_rows": 0})


def query(
    decision: Decision, employee: str = "rep-1", size: int = 50, **extra: Any
) -> TimelineQuery:
    return TimelineQuery(
        decision=decision,
        employee_id=employee,
        begins=ENDS - timedelta(days=30),
        ends=ENDS,
        kinds=frozenset(orders_timeline.KINDS),
        cursor=extra.get("cursor"),
        size=size,
        page=common_pb2.PageRequest(page_size=size),
    )


def sql(asked: TimelineQuery, index: int = 3) -> str:
    source = orders_timeline.sources(asked)[index]
    compiled = page_statement(asked, source).compile(
        dialect=postgresql.dialect(),  # type: ignore[no-untyped-call]
        compile_kwargs={"literal_binds": True},
    )
    return str(compiled)


def test_each_scope_has_its_own_statement_and_the_values_are_the_requests() -> None:
    first = sql(query(branch("branch-a")))
    second = sql(query(branch("branch-b"), employee="rep-2"))
    assert "'branch-a'" in first and "'branch-b'" not in first
    assert "'branch-b'" in second and "'branch-a'" not in second
    assert "'rep-1'" in first and "'rep-2'" in second
    # The same scope again: the kept source, with this request's values.
    again = query(branch("branch-a"), employee="rep-3")
    assert (
        orders_timeline.sources(again)[3] is orders_timeline.sources(query(branch("branch-a")))[3]
    )
    assert "'rep-3'" in sql(again) and "'rep-1'" not in sql(again)


def test_a_cursor_and_a_page_size_are_their_own_shapes() -> None:
    cursor = TimelineCursor(ENDS - timedelta(days=3), 0, "")
    plain, after, small = (
        sql(query(branch("branch-a"))),
        sql(query(branch("branch-a"), cursor=cursor)),
        sql(query(branch("branch-a"), size=5)),
    )
    assert "LIMIT 51" in plain and "LIMIT 51" in after and "LIMIT 6" in small
    assert "2026-11-28" in after and "2026-11-28" not in plain


def test_the_kept_statements_are_bounded() -> None:
    kind = orders_timeline.sources.declared[3]
    for n in range(MAX_SCOPES * 2):
        sql(query(branch(f"branch-{n}")))
    assert 0 < len(kind.scoped) <= MAX_SCOPES
    source = orders_timeline.sources(query(branch("branch-a")))[3]
    for size in range(1, MAX_SHAPES * 2):
        sql(query(branch("branch-a"), size=size))
    assert 0 < len(source.pages) <= MAX_SHAPES
