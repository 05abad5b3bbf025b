"""The alert writer's scenarios (tests/unit/test_alert_writer.py) on PostgreSQL: fresh IDs
from gen_random_uuid, evidence from json_build_object, typed parameters."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from salesguard.db import Database
from tests.support.servers import PostgresDatabases
from tests.unit.test_alert_writer import SCENARIOS, every_raise_is_announced, prepared

pytestmark = pytest.mark.integration


@pytest.fixture
async def postgres_db(postgres: PostgresDatabases) -> AsyncIterator[Database]:
    db = Database(await postgres.create("alert_writer"))
    await prepared(db)
    yield db
    await db.dispose()


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda scenario: scenario.__name__)
async def test_the_alert_writer_on_postgresql(postgres_db: Database, scenario: Any) -> None:
    await scenario(postgres_db)


async def test_every_raise_is_announced_once_on_postgresql(
    postgres_db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    await every_raise_is_announced(postgres_db, caplog)
