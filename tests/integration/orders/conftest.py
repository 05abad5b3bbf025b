"""Fixtures of the orders tests: the company's callers (once per module) and a client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.harness import Suite
from tests.integration.orders.support import Client, make_people
from tests.support.orders_service import People


@pytest.fixture(scope="module")
async def people(suite: Suite) -> People:
    return await make_people(suite)


@pytest.fixture
async def client(suite: Suite) -> AsyncIterator[Client]:
    opened = Client(suite)
    yield opened
    await opened.channels.close()
