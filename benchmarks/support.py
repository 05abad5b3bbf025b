"""What every benchmark shares: services started as deployed, and percentiles."""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def arguments(doc: str | None) -> argparse.ArgumentParser:
    """A benchmark's command line, its help the module's docstring as written."""
    return argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )


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
