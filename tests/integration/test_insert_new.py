"""db.insert_new on PostgreSQL, with the call-log table and key the attendance service
imports into: 20 overlapping inserts of the same calls, half listed in the opposite order,
all finish, and each call is stored once. Listed as given, each would hold rows the other
waits for, and PostgreSQL would end one of them as a deadlock (overlapping call-log
imports failed so, as INTERNAL). A transaction PostgreSQL does end so reads, through the
driver, as the CONFLICT a caller retries."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from salesguard.db import Database, insert_new, new_id, utcnow
from salesguard.errors import Conflict, lost_to_concurrent_write
from salesguard_attendance.calllogs import DUPLICATE_KEY
from salesguard_attendance.models import CallLog
from tests.support.servers import PostgresDatabases

ROWS = 600
CLIENTS = 20
STARTED = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def calls() -> list[dict[str, Any]]:
    """The same calls as every import lists them, each with a new ID (as an import gives)."""
    return [
        {
            "id": new_id(),
            "employee_id": f"rep-{n % 3}",
            "team_id": "t1",
            "branch_id": "sh",
            "number_index": f"{n:064d}",
            "number_masked": "138****0000",
            "direction": direction,
            "started_at": STARTED + timedelta(minutes=n),
            "duration_seconds": 60,
            "customer_id": None,
            "customer_owner_id": None,
            "imported_at": utcnow(),
        }
        for n in range(ROWS // 2)
        for direction in ("INCOMING", "OUTGOING")
    ]


async def test_overlapping_inserts_in_opposite_orders_each_store_a_row_once(
    postgres: PostgresDatabases,
) -> None:
    db = Database(await postgres.create("insert_new"), pool_size=CLIENTS)
    try:
        async with db.engine.begin() as connection:
            await connection.run_sync(CallLog.metadata.create_all)
        started = asyncio.Barrier(CLIENTS)

        async def insert(rows: list[dict[str, Any]]) -> int:
            async with db.transaction() as session:
                await session.execute(select(1))  # each holds its transaction first
                await started.wait()
                # 30 rows a statement: the transactions interleave, statement by statement.
                return len(await insert_new(session, CallLog, rows, DUPLICATE_KEY, chunk=30))

        accepted = await asyncio.gather(
            *(insert(calls() if n % 2 else calls()[::-1]) for n in range(CLIENTS))
        )
        assert sum(accepted) == ROWS
        async with db.read() as session:
            assert await session.scalar(select(func.count()).select_from(CallLog)) == ROWS
    finally:
        await db.dispose()


@pytest.mark.parametrize("sqlstate", ["40P01", "40001"])
async def test_the_drivers_own_lost_transaction_reads_as_a_conflict(
    postgres: PostgresDatabases, sqlstate: str
) -> None:
    # The error as asyncpg raises it and SQLAlchemy wraps it, not one made up for the test.
    db = Database(await postgres.create(f"lost_{sqlstate.lower()}"))
    try:
        async with db.transaction() as session:
            with pytest.raises(DBAPIError) as raised:
                await session.execute(
                    text(f"DO $$ BEGIN RAISE EXCEPTION 'lost' USING ERRCODE = '{sqlstate}'; END $$")
                )
        assert isinstance(lost_to_concurrent_write(raised.value), Conflict)
    finally:
        await db.dispose()
