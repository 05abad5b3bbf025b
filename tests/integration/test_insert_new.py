"""db.insert_new on PostgreSQL: overlapping inserts of the same keys, listed in opposite
orders, both finish, and each row is stored once. Listed as given, each would hold rows the
other waits for, and PostgreSQL would end one of them as a deadlock (overlapping call-log
imports failed so, as INTERNAL)."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import String, UniqueConstraint, func, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from salesguard.db import Database, insert_new, new_id
from tests.support.servers import PostgresDatabases

ROWS = 600
CLIENTS = 4


class _Base(DeclarativeBase):
    pass


class Call(_Base):
    __tablename__ = "calls"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    number: Mapped[str] = mapped_column(String(16))
    direction: Mapped[str] = mapped_column(String(16))

    __table_args__ = (UniqueConstraint("number", "direction"),)


def calls() -> list[dict[str, Any]]:
    """The same calls as every import lists them, each with a new ID (as an import gives)."""
    return [
        {"id": new_id(), "number": f"{n:08d}", "direction": direction}
        for n in range(ROWS // 2)
        for direction in ("IN", "OUT")
    ]


async def test_overlapping_inserts_in_opposite_orders_each_store_a_row_once(
    postgres: PostgresDatabases,
) -> None:
    db = Database(await postgres.create("insert_new"), pool_size=CLIENTS)
    try:
        async with db.engine.begin() as connection:
            await connection.run_sync(_Base.metadata.create_all)
        started = asyncio.Barrier(CLIENTS)

        async def insert(rows: list[dict[str, Any]]) -> int:
            async with db.transaction() as session:
                await session.execute(select(1))  # each holds its transaction first
                await started.wait()
                # 30 rows a statement: the transactions interleave, statement by statement.
                return len(await insert_new(session, Call, rows, ("number", "direction"), chunk=30))

        accepted = await asyncio.gather(
            *(insert(calls() if n % 2 else calls()[::-1]) for n in range(CLIENTS))
        )
        assert sum(accepted) == ROWS
        async with db.read() as session:
            assert await session.scalar(select(func.count()).select_from(Call)) == ROWS
    finally:
        await db.dispose()
