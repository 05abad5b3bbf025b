"""Writing lines set-based: chunked multi-row INSERTs, one statement per chunk.

PostgreSQL gets one ``INSERT … SELECT … FROM unnest(arrays)`` per chunk: a
fixed, prepared statement with one array parameter per column (and the period,
branch and kind the chunk's rows share, once), whatever the chunk's size (a
``VALUES`` list of 5000 rows × 20 columns would exceed the protocol's 32767
parameters). SQLite gets one executemany of the same
statement per chunk inside the transaction.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from datetime import datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncSession

from salesguard_commissions.models import Line

# Column order of a row tuple.
COLUMNS = (
    "id",
    "period",
    "branch_id",
    "employee_id",
    "team_id",
    "order_id",
    "order_code",
    "customer_id",
    "kind",
    "status",
    "base_minor",
    "rate_bp",
    "amount_minor",
    "currency",
    "reason",
    "alert_ids",
    "source_claim",
    "registered_source",
    "plan_version",
    "fully_paid_at",
)
LineRow = tuple[
    str,  # id
    str,  # period
    str,  # branch_id
    str,  # employee_id
    str | None,  # team_id
    str,  # order_id
    str,  # order_code
    str,  # customer_id
    str,  # kind
    str,  # status
    int,  # base_minor
    int,  # rate_bp
    int,  # amount_minor
    str,  # currency
    str,  # reason
    list[str],  # alert_ids
    str,  # source_claim
    str,  # registered_source
    int,  # plan_version
    datetime | None,  # fully_paid_at
]
ALERT_IDS = COLUMNS.index("alert_ids")

# Columns every row of a chunk shares (one period, branch and kind per run step): sent once.
_SHARED = ("period", "branch_id", "kind")
_SHARED_AT = tuple(COLUMNS.index(name) for name in _SHARED)
_VARYING = tuple(name for name in COLUMNS if name not in _SHARED)
_VARYING_AT = tuple(COLUMNS.index(name) for name in _VARYING)
_PG_TYPES = {
    "base_minor": "BIGINT[]",
    "rate_bp": "INTEGER[]",
    "amount_minor": "BIGINT[]",
    "plan_version": "INTEGER[]",
    "fully_paid_at": "TIMESTAMPTZ[]",
    "alert_ids": "TEXT[]",
    "reason": "TEXT[]",
}
_ARRAYS = ", ".join(f"CAST(:{c} AS {_PG_TYPES.get(c, 'VARCHAR[]')})" for c in _VARYING)
_SELECTED = ", ".join(
    f"CAST(:{c} AS VARCHAR)" if c in _SHARED else "alert_ids::json" if c == "alert_ids" else c
    for c in COLUMNS
)
# Built from the constant column names above only; every value is a bound parameter.
_PG_INSERT = text(
    f"INSERT INTO lines ({', '.join(COLUMNS)}) "  # noqa: S608
    f"SELECT {_SELECTED} FROM unnest({_ARRAYS}) AS t({', '.join(_VARYING)})"
)


class LineWriter:
    """Buffers rows and writes them in chunks of ``batch_size`` in the session's transaction."""

    def __init__(self, session: AsyncSession, batch_size: int) -> None:
        self.session = session
        self.batch_size = batch_size
        self.postgres = session.bind.dialect.name == "postgresql"
        self.rows: list[LineRow] = []
        self.written = 0

    async def extend(self, rows: Sequence[LineRow]) -> None:
        self.rows.extend(rows)
        while len(self.rows) >= self.batch_size:
            await self._write(self.rows[: self.batch_size])
            del self.rows[: self.batch_size]

    async def flush(self) -> None:
        if self.rows:
            await self._write(self.rows)
            self.rows = []

    async def _write(self, rows: Sequence[LineRow]) -> None:
        if not rows:
            return
        if self.postgres:
            for shared, group in itertools.groupby(rows, key=itemgetter(*_SHARED_AT)):
                chunk = list(group)
                columns: list[Any] = [list(values) for values in zip(*chunk, strict=True)]
                columns[ALERT_IDS] = [
                    "[]" if not ids else json.dumps(ids) for ids in columns[ALERT_IDS]
                ]
                parameters = {
                    name: columns[at] for name, at in zip(_VARYING, _VARYING_AT, strict=True)
                }
                parameters.update(zip(_SHARED, shared, strict=True))
                await self.session.execute(_PG_INSERT, parameters)
        else:
            await self.session.execute(
                insert(Line), [dict(zip(COLUMNS, row, strict=True)) for row in rows]
            )
        self.written += len(rows)
