"""Settings of the commissions service (on top of the shared ones)."""

from __future__ import annotations

from pydantic import Field

from salesguard.settings import Settings
from salesguard_commissions.rules import rates, withholding


class CommissionsSettings(Settings):
    # The rates before any plan is stored, in percent (company channel, personal channel).
    default_company_rate_percent: str = rates.DEFAULT_COMPANY_RATE_PERCENT
    default_personal_rate_percent: str = rates.DEFAULT_PERSONAL_RATE_PERCENT
    # Alert kinds that hold a line back while open (or resolved as confirmed).
    withholding_alert_kinds: tuple[str, ...] = withholding.ALERT_KINDS
    # The services whose alerts of those kinds are asked (AlertsService.StreamAlertTargets).
    withholding_alert_sources: tuple[str, ...] = ("orders",)
    # Deadline of the streams a run reads (valid orders, reversals) and of the alert targets.
    stream_timeout_seconds: float = Field(default=1800.0, gt=0)
    # Customers looked up per GetRegisteredSources call, and the streamed orders grouped for
    # one lookup.
    facts_batch_size: int = Field(default=5000, ge=1, le=5000)
    # Registered sources a run keeps, so a customer's later orders ask no one again.
    facts_cache_size: int = Field(default=250_000, ge=1000)
    # Branches of a run handled at once, each in its own transaction (and connection to
    # this database and to orders' stream).
    branch_concurrency: int = Field(default=4, ge=1, le=16)
    # Lines written per COPY (one round trip per chunk).
    write_batch_size: int = Field(default=5000, ge=100)
    # How far back a run looks for reversals of orders paid out in locked months: a
    # reversal made after its month was locked is clawed back by the next run.
    clawback_lookback_days: int = Field(default=400, ge=31)
