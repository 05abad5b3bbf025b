"""``salesguard run``: every service and the gateway as supervised child processes.

Each child is the same ``salesguard serve`` a container runs, listening where the
settings say it is reached (``Settings.listen_address``), so a second copy with its own
addresses, gateway port and data directory runs beside the first. The runner starts
the children in order and waits until each listens, then supervises them as Kubernetes
would: a child that dies is restarted after a delay that doubles with every
crash in a row, up to a cap, while the others keep serving. Ctrl-C or SIGTERM stops
them all, with no restarts during the shutdown.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from pydantic import Field

from salesguard.cli import installed_services
from salesguard.settings import (
    ENV_PREFIX,
    WILDCARD_HOSTS,
    Settings,
    load,
    setting_variables,
    settings_readers,
)

# The order children are listed in; they stop in reverse, the gateway first.
START_ORDER = ("attendance", "customers", "orders", "commissions", "gateway")
# How long the children may take to listen, on a slow or busy machine.
START_TIMEOUT_SECONDS = 180.0
# A child that served this long has recovered: its next crash restarts after the base delay.
RECOVERED_AFTER_SECONDS = 60.0
# How long stopping children may take before they are killed, past their own grace.
STOP_MARGIN_SECONDS = 10.0
POLL_SECONDS = 0.2


class RunnerSettings(Settings):
    """What ``salesguard run`` reads besides where each child listens."""

    # The runner itself keeps no database and uses no secret.
    requires_backends: ClassVar[bool] = False
    secrets_used: ClassVar[frozenset[str]] = frozenset()
    # Each child gets its own settings from the runner's environment (child_environment).
    starts_every_component: ClassVar[bool] = True

    # The delay before the first restart of a crashed child; it doubles with every crash
    # in a row, up to the cap.
    run_restart_delay_seconds: float = Field(default=1.0, gt=0)
    run_restart_max_delay_seconds: float = Field(default=30.0, gt=0)


@dataclass
class Child:
    """One supervised ``salesguard serve NAME`` process and its crash record."""

    name: str
    host: str
    port: int
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    listening: bool = False
    crashes_in_a_row: int = 0
    restarts: int = 0
    restart_at: float | None = None

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def setting(self) -> str:
        """The variable that says where this child listens."""
        if self.name == "gateway":
            return "SALESGUARD_GATEWAY_PORT"
        return f"SALESGUARD_{self.name.upper()}_ADDRESS"


def child_environment(env: dict[str, str], name: str) -> dict[str, str]:
    """A child's environment: the runner's, without the SALESGUARD_* variables its settings
    do not read. The shell may hold every component's settings (the runner checked that
    each is some process's); a child gets only its own, as a pod does."""
    own = setting_variables(settings_readers()[name])
    return {
        key: value
        for key, value in env.items()
        if not key.upper().startswith(ENV_PREFIX) or key.upper() in own
    }


def say(message: str) -> None:
    print(f"salesguard run: {message}", file=sys.stderr, flush=True)


def why_it_ended(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit code {returncode}"


def restart_delay(crashes_in_a_row: int, base: float, cap: float) -> float:
    """Exponential backoff: base, 2·base, 4·base, … never more than cap."""
    return float(min(cap, base * 2 ** min(crashes_in_a_row, 32)))


def _listens(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


def _port_is_free(host: str, port: int) -> bool:
    with socket.socket() as trial:
        trial.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            trial.bind((host, port))
        except OSError:
            return False
    return True


def _die_with_parent() -> Callable[[], None] | None:
    """A pre-exec hook that stops a child when the runner dies, even by SIGKILL (Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)  # loaded here, not between fork and exec
    runner = os.getpid()
    pr_set_pdeathsig = 1

    def hook() -> None:
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)
        if os.getppid() != runner:  # the runner died before the hook ran
            os._exit(1)

    return hook


class Supervisor:
    def __init__(self, children: list[Child], env: dict[str, str], settings: RunnerSettings):
        self.children = children
        self.env = env
        self.base_delay = settings.run_restart_delay_seconds
        self.max_delay = max(settings.run_restart_max_delay_seconds, self.base_delay)
        self.stop_timeout = settings.shutdown_grace_seconds + STOP_MARGIN_SECONDS
        self.stopping = False
        self.stop_signal = ""
        self.pre_exec = _die_with_parent()

    def request_stop(self, signum: int, _frame: object) -> None:
        # Only a flag: the loops notice it within POLL_SECONDS (printing here could
        # interrupt a print of the main thread).
        self.stop_signal = signal.Signals(signum).name
        self.stopping = True

    def check_ports(self) -> None:
        """Refuse to start where another process (another copy) already listens."""
        seen: dict[int, Child] = {}
        for child in self.children:
            other = seen.get(child.port)
            if other is not None:
                raise SystemExit(
                    f"{other.name} and {child.name} would both listen on port {child.port}; "
                    f"give each its own port ({other.setting}, {child.setting}; "
                    "SALESGUARD_GRPC_PORT, which sets one port for every service, must be unset)"
                )
            seen[child.port] = child
            if not _port_is_free(child.host, child.port):
                raise SystemExit(
                    f"{child.name} cannot listen on {child.host}:{child.port}: the port is in use "
                    f"(another `salesguard run`?); give this copy its own {child.setting}"
                )

    def spawn(self, child: Child) -> None:
        child.process = subprocess.Popen(  # noqa: S603 - our own interpreter and CLI
            [sys.executable, "-m", "salesguard.cli", "serve", child.name],
            env=child_environment(self.env, child.name),
            preexec_fn=self.pre_exec,  # safe: the runner has one thread
        )
        child.started_at = time.monotonic()
        child.listening = False
        say(f"{child.name} started (pid {child.pid}), listens on {child.host}:{child.port}")

    def probe(self, child: Child) -> bool:
        """Whether the child listens now (logged once per start)."""
        if not child.listening and child.alive:
            host = "127.0.0.1" if child.host in WILDCARD_HOSTS else child.host
            if _listens(host, child.port):
                child.listening = True
                say(f"{child.name} (pid {child.pid}) is listening on {child.host}:{child.port}")
        return child.listening

    def start_all(self) -> None:
        """Start every child at once (none needs another to start: peers are called per
        request) and wait until all of them listen."""
        for child in self.children:
            self.spawn(child)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not self.stopping:
            waiting = [child for child in self.children if not self.probe(child)]
            if not waiting:
                return
            for child in waiting:
                if not child.alive:
                    assert child.process is not None
                    raise SystemExit(
                        f"{child.name} ended while starting "
                        f"({why_it_ended(child.process.returncode)}); see its log above"
                    )
            if time.monotonic() > deadline:
                late = ", ".join(f"{child.name} on {child.host}:{child.port}" for child in waiting)
                raise SystemExit(f"not listening within {START_TIMEOUT_SECONDS:.0f} s: {late}")
            time.sleep(POLL_SECONDS)

    def supervise(self) -> None:
        """Restart dead children with backoff until asked to stop."""
        while not self.stopping:
            for child in self.children:
                if self.stopping:
                    break
                self.look_after(child, time.monotonic())
            time.sleep(POLL_SECONDS)

    def look_after(self, child: Child, now: float) -> None:
        if child.alive:
            self.probe(child)
            if child.crashes_in_a_row and now - child.started_at >= RECOVERED_AFTER_SECONDS:
                child.crashes_in_a_row = 0
            return
        if child.restart_at is None:  # it has just died
            assert child.process is not None
            uptime = now - child.started_at
            if uptime >= RECOVERED_AFTER_SECONDS:
                child.crashes_in_a_row = 0
            delay = restart_delay(child.crashes_in_a_row, self.base_delay, self.max_delay)
            child.crashes_in_a_row += 1
            child.restarts += 1
            child.restart_at = now + delay
            say(
                f"{child.name} (pid {child.pid}) died ({why_it_ended(child.process.returncode)}) "
                f"after {uptime:.1f} s; restart {child.restarts} in {delay:.1f} s"
            )
        elif now >= child.restart_at:
            child.restart_at = None
            self.spawn(child)

    def stop_all(self) -> None:
        """SIGTERM every child (the gateway first), then wait; kill what outlives the grace."""
        self.stopping = True
        running = [child for child in reversed(self.children) if child.alive]
        if running:
            say(f"stopping every child ({self.stop_signal or 'the runner ends'})")
        for child in running:
            assert child.process is not None
            child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout
        for child in running:
            assert child.process is not None
            try:
                child.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                say(f"{child.name} (pid {child.pid}) did not stop in time; killing it")
                child.process.kill()
                child.process.wait()


def run_suite(selected: list[str]) -> None:
    settings = load(RunnerSettings)
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
    children = [Child(name, *settings.listen_address(name)) for name in names]
    supervisor = Supervisor(children, env, settings)
    supervisor.check_ports()
    # Ctrl-C reaches the children too (one process group); either way the runner stops
    # them all and restarts nothing from here on.
    signal.signal(signal.SIGTERM, supervisor.request_stop)
    signal.signal(signal.SIGINT, supervisor.request_stop)
    try:
        supervisor.start_all()
        if not supervisor.stopping:
            print(
                f"\nsalesguard is running ({', '.join(names)}; data in {settings.data_dir}).\n"
                f"  GraphQL:  {settings.public_url.rstrip('/')}/graphql\n"
                f"  token:    uv run salesguard token {settings.bootstrap_admin}\n"
                "A child that dies is restarted. Ctrl-C stops everything.\n",
                flush=True,
            )
            supervisor.supervise()
    finally:
        supervisor.stop_all()
