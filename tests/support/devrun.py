"""Copies of ``salesguard run`` as subprocesses, on free ports and their own data folders.

Each copy runs the real runner (embedded profile) with every child on a port picked here —
never the defaults 8000/5005x, so a developer's own ``make run`` and CI do not collide —
and writes everything it prints to a log file, from which the tests read the runner's
lines (``salesguard run: …``: children's pids, deaths and restarts).

    copy = RunCopy.start(tmp_path / "a")        # returns at once; the children start
    copy.wait_running()                          # every child listens, GraphQL answers
    copy.graphql("{ me { id } }", token=copy.admin_token)
    copy.stop()                                  # SIGTERM to the runner, waits
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from salesguard.settings import DEV_JWT_SECRET, SERVICE_PORTS
from salesguard.tokens import issue_dev_token
from tests.support.servers import free_port

REPO = Path(__file__).resolve().parents[2]
SERVICES = ("attendance", "customers", "orders", "commissions")
COMPONENTS = (*SERVICES, "gateway")
# The ports a default `make run` uses: a copy under test never takes them.
DEFAULT_PORTS = frozenset({8000, *SERVICE_PORTS.values()})
# Five processes importing the suite on a shared 2-core machine (the runner's own limit
# is 180 s).
START_SECONDS = 200.0

_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback only
_STARTED = re.compile(r"^salesguard run: (\w+) started \(pid (\d+)\)", re.MULTILINE)


def _ports(count: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in DEFAULT_PORTS and port not in ports:
            ports.append(port)
    return ports


@dataclass
class RunCopy:
    root: Path
    ports: dict[str, int]
    process: subprocess.Popen[bytes]
    log_path: Path
    env: dict[str, str] = field(repr=False)

    @classmethod
    def start(
        cls,
        root: Path,
        *,
        restart_delay: float = 0.2,
        max_restart_delay: float = 30.0,
        extra_env: dict[str, str] | None = None,
    ) -> RunCopy:
        root.mkdir(parents=True, exist_ok=True)
        ports = dict(zip(COMPONENTS, _ports(len(COMPONENTS)), strict=True))
        env = {key: value for key, value in os.environ.items() if not key.startswith("SALESGUARD_")}
        env |= {
            "PYTHONUNBUFFERED": "1",
            "SALESGUARD_DATA_DIR": str(root / "data"),
            "SALESGUARD_POLICIES_DIR": str(REPO / "policies"),
            "SALESGUARD_LOG_LEVEL": "WARNING",
            "SALESGUARD_JOBS_ENABLED": "false",
            "SALESGUARD_GATEWAY_PORT": str(ports["gateway"]),
            "SALESGUARD_RUN_RESTART_DELAY_SECONDS": str(restart_delay),
            "SALESGUARD_RUN_RESTART_MAX_DELAY_SECONDS": str(max_restart_delay),
            **{
                f"SALESGUARD_{name.upper()}_ADDRESS": f"127.0.0.1:{ports[name]}"
                for name in SERVICES
            },
            **(extra_env or {}),
        }
        log_path = root / "run.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "salesguard.cli", "run"],
                cwd=REPO,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: Ctrl-C as a terminal sends it
            )
        return cls(root, ports, process, log_path, env)

    # ── what it printed ──────────────────────────────────────────────────────────

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def runner_lines(self) -> list[str]:
        return [line for line in self.log().splitlines() if line.startswith("salesguard run:")]

    def wait_for_log(self, pattern: str, *, timeout: float, start: int = 0) -> re.Match[str]:
        """The first match of ``pattern`` in the log at or after character ``start``."""
        expression = re.compile(pattern, re.MULTILINE)
        deadline = time.monotonic() + timeout
        while True:
            found = expression.search(self.log(), start)
            if found:
                return found
            if self.process.poll() is not None:
                raise AssertionError(
                    f"the runner exited ({self.process.returncode}) before printing "
                    f"{pattern!r}:\n{self.tail()}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"no {pattern!r} within {timeout:.0f} s:\n{self.tail()}")
            time.sleep(0.1)

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def pids(self) -> dict[str, int]:
        """The pid each child was last started with."""
        return {name: int(pid) for name, pid in _STARTED.findall(self.log())}

    # ── talking to it ────────────────────────────────────────────────────────────

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ports['gateway']}/graphql"

    @property
    def admin_token(self) -> str:
        return issue_dev_token(DEV_JWT_SECRET, "admin", ttl_seconds=3600)

    def graphql(
        self, query: str, *, token: str | None = None, variables: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")  # noqa: S310 - loopback
        try:
            with _opener.open(request, timeout=30) as response:
                reply: dict[str, Any] = json.loads(response.read())
        except urllib.error.HTTPError as error:
            raise AssertionError(f"HTTP {error.code}: {error.read()[:500]!r}") from None
        return reply

    def wait_running(self, timeout: float = START_SECONDS) -> None:
        """Until the runner says it runs and the gateway answers."""
        self.wait_for_log(r"^salesguard is running", timeout=timeout)
        reply = self.graphql("{ __typename }", token=self.admin_token)
        assert "errors" not in reply and reply["data"] == {"__typename": "Query"}, reply

    # ── stopping it ──────────────────────────────────────────────────────────────

    def stop(
        self, signum: int = signal.SIGTERM, *, group: bool = False, timeout: float = 30
    ) -> int:
        """Send ``signum`` to the runner (or its whole process group) and wait for it."""
        if self.process.poll() is None:
            if group:
                os.killpg(self.process.pid, signum)
            else:
                self.process.send_signal(signum)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"the runner did not stop within {timeout:.0f} s of {signal.Signals(signum).name}"
                f":\n{self.tail()}"
            ) from None

    def stop_every_child(self, signum: int, *, group: bool = False) -> None:
        """Stop the copy and check it ended cleanly: exit 0, no child left, none restarted."""
        children = self.pids()
        assert sorted(children) == sorted(COMPONENTS), self.tail()
        assert all(alive(pid) for pid in children.values()), self.tail()
        mark = len(self.log())
        assert self.stop(signum, group=group) == 0, self.tail()
        assert [name for name, pid in children.items() if alive(pid)] == [], "orphans are left"
        assert self.pids() == children, f"a child was restarted during shutdown:\n{self.tail()}"
        assert " died " not in self.log()[mark:], self.tail()

    def kill_everything(self) -> None:
        """Clean-up, whatever happened: SIGKILL the runner's process group (its children too)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)


def alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie, exited but not reaped, is not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")
