"""The alert writer's scenarios (tests/unit/test_alert_writer.py) on PostgreSQL: fresh IDs
from gen_random_uuid, evidence from json_build_object, typed parameters."""

from __future__ import annotations

import pytest

from tests.support.servers import PostgresDatabases
from tests.unit.test_alert_writer import SCENARIOS, Scenario, writer_database


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda scenario: scenario.__name__)
async def test_the_alert_writer_on_postgresql(
    postgres: PostgresDatabases, caplog: pytest.LogCaptureFixture, scenario: Scenario
) -> None:
    async with writer_database(await postgres.create("alert_writer")) as db:
        await scenario(db, caplog)
