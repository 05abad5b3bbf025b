"""What every benchmark shares: services started as deployed, percentiles, targets and the
CPU the processes spend."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import text

from salesguard.db import Database

REPO = Path(__file__).resolve().parents[1]


def arguments(doc: str | None, **sizes: int) -> argparse.ArgumentParser:
    """A benchmark's command line, its help the module's docstring as written; ``sizes``
    are its whole-number options with their defaults (``--name``, underscores as dashes)."""
    parser = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    for name, default in sizes.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=default)
    return parser


_PROFILED = """
import cProfile, runpy, signal, sys
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
sys.argv = ["salesguard", "serve", {name!r}]
cProfile.run('runpy.run_module("salesguard.cli", run_name="__main__")', {path!r})
"""


def start_service(
    name: str, env: dict[str, str], port: int, *, profile: Path | None = None
) -> subprocess.Popen[bytes]:
    """`salesguard serve NAME`, as a container runs it, once it listens on ``port``; with
    ``profile``, under cProfile writing its stats there when the process is stopped."""
    command = [sys.executable, "-m", "salesguard.cli", "serve", name]
    if profile is not None:
        # uvicorn re-raises the SIGTERM it caught once it has shut down, which would end the
        # process before cProfile writes: a SIGTERM handler that exits normally lets it.
        command = [sys.executable, "-c", _PROFILED.format(name=name, path=str(profile))]
    return start_process(name, command, port, env=env)


def start_process(
    name: str,
    command: list[str],
    port: int,
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """``command`` (run in ``cwd``, None: this process's), once it listens on ``port``."""
    process = subprocess.Popen(command, env=env, cwd=cwd)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{name} exited with {process.returncode}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return process
        time.sleep(0.1)
    process.terminate()
    raise SystemExit(f"{name} did not start within 60 s")


def stop_all(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in reversed(processes):
        process.terminate()
    for process in processes:
        process.wait(timeout=20)


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


HEADER = f"  {'':<40}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'mean ms':>9}"


def summary(name: str, samples: list[float]) -> str:
    return (
        f"  {name:<40}{percentile(samples, 0.5):>9.2f}{percentile(samples, 0.95):>9.2f}"
        f"{percentile(samples, 0.99):>9.2f}{statistics.mean(samples):>9.2f}"
    )


def figure(value: float) -> str:
    """A measured value as people read it: 3 significant digits, no exponent."""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


# A benchmark's verdict on one of its targets, as a line `make bench` collects
# (benchmarks/report.py) into its closing table.
RESULT_PREFIX = "RESULT "


def report_target(
    measure: str,
    measured: float,
    *,
    limit: float,
    unit: str,
    at_most: bool = True,
    detail: str = "",
) -> bool:
    """Print the target line (``target: ... <= limit  measured ...  MET``) and a ``RESULT
    {json}`` line for the closing table; whether the target is met. ``measure`` names it
    as issue 16's table does; ``unit`` follows the figures ("ms", "x", "s", ...)."""
    met = measured <= limit if at_most else measured >= limit
    bound = f"{'<=' if at_most else '>='} {limit:g} {unit}".rstrip()
    shown = f"{figure(measured)} {unit}".rstrip()
    print(
        f"target: {measure} {bound}  measured {shown}  {'MET' if met else 'MISSED'}"
        + (f"  ({detail})" if detail else "")
    )
    fields = {
        "name": measure,
        "target": bound,
        "measured": measured,
        "unit": unit,
        "met": met,
        "detail": detail,
    }
    print(RESULT_PREFIX + json.dumps(fields), flush=True)
    return met


# -- CPU spent: on a shared machine the wall time drifts with the load, CPU much less -------


def cpu_seconds(pid: int) -> float:
    """User and system CPU a process (all its threads) has used so far; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def started_processes() -> dict[str, int]:
    """The processes this benchmark started (its children), by name: a service's or the
    gateway's (``salesguard serve NAME``, also as started under cProfile) or else the
    program's (``opa``)."""
    found: dict[str, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if parent != os.getpid():
            continue
        arguments = command.split(b"\0")
        if b"serve" in arguments:
            name = arguments[arguments.index(b"serve") + 1].decode()
        elif profiled := re.search(rb"\"serve\", '([a-z]+)'", command):
            name = profiled.group(1).decode()
        else:
            name = Path(arguments[0].decode()).name
        found[name] = int(entry.name)
    return found


def started_process(name: str) -> int:
    pid = started_processes().get(name)
    if pid is None:
        raise SystemExit(f"no process serving {name}")
    return pid


def postgres_backends(databases: Iterable[str]) -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL backend serving one of ``databases``, by
    process ID."""
    names = tuple(f" {database} ".encode() for database in databases)
    found: dict[int, float] = {}
    if not names:
        return found
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if command.startswith(b"postgres: ") and any(db in command for db in names):
            found[int(entry.name)] = cpu_seconds(int(entry.name))
    return found


def process_cpu(databases: Iterable[str] = ()) -> dict[str, float]:
    """CPU seconds so far of each process this benchmark started, and (as ``postgres``,
    summed) of the PostgreSQL backends serving ``databases``."""
    used = {name: cpu_seconds(pid) for name, pid in started_processes().items()}
    backends = postgres_backends(databases)
    if backends:
        used["postgres"] = sum(backends.values())
    return used


class CpuMeter:
    """CPU seconds of each service process and of its database's backends over a span
    (``sample`` before and after, then ``spent``)."""

    def __init__(self, urls: dict[str, str]) -> None:
        self.urls = urls
        self.services = started_processes()

    async def sample(self) -> dict[tuple[str, int], float]:
        pids = set(self.services.items())
        for name, url in self.urls.items():
            db = Database(url)
            async with db.read() as session:
                backends = await session.scalars(
                    text(
                        "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                        " AND pid <> pg_backend_pid()"
                    )
                )
                pids |= {(f"pg {name}", int(pid)) for pid in backends}
            await db.dispose()
        return {key: cpu_seconds(key[1]) for key in pids}

    @staticmethod
    def spent(
        before: dict[tuple[str, int], float], after: dict[tuple[str, int], float]
    ) -> dict[str, float]:
        """Per process (a database's backends summed): the CPU seconds between two samples."""
        totals: dict[str, float] = {}
        for key, seconds in after.items():
            totals[key[0]] = totals.get(key[0], 0.0) + seconds - before.get(key, 0.0)
        return totals


class KeepAliveHttp:
    """A lean HTTP/1.1 client for load against the gateway: one keep-alive connection per
    concurrent caller, requests written from prebuilt bytes, responses read by their
    Content-Length.

    The direct path's load generator is a grpc.aio stub (about 0.7 ms of the benchmark's
    CPU per request); httpx costs 2-3 ms more for the same page. On a 2-core machine that
    difference is taken from the servers under test, so a comparison of the two paths
    through httpx measured the clients as much as the gateway. This client costs about as
    much as the stub, so the gateway path is charged for the gateway. It speaks only what
    the gateway answers: a status line, headers with Content-Length, a body."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        host, port = url.removeprefix("http://").split(":")
        self._host, self._port = host, int(port)
        self._headers = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    def request(self, path: str, payload: object) -> bytes:
        """The bytes of a POST of ``payload`` as JSON to ``path``, to send with :meth:`send`."""
        body = json.dumps(payload).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self._host}:{self._port}\r\n{self._headers}"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body

    async def send(self, request: bytes) -> tuple[int, bytes]:
        """The status and body of the response to ``request`` (built by :meth:`request`).
        A kept connection the server has closed meanwhile (uvicorn drops idle ones after
        5 s) is replaced once."""
        if self._idle:
            reader, writer = self._idle.pop()
            try:
                return await self._exchange(reader, writer, request)
            except (asyncio.IncompleteReadError, ConnectionError):
                writer.close()
        reader, writer = await asyncio.open_connection(self._host, self._port)
        return await self._exchange(reader, writer, request)

    async def _exchange(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
    ) -> tuple[int, bytes]:
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = None
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        if length is None:
            raise RuntimeError(f"response without Content-Length: {head!r}")
        body = await reader.readexactly(length)
        self._idle.append((reader, writer))
        return status, body

    async def aclose(self) -> None:
        for _, writer in self._idle:
            writer.close()
        self._idle.clear()
