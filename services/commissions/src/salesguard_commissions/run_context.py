"""What one commission run loads once and every branch of it shares."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from salesguard_api.commissions.v1 import commissions_pb2 as pb
from salesguard_api.orders.v1 import payments_pb2
from salesguard_commissions.rules.periods import Period
from salesguard_commissions.rules.rates import PlanTerms
from salesguard_commissions.rules.withholding import Withholding


@dataclass
class RunContext:
    period: Period
    plan: PlanTerms
    withholding: Withholding
    teams: dict[str, str | None] = field(default_factory=dict)
    # Registered source by customer (None: unknown to the registry), for this run only.
    sources: dict[str, str | None] = field(default_factory=dict)
    # [from, to) covering every branch's reversal window, and the reversals in it (oldest
    # first, every branch's): streamed once per run, when the first branch needs them.
    reversal_window: tuple[datetime, datetime] | None = None
    reversals: list[payments_pb2.PaymentReversal] | None = None
    # What the run did, branch by branch: its summaries, the branches whose lines changed
    # and those left alone because their period is locked.
    summaries: list[pb.PeriodSummary] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    locked: list[str] = field(default_factory=list)
