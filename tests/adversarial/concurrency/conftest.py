"""``racing``: every race runs on the full profile and on the embedded one (one embedded
suite per module).
"""

from __future__ import annotations

import pytest

from tests.harness import Suite


@pytest.fixture
def racing(either_profile: Suite) -> Suite:
    """Every race runs on PostgreSQL (the full profile) and on SQLite (the embedded one)."""
    return either_profile
