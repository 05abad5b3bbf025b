"""Gateway settings: defaults, the production environment, and the probes."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.tests.conftest import StartSuite
from salesguard.settings import SettingsError, load
from salesguard_gateway.app import service
from salesguard_gateway.settings import GatewaySettings
from tests.harness import Suite

PRODUCTION: dict[str, Any] = {
    "environment": "production",
    "jwt_secret": "a-production-secret-that-is-long-enough",
    "internal_secret": "another-production-secret",
    "field_encryption_key": "cHJvZHVjdGlvbi1maWVsZC1rZXktMzItYnl0ZXMhISE=",
    "blind_index_key": "cHJvZHVjdGlvbi1ibGluZC1rZXktMzItYnl0ZXMhISE=",
}


def test_defaults() -> None:
    settings = GatewaySettings()
    assert (settings.gateway_host, settings.gateway_port) == ("127.0.0.1", 8000)
    assert (settings.max_query_depth, settings.max_aliases, settings.max_page_size) == (8, 15, 100)
    assert settings.graphiql_enabled and settings.introspection_enabled


def test_production_turns_graphiql_and_introspection_off_unless_set() -> None:
    settings = GatewaySettings(**PRODUCTION)
    assert not settings.graphiql_enabled and not settings.introspection_enabled
    settings = GatewaySettings(**PRODUCTION, graphiql=True, introspection=True)
    assert settings.graphiql_enabled and settings.introspection_enabled


def test_full_profile_needs_no_database_or_policy_engine() -> None:
    assert GatewaySettings(profile="full").profile == "full"
    with pytest.raises(SettingsError, match="still holds the dev default"):
        load(GatewaySettings, profile="full", environment="production")


def test_port_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SALESGUARD_GATEWAY_PORT", "18080")
    assert service.load_settings().gateway_port == 18080


def test_bad_values_name_the_setting() -> None:
    with pytest.raises(SettingsError, match="SALESGUARD_MAX_PAGE_SIZE"):
        load(GatewaySettings, max_page_size=0)


async def test_migrate_is_a_no_op() -> None:
    await service.migrate(service.load_settings())


def test_rpc_calls_are_reported_in_dev_only() -> None:
    assert GatewaySettings().rpc_calls_reported
    assert not GatewaySettings(**PRODUCTION).rpc_calls_reported
    assert GatewaySettings(**PRODUCTION, report_rpc_calls=True).rpc_calls_reported


async def test_health_and_readiness(suite: Suite) -> None:
    assert (await suite.client.get("/healthz")).json() == {"status": "ok"}
    ready = await suite.client.get("/readyz")
    assert ready.status_code == 200 and ready.json() == {"status": "ready"}


async def test_not_ready_without_the_people_directory(start_suite: StartSuite) -> None:
    suite = await start_suite()
    await suite.running["attendance"].stop()
    # Alive, but no request could be authenticated: take it out of the load balancer.
    assert (await suite.client.get("/healthz")).json() == {"status": "ok"}
    ready = await suite.client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json() == {"status": "the people directory (attendance) is not serving"}
