"""The one writer of alerts: a single draft or a set a SELECT yields, completed from the
catalogue (rule, severity), idempotent on the dedupe key, then announced.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from opentelemetry import metrics
from sqlalchemy import (
    JSON,
    Select,
    String,
    TextClause,
    literal,
    literal_column,
    select,
    true,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.selectable import TextualSelect
from sqlalchemy.types import TypeEngine

from salesguard.alerts.catalogue import CATALOG
from salesguard.alerts.storage import AlertColumns
from salesguard.db import Database, UtcDateTime, conflict_insert, new_id_sql, utcnow

log = logging.getLogger(__name__)
# Named as before the package split, so dashboards keep their meter.
_raised = metrics.get_meter("salesguard.alerts").create_counter(
    "salesguard.alerts.raised", description="Alerts raised by kind"
)


@dataclass
class AlertDraft:
    kind: str
    dedupe_key: str
    employee_id: str | None = None
    customer_id: str | None = None
    order_id: str | None = None
    branch_id: str | None = None
    evidence: dict[str, Any] = field(default_factory=dict)
    detected_at: datetime = field(default_factory=utcnow)


AlertListener = Callable[[str, Any], None]
_listeners: list[AlertListener] = []


def on_alert_raised(listener: AlertListener) -> None:
    """Called with (source service, alert row) after a raise is flushed."""
    _listeners.append(listener)


# What a set-based raise's SELECT yields per alert, by these names: the detector's part
# of the row. The writer adds the rest (WRITER_COLUMNS) from the catalogue.
SELECTED_COLUMNS = ("employee_id", "customer_id", "order_id", "branch_id", "evidence", "dedupe_key")
WRITER_COLUMNS = ("id", "kind", "rule", "severity", "status", "detected_at")
_SELECTED_TYPES: dict[str, TypeEngine[Any]] = {
    "employee_id": String(),
    "customer_id": String(),
    "order_id": String(),
    "branch_id": String(),
    "evidence": JSON(),
    "dedupe_key": String(),
}

AlertSelect = str | TextClause | Select[Any]


async def raise_alert(
    session: AsyncSession, model: type[AlertColumns], draft: AlertDraft, *, source: str
) -> bool:
    """Insert the alert unless one with its dedupe key exists; True when it is new."""
    row = select(
        *(
            literal(getattr(draft, name), _SELECTED_TYPES[name]).label(name)
            for name in SELECTED_COLUMNS
        )
    )
    raised = await _write(session, model, draft.kind, row, draft.detected_at, source)
    return bool(raised)


async def raise_alerts_selected(
    session: AsyncSession,
    model: type[AlertColumns],
    kind: str,
    selected: AlertSelect,
    params: Mapping[str, Any] | None = None,
    *,
    detected_at: datetime,
    source: str,
) -> list[dict[str, Any]]:
    """Raise one alert of ``kind`` per row ``selected`` yields, in one statement.

    ``selected`` is a SELECT (SQL text, a :func:`sqlalchemy.text` clause with typed
    parameters, or a Core ``select``) whose columns are named as SELECTED_COLUMNS
    (``NULL AS order_id`` where an alert concerns no order; ``evidence`` a JSON object,
    see :func:`salesguard.db.json_object_sql`); ``params`` are its parameters' values.
    The writer adds a fresh ID, the kind's rule and severity from the catalogue, status
    OPEN and ``detected_at``; rows whose dedupe key exists already are skipped
    (``ON CONFLICT (dedupe_key) DO NOTHING``). Returns the alerts written, as announced.
    """
    bound = dict(params or {})
    if isinstance(selected, Select):
        rows: Select[Any] | TextualSelect = selected.params(bound) if bound else selected
    else:
        clause = sa.text(selected) if isinstance(selected, str) else selected
        rows = clause.bindparams(**bound).columns(
            *(sa.column(name, _SELECTED_TYPES[name]) for name in SELECTED_COLUMNS)
        )
    return await _write(session, model, kind, rows, detected_at, source)


async def _write(
    session: AsyncSession,
    model: type[AlertColumns],
    kind: str,
    rows: Select[Any] | TextualSelect,
    detected_at: datetime,
    source: str,
) -> list[dict[str, Any]]:
    """The one writer of alerts: ``INSERT … SELECT … ON CONFLICT (dedupe_key) DO NOTHING
    RETURNING``, the row completed from the catalogue, then announced."""
    entry = CATALOG[kind]
    selected = rows.subquery("selected")
    complete = select(
        literal_column(new_id_sql(session.bind.dialect.name), String()),
        literal(kind, String()),
        literal(entry.rule, String()),
        literal(entry.severity, String()),
        literal("OPEN", String()),
        literal(detected_at, UtcDateTime()),
        *(selected.c[name] for name in SELECTED_COLUMNS),
        # SQLite: without a WHERE, the upsert's ON would read as a join's ON.
    ).where(true())
    columns = (*WRITER_COLUMNS, *SELECTED_COLUMNS)
    table = model.__table__  # type: ignore[attr-defined]
    statement = (
        conflict_insert(session, model)
        .from_select(columns, complete)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(*(table.c[name] for name in columns))
    )
    raised = [dict(row._mapping) for row in (await session.execute(statement)).all()]
    announce_raised(source, raised)
    return raised


def announce_raised(source: str, alerts: Sequence[Mapping[str, Any]]) -> None:
    """Count and hand on alerts just written (by the writer; set-based writes that bypass it
    call this themselves)."""
    for values in alerts:
        _raised.add(1, {"kind": values["kind"], "source": source})
        log.info("alert raised", extra={"kind": values["kind"], "dedupe_key": values["dedupe_key"]})
        for listener in _listeners:
            listener(source, values)


async def raise_alert_now(
    db: Database, model: type[AlertColumns], draft: AlertDraft, *, source: str
) -> bool:
    """Raise an alert in a transaction of its own: for requests that are refused and roll back."""
    async with db.transaction() as session:
        return await raise_alert(session, model, draft, source=source)
