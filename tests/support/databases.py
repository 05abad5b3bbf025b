"""An empty database of either backend, for the tests that run migrations themselves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from salesguard.db import Database
from tests.support.servers import PostgresDatabases

BACKENDS = ("sqlite", "postgresql")


@asynccontextmanager
async def empty_database(
    backend: str, tmp_path: Path, postgres: PostgresDatabases, name: str
) -> AsyncIterator[Database]:
    """A SQLite file under ``tmp_path`` or a fresh PostgreSQL database named after
    ``name``; disposed of on leaving."""
    url = (
        f"sqlite+aiosqlite:///{tmp_path / f'{name}.db'}"
        if backend == "sqlite"
        else await postgres.create(name)
    )
    db = Database(url)
    try:
        yield db
    finally:
        await db.dispose()
