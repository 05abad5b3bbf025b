"""The whole suite in one test process: real gRPC servers on loopback, the gateway in front.

``Suite.start`` runs attendance and customers as real ``grpc.aio`` servers
(the same ``GrpcServiceApp.start`` a container runs) against either real
backends (PostgreSQL, an OPA server, an S3 server: the full profile) or the
embedded profile, and puts the gateway's ASGI app behind an httpx client.
Tests then speak GraphQL, like the frontends do.
"""

from __future__ import annotations

import uuid
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from strawberry.relay import GlobalID

from salesguard.service import GrpcServiceApp
from salesguard.tokens import issue_dev_token
from salesguard_attendance.server import service as attendance_app
from salesguard_commissions.server import service as commissions_app
from salesguard_customers.server import service as customers_app
from salesguard_orders.server import service as orders_app
from tests.support.s3server import S3Server
from tests.support.servers import OpaServer, PostgresDatabases, free_port

REPO = Path(__file__).resolve().parents[1]
POLICIES = REPO / "policies"
JWT_SECRET = "tests-jwt-secret-0123456789abcdef"
# How long services keep a policy decision in tests: short, so that a test stopping OPA
# waits only this long for the kept answers to lapse, yet long enough that the suite's
# back-to-back requests are answered from the cache too.
DECISION_CACHE_SECONDS = 1.0
# How long a service waits for OPA in tests. The suite's four services and the gateway
# share this process's event loop, so a decision's wall time includes everything else the
# loop runs meanwhile; at the default 2 s one decision timed out in a CI run
# (POLICY_UNAVAILABLE on a healthy OPA). Tests that cut OPA stop its process, which
# refuses the connection at once, so none of them waits for this.
POLICY_TIMEOUT_SECONDS = 10.0
SERVICES = ("attendance", "customers", "orders", "commissions")


@dataclass
class Backends:
    """Where the services keep data and ask for decisions; empty means embedded."""

    database_urls: dict[str, str] = field(default_factory=dict)
    opa_url: str | None = None
    s3_endpoint: str | None = None
    s3_access_key: str | None = None
    s3_secret_key: str | None = None
    s3_bucket: str = "salesguard"

    def settings(self, data_dir: Path) -> dict[str, Any]:
        values: dict[str, Any] = {
            "profile": "full" if self.database_urls else "embedded",
            "data_dir": data_dir,
            "policies_dir": POLICIES,
            "jwt_secret": JWT_SECRET,
            "opa_url": self.opa_url,
            # Tests promote and check at once: no cached answer from an earlier test.
            "subject_roles_cache_seconds": 0,
            "policy_decision_cache_seconds": DECISION_CACHE_SECONDS,
            "policy_timeout_seconds": POLICY_TIMEOUT_SECONDS,
        }
        if self.s3_endpoint:
            values.update(
                s3_endpoint=self.s3_endpoint,
                s3_access_key=self.s3_access_key,
                s3_secret_key=self.s3_secret_key,
                s3_bucket=self.s3_bucket,
                s3_secure=False,
            )
        return values

    @classmethod
    async def fresh(
        cls, postgres: PostgresDatabases, opa: OpaServer, s3: S3Server, bucket: str
    ) -> Backends:
        """The full profile on the test servers: a fresh PostgreSQL database per service,
        the OPA server, and ``bucket`` on the S3 server."""
        return cls(
            database_urls={name: await postgres.create(name) for name in SERVICES},
            opa_url=opa.url,
            s3_endpoint=s3.endpoint,
            s3_access_key=s3.access_key,
            s3_secret_key=s3.secret_key,
            s3_bucket=bucket,
        )


@dataclass
class GraphQLResult:
    status: int
    body: dict[str, Any]

    @property
    def data(self) -> dict[str, Any]:
        return self.body.get("data") or {}

    @property
    def errors(self) -> list[dict[str, Any]]:
        return list(self.body.get("errors") or [])

    @property
    def codes(self) -> list[str]:
        return [str((error.get("extensions") or {}).get("code")) for error in self.errors]

    def ok(self) -> dict[str, Any]:
        """The data, asserting there were no errors."""
        assert self.status == 200 and not self.errors, (
            f"GraphQL failed ({self.status}): {self.body}"
        )
        return self.data


class Suite:
    def __init__(
        self,
        running: dict[str, Any],
        client: httpx.AsyncClient,
        settings: dict[str, Any],
        gateway: AsyncExitStack,
    ) -> None:
        self.running = running
        self.client = client
        self.settings = settings
        self._gateway = gateway

    @classmethod
    async def start(
        cls,
        backends: Backends,
        data_dir: Path,
        gateway_overrides: dict[str, Any] | None = None,
        *,
        overrides: dict[str, Any] | None = None,
        service_overrides: dict[str, dict[str, Any]] | None = None,
    ) -> Suite:
        """The four services and the gateway; ``overrides`` are settings of every process,
        ``service_overrides`` one service's own (by name), ``gateway_overrides`` the
        gateway's own."""
        from salesguard_gateway.app import create_app
        from salesguard_gateway.settings import GatewaySettings

        ports = {name: free_port() for name in SERVICES}
        common = (
            backends.settings(data_dir)
            | {f"{name}_address": f"127.0.0.1:{port}" for name, port in ports.items()}
            | (overrides or {})
        )
        running: dict[str, Any] = {}
        try:
            apps: dict[str, GrpcServiceApp[Any]] = {
                "attendance": attendance_app,
                "customers": customers_app,
                "orders": orders_app,
                "commissions": commissions_app,
            }
            for name, app in apps.items():
                settings = app.load_settings(
                    **common,
                    database_url=backends.database_urls.get(name),
                    **(service_overrides or {}).get(name, {}),
                )
                running[name] = await app.start(settings, port=ports[name])
            gateway = create_app(
                GatewaySettings(**{**common, "report_rpc_calls": True, **(gateway_overrides or {})})
            )
            # The gateway's start-up and shutdown, as uvicorn runs them (httpx's transport
            # does not): its shutdown stops its watch of the directory.
            lifespan = AsyncExitStack()
            await lifespan.enter_async_context(gateway.router.lifespan_context(gateway))
        except BaseException:
            for service in running.values():
                await service.stop()
            raise
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=gateway), base_url="http://gateway.test", timeout=30
        )
        return cls(running, client, common, lifespan)

    async def stop(self) -> None:
        await self.client.aclose()
        await self._gateway.aclose()
        for service in reversed(list(self.running.values())):
            await service.stop()

    @staticmethod
    def token(employee_id: str) -> str:
        return issue_dev_token(JWT_SECRET, employee_id)

    async def gql(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        as_: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> GraphQLResult:
        all_headers = dict(headers or {})
        if as_ is not None:
            all_headers["Authorization"] = f"Bearer {self.token(as_)}"
        response = await self.client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=all_headers
        )
        body = (
            response.json()
            if response.headers.get("content-type", "").startswith("application/json")
            else {}
        )
        return GraphQLResult(response.status_code, body)


def unique(prefix: str) -> str:
    """IDs unique per test, so tests share one suite without seeing each other."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def global_id(type_name: str, service_id: str) -> str:
    """The API's ID of an object a test made behind the API's back (seeded in a service,
    or a directory record by its HR key). Clients never build these; tests may, because
    they know what the gateway encodes (Relay's base64 of "<Type>:<service ID>")."""
    return str(GlobalID(type_name, service_id))


def service_id(api_id: str) -> str:
    """The owning service's ID behind an ID the API answered (to compare with a database
    row or call a service directly)."""
    return GlobalID.from_id(api_id).node_id


def employee_id(hr_id: str) -> str:
    """An employee's API ID from their HR key (the ``sub`` of their tokens)."""
    return global_id("Employee", hr_id)


def cny(amount: str) -> dict[str, str]:
    """A ``Money`` value as the gateway answers it, in yuan."""
    return {"amount": amount, "currency": "CNY"}
