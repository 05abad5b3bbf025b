"""Each service's migrations build exactly the schema its models declare, on both databases."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection

from salesguard import migrations
from salesguard.service import GrpcServiceApp
from salesguard_attendance.server import service as attendance_app
from salesguard_commissions.server import service as commissions_app
from salesguard_customers.server import service as customers_app
from salesguard_orders.server import service as orders_app
from tests.support.databases import empty_database
from tests.support.servers import PostgresDatabases

APPS: dict[str, GrpcServiceApp[Any]] = {
    "attendance": attendance_app,
    "customers": customers_app,
    "orders": orders_app,
    "commissions": commissions_app,
}


def differences(connection: Connection, app: GrpcServiceApp[Any]) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return [
        diff
        for diff in compare_metadata(context, app.metadata)
        if diff[0] != "remove_table" or diff[1].name != "alembic_version"
    ]


@pytest.mark.parametrize("service", sorted(APPS))
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_migrations_match_the_models(
    service: str, backend: str, tmp_path: Path, postgres: PostgresDatabases
) -> None:
    app = APPS[service]
    async with empty_database(backend, tmp_path, postgres, service) as db:
        await migrations.upgrade(db.engine, app.migrations_dir)
        async with db.engine.connect() as connection:
            assert await connection.run_sync(differences, app) == []
        # Running the migrations again is a no-op (the start-up of every replica does it).
        await migrations.upgrade(db.engine, app.migrations_dir)
