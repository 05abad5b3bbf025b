"""Alerts live where a rule raises them, and the gateway federates every one of them.

customers, attendance and orders raise alerts (C, A and O rules), keep them in an
``alerts`` table, serve them through the common AlertsService and are the gateway's alert
sources. Commissions raises none: a source conflict (M3) is a line's status and reason, a
clawback (M4) is a line, and the alerts that withhold commission (M2) are orders'. So it
keeps no alerts table and serves no AlertsService, which no gateway would ever have asked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc
import pytest
from alembic import command
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy import Connection, inspect, text

from salesguard import migrations
from salesguard.db import Database
from salesguard.service import GrpcServiceApp
from salesguard_attendance.server import service as attendance_app
from salesguard_commissions.server import service as commissions_app
from salesguard_customers.server import service as customers_app
from salesguard_gateway.settings import GatewaySettings
from salesguard_orders.server import service as orders_app
from tests.harness import Suite
from tests.support.databases import empty_database
from tests.support.servers import PostgresDatabases

APPS: dict[str, GrpcServiceApp[Any]] = {
    "attendance": attendance_app,
    "customers": customers_app,
    "orders": orders_app,
    "commissions": commissions_app,
}
ALERT_TABLES = {"alerts", "alert_decisions"}
ALERTS_SERVICE = "salesguard.common.v1.AlertsService"
# The new-alert feed's trigger and the decisions' append-only guard (PostgreSQL).
TRIGGER_FUNCTIONS = {"alerts_notify_raised", "alert_decisions_append_only"}
# The revision before commissions dropped the alert tables nothing ever wrote.
BEFORE_DROP = "0004"


def test_the_gateway_federates_every_alerts_table_there_is() -> None:
    """A service with an alerts table is an alert source of the gateway, and only such a
    service is: an alert no query or subscription shows is an alert nobody acts on."""
    with_alerts = {name for name, app in APPS.items() if "alerts" in app.metadata.tables}
    assert with_alerts == set(GatewaySettings().alert_sources)
    assert "commissions" not in with_alerts


async def test_only_the_alert_sources_serve_alerts(suite: Suite) -> None:
    sources = set(GatewaySettings().alert_sources)
    for name in APPS:
        async with grpc.aio.insecure_channel(suite.settings[f"{name}_address"]) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            request = health_pb2.HealthCheckRequest(service=ALERTS_SERVICE)
            if name in sources:
                answer = await health.Check(request)
                assert answer.status == health_pb2.HealthCheckResponse.SERVING, name
                continue
            with pytest.raises(grpc.aio.AioRpcError) as unknown:
                await health.Check(request)
            assert unknown.value.code() is grpc.StatusCode.NOT_FOUND, name


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


def _functions(connection: Connection) -> set[str]:
    """The PostgreSQL trigger functions the alert tables came with (none on SQLite)."""
    if connection.dialect.name != "postgresql":
        return set()
    rows = connection.execute(
        text("SELECT proname FROM pg_proc WHERE proname = ANY(:names)"),
        {"names": sorted(TRIGGER_FUNCTIONS)},
    )
    return {row[0] for row in rows}


async def _downgrade(db: Database, revision: str) -> None:
    config = migrations.alembic_config(
        commissions_app.migrations_dir, db.engine.url.render_as_string(hide_password=False)
    )

    def run(connection: Connection) -> None:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)

    async with db.engine.begin() as connection:
        await connection.run_sync(run)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_a_commissions_database_loses_the_alert_tables_it_never_wrote(
    backend: str, tmp_path: Path, postgres: PostgresDatabases
) -> None:
    """An installed commissions database (before the drop) upgrades to one without alert
    tables or their triggers, and a downgrade gives them back as they were."""
    async with empty_database(backend, tmp_path, postgres, "commissions") as db:
        await migrations.upgrade(db.engine, commissions_app.migrations_dir, BEFORE_DROP)
        async with db.engine.connect() as connection:
            assert await connection.run_sync(_tables) >= ALERT_TABLES
            installed_functions = await connection.run_sync(_functions)
        assert installed_functions == (TRIGGER_FUNCTIONS if backend == "postgresql" else set())
        await migrations.upgrade(db.engine, commissions_app.migrations_dir)
        async with db.engine.connect() as connection:
            assert not ALERT_TABLES & await connection.run_sync(_tables)
            assert await connection.run_sync(_functions) == set()
        await _downgrade(db, BEFORE_DROP)
        async with db.engine.connect() as connection:
            assert await connection.run_sync(_tables) >= ALERT_TABLES
            assert await connection.run_sync(_functions) == installed_functions
