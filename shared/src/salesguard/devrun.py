"""``salesguard run``: every service and the gateway as child processes, embedded profile.

Each child is the same ``salesguard serve`` a container runs; this only starts
them in order, waits until each listens, prints where GraphQL is, and stops
them all on Ctrl-C or when one of them dies.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from urllib.parse import urlsplit

from salesguard.cli import installed_services
from salesguard.settings import Settings, load

# The directory first (the gateway resolves principals from it), the gateway last.
START_ORDER = ("attendance", "customers", "orders", "commissions", "gateway")


def _address_of(name: str, settings: Settings) -> tuple[str, int]:
    if name == "gateway":
        parts = urlsplit(settings.public_url)
        return parts.hostname or "127.0.0.1", parts.port or 8000
    host, _, port = getattr(settings, f"{name}_address").rpartition(":")
    return host, int(port)


def _wait_listening(host: str, port: int, child: subprocess.Popen[bytes], name: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise SystemExit(f"{name} exited with code {child.returncode} while starting")
        with socket.socket() as probe:
            probe.settimeout(0.5)
            if probe.connect_ex((host, port)) == 0:
                return
        time.sleep(0.2)
    raise SystemExit(f"{name} did not listen on {host}:{port} within 60 s")


def run_suite(selected: list[str]) -> None:
    settings = load(Settings)
    installed = installed_services()
    names = [
        name for name in START_ORDER if name in installed and (not selected or name in selected)
    ]
    if not names:
        raise SystemExit("no services are installed")
    env = {
        **os.environ,
        "SALESGUARD_PROFILE": os.environ.get("SALESGUARD_PROFILE", "embedded"),
        # Locally the services run their own scheduled jobs (a cluster uses CronJobs).
        "SALESGUARD_JOBS_ENABLED": os.environ.get("SALESGUARD_JOBS_ENABLED", "true"),
    }
    children: list[tuple[str, subprocess.Popen[bytes]]] = []

    def stop_all(*_: object) -> None:
        for _name, child in reversed(children):
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for _name, child in children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()

    def on_sigterm(*_: object) -> None:
        stop_all()
        sys.exit(0)

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        for name in names:
            child = subprocess.Popen(  # noqa: S603 - our own interpreter and CLI
                [sys.executable, "-m", "salesguard.cli", "serve", name], env=env
            )
            children.append((name, child))
            _wait_listening(*_address_of(name, settings), child, name)
        print(
            f"\nsalesguard is running ({', '.join(names)}).\n"
            f"  GraphQL:  {settings.public_url.rstrip('/')}/graphql\n"
            f"  token:    uv run salesguard token {settings.bootstrap_admin}\n"
            "Ctrl-C stops everything.\n",
            flush=True,
        )
        while all(child.poll() is None for _name, child in children):
            time.sleep(0.5)
        dead = [name for name, child in children if child.poll() is not None]
        print(f"stopping: {', '.join(dead)} exited", file=sys.stderr)
    except KeyboardInterrupt:
        pass
    finally:
        stop_all()
