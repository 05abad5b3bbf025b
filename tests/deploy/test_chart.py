"""The chart lints, renders with the default and the production-like values, and what it
renders is valid Kubernetes (the OpenAPI schemas kubernetes-validate ships, offline),
hardened, labelled, and wired together (probes, hooks, autoscalers, budgets)."""

from __future__ import annotations

import json
import re
import shutil
import socket
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
from kubernetes_validate.utils import SchemaNotFoundError  # type: ignore[import-untyped]

from tests.deploy.chart import (
    CHART,
    COMPONENTS,
    KUBE_VERSIONS,
    PRODUCTION_VALUES,
    SERVICES,
    HelmError,
    Manifest,
    Rendered,
    app_container,
    component_app,
    containers,
    helm,
    opa_container,
    pod_spec,
    pod_template,
    render,
    resource_name,
    salesguard_component,
)

VARIANTS = {"default": (), "production": (PRODUCTION_VALUES,)}
# Kinds whose schemas are CRDs, not part of Kubernetes' OpenAPI (none rendered by default).
CUSTOM_KINDS = {"HTTPRoute", "ServiceMonitor"}
LABELS = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/component",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/version",
    "app.kubernetes.io/managed-by",
)


@pytest.fixture(params=sorted(VARIANTS))
def rendered(request: pytest.FixtureRequest) -> Rendered:
    return render(*VARIANTS[request.param])


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a connection fails the test: validation must be offline."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"network access during validation: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_helm_lint_strict(variant: str) -> None:
    args = ["lint", "--strict", str(CHART)]
    for path in VARIANTS[variant]:
        args += ["--values", str(path)]
    output = helm(*args)
    assert "0 chart(s) failed" in output


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_manifest_is_valid_kubernetes(
    variant: str, kube_version: str, no_network: None
) -> None:
    manifests = render(*VARIANTS[variant], kube_version=kube_version)
    checked = 0
    for doc in manifests:
        try:
            kubernetes_validate.validate(doc, kube_version, strict=True)
            checked += 1
        except SchemaNotFoundError:
            assert doc["kind"] in CUSTOM_KINDS, f"no schema for {doc['kind']}"
        except kubernetes_validate.ValidationError as error:
            path = ".".join(str(part) for part in error.path)
            pytest.fail(f"{doc['kind']}/{doc['metadata']['name']}: {path}: {error.message}")
    assert checked >= 30


@pytest.mark.parametrize(
    "toggles",
    [
        {"environment": "dev", "networkPolicy.enabled": "false"},
        {"migrations.enabled": "false", "spreadAcrossNodes": "false"},
        {"components.commissions.enabled": "false", "components.gateway.enabled": "false"},
        {
            "networkPolicy.objectStore.podSelector.matchLabels.app": "minio",
            "networkPolicy.objectStore.namespaceSelector.matchLabels.team": "storage",
            "opa.decisionLogs.serviceUrl": "https://decisions.example.com",
            "telemetry.otlpEndpoint": "http://collector:4317",
        },
    ],
    ids=["dev", "no-migrations", "without-some-components", "in-cluster-destinations"],
)
def test_other_switches_render_valid_manifests(toggles: dict[str, str], no_network: None) -> None:
    rendered = render(set_values=toggles)
    for doc in rendered:
        kubernetes_validate.validate(doc, KUBE_VERSIONS[-1], strict=True)
    names = {doc["metadata"]["name"] for doc in rendered}
    for component in ("commissions", "gateway"):
        disabled = toggles.get(f"components.{component}.enabled") == "false"
        assert (resource_name(component) in names) is not disabled, component


def test_the_validator_rejects_a_broken_manifest(no_network: None) -> None:
    deployment = render().get("Deployment", resource_name("customers"))
    broken = {**deployment, "spec": {**deployment["spec"], "replicas": "two"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBE_VERSIONS[0], strict=True)
    unknown = {**deployment, "spec": {**deployment["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(unknown, KUBE_VERSIONS[0], strict=True)


def test_each_component_has_its_resources(rendered: Rendered) -> None:
    for kind in ("Deployment", "Service", "ServiceAccount", "ConfigMap", "PodDisruptionBudget"):
        names = {doc["metadata"]["name"] for doc in rendered.of_kind(kind)}
        assert {resource_name(c) for c in COMPONENTS} <= names, kind
    jobs = rendered.by_component("Job")
    assert set(jobs) == {f"{service}-migrations" for service in SERVICES}
    assert rendered.of_kind("Secret") == [], "the chart must never carry a secret"


def test_every_resource_carries_the_recommended_labels(rendered: Rendered) -> None:
    for doc in rendered:
        labels = doc["metadata"].get("labels", {})
        missing = [label for label in LABELS if label not in labels]
        assert not missing, f"{doc['kind']}/{doc['metadata']['name']} lacks {missing}"
        assert labels["app.kubernetes.io/part-of"] == "salesguard"
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
    for workload in rendered.workloads():
        pod_labels = pod_template(workload)["metadata"]["labels"]
        assert all(label in pod_labels for label in LABELS), workload["metadata"]["name"]


def test_pods_are_hardened(rendered: Rendered) -> None:
    for workload in rendered.workloads():
        name = workload["metadata"]["name"]
        spec = pod_spec(workload)
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert spec["automountServiceAccountToken"] is False, name
        # Service links would put SALESGUARD_GATEWAY_PORT=tcp://… into the settings' namespace.
        assert spec["enableServiceLinks"] is False, name
        tmp_volumes = {v["name"] for v in spec["volumes"] if "emptyDir" in v}
        for container in containers(workload):
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, (name, container["name"])
            assert context["allowPrivilegeEscalation"] is False, (name, container["name"])
            assert context["capabilities"]["drop"] == ["ALL"], (name, container["name"])
            assert container["resources"]["requests"], (name, container["name"])
            assert container["resources"]["limits"]["memory"], (name, container["name"])
        mounts = {m["mountPath"]: m["name"] for m in app_container(workload)["volumeMounts"]}
        assert mounts.get("/tmp") in tmp_volumes, f"{name}: /tmp must be an emptyDir"


def test_probes_are_native_grpc_for_services_and_http_for_the_gateway(
    rendered: Rendered,
) -> None:
    deployments = rendered.by_component("Deployment")
    for service in SERVICES:
        container = app_container(deployments[service])
        (port,) = [p["containerPort"] for p in container["ports"] if p["name"] == "grpc"]
        # Started and alive: the process answers (`liveness`); ready: its dependencies too.
        for probe in ("startupProbe", "livenessProbe"):
            assert container[probe]["grpc"] == {"port": port, "service": "liveness"}, probe
        assert container["readinessProbe"]["grpc"] == {"port": port}, service
        opa = opa_container(deployments[service])
        assert opa is not None
        assert opa["readinessProbe"]["httpGet"]["path"] == "/health"
    gateway = app_container(deployments["gateway"])
    assert gateway["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert gateway["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert gateway["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert opa_container(deployments["gateway"]) is None


def test_services_are_reached_on_their_container_port(rendered: Rendered) -> None:
    deployments = rendered.by_component("Deployment")
    for component, service in rendered.by_component("Service").items():
        container = app_container(deployments[component])
        named = {p["name"]: p["containerPort"] for p in container["ports"]}
        ports = service["spec"]["ports"]
        assert [port["name"] for port in ports] == [ports[0]["targetPort"], "metrics"]
        assert service["spec"]["selector"].items() <= _pod_labels(deployments[component]).items()
        for port in ports:
            assert port["targetPort"] in named, component
            if component == "gateway":
                assert service["spec"].get("clusterIP") != "None"  # behind the Ingress
            else:
                # Headless, so callers balance over the pods; they dial the pod's IP on the
                # Service's port, which must then be the container's.
                assert service["spec"]["clusterIP"] == "None", component
                assert port["port"] == named[port["targetPort"]], component


def test_migrations_run_as_hook_jobs_before_the_services(rendered: Rendered) -> None:
    deployments = rendered.by_component("Deployment")
    for service in SERVICES:
        job = rendered.get("Job", f"{resource_name(service)}-migrate")
        annotations = job["metadata"]["annotations"]
        assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
        assert "before-hook-creation" in annotations["helm.sh/hook-delete-policy"]
        container = app_container(job)
        assert container["args"] == ["migrate", service]
        assert container["image"] == app_container(deployments[service])["image"]
        assert pod_spec(job)["restartPolicy"] == "Never"
        config = rendered.get("ConfigMap", resource_name(service))["data"]
        assert config["SALESGUARD_MIGRATE_ON_START"] == "false"


def _job_names(component: str) -> set[str]:
    """The jobs a service's code declares (what `salesguard job --list` shows)."""
    return {job.name for job in component_app(component).jobs}


def test_every_job_of_the_code_has_a_cronjob_like_its_service(rendered: Rendered) -> None:
    deployments = rendered.by_component("Deployment")
    declared = {name for service in SERVICES for name in _job_names(service)}
    assert "customers.contact-reads-retention" in declared, "the code reading went wrong"
    scheduled = set()
    for cron in rendered.of_kind("CronJob"):
        name = cron["metadata"]["name"]
        spec = cron["spec"]
        assert spec["concurrencyPolicy"] == "Forbid", name
        assert len(name) <= 52, f"{name}: Kubernetes appends 11 characters per run"
        container = app_container(cron)
        command, job = container["args"]
        assert command == "job"
        assert job in declared, f"{name} runs {job}, which no service declares"
        scheduled.add(job)
        service = salesguard_component(container)
        deployment = deployments[service]
        served = app_container(deployment)
        # The service's image, settings and hardening; its labels, but not its selector's
        # component: the service's Service must never route calls to a job's pod.
        assert container["image"] == served["image"], name
        assert container["envFrom"] == served["envFrom"], name
        assert container["securityContext"] == served["securityContext"], name
        assert pod_spec(cron)["securityContext"] == pod_spec(deployment)["securityContext"]
        assert pod_spec(cron)["restartPolicy"] == "Never"
        labels = pod_template(cron)["metadata"]["labels"]
        assert labels["app.kubernetes.io/component"] == f"{service}-jobs", name
        selector = rendered.get("Service", resource_name(service))["spec"]["selector"]
        assert not selector.items() <= labels.items(), f"{resource_name(service)} selects {name}"
        # Decisions come from an OPA sidecar that ends with the job: a native sidecar.
        opa = opa_container(cron)
        assert opa is not None and opa in pod_spec(cron)["initContainers"], name
        assert opa["restartPolicy"] == "Always"
        assert opa["startupProbe"]["httpGet"]["path"] == "/health"
        assert opa["image"] == opa_container(deployment)["image"]  # type: ignore[index]
    assert scheduled == declared


def test_jobs_can_be_switched_off_and_their_names_are_checked() -> None:
    assert render(set_values={"jobs.enabled": "false"}).of_kind("CronJob") == []
    off = render(set_values={"jobs.schedules.contactReadsRetention.enabled": "false"})
    assert "customers.contact-reads-retention" not in {
        app_container(cron)["args"][1] for cron in off.of_kind("CronJob")
    }
    without_customers = render(set_values={"components.customers.enabled": "false"})
    assert without_customers.by_component("CronJob").get("customers-jobs") is None
    # A name no service declares, misspelled or of a service without jobs, never renders.
    for name in ("Not A Job", "orders.reconcilation", "gateway.sweep"):
        with pytest.raises(HelmError, match="schema"):
            render(
                set_values={
                    "jobs.schedules.sweep.job": name,
                    "jobs.schedules.sweep.schedule": "0 * * * *",
                }
            )


def test_the_schema_names_exactly_the_jobs_of_the_code() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    names = schema["definitions"]["jobSchedule"]["properties"]["job"]["enum"]
    assert set(names) == {name for service in SERVICES for name in _job_names(service)}
    assert names == sorted(names)


def test_nothing_reaches_job_pods_and_they_reach_what_their_service_does() -> None:
    rendered = render(PRODUCTION_VALUES)
    policies = rendered.by_component("NetworkPolicy")
    for cron in rendered.of_kind("CronJob"):
        service = salesguard_component(app_container(cron))
        policy = policies[f"{service}-jobs"]["spec"]
        selector = policy["podSelector"]["matchLabels"]
        assert selector.items() <= pod_template(cron)["metadata"]["labels"].items()
        assert policy["ingress"] == []
        served = policies[service]["spec"]["egress"]
        # DNS, the peers the service calls and its database; not the object store.
        assert all(rule in served for rule in policy["egress"]), service
        assert len(served) - len(policy["egress"]) == 1, service


def test_without_migration_jobs_the_services_migrate_on_start() -> None:
    rendered = render(set_values={"migrations.enabled": "false"})
    assert rendered.of_kind("Job") == []
    for service in SERVICES:
        config = rendered.get("ConfigMap", resource_name(service))["data"]
        assert config["SALESGUARD_MIGRATE_ON_START"] == "true"


def test_autoscalers_and_budgets_target_their_deployment() -> None:
    rendered = render(PRODUCTION_VALUES)
    deployments = {d["metadata"]["name"]: d for d in rendered.of_kind("Deployment")}
    autoscaled = set()
    for hpa in rendered.of_kind("HorizontalPodAutoscaler"):
        target = hpa["spec"]["scaleTargetRef"]
        assert target["kind"] == "Deployment"
        assert target["name"] in deployments
        assert "replicas" not in deployments[target["name"]]["spec"], "the HPA owns replicas"
        autoscaled.add(target["name"])
    assert autoscaled == {resource_name(c) for c in ("customers", "attendance", "gateway")}
    for pdb in rendered.of_kind("PodDisruptionBudget"):
        selector = pdb["spec"]["selector"]["matchLabels"]
        selected = [d for d in deployments.values() if selector.items() <= _pod_labels(d).items()]
        assert len(selected) == 1, pdb["metadata"]["name"]


def test_the_ingress_sends_graphql_downloads_and_the_console_to_the_gateway() -> None:
    rendered = render(PRODUCTION_VALUES)
    (ingress,) = rendered.of_kind("Ingress")
    (rule,) = ingress["spec"]["rules"]
    paths = rule["http"]["paths"]
    assert [path["path"] for path in paths] == ["/graphql", "/downloads", "/console"]
    for path in paths:
        backend = path["backend"]["service"]
        gateway = rendered.get("Service", backend["name"])
        assert backend["port"]["name"] in {p["name"] for p in gateway["spec"]["ports"]}
    assert ingress["spec"]["tls"][0]["hosts"] == [rule["host"]]
    # Export download links point at the Ingress's host.
    for component in (*SERVICES, "gateway"):
        config = rendered.get("ConfigMap", resource_name(component))["data"]
        assert config["SALESGUARD_PUBLIC_URL"] == f"https://{rule['host']}"


def test_public_url_is_set_or_left_to_the_default() -> None:
    config = render(set_values={"publicUrl": "https://api.example.com/"}).get(
        "ConfigMap", resource_name("customers")
    )["data"]
    assert config["SALESGUARD_PUBLIC_URL"] == "https://api.example.com"
    default = render().get("ConfigMap", resource_name("commissions"))["data"]
    assert "SALESGUARD_PUBLIC_URL" not in default  # the code's default: a port-forward


def test_an_httproute_can_expose_the_gateway_instead() -> None:
    rendered = render(
        set_values={
            "httpRoute.enabled": "true",
            "httpRoute.parentRefs[0].name": "public",
            "httpRoute.parentRefs[0].namespace": "gateways",
            "httpRoute.hostnames[0]": "salesguard.example.com",
        }
    )
    (route,) = rendered.of_kind("HTTPRoute")
    assert route["apiVersion"] == "gateway.networking.k8s.io/v1"
    (rule,) = route["spec"]["rules"]
    assert [match["path"]["value"] for match in rule["matches"]] == [
        "/graphql",
        "/downloads",
        "/console",
    ]
    assert (
        rendered.get("ConfigMap", resource_name("customers"))["data"]["SALESGUARD_PUBLIC_URL"]
        == "https://salesguard.example.com"
    )
    (backend,) = rule["backendRefs"]
    gateway = rendered.get("Service", backend["name"])
    assert backend["port"] == gateway["spec"]["ports"][0]["port"]
    with pytest.raises(HelmError, match="parentRefs"):
        render(set_values={"httpRoute.enabled": "true"})


@pytest.mark.parametrize(
    ("override", "complaint"),
    [
        ("components.customers.replicas=abc", "replicas"),
        ("components.gateway.port=http", "port"),
        ("opa.decisionLogs.console=maybe", "console"),
        ("environment=staging", "environment"),
        ("components.customers.replica=3", "replica"),
        ("components.orders.settings.max_order_lines=5", "max_order_lines"),
    ],
)
def test_the_schema_rejects_wrong_values(override: str, complaint: str) -> None:
    for command in (["template", "salesguard"], ["lint", "--strict"]):
        with pytest.raises(HelmError, match=complaint) as raised:
            helm(*command, str(CHART), "--set", override)
        assert "schema" in str(raised.value).lower(), raised.value


@pytest.mark.parametrize(
    "logs", [{"opa.decisionLogs.console": "true"}, {"opa.decisionLogs.serviceUrl": "https://d"}]
)
def test_with_decision_logs_every_decision_reaches_opa(logs: dict[str, str]) -> None:
    """A decision the service kept would be missing from OPA's decision log (the audit trail)."""
    for values, cached in ((logs, "0"), ({}, None)):
        rendered = render(set_values=values)
        for service in SERVICES:
            config = rendered.get("ConfigMap", resource_name(service))["data"]
            assert config.get("SALESGUARD_POLICY_DECISION_CACHE_SECONDS") == cached, service


def test_a_setting_the_chart_manages_cannot_be_overridden_by_settings() -> None:
    with pytest.raises(HelmError, match="SALESGUARD_GRPC_PORT is set by the chart"):
        render(set_values={"components.customers.settings.grpcPort": "6000"})
    with pytest.raises(HelmError, match="a secret belongs in the Secret"):
        render(set_values={"components.orders.settings.internalSecret": "hunter2"})


def test_pods_roll_when_the_policies_change(tmp_path: Path) -> None:
    """checksum/policies changes with any policy file, so `helm upgrade` rolls the services."""
    copy = tmp_path / "salesguard"
    shutil.copytree(CHART, copy, symlinks=False)  # the policies link becomes real files
    before = render(chart=copy, cached=False)
    rego = copy / "policies" / "salesguard" / "authz" / "authz.rego"
    rego.write_text(rego.read_text() + "\n# a comment is a change too\n")
    after = render(chart=copy, cached=False)
    for component in COMPONENTS:
        old = _pod_annotations(before.get("Deployment", resource_name(component)))
        new = _pod_annotations(after.get("Deployment", resource_name(component)))
        assert old["checksum/config"] == new["checksum/config"], component
        if component == "gateway":
            assert "checksum/policies" not in new
        else:
            assert old["checksum/policies"] != new["checksum/policies"], component


def test_pods_roll_when_their_settings_change() -> None:
    before = render().get("Deployment", resource_name("attendance"))
    after = render(set_values={"components.attendance.settings.geofenceRadiusM": "250"}).get(
        "Deployment", resource_name("attendance")
    )
    assert _pod_annotations(before)["checksum/config"] != _pod_annotations(after)["checksum/config"]


def _pod_labels(workload: Manifest) -> dict[str, str]:
    return dict(workload["spec"]["template"]["metadata"]["labels"])


def _pod_annotations(workload: Manifest) -> dict[str, str]:
    return dict(workload["spec"]["template"]["metadata"]["annotations"])


# Maps whose keys Kubernetes defines (label and annotation names), not the chart.
FOREIGN_KEYS_UNDER = {"matchLabels", "annotations", "podAnnotations", "nodeSelector"}


def test_values_are_documented_field_by_field() -> None:
    """Each key of values.yaml is camelCase and has a comment above it starting with its name."""
    ancestors: list[tuple[int, str]] = []
    comment: list[str] = []
    problems = []
    for number, line in enumerate((CHART / "values.yaml").read_text().splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith("#"):
            comment.append(stripped.lstrip("#").strip())
            continue
        if not stripped:
            comment = []
            continue
        key_match = re.match(r"^(\s*)([^\s#:-][^:]*):(\s|$)", line)
        if key_match is None:  # a list item or a continued value
            comment = []
            continue
        indent, key = len(key_match.group(1)), key_match.group(2)
        ancestors = [(i, k) for i, k in ancestors if i < indent]
        foreign = any(k in FOREIGN_KEYS_UNDER for _, k in ancestors)
        if not foreign and not re.fullmatch(r"[a-z][a-zA-Z0-9]*", key):
            problems.append(f"line {number}: {key} is not camelCase")
        if not comment or comment[0].split()[0] != key:
            problems.append(f"line {number}: {key} has no comment starting with its name")
        ancestors.append((indent, key))
        comment = []
    assert not problems, "\n".join(problems)
