"""Fixtures of the commissions tests: a client and the callers of a per-test company."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.harness import Suite
from tests.integration.commissions.support import Client, make_people
from tests.support.orders_service import People


@pytest.fixture
async def client(suite: Suite) -> AsyncIterator[Client]:
    opened = Client(suite)
    yield opened
    await opened.channels.close()


@pytest.fixture
async def people(suite: Suite) -> People:
    return await make_people(suite)
