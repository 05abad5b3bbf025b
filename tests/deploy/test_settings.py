"""What the chart sets is what the code reads, and what the code needs is set.

Every container that runs ``salesguard`` gets its environment resolved as the kubelet
would (ConfigMap, then env entries; made-up values for Secret references) and read by
its component's own settings class through the entry point ``salesguard serve`` uses:
an unknown SALESGUARD_* variable, a bad value, or a missing required setting (the
full profile's database and OPA, production's secrets) fails here, not in a pod.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from pydantic import SecretStr

from salesguard.objectstore import S3ObjectStore, object_store_from_settings
from salesguard.settings import Environment, Profile, Settings
from tests.deploy.chart import (
    COMPONENTS,
    ENV_PREFIX,
    PRODUCTION_VALUES,
    REPO,
    SERVICES,
    Manifest,
    Rendered,
    app_container,
    component_package_dir,
    container_env,
    load_component_settings,
    opa_container,
    render,
    resource_name,
    salesguard_component,
    secret_refs,
    setting_names,
    values,
)

VARIANTS = {"default": (), "production": (PRODUCTION_VALUES,)}
# Where the containers must listen for the kubelet and the other pods to reach them.
ALL_INTERFACES = "0.0.0.0"  # noqa: S104


def _args(annotation: Any) -> tuple[Any, ...]:
    return (annotation, *getattr(annotation, "__args__", ()))


# Settings whose value is a secret: only ever from a Secret, never a literal.
SECRET_SETTINGS = {
    "SALESGUARD_DATABASE_URL",
    *(
        f"{ENV_PREFIX}{name.upper()}"
        for name, field in Settings.model_fields.items()
        if field.annotation is not None and SecretStr in _args(field.annotation)
    ),
}


OBJECT_STORE_SECRETS = {"SALESGUARD_S3_ACCESS_KEY", "SALESGUARD_S3_SECRET_KEY"}


def secrets_needed(settings: Settings) -> set[str]:
    """The secret variables a component's code reads with these settings."""
    used = set(settings.secrets_used)
    if settings.jwks_url:
        used.discard("jwt_secret")  # tokens are checked against the JWKS instead
    return {f"{ENV_PREFIX}{name.upper()}" for name in used}


@pytest.fixture(params=sorted(VARIANTS))
def variant(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _salesguard_containers(rendered: Rendered) -> list[tuple[str, Manifest, dict[str, Any]]]:
    """(component, workload, container) for every container that runs `salesguard`."""
    found = []
    for workload in rendered.workloads():
        container = app_container(workload)
        found.append((salesguard_component(container), workload, container))
    return found


def test_every_variable_the_chart_sets_is_a_setting_of_that_component(variant: str) -> None:
    rendered = render(*VARIANTS[variant])
    checked = set()
    for component, workload, container in _salesguard_containers(rendered):
        env = container_env(rendered, container)
        settings = load_component_settings(component, env)
        known = setting_names(type(settings))
        # The OTEL_* variables are OpenTelemetry's (tests/deploy/test_telemetry_chart.py).
        unknown = sorted({name for name in env if name.startswith(ENV_PREFIX)} - known)
        assert not unknown, f"{workload['metadata']['name']} sets {unknown}, which no setting reads"
        checked.add(component)
    assert checked == set(COMPONENTS)


def test_the_full_profile_and_production_get_everything_they_require(variant: str) -> None:
    rendered = render(*VARIANTS[variant])
    for component, workload, container in _salesguard_containers(rendered):
        name = workload["metadata"]["name"]
        env = container_env(rendered, container)
        # Reading them runs the checks the process runs at start-up: the full profile's
        # database and OPA, production's refusal of the dev secrets, the keys' shape.
        settings = load_component_settings(component, env)
        assert settings.profile is Profile.FULL, name
        assert settings.environment is Environment.PRODUCTION, name
        for secret in secrets_needed(settings):
            assert secret in secret_refs(container), f"{name}: {secret} must come from a Secret"
        if component == "gateway":
            continue
        assert settings.database_url is not None, name
        assert settings.database_url_for(component).startswith("postgresql+asyncpg://")
        assert settings.opa_url == "http://127.0.0.1:8181", name
        if workload["kind"] == "Deployment":
            # The object store is complete: S3, credentials included.
            assert isinstance(object_store_from_settings(settings), S3ObjectStore), name
        else:
            assert "SALESGUARD_S3_SECRET_KEY" not in env, "migrations and jobs need no object store"


def test_secrets_only_come_from_secret_references(variant: str) -> None:
    assert {
        "SALESGUARD_INTERNAL_SECRET",
        "SALESGUARD_FIELD_ENCRYPTION_KEY",
        "SALESGUARD_BLIND_INDEX_KEY",
        "SALESGUARD_AUDIT_CHAIN_KEY",
        "SALESGUARD_JWT_SECRET",
        "SALESGUARD_S3_SECRET_KEY",
    } <= SECRET_SETTINGS, "the settings' secret fields were not found"
    rendered = render(*VARIANTS[variant])
    for component, workload, container in _salesguard_containers(rendered):
        refs = secret_refs(container)
        literal = {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}
        for config_map in container.get("envFrom", []):
            data = rendered.get("ConfigMap", config_map["configMapRef"]["name"]).get("data", {})
            literal.update(data)
        for secret in SECRET_SETTINGS:
            assert secret not in literal, (workload["metadata"]["name"], secret)
        for name, ref in refs.items():
            assert name in SECRET_SETTINGS, f"{component}: {name} needs no Secret"
            assert ref["name"] and ref["key"]
        # Least privilege: a pod holds exactly the keys its code uses, no other.
        settings = load_component_settings(component, container_env(rendered, container))
        keys = set(refs) - {"SALESGUARD_DATABASE_URL", *OBJECT_STORE_SECRETS}
        assert keys == secrets_needed(settings), workload["metadata"]["name"]


@pytest.mark.parametrize(
    "secret", ["SALESGUARD_FIELD_ENCRYPTION_KEY", "SALESGUARD_AUDIT_CHAIN_KEY"]
)
def test_the_contact_field_and_audit_chain_keys_reach_customers_only(
    variant: str, secret: str
) -> None:
    rendered = render(*VARIANTS[variant])
    holders = {
        component
        for component, _, container in _salesguard_containers(rendered)
        if secret in secret_refs(container)
    }
    assert holders == {"customers"}


def test_the_gateway_verifies_tokens_as_configured(tmp_path: Path) -> None:
    from salesguard_gateway.app import create_app
    from salesguard_gateway.settings import GatewaySettings

    production = render(PRODUCTION_VALUES)
    gateway = app_container(production.get("Deployment", resource_name("gateway")))
    settings = load_component_settings("gateway", container_env(production, gateway))
    assert isinstance(settings, GatewaySettings)
    assert settings.jwks_url == values(PRODUCTION_VALUES)["auth"]["jwksUrl"]
    assert "SALESGUARD_JWT_SECRET" not in secret_refs(gateway)
    # The app builds with these settings (token verifier, object store, schema limits).
    create_app(settings.model_copy(update={"data_dir": tmp_path}))

    default = render()
    gateway = app_container(default.get("Deployment", resource_name("gateway")))
    assert "SALESGUARD_JWT_SECRET" in secret_refs(gateway), "HS256 needs the secret"


def test_ports_and_addresses_agree(variant: str) -> None:
    rendered = render(*VARIANTS[variant])
    services = rendered.by_component("Service")
    for component, workload, container in _salesguard_containers(rendered):
        if workload["kind"] != "Deployment":
            continue
        settings: Any = load_component_settings(component, container_env(rendered, container))
        (port,) = [p for p in container["ports"] if p["name"] != "metrics"]
        # Where the code listens (Settings.listen_address, what `serve` binds): every
        # interface, at the container's port, whatever its own address's DNS name says.
        assert settings.listen_address(component) == (ALL_INTERFACES, port["containerPort"])
        if component != "gateway":
            opa = opa_container(workload)
            assert opa is not None
            opa_url = urlsplit(settings.opa_url)
            assert f"--addr={opa_url.hostname}:{opa_url.port}" in opa["args"]
        for peer in SERVICES:
            variable = f"SALESGUARD_{peer.upper()}_ADDRESS"
            if variable not in container_env(rendered, container):
                continue
            host, _, peer_port = getattr(settings, f"{peer}_address").rpartition(":")
            assert host == services[peer]["metadata"]["name"], (component, peer)
            assert int(peer_port) == services[peer]["spec"]["ports"][0]["port"], (component, peer)


def test_dev_environment_needs_no_crypto_keys() -> None:
    """skaffold's dev profile: the code's dev keys stand in when the Secret lacks them."""
    rendered = render(set_values={"environment": "dev"})
    for component, workload, container in _salesguard_containers(rendered):
        refs = secret_refs(container)
        settings_class = type(
            load_component_settings(component, container_env(rendered, container))
        )
        for name in secrets_needed(settings_class()):
            assert refs[name].get("optional") is True, (workload["metadata"]["name"], name)
        if component != "gateway":
            assert refs["SALESGUARD_DATABASE_URL"].get("optional") is not True
        # The Secret holds only what must be set: the database URL and S3 credentials.
        optional = {name for name, ref in refs.items() if ref.get("optional")}
        env = container_env(rendered, container)
        settings = load_component_settings(
            component, {k: v for k, v in env.items() if k not in optional}
        )
        assert settings.environment is Environment.DEV


# ── the network: who calls whom, read from the code ─────────────────────────────


def _literal_channels(path: Path) -> set[str]:
    """Services a module opens a channel to: `….channel("customers")` calls."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "channel"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.add(node.args[0].value)
    return found


def _imported_modules(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def code_calls(component: str, settings: Settings) -> set[str]:
    """The services a component calls: channels its package opens, channels opened by the
    shared modules it imports (salesguard.directory → attendance), and the services its
    settings name (`*_sources`: the alert sources it asks)."""
    shared = REPO / "shared" / "src" / "salesguard"
    shared_channels = {
        f"salesguard.{path.stem}": _literal_channels(path) for path in shared.glob("*.py")
    }
    calls: set[str] = set()
    for path in component_package_dir(component).rglob("*.py"):
        calls |= _literal_channels(path)
        for module in _imported_modules(path):
            calls |= shared_channels.get(module, set())
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if name.endswith("_sources") and isinstance(value, tuple):
            calls |= {source for source in value if source in SERVICES}
    return calls - {component}


def _policy_peers(rules: list[dict[str, Any]], direction: str) -> set[str]:
    peers = set()
    for rule in rules:
        for peer in rule.get(direction, []):
            component = (
                peer.get("podSelector", {})
                .get("matchLabels", {})
                .get("app.kubernetes.io/component")
            )
            if component and "namespaceSelector" not in peer:
                peers.add(component)
    return peers


def test_network_policies_follow_the_calls_in_the_code(variant: str) -> None:
    rendered = render(*VARIANTS[variant])
    policies = rendered.by_component("NetworkPolicy")
    deployments = rendered.by_component("Deployment")
    calls = {}
    for component in COMPONENTS:
        env = container_env(rendered, app_container(deployments[component]))
        calls[component] = code_calls(component, load_component_settings(component, env))
    assert calls["attendance"] >= {"customers"}, "the code reading went wrong"
    for component in COMPONENTS:
        egress = _policy_peers(policies[component]["spec"]["egress"], "to")
        if component == "gateway":
            assert egress >= calls[component], (
                f"the gateway cannot reach {calls[component] - egress}"
            )
            assert egress <= set(SERVICES)
        else:
            assert egress == calls[component], (
                f"{component} may reach {egress}, calls {calls[component]}"
            )
    for service in SERVICES:
        ingress_rules = policies[service]["spec"]["ingress"]
        callers = {c for c in COMPONENTS if service in calls[c]} | {"gateway"}
        assert _policy_peers(ingress_rules, "from") == callers, service
        for rule in ingress_rules:
            assert rule.get("from"), f"{service}: an ingress rule without `from` admits anyone"
            assert all(
                "podSelector" in peer and "namespaceSelector" not in peer for peer in rule["from"]
            )
            port = app_container(deployments[service])["ports"][0]["containerPort"]
            assert [p["port"] for p in rule["ports"]] == [port], "only the gRPC port is open"


def test_each_service_reaches_only_its_own_database() -> None:
    chart_values = values(PRODUCTION_VALUES)
    rendered = render(PRODUCTION_VALUES)
    policies = rendered.by_component("NetworkPolicy")
    databases = {
        service: chart_values["components"][service]["database"]["egress"] for service in SERVICES
    }
    assert len({d["cidr"] for d in databases.values()}) == len(SERVICES)
    jobs = {f"{s}-jobs" for s in SERVICES} & set(policies)
    assert jobs, "no job pods rendered"
    for component in (*COMPONENTS, *(f"{s}-migrations" for s in SERVICES), *jobs):
        reached = {
            peer["ipBlock"]["cidr"]
            for rule in policies[component]["spec"]["egress"]
            for peer in rule.get("to", [])
            if "ipBlock" in peer and any(p["port"] == 5432 for p in rule["ports"])
        }
        own = component.removesuffix("-migrations").removesuffix("-jobs")
        expected = {databases[own]["cidr"]} if own in databases else set()
        assert reached == expected, component


def test_nothing_reaches_opa(variant: str) -> None:
    rendered = render(*VARIANTS[variant])
    opa_port = values(*VARIANTS[variant])["opa"]["port"]
    for deployment in rendered.of_kind("Deployment"):
        opa = opa_container(deployment)
        if opa is None:
            continue
        assert f"--addr=127.0.0.1:{opa_port}" in opa["args"], "OPA listens on loopback only"
        assert "ports" not in opa, "no OPA port is declared"
    for service in rendered.of_kind("Service"):
        assert opa_port not in {p["port"] for p in service["spec"]["ports"]}
    for policy in rendered.of_kind("NetworkPolicy"):
        for rule in policy["spec"].get("ingress", []):
            assert opa_port not in {p["port"] for p in rule["ports"]}
