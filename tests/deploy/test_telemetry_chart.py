"""The chart wires what operators watch: the metrics port of every component (annotations,
Services, an optional ServiceMonitor, the NetworkPolicy that lets the scrapers in) and the
standard OTEL_* variables, read by the same code the containers run."""

from __future__ import annotations

from typing import Any

import pytest

from salesguard.telemetry import telemetry_config
from tests.deploy.chart import (
    COMPONENTS,
    PRODUCTION_VALUES,
    HelmError,
    Rendered,
    app_container,
    container_env,
    load_component_settings,
    pod_template,
    render,
    salesguard_component,
    values,
)

VARIANTS = {"default": (), "production": (PRODUCTION_VALUES,)}


def _deployments(rendered: Rendered) -> dict[str, dict[str, Any]]:
    return rendered.by_component("Deployment")


def _labels_match(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    if not selector.get("matchLabels", {}).items() <= labels.items():
        return False
    for expression in selector.get("matchExpressions", []):
        assert expression["operator"] == "In"
        if labels.get(expression["key"]) not in expression["values"]:
            return False
    return True


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_component_serves_metrics_where_prometheus_looks(variant: str) -> None:
    rendered = render(*VARIANTS[variant])
    port = values(*VARIANTS[variant])["metrics"]["port"]
    services = rendered.by_component("Service")
    for component, deployment in _deployments(rendered).items():
        container = app_container(deployment)
        named = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert named["metrics"] == port, component
        # The process serves /metrics there: the setting, read as the container reads it.
        settings = load_component_settings(component, container_env(rendered, container))
        assert settings.metrics_port == port, component
        annotations = pod_template(deployment)["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true"
        assert annotations["prometheus.io/port"] == str(port)
        assert annotations["prometheus.io/path"] == "/metrics"
        (metrics,) = [p for p in services[component]["spec"]["ports"] if p["name"] == "metrics"]
        assert (metrics["port"], metrics["targetPort"]) == (port, "metrics"), component


def test_without_metrics_nothing_is_opened() -> None:
    rendered = render(set_values={"metrics.enabled": "false"})
    for component, deployment in _deployments(rendered).items():
        container = app_container(deployment)
        assert "metrics" not in {p["name"] for p in container["ports"]}, component
        assert "SALESGUARD_METRICS_PORT" not in container_env(rendered, container)
        assert "prometheus.io/scrape" not in pod_template(deployment)["metadata"]["annotations"]
    assert not [doc for doc in rendered if doc["metadata"]["name"].endswith("-metrics")]


def test_a_service_monitor_scrapes_every_component_on_request() -> None:
    assert not render().of_kind("ServiceMonitor"), "off by default"
    rendered = render(PRODUCTION_VALUES)
    (monitor,) = rendered.of_kind("ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint == {"port": "metrics", "path": "/metrics", "interval": "30s"}
    selected = {
        component
        for component, service in rendered.by_component("Service").items()
        if _labels_match(monitor["spec"]["selector"], service["metadata"]["labels"])
    }
    assert selected == set(COMPONENTS)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_only_the_scrapers_reach_the_metrics_port(variant: str) -> None:
    rendered = render(*VARIANTS[variant])
    chart_values = values(*VARIANTS[variant])
    policy = rendered.get("NetworkPolicy", "salesguard-metrics")
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    (rule,) = policy["spec"]["ingress"]
    assert rule["from"] == chart_values["networkPolicy"]["metricsFrom"]
    assert rule["ports"] == [{"protocol": "TCP", "port": chart_values["metrics"]["port"]}]
    selected = {
        salesguard_component(app_container(workload))
        for workload in rendered.workloads()
        if _labels_match(
            policy["spec"]["podSelector"], pod_template(workload)["metadata"]["labels"]
        )
    }
    assert selected == set(COMPONENTS), "the components' pods, not the jobs' nor migrations'"
    closed = render(set_values={"networkPolicy.metricsFrom": "null"})
    assert "salesguard-metrics" not in {doc["metadata"]["name"] for doc in closed}


def test_the_metrics_port_cannot_take_a_port_the_pod_uses() -> None:
    for taken in ("8181", "50051", "8000"):
        with pytest.raises(HelmError, match=r"metrics\.port"):
            render(set_values={"metrics.port": taken}, cached=False)


def test_telemetry_goes_through_the_standard_variables() -> None:
    rendered = render(PRODUCTION_VALUES)
    chart_values = values(PRODUCTION_VALUES)
    endpoint = chart_values["telemetry"]["otlpEndpoint"]
    checked = set()
    for workload in rendered.workloads():
        container = app_container(workload)
        component = salesguard_component(container)
        env = container_env(rendered, container)
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == endpoint
        assert env["OTEL_TRACES_SAMPLER"] == "parentbased_traceidratio"
        assert env["OTEL_TRACES_SAMPLER_ARG"] == "0.2"
        assert "SALESGUARD_OTEL_EXPORTER_OTLP_ENDPOINT" not in env
        # What the process makes of them: traces and metrics to the collector.
        settings = load_component_settings(component, env)
        otel = {name: value for name, value in env.items() if name.startswith("OTEL_")}
        config = telemetry_config(component, settings.otel_exporter_otlp_endpoint, otel)
        assert config.traces_exporters == config.metrics_exporters == {"otlp"}
        assert config.service_name == f"salesguard-{component}"
        checked.add(component)
    assert checked == set(COMPONENTS)


@pytest.mark.parametrize(
    ("override", "complaint"),
    [
        ({"telemetry.env.SALESGUARD_LOG_LEVEL": "DEBUG"}, "OTEL_"),
        (
            {
                "telemetry.env.OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4317",
                "telemetry.otlpEndpoint": "http://y:4317",
            },
            "telemetry.otlpEndpoint",
        ),
        ({"metrics.serviceMonitor.interval": "often"}, "interval"),
    ],
)
def test_the_chart_refuses_telemetry_values_that_would_not_apply(
    override: dict[str, str], complaint: str
) -> None:
    with pytest.raises(HelmError, match=complaint):
        render(set_values=override, cached=False)
