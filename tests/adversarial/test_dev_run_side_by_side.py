"""A second ``make run`` beside the first.

Every process listens where the settings say it is reached: a service at the port of
its own ``SALESGUARD_<SERVICE>_ADDRESS`` (unless ``SALESGUARD_GRPC_PORT`` is set, as in a
container), the gateway at ``SALESGUARD_GATEWAY_PORT``, with ``SALESGUARD_PUBLIC_URL``
defaulting to it. The runner waits on exactly those ports.
"""

from __future__ import annotations

import signal
import socket
import subprocess
from pathlib import Path

import pytest

from salesguard.settings import Settings, SettingsError, load
from salesguard_gateway.settings import GatewaySettings
from tests.support.devrun import RunCopy

# Process start-ups on a busy 2-core machine.
pytestmark = pytest.mark.timeout(600)

UPSERT_BRANCH = """
mutation ($id: String!) {
  upsertBranch(input: {hrId: $id, name: "Side by side", timeZone: "Asia/Shanghai"}) {
    branch { hrId }
  }
}"""


def test_a_service_listens_at_its_own_address_unless_grpc_port_is_set() -> None:
    settings = Settings(customers_address="127.0.0.1:50301", orders_address="orders:50303")
    assert settings.listen_address("customers") == ("127.0.0.1", 50301)
    assert settings.listen_address("orders") == ("127.0.0.1", 50303)
    # A container: the chart sets the port and all interfaces; the address is a DNS name.
    pod = Settings(grpc_host="0.0.0.0", grpc_port=50051, customers_address="sg-customers:6000")  # noqa: S104
    assert pod.listen_address("customers") == ("0.0.0.0", 50051)  # noqa: S104
    with pytest.raises(SettingsError, match="SALESGUARD_CUSTOMERS_ADDRESS"):
        load(Settings, customers_address="customers")


def test_the_gateway_listens_at_gateway_port_and_public_url_follows_it() -> None:
    settings = GatewaySettings(gateway_port=8300)
    assert settings.listen_address("gateway") == ("127.0.0.1", 8300)
    assert settings.public_url == "http://127.0.0.1:8300"
    # The services read the same variables: their object URLs point at this gateway.
    assert Settings(gateway_port=8300).public_url == "http://127.0.0.1:8300"
    assert GatewaySettings(gateway_host="0.0.0.0", gateway_port=8080).public_url == (  # noqa: S104
        "http://127.0.0.1:8080"
    )
    explicit = GatewaySettings(gateway_port=8300, public_url="https://sales.example.com")
    assert explicit.public_url == "https://sales.example.com"


def test_two_copies_serve_side_by_side_each_with_its_own_data(
    tmp_path: Path, copies: list[RunCopy]
) -> None:
    # Both start at once: the second must not wait on (or reach) the first's processes.
    copies += [RunCopy.start(tmp_path / "first"), RunCopy.start(tmp_path / "second")]
    first, second = copies
    for copy in copies:
        copy.wait_running()
        token = copy.admin_token
        me = copy.graphql("{ me { hrId } }", token=token)
        assert "errors" not in me and me["data"] == {"me": {"hrId": "admin"}}, me

    created = first.graphql(UPSERT_BRANCH, token=first.admin_token, variables={"id": "second-copy"})
    assert created["data"] == {"upsertBranch": {"branch": {"hrId": "second-copy"}}}, created
    branches = "{ branches { hrId } }"
    in_first = first.graphql(branches, token=first.admin_token)["data"]["branches"]
    in_second = second.graphql(branches, token=second.admin_token)["data"]["branches"]
    assert {"hrId": "second-copy"} in in_first
    assert {"hrId": "second-copy"} not in in_second
    # Each copy keeps its SQLite files in its own data directory.
    for copy in copies:
        assert (copy.root / "data" / "attendance.db").is_file()
    # A clean stop, both ways: SIGTERM to a runner, and Ctrl-C in a terminal (SIGINT
    # to the whole foreground process group, children included) — no orphan, no restart.
    first.stop_every_child(signal.SIGTERM)
    second.stop_every_child(signal.SIGINT, group=True)


def test_a_port_taken_by_another_copy_is_refused_naming_the_setting(
    tmp_path: Path, copies: list[RunCopy]
) -> None:
    """Waiting on a port someone else listens on would report another copy as ours."""
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        copy = RunCopy.start(
            tmp_path, extra_env={"SALESGUARD_CUSTOMERS_ADDRESS": f"127.0.0.1:{taken}"}
        )
        copies.append(copy)
        try:
            code = copy.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the runner did not refuse:\n{copy.tail()}") from None
    assert code != 0
    assert "SALESGUARD_CUSTOMERS_ADDRESS" in copy.log(), copy.tail()
    assert copy.pids() == {}, "nothing is started when a port is taken"
