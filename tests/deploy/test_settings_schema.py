"""A misspelled or misplaced setting in values is refused before anything is applied.

values.schema.json lists, under each component's ``settings``, exactly the keys its
settings class reads (generated from the classes: ``make chart-schema``), so ``helm lint``
and ``helm template`` refuse ``components.customers.settings.maxQueryDeph``; every key it
lists renders to the variable the code reads; and a pod given another component's setting
by hand refuses to start in production.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import SecretStr

from salesguard.settings import ENV_PREFIX, SettingsError
from tests.deploy.chart import (
    CHART,
    COMPONENTS,
    PRODUCTION_VALUES,
    HelmError,
    app_container,
    container_env,
    helm,
    load_component_settings,
    render,
    resource_name,
)
from tests.deploy.settings_schema import (
    SCHEMA,
    component_settings_classes,
    generated_schema,
    settings_key,
)

# Settings that only ever come from a Secret (the template refuses them in values).
DATABASE_URL = "databaseUrl"


def _args(annotation: Any) -> tuple[Any, ...]:
    return (annotation, *getattr(annotation, "__args__", ()))


def secret_keys(component: str) -> set[str]:
    fields = component_settings_classes()[component].model_fields
    secrets = {
        settings_key(name)
        for name, field in fields.items()
        if field.annotation is not None and SecretStr in _args(field.annotation)
    }
    return secrets | {DATABASE_URL}


def schema_keys(component: str) -> set[str]:
    schema = json.loads(SCHEMA.read_text())
    return set(schema["definitions"][f"{component}Settings"]["properties"])


def test_the_schema_is_generated_from_the_settings_classes() -> None:
    committed = json.loads(SCHEMA.read_text())
    assert committed == generated_schema(committed), (
        "values.schema.json lists other settings than the code reads: run `make chart-schema`"
    )
    for component, settings_class in component_settings_classes().items():
        expected = {settings_key(name) for name in settings_class.model_fields}
        assert schema_keys(component) == expected, component


@pytest.mark.parametrize(
    ("override", "misspelled"),
    [
        ("components.customers.settings.maxQueryDeph=3", "maxQueryDeph"),
        ("components.gateway.settings.maxQueryDeph=3", "maxQueryDeph"),
        ("components.gateway.settings.corsAllowOrigin=https://app.example.com", "corsAllowOrigin"),
        # Another component's setting would not apply either: only the gateway reads it.
        ("components.customers.settings.maxQueryDepth=3", "maxQueryDepth"),
        ("components.gateway.settings.geofenceRadiusM=250", "geofenceRadiusM"),
    ],
)
def test_helm_refuses_a_key_the_components_settings_do_not_have(
    override: str, misspelled: str
) -> None:
    for command in (["template", "salesguard"], ["lint", "--strict"]):
        with pytest.raises(HelmError, match=misspelled) as raised:
            helm(*command, str(CHART), "--set", override)
        assert "schema" in str(raised.value).lower(), raised.value


def test_a_misspelled_key_in_a_values_file_is_refused_too(tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text(
        yaml.safe_dump({"components": {"gateway": {"settings": {"corsAllowOrigin": ["x"]}}}})
    )
    with pytest.raises(HelmError, match="corsAllowOrigin"):
        helm("lint", "--strict", str(CHART), "--values", str(values))


def test_every_listed_key_renders_to_the_variable_the_code_reads(tmp_path: Path) -> None:
    """camelCase in values, upper snake case in the pod: the template's snakecase
    turns every key the schema lists back into its setting's variable (digits and
    one-letter words included)."""
    default = render()
    for component, settings_class in component_settings_classes().items():
        config = default.get("ConfigMap", resource_name(component))["data"]
        variables = {
            settings_key(name): f"{ENV_PREFIX}{name.upper()}"
            for name in settings_class.model_fields
            if settings_key(name) not in secret_keys(component)
            # The chart sets some itself (ports, OPA, addresses); the template refuses those.
            and f"{ENV_PREFIX}{name.upper()}" not in config
        }
        assert variables, component
        values = tmp_path / f"{component}.yaml"
        overrides = {key: f"value-of-{key}" for key in variables}
        values.write_text(yaml.safe_dump({"components": {component: {"settings": overrides}}}))
        data = render(values, cached=False).get("ConfigMap", resource_name(component))["data"]
        for key, variable in variables.items():
            assert data.get(variable) == f"value-of-{key}", (component, key, variable)


@pytest.mark.parametrize("component", COMPONENTS)
def test_every_secret_setting_is_refused_in_values(component: str) -> None:
    for key in sorted(secret_keys(component)):
        with pytest.raises(HelmError, match="a secret belongs in the Secret"):
            render(set_values={f"components.{component}.settings.{key}": "hunter2"})


def test_a_pod_given_another_components_setting_refuses_to_start() -> None:
    """A hand-edited manifest (or a kustomize patch) the schema never sees."""
    rendered = render(PRODUCTION_VALUES)
    customers = app_container(rendered.get("Deployment", resource_name("customers")))
    env = container_env(rendered, customers)
    load_component_settings("customers", env)  # as rendered, it starts
    with pytest.raises(SettingsError, match="SALESGUARD_MAX_QUERY_DEPTH is a setting of gateway"):
        load_component_settings("customers", {**env, "SALESGUARD_MAX_QUERY_DEPTH": "3"})
    gateway = app_container(rendered.get("Deployment", resource_name("gateway")))
    with pytest.raises(SettingsError, match="did you mean SALESGUARD_MAX_QUERY_DEPTH"):
        load_component_settings(
            "gateway", {**container_env(rendered, gateway), "SALESGUARD_MAX_QUERY_DEPH": "3"}
        )
