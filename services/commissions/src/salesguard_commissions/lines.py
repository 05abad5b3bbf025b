"""Writing lines set-based, one round trip per chunk.

PostgreSQL gets one binary ``COPY lines FROM STDIN`` per chunk, on the session's
connection and so inside its transaction: no statement to evaluate, no per-column
arrays to build in Python and unnest and cast in the server, each value sent in
its binary form (it replaced ``INSERT … SELECT … FROM unnest(arrays)``, and costs
the service less CPU for the same lines). SQLite gets one executemany of an INSERT
per chunk inside the transaction.

A re-run of a period on PostgreSQL writes back only what changed: its lines go to a
temporary copy of the table (:func:`stage`, no index, no WAL), and :func:`merge_staged`
deletes the period's lines the run no longer gives, updates those that differ and inserts
the new ones. A re-run over unchanged inputs so leaves every row and index entry of the
period as it was, instead of deleting and rewriting them all.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

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
    str,  # alert_ids: the JSON text stored (alert_ids_json)
    str,  # source_claim
    str,  # registered_source
    int,  # plan_version
    datetime | None,  # fully_paid_at
]
ALERT_IDS = COLUMNS.index("alert_ids")
NO_ALERT_IDS = "[]"


def alert_ids_json(alert_ids: Sequence[str]) -> str:
    """A line's alert IDs as the json column stores them: json.dumps's text, on every path
    (the merge compares it as text)."""
    return json.dumps(list(alert_ids)) if alert_ids else NO_ALERT_IDS


LINES = "lines"
STAGED = "staged_lines"
# Dropped with the run's transaction (committed or not), so each branch stages afresh.
# Keyed like the lines: the merge probes it by ID, and the planner, which may think the
# period holds a row or two (the lines not analysed since a first run wrote them), would
# otherwise scan it once per line (a nested anti join, quadratic in the branch's lines).
_STAGE = text(f"CREATE TEMPORARY TABLE {STAGED} (LIKE {LINES}, PRIMARY KEY (id)) ON COMMIT DROP")


def _compared(table: str) -> str:
    """The columns of a line as compared: json has no equality, so alert_ids compare as the
    text stored (json.dumps's, on every path)."""
    return ", ".join(
        f"{table}.alert_ids::text" if name == "alert_ids" else f"{table}.{name}" for name in COLUMNS
    )


_MERGE = (
    # The period's lines the run no longer gives.
    text(
        f"DELETE FROM {LINES} WHERE period = :period AND branch_id = :branch_id"  # noqa: S608
        f" AND NOT EXISTS (SELECT 1 FROM {STAGED} WHERE {STAGED}.id = {LINES}.id)"
    ),
    # Those that differ in any column (the ID fixes period, branch, order and kind).
    text(
        f"UPDATE {LINES} SET ({', '.join(COLUMNS)}) = "  # noqa: S608
        f"({', '.join(f'{STAGED}.{name}' for name in COLUMNS)})"
        f" FROM {STAGED} WHERE {LINES}.id = {STAGED}.id"
        f" AND {LINES}.period = :period AND {LINES}.branch_id = :branch_id"
        f" AND ({_compared(LINES)}) IS DISTINCT FROM"
        f" ({_compared(STAGED)})"
    ),
    # The new ones.
    text(
        f"INSERT INTO {LINES} ({', '.join(COLUMNS)})"  # noqa: S608
        f" SELECT {', '.join(COLUMNS)} FROM {STAGED}"
        f" WHERE NOT EXISTS (SELECT 1 FROM {LINES} WHERE {LINES}.id = {STAGED}.id"
        f" AND {LINES}.period = :period AND {LINES}.branch_id = :branch_id)"
    ),
)


async def stage(session: AsyncSession) -> str:
    """A temporary, empty copy of the lines table for this transaction; its name."""
    await session.execute(_STAGE)
    return STAGED


async def merge_staged(session: AsyncSession, period: str, branch_id: str) -> int:
    """The period's lines made equal to the staged ones, touching only rows that differ;
    the number of rows deleted, updated and inserted."""
    # A temporary table is never analysed on its own; the joins below want its size.
    await session.execute(text(f"ANALYZE {STAGED}"))
    changed = 0
    for statement in _MERGE:
        result = await session.execute(statement, {"period": period, "branch_id": branch_id})
        changed += int(result.rowcount)  # type: ignore[attr-defined]
    return changed


class LineWriter:
    """Buffers rows and writes them in chunks of ``batch_size`` in the session's transaction,
    into ``table`` (the lines, or on PostgreSQL their staging copy)."""

    def __init__(self, session: AsyncSession, batch_size: int, table: str = LINES) -> None:
        self.session = session
        self.batch_size = batch_size
        self.table = table
        self.postgres = session.bind.dialect.name == "postgresql"
        assert self.postgres or table == LINES, "only PostgreSQL stages lines"
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
            # The json column stores the text it is given: the rows' alert IDs as they are.
            await connection.driver_connection.copy_records_to_table(  # type: ignore[union-attr]
                self.table, records=rows, columns=COLUMNS
            )
        else:
            # The JSON type encodes a list itself.
            values = [
                {
                    **dict(zip(COLUMNS, row, strict=True)),
                    "alert_ids": json.loads(str(row[ALERT_IDS])),
                }
                for row in rows
            ]
            await self.session.execute(insert(Line), values)
        self.written += len(rows)
