"""Real servers for the integration tests: OPA and PostgreSQL (the S3 server, SeaweedFS,
is in :mod:`tests.support.s3server`).

Plain helpers with no pytest dependency, so fixtures, benchmarks and ad-hoc
scripts can all use them. Each server runs on loopback, on ports picked with
``free_port()``, and prints nothing on success; a server that fails to come up
raises ``ServerStartError`` with the end of its log.

The binaries (``opa``, ``weed``) are built by ``scripts/ensure-tools.sh``; they
are looked up on PATH, then in ``$GOBIN``, ``$GOPATH/bin`` and
``~/go/bin``. PostgreSQL itself is started by ``scripts/ensure-postgres.sh``;
``PostgresDatabases`` only creates and drops databases on it.

Typical use::

    with OpaServer(policies_dir) as opa:       # opa.url == "http://127.0.0.1:PORT"
        opa.stop(); ...; opa.start()            # same port again

    dbs = PostgresDatabases()                   # $SALESGUARD_TEST_POSTGRES_URL or the default
    url = await dbs.create("customers")         # "postgresql+asyncpg://...:55432/customers_3f9a..."
    await dbs.drop_all()
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
import weakref
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Self
from urllib.parse import quote, urlsplit, urlunsplit

if TYPE_CHECKING:
    import asyncpg

__all__ = [
    "DEFAULT_POSTGRES_URL",
    "OpaServer",
    "PostgresDatabases",
    "ServerStartError",
    "find_binary",
    "free_port",
]

DEFAULT_POSTGRES_URL = "postgresql://salesguard:salesguard@127.0.0.1:55432/postgres"
LOOPBACK = "127.0.0.1"


class ServerStartError(RuntimeError):
    """A test server did not become ready; the message carries the end of its log."""


def _ephemeral_floor() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now.

    Picked below the kernel's ephemeral range, so that the local end of some
    outgoing connection cannot grab it between now and the server's bind (or
    while OPA is stopped between ``stop()`` and ``start()``).
    """
    floor = _ephemeral_floor()
    low = 10000 if floor > 12000 else 1024
    for _ in range(200):
        port = random.randrange(low, floor)
        # Never the same port twice in a run: one handed out may not be bound yet, or be
        # free again only while its server restarts (a gRPC server failed to bind once).
        if port in _HANDED_OUT:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((LOOPBACK, port))
            except OSError:
                continue
            _HANDED_OUT.add(port)
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:  # let the OS pick
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def find_binary(name: str) -> str:
    """Path of a Go-built tool: PATH first, then the usual Go install directories."""
    found = shutil.which(name)
    if found:
        return found
    candidates = []
    if os.environ.get("GOBIN"):
        candidates.append(Path(os.environ["GOBIN"]))
    if os.environ.get("GOPATH"):
        candidates += [Path(p) / "bin" for p in os.environ["GOPATH"].split(os.pathsep) if p]
    candidates += [Path.home() / "go" / "bin", Path("/root/go/bin")]
    for directory in candidates:
        path = directory / name
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    raise FileNotFoundError(
        f"{name!r} not found on PATH nor in {', '.join(map(str, candidates))}; "
        "run scripts/ensure-tools.sh"
    )


# Loopback only: never route these probes through an HTTP(S)_PROXY from the environment.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_status(url: str, timeout: float = 1.0) -> int | None:
    """HTTP status of a GET, or None when nothing answers."""
    try:
        with _opener.open(url, timeout=timeout) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (OSError, ValueError):
        return None


_live: weakref.WeakSet[Process] = weakref.WeakSet()


@atexit.register
def _kill_leftovers() -> None:
    """Servers a test run forgot to stop (or could not, after Ctrl-C) die with it."""
    for server in list(_live):
        server._terminate(grace=0.0)


class Process:
    """One server subprocess whose output goes to a log file (a pipe could fill up
    and block the server), with a readiness wait that fails fast and explains."""

    name = "server"
    # The port it listens on, on loopback (0 until a subclass knows it).
    port = 0

    def __init__(self, startup_timeout: float) -> None:
        self.startup_timeout = startup_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._log_path: Path | None = None

    @property
    def endpoint(self) -> str:
        """``host:port``, as clients that take no scheme want it (the minio SDK with
        ``secure=False``, ``opa run --addr``)."""
        return f"{LOOPBACK}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.endpoint}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def _spawn(
        self,
        args: list[str],
        log_path: Path,
        cwd: str | None = None,
        env: dict[str, str | None] | None = None,
    ) -> None:
        """Start the server; ``env`` entries are added to ours, ``None`` removes one."""
        full_env = dict(os.environ)
        for key, value in (env or {}).items():
            if value is None:
                full_env.pop(key, None)
            else:
                full_env[key] = value
        self._log_path = log_path
        self._log = open(log_path, "ab")  # noqa: SIM115 (closed in _reap)
        self._proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=full_env,
            start_new_session=True,  # a Ctrl-C in the terminal goes to pytest, not here
        )
        _live.add(self)

    def log_tail(self, max_chars: int = 4000) -> str:
        if self._log_path is None or not self._log_path.exists():
            return ""
        text = self._log_path.read_bytes()[-max_chars:].decode("utf-8", "replace")
        return text.strip()

    def _wait_ready(self, ready: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while True:
            assert self._proc is not None
            if self._proc.poll() is not None:
                code = self._proc.returncode
                self._reap()
                raise ServerStartError(
                    f"{self.name} exited with code {code} before {what}; its output:\n"
                    f"{self.log_tail()}"
                )
            if ready():
                return
            if time.monotonic() > deadline:
                self._terminate(grace=0.0)
                raise ServerStartError(
                    f"{self.name} not ready ({what}) within {self.startup_timeout:.0f} s; "
                    f"its output:\n{self.log_tail()}"
                )
            time.sleep(0.05)

    def _terminate(self, grace: float) -> None:
        """SIGTERM, wait up to `grace` seconds, then SIGKILL; idempotent."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            if grace > 0:
                proc.send_signal(signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=grace)
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
        self._reap()

    def _reap(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
        self._proc = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def start(self) -> Self:  # pragma: no cover - overridden
        raise NotImplementedError

    def close(self) -> None:
        self._terminate(grace=5.0)


class OpaServer(Process):
    """``opa run --server`` on 127.0.0.1, serving the policies (and data) in one directory.

    ``stop()`` then ``start()`` brings it back on the same port, so a test can
    check that services fail closed while OPA is down and recover once it is up.
    Pass ``watch=True`` to have OPA reload files that the test rewrites.
    """

    name = "OPA"

    def __init__(
        self,
        policies_dir: str | os.PathLike[str],
        port: int | None = None,
        *,
        watch: bool = False,
        binary: str | None = None,
        startup_timeout: float = 20.0,
    ) -> None:
        super().__init__(startup_timeout)
        self.policies_dir = Path(policies_dir)
        self.port = port or free_port()
        self.watch = watch
        self.binary = binary
        self._workdir: Path | None = None

    def start(self) -> Self:
        if self.running:
            return self
        if not self.policies_dir.is_dir():
            raise ServerStartError(f"OPA policies directory {self.policies_dir} does not exist")
        args = [
            self.binary or find_binary("opa"),
            "run",
            "--server",
            "--addr",
            self.endpoint,
            "--log-level",
            "error",
            # Tests stop OPA often; don't let open keep-alive connections delay that.
            "--shutdown-grace-period",
            "1",
        ]
        if self.watch:
            args.append("--watch")
        args.append(str(self.policies_dir))
        if self._workdir is None:  # kept across stop()/start(): the log accumulates
            self._workdir = Path(tempfile.mkdtemp(prefix="salesguard-opa-"))
        self._spawn(args, self._workdir / "opa.log", cwd=str(self._workdir))
        try:
            self._wait_ready(
                lambda: http_status(f"{self.url}/health") == 200,
                f"GET {self.url}/health answered 200",
            )
        except ServerStartError:
            self.close()
            raise
        return self

    def stop(self) -> None:
        """Stop the server, keeping its port for a later ``start()``."""
        self._terminate(grace=5.0)

    def close(self) -> None:
        """Stop the server for good and delete its log."""
        self.stop()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None


class PostgresDatabases:
    """Creates uniquely named databases on the test PostgreSQL server and drops them.

    ``server_url`` is a libpq-style URL of a role allowed to create databases;
    default: ``$SALESGUARD_TEST_POSTGRES_URL``, else ``DEFAULT_POSTGRES_URL`` (the
    server that ``scripts/ensure-postgres.sh`` starts). The methods are async (use
    them from async fixtures); ``create_sync``/``drop_all_sync`` wrap them with
    ``asyncio.run`` for code outside an event loop.

    ``await create("customers")`` returns an SQLAlchemy URL
    ``postgresql+asyncpg://user:password@host:port/customers_<hex>``; ``await
    drop_all()`` drops every database this object created (closing connections
    that tests left open).
    """

    def __init__(self, server_url: str | None = None) -> None:
        self.server_url = (
            server_url or os.environ.get("SALESGUARD_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL
        )
        self.created: list[str] = []

    def _with_database(self, name: str, scheme: str) -> str:
        parts = urlsplit(self.server_url)
        return urlunsplit((scheme, parts.netloc, "/" + quote(name), parts.query, ""))

    def _admin_dsn(self) -> str:
        return self._with_database(
            urlsplit(self.server_url).path.lstrip("/") or "postgres", "postgresql"
        )

    async def _connect(self) -> asyncpg.Connection:
        import asyncpg  # here, not at the top: the module stays importable without it

        try:
            return await asyncpg.connect(self._admin_dsn(), timeout=10)
        except (OSError, asyncpg.PostgresError) as exc:
            raise ServerStartError(
                f"cannot connect to PostgreSQL at {self._redacted()}: {exc}; "
                "run scripts/ensure-postgres.sh or set SALESGUARD_TEST_POSTGRES_URL"
            ) from exc

    def _redacted(self) -> str:
        parts = urlsplit(self.server_url)
        host = parts.hostname or ""
        netloc = f"{parts.username}:***@{host}" if parts.username else host
        if parts.port:
            netloc += f":{parts.port}"
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))

    async def create(self, name_prefix: str = "test") -> str:
        """Create an empty database named ``<prefix>_<random hex>``; return its asyncpg URL."""
        prefix = "".join(c if c.isalnum() else "_" for c in name_prefix.lower())[:40] or "test"
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        conn = await self._connect()
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        self.created.append(name)
        return self._with_database(name, "postgresql+asyncpg")

    async def drop_all(self) -> None:
        """Drop every database created here, even with connections still open."""
        if not self.created:
            return
        conn = await self._connect()
        try:
            while self.created:
                name = self.created.pop()
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    def create_sync(self, name_prefix: str = "test") -> str:
        return asyncio.run(self.create(name_prefix))

    def drop_all_sync(self) -> None:
        asyncio.run(self.drop_all())
