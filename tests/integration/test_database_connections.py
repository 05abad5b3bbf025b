"""The shared database layer on PostgreSQL: reads of single statements without a
transaction around them, and a pooled connection the server closed replaced at checkout
(there is no pre-ping)."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from salesguard.db import Database
from tests.support.servers import PostgresDatabases

NOW = text("SELECT now()")


async def test_statements_run_each_on_their_own_and_sessions_in_a_transaction(
    postgres: PostgresDatabases,
) -> None:
    db = Database(await postgres.create("statements"), pool_size=1)
    try:
        # now() is the start of the statement's transaction.
        async with db.read() as session:
            first = await session.scalar(NOW)
            await asyncio.sleep(0.02)
            assert await session.scalar(NOW) == first
        async with db.statements() as connection:
            first = await connection.scalar(NOW)
            await asyncio.sleep(0.02)
            assert await connection.scalar(NOW) > first
        # The same pooled connection is back in transactions for the next session.
        async with db.read() as session:
            first = await session.scalar(NOW)
            await asyncio.sleep(0.02)
            assert await session.scalar(NOW) == first
    finally:
        await db.dispose()


async def test_a_connection_the_server_closed_is_replaced_at_checkout(
    postgres: PostgresDatabases,
) -> None:
    url = await postgres.create("closed_connections")
    db = Database(url, pool_size=1)
    admin = Database(url, pool_size=1)
    try:
        async with db.statements() as connection:
            pid = await connection.scalar(text("SELECT pg_backend_pid()"))
        async with admin.statements() as connection:
            assert await connection.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        await asyncio.sleep(0.2)  # the server's goodbye reaches the idle pooled connection
        for read in (db.statements, db.read):
            async with read() as connection:
                replaced = await connection.scalar(text("SELECT pg_backend_pid()"))
            assert replaced != pid
    finally:
        await db.dispose()
        await admin.dispose()
