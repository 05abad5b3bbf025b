"""Fixtures: real backends started once per session, and the suite in front of them."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from salesguard.telemetry import setup_telemetry
from tests.harness import POLICIES, Backends, Suite
from tests.org import Org, make_org
from tests.support.devrun import RunCopy
from tests.support.s3server import S3Server
from tests.support.servers import OpaServer, PostgresDatabases

# The directories whose tests run against the real backends (PostgreSQL, OPA, S3): each
# of their tests carries the ``integration`` marker, so no module has to say it.
INTEGRATION_DIRECTORIES = tuple(
    Path(__file__).parent / name for name in ("integration", "adversarial", "infra")
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if any(item.path.is_relative_to(directory) for directory in INTEGRATION_DIRECTORIES):
            item.add_marker(pytest.mark.integration)


# One tracer provider per process, installed before any engine or server exists,
# so database and gRPC spans are recorded (the trace test reads them).
SPANS = InMemorySpanExporter()
setup_telemetry("tests", None, span_exporter=SPANS)


@pytest.fixture(scope="session")
def spans() -> InMemorySpanExporter:
    return SPANS


@pytest.fixture(scope="session")
def opa_server() -> Iterator[OpaServer]:
    with OpaServer(POLICIES) as server:
        yield server


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    with S3Server() as server:
        yield server


@pytest.fixture(scope="session")
async def postgres() -> AsyncIterator[PostgresDatabases]:
    databases = PostgresDatabases(os.environ.get("SALESGUARD_TEST_POSTGRES_URL"))
    yield databases
    await databases.drop_all()


SuiteFactory = Callable[[], Awaitable[Suite]]


@pytest.fixture(scope="session")
async def full_suite_factory(
    opa_server: OpaServer,
    s3_server: S3Server,
    postgres: PostgresDatabases,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[SuiteFactory]:
    """Start suites on fresh PostgreSQL databases, the OPA server and the S3 server."""
    started: list[Suite] = []

    async def start() -> Suite:
        backends = await Backends.fresh(
            postgres, opa_server, s3_server, bucket=f"salesguard-{len(started)}"
        )
        suite = await Suite.start(backends, tmp_path_factory.mktemp("suite"))
        started.append(suite)
        return suite

    yield start
    for suite in started:
        await suite.stop()


@pytest.fixture(scope="session")
async def suite(full_suite_factory: SuiteFactory) -> Suite:
    """The suite most integration tests share; each test works in its own branch."""
    return await full_suite_factory()


@pytest.fixture(scope="module")
async def org(suite: Suite) -> Org:
    """A company of the test module's own, in the shared suite."""
    return await make_org(suite)


@pytest.fixture
async def embedded_suite(tmp_path: Path) -> AsyncIterator[Suite]:
    """The embedded profile (SQLite, regopy, local objects): what `make run` starts."""
    suite = await Suite.start(Backends(), tmp_path)
    yield suite
    await suite.stop()


@pytest.fixture(scope="module")
async def module_embedded_suite(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Suite]:
    """The embedded profile shared by one module's tests (each works in its own org)."""
    suite = await Suite.start(Backends(), tmp_path_factory.mktemp("embedded"))
    yield suite
    await suite.stop()


@pytest.fixture(params=["full", "embedded"])
def either_profile(request: pytest.FixtureRequest) -> Suite:
    """The shared full-profile suite, then the module's embedded one (started only when a
    test asks for it)."""
    name = "suite" if request.param == "full" else "module_embedded_suite"
    suite: Suite = request.getfixturevalue(name)
    return suite


@pytest.fixture
def copies() -> Iterator[list[RunCopy]]:
    """Copies of ``make run`` a test starts (append them); every process killed after."""
    started: list[RunCopy] = []
    yield started
    for copy in started:
        copy.kill_everything()
