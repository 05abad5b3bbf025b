"""The policies the OPA sidecars load are the repository's policies/, and they pass its tests.

The chart reads policies/ through a link (charts/salesguard/policies → ../../policies),
so there is one copy. These tests take the policies ConfigMap from `helm template`,
lay it out as the kubelet mounts it (a timestamped directory, the `..data` link, one
link per top-level entry) following the pods' volume items, and then run `opa test`
and the sidecar's own command line on that directory.
"""

from __future__ import annotations

import json
import re
import subprocess
import tarfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.chart import (
    CHART,
    PRODUCTION_VALUES,
    REPO,
    SERVICES,
    Rendered,
    helm,
    opa_container,
    pod_spec,
    render,
    resource_name,
)
from tests.support.servers import find_binary, free_port

POLICIES = REPO / "policies"


def _shipped(policies: Path) -> dict[str, bytes]:
    """What the sidecars must load: every .rego but the tests, and the data documents."""
    return {
        str(path.relative_to(policies)): path.read_bytes()
        for path in sorted(policies.rglob("*"))
        if path.is_file()
        and (
            (path.suffix == ".rego" and not path.name.endswith("_test.rego"))
            or path.name in ("data.json", "data.yaml", "data.yml")
        )
    }


def _policies_config_map(rendered: Rendered) -> dict[str, str]:
    data: dict[str, str] = rendered.get("ConfigMap", resource_name("policies"))["data"]
    return data


def _policies_volume(rendered: Rendered, service: str) -> dict[str, Any]:
    deployment = rendered.get("Deployment", resource_name(service))
    (volume,) = [v for v in pod_spec(deployment)["volumes"] if v["name"] == "policies"]
    return dict(volume["configMap"])


def mount_like_the_kubelet(data: dict[str, str], items: list[dict[str, str]], root: Path) -> Path:
    """The directory a ConfigMap volume with `items` gives a container."""
    stamp = root / "..2026_01_01_00_00_00.000000001"
    for item in items:
        target = stamp / item["path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(data[item["key"]])
    (root / "..data").symlink_to(stamp.name)
    for entry in {Path(item["path"]).parts[0] for item in items}:
        (root / entry).symlink_to(Path("..data") / entry)
    return root


def test_the_config_map_holds_exactly_the_repository_policies() -> None:
    rendered = render()
    data = _policies_config_map(rendered)
    shipped = _shipped(POLICIES)
    assert shipped, "no policies in the repository?"
    for service in SERVICES:
        volume = _policies_volume(rendered, service)
        assert volume["name"] == resource_name("policies")
        files = {item["path"]: data[item["key"]].encode() for item in volume["items"]}
        assert files == shipped, service
    assert len(data) == len(shipped), "the ConfigMap holds a file no pod mounts"


def test_the_chart_links_to_the_policies_instead_of_copying_them() -> None:
    link = CHART / "policies"
    assert link.is_symlink(), "charts/salesguard/policies must stay a link to policies/"
    assert link.resolve() == POLICIES.resolve()


def test_opa_test_passes_on_the_mounted_config_map(tmp_path: Path) -> None:
    """The repository's policy tests, run against what the sidecars load."""
    rendered = render()
    deployment = rendered.get("Deployment", resource_name("customers"))
    opa = opa_container(deployment)
    assert opa is not None
    ignore = [arg for arg in opa["args"] if arg.startswith("--ignore")]
    mount = mount_like_the_kubelet(
        _policies_config_map(rendered),
        _policies_volume(rendered, "customers")["items"],
        tmp_path / "policies",
    )
    tests = tmp_path / "tests"
    tests.mkdir()
    for path in POLICIES.rglob("*_test.rego"):
        (tests / path.name).write_bytes(path.read_bytes())
    result = subprocess.run(
        [
            find_binary("opa"),
            "test",
            *ignore,
            "--fail-on-empty",
            "--timeout",
            "120s",
            str(mount),
            str(tests),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASS:" in result.stdout


@pytest.mark.parametrize("values_files", [(), (PRODUCTION_VALUES,)], ids=["default", "production"])
def test_the_sidecar_command_line_serves_decisions(
    tmp_path: Path, values_files: tuple[Path, ...]
) -> None:
    """Run OPA with the sidecar's own arguments (paths moved into a temp dir) and ask for a decision."""
    rendered = render(*values_files)
    deployment = rendered.get("Deployment", resource_name("orders"))
    opa = opa_container(deployment)
    assert opa is not None
    mount = mount_like_the_kubelet(
        _policies_config_map(rendered),
        _policies_volume(rendered, "orders")["items"],
        tmp_path / "policies",
    )
    config = tmp_path / "config.yaml"
    config.write_text(rendered.get("ConfigMap", resource_name("opa"))["data"]["config.yaml"])
    port, diagnostic = free_port(), free_port()
    args = []
    for arg in opa["args"]:
        if arg.startswith("--addr="):
            assert arg.startswith("--addr=127.0.0.1:")
            arg = f"--addr=127.0.0.1:{port}"
        elif arg.startswith("--diagnostic-addr="):
            arg = f"--diagnostic-addr=127.0.0.1:{diagnostic}"
        elif arg.startswith("--config-file="):
            arg = f"--config-file={config}"
        elif arg.startswith("--shutdown-wait-period="):
            arg = "--shutdown-wait-period=0"
        elif arg == "/policies":
            arg = str(mount)
        args.append(arg)
    log = tmp_path / "opa.log"
    with log.open("w") as output:
        process = subprocess.Popen([find_binary("opa"), *args], stdout=output, stderr=output)
    try:
        _wait_healthy(f"http://127.0.0.1:{diagnostic}/health", process, log)
        decision = _post(
            f"http://127.0.0.1:{port}/v1/data/salesguard/authz/decision",
            {
                "input": {
                    "subject": {
                        "id": "e-1",
                        "roles": ["SALES_JUNIOR"],
                        "team": "t-1",
                        "branch": "b-1",
                    },
                    "action": "customers.read",
                    "resource": None,
                }
            },
        )
        result = decision["result"]
        assert result["allow"] is True
        assert result["grants"][0]["scope"] == {"kind": "own", "employee_id": "e-1"}
        thresholds = _post(f"http://127.0.0.1:{port}/v1/data/salesguard/thresholds", {})
        assert thresholds["result"], "thresholds/data.json must land at data.salesguard.thresholds"
    finally:
        process.terminate()
        process.wait(timeout=10)
    if values_files:  # production values log every decision to stdout
        assert '"decision_id"' in log.read_text()


def test_helm_package_carries_the_policies(tmp_path: Path) -> None:
    """A packaged chart holds the files behind the link, and renders the same policies."""
    helm("package", str(CHART), "--destination", str(tmp_path))
    (archive,) = tmp_path.glob("salesguard-*.tgz")
    with tarfile.open(archive) as tar:
        members = {m.name: m for m in tar.getmembers()}
        for relative, content in _shipped(POLICIES).items():
            member = members[f"salesguard/policies/{relative}"]
            assert member.isfile(), f"{relative} is packaged as a link"
            extracted = tar.extractfile(member)
            assert extracted is not None
            assert extracted.read() == content
    from_package = render(chart=archive, cached=False)
    assert _policies_config_map(from_package) == _policies_config_map(render())


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"OPA exited with {process.returncode}:\n{log.read_text()}")
        try:
            with _OPENER.open(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    pytest.fail(f"OPA did not become healthy:\n{log.read_text()}")


def _post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(  # noqa: S310 (a loopback http:// URL the test built)
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with _OPENER.open(request, timeout=5) as response:
        answer: dict[str, Any] = json.loads(response.read())
    return answer


# Loopback only: never through an HTTP(S)_PROXY from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def test_the_sidecars_run_the_opa_version_ci_tests_with() -> None:
    """The policies are tested (make policy-test, these tests) with scripts/versions.env's OPA."""
    pinned = re.search(
        r"^OPA_VERSION=v(\S+)$", (REPO / "scripts" / "versions.env").read_text(), re.M
    )
    assert pinned is not None
    for deployment in render().of_kind("Deployment"):
        opa = opa_container(deployment)
        if opa is not None:
            assert opa["image"].split(":")[1].split("-")[0] == pinned.group(1)
