"""Settings of the customers service (on top of the shared ones)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from salesguard.settings import Settings


class CustomersSettings(Settings):
    # Contact fields are encrypted and indexed here.
    secrets_used: ClassVar[frozenset[str]] = frozenset(
        {"internal_secret", "field_encryption_key", "blind_index_key"}
    )
    # Phones without a country code are read as numbers of this region (E.164).
    default_phone_region: str = "CN"
    # C9: the most customers one export may hold, and how long its URL lives.
    export_max_rows: int = Field(default=10_000, ge=1)
    export_url_ttl_seconds: int = Field(default=300, ge=10, le=3600)
    # The most customers one reassignment may move.
    reassign_max_customers: int = Field(default=1_000, ge=1)
    # Registrations whose first contact lies further ahead than this are refused.
    clock_skew_seconds: int = Field(default=300, ge=0)
    # The most phone matches or follow-up marks one lookup returns; a broader
    # lookup is refused (never cut short silently): ask for fewer.
    lookup_max_rows: int = Field(default=20_000, ge=1)
    # C11: a customer without a follow-up for this long raises CUSTOMER_NEGLECTED (the
    # clock starts when the owner took the customer), goes to the branch pool this long
    # after that alert, and its previous owner may not claim it back for this long.
    neglect_days: int = Field(default=30, ge=1)
    pool_grace_days: int = Field(default=7, ge=0)
    pool_cooling_off_days: int = Field(default=30, ge=0)
