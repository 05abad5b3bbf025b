"""What every benchmark shares: services started as deployed, and percentiles."""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

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
    process = subprocess.Popen(command, env=env)
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
