"""The smoke run of the built images (tests/images/stack.py): opt-in, as it needs podman and
the images `make images` builds; that target sets IMAGES_SMOKE_TAG. A plain `pytest` run
collects nothing here."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack

import httpx
import pytest

from tests.harness import Suite
from tests.images.manifests import S3_PORT, SEAWEEDFS
from tests.images.stack import TAG_VARIABLE, SmokeStack

if not os.environ.get(TAG_VARIABLE):
    collect_ignore_glob = ["test_*.py"]


@pytest.fixture(scope="session")
def stack() -> Iterator[SmokeStack]:
    """The chart's pods on podman: up once for the module, logs kept and all down after."""
    smoke = SmokeStack(os.environ[TAG_VARIABLE])
    try:
        smoke.up()
        yield smoke
    finally:
        print(f"\nimages: pod logs in {smoke.keep_logs()}")
        smoke.down()


@pytest.fixture(scope="session")
async def suite(stack: SmokeStack) -> AsyncIterator[Suite]:
    """The tests' GraphQL client, pointed at the gateway container (a Suite without
    in-process servers: make_org, register and the story helpers work unchanged)."""
    client = httpx.AsyncClient(base_url=stack.gateway_url, timeout=30)
    suite = Suite({}, client, {"s3_endpoint": f"{SEAWEEDFS}:{S3_PORT}"}, AsyncExitStack())
    yield suite
    await suite.stop()
