"""An in-memory SQLite with the commissions tables, for checking that a rule's SQL
fragment and its pure function agree on sample rows (no server, no service)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, create_engine, insert

from salesguard_commissions.models import Base, Line, Period, Plan
from salesguard_commissions.rules.vocabulary import COMMISSION, PAYABLE

PAID = datetime(2026, 3, 2, 9, tzinfo=UTC)


@contextmanager
def commission_tables() -> Iterator[Connection]:
    engine = create_engine("sqlite://")
    tables = [Line.__table__, Period.__table__, Plan.__table__]
    Base.metadata.create_all(engine, tables=tables)  # type: ignore[arg-type]
    try:
        with engine.begin() as connection:
            yield connection
    finally:
        engine.dispose()


def line(number: int, **values: Any) -> dict[str, Any]:
    """A COMMISSION line of order ``number``; ``values`` override any column."""
    row: dict[str, Any] = {
        "id": f"line-{number:04d}",
        "period": "2026-03",
        "branch_id": "branch-1",
        "employee_id": "rep-1",
        "team_id": "team-1",
        "order_id": f"order-{number:04d}",
        "order_code": f"O{number:06d}",
        "customer_id": f"customer-{number:04d}",
        "kind": COMMISSION,
        "status": PAYABLE,
        "base_minor": 100_00,
        "rate_bp": 500,
        "amount_minor": 5_00,
        "currency": "CNY",
        "reason": "COMPANY_CHANNEL",
        "alert_ids": [],
        "source_claim": "WEBSITE",
        "registered_source": "WEBSITE",
        "plan_version": 1,
        "fully_paid_at": PAID + timedelta(hours=number),
    }
    row.update(values)
    return row


def add_lines(connection: Connection, rows: list[dict[str, Any]]) -> None:
    connection.execute(insert(Line), rows)


def add_periods(connection: Connection, statuses: Mapping[tuple[str, str], str]) -> None:
    """Period rows by (branch, period)."""
    connection.execute(
        insert(Period),
        [
            {"branch_id": branch_id, "period": period, "status": status, "run_count": 1}
            for (branch_id, period), status in statuses.items()
        ],
    )
