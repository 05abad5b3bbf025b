"""The detection stories' suite: each module's own, on fresh databases."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.harness import Backends, Suite
from tests.support.s3server import S3Server
from tests.support.servers import OpaServer, PostgresDatabases


@pytest.fixture(scope="module")
async def suite(
    opa_server: OpaServer,
    s3_server: S3Server,
    postgres: PostgresDatabases,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Suite]:
    """This module's own suite, on fresh databases: the jobs' reports count what these
    stories did. Stopped after them, so that its connections do not outlive them."""
    backends = await Backends.fresh(postgres, opa_server, s3_server, bucket="salesguard-detection")
    started = await Suite.start(backends, tmp_path_factory.mktemp("detection"))
    yield started
    await started.stop()
