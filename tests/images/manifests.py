"""The chart's manifests as ``podman kube play`` plays them, and the pods it needs beside.

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
import json
import secrets
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from tests.deploy.chart import SERVICES, Manifest, Rendered, pod_template
from tests.harness import JWT_SECRET
from tests.support.s3server import seaweedfs_identities

SECRET = "salesguard-smoke"
POSTGRES = "postgres"
SEAWEEDFS = "seaweedfs"
S3_PORT = 8333
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
