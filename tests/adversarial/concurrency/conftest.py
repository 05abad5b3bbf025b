"""``racing``: every race runs on the full profile and on the embedded one (one embedded
suite per module); ``org``: each race in a company of its own.
"""

from __future__ import annotations

import pytest

from tests.harness import Suite
from tests.org import Org, make_org


@pytest.fixture
def racing(either_profile: Suite) -> Suite:
    """Every race runs on PostgreSQL (the full profile) and on SQLite (the embedded one)."""
    return either_profile


@pytest.fixture
async def org(racing: Suite) -> Org:
    """A company of the race's own, so that races running side by side never meet."""
    return await make_org(racing)
