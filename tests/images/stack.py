"""The suite as the chart deploys it, played with ``podman kube play`` on one podman network.

tests/images/manifests.py turns the rendered chart into what kube play runs (and says what
it changes and why); this module plays it: the infrastructure pods first, the migration
pods run to completion, then the services, waited for until they serve; and it takes
everything down by name.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.deploy.chart import (
    COMPONENTS,
    SERVICES,
    Manifest,
    container_env,
    pod_template,
    render,
    resource_name,
)
from tests.images.manifests import (
    POSTGRES,
    S3_PORT,
    SEAWEEDFS,
    SEAWEEDFS_CONFIG,
    SECRET,
    Credentials,
    Manifests,
    container_name,
    infrastructure,
    salesguard_container,
    secret_values,
)
from tests.images.podman import NETWORK, exists, inspect, logs, pod_ip, podman, wait_until

HERE = Path(__file__).resolve().parent
SMOKE_VALUES = HERE / "smoke-values.yaml"
# What scripts/images.sh tagged the images with; set, it turns the smoke tests on. (No
# SALESGUARD_ prefix: that namespace is the components' settings.)
TAG_VARIABLE = "IMAGES_SMOKE_TAG"
GATEWAY_PORT = 8000
# scripts/images.sh's scratch directory: the played manifests (smoke/), the pods' logs
# when the run ends (logs/) and the run's report (timings, what was left out).
SCRATCH = Path(os.environ.get("IMAGES_DIR", "/var/tmp/salesguard-images"))
LOG_DIR = SCRATCH / "logs"
REPORT_FILE = SCRATCH / "smoke-report.json"


def _yaml(documents: list[Manifest]) -> str:
    return yaml.safe_dump_all(documents, sort_keys=False)


class SmokeStack:
    """Brings the chart's pods up on podman, gives their addresses, and takes all down."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.rendered = render(
            SMOKE_VALUES, set_values={"image.tag": tag, "opa.image.tag": tag}, cached=False
        )
        self.manifests = Manifests.from_chart(self.rendered)
        self.timings: dict[str, float] = {}
        self._workdir = SCRATCH / "smoke"
        self._played: list[Path] = []
        self.credentials = Credentials.fresh()
        self.secret = secret_values(self.rendered, self.credentials)

    # ── names and addresses ────────────────────────────────────────────────────────

    @staticmethod
    def pod(component: str) -> str:
        return resource_name(component)

    def container(self, component: str) -> str:
        """The container that runs ``salesguard serve <component>``."""
        return container_name(
            self.pod(component), salesguard_container(self.pod_of(component))["name"]
        )

    def rendered_container(self, component: str) -> dict[str, Any]:
        """The component's container as the chart renders it (ports and probes too)."""
        deployment = self.rendered.get("Deployment", self.pod(component))
        return salesguard_container(pod_template(deployment))

    def pod_of(self, component: str) -> Manifest:
        """The pod (from the rendered Deployment) that runs ``component``."""
        (pod,) = [
            p for p in self.manifests.service_pods if p["metadata"]["name"] == self.pod(component)
        ]
        return pod

    @property
    def gateway_url(self) -> str:
        return f"http://{pod_ip(self.pod('gateway'))}:{GATEWAY_PORT}"

    def metrics_url(self, component: str) -> str:
        """/metrics on the port the chart gives the component (SALESGUARD_METRICS_PORT)."""
        env = container_env(self.rendered, self.rendered_container(component))
        port = env["SALESGUARD_METRICS_PORT"]
        return f"http://{pod_ip(self.pod(component))}:{port}/metrics"

    @property
    def s3_address(self) -> str:
        return f"{pod_ip(SEAWEEDFS)}:{S3_PORT}"

    # ── up ────────────────────────────────────────────────────────────────────────

    def up(self) -> None:
        self.down()  # whatever an interrupted run left
        self._check_images()
        shutil.rmtree(self._workdir, ignore_errors=True)
        self._workdir.mkdir(parents=True)
        podman("network", "create", NETWORK)
        podman("secret", "create", SECRET, "-", stdin=self._podman_secret())
        self._timed("infrastructure", self._start_infrastructure)
        self._timed("migrations", self._migrate)
        self._timed("services", self._start_services)

    def _timed(self, what: str, step: Any) -> None:
        start = time.monotonic()
        step()
        self.timings[what] = time.monotonic() - start

    def _check_images(self) -> None:
        wanted = {
            str(container["image"])
            for pod in [*self.manifests.service_pods, *self.manifests.migration_pods]
            for container in pod["spec"]["containers"]
        }
        wanted |= {
            f"localhost/salesguard-smoke-{name}:{self.tag}" for name in ("postgres", "seaweedfs")
        }
        missing = sorted(image for image in wanted if not exists(image, "image"))
        assert not missing, (
            f"images not built: {missing}; run `make images` (scripts/images.sh build)"
        )

    def _podman_secret(self) -> str:
        return json.dumps(
            {key: base64.b64encode(v.encode()).decode() for key, v in self.secret.items()}
        )

    def _nested_config_maps_as_directories(self, pods: list[Manifest]) -> list[Manifest]:
        """The pods, with each ConfigMap volume whose items have directories replaced by a
        directory holding the same files (see tests/images/manifests.py)."""
        config_maps = {doc["metadata"]["name"]: doc for doc in self.manifests.config_maps}
        changed = []
        for pod in pods:
            pod = copy.deepcopy(pod)
            for volume in pod["spec"].get("volumes", []):
                source = volume.get("configMap")
                if source is None or not any("/" in i["path"] for i in source.get("items", [])):
                    continue
                root = self._workdir / "config-maps" / source["name"]
                data = config_maps[source["name"]]["data"]
                for item in source["items"]:
                    target = root / item["path"]
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_text(data[item["key"]])
                for path in [self._workdir, *self._workdir.rglob("*")]:
                    path.chmod(0o755 if path.is_dir() else 0o644)  # the pods' users read them
                volume.pop("configMap")
                volume["hostPath"] = {"path": str(root), "type": "Directory"}
            changed.append(pod)
        return changed

    def _play(self, name: str, documents: list[Manifest]) -> Path:
        path = self._workdir / f"{name}.yaml"
        path.write_text(_yaml(documents))
        self._played.append(path)
        podman("kube", "play", "--network", NETWORK, str(path), timeout=300)
        return path

    def _start_infrastructure(self) -> None:
        self._play("infrastructure", infrastructure(self.tag, self.credentials))
        postgres = container_name(POSTGRES, "postgres")
        wait_until(
            lambda: _succeeds("exec", postgres, "pg_isready", "-q"),
            "PostgreSQL accepts connections",
            60,
            lambda: logs(postgres, 30),
        )
        for service in SERVICES:
            password = self.credentials.database_passwords[service]
            podman(
                "exec", postgres, "psql", "-q", "-U", "postgres", "-v", "ON_ERROR_STOP=1",
                "-c", f"CREATE ROLE {service} LOGIN PASSWORD '{password}'",
                "-c", f"CREATE DATABASE {service} OWNER {service}",
            )  # fmt: skip
        weed = container_name(SEAWEEDFS, "seaweedfs")
        wait_until(
            lambda: (
                _http_ok(f"http://{self.s3_address}/healthz")
                and "All enabled components are running" in logs(weed)
            ),
            "SeaweedFS serves S3",
            90,
            lambda: logs(weed, 30),
        )

    def _migrate(self) -> None:
        """The hook Jobs' pods, all at once (one database each), each run to completion."""
        pods = self.manifests.migration_pods
        assert {p["metadata"]["name"] for p in pods} == {
            f"{self.pod(service)}-migrate" for service in SERVICES
        }, "a migration Job per service"
        path = self._play("migrations", pods)
        failed = []
        for pod in pods:
            name = pod["metadata"]["name"]
            (container,) = pod["spec"]["containers"]
            ctr = container_name(name, container["name"])
            code = podman("wait", ctr, timeout=300).strip()
            output = logs(ctr)
            _keep_log(ctr, output)
            if code != "0":
                failed.append(f"{name} exited {code}:\n{output[-3000:]}")
        podman("kube", "down", str(path), timeout=120)
        self._played.remove(path)
        assert not failed, "migrations failed:\n" + "\n".join(failed)

    def _start_services(self) -> None:
        pods = self._nested_config_maps_as_directories(self.manifests.service_pods)
        self._play("services", [*self.manifests.config_maps, *pods])
        for component in COMPONENTS:
            self.wait_serving(component, timeout=120)
        wait_until(
            lambda: _http_ok(f"{self.gateway_url}/readyz"),
            "the gateway is ready (/readyz)",
            60,
            lambda: logs(self.container("gateway"), 30),
        )

    def healthcheck(self, component: str) -> bool:
        """The image's HEALTHCHECK command (``salesguard healthcheck``), run in the container.
        (kube play sets no container healthcheck from it, and no systemd here would run one.)"""
        container = self.container(component)
        image = inspect(inspect(container)["Image"], "image")
        kind, *command = image["Healthcheck"]["Test"]
        assert kind == "CMD", image["Healthcheck"]
        return _succeeds("exec", container, *command)

    def wait_serving(self, component: str, timeout: float) -> float:
        container = self.container(component)
        return wait_until(
            lambda: (
                inspect(container)["State"]["Status"] == "running" and self.healthcheck(component)
            ),
            f"{component} serves (salesguard healthcheck in {container})",
            timeout,
            lambda: f"state: {inspect(container)['State']}\n{logs(container, 40)}",
        )

    # ── down ──────────────────────────────────────────────────────────────────────

    def keep_logs(self) -> Path:
        """Every smoke container's log, into LOG_DIR."""
        for line in podman("ps", "-a", "--format", "{{.Names}}", check=False).split():
            if any(line.startswith(prefix) for prefix in ("salesguard-", POSTGRES, SEAWEEDFS)):
                _keep_log(line, logs(line))
        return LOG_DIR

    def down(self) -> None:
        """Remove every pod, the network and the secret of a smoke run (this one's or a
        leftover's), by name."""
        for path in reversed(self._played):
            podman("kube", "down", str(path), timeout=120, check=False)
        self._played.clear()
        pods = [self.pod(c) for c in COMPONENTS] + [f"{self.pod(s)}-migrate" for s in SERVICES]
        for pod in [*pods, POSTGRES, SEAWEEDFS]:
            if exists(pod, "pod"):
                podman("pod", "rm", "--force", "--time", "5", pod, timeout=120)
        # kube play keeps a named volume per ConfigMap volume after the pods are gone.
        for volume in [
            SEAWEEDFS_CONFIG,
            *(doc["metadata"]["name"] for doc in self.manifests.config_maps),
        ]:
            if _succeeds("volume", "exists", volume):
                podman("volume", "rm", "--force", volume)
        if _succeeds("secret", "inspect", SECRET):
            podman("secret", "rm", SECRET)
        if _succeeds("network", "exists", NETWORK):
            podman("network", "rm", "--force", NETWORK)


def _succeeds(*args: str) -> bool:
    try:
        podman(*args, timeout=30)
    except Exception:
        return False
    return True


def _http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _keep_log(container: str, text: str) -> None:
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    (LOG_DIR / f"{container}.log").write_text(text)
