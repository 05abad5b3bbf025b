"""Reconciliation narrows statements to the touched rows with one ID-list parameter
(sqlparts.in_ids). As ``id = ANY(CAST(:ids AS text[]))`` the list was an expression the
planner does not fold (array input from a text parameter), so a scan compared every row
with every ID: this test took a minute on 2,000 IDs and 20,000 rows, and 1,000 IDs against
100,000 rows took two. The list must be joined, under a custom or a generic plan."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import text

from salesguard.db import Database
from salesguard_orders.reconciliation_statements import typed
from salesguard_orders.sqlparts import dialect_of
from tests.support.servers import PostgresDatabases

ROWS = 20_000


def _filters(plan: dict[str, Any]) -> list[str]:
    """Every node's filter and join condition in an EXPLAIN (FORMAT JSON) plan."""
    found = [plan[key] for key in ("Filter", "Hash Cond", "Join Filter") if key in plan]
    for child in plan.get("Plans", ()):
        found += _filters(child)
    return found


async def test_an_id_list_is_joined_even_under_a_generic_plan(postgres: PostgresDatabases) -> None:
    dialect = dialect_of("postgresql")
    db = Database(await postgres.create("id_lists"))
    try:
        async with db.transaction() as session:
            # No index on id: the case where the planner must read the table.
            await session.execute(
                text(
                    "CREATE TABLE listed AS SELECT md5(n::text) AS id, n "
                    f"FROM generate_series(1, {ROWS}) AS n"
                )
            )
            await session.execute(text("ANALYZE listed"))
            await session.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
            present = [
                hashlib.md5(str(n).encode(), usedforsecurity=False).hexdigest()
                for n in range(1, ROWS, 10)
            ]
            ids = dialect.id_list([*present, "not-there", 'quote"d', "back\\slash"])
            condition = dialect.in_ids("id", ":order_ids")
            statement = f"SELECT count(*) FROM listed WHERE {condition}"
            count = (await session.execute(typed(statement), {"order_ids": ids})).scalar_one()
            assert count == len(present)
            plan = (
                await session.execute(
                    typed(f"EXPLAIN (FORMAT JSON) {statement}"), {"order_ids": ids}
                )
            ).scalar_one()
        document = plan if isinstance(plan, list) else json.loads(plan)
        filters = _filters(document[0]["Plan"])
        assert not any("ANY" in condition for condition in filters), filters
    finally:
        await db.dispose()
