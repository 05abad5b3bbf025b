"""Plain SELECTs read through asyncpg itself (salesguard.reads.driver_rows, issue 16): the
rows SQLAlchemy would return for the same statement, each statement on its own on a
pooled connection, and a connection left in doubt closed rather than reused."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import asyncpg
import pytest
from sqlalchemy import Numeric, func, select, text
from sqlalchemy.dialects import sqlite

from salesguard.db import Database, new_id
from salesguard.pagination import PAGE_AFTER_AT, PAGE_AFTER_KEY, encode_cursor
from salesguard.reads import driver_rows, driver_statement
from salesguard_api.common.v1 import common_pb2
from salesguard_customers.models import Base, Customer
from salesguard_customers.registry import PageStatements, Registry
from tests.support.servers import PostgresDatabases

START = datetime(2026, 1, 1, tzinfo=UTC)


async def customers_db(postgres: PostgresDatabases, rows: int) -> Database:
    db = Database(await postgres.create("driver_reads"), pool_size=2)
    async with db.engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)
    async with db.transaction() as session:
        for number in range(rows):
            at = START + timedelta(minutes=number // 3, microseconds=number % 3)
            session.add(
                Customer(
                    id=new_id(),
                    name=f"Customer {number}",
                    company=f"Company {number % 7}",
                    identity_key=f"k{number}",
                    phone_cipher=bytes([1, number % 256]) if number % 4 else None,
                    lat=None if number % 5 == 0 else 31.0 + number / 1000,
                    lng=None if number % 5 == 0 else 121.5,
                    source="WEBSITE" if number % 2 else "PERSONAL",
                    source_detail="",
                    owner_id=f"rep{number % 3}",
                    team_id="t1" if number % 2 else None,
                    branch_id="hq",
                    status="ACTIVE",
                    first_contact_at=at,
                    registered_at=at,
                    registered_by=f"rep{number % 3}",
                    updated_at=at,
                    pooled_at=at if number % 6 == 0 else None,
                )
            )
    return db


def page_statements(
    db: Database, conditions: list[Any], page: common_pb2.PageRequest, *, named: bool = False
) -> PageStatements:
    registry = Registry.__new__(Registry)
    registry.db = db
    return registry.page_statements(
        conditions, page, 10, Customer.registered_at, named_cursor=named
    )


async def test_a_kept_page_reads_the_rows_sqlalchemy_reads(postgres: PostgresDatabases) -> None:
    db = await customers_db(postgres, 40)
    try:
        async with db.statements() as connection:
            middle = (
                await connection.execute(
                    select(Customer.registered_at, Customer.number)
                    .order_by(Customer.number)
                    .limit(1)
                    .offset(20)
                )
            ).one()
        token = page_statements(db, [], common_pb2.PageRequest())
        cases: list[tuple[list[Any], common_pb2.PageRequest]] = [
            ([], common_pb2.PageRequest(page_size=10)),
            ([], common_pb2.PageRequest(page_size=10, include_total_count=True)),
            (
                [Customer.team_id.in_(["t1", "t2"]), Customer.source == "WEBSITE"],
                common_pb2.PageRequest(include_total_count=True),
            ),
            (
                [Customer.registered_at >= START + timedelta(minutes=2)],
                common_pb2.PageRequest(page_token=encode_cursor(*middle)),
            ),
            ([func.lower(Customer.name).like("%customer 1%")], common_pb2.PageRequest()),
            ([Customer.owner_id == "nobody"], common_pb2.PageRequest(include_total_count=True)),
        ]
        assert token.driver is None  # only kept statements are compiled for the driver
        for conditions, page in cases:
            statements = page_statements(db, conditions, page).for_driver(db.engine.dialect)
            assert statements.driver is not None
            async with db.statements() as connection:
                expected = [
                    tuple(row) for row in (await connection.execute(statements.query)).all()
                ]
                total = (
                    await connection.scalar(statements.counted)
                    if statements.counted is not None
                    else None
                )
            rows, *counted = await driver_rows(db, *statements.driver)
            assert [tuple(row) for row in rows] == expected
            assert all(
                type(a) is type(b)
                for row, want in zip(rows, expected, strict=True)
                for a, b in zip(row, want, strict=True)
            )
            assert ([counted[0][0][0]] if counted else [None]) == [total]
            if rows:
                # Read as a SQLAlchemy row is: by position, by slice and by name.
                assert rows[0].id == rows[0][0] == rows[0]["id"]
                assert rows[0][6:9] == tuple(expected[0][6:9])
                with pytest.raises(AttributeError):
                    _ = rows[0].no_such_column
    finally:
        await db.dispose()


async def test_one_kept_statement_reads_the_page_after_any_cursor(
    postgres: PostgresDatabases,
) -> None:
    """A statement built with the cursor's values named (keyset_query's named_cursor) and
    kept, bound to another token's values, reads what a statement built for that token
    reads, through the driver and through SQLAlchemy alike."""
    db = await customers_db(postgres, 40)
    try:
        async with db.statements() as connection:
            keys = (
                await connection.execute(
                    select(Customer.registered_at, Customer.number).order_by(Customer.number)
                )
            ).all()
        conditions = [Customer.team_id.in_(["t1", "t2"]), Customer.status == "ACTIVE"]
        first = common_pb2.PageRequest(page_token=encode_cursor(*keys[30]))
        kept = page_statements(db, conditions, first, named=True).for_driver(db.engine.dialect)
        assert kept.driver is not None
        for at, number in [keys[0], keys[13], keys[14], keys[29], keys[39]]:
            page = common_pb2.PageRequest(page_token=encode_cursor(at, number))
            cursor = {PAGE_AFTER_AT: at, PAGE_AFTER_KEY: number}
            async with db.statements() as connection:
                fresh = page_statements(db, conditions, page)
                expected = [tuple(r) for r in (await connection.execute(fresh.query)).all()]
                by_params = (await connection.execute(kept.query.params(cursor))).all()
            (rows,) = await driver_rows(db, kept.driver[0].bound(cursor))
            assert [tuple(r) for r in rows] == [tuple(r) for r in by_params] == expected
        # A time bound as SQLAlchemy binds it: in UTC, a naive one refused.
        shanghai = keys[13][0].astimezone(timezone(timedelta(hours=8)))
        bound = kept.driver[0].bound({PAGE_AFTER_AT: shanghai, PAGE_AFTER_KEY: 1})
        assert shanghai.astimezone(UTC) in bound.args and 1 in bound.args
        with pytest.raises(ValueError, match="naive"):
            kept.driver[0].bound({PAGE_AFTER_AT: keys[13][0].replace(tzinfo=None)})
    finally:
        await db.dispose()


def test_only_statements_whose_rows_need_no_processing_are_compiled() -> None:
    postgres = Database("postgresql+asyncpg://u:p@127.0.0.1:1/none").engine.dialect
    assert driver_statement(select(Customer.lat, Customer.phone_cipher, Customer.number), postgres)
    assert driver_statement(select(func.count()).select_from(Customer), postgres)
    # A UTC time is processed by its type; a number the server computes may need it too.
    assert driver_statement(select(Customer.registered_at), postgres) is None
    assert driver_statement(select(func.sum(Customer.lat)), postgres) is None
    assert driver_statement(select(func.sum(Customer.lat, type_=Numeric(10, 2))), postgres) is None
    assert driver_statement(select(Customer.id), sqlite.dialect()) is None
    # Arguments are bound as SQLAlchemy binds them: a time given in +08:00 goes as UTC.
    shanghai = datetime(2026, 1, 1, 8, tzinfo=UTC).astimezone(timezone(timedelta(hours=8)))
    bound = driver_statement(select(Customer.id).where(Customer.registered_at < shanghai), postgres)
    assert bound is not None and bound.args == (shanghai.astimezone(UTC),)
    assert bound.args[0].utcoffset() == timedelta(0)


async def test_each_statement_runs_on_its_own_and_the_connection_goes_back(
    postgres: PostgresDatabases,
) -> None:
    db = Database(await postgres.create("driver_reads_pool"), pool_size=1)
    postgres_dialect = db.engine.dialect
    now = driver_statement(
        select(func.now(), func.pg_backend_pid(), func.txid_current_if_assigned()), postgres_dialect
    )
    assert now is not None
    try:
        (first,), (second,) = await driver_rows(db, now, now)
        # Autocommitted, each its own transaction, on one connection.
        assert second[0] > first[0] and second[1] == first[1]
        # A statement the server refuses leaves the connection as it was: reused.
        broken = driver_statement(select(text("1/0")), postgres_dialect)
        assert broken is not None
        with pytest.raises(asyncpg.DivisionByZeroError):
            await driver_rows(db, broken)
        ((after,),) = await driver_rows(db, now)
        assert after[1] == first[1]
        # The pool keeps working for SQLAlchemy's own use, out of any transaction.
        async with db.read() as session:
            assert await session.scalar(text("SELECT pg_backend_pid()")) == first[1]
        # A read cancelled half way leaves its connection in doubt: closed, not reused.
        slow = driver_statement(select(func.pg_sleep(5)), postgres_dialect)
        assert slow is not None
        reading = asyncio.ensure_future(driver_rows(db, slow))
        await asyncio.sleep(0.3)
        reading.cancel()
        with pytest.raises(asyncio.CancelledError):
            await reading
        ((replaced,),) = await driver_rows(db, now)
        assert replaced[1] != first[1]
    finally:
        await db.dispose()
