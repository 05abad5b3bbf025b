"""The client fixture of the reconciliation tests (its channels closed after each test)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.harness import Suite
from tests.integration.reconciliation.support import Client


@pytest.fixture
async def client(suite: Suite) -> AsyncIterator[Client]:
    opened = Client(suite)
    yield opened
    await opened.channels.close()
