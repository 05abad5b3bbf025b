"""Settings of the customers service (on top of the shared ones)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from salesguard.settings import Settings

# The audit chain's head is checkpointed at most 60 s after any entry; a check may take part
# of that minute (the database query and the object store's write).
AUDIT_CHECKPOINT_MAX_INTERVAL = 45.0


class CustomersSettings(Settings):
    # Contact fields are encrypted and indexed here, and the audit chain is keyed here.
    secrets_used: ClassVar[frozenset[str]] = frozenset(
        {"internal_secret", "field_encryption_key", "blind_index_key", "audit_chain_key"}
    )
    # Phones without a country code are read as numbers of this region (E.164).
    default_phone_region: str = "CN"
    # Exports: the most customers one export may hold, and how long its URL lives.
    export_max_rows: int = Field(default=10_000, ge=1)
    # The most customers one reassignment may move.
    reassign_max_customers: int = Field(default=1_000, ge=1)
    # Registrations whose first contact lies further ahead than this are refused.
    # The most phone matches or follow-up marks one lookup returns; a broader
    # lookup is refused (never cut short silently): ask for fewer.
    lookup_max_rows: int = Field(default=20_000, ge=1)
    # The pool: a customer without a follow-up for this long raises CUSTOMER_NEGLECTED (the
    # clock starts when the owner took the customer), goes to the branch pool this long
    # after that alert, and its previous owner may not claim it back for this long.
    neglect_days: int = Field(default=30, ge=1)
    pool_grace_days: int = Field(default=7, ge=0)
    pool_cooling_off_days: int = Field(default=30, ge=0)
    # Audit checkpoints: how often the service looks for audit entries not yet
    # checkpointed in the object store. An entry is checkpointed within this period plus one write: at most 60 s.
    audit_checkpoint_interval_seconds: float = Field(
        default=30.0, gt=0, le=AUDIT_CHECKPOINT_MAX_INTERVAL
    )
    # How long the object store keeps a checkpoint undeletable (S3 object lock, COMPLIANCE
    # mode), where the bucket has object locking. Only the newest checkpoints matter: each
    # covers the whole chain before it.
    audit_checkpoint_retention_days: int = Field(default=365, ge=1, le=36_500)
