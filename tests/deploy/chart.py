"""Rendering the chart and reading what it renders, as the kubelet and the code would.

``render()`` runs ``helm template`` (the helm binary that scripts/ensure-tools.sh builds);
``Rendered`` finds resources in the output; ``container_env()`` resolves a container's
environment the way the kubelet does (envFrom ConfigMaps, then env entries), with made-up
values for the Secret references; ``load_component_settings()`` then reads it with the
component's own settings class, through the same entry point ``salesguard serve`` uses.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import os
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import yaml

from salesguard.settings import Settings, setting_variables
from tests.support.servers import find_binary

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "salesguard"
PRODUCTION_VALUES = CHART / "ci" / "production-values.yaml"
RELEASE = "salesguard"
NAMESPACE = "salesguard"
# The oldest Kubernetes the chart supports (native sidecars, for the jobs' OPA) and the
# newest whose schemas kubernetes-validate ships.
KUBE_VERSIONS = ("1.29.0", "1.37.0")
SERVICES = ("customers", "attendance", "orders", "commissions")
COMPONENTS = (*SERVICES, "gateway")
ENV_PREFIX = "SALESGUARD_"

Manifest = dict[str, Any]


class HelmError(RuntimeError):
    """helm exited non-zero; the message is its stderr."""


def helm(*args: str, cwd: Path = REPO) -> str:
    result = subprocess.run(
        [find_binary("helm"), *args], cwd=cwd, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        # helm lint reports on stdout, the other commands on stderr.
        raise HelmError(f"{result.stdout.strip()}\n{result.stderr.strip()}".strip())
    return result.stdout


def render(
    *values_files: Path,
    set_values: Mapping[str, str] | None = None,
    chart: Path = CHART,
    kube_version: str = KUBE_VERSIONS[0],
    cached: bool = True,
) -> Rendered:
    """``helm template`` of the chart; ``set_values`` go through ``--set``. The chart in
    the repository does not change during a run, so its renders are cached."""
    arguments = (chart, tuple(values_files), tuple(sorted((set_values or {}).items())))
    if cached:
        return _cached_render(*arguments, kube_version)
    return _render(*arguments, kube_version)


def _render(
    chart: Path,
    values_files: tuple[Path, ...],
    set_values: tuple[tuple[str, str], ...],
    kube_version: str,
) -> Rendered:
    args = ["template", RELEASE, str(chart), "--namespace", NAMESPACE]
    args += ["--kube-version", kube_version]
    for path in values_files:
        args += ["--values", str(path)]
    for key, value in set_values:
        args += ["--set", f"{key}={value}"]
    documents = yaml.safe_load_all(helm(*args))
    return Rendered(tuple(doc for doc in documents if doc))


# The same renders, kept: the arguments are hashable (paths and tuples).
_cached_render = functools.lru_cache(maxsize=32)(_render)


@dataclass(frozen=True)
class Rendered:
    manifests: tuple[Manifest, ...]

    def __iter__(self) -> Iterator[Manifest]:
        return iter(self.manifests)

    def of_kind(self, kind: str) -> list[Manifest]:
        return [doc for doc in self.manifests if doc["kind"] == kind]

    def get(self, kind: str, name: str) -> Manifest:
        for doc in self.of_kind(kind):
            if doc["metadata"]["name"] == name:
                return doc
        raise KeyError(f"no {kind} {name} rendered")

    def component_of(self, doc: Manifest) -> str:
        return str(doc["metadata"]["labels"]["app.kubernetes.io/component"])

    def by_component(self, kind: str) -> dict[str, Manifest]:
        return {self.component_of(doc): doc for doc in self.of_kind(kind)}

    def workloads(self) -> list[Manifest]:
        """Deployments, Jobs and CronJobs: everything that runs a pod."""
        return self.of_kind("Deployment") + self.of_kind("Job") + self.of_kind("CronJob")


def resource_name(component: str) -> str:
    """The name of a component's resources for the release the tests render."""
    return f"{RELEASE}-{component}"


def pod_template(workload: Manifest) -> dict[str, Any]:
    """The pod template of a Deployment or Job, or of the Jobs a CronJob creates."""
    spec = workload["spec"]
    if workload["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    template: dict[str, Any] = spec["template"]
    return template


def pod_spec(workload: Manifest) -> dict[str, Any]:
    spec: dict[str, Any] = pod_template(workload)["spec"]
    return spec


def containers(workload: Manifest) -> list[dict[str, Any]]:
    """Every container of the pod, native sidecars (init containers that keep running) too."""
    spec = pod_spec(workload)
    return [*spec.get("initContainers", []), *spec["containers"]]


def salesguard_component(container: Mapping[str, Any]) -> str:
    """The component a ``salesguard`` container runs: ``serve``/``migrate`` name it, a
    job's name starts with it (``job customers.pool-sweep``)."""
    command, target = container["args"]
    assert command in ("serve", "migrate", "job"), container["args"]
    return str(target).partition(".")[0] if command == "job" else str(target)


def app_container(workload: Manifest) -> dict[str, Any]:
    """The container that runs ``salesguard``: every container but the OPA sidecar."""
    (found,) = [c for c in containers(workload) if c["name"] != "opa"]
    return found


def opa_container(workload: Manifest) -> dict[str, Any] | None:
    found = [c for c in containers(workload) if c["name"] == "opa"]
    return found[0] if found else None


def fake_secret(env_name: str, key: str) -> str:
    """A value of the right shape for a Secret reference, distinct per key (never a dev default)."""
    digest = hashlib.sha256(key.encode()).digest()
    if env_name in (
        "SALESGUARD_FIELD_ENCRYPTION_KEY",
        "SALESGUARD_BLIND_INDEX_KEY",
        "SALESGUARD_AUDIT_CHAIN_KEY",
    ):
        return base64.b64encode(digest).decode()
    if env_name == "SALESGUARD_DATABASE_URL":
        return f"postgresql+asyncpg://app:{digest.hex()[:12]}@db.internal:5432/{key}"
    return f"secret-{key}-{digest.hex()[:16]}"


def container_env(rendered: Rendered, container: Mapping[str, Any]) -> dict[str, str]:
    """The container's environment as the kubelet builds it: envFrom first, then env."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        config_map = rendered.get("ConfigMap", source["configMapRef"]["name"])
        env.update({key: str(value) for key, value in (config_map.get("data") or {}).items()})
    for entry in container.get("env", []):
        if "value" in entry:
            env[entry["name"]] = str(entry["value"])
        else:
            ref = entry["valueFrom"]["secretKeyRef"]
            env[entry["name"]] = fake_secret(entry["name"], ref["key"])
    return env


def secret_refs(container: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Env name → secretKeyRef for the container's Secret references."""
    return {
        entry["name"]: entry["valueFrom"]["secretKeyRef"]
        for entry in container.get("env", [])
        if "secretKeyRef" in entry.get("valueFrom", {})
    }


@contextmanager
def environment(env: Mapping[str, str]) -> Iterator[None]:
    """Exactly ``env`` as the SALESGUARD_* variables of this process, restored after."""
    saved = {key: value for key, value in os.environ.items() if key.startswith(ENV_PREFIX)}
    for key in saved:
        del os.environ[key]
    os.environ.update(env)
    try:
        yield
    finally:
        for key in [key for key in os.environ if key.startswith(ENV_PREFIX)]:
            del os.environ[key]
        os.environ.update(saved)


def component_app(component: str) -> Any:
    """What ``salesguard serve <component>`` runs: the entry point in ``salesguard.services``."""
    (entry,) = [e for e in entry_points(group="salesguard.services") if e.name == component]
    return entry.load()


def load_component_settings(component: str, env: Mapping[str, str]) -> Settings:
    """The component's settings as the container would read them at start-up."""
    with environment(env):
        settings = component_app(component).load_settings()
    assert isinstance(settings, Settings)
    return settings


def setting_names(settings_class: type[Settings]) -> set[str]:
    """The environment variables a settings class reads."""
    return setting_variables(settings_class)


def component_package_dir(component: str) -> Path:
    """The source directory of the package behind a component's entry point."""
    (entry,) = [e for e in entry_points(group="salesguard.services") if e.name == component]
    top = entry.module.split(".")[0]
    module = __import__(top)
    return Path(module.__file__ or "").parent


def values(*values_files: Path) -> dict[str, Any]:
    """The chart's values.yaml with the given files merged over it (maps merge, the rest replaces)."""
    merged: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text())
    for path in values_files:
        _merge(merged, yaml.safe_load(path.read_text()) or {})
    return merged


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> None:
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value
