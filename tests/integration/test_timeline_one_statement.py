"""A service's timeline page is one statement (salesguard.timeline, issue 16): every kind's
page statement in one UNION ALL, the ``size + 1`` rows nearest the cursor returned with
their columns, each entity as a record of its columns (its class's properties too), no
BEGIN or ROLLBACK around it. The pages are those of the timeline's order, newest first by
(at, kind, id): forward and backward, from any cursor, for every scope, with instants
shared within and across kinds. Real PostgreSQL, and SQLite (the embedded profile).
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import JSON, Integer, String, cast, event, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from salesguard.db import Database, UtcDateTime
from salesguard.pagination import KeysetPage, encode_cursor
from salesguard.policy import Decision, ScopeColumns
from salesguard.timeline import (
    ScopingRow,
    TimelineKind,
    TimelineQuery,
    TimelineRow,
    TimelineSources,
    decode_timeline_cursor,
    fetch_timeline,
)
from salesguard_api.common.v1 import common_pb2
from tests.support.servers import PostgresDatabases

ENDS = datetime(2026, 11, 1, tzinfo=UTC)
BEGINS = ENDS - timedelta(days=30)
REP = "rep-1"
VISIT, CALL, STEP = 1, 2, 3


class Base(DeclarativeBase):
    pass


class Parent(Base):
    """What a step is in scope by (as an approval by its order), with a property."""

    __tablename__ = "tl_parents"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    number: Mapped[int] = mapped_column(Integer)
    branch_id: Mapped[str] = mapped_column(String(32))


class Visit(Base):
    __tablename__ = "tl_visits"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    employee_id: Mapped[str] = mapped_column(String(32))
    branch_id: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    details: Mapped[dict[str, Any]] = mapped_column(JSON)

    @property
    def label(self) -> str:
        return f"visit {self.id} ({len(self.details)} details)"


class Call(Base):
    __tablename__ = "tl_calls"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    employee_id: Mapped[str] = mapped_column(String(32))
    branch_id: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    seconds: Mapped[int | None] = mapped_column(Integer)


class Step(Base):
    __tablename__ = "tl_steps"

    parent_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    sequence: Mapped[int] = mapped_column(Integer, primary_key=True)
    employee_id: Mapped[str] = mapped_column(String(32))
    decided_at: Mapped[datetime] = mapped_column(UtcDateTime())


def sources(*, lateral: bool) -> TimelineSources:
    parent = ScopingRow(
        Parent.id,
        Step.parent_id,
        ScopeColumns(branch=Parent.branch_id),
        lateral=lateral,
        name="timeline_parent",
        columns=(Parent.number,),
    )
    return TimelineSources(
        TimelineKind(
            VISIT,
            select(Visit),
            employee=Visit.employee_id,
            at=Visit.at,
            scope=ScopeColumns(branch=Visit.branch_id),
        ),
        TimelineKind(
            CALL,
            select(Call),
            employee=Call.employee_id,
            at=Call.started_at,
            scope=ScopeColumns(branch=Call.branch_id),
        ),
        TimelineKind(
            STEP,
            parent.join(select(Step, parent.column(Parent.number))),
            employee=Step.employee_id,
            at=Step.decided_at,
            # Unique per step; digits and letters sort alike in every collation.
            id=Step.parent_id.concat(cast(Step.sequence, String)),
            scope=parent.scope,
        ),
    )


def decision(scope: dict[str, Any]) -> Decision:
    return Decision.from_result({"allow": True, "grants": [{"scope": scope}], "max_rows": 0})


HR = decision({"kind": "all"})
MANAGER = decision({"kind": "branch", "branch_id": "north"})


@pytest.fixture(params=["postgresql", "sqlite"])
async def database(
    request: pytest.FixtureRequest, postgres: PostgresDatabases, tmp_path: Any
) -> AsyncIterator[Database]:
    if request.param == "postgresql":
        url = await postgres.create("timeline_one_statement")
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'timeline.db'}"
    db = Database(url)
    async with db.engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)
    try:
        yield db
    finally:
        await db.dispose()


async def seed(db: Database) -> list[tuple[datetime, int, str, str]]:
    """Rows of the rep and of others, many at the same instants (within and across kinds):
    the rep's as (at, kind, id, branch)."""
    shuffle = random.Random(16)
    instants = [ENDS - timedelta(hours=shuffle.randrange(1, 30 * 24)) for _ in range(25)]
    instants += [BEGINS - timedelta(hours=2), ENDS + timedelta(hours=2)]  # outside the window
    mine: list[tuple[datetime, int, str, str]] = []
    rows: list[Base] = []
    for number in range(12):
        branch = "north" if number % 3 else "south"
        rows.append(Parent(id=f"p{number:02d}", number=number, branch_id=branch))
    for n in range(160):
        employee = REP if n % 4 else "other"
        branch = "north" if n % 5 else "south"
        at = shuffle.choice(instants)
        kind = (VISIT, CALL, STEP)[n % 3]
        if kind == VISIT:
            item_id = f"v{n:03d}"
            rows.append(
                Visit(
                    id=item_id,
                    employee_id=employee,
                    branch_id=branch,
                    at=at,
                    details={"n": n, "tags": ["a"] * (n % 3)},
                )
            )
        elif kind == CALL:
            item_id = f"c{n:03d}"
            rows.append(
                Call(
                    id=item_id,
                    employee_id=employee,
                    branch_id=branch,
                    started_at=at,
                    seconds=None if n % 7 == 0 else n,
                )
            )
        else:
            parent = n % 12
            branch = "north" if parent % 3 else "south"
            item_id = f"p{parent:02d}{n}"
            rows.append(
                Step(parent_id=f"p{parent:02d}", sequence=n, employee_id=employee, decided_at=at)
            )
        if employee == REP and BEGINS <= at < ENDS:
            mine.append((at, kind, item_id, branch))
    async with db.transaction() as session:
        session.add_all(rows)
    return mine


def page_request(size: int, token: str = "", **backward: bool) -> common_pb2.PageRequest:
    return common_pb2.PageRequest(page_size=size, page_token=token, **backward)


def timeline_query(asked: Decision, page: common_pb2.PageRequest) -> TimelineQuery:
    return TimelineQuery(
        decision=asked,
        employee_id=REP,
        begins=BEGINS,
        ends=ENDS,
        kinds=frozenset({VISIT, CALL, STEP}),
        cursor=decode_timeline_cursor(page.page_token),
        size=page.page_size,
        page=page,
    )


class Counted:
    """The statements a database runs."""

    def __init__(self, db: Database) -> None:
        self.statements: list[str] = []
        event.listen(db.engine.sync_engine, "before_cursor_execute", self._count)

    def _count(self, *arguments: Any) -> None:
        self.statements.append(arguments[2])


async def read_page(
    db: Database, timeline: TimelineSources, query: TimelineQuery
) -> KeysetPage[TimelineRow]:
    async with db.statements() as connection:
        session = AsyncSession(bind=connection)
        try:
            page, _ = await fetch_timeline(session, query, timeline(query))
        finally:
            await session.close()
    return page


def keys(rows: list[TimelineRow]) -> list[tuple[datetime, int, str]]:
    return [(row.at, row.kind, row.id) for row in rows]


async def test_each_page_is_one_statement_in_the_timelines_order(database: Database) -> None:
    mine = await seed(database)
    timeline = sources(lateral=not database.is_sqlite)
    counted = Counted(database)
    for asked, branches in ((HR, {"north", "south"}), (MANAGER, {"north"})):
        expected = sorted(
            ((at, kind, item_id) for at, kind, item_id, branch in mine if branch in branches),
            reverse=True,
        )
        for size in (1, 4, 7, 50):
            seen: list[tuple[datetime, int, str]] = []
            token = ""
            while True:
                counted.statements.clear()
                page = await read_page(
                    database, timeline, timeline_query(asked, page_request(size, token))
                )
                # On PostgreSQL nothing else (no BEGIN, no ROLLBACK); SQLite begins each read.
                selects = [sql for sql in counted.statements if not sql.startswith("BEGIN")]
                assert len(selects) == 1, counted.statements
                assert database.is_sqlite or selects == counted.statements
                seen += keys(page.rows)
                if not page.has_next:
                    break
                token = page.cursors[-1]
            assert seen == expected, (asked, size)
            # Backward from each item: the ``size`` before it (and it, when included).
            for at_index in range(0, len(expected), 5):
                token = page_cursor(expected[at_index])
                for include in (False, True):
                    backward = await read_page(
                        database,
                        timeline,
                        timeline_query(
                            asked,
                            page_request(size, token, backward=True, include_token_item=include),
                        ),
                    )
                    end = at_index + 1 if include else at_index
                    assert keys(backward.rows) == expected[max(end - size, 0) : end]


def page_cursor(key: tuple[datetime, int, str]) -> str:
    return encode_cursor(*key)


async def test_an_entity_is_a_record_of_its_columns_and_properties(database: Database) -> None:
    await seed(database)
    timeline = sources(lateral=not database.is_sqlite)
    page = await read_page(database, timeline, timeline_query(HR, page_request(50)))
    async with database.read() as session:
        visits = {row.id: row for row in await session.scalars(select(Visit))}
        calls = {row.id: row for row in await session.scalars(select(Call))}
        steps = {(row.parent_id, row.sequence): row for row in await session.scalars(select(Step))}
        numbers = dict((await session.execute(select(Parent.id, Parent.number))).tuples().all())
    kinds = {row.kind for row in page.rows}
    assert kinds == {VISIT, CALL, STEP}
    for row in page.rows:
        record = row.row[0]
        if row.kind == VISIT:
            stored = visits[row.id]
            assert (record.id, record.employee_id, record.branch_id, record.at, record.details) == (
                stored.id,
                stored.employee_id,
                stored.branch_id,
                stored.at,
                stored.details,
            )
            assert record.label == stored.label and record.at.tzinfo is not None
            assert len(row.row) == 1
        elif row.kind == CALL:
            stored_call = calls[row.id]
            assert (record.id, record.started_at, record.seconds) == (
                stored_call.id,
                stored_call.started_at,
                stored_call.seconds,
            )
        else:
            stored_step = steps[(record.parent_id, record.sequence)]
            assert record.decided_at == stored_step.decided_at
            assert row.row[1] == numbers[record.parent_id]
