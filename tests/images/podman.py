"""The podman command line, for the smoke run: run, read JSON, wait for a condition."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable
from typing import Any

NETWORK = "salesguard-smoke"


class PodmanError(RuntimeError):
    """podman exited non-zero; the message has the command and its stderr."""


def podman(*args: str, stdin: str | None = None, timeout: float = 180, check: bool = True) -> str:
    if shutil.which("podman") is None:
        raise PodmanError("podman is not installed: run scripts/ensure-podman.sh")
    result = subprocess.run(
        ["podman", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and result.returncode != 0:
        raise PodmanError(
            f"podman {' '.join(args)} exited {result.returncode}: "
            f"{result.stderr.strip() or result.stdout.strip()}"
        )
    return result.stdout


def inspect(name: str, kind: str = "container") -> dict[str, Any]:
    found = json.loads(podman(kind, "inspect", name))
    # `pod inspect` answers one object (podman 4), the others a list.
    return dict(found[0] if isinstance(found, list) else found)


def exists(name: str, kind: str = "container") -> bool:
    return subprocess.run(["podman", kind, "exists", name], check=False).returncode == 0


def pod_ip(pod: str) -> str:
    """The pod's address on the smoke network (its infra container holds the network)."""
    infra = inspect(pod, "pod")["InfraContainerID"]
    networks = inspect(infra)["NetworkSettings"]["Networks"]
    return str(networks[NETWORK]["IPAddress"])


def logs(container: str, tail: int | None = None) -> str:
    args = ["logs", *(["--tail", str(tail)] if tail else []), container]
    result = subprocess.run(["podman", *args], capture_output=True, text=True, check=False)
    return result.stdout + result.stderr


def wait_until(
    condition: Callable[[], bool],
    what: str,
    timeout: float,
    explain: Callable[[], str] = lambda: "",
    interval: float = 0.5,
) -> float:
    """Poll until ``condition()`` holds; the seconds it took. On timeout, fail naming
    ``what`` with ``explain()`` (container logs, say)."""
    start = time.monotonic()
    while True:
        if condition():
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"{what}: not within {timeout:.0f} s\n{explain()}")
        time.sleep(interval)
