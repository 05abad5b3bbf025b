from __future__ import annotations

import pytest

from gateway.tests.conftest import GatewayFactory
from salesguard.settings import SettingsError, load
from salesguard_gateway.app import service
from salesguard_gateway.settings import GatewaySettings

PRODUCTION = {
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
    with pytest.raises(SettingsError, match="SALESGUARD_JWT_SECRET still holds the dev default"):
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


async def test_health_and_readiness(make_gateway: GatewayFactory) -> None:
    gateway = await make_gateway()
    assert (await gateway.get("/healthz")).json() == {"status": "ok"}
    ready = await gateway.get("/readyz")
    assert ready.status_code == 200 and ready.json() == {"status": "ready"}
    orphan = await make_gateway(addresses={"attendance": "127.0.0.1:1"})
    assert (await orphan.get("/readyz")).status_code == 503
