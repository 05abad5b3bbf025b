"""The detection stories' suite: each module's own, on fresh databases."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.harness import SERVICES, Backends, Suite
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
    backends = Backends(
        database_urls={name: await postgres.create(name) for name in SERVICES},
        opa_url=opa_server.url,
        s3_endpoint=s3_server.endpoint,
        s3_access_key=s3_server.access_key,
        s3_secret_key=s3_server.secret_key,
        s3_bucket="salesguard-detection",
    )
    started = await Suite.start(backends, tmp_path_factory.mktemp("detection"))
    yield started
    await started.stop()
