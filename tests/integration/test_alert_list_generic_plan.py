"""ListAlerts' page after a cursor under PostgreSQL's generic plan (issue 16).

asyncpg prepares every statement, and after five runs PostgreSQL may keep a plan made
without the values. ListAlerts' position after the token is a row-value comparison
``(detected_at, id) < (:at, :id)`` and its LIMIT is written into the statement, so
such a plan still reads a list (everyone's, a branch's, some kinds, some statuses) in
index order from the cursor, about a page, with no sort; an employee's page reads none of
the employee's rows before the cursor. The pages are those of the list's order, newest
first by (detected_at, id): forward and backward, with or without the token's own row,
with the same cursors and totals. Real PostgreSQL.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, cast

import pytest
from sqlalchemy import Select, Table, text

from salesguard.alerts.servicer import _FILTER_PARAMETER, AlertsServicer
from salesguard.db import Database
from salesguard.pagination import PAGE_AFTER_AT, PAGE_AFTER_KEY, encode_cursor
from salesguard.policy import Decision, EmbeddedPolicyEngine, PolicyClient
from salesguard.principal import Principal, acting_as
from salesguard.settings import PageLimits
from salesguard.timeline import write_cursor
from salesguard_api.common.v1 import common_pb2
from salesguard_orders.models import Alert, AlertDecision
from tests.harness import POLICIES
from tests.support.servers import PostgresDatabases

ENDS = datetime(2026, 11, 1, tzinfo=UTC)
BEGINS = ENDS - timedelta(days=92)
ROWS = 60_000
EMPLOYEES = 20
BRANCHES = 10
REP = "rep-7"
HR = Principal("hr-1", ("HR",), None, "hq", True)
PAGE = 20


# An alert as (detected_at, id, employee_id, branch_id, kind, status).
Row = tuple[datetime, str, str, str, str, str]


@dataclass(frozen=True)
class Listed:
    db: Database
    servicer: AlertsServicer
    rows: list[Row]


@pytest.fixture(scope="module")
async def listed(postgres: PostgresDatabases) -> AsyncIterator[Listed]:
    db = Database(await postgres.create("alert_list_generic_plan"))
    async with db.engine.begin() as connection:
        tables = [cast(Table, Alert.__table__), cast(Table, AlertDecision.__table__)]
        await connection.run_sync(Alert.metadata.create_all, tables=tables)
        # Over a year, many at the same instants (every 7th shares its neighbour's).
        await connection.execute(
            text(
                f"""
INSERT INTO alerts (id, kind, rule, severity, status, employee_id, branch_id, detected_at,
                    evidence, dedupe_key)
SELECT md5(n::text), 'K' || (n % 5), 'R', 'HIGH',
       CASE WHEN n % 20 < 3 THEN 'RESOLVED' WHEN n % 20 < 6 THEN 'ACKNOWLEDGED' ELSE 'OPEN' END,
       'rep-' || (n % {EMPLOYEES}), 'b' || (n % {BRANCHES}),
       timestamptz '2026-11-01' - ((n - n % 7 / 6)::bigint * 104729 % (365 * 86400))
                                  * interval '1 second',
       '{{}}', 'd' || n
FROM generate_series(1, {ROWS}) AS n"""
            )
        )
        await connection.execute(text("ANALYZE alerts"))
        rows: list[Row] = [
            cast(Row, tuple(row))
            for row in await connection.execute(
                text(
                    "SELECT detected_at, id, employee_id, branch_id, kind, status FROM alerts "
                    "ORDER BY detected_at DESC, id DESC"
                )
            )
        ]
    servicer = AlertsServicer(
        source="orders",
        db=db,
        policy=PolicyClient(EmbeddedPolicyEngine(POLICIES)),
        pages=PageLimits(maximum=200, default=50),
        model=Alert,
        decisions=AlertDecision,
        feed=None,  # type: ignore[arg-type]  # ListAlerts watches nothing
    )
    try:
        yield Listed(db, servicer, rows)
    finally:
        await db.dispose()


def _grant(scope: dict[str, Any], **limits: Any) -> Decision:
    return Decision.from_result({"allow": True, "grants": [{"scope": scope, **limits}]})


EVERYONE = _grant({"kind": "all"}, excluded_subjects=["hr-1"])
BRANCH = _grant({"kind": "branch", "branch_id": "b3"})
REP_BRANCH = _grant({"kind": "branch", "branch_id": "b7"})

# (decision, the filter's values as ListAlerts reads them, which of ``rows`` they keep)
SHAPES: dict[str, tuple[Decision, dict[str, Any], Callable[[Row], bool]]] = {
    "everyone's": (EVERYONE, {}, lambda row: True),
    "a branch's, by grant": (BRANCH, {}, lambda row: row[3] == "b3"),
    "a branch's, by filter": (EVERYONE, {"branch_id": "b4"}, lambda row: row[3] == "b4"),
    "some kinds": (EVERYONE, {"kinds": ["K1", "K3"]}, lambda row: row[4] in ("K1", "K3")),
    "some statuses": (EVERYONE, {"statuses": ["OPEN"]}, lambda row: row[5] == "OPEN"),
    "a branch's statuses": (
        BRANCH,
        {"statuses": ["ACKNOWLEDGED"]},
        lambda row: row[3] == "b3" and row[5] == "ACKNOWLEDGED",
    ),
}


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [plan, *(node for child in plan.get("Plans", ()) for node in _nodes(child))]


def _read(node: dict[str, Any]) -> int:
    """The rows a scan read: those it returned and those its filter removed."""
    removed = ("Rows Removed by Filter", "Rows Removed by Index Recheck")
    return int(node["Actual Rows"]) + sum(int(node.get(key, 0)) for key in removed)


async def _generic_plan(
    db: Database, statement: Select[Any], values: dict[str, Any]
) -> dict[str, Any]:
    """EXPLAIN (ANALYZE) of the statement as ListAlerts runs it, prepared and run under a
    generic plan."""
    compiled = statement.params(values).compile(
        dialect=db.engine.dialect, compile_kwargs={"render_postcompile": True}
    )
    literals = []
    for name in compiled.positiontup or ():
        value = compiled.params[name]
        written = value.isoformat() if isinstance(value, datetime) else str(value)
        literals.append("'" + written.replace("'", "''") + "'")
    async with db.statements() as connection:
        raw = (await connection.get_raw_connection()).driver_connection
        assert raw is not None
        await raw.execute("SET plan_cache_mode = force_generic_plan")
        try:
            await raw.execute(f"PREPARE listed_page AS {compiled}")
            plan = await raw.fetchval(
                f"EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE listed_page({', '.join(literals)})"
            )
        finally:
            await raw.execute("DEALLOCATE listed_page")
            await raw.execute("RESET plan_cache_mode")
    document = json.loads(plan) if isinstance(plan, str) else plan
    return dict(document[0]["Plan"])


class CursorPage(NamedTuple):
    """A page after ``cursor`` as ListAlerts builds it, its generic plan's nodes, and the
    rows it returns."""

    nodes: list[dict[str, Any]]
    plan: dict[str, Any]
    rows: list[tuple[Any, Any]]


async def _cursor_page(
    listed: Listed,
    decision: Any,
    values: dict[str, Any],
    cursor: tuple[Any, ...],
    *,
    backward: bool = False,
    inclusive: bool = False,
) -> CursorPage:
    page = common_pb2.PageRequest(
        page_size=PAGE,
        page_token=encode_cursor(cursor[0], cursor[1]),
        backward=backward,
        include_token_item=inclusive,
    )
    query, _ = listed.servicer._listing(decision, values, page, PAGE, True)
    parameters = {_FILTER_PARAMETER + name: value for name, value in values.items()}
    parameters |= {PAGE_AFTER_AT: cursor[0], PAGE_AFTER_KEY: cursor[1]}
    plan = await _generic_plan(listed.db, query, parameters)
    async with listed.db.statements() as connection:
        rows = [(row.detected_at, row.id) for row in await connection.execute(query, parameters)]
    return CursorPage(_nodes(plan), plan, rows)


def _nearest(
    rows: list[tuple[Any, ...]], cursor: tuple[Any, ...], *, backward: bool, inclusive: bool
) -> list[tuple[Any, Any]]:
    """The page's rows and its extra one: the list's, nearest the cursor first."""
    position = rows.index(cursor)
    if backward:
        nearest = rows[: position + (1 if inclusive else 0)][::-1][: PAGE + 1]
    else:
        nearest = rows[position + 1 :][: PAGE + 1]
    return [(row[0], row[1]) for row in nearest]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(
    ("backward", "inclusive"), [(False, False), (True, False), (True, True)], ids=str
)
async def test_a_page_after_a_cursor_reads_about_a_page_in_index_order(
    listed: Listed, shape: str, backward: bool, inclusive: bool
) -> None:
    decision, values, keeps = SHAPES[shape]
    kept = [row for row in listed.rows if keeps(row)]
    cursor = kept[len(kept) // 3]
    page = await _cursor_page(
        listed, decision, values, cursor, backward=backward, inclusive=inclusive
    )
    assert "Sort" not in [node["Node Type"] for node in page.nodes], json.dumps(page.plan)
    scanned = sum(_read(node) for node in page.nodes if "Scan" in node["Node Type"])
    # The page and its extra row, among the rows the filter passes over (in index order,
    # about one in ``len(rows) / len(kept)`` is the list's), from the cursor on.
    assert scanned <= 3 * (PAGE + 1) * len(listed.rows) // len(kept), json.dumps(page.plan)
    assert page.rows == _nearest(kept, cursor, backward=backward, inclusive=inclusive)


@pytest.mark.parametrize(
    ("backward", "inclusive"), [(False, False), (True, False), (True, True)], ids=str
)
async def test_an_employees_quarter_after_a_cursor_reads_about_a_page_in_index_order(
    listed: Listed, backward: bool, inclusive: bool
) -> None:
    """HR's page of an employee's quarter (the timeline's alerts): the time range written
    as row comparisons, a generic plan takes the quarter for more rows than a page, and
    reads the page in index order from the cursor."""
    values = {"employee_id": REP, "detected_from": BEGINS, "detected_to": ENDS}
    window = [row for row in listed.rows if row[2] == REP and BEGINS <= row[0] < ENDS]
    cursor = window[len(window) // 2]
    page = await _cursor_page(
        listed, EVERYONE, values, cursor, backward=backward, inclusive=inclusive
    )
    assert "Sort" not in [node["Node Type"] for node in page.nodes], json.dumps(page.plan)
    scanned = sum(_read(node) for node in page.nodes if "Scan" in node["Node Type"])
    assert scanned <= 2 * (PAGE + 1), json.dumps(page.plan)
    assert page.rows == _nearest(window, cursor, backward=backward, inclusive=inclusive)


async def test_a_managers_page_of_an_employee_reads_none_of_their_rows_before_the_cursor(
    listed: Listed,
) -> None:
    """A branch's grant makes the generic plan's estimate a handful of rows: it sorts, but
    only the employee's rows past the cursor (its time bounds the index scan)."""
    values = {"employee_id": REP, "detected_from": BEGINS, "detected_to": ENDS}
    window = [row for row in listed.rows if row[2] == REP and BEGINS <= row[0] < ENDS]
    cursor = window[len(window) // 2]
    page = await _cursor_page(listed, REP_BRANCH, values, cursor)
    scans = [node for node in page.nodes if "Index" in node["Node Type"]]
    after = len(window) - window.index(cursor) - 1
    # Bounded by the cursor's instant: the rows after it (and the cursor's own) at most.
    assert scans and all(_read(node) <= after + 1 for node in scans), json.dumps(page.plan)
    assert any(re.search(r"detected_at <= \$\d", node.get("Index Cond", "")) for node in scans)
    assert page.rows == _nearest(window, cursor, backward=False, inclusive=False)


async def test_the_pages_cursors_and_totals_are_the_lists(listed: Listed) -> None:
    """Every page of an employee's quarter and of everyone's list, walked forward then back
    from the last cursor: the list's order, each cursor its row's (time, ID), the total."""
    lists: list[tuple[common_pb2.AlertFilter, Callable[[Row], bool]]] = [
        (
            common_pb2.AlertFilter(employee_id=REP),
            lambda row: row[2] == REP,
        ),
        (
            common_pb2.AlertFilter(branch_id="b5", statuses=[common_pb2.ALERT_STATUS_OPEN]),
            lambda row: row[3] == "b5" and row[5] == "OPEN",
        ),
    ]
    for alert_filter, keeps in lists:
        kept = [row for row in listed.rows if keeps(row)]
        seen: list[tuple[datetime, str]] = []
        token = ""
        with acting_as(HR):
            for _ in range(len(kept) // 50 + 2):
                response = await listed.servicer.ListAlerts(
                    common_pb2.ListAlertsRequest(
                        filter=alert_filter,
                        page=common_pb2.PageRequest(
                            page_size=50, page_token=token, include_total_count=True
                        ),
                    ),
                    None,  # type: ignore[arg-type]
                )
                assert response.page_info.total_count == len(kept)
                keys = [(a.detected_at.ToDatetime(UTC), a.id) for a in response.alerts]
                assert list(response.cursors) == [write_cursor(*key) for key in keys]
                seen += keys
                if not response.page_info.has_next_page:
                    break
                token = response.cursors[-1]
            assert seen == [(row[0], row[1]) for row in kept]
            back: list[tuple[datetime, str]] = []
            token = write_cursor(*seen[-1])
            include = True
            while True:
                response = await listed.servicer.ListAlerts(
                    common_pb2.ListAlertsRequest(
                        filter=alert_filter,
                        page=common_pb2.PageRequest(
                            page_size=50,
                            page_token=token,
                            backward=True,
                            include_token_item=include,
                        ),
                    ),
                    None,  # type: ignore[arg-type]
                )
                keys = [(a.detected_at.ToDatetime(UTC), a.id) for a in response.alerts]
                back = keys + back
                if not keys:
                    break
                token, include = response.cursors[0], False
            assert back == seen
