"""The observability tests' org of the module's own, in the shared suite."""

from __future__ import annotations

import pytest

from tests.harness import Suite
from tests.org import Org, make_org


@pytest.fixture(scope="module")
async def org(suite: Suite) -> Org:
    return await make_org(suite)
