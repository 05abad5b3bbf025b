"""Gateway settings: where it listens and how much one request may ask for (limits.py)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from salesguard.settings import Environment, Settings

DEFAULT_MAX_QUERY_COST = 50_000


class GatewaySettings(Settings):
    # The gateway verifies tokens (HS256 when no JWKS URL is set).
    secrets_used: ClassVar[frozenset[str]] = frozenset({"internal_secret", "jwt_secret"})
    # No database and no policy engine of its own: the services enforce policy.
    requires_backends: ClassVar[bool] = False

    # Where it listens (gateway_host, gateway_port) is a shared setting: see Settings.

    # None: on in the dev environment, off in production.
    graphiql: bool | None = None
    introspection: bool | None = None

    # Query limits (limits.py); a request over any of them is refused before any resolver runs.
    max_query_depth: int = Field(default=8, ge=1)
    max_aliases: int = Field(default=15, ge=0)
    max_tokens: int = Field(default=2000, ge=10)
    # max_page_size and default_page_size are every process's (salesguard.settings.Settings).
    max_string_length: int = Field(default=10_000, ge=1)
    max_body_bytes: int = Field(default=256 * 1024, ge=1024)
    # The largest estimated cost of one operation (cost.py): each field 1, a list's page
    # size multiplying what it selects. The costliest committed operation (gateway/operations)
    # costs about 30 000 with its pages at 100, 6 000 at the default 20; the tests' at most
    # 4 600; a page of 100 employees with a page of 100 customers each of 5 fields, 60 000.
    max_query_cost: int = Field(default=DEFAULT_MAX_QUERY_COST, ge=1)

    # Persisted operations (persisted.py): run only the registered ones (the manifest of
    # gateway/operations), refusing any other text or hash; meant for production.
    registered_operations_only: bool = False
    # The query texts clients sent with their hash (Apollo's APQ), kept per process up to
    # this many characters in all (least recently used dropped first).
    persisted_query_cache_chars: int = Field(default=4 * 1024 * 1024, ge=0)
    # Uploads to the embedded profile's local object store (photos, vouchers).
    max_object_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)

    # How long a resolved principal (roles, team, branch) is reused at most; only while the
    # gateway's watch of the directory's changes is live, which drops a changed employee's
    # entry at once (salesguard.directory). 0: no cache, every request asks the directory.
    principal_cache_seconds: float = Field(default=30.0, ge=0)

    # Report the gRPC calls a request made in the response's `extensions.rpcCalls`
    # (tests, profiling, frontend developers chasing N+1). None: on in the dev
    # environment only, since it reveals internals.
    report_rpc_calls: bool | None = None

    # Browser origins allowed to call the API (CORS); none by default.
    cors_allow_origins: tuple[str, ...] = ()

    # How many distinct GraphQL operation names become values of the metrics' operation
    # label; later ones count as "other" (names are the clients' choice: a bound on series).
    metrics_max_operations: int = Field(default=500, ge=1)

    # Services whose alerts `alerts` federates.
    alert_sources: tuple[str, ...] = ("customers", "attendance", "orders")

    @property
    def graphiql_enabled(self) -> bool:
        return self.graphiql if self.graphiql is not None else self._is_dev

    @property
    def introspection_enabled(self) -> bool:
        return self.introspection if self.introspection is not None else self._is_dev

    @property
    def rpc_calls_reported(self) -> bool:
        return self.report_rpc_calls if self.report_rpc_calls is not None else self._is_dev

    @property
    def _is_dev(self) -> bool:
        return self.environment is Environment.DEV
