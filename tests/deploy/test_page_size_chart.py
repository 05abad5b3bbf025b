"""The page sizes are every component's settings: the chart sets them for all from one value."""

from __future__ import annotations

import pytest

from tests.deploy.chart import COMPONENTS, HelmError, render, resource_name


def test_page_sizes_reach_every_component() -> None:
    rendered = render(set_values={"pageSize.max": "250", "pageSize.default": "50"})
    for component in COMPONENTS:
        data = rendered.get("ConfigMap", resource_name(component))["data"]
        assert data["SALESGUARD_MAX_PAGE_SIZE"] == "250", component
        assert data["SALESGUARD_DEFAULT_PAGE_SIZE"] == "50", component


def test_unset_page_sizes_leave_the_code_defaults() -> None:
    for component in COMPONENTS:
        data = render().get("ConfigMap", resource_name(component))["data"]
        assert "SALESGUARD_MAX_PAGE_SIZE" not in data, component


def test_one_component_cannot_differ_from_the_others() -> None:
    with pytest.raises(HelmError, match="SALESGUARD_MAX_PAGE_SIZE is set by the chart"):
        render(set_values={"pageSize.max": "250", "components.gateway.settings.maxPageSize": "300"})


def test_the_schema_refuses_a_page_size_below_one() -> None:
    with pytest.raises(HelmError, match="pageSize"):
        render(set_values={"pageSize.max": "0"})
