"""The identity a service trusts, and configuration that fails fast with the setting's name."""

from __future__ import annotations

import base64
import time

import pytest

from salesguard.errors import Unauthenticated
from salesguard.principal import (
    SIGNATURE_KEY,
    Principal,
    principal_from_metadata,
    principal_metadata,
)
from salesguard.settings import DEV_JWT_SECRET, DEV_SECRETS, Settings, SettingsError, load
from salesguard_attendance.settings import AttendanceSettings
from salesguard_commissions.settings import CommissionsSettings
from salesguard_customers.settings import CustomersSettings
from salesguard_gateway.settings import GatewaySettings
from salesguard_orders.settings import OrdersSettings

SECRET = b"test-internal-secret"


def test_signed_principal_round_trips() -> None:
    principal = Principal("e-1", ("SALES_SENIOR",), "t-1", "b-1", hq=False)
    assert principal_from_metadata(principal_metadata(principal, SECRET), SECRET) == principal


def test_tampered_principal_is_refused() -> None:
    metadata = dict(principal_metadata(Principal("e-1", ("SALES_JUNIOR",)), SECRET))
    forged = Principal("e-1", ("MANAGER",)).to_proto().SerializeToString()
    metadata["x-salesguard-principal-bin"] = forged
    with pytest.raises(Unauthenticated, match="invalid"):
        principal_from_metadata(list(metadata.items()), SECRET)


def test_principal_signed_with_another_secret_or_too_old_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    metadata = principal_metadata(Principal("e-1", ("HR",)), b"other-secret")
    with pytest.raises(Unauthenticated):
        principal_from_metadata(metadata, SECRET)
    issued = principal_metadata(Principal("e-1", ("HR",)), SECRET)
    monkeypatch.setattr(time, "time", lambda: 10_000_000_000.0)
    with pytest.raises(Unauthenticated, match="expired"):
        principal_from_metadata(issued, SECRET)


def test_call_without_principal_is_refused() -> None:
    with pytest.raises(Unauthenticated):
        principal_from_metadata([(SIGNATURE_KEY, "1.x")], SECRET)


def test_full_profile_names_the_missing_setting() -> None:
    with pytest.raises(SettingsError, match="SALESGUARD_DATABASE_URL"):
        load(Settings, profile="full", opa_url="http://127.0.0.1:8181")


REAL_SECRETS = {
    "internal_secret": "a-real-internal-secret",
    "jwt_secret": "a-real-jwt-secret-that-is-long-enough",
    "field_encryption_key": base64.b64encode(b"a-real-field-key-of-32-bytes!!!!").decode(),
    "blind_index_key": base64.b64encode(b"a-real-blind-index-key-32-bytes!").decode(),
    "audit_chain_key": base64.b64encode(b"a-real-audit-chain-key-32-bytes!").decode(),
}
COMPONENT_SETTINGS: dict[str, type[Settings]] = {
    "customers": CustomersSettings,
    "attendance": AttendanceSettings,
    "orders": OrdersSettings,
    "commissions": CommissionsSettings,
    "gateway": GatewaySettings,
}


def test_each_component_uses_only_the_secrets_it_needs() -> None:
    used = {name: sorted(cls.secrets_used) for name, cls in COMPONENT_SETTINGS.items()}
    assert used == {
        "customers": [
            "audit_chain_key",
            "blind_index_key",
            "field_encryption_key",
            "internal_secret",
        ],
        "attendance": ["blind_index_key", "internal_secret"],
        "orders": ["internal_secret"],
        "commissions": ["internal_secret"],
        "gateway": ["internal_secret", "jwt_secret"],
    }


@pytest.mark.parametrize("component", sorted(COMPONENT_SETTINGS))
def test_production_refuses_each_dev_secret_a_component_uses(component: str) -> None:
    settings_class = COMPONENT_SETTINGS[component]
    load(settings_class, environment="production", **REAL_SECRETS)  # real ones start
    for name in sorted(settings_class.secrets_used):
        with pytest.raises(SettingsError, match=f"SALESGUARD_{name.upper()} still holds the dev"):
            load(
                settings_class,
                environment="production",
                **{**REAL_SECRETS, name: DEV_SECRETS[name]},
            )
    # A key the component never reads is not its concern (nor mounted in its pod).
    unused = {
        name: DEV_SECRETS[name] for name in DEV_SECRETS if name not in settings_class.secrets_used
    }
    load(settings_class, environment="production", **{**REAL_SECRETS, **unused})


def test_with_a_jwks_url_the_gateway_needs_no_jwt_secret() -> None:
    real = {**REAL_SECRETS, "environment": "production"}
    with pytest.raises(SettingsError, match="SALESGUARD_JWKS_URL"):
        load(GatewaySettings, **{**real, "jwt_secret": ""})
    settings = load(GatewaySettings, **{**real, "jwt_secret": ""}, jwks_url="https://idp/jwks")
    assert settings.jwt_secret is None  # an empty value means none
    # The dev secret is never used when tokens are checked against the JWKS.
    load(GatewaySettings, **{**real, "jwt_secret": DEV_JWT_SECRET}, jwks_url="https://idp/jwks")


def test_malformed_encryption_key_is_named() -> None:
    with pytest.raises(SettingsError, match="SALESGUARD_FIELD_ENCRYPTION_KEY"):
        load(CustomersSettings, field_encryption_key="too-short")
