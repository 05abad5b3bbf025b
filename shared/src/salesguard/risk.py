"""How an employee's alerts add up to a risk score (employeeRisk, riskRanking).

score = Σ over alert kinds of weight(kind) × Σ over that kind's standing alerts of
0.5^(age / half-life). Standing: not DISMISSED and not RESOLVED as CLEARED (judged
false); a CONFIRMED alert keeps counting, it is the strongest evidence there is.
The weights, the half-life, the lookback window, the number of evidence items
and the LOW/MEDIUM/HIGH bands are policy data (``thresholds.risk``), so a
security team tunes them without a release. Each service reads them, computes
the decay in its one GROUP BY and hands the model on with its summary
(``SummarizeAlertsResponse.risk_model``); the gateway combines the sources here.
"""

from __future__ import annotations

import heapq
import math
import operator
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from salesguard_api.common.v1 import common_pb2

DAY = 86_400
# Ages beyond a year are not summarised: it also keeps 0.5^(age/half-life) far from underflow.
MAX_LOOKBACK = timedelta(days=366)


class RiskLevel(StrEnum):
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"


def _positive(values: Mapping[str, Any], key: str, default: float) -> float:
    """A positive number from policy data; a missing or broken value keeps the default."""
    value = values.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    return float(value) if math.isfinite(value) and value > 0 else default


@dataclass(frozen=True)
class RiskModel:
    weights: Mapping[str, float]
    default_weight: float
    half_life_seconds: int
    lookback_seconds: int
    evidence_items: int
    medium_from: float
    high_from: float

    @classmethod
    def from_thresholds(cls, thresholds: Mapping[str, Any]) -> RiskModel:
        """The model in policy data (``thresholds.risk``)."""
        values = thresholds.get("risk") or {}
        levels = values.get("levels") or {}
        weights = values.get("weights") or {}
        medium = _positive(levels, "medium", 3.0)
        return cls(
            weights={
                str(kind): float(weight)
                for kind, weight in weights.items()
                if isinstance(weight, int | float) and math.isfinite(weight) and weight >= 0
            },
            default_weight=_positive(values, "default_weight", 1.0),
            half_life_seconds=max(DAY, round(_positive(values, "half_life_days", 30) * DAY)),
            lookback_seconds=min(
                round(_positive(values, "lookback_days", 90) * DAY),
                int(MAX_LOOKBACK.total_seconds()),
            ),
            evidence_items=min(20, int(_positive(values, "evidence_items", 5))),
            medium_from=medium,
            high_from=max(medium, _positive(levels, "high", 8.0)),
        )

    def to_proto(self) -> common_pb2.RiskModel:
        return common_pb2.RiskModel(**_model_fields(self))

    @classmethod
    def from_proto(cls, message: common_pb2.RiskModel) -> RiskModel:
        return cls(**_model_fields(message))

    def weight(self, kind: str) -> float:
        return self.weights.get(kind, self.default_weight)

    def level(self, score: float) -> RiskLevel:
        if score >= self.high_from:
            return RiskLevel.HIGH
        if score >= self.medium_from:
            return RiskLevel.MEDIUM
        return RiskLevel.LOW


def _model_fields(source: RiskModel | common_pb2.RiskModel) -> dict[str, Any]:
    """The risk model's fields, which its message has by the same names (weights copied)."""
    values = {field.name: getattr(source, field.name) for field in fields(RiskModel)}
    return values | {"weights": dict(source.weights)}


@dataclass(frozen=True)
class KindSignal:
    """One kind of alert in a profile, summed over every source."""

    kind: str
    count: int
    open_count: int
    last_detected_at: datetime | None
    weight: float
    decayed_count: float

    @property
    def contribution(self) -> float:
        return self.weight * self.decayed_count


@dataclass(frozen=True)
class Evidence:
    alert: common_pb2.Alert
    contribution: float


@dataclass(frozen=True)
class RiskProfile:
    employee_id: str
    score: float
    level: RiskLevel
    # Largest contribution first.
    signals: list[KindSignal]
    # The alerts that weigh most now, largest contribution first.
    evidence: list[Evidence]


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def profile(
    employee_id: str, summaries: Iterable[common_pb2.AlertKindSummary], model: RiskModel
) -> RiskProfile:
    """One employee's profile from their summaries (any number of sources, any order)."""
    # Per kind: count, open count, the newest time (seconds, nanos) and the decayed count,
    # each summary's added to the earlier ones'; a signal is made of them once per kind.
    sums: dict[str, list[Any]] = {}
    evidence: list[Evidence] = []
    weight_of = model.weight
    for summary in summaries:
        kind = summary.kind
        stamp = summary.last_detected_at
        # (0, 0): no time (Timestamp's default), which any time replaces.
        newest = (stamp.seconds, stamp.nanos) if stamp.seconds or stamp.nanos else None
        known = sums.get(kind)
        if known is None:
            sums[kind] = [summary.count, summary.open_count, newest, summary.decayed_count + 0.0]
        else:
            known[0] = summary.count + known[0]
            known[1] = summary.open_count + known[1]
            if known[2] is None or (newest is not None and newest > known[2]):
                known[2] = newest
            known[3] = summary.decayed_count + known[3]
        if summary.recent:
            weight = weight_of(kind)
            evidence += [Evidence(recent.alert, weight * recent.decay) for recent in summary.recent]
    signals = [
        KindSignal(
            kind=kind,
            count=count,
            open_count=open_count,
            last_detected_at=_moment(newest),
            weight=weight_of(kind),
            decayed_count=decayed,
        )
        for kind, (count, open_count, newest, decayed) in sums.items()
    ]
    ordered = sorted(signals, key=lambda signal: (-signal.contribution, signal.kind))
    score = sum(signal.contribution for signal in ordered)
    evidence.sort(
        key=lambda item: (
            -item.contribution,
            -item.alert.detected_at.seconds,
            -item.alert.detected_at.nanos,
            item.alert.id,
        )
    )
    return RiskProfile(
        employee_id=employee_id,
        score=score,
        level=model.level(score),
        signals=ordered,
        evidence=evidence[: model.evidence_items],
    )


def _moment(newest: tuple[int, int] | None) -> datetime | None:
    """A summary's time (seconds, nanos) as Timestamp.ToDatetime reads it (truncated to
    microseconds), without its cost."""
    if newest is None:
        return None
    seconds, nanos = newest
    return _EPOCH + timedelta(seconds=seconds, microseconds=nanos // 1000)


def by_employee(
    summaries: Iterable[common_pb2.AlertKindSummary],
) -> dict[str, list[common_pb2.AlertKindSummary]]:
    """The summaries grouped by employee, in the order employees first appear."""
    grouped: dict[str, list[common_pb2.AlertKindSummary]] = {}
    for summary in summaries:
        grouped.setdefault(summary.employee_id, []).append(summary)
    return grouped


def _score(decayed: Mapping[str, float], model: RiskModel) -> float:
    """The score of per-kind decayed counts, summed in :func:`profile`'s order (largest
    contribution first), so that it is the same float: equal contributions, which profile
    orders by kind, give the same sum in either order."""
    weights, default = model.weights, model.default_weight
    return sum(
        sorted(
            (weights.get(kind, default) * count for kind, count in decayed.items()), reverse=True
        )
    )


def ranking(
    summaries: Iterable[common_pb2.AlertKindSummary], model: RiskModel, first: int
) -> list[RiskProfile]:
    """The ``first`` highest-scoring employees among the summaries, highest first.

    Every employee is scored from three fields of their summaries; only the ``first``
    get a full profile (signals, evidence): a branch has hundreds of employees and
    thousands of summaries, and building every profile cost most of a request."""
    grouped: dict[str, list[common_pb2.AlertKindSummary]] = {}
    decayed: dict[str, dict[str, float]] = {}
    for summary in summaries:
        employee, kind = summary.employee_id, summary.kind
        grouped.setdefault(employee, []).append(summary)
        kinds = decayed.setdefault(employee, {})
        # Added as profile() adds them: this summary's, then the earlier sources'.
        kinds[kind] = summary.decayed_count + kinds.get(kind, 0.0)
    scores = {employee: _score(kinds, model) for employee, kinds in decayed.items()}
    top = sorted(scores, key=lambda employee: (-scores[employee], employee))[:first]
    return [profile(employee, grouped[employee], model) for employee in top]


def columns_of(answer: common_pb2.SummarizeAlertsResponse) -> common_pb2.AlertKindColumns:
    """An answer's groups as columns: its columns, or its summaries' figures when it has
    summaries instead (a service older than ``as_columns`` ignores it)."""
    if not answer.summaries:
        return answer.columns
    summaries = answer.summaries
    return common_pb2.AlertKindColumns(
        employee_ids=[summary.employee_id for summary in summaries],
        kinds=[summary.kind for summary in summaries],
        counts=[summary.count for summary in summaries],
        open_counts=[summary.open_count for summary in summaries],
        last_detected_micros=[
            summary.last_detected_at.seconds * 1_000_000 + summary.last_detected_at.nanos // 1000
            for summary in summaries
        ],
        decayed_counts=[summary.decayed_count for summary in summaries],
    )


# How far apart a score summed in any order and the same score summed as profile() sums it
# may be, relative to the score: a sum of n non-negative terms is off by at most n × 2^-53
# of it in either order; this allows for millions of groups.
APPROXIMATE_SCORE_SLACK = 1e-9
_ZERO = 0.0


def top_summaries(
    sources: Sequence[common_pb2.AlertKindColumns], model: RiskModel, first: int
) -> dict[str, list[common_pb2.AlertKindSummary]]:
    """The summaries of the ``first`` highest-scoring employees of every source's columns
    (a source's groups each once, sources in the order given), highest first: what
    :func:`ranking` ranks and profiles, read from columns.

    A branch's thousands of groups are read as columns. Every employee is scored roughly
    first (weight × decayed count added up in the columns' order, no per-kind sums, no
    sort): the terms are never negative, so that score is within
    APPROXIMATE_SCORE_SLACK of the exact one, and only the employees that come that close
    to the ``first``-th rough score can be among the ``first``. Those are scored exactly
    (decayed_counts added as :func:`profile` adds them: this source's, then the earlier
    sources'; the contributions summed largest first), and only the ``first`` get
    summaries, which :func:`profile` turns into the same scores, to the bit."""
    # Each column read once into a list: a repeated field makes a new object per access.
    read = [(list(columns.employee_ids), list(columns.kinds)) for columns in sources]
    weights = model.weights
    default = model.default_weight
    rough: defaultdict[str, float] = defaultdict(float)
    # Only terms that are never negative (nor NaN) bound the rough score's error.
    bounded = True
    for (employees, kinds), columns in zip(read, sources, strict=True):
        kind_weight = {kind: weights.get(kind, default) for kind in set(kinds)}
        terms = list(map(operator.mul, map(kind_weight.__getitem__, kinds), columns.decayed_counts))
        bounded = bounded and all(map(_ZERO.__le__, terms))
        for employee, term in zip(employees, terms, strict=True):
            rough[employee] += term
    if len(rough) > first and bounded:
        cutoff = heapq.nlargest(first, rough.values())[-1] * (1 - APPROXIMATE_SCORE_SLACK)
        candidates = {employee for employee, score in rough.items() if score >= cutoff}
    else:
        candidates = set(rough)
    # The candidates' groups: (source, index) in the columns' order.
    places: dict[str, list[tuple[int, int]]] = {employee: [] for employee in candidates}
    for number, (employees, _) in enumerate(read):
        for index in [index for index, employee in enumerate(employees) if employee in places]:
            places[employees[index]].append((number, index))
    scores: dict[str, float] = {}
    for employee, found in places.items():
        counts: dict[str, float] = {}
        for number, index in found:
            kind = read[number][1][index]
            counts[kind] = sources[number].decayed_counts[index] + counts.get(kind, 0.0)
        scores[employee] = _score(counts, model)
    top = heapq.nsmallest(first, scores, key=lambda employee: (-scores[employee], employee))
    chosen: dict[str, list[common_pb2.AlertKindSummary]] = {}
    for employee in top:
        summaries = chosen[employee] = []
        for number, index in places[employee]:
            columns = sources[number]
            summary = common_pb2.AlertKindSummary(
                employee_id=employee,
                kind=read[number][1][index],
                count=columns.counts[index],
                open_count=columns.open_counts[index],
                decayed_count=columns.decayed_counts[index],
            )
            # Written in place: a Timestamp passed to the constructor is copied.
            stamp = summary.last_detected_at
            stamp.seconds, micros = divmod(columns.last_detected_micros[index], 1_000_000)
            stamp.nanos = micros * 1000
            summaries.append(summary)
    return chosen


def evidence_groups(
    ranked: Mapping[str, Sequence[common_pb2.AlertKindSummary]],
    model: RiskModel,
    as_of: Sequence[Timestamp],
) -> list[common_pb2.AlertGroup]:
    """The groups (employee, kind) that can hold the evidence of the ranked employees,
    from their summaries (of sources that measured ages from the times ``as_of``).

    A group's newest alert weighs most in it (one weight, the freshest decay), as much as
    the group's summary says: weight × 0.5^(age of last_detected_at / half-life). The
    ``evidence_items`` groups that weigh most so hold that many alerts at least that heavy:
    a group lighter than all of them holds no evidence. Computed here, not in SQL, and
    from sources a moment apart: a group is kept unless it is lighter by more than the
    slack those differences can make."""
    if not as_of:
        return []
    times = [stamp.seconds * 1_000_000 + stamp.nanos // 1000 for stamp in as_of]
    rate = math.log(2) / model.half_life_seconds / 1_000_000  # per microsecond
    slack = math.exp(rate * (max(times) - min(times))) * (1 + 1e-6)
    reference = max(times)
    groups: list[common_pb2.AlertGroup] = []
    for employee, summaries in ranked.items():
        weights = [
            (
                model.weight(summary.kind)
                * math.exp(
                    rate
                    * (
                        summary.last_detected_at.seconds * 1_000_000
                        + summary.last_detected_at.nanos // 1000
                        - reference
                    )
                ),
                summary.kind,
            )
            for summary in summaries
        ]
        heaviest = sorted((weight for weight, _ in weights), reverse=True)
        lightest = (
            heaviest[model.evidence_items - 1] / slack
            if len(heaviest) > model.evidence_items
            else 0.0
        )
        kinds = sorted({kind for weight, kind in weights if weight >= lightest})
        groups += [common_pb2.AlertGroup(employee_id=employee, kind=kind) for kind in kinds]
    return groups
