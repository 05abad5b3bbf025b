"""``any_suite``: the leaver tests run on the full profile and on the embedded one."""

from __future__ import annotations

import pytest

from tests.harness import Suite


@pytest.fixture
def any_suite(either_profile: Suite) -> Suite:
    """The shared full-profile suite, then the embedded one (SQLite, regopy, polling): each
    gateway caches principals (the default ``principal_cache_seconds``)."""
    return either_profile
