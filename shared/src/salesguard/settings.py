"""Configuration from the environment (prefix ``SALESGUARD_``), validated once at start-up.

Every service subclasses :class:`Settings` with its own domain settings. Switching
between the embedded profile (SQLite, in-process policies, local object folder)
and the full profile (PostgreSQL, OPA server, S3) is configuration only.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import functools
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from importlib.metadata import entry_points
from pathlib import Path
from typing import ClassVar, Self, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

# Dev-only secrets: usable in the dev environment so `make run` needs no setup,
# refused at start-up in production.
DEV_JWT_SECRET = "salesguard-dev-jwt-secret-do-not-use-in-production"  # noqa: S105
DEV_INTERNAL_SECRET = "salesguard-dev-internal-secret-do-not-use-in-production"  # noqa: S105
DEV_FIELD_KEY = base64.b64encode(b"salesguard-dev-field-key-32bytes").decode()
DEV_BLIND_INDEX_KEY = base64.b64encode(b"salesguard-dev-blind-index-key!!").decode()
DEV_AUDIT_CHAIN_KEY = base64.b64encode(b"salesguard-dev-audit-chain-key!!").decode()
DEV_SECRETS = {
    "jwt_secret": DEV_JWT_SECRET,
    "internal_secret": DEV_INTERNAL_SECRET,
    "field_encryption_key": DEV_FIELD_KEY,
    "blind_index_key": DEV_BLIND_INDEX_KEY,
    "audit_chain_key": DEV_AUDIT_CHAIN_KEY,
}
# Secrets that hold a comma-separated list of keys (the first in use, the others retired).
KEY_LISTS = frozenset({"audit_chain_key"})

ENV_PREFIX = "SALESGUARD_"
# Installed components register here: ``salesguard serve <name>`` runs the entry point.
SERVICES_ENTRY_POINTS = "salesguard.services"
# SALESGUARD_* variables that tools read, not a process: a developer's shell exports them,
# so every process accepts them. Any other SALESGUARD_* name the repository uses must be a
# setting (tests/unit/test_unknown_settings.py scans it).
TOOL_VARIABLES = {
    "SALESGUARD_TEST_POSTGRES_URL": "the PostgreSQL server of the tests and benchmarks",
    "SALESGUARD_PG_PORT": "scripts/ensure-postgres.sh: the port of that server",
    "SALESGUARD_PG_DIR": "scripts/ensure-postgres.sh: where that server keeps its data",
    "SALESGUARD_FUZZ_SECONDS": "tests/adversarial/test_graphql_fuzz.py: its time budget",
    "SALESGUARD_FUZZ_EXAMPLES": "tests/adversarial/test_graphql_fuzz.py: operations per field",
    "SALESGUARD_FUZZ_SEED": "tests/adversarial/test_graphql_fuzz.py: its seed",
    "SALESGUARD_FUZZ_DEBUG": "tests/adversarial/test_graphql_fuzz.py: print each operation",
    "SALESGUARD_VALUES": "skaffold.yaml's prod profile: the values file it deploys with",
}

SERVICE_PORTS = {"customers": 50051, "attendance": 50052, "orders": 50053, "commissions": 50054}
# Listening on these means every interface; a URL to such a process names loopback.
WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::"})  # noqa: S104


class Profile(StrEnum):
    EMBEDDED = "embedded"
    FULL = "full"


class Environment(StrEnum):
    DEV = "dev"
    PRODUCTION = "production"


class SettingsError(RuntimeError):
    """Configuration that cannot work; the message names the setting."""


@dataclass(frozen=True, slots=True)
class PageLimits:
    """How many rows one page may hold, and holds when the caller asks for none
    (``Settings.max_page_size``, ``Settings.default_page_size``)."""

    maximum: int
    default: int


class JobSchedule(BaseModel):
    """Per-job overrides of the in-process scheduler (an entry of ``SALESGUARD_JOBS``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    # Period in seconds; unset keeps the job's own default.
    interval_seconds: float | None = Field(default=None, gt=0)


class Settings(BaseSettings):
    """Settings every salesguard process reads."""

    # A service owns a database and enforces policy; the gateway does neither.
    requires_backends: ClassVar[bool] = True
    # The secret settings this process uses: production refuses their dev defaults, and a
    # deployment gives the process no other key (least privilege; the chart mirrors this).
    secrets_used: ClassVar[frozenset[str]] = frozenset({"internal_secret"})
    # Whether the process starts every component from its environment (`salesguard run`),
    # so that any component's settings belong there, even in production.
    starts_every_component: ClassVar[bool] = False

    # Unknown keyword arguments are refused like unknown variables (see `load`).
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="forbid", validate_default=True, frozen=True
    )

    profile: Profile = Profile.EMBEDDED
    environment: Environment = Environment.DEV
    log_level: str = "INFO"
    # Where the embedded profile keeps its SQLite files and objects.
    data_dir: Path = Path(".salesguard")

    # Database of the service this process runs; the embedded profile defaults
    # to a SQLite file under data_dir.
    database_url: str | None = None
    database_pool_size: int = Field(default=10, ge=1, le=200)
    migrate_on_start: bool = True

    # Policy engine: an OPA server in the full profile, regopy in-process otherwise.
    opa_url: str | None = None
    policies_dir: Path = Path("policies")
    policy_timeout_seconds: float = Field(default=2.0, gt=0)
    # How long a service reuses the engine's decision for the same input (principal,
    # action, resource): a policy the security team loads applies within this long.
    # 0 asks the engine on every request.
    policy_decision_cache_seconds: float = Field(default=5.0, ge=0, le=60)
    # How long a service keeps the directory's answer to "who holds these roles" (the
    # grants' hidden_subject_roles) at most; while the directory watch is live, also only
    # until the next directory change. 0 asks the directory on every decision.
    subject_roles_cache_seconds: float = Field(default=10.0, ge=0, le=300)

    # Object store: S3 (MinIO in production) in the full profile, a folder otherwise.
    s3_endpoint: str | None = None
    s3_access_key: SecretStr | None = None
    s3_secret_key: SecretStr | None = None
    s3_secure: bool = True
    s3_region: str = "us-east-1"
    s3_bucket: str = "salesguard"
    # Where the gateway listens. Every process reads them: the services sign local object
    # URLs that point at the gateway.
    gateway_host: str = "127.0.0.1"
    gateway_port: int = Field(default=8000, ge=0, le=65535)
    # Base URL clients use to reach the gateway (local object URLs point at it); empty:
    # the gateway's own address, http://127.0.0.1:<gateway_port>.
    public_url: str = ""

    # Secrets.
    jwt_secret: SecretStr | None = SecretStr(DEV_JWT_SECRET)
    jwks_url: str | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    internal_secret: SecretStr = SecretStr(DEV_INTERNAL_SECRET)
    field_encryption_key: SecretStr = SecretStr(DEV_FIELD_KEY)
    blind_index_key: SecretStr = SecretStr(DEV_BLIND_INDEX_KEY)
    # HMAC keys of the audit chain and its checkpoints, base64 of 32 bytes each,
    # comma-separated: the first signs, the others only verify what they signed before a
    # rotation. Never stored in the database, so whoever can write it cannot re-chain it.
    audit_chain_key: SecretStr = SecretStr(DEV_AUDIT_CHAIN_KEY)

    # Where the services are reached (<service>_address) and where they listen: on
    # grpc_host, at grpc_port when set (a container: one service per pod), else at the
    # port of the service's own address (`make run`: every service on one host).
    grpc_host: str = "127.0.0.1"
    grpc_port: int | None = Field(default=None, ge=0, le=65535)
    customers_address: str = f"127.0.0.1:{SERVICE_PORTS['customers']}"
    attendance_address: str = f"127.0.0.1:{SERVICE_PORTS['attendance']}"
    orders_address: str = f"127.0.0.1:{SERVICE_PORTS['orders']}"
    commissions_address: str = f"127.0.0.1:{SERVICE_PORTS['commissions']}"
    grpc_timeout_seconds: float = Field(default=10.0, gt=0)
    # Connections older than this are asked to reconnect (GOAWAY): clients re-resolve the
    # service's name and spread calls over the pods added since (client-side round robin).
    grpc_max_connection_age_seconds: float = Field(default=300.0, gt=0)
    # How long calls in flight on such a connection may still run (a commission run's
    # streams last minutes).
    grpc_max_connection_age_grace_seconds: float = Field(default=3600.0, ge=0)
    shutdown_grace_seconds: float = Field(default=5.0, ge=0)
    # Whether a serving process (a service's gRPC server, the gateway's uvicorn) runs on
    # uvloop rather than asyncio's own event loop: the same programs, less CPU per call.
    # SALESGUARD_UVLOOP=false falls back to asyncio's loop (and so does a platform without it).
    uvloop: bool = True

    # Telemetry comes from the standard OTEL_* variables (salesguard.telemetry); this is the
    # older name of OTEL_EXPORTER_OTLP_ENDPOINT, used when no standard endpoint is set.
    otel_exporter_otlp_endpoint: str | None = None
    # Where /metrics (Prometheus) is served: this port of its own, on grpc_host for a service
    # and gateway_host for the gateway. Unset: the gateway serves it on its HTTP port and a
    # service serves none.
    metrics_port: int | None = Field(default=None, ge=0, le=65535)
    # Readiness: a service checks its database and policy engine this often and reports
    # NOT_SERVING on the gRPC health service while either fails; the gateway asks the people
    # directory at most this often for /readyz.
    readiness_check_seconds: float = Field(default=2.0, gt=0, le=60)

    # Scheduled jobs (salesguard.jobs): whether this process runs its service's jobs itself
    # (make run; a cluster runs them as CronJobs instead), and per-job overrides as JSON,
    # e.g. {"customers.pool-sweep": {"enabled": true, "interval_seconds": 600}}.
    jobs_enabled: bool = False
    jobs: dict[str, JobSchedule] = Field(default_factory=dict)

    # Page sizes, read by the gateway (`first`) and every service (page_size) alike, so
    # that a page the gateway lets through is one the services serve: set them for every
    # process. The default is what a page holds when the caller asks for no size.
    max_page_size: int = Field(default=100, ge=1)
    default_page_size: int = Field(default=20, ge=1)

    # A moment a client reports (a check-in, a call, a first contact) may be this far ahead
    # of the server's clock before it is refused as in the future.
    clock_skew_seconds: int = Field(default=300, ge=0)
    # How long a signed download link (an export, a statement, a photo) stays valid.
    export_url_ttl_seconds: int = Field(default=300, ge=10, le=3600)

    # The employee that exists on an empty directory, to create the first
    # branches, teams and employees through the API.
    bootstrap_admin: str = "admin"

    @field_validator("jwt_secret", mode="before")
    @classmethod
    def _empty_means_none(cls, value: object) -> object:
        return None if value == "" else value  # SALESGUARD_JWT_SECRET= turns HS256 off

    @field_validator(*(f"{name}_address" for name in SERVICE_PORTS))
    @classmethod
    def _address_has_port(cls, value: str) -> str:
        port = value.rpartition(":")[2]
        if not (port.isdigit() and 0 < int(port) <= 65535):
            raise ValueError(f"must be <host>:<port>, not {value!r}")
        return value

    @field_validator("public_url")
    @classmethod
    def _default_public_url(cls, value: str, info: ValidationInfo) -> str:
        if value or "gateway_port" not in info.data:  # set, or the port is invalid (reported)
            return value
        host = info.data.get("gateway_host", "")
        if host in WILDCARD_HOSTS:
            host = "127.0.0.1"
        elif ":" in host:
            host = f"[{host}]"  # IPv6
        return f"http://{host}:{info.data['gateway_port']}"

    @model_validator(mode="after")
    def _check_page_sizes(self) -> Self:
        if self.default_page_size > self.max_page_size:
            raise ValueError(
                f"SALESGUARD_DEFAULT_PAGE_SIZE ({self.default_page_size}) is above "
                f"SALESGUARD_MAX_PAGE_SIZE ({self.max_page_size})"
            )
        return self

    @model_validator(mode="after")
    def _check_profile(self) -> Self:
        if self.profile is Profile.FULL and self.requires_backends:
            for name in ("database_url", "opa_url"):
                if getattr(self, name) is None:
                    raise ValueError(f"SALESGUARD_{name.upper()} is required in the full profile")
        used = self.secrets_used
        if "jwt_secret" in used and self.jwks_url:
            used = used - {"jwt_secret"}  # tokens are verified against the JWKS instead
        if self.environment is Environment.PRODUCTION:
            for name in sorted(used):
                value = getattr(self, name)
                if value is not None and _holds(name, value.get_secret_value(), DEV_SECRETS[name]):
                    raise ValueError(
                        f"SALESGUARD_{name.upper()} still holds the dev default; "
                        "set a real secret in production"
                    )
            if "jwt_secret" in self.secrets_used and not self.jwks_url and not self.jwt_secret:
                raise ValueError(
                    "SALESGUARD_JWKS_URL (or a real SALESGUARD_JWT_SECRET) is required in production"
                )
        for name in ("field_encryption_key", "blind_index_key"):
            if name in used:
                _decode_key(name, getattr(self, name))
        if "audit_chain_key" in used:
            _ = self.audit_chain_keys  # each key decodes, or the message names the setting
        return self

    def database_url_for(self, service: str) -> str:
        """The service's database URL, defaulting to a SQLite file in the embedded profile."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / f'{service}.db'}"

    def grpc_port_for(self, service: str) -> int:
        """The port ``service`` listens on: SALESGUARD_GRPC_PORT, else its own address's."""
        if self.grpc_port is not None:
            return self.grpc_port
        address: str = getattr(self, f"{service}_address")
        return int(address.rpartition(":")[2])

    def listen_address(self, component: str) -> tuple[str, int]:
        """(host, port) that ``component`` (a service or the gateway) listens on."""
        if component == "gateway":
            return self.gateway_host, self.gateway_port
        return self.grpc_host, self.grpc_port_for(component)

    @property
    def page_limits(self) -> PageLimits:
        return PageLimits(maximum=self.max_page_size, default=self.default_page_size)

    @property
    def field_key_bytes(self) -> bytes:
        return _decode_key("field_encryption_key", self.field_encryption_key)

    @property
    def blind_index_key_bytes(self) -> bytes:
        return _decode_key("blind_index_key", self.blind_index_key)

    @property
    def audit_chain_keys(self) -> list[bytes]:
        """The audit chain's keys, the one in use first."""
        parts = self.audit_chain_key.get_secret_value().split(",")
        return [_decode_key("audit_chain_key", SecretStr(part.strip())) for part in parts]

    @property
    def uses_s3(self) -> bool:
        return self.s3_endpoint is not None


def _holds(name: str, value: str, dev_value: str) -> bool:
    """Whether a secret setting is, or for a list of keys includes, the dev value."""
    if name in KEY_LISTS:
        return dev_value in (part.strip() for part in value.split(","))
    return value == dev_value


def _decode_key(name: str, value: SecretStr) -> bytes:
    try:
        key = base64.b64decode(value.get_secret_value(), validate=True)
    except binascii.Error as exc:
        raise ValueError(f"SALESGUARD_{name.upper()} must be base64") from exc
    if len(key) != 32:
        raise ValueError(f"SALESGUARD_{name.upper()} must decode to 32 bytes")
    return key


S = TypeVar("S", bound=Settings)


def load(settings_class: type[S], **overrides: object) -> S:
    """Read settings at start-up, or stop with one message naming every problem.

    Besides the values, the names are checked: a SALESGUARD_* variable that no installed
    salesguard process reads (a misspelling) is refused, naming the nearest setting; in
    production a process also refuses another component's settings, since each pod gets
    only its own (in dev, `make run`, the tests and the CLI share one shell, which may set
    any component's). Variables only tools read (`TOOL_VARIABLES`) pass.
    """
    variables = {name.upper() for name in os.environ if name.upper().startswith(ENV_PREFIX)}
    not_ours = sorted(variables - setting_variables(settings_class) - TOOL_VARIABLES.keys())
    read_by = _readers_of(not_ours)
    problems = [
        f"{name} is not a salesguard setting; did you mean {_nearest(name, settings_class)}?"
        for name in not_ours
        if name not in read_by
    ]
    settings = None
    try:
        settings = settings_class(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems += [_describe(err, settings_class) for err in exc.errors()]
    if (
        settings is not None
        and settings.environment is Environment.PRODUCTION
        and not settings_class.starts_every_component
    ):
        process = _reader_name(settings_class)
        problems += [
            f"{name} is a setting of {' and '.join(read_by[name])}, not of {process} "
            "(in production each process takes only its own settings)"
            for name in not_ours
            if name in read_by
        ]
    if problems or settings is None:
        raise SettingsError(f"invalid configuration: {'; '.join(problems)}")
    return settings


def setting_variables(settings_class: type[Settings]) -> set[str]:
    """The environment variables a settings class reads."""
    return {f"{ENV_PREFIX}{name.upper()}" for name in settings_class.model_fields}


@functools.cache
def settings_readers() -> dict[str, type[Settings]]:
    """The settings class of every installed process, by its name: each component (the
    ``salesguard.services`` entry points) and ``salesguard run``."""
    from salesguard.devrun import RunnerSettings  # devrun imports this module

    readers: dict[str, type[Settings]] = {
        entry.name: entry.load().settings_class
        for entry in sorted(entry_points(group=SERVICES_ENTRY_POINTS), key=lambda e: e.name)
    }
    readers["salesguard run"] = RunnerSettings
    return readers


def _readers_of(variables: Iterable[str]) -> dict[str, list[str]]:
    """Variable → the installed processes that read it, for the variables some process reads."""
    variables = list(variables)
    if not variables:  # the usual case: no need to import every component
        return {}
    found: dict[str, list[str]] = {}
    for reader, settings_class in settings_readers().items():
        for name in setting_variables(settings_class) & set(variables):
            found.setdefault(name, []).append(reader)
    return found


def _reader_name(settings_class: type[Settings]) -> str:
    for reader, known in settings_readers().items():
        if known is settings_class:
            return reader
    return "this process"


def _nearest(name: str, settings_class: type[Settings]) -> str:
    """The known variable closest to ``name``, saying which component reads it if this
    process does not."""
    own = setting_variables(settings_class)
    candidates: dict[str, str] = dict.fromkeys(TOOL_VARIABLES, "")
    for reader, known in settings_readers().items():
        for variable in setting_variables(known) - own:
            candidates.setdefault(variable, f" (a setting of {reader})")
    candidates.update(dict.fromkeys(own, ""))
    # Compared without the prefix every candidate shares, which would flatten the scores.
    by_suffix = {variable.removeprefix(ENV_PREFIX): variable for variable in candidates}
    (closest,) = difflib.get_close_matches(
        name.removeprefix(ENV_PREFIX), by_suffix, n=1, cutoff=0.0
    )
    variable = by_suffix[closest]
    return variable + candidates[variable]


def _describe(error: Mapping[str, object], settings_class: type[Settings]) -> str:
    location = error["loc"]
    message = str(error["msg"]).removeprefix("Value error, ")
    if not isinstance(location, tuple) or not location:
        return message  # a check across settings names them in its message
    name = f"{ENV_PREFIX}{'_'.join(str(part) for part in location).upper()}"
    if error["type"] == "extra_forbidden" and len(location) == 1:  # an override's name
        process = _reader_name(settings_class)
        return (
            f"{name} is not a setting of {process}; did you mean {_nearest(name, settings_class)}?"
        )
    return f"{name}: {message}"
