"""Detection measured like a classifier: what the simulated run's alerts and risk scores say
about the reps we know are diverting.

- **recall** per scheme: the schemers with at least one alert of a kind relevant to their
  scheme (``world.RELEVANT_KINDS``) listed on or after their scheme's start day;
- **days**: the median, over caught schemers, of the days from the start to that first
  relevant alert;
- **false alerts**: alerts on employees in no scheme (honest managers too), per 100
  rep-months of honest reps, by severity (rep-months: the simulated days each honest rep
  was employed / 30.44, managers not counted in them; a rep who leaves during the run
  counts until the day before they leave, and an alert raised on them after still counts
  as false). A scheme's schemer may be a manager (``COLLUDING_MANAGER``), its accomplice
  rep then in the scheme too: neither honest;
- **AUC**: the probability that a schemer's end-of-run ``riskRanking`` score beats an
  honest rep's (ties count half); reps the ranking leaves out score 0 (a scheme's
  accomplice rep is neither). The same at the end of each simulated month, among the
  schemers whose scheme had begun by then;
- **top10**: the share of the top 10 % of reps by score (at least one) who are schemers.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from simulation.company import RELEVANT_KINDS, Scheme, World
from simulation.drive import Observed, SeenAlert

SEVERITIES = ("LOW", "MEDIUM", "HIGH", "CRITICAL")
DAYS_PER_MONTH = 30.44


@dataclass(frozen=True)
class SchemeRow:
    name: str
    schemers: int
    caught: int
    days: list[int]
    missed: list[str]

    @property
    def recall(self) -> float:
        return self.caught / self.schemers if self.schemers else math.nan

    @property
    def median_days(self) -> float:
        return float(statistics.median(self.days)) if self.days else math.nan


@dataclass(frozen=True)
class Report:
    rows: list[SchemeRow]
    overall: SchemeRow
    false_by_severity: dict[str, float]
    false_by_kind: Counter[str]
    rep_months: float
    auc: float
    top10: float
    # The AUC at the end of each simulated month (nan before any scheme had begun).
    month_end_auc: dict[date, float]

    @property
    def false_high(self) -> float:
        """False alerts of severity HIGH or worse per 100 rep-months (the target's measure)."""
        return self.false_by_severity["HIGH"] + self.false_by_severity["CRITICAL"]


def evaluate(world: World, observed: Observed) -> Report:
    by_employee: dict[str, list[SeenAlert]] = {}
    for alert in observed.alerts.values():
        if alert.employee is not None:
            by_employee.setdefault(alert.employee, []).append(alert)
    rows = []
    for scheme in Scheme:
        caught_days, missed = [], []
        injected = [s for s in world.schemes if s.scheme is scheme]
        for s in injected:
            relevant = [
                a.day
                for a in by_employee.get(s.schemer, [])
                if a.kind in RELEVANT_KINDS[scheme] and a.day >= s.start_day
            ]
            if relevant:
                caught_days.append(min(relevant) - s.start_day)
            else:
                missed.append(s.schemer)
        rows.append(SchemeRow(scheme.value, len(injected), len(caught_days), caught_days, missed))
    overall = SchemeRow(
        "overall",
        sum(r.schemers for r in rows),
        sum(r.caught for r in rows),
        [d for r in rows for d in r.days],
        [m for r in rows for m in r.missed],
    )
    # A scheme is counted on its schemer (a manager, for COLLUDING_MANAGER); its accomplice
    # rep is in it too: neither is honest, nor are their alerts false.
    schemers = {s.schemer for s in world.schemes}
    involved = set().union(*(s.involved for s in world.schemes))
    honest = [r.hr_id for r in world.reps if r.hr_id not in involved]
    rep_months = sum(world.departures.get(r, world.scale.days) for r in honest) / DAYS_PER_MONTH
    false = [
        a for a in observed.alerts.values() if a.employee is not None and a.employee not in involved
    ]
    per_severity = Counter(a.severity for a in false)
    scores = {e: observed.scores.get(e, 0.0) for e in [*sorted(schemers), *honest]}
    month_end_auc = {}
    for day, ranked in observed.month_end_scores.items():
        begun = [s.schemer for s in world.schemes if world.day(s.start_day) <= day]
        month_end_auc[day] = auc(
            [ranked.get(r, 0.0) for r in begun], [ranked.get(r, 0.0) for r in honest]
        )
    return Report(
        rows=rows,
        overall=overall,
        false_by_severity={s: 100 * per_severity[s] / rep_months for s in SEVERITIES},
        false_by_kind=Counter(f"{a.kind}/{a.severity}" for a in false),
        rep_months=rep_months,
        auc=auc([scores[r] for r in schemers], [scores[r] for r in honest]),
        top10=top_share(scores, schemers),
        month_end_auc=month_end_auc,
    )


def auc(positives: Sequence[float], negatives: Sequence[float]) -> float:
    """Mann-Whitney: the chance a positive outscores a negative, ties counting half."""
    if not positives or not negatives:
        return math.nan
    wins = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives))


def top_share(scores: dict[str, float], positives: Iterable[str], fraction: float = 0.1) -> float:
    """The share of the top ``fraction`` of ``scores`` (at least one) that are ``positives``;
    ties in score are broken by key, so the figure is deterministic."""
    ranked = sorted(scores, key=lambda key: (-scores[key], key))
    top = ranked[: max(1, math.ceil(fraction * len(ranked)))]
    wanted = set(positives)
    return sum(key in wanted for key in top) / len(top)


def _number(value: float, digits: int = 2) -> str:
    return "-" if math.isnan(value) else f"{value:.{digits}f}"


def table(world: World, observed: Observed, report: Report) -> str:
    """The printed result: the run, the schemes, the false alerts, the ranking, and the last
    line in the form issue 17 fixes."""
    scale = world.scale
    lines = [
        f"simulation: seed {world.seed}, {len(world.branches)} branches, {len(world.reps)} reps, "
        f"{len(world.customers)} customers, {scale.days} days from {world.start} "
        f"(schemes from day {scale.warmup_days}), {observed.profile} profile",
        f"played: {sum(len(d) for d in world.events.values())} events, "
        f"{observed.requests} requests, {len(observed.alerts)} alerts, {observed.seconds:.0f} s",
        "",
        f"  {'scheme':<24}{'schemers':>9}{'caught':>8}{'recall':>8}{'median days':>13}  missed",
    ]
    for row in [*report.rows, report.overall]:
        lines.append(
            f"  {row.name:<24}{row.schemers:>9}{row.caught:>8}{_number(row.recall):>8}"
            f"{_number(row.median_days, 1):>13}  {', '.join(row.missed) or '-'}"
        )
    lines += [
        "",
        f"  false alerts per 100 honest rep-months ({report.rep_months:.1f} rep-months): "
        + ", ".join(f"{s} {report.false_by_severity[s]:.1f}" for s in SEVERITIES),
        "  by kind: "
        + (", ".join(f"{k} {n}" for k, n in sorted(report.false_by_kind.items())) or "none"),
        f"  riskRanking at the end: AUC {_number(report.auc)}, top 10 % schemers {_number(report.top10)}",
        "  at each month's end: "
        + (
            ", ".join(f"{day} AUC {_number(value)}" for day, value in report.month_end_auc.items())
            or "no month ended"
        ),
        "",
        f"detection: recall {_number(report.overall.recall)} days {_number(report.overall.median_days, 1)} "
        f"false_per_100_rep_months {report.false_high:.1f} auc {_number(report.auc)} "
        f"top10 {_number(report.top10)}",
    ]
    return "\n".join(lines)
