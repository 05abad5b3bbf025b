"""Writing lines set-based, one round trip per chunk.

PostgreSQL gets one binary ``COPY lines FROM STDIN`` per chunk, on the session's
connection and so inside its transaction: no statement to evaluate, no per-column
arrays to build in Python and unnest and cast in the server, each value sent in
its binary form (it replaced ``INSERT … SELECT … FROM unnest(arrays)``, and costs
the service less CPU for the same lines). SQLite gets one executemany of an INSERT
per chunk inside the transaction.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import insert
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
            connection = await (await self.session.connection()).get_raw_connection()
            # The json column stores the text it is given (SQLAlchemy's asyncpg codec
            # encodes a str as is): exactly json.dumps's, as every other path writes.
            records = [
                (
                    *row[:ALERT_IDS],
                    "[]" if not row[ALERT_IDS] else json.dumps(row[ALERT_IDS]),
                    *row[ALERT_IDS + 1 :],
                )
                for row in rows
            ]
            await connection.driver_connection.copy_records_to_table(  # type: ignore[union-attr]
                "lines", records=records, columns=COLUMNS
            )
        else:
            await self.session.execute(
                insert(Line), [dict(zip(COLUMNS, row, strict=True)) for row in rows]
            )
        self.written += len(rows)
