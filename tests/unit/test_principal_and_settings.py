"""The identity a service trusts, and configuration that fails fast with the setting's name."""

from __future__ import annotations

import time

import pytest

from salesguard.errors import Unauthenticated
from salesguard.principal import (
    SIGNATURE_KEY,
    Principal,
    principal_from_metadata,
    principal_metadata,
)
from salesguard.settings import Settings, SettingsError, load

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


def test_production_refuses_dev_secrets() -> None:
    with pytest.raises(SettingsError, match="SALESGUARD_JWT_SECRET still holds the dev default"):
        load(Settings, environment="production")


def test_malformed_encryption_key_is_named() -> None:
    with pytest.raises(SettingsError, match="SALESGUARD_FIELD_ENCRYPTION_KEY"):
        load(Settings, field_encryption_key="too-short")
