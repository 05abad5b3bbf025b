"""``make run`` supervises its children (SPEC G2).

A dead child is restarted with exponential backoff (logged: why, restart count, next
delay) while the gateway and the other services keep serving; its fields answer a
typed UNAVAILABLE meanwhile. Ctrl-C or SIGTERM stops every child, restarting none,
and leaves no orphans.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from salesguard.devrun import restart_delay
from salesguard.settings import DEV_JWT_SECRET
from salesguard.tokens import issue_dev_token
from tests.harness import global_id
from tests.support.devrun import RunCopy, alive

# Process start-ups on a busy 2-core machine.
pytestmark = pytest.mark.timeout(600)

# Finance reads a field of each service: attendance (me), customers, orders, commissions.
SETUP_FINANCE = """mutation($hq: ID!) {
  upsertBranch(input: {hrId: "hq", name: "HQ", timeZone: "Asia/Shanghai", headquarters: true}) {
    branch { id }
  }
  upsertEmployee(input: {hrId: "fin", name: "Finance", roles: [FINANCE], branchId: $hq}) {
    employee { id }
  }
}"""
FIELDS = """{
  me { hrId }
  customers(first: 1) { totalCount }
  orders(first: 1) { totalCount }
  commissionPlans { version }
}"""
DIED = r"^salesguard run: orders \(pid (\d+)\) died \(([^)]*)\) after [\d.]+ s; restart (\d+) in ([\d.]+) s$"


def test_restart_delays_double_up_to_the_cap() -> None:
    delays = [restart_delay(crashes, base=1.0, cap=30.0) for crashes in range(8)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    assert restart_delay(10_000, base=0.5, cap=2.0) == 2.0


def _wait_dead(pid: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while alive(pid):
        assert time.monotonic() < deadline, f"pid {pid} still runs {timeout:.0f} s after SIGKILL"
        time.sleep(0.05)


def _bind_when_released(squatter: socket.socket, port: int, timeout: float = 3) -> None:
    """Bind once the killed server's sockets are gone: the kernel closes them a moment
    after the process is reaped, and the restart waits 4 s, so there is time."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            squatter.bind(("127.0.0.1", port))
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _errors_by_field(reply: dict[str, Any]) -> dict[str, str]:
    return {error["path"][0]: error["extensions"]["code"] for error in reply.get("errors", [])}


def _assert_others_serve(reply: dict[str, Any]) -> None:
    data = reply["data"]
    assert data["me"] == {"hrId": "fin"}, reply
    assert data["customers"] is not None and data["commissionPlans"] is not None, reply


def _wait_orders_serve(copy: RunCopy, token: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        reply = copy.graphql(FIELDS, token=token)
        if "errors" not in reply:
            _assert_others_serve(reply)
            assert reply["data"]["orders"] == {"totalCount": 0}, reply
            return
        assert _errors_by_field(reply) == {"orders": "UNAVAILABLE"}, reply
        assert time.monotonic() < deadline, f"orders did not serve again:\n{copy.tail()}"
        time.sleep(0.3)


def test_a_killed_service_is_restarted_while_the_others_keep_serving(
    tmp_path: Path, copies: list[RunCopy]
) -> None:
    # The second crash waits 4 s: time enough, on a loaded runner, to take orders' port
    # before the restart does.
    copy = RunCopy.start(tmp_path, restart_delay=2.0, max_restart_delay=4.0)
    copies.append(copy)
    copy.wait_running()
    setup = copy.graphql(
        SETUP_FINANCE, token=copy.admin_token, variables={"hq": global_id("Branch", "hq")}
    )
    assert "errors" not in setup, setup
    token = issue_dev_token(DEV_JWT_SECRET, "fin", ttl_seconds=3600)
    assert "errors" not in copy.graphql(FIELDS, token=token)
    others = {name: pid for name, pid in copy.pids().items() if name != "orders"}

    # SIGKILL orders: its fields fail typed, everything else answers, and it comes back.
    killed = copy.pids()["orders"]
    mark = len(copy.log())
    os.kill(killed, signal.SIGKILL)
    _wait_dead(killed)
    reply = copy.graphql(FIELDS, token=token)
    _assert_others_serve(reply)
    assert reply["data"]["orders"] is None
    assert _errors_by_field(reply) == {"orders": "UNAVAILABLE"}, reply
    died = copy.wait_for_log(DIED, timeout=15, start=mark)
    assert (int(died[1]), died[2], died[3], died[4]) == (killed, "killed by SIGKILL", "1", "2.0")
    restarted = copy.wait_for_log(
        r"^salesguard run: orders started \(pid (\d+)\)", timeout=15, start=mark
    )
    assert int(restarted[1]) != killed
    _wait_orders_serve(copy, token)

    # Kill it again and hold its port: every restart fails, so the delays grow (2 s was
    # the first crash in this row) up to the 4 s cap.
    mark = len(copy.log())
    with socket.socket() as squatter:
        # Its closed connections linger in TIME_WAIT: reuse the address, as gRPC does.
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        killed = copy.pids()["orders"]
        os.kill(killed, signal.SIGKILL)
        _wait_dead(killed)
        _bind_when_released(squatter, copy.ports["orders"])
        squatter.listen()
        copy.wait_for_log(r"restart 3 in [\d.]+ s$", timeout=120, start=mark)
        crashes = [match.groups() for match in re.finditer(DIED, copy.log()[mark:], re.MULTILINE)]
        assert [(count, delay) for _pid, _why, count, delay in crashes] == [
            ("2", "4.0"),
            ("3", "4.0"),
        ], copy.runner_lines()
        assert crashes[1][1] == "exit code 1", copy.runner_lines()  # it could not listen
        # Meanwhile the gateway and the other services serve (orders' port answers nothing
        # now: asking it would only wait for the deadline).
        others_only = FIELDS.replace("orders(first: 1) { totalCount }", "")
        _assert_others_serve(copy.graphql(others_only, token=token))
    _wait_orders_serve(copy, token)
    # Only orders was ever restarted.
    assert {name: pid for name, pid in copy.pids().items() if name != "orders"} == others
    # SIGTERM to the runner stops them all, the restarted orders too, and restarts none
    # (Ctrl-C: see test_two_copies_serve_side_by_side_each_with_its_own_data).
    copy.stop_every_child(signal.SIGTERM)
