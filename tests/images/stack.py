"""The suite as the chart deploys it, played with ``podman kube play`` on one podman network.

What runs comes from ``helm template`` of charts/salesguard with tests/images/smoke-values.yaml
(the images built here): the ConfigMaps as rendered, each Deployment's pod template as a
Pod, and before them each migration hook Job's pod template as a Pod run to completion.
The commands, args, env, ports, users, read-only root file systems, /tmp emptyDirs and
OPA sidecars are the rendered ones, untouched. What is changed is forced by
``podman kube play`` (podman 4.3, Debian bookworm's):

- a Deployment becomes a Pod of the same name: kube play would name its pod
  ``<name>-pod``, and the Services' names (``salesguard-customers``, the addresses in the
  ConfigMaps) must resolve to the pods, as a headless Service's do;
- the pod template's annotations stay behind: podman 4.3 holds annotation values to the
  63 characters of a label's, and the chart's are checksums (they roll Deployments);
- the probes and the ports stay behind (``_as_played``): podman 4.3 cannot run the
  probes, and it would publish every containerPort on the host; the smoke run checks
  what the probes would, and reaches each pod at its address;
- a ConfigMap volume whose items lay files out in directories (the policies: a data.json's
  directory is its place in OPA's ``data``) becomes a hostPath volume holding exactly
  those files at those paths: podman 4.3 does not create an item's directories;
- the Secret is a podman secret (kube play 4.3 reads ``secretKeyRef`` from podman secrets,
  as a flat JSON map of key to base64 value), holding fresh random keys.

What kube play does not run is left out and counted (``Manifests.left_out``; the smoke
test checks it holds nothing a pod needs): Services (the pod names resolve instead),
ServiceAccounts, PodDisruptionBudgets, NetworkPolicies, CronJobs (the scheduled jobs are
not part of the smoke run).

PostgreSQL and SeaweedFS run as pods on the same network, from the same bootstrapped base
(tests/images/support.Containerfile): a cluster reaches its database and object store over
the network by name, and this machine's PostgreSQL listens on loopback only, which no pod
on a podman network reaches.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import secrets
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.deploy.chart import (
    COMPONENTS,
    SERVICES,
    Manifest,
    Rendered,
    container_env,
    pod_template,
    render,
    resource_name,
)
from tests.harness import JWT_SECRET
from tests.images.podman import NETWORK, exists, inspect, logs, pod_ip, podman, wait_until
from tests.support.s3server import seaweedfs_identities

HERE = Path(__file__).resolve().parent
SMOKE_VALUES = HERE / "smoke-values.yaml"
# What scripts/images.sh tagged the images with; set, it turns the smoke tests on. (No
# SALESGUARD_ prefix: that namespace is the components' settings.)
TAG_VARIABLE = "IMAGES_SMOKE_TAG"
SECRET = "salesguard-smoke"
POSTGRES = "postgres"
SEAWEEDFS = "seaweedfs"
S3_PORT = 8333
GATEWAY_PORT = 8000
# scripts/images.sh's scratch directory: the played manifests (smoke/), the pods' logs
# when the run ends (logs/) and the run's report (timings, what was left out).
SCRATCH = Path(os.environ.get("IMAGES_DIR", "/var/tmp/salesguard-images"))
LOG_DIR = SCRATCH / "logs"
REPORT_FILE = SCRATCH / "smoke-report.json"
SEAWEEDFS_CONFIG = "seaweedfs-s3"


def container_name(pod: str, container: str) -> str:
    """kube play names a pod's container <pod>-<container>."""
    return f"{pod}-{container}"


@dataclass
class Manifests:
    """The rendered chart, sorted into what kube play runs and what it leaves out."""

    config_maps: list[Manifest]
    service_pods: list[Manifest]
    migration_pods: list[Manifest]
    left_out: Counter[str] = field(default_factory=Counter)

    @classmethod
    def from_chart(cls, rendered: Rendered) -> Manifests:
        manifests = cls([], [], [])
        for doc in rendered:
            kind = doc["kind"]
            if kind == "ConfigMap":
                manifests.config_maps.append(doc)
            elif kind == "Deployment":
                manifests.service_pods.append(as_pod(doc))
            elif kind == "Job" and "helm.sh/hook" in doc["metadata"].get("annotations", {}):
                manifests.migration_pods.append(as_pod(doc))
            else:
                manifests.left_out[kind] += 1
        return manifests


def salesguard_container(pod: Manifest) -> dict[str, Any]:
    """The pod's container that runs ``salesguard`` (not the OPA sidecar)."""
    (found,) = [c for c in pod["spec"]["containers"] if c["name"] != "opa"]
    return dict(found)


def as_pod(workload: Manifest) -> Manifest:
    """The pod a Deployment (one replica) or a Job runs, named as the workload."""
    template = pod_template(workload)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        # No annotations (see the module's docstring).
        "metadata": {
            "name": workload["metadata"]["name"],
            "labels": template["metadata"]["labels"],
        },
        "spec": {
            **template["spec"],
            "containers": [_as_played(c) for c in template["spec"]["containers"]],
        },
    }


def _as_played(container: Manifest) -> Manifest:
    """The container without its probes and its ports.

    podman 4.3 turns an httpGet probe into `curl` against port 0 (it does not resolve
    named ports) and restarts the container when that fails; the images have no curl.
    The smoke run checks what the probes would (SmokeStack.wait_serving, /readyz).
    And podman 4.3 publishes every containerPort on the host, which Kubernetes never
    does: the five pods' metrics ports (all 9464) would collide there. A containerPort
    opens nothing; the pods are reached by their addresses on the network, as in a
    cluster."""
    return {k: v for k, v in container.items() if not k.endswith("Probe") and k != "ports"}


@dataclass(frozen=True)
class Credentials:
    """The run's fresh secrets: a password per service database, the object store's keys."""

    database_passwords: dict[str, str]
    s3_access_key: str
    s3_secret_key: str

    @classmethod
    def fresh(cls) -> Credentials:
        passwords = {service: secrets.token_hex(16) for service in SERVICES}
        return cls(passwords, secrets.token_hex(8), secrets.token_hex(24))


def infrastructure(tag: str, credentials: Credentials) -> list[Manifest]:
    """PostgreSQL and SeaweedFS (S3 on 8333), each a pod named as the chart's values call it."""
    data = "/var/lib/postgresql/data"
    postgres_start = (
        f"[ -f {data}/PG_VERSION ] || {{ initdb -D {data} -U postgres --auth-local=trust"
        f" --auth-host=scram-sha-256 >/dev/null"
        f" && echo 'host all all 0.0.0.0/0 scram-sha-256' >> {data}/pg_hba.conf; }}"
        f" && exec postgres -D {data} -c listen_addresses='*'"
        " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    )
    identities = seaweedfs_identities(
        "salesguard", credentials.s3_access_key, credentials.s3_secret_key
    )
    weed_args = [
        "mini",
        "-dir=/data",
        # The components talk to each other on the pod's loopback; S3 listens on every address.
        "-ip=127.0.0.1",
        "-ip.bind=0.0.0.0",
        f"-s3.port={S3_PORT}",
        "-s3.config=/config/s3.json",
        "-admin.port.legacy=0",
        "-admin.ui=false",
        "-webdav=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-master.telemetry=false",
        "-master.volumeSizeLimitMB=64",
        "-volume.max=50",
    ]
    return [
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": POSTGRES},
            "spec": {
                "containers": [
                    {
                        "name": "postgres",
                        "image": f"localhost/salesguard-smoke-postgres:{tag}",
                        "imagePullPolicy": "Never",
                        "command": ["sh", "-c", postgres_start],
                    }
                ]
            },
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": SEAWEEDFS_CONFIG},
            "data": {"s3.json": json.dumps(identities)},
        },
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": SEAWEEDFS},
            "spec": {
                "containers": [
                    {
                        "name": "seaweedfs",
                        "image": f"localhost/salesguard-smoke-seaweedfs:{tag}",
                        "imagePullPolicy": "Never",
                        "args": weed_args,
                        "env": [{"name": "GOMEMLIMIT", "value": "256MiB"}],
                        "volumeMounts": [
                            {"name": "config", "mountPath": "/config", "readOnly": True},
                            {"name": "data", "mountPath": "/data"},
                        ],
                    }
                ],
                "volumes": [
                    {"name": "config", "configMap": {"name": SEAWEEDFS_CONFIG}},
                    {"name": "data", "emptyDir": {}},
                ],
            },
        },
    ]


def secret_values(rendered: Rendered, credentials: Credentials) -> dict[str, str]:
    """A value for every key the rendered pods read from the Secret: fresh random crypto
    keys, the databases' URLs, the object store's keys, and the tests' JWT secret (the
    harness signs the callers' tokens with it)."""
    values: dict[str, str] = {}
    for workload in rendered.workloads():
        for container in pod_template(workload)["spec"]["containers"]:
            for entry in container.get("env", []):
                ref = entry.get("valueFrom", {}).get("secretKeyRef")
                if ref is None:
                    continue
                assert ref["name"] == SECRET, ref
                values[ref["key"]] = _secret_value(entry["name"], ref["key"], credentials)
    return values


def _secret_value(env_name: str, key: str, credentials: Credentials) -> str:
    if env_name in (
        "SALESGUARD_FIELD_ENCRYPTION_KEY",
        "SALESGUARD_BLIND_INDEX_KEY",
        "SALESGUARD_AUDIT_CHAIN_KEY",
    ):
        return base64.b64encode(secrets.token_bytes(32)).decode()
    if env_name == "SALESGUARD_DATABASE_URL":
        (service,) = [s for s in SERVICES if key.startswith(f"{s}-")]
        password = credentials.database_passwords[service]
        return f"postgresql+asyncpg://{service}:{password}@{POSTGRES}:5432/{service}"
    if env_name == "SALESGUARD_JWT_SECRET":
        return JWT_SECRET
    if env_name == "SALESGUARD_S3_ACCESS_KEY":
        return credentials.s3_access_key
    if env_name == "SALESGUARD_S3_SECRET_KEY":
        return credentials.s3_secret_key
    return secrets.token_urlsafe(48)


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
        directory holding the same files (see the module's docstring)."""
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
