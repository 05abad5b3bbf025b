"""The full profile as deployed, for benchmarks: PostgreSQL, an OPA server, and each
service and the gateway in a process of its own (``salesguard serve``).

``deployment(...)`` creates a database per service, starts the processes and yields
what a benchmark talks to: the gRPC channels, the gateway's URLs and tokens. Around
it: an organisation in the directory, ``VACUUM ANALYZE`` after a seed, and timing.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import ClauseElement, text

from benchmarks.support import REPO, start_service, stop_all
from salesguard.alerts import CATALOG
from salesguard.db import Database
from salesguard.grpc_client import ServiceChannels
from salesguard.principal import Principal, acting_as
from salesguard.settings import DEV_INTERNAL_SECRET
from salesguard.tokens import issue_dev_token
from salesguard_api.attendance.v1 import directory_pb2, directory_pb2_grpc
from tests.support.s3server import S3Server
from tests.support.servers import OpaServer, PostgresDatabases, free_port

JWT_SECRET = "benchmark-jwt-secret-0123456789abcdef"
# The services a gateway needs for the alert and timeline fields (attendance: the directory).
ALERT_SERVICES = ("attendance", "customers", "orders")


@dataclass(frozen=True)
class Deployment:
    opa: OpaServer
    # Per service: its database's SQLAlchemy URL.
    database_urls: dict[str, str]
    channels: ServiceChannels
    gateway_port: int
    # Per service: where it listens (host:port).
    addresses: dict[str, str]

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.gateway_port}/graphql"

    def token(self, employee_id: str) -> str:
        return issue_dev_token(JWT_SECRET, employee_id)

    def database(self, service: str) -> Database:
        return Database(self.database_urls[service])


@asynccontextmanager
async def deployment(
    services: Sequence[str] = ALERT_SERVICES,
    *,
    gateway: bool = True,
    gateway_env: Mapping[str, str] | None = None,
    grpc_timeout: float = 60,
    policies: Path = REPO / "policies",
    object_store: bool = False,
    profile_gateway: Path | None = None,
    profile_services: Mapping[str, Path] | None = None,
) -> AsyncIterator[Deployment]:
    """The services (started in the order given, each migrating its own new database on
    start) and, unless ``gateway`` is false, the gateway over them; with ``object_store``
    a SeaweedFS S3 server for photos; with ``profile_gateway`` the gateway runs under
    cProfile, its stats written to that file when it stops (``profile_services``: the same
    for the services it names). Everything stopped and the databases dropped
    afterwards."""
    databases = PostgresDatabases(os.environ.get("SALESGUARD_TEST_POSTGRES_URL"))
    processes: list[subprocess.Popen[bytes]] = []
    opa = OpaServer(policies).start()
    s3 = S3Server().start() if object_store else None
    try:
        with tempfile.TemporaryDirectory() as data_dir:
            urls = {name: await databases.create(f"bench_{name}") for name in services}
            ports = {name: free_port() for name in services}
            gateway_port = free_port()
            addresses = {name: f"127.0.0.1:{port}" for name, port in ports.items()}
            env = {
                **os.environ,
                "SALESGUARD_PROFILE": "full",
                "SALESGUARD_OPA_URL": opa.url,
                "SALESGUARD_POLICIES_DIR": str(policies),
                "SALESGUARD_JWT_SECRET": JWT_SECRET,
                "SALESGUARD_LOG_LEVEL": "WARNING",
                "SALESGUARD_DATA_DIR": data_dir,
                "SALESGUARD_GATEWAY_PORT": str(gateway_port),
                "SALESGUARD_PUBLIC_URL": f"http://127.0.0.1:{gateway_port}",
                **{f"SALESGUARD_{name.upper()}_ADDRESS": addresses[name] for name in services},
                **(_object_store_env(s3) if s3 is not None else {}),
            }
            for name in services:
                service_env = dict(
                    env, SALESGUARD_GRPC_PORT=str(ports[name]), SALESGUARD_DATABASE_URL=urls[name]
                )
                processes.append(
                    start_service(
                        name, service_env, ports[name], profile=(profile_services or {}).get(name)
                    )
                )
            if gateway:
                gateway_process_env = {**env, **(gateway_env or {})}
                processes.append(
                    start_service(
                        "gateway", gateway_process_env, gateway_port, profile=profile_gateway
                    )
                )
            channels = ServiceChannels(addresses, DEV_INTERNAL_SECRET.encode(), grpc_timeout)
            try:
                yield Deployment(opa, urls, channels, gateway_port, addresses)
            finally:
                await channels.close()
    finally:
        stop_all(processes)
        if s3 is not None:
            s3.close()
        opa.close()
        await databases.drop_all()


def _object_store_env(s3: S3Server) -> dict[str, str]:
    return {
        "SALESGUARD_S3_ENDPOINT": s3.endpoint,
        "SALESGUARD_S3_ACCESS_KEY": s3.access_key,
        "SALESGUARD_S3_SECRET_KEY": s3.secret_key,
        "SALESGUARD_S3_SECURE": "false",
    }


# Each service raises the kinds of its rules (C…, A…, O…).
RULE_PREFIX = {"customers": "C", "attendance": "A", "orders": "O"}
OTHER_BRANCHES = 9


def seed_alerts_sql(source: str, branch_id: str) -> str:
    """Alerts of ``source``'s kinds, set-based. Alert n of :alerts is about
    ``bench-rep-<n % :employees>`` of ``branch_id``, those past it about employees of
    OTHER_BRANCHES other branches; each employee has every kind; detected within the past
    :days days. Every 20: one dismissed, one resolved as cleared, one as confirmed, three
    acknowledged."""
    kinds = [entry for entry in CATALOG.values() if entry.rule.startswith(RULE_PREFIX[source])]
    values = ", ".join(
        f"({number}, '{entry.kind}', '{entry.rule}', '{entry.severity}')"
        for number, entry in enumerate(kinds)
    )
    return f"""
WITH kinds(number, kind, rule, severity) AS (VALUES {values})
INSERT INTO alerts (id, kind, rule, severity, status, resolution, employee_id, customer_id,
                    order_id, branch_id, detected_at, evidence, dedupe_key, note, updated_at,
                    updated_by)
SELECT md5('{source}' || n), kinds.kind, kinds.rule, kinds.severity,
       CASE WHEN n % 20 = 0 THEN 'DISMISSED' WHEN n % 20 IN (1, 2) THEN 'RESOLVED'
            WHEN n % 20 < 6 THEN 'ACKNOWLEDGED' ELSE 'OPEN' END,
       CASE WHEN n % 20 = 1 THEN 'CLEARED' WHEN n % 20 = 2 THEN 'CONFIRMED' END,
       CASE WHEN n <= alerts THEN 'bench-rep-' || (n % employees)
            ELSE 'other-rep-' || (n % (employees * {OTHER_BRANCHES})) END,
       NULL, NULL,
       CASE WHEN n <= alerts THEN '{branch_id}' ELSE 'other-' || (n % {OTHER_BRANCHES}) END,
       now() - (n * 104729 % (days * 86400)) * interval '1 second',
       '{{}}', 'bench-{source}-' || n, NULL, NULL, NULL
FROM (SELECT CAST(:alerts AS bigint) AS alerts, CAST(:other_alerts AS bigint) AS other_alerts,
             CAST(:employees AS bigint) AS employees, CAST(:days AS bigint) AS days) AS sizes
CROSS JOIN generate_series(1, alerts + other_alerts) AS n
JOIN kinds ON kinds.number = n / employees % (SELECT count(*) FROM kinds)
"""  # noqa: S608 (constants)


@dataclass(frozen=True)
class Person:
    id: str
    role: directory_pb2.Role.ValueType
    team_id: str = ""


async def seed_directory(
    channels: ServiceChannels,
    branch_id: str,
    people: Sequence[Person],
    *,
    teams: Sequence[str] = (),
    headquarters: bool = True,
) -> None:
    """A branch (Asia/Shanghai), its teams and people, through the directory as an admin."""
    directory = directory_pb2_grpc.DirectoryServiceStub(channels.channel("attendance"))
    with acting_as(Principal("admin", ("ADMIN",))):
        await directory.UpsertBranch(
            directory_pb2.UpsertBranchRequest(
                branch=directory_pb2.Branch(
                    id=branch_id,
                    name=branch_id,
                    time_zone="Asia/Shanghai",
                    headquarters=headquarters,
                )
            )
        )
        for team in teams:
            await directory.UpsertTeam(
                directory_pb2.UpsertTeamRequest(
                    team=directory_pb2.Team(id=team, name=team, branch_id=branch_id)
                )
            )
        for person in people:
            await directory.UpsertEmployee(
                directory_pb2.UpsertEmployeeRequest(
                    employee=directory_pb2.Employee(
                        id=person.id,
                        name=person.id,
                        roles=[person.role],
                        team_id=person.team_id,
                        branch_id=branch_id,
                    )
                )
            )


async def vacuum_analyze(db: Database, *tables: str) -> None:
    """VACUUM ANALYZE the tables (every table when none is named), outside a transaction,
    so the planner sees a seed's sizes as a long-running database would."""
    async with db.engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        for statement in [f"VACUUM ANALYZE {table}" for table in tables] or ["VACUUM ANALYZE"]:
            await connection.execute(text(statement))


async def execute_seed(url: str, statements: Sequence[str], params: Mapping[str, Any]) -> None:
    """Run set-based seed statements in one transaction, then VACUUM ANALYZE every table, so
    the planner sees the seeded sizes as a long-running database would."""
    db = Database(url)
    try:
        async with db.transaction() as session:
            for statement in statements:
                await session.execute(text(statement), dict(params))
        await vacuum_analyze(db)
    finally:
        await db.dispose()


async def explain(url: str, statement: ClauseElement) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of a statement, its values inlined, as text."""
    db = Database(url)
    try:
        compiled = statement.compile(
            dialect=db.engine.dialect, compile_kwargs={"literal_binds": True}
        )
        async with db.read() as session:
            connection = await session.connection()
            rows = await connection.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS) {compiled}")
            return "\n".join(str(row[0]) for row in rows)
    finally:
        await db.dispose()


def per_request(calls: Mapping[str, int], requests: int) -> str:
    """Each gRPC method's calls per request (a gateway's ``extensions.rpcCalls``)."""
    return ", ".join(
        f"{method.rsplit('/', 1)[1]} {count / requests:.1f}"
        for method, count in sorted(calls.items())
    )


async def timed(call: Callable[[], Awaitable[Any]]) -> float:
    """Milliseconds one call takes."""
    started = time.perf_counter()
    await call()
    return (time.perf_counter() - started) * 1000
