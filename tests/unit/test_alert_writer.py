"""The one alert writer: a single draft (raise_alert) or a set (raise_alerts_selected).

Both complete the row the same way (a fresh ID, the kind's rule and severity from the
catalogue, status OPEN), skip what a dedupe key already holds and announce what they
wrote. The scenarios take a Database, so the PostgreSQL test runs them unchanged.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Integer, String, func, literal, select
from sqlalchemy.orm import Mapped, mapped_column

from salesguard.alerts import CATALOG, AlertColumns, AlertDraft, raise_alert, raise_alerts_selected
from salesguard.db import Database, ServiceBase, json_object_sql, new_metadata

SOURCE = "orders"
AT = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)


class _Base(ServiceBase):
    __abstract__ = True
    metadata = new_metadata()


class WriterAlert(AlertColumns, _Base):
    pass


class WriterOrder(_Base):
    __tablename__ = "orders"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    code: Mapped[str] = mapped_column(String(16))
    submitted_by: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[str] = mapped_column(String(32))
    branch_id: Mapped[str] = mapped_column(String(64))
    total: Mapped[int] = mapped_column(Integer)


ORDERS = [
    {
        "id": "o1",
        "code": "O-000001",
        "submitted_by": "rep-1",
        "customer_id": "c1",
        "branch_id": "b1",
        "total": 500,
    },
    {
        "id": "o2",
        "code": "O-000002",
        "submitted_by": "rep-2",
        "customer_id": "c2",
        "branch_id": "b1",
        "total": 70,
    },
    {
        "id": "o3",
        "code": "O-000003",
        "submitted_by": "rep-1",
        "customer_id": "c3",
        "branch_id": "b2",
        "total": 900,
    },
]

# What reconciliation writes today, as a SELECT yielding the detector's part of the row.
FAKE_DEALS_SQL = """
    SELECT o.submitted_by AS employee_id, o.customer_id AS customer_id, o.id AS order_id,
           o.branch_id AS branch_id,
           {json_object}('order_code', o.code, 'total', o.total) AS evidence,
           'FAKE_DEAL_SUSPECTED:' || o.id AS dedupe_key
    FROM orders o
    WHERE o.total >= :minimum
"""


async def prepared(db: Database) -> None:
    async with db.engine.begin() as connection:
        await connection.run_sync(_Base.metadata.create_all)
    async with db.transaction() as session:
        session.add_all([WriterOrder(**order) for order in ORDERS])


async def stored(db: Database) -> list[WriterAlert]:
    async with db.read() as session:
        query = select(WriterAlert).order_by(WriterAlert.dedupe_key)
        return list((await session.scalars(query)).all())


def fake_deals_sql(db: Database) -> str:
    return FAKE_DEALS_SQL.format(json_object=json_object_sql(db.engine.dialect.name))


async def a_selected_set_is_written_once_completed_from_the_catalogue(db: Database) -> None:
    entry = CATALOG["FAKE_DEAL_SUSPECTED"]
    async with db.transaction() as session:
        raised = await raise_alerts_selected(
            session,
            WriterAlert,
            "FAKE_DEAL_SUSPECTED",
            fake_deals_sql(db),
            {"minimum": 100},
            detected_at=AT,
            source=SOURCE,
        )
    assert sorted(alert["order_id"] for alert in raised) == ["o1", "o3"]
    by_order = {alert["order_id"]: alert for alert in raised}
    assert by_order["o1"]["evidence"] == {"order_code": "O-000001", "total": 500}
    assert by_order["o3"]["employee_id"] == "rep-1"
    assert by_order["o3"]["branch_id"] == "b2"
    rows = await stored(db)
    assert [row.order_id for row in rows] == ["o1", "o3"]
    for row in rows:
        assert (row.kind, row.rule, row.severity, row.status) == (
            "FAKE_DEAL_SUSPECTED",
            entry.rule,
            entry.severity,
            "OPEN",
        )
        assert row.detected_at == AT
        assert len(row.id) == 32 and int(row.id, 16) >= 0
    assert rows[0].id != rows[1].id
    # A re-run raises nothing twice; a lower threshold adds only the new one.
    async with db.transaction() as session:
        again = await raise_alerts_selected(
            session,
            WriterAlert,
            "FAKE_DEAL_SUSPECTED",
            fake_deals_sql(db),
            {"minimum": 1},
            detected_at=AT,
            source=SOURCE,
        )
    assert [alert["order_id"] for alert in again] == ["o2"]
    assert len(await stored(db)) == 3


async def typed_text_and_core_selects_are_written_alike(db: Database) -> None:
    typed = sa.text(fake_deals_sql(db)).bindparams(sa.bindparam("minimum", type_=Integer()))
    async with db.transaction() as session:
        from_text = await raise_alerts_selected(
            session,
            WriterAlert,
            "PAYER_MISMATCH",
            typed,
            {"minimum": 800},
            detected_at=AT,
            source=SOURCE,
        )
    json_object = getattr(func, json_object_sql(db.engine.dialect.name))
    core = select(
        WriterOrder.submitted_by.label("employee_id"),
        WriterOrder.customer_id.label("customer_id"),
        literal(None, String).label("order_id"),
        WriterOrder.branch_id.label("branch_id"),
        json_object(literal("customer_code", String), WriterOrder.customer_id).label("evidence"),
        ("CUSTOMER_NEGLECTED:" + WriterOrder.customer_id).label("dedupe_key"),
    ).where(WriterOrder.branch_id == sa.bindparam("branch", type_=String()))
    async with db.transaction() as session:
        from_core = await raise_alerts_selected(
            session,
            WriterAlert,
            "CUSTOMER_NEGLECTED",
            core,
            {"branch": "b1"},
            detected_at=AT,
            source="customers",
        )
    assert [alert["order_id"] for alert in from_text] == ["o3"]
    assert sorted(alert["customer_id"] for alert in from_core) == ["c1", "c2"]
    assert all(alert["order_id"] is None for alert in from_core)
    assert {alert["evidence"]["customer_code"] for alert in from_core} == {"c1", "c2"}
    rules = {row.kind: row.rule for row in await stored(db)}
    assert rules == {"PAYER_MISMATCH": "O5", "CUSTOMER_NEGLECTED": "C11"}


async def a_draft_and_a_selected_row_are_the_same_row(db: Database) -> None:
    draft = AlertDraft(
        kind="FAKE_DEAL_SUSPECTED",
        dedupe_key="FAKE_DEAL_SUSPECTED:o1",
        employee_id="rep-1",
        customer_id="c1",
        order_id="o1",
        branch_id="b1",
        evidence={"order_code": "O-000001", "total": 500},
        detected_at=AT,
    )
    async with db.transaction() as session:
        assert await raise_alert(session, WriterAlert, draft, source=SOURCE)
    async with db.transaction() as session:
        # Its dedupe key is taken: neither writer writes it again.
        assert not await raise_alert(session, WriterAlert, draft, source=SOURCE)
        raised = await raise_alerts_selected(
            session,
            WriterAlert,
            "FAKE_DEAL_SUSPECTED",
            fake_deals_sql(db),
            {"minimum": 100},
            detected_at=AT,
            source=SOURCE,
        )
    assert [alert["order_id"] for alert in raised] == ["o3"]
    first, third = await stored(db)
    # What the writer fills in is the same; the detector's part differs as the orders do.
    for name in ("kind", "rule", "severity", "status", "employee_id", "detected_at", "note"):
        assert getattr(first, name) == getattr(third, name), name
    assert (first.order_id, third.order_id) == ("o1", "o3")
    assert first.evidence == {"order_code": "O-000001", "total": 500}


async def every_raise_is_announced(db: Database, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="salesguard.alerts"):
        async with db.transaction() as session:
            await raise_alerts_selected(
                session,
                WriterAlert,
                "FAKE_DEAL_SUSPECTED",
                fake_deals_sql(db),
                {"minimum": 0},
                detected_at=AT,
                source=SOURCE,
            )
            await raise_alerts_selected(
                session,
                WriterAlert,
                "FAKE_DEAL_SUSPECTED",
                fake_deals_sql(db),
                {"minimum": 0},
                detected_at=AT,
                source=SOURCE,
            )
    announced = [record for record in caplog.records if record.getMessage() == "alert raised"]
    assert sorted(record.__dict__["dedupe_key"] for record in announced) == [
        "FAKE_DEAL_SUSPECTED:o1",
        "FAKE_DEAL_SUSPECTED:o2",
        "FAKE_DEAL_SUSPECTED:o3",
    ]


SCENARIOS = [
    a_selected_set_is_written_once_completed_from_the_catalogue,
    typed_text_and_core_selects_are_written_alike,
    a_draft_and_a_selected_row_are_the_same_row,
]


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'alerts.db'}")
    await prepared(db)
    yield db
    await db.dispose()


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda scenario: scenario.__name__)
async def test_the_alert_writer_on_sqlite(sqlite_db: Database, scenario: Any) -> None:
    await scenario(sqlite_db)


async def test_every_raise_is_announced_once_on_sqlite(
    sqlite_db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    await every_raise_is_announced(sqlite_db, caplog)
