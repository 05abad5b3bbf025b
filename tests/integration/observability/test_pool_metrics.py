"""The database pool's connections in the metrics (issue 16): counted from the pools when
scraped, with the name, unit and labels of OpenTelemetry's SQLAlchemy instrumentation,
whose counter (four additions a checkout) is no longer kept."""

from __future__ import annotations

from sqlalchemy import text

from salesguard.db import Database
from salesguard.telemetry import metrics_exposition, pool_name
from tests.support.servers import PostgresDatabases

METRIC = "db_client_connections_usage_connections"


def pool_gauges(name: str) -> dict[str, float]:
    found: dict[str, float] = {}
    for line in metrics_exposition(None)[0].decode().splitlines():
        if line.startswith(f'{METRIC}{{pool_name="{name}",'):
            labels, value = line.rsplit(" ", 1)
            found[labels.split('state="', 1)[1].split('"', 1)[0]] = float(value)
    return found


async def test_a_pools_idle_and_used_connections_are_scraped(postgres: PostgresDatabases) -> None:
    first = Database(await postgres.create("pool_metrics"), pool_size=2)
    # Two engines on one database (a service's and its admin's) count as one pool name.
    second = Database(first.url, pool_size=2)
    name = pool_name(first.engine.sync_engine)
    try:
        assert pool_gauges(name) == {"idle": 0, "used": 0}
        async with first.statements() as a, first.read() as b, second.statements() as c:
            for connection in (a, b, c):
                await connection.execute(text("SELECT 1"))
            assert pool_gauges(name) == {"idle": 0, "used": 3}
        assert pool_gauges(name) == {"idle": 3, "used": 0}
        await first.dispose()
        assert pool_gauges(name) == {"idle": 1, "used": 0}
    finally:
        await first.dispose()
        await second.dispose()
    text_out = metrics_exposition(None)[0].decode()
    assert text_out.count(f"# TYPE {METRIC} gauge") == 1  # one instrument, not two
