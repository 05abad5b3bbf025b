"""The risk score from alert summaries (salesguard.risk): weights, bands, evidence, ranking,
and the model as policy data gives it."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from random import Random

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from salesguard.risk import (
    RiskLevel,
    RiskModel,
    columns_of,
    evidence_groups,
    profile,
    ranking,
    top_summaries,
)
from salesguard.timeutil import to_timestamp
from salesguard_api.common.v1 import common_pb2
from tests.harness import POLICIES

MODEL = RiskModel(
    weights={"DIVERSION_RISK": 5.0, "MOCK_LOCATION": 3.0, "LATE_REGISTRATION": 1.0},
    default_weight=1.0,
    half_life_seconds=30 * 86_400,
    lookback_seconds=90 * 86_400,
    evidence_items=2,
    medium_from=4.0,
    high_from=10.0,
)


def alert(alert_id: str, kind: str, day: int) -> common_pb2.Alert:
    return common_pb2.Alert(
        id=alert_id, kind=kind, detected_at=to_timestamp(datetime(2026, 11, day, tzinfo=UTC))
    )


def summary(
    employee: str,
    kind: str,
    decays: list[float],
    *,
    open_count: int = 0,
    day: int = 20,
) -> common_pb2.AlertKindSummary:
    """A source's summary of ``len(decays)`` alerts, newest first, one day apart."""
    return common_pb2.AlertKindSummary(
        employee_id=employee,
        kind=kind,
        count=len(decays),
        open_count=open_count,
        last_detected_at=to_timestamp(datetime(2026, 11, day, tzinfo=UTC)),
        decayed_count=sum(decays),
        recent=[
            common_pb2.RecentAlert(alert=alert(f"{employee}-{kind}-{n}", kind, day - n), decay=d)
            for n, d in enumerate(decays)
        ],
    )


def test_the_score_is_the_weighted_sum_of_decayed_counts() -> None:
    scored = profile(
        "e-1",
        [summary("e-1", "DIVERSION_RISK", [1.0]), summary("e-1", "LATE_REGISTRATION", [1.0, 0.5])],
        MODEL,
    )
    assert scored.score == pytest.approx(5 * 1.0 + 1 * 1.5)
    assert [(s.kind, s.count, s.contribution) for s in scored.signals] == [
        ("DIVERSION_RISK", 1, 5.0),
        ("LATE_REGISTRATION", 2, 1.5),
    ]
    assert scored.level is RiskLevel.MEDIUM


def test_age_halves_an_alerts_weight_per_half_life() -> None:
    fresh = profile("e-1", [summary("e-1", "DIVERSION_RISK", [1.0])], MODEL)
    two_half_lives = profile("e-1", [summary("e-1", "DIVERSION_RISK", [0.25])], MODEL)
    assert two_half_lives.score == pytest.approx(fresh.score / 4)
    assert (fresh.level, two_half_lives.level) == (RiskLevel.MEDIUM, RiskLevel.LOW)


def test_a_kind_from_several_sources_adds_up() -> None:
    scored = profile(
        "e-1",
        [
            summary("e-1", "MOCK_LOCATION", [1.0], open_count=1, day=10),
            summary("e-1", "MOCK_LOCATION", [0.5, 0.5], open_count=2, day=12),
        ],
        MODEL,
    )
    (signal,) = scored.signals
    assert (signal.count, signal.open_count) == (3, 3)
    assert signal.last_detected_at == datetime(2026, 11, 12, tzinfo=UTC)
    assert signal.contribution == pytest.approx(3 * 2.0)


def test_bands_and_unlisted_kinds() -> None:
    assert MODEL.level(3.99) is RiskLevel.LOW
    assert MODEL.level(4.0) is RiskLevel.MEDIUM
    assert MODEL.level(10.0) is RiskLevel.HIGH
    assert MODEL.weight("SOME_NEW_KIND") == MODEL.default_weight


def test_evidence_is_the_heaviest_alerts_first() -> None:
    scored = profile(
        "e-1",
        [
            summary("e-1", "LATE_REGISTRATION", [1.0, 1.0]),
            summary("e-1", "DIVERSION_RISK", [0.1, 0.05]),
            summary("e-1", "MOCK_LOCATION", [0.9]),
        ],
        MODEL,
    )
    # 3 × 0.9 = 2.7, then 1 × 1.0 (the newer of two equal ones); 5 × 0.1 = 0.5 is left out.
    assert [item.alert.id for item in scored.evidence] == [
        "e-1-MOCK_LOCATION-0",
        "e-1-LATE_REGISTRATION-0",
    ]
    assert [item.contribution for item in scored.evidence] == pytest.approx([2.7, 1.0])


def test_ranking_is_by_score_then_employee() -> None:
    summaries = [
        summary("e-low", "LATE_REGISTRATION", [1.0]),
        summary("e-high", "DIVERSION_RISK", [1.0]),
        summary("e-high", "MOCK_LOCATION", [1.0]),
        summary("e-tie", "LATE_REGISTRATION", [1.0]),
    ]
    ranked = ranking(summaries, MODEL, first=10)
    assert [(p.employee_id, p.score) for p in ranked] == [
        ("e-high", 8.0),
        ("e-low", 1.0),
        ("e-tie", 1.0),
    ]
    assert [p.employee_id for p in ranking(summaries, MODEL, first=1)] == ["e-high"]


def test_a_ranking_scores_exactly_as_the_full_profiles_do() -> None:
    """ranking() profiles only the employees it returns: its scores and order are those
    of every employee's full profile, to the bit (sums in the same order)."""
    random = Random(16)
    kinds = [*MODEL.weights, "PAYER_MISMATCH", "FAKE_DEAL"]
    summaries = [
        common_pb2.AlertKindSummary(
            employee_id=f"e-{random.randrange(40)}",
            kind=random.choice(kinds),
            count=1,
            decayed_count=random.choice([0.5, 1.0, random.random() * 7]),
        )
        for _ in range(600)  # several sources' summaries of a kind, ties of scores too
    ]
    employees = dict.fromkeys(summary.employee_id for summary in summaries)
    everyone = [profile(e, [s for s in summaries if s.employee_id == e], MODEL) for e in employees]
    everyone.sort(key=lambda item: (-item.score, item.employee_id))
    for first in (1, 10, 100):
        assert [(p.employee_id, p.score) for p in ranking(summaries, MODEL, first)] == [
            (p.employee_id, p.score) for p in everyone[:first]
        ]


def test_a_ranking_of_columns_scores_exactly_as_the_full_profiles_do() -> None:
    """top_summaries() reads every source's groups as columns and summarises only the
    employees it returns: profiled, their scores and order are those of every employee's
    full profile over the same groups as summaries, to the bit."""
    random = Random(17)
    kinds = [*MODEL.weights, "PAYER_MISMATCH", "FAKE_DEAL"]
    sources: list[common_pb2.AlertKindColumns] = []
    summaries: list[common_pb2.AlertKindSummary] = []
    for _ in range(3):  # a kind of one employee in several sources too
        columns = common_pb2.AlertKindColumns()
        groups = {(f"e-{random.randrange(40)}", random.choice(kinds)) for _ in range(150)}
        for employee, kind in sorted(groups, key=lambda _: random.random()):
            micros = random.randrange(1_700_000_000_000_000, 1_800_000_000_000_000)
            decayed = random.choice([0.5, 1.0, random.random() * 7])
            count = random.randrange(1, 9)
            columns.employee_ids.append(employee)
            columns.kinds.append(kind)
            columns.counts.append(count)
            columns.open_counts.append(count // 2)
            columns.last_detected_micros.append(micros)
            columns.decayed_counts.append(decayed)
            summaries.append(
                common_pb2.AlertKindSummary(
                    employee_id=employee,
                    kind=kind,
                    count=count,
                    open_count=count // 2,
                    last_detected_at=to_timestamp(
                        datetime.fromtimestamp(0, UTC) + timedelta(microseconds=micros)
                    ),
                    decayed_count=decayed,
                )
            )
        sources.append(columns)
    employees = dict.fromkeys(summary.employee_id for summary in summaries)
    everyone = [profile(e, [s for s in summaries if s.employee_id == e], MODEL) for e in employees]
    everyone.sort(key=lambda item: (-item.score, item.employee_id))
    for first in (1, 10, 100):
        top = top_summaries(sources, MODEL, first)
        assert [profile(e, items, MODEL) for e, items in top.items()] == everyone[:first]
        assert [summary for items in top.values() for summary in items] == sorted(
            (summary for summary in summaries if summary.employee_id in top),
            key=lambda summary: list(top).index(summary.employee_id),
        )
    assert top_summaries([], MODEL, 10) == {}
    # An answer of summaries (a service older than as_columns) reads as the same columns.
    for columns in sources:
        answer = common_pb2.SummarizeAlertsResponse(columns=columns)
        assert columns_of(answer) == columns
        whole = top_summaries([columns], MODEL, 100)
        older = common_pb2.SummarizeAlertsResponse(
            summaries=[summary for items in whole.values() for summary in items]
        )
        assert top_summaries([columns_of(older)], MODEL, 100) == whole


def summary_time(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def test_the_evidence_groups_hold_every_profiles_evidence() -> None:
    """evidence_groups() leaves out the groups whose newest alert weighs less than the
    evidence_items-th heaviest group's: the evidence from the groups kept is the evidence
    from every alert, though the sources measured ages a moment apart."""
    random = Random(18)
    model = RiskModel.from_thresholds(
        json.loads((POLICIES / "salesguard/thresholds/data.json").read_text())
    )
    kinds = sorted(model.weights)[:12]
    now = datetime(2026, 12, 1, tzinfo=UTC)
    as_of = [now + timedelta(milliseconds=random.randrange(200)) for _ in range(3)]
    rate = math.log(2) / model.half_life_seconds
    ranked: dict[str, list[common_pb2.AlertKindSummary]] = {}
    for number in range(30):
        employee = f"e-{number}"
        for source, measured in enumerate(as_of):
            for kind in random.sample(kinds, 4):
                ages = sorted(random.randrange(90 * 86_400) for _ in range(random.randrange(1, 6)))
                recent = [
                    common_pb2.RecentAlert(
                        alert=common_pb2.Alert(
                            id=f"{employee}-{source}-{kind}-{age}",
                            employee_id=employee,
                            kind=kind,
                            detected_at=to_timestamp(measured - timedelta(seconds=age)),
                        ),
                        decay=math.exp(-age * rate),
                    )
                    for age in ages
                ]
                ranked.setdefault(employee, []).append(
                    common_pb2.AlertKindSummary(
                        employee_id=employee,
                        kind=kind,
                        count=len(recent),
                        last_detected_at=recent[0].alert.detected_at,
                        decayed_count=sum(item.decay for item in recent),
                        recent=recent,
                    )
                )
    kept = {
        (group.employee_id, group.kind)
        for group in evidence_groups(ranked, model, [summary_time(t) for t in as_of])
    }
    groups = {(e, summary.kind) for e, summaries in ranked.items() for summary in summaries}
    assert kept < groups and len(kept) < len(groups) / 2  # most groups hold no evidence
    for employee, summaries in ranked.items():
        pruned = []
        for summary in summaries:
            copy = common_pb2.AlertKindSummary()
            copy.CopyFrom(summary)
            if (employee, summary.kind) not in kept:
                del copy.recent[:]
            pruned.append(copy)
        assert profile(employee, pruned, model) == profile(employee, summaries, model)
    assert evidence_groups(ranked, model, []) == []


def test_the_model_is_read_from_policy_data() -> None:
    thresholds = json.loads((POLICIES / "salesguard/thresholds/data.json").read_text())
    model = RiskModel.from_thresholds(thresholds)
    assert model.half_life_seconds == thresholds["risk"]["half_life_days"] * 86_400
    assert model.weight("DIVERSION_RISK") == thresholds["risk"]["weights"]["DIVERSION_RISK"]
    assert RiskModel.from_proto(model.to_proto()) == model


def test_broken_policy_data_falls_back_to_safe_values() -> None:
    model = RiskModel.from_thresholds(
        {
            "risk": {
                "half_life_days": 0,
                "lookback_days": 10_000,
                "weights": {"A": -1, "B": "heavy", "C": 2},
                "levels": {"medium": 5, "high": 1},
            }
        }
    )
    assert model.half_life_seconds == 30 * 86_400
    assert model.lookback_seconds == 366 * 86_400
    assert model.weights == {"C": 2.0}
    assert model.high_from == model.medium_from == 5.0


def test_a_ranking_of_columns_with_a_negative_term_is_exact_all_the_same() -> None:
    """top_summaries() scores roughly first only when no term is negative (the rough
    score's error is bounded then); otherwise every employee is scored exactly, as
    profile() sums: e-a's 1 is lost in 1e17 (largest contribution first), not in the
    columns' order, so e-b's 0.5 ranks first."""
    columns = common_pb2.AlertKindColumns(
        employee_ids=["e-a", "e-a", "e-a", "e-b"],
        kinds=["PAYER_MISMATCH", "FAKE_DEAL", "LATE_REGISTRATION", "LATE_REGISTRATION"],
        counts=[1, 1, 1, 1],
        open_counts=[0, 0, 0, 0],
        last_detected_micros=[1_790_000_000_000_000] * 4,
        decayed_counts=[1e17, -1e17, 1.0, 0.5],
    )
    top = top_summaries([columns], MODEL, 1)
    assert list(top) == ["e-b"]
    ranked = top_summaries([columns], MODEL, 2)
    assert [profile(e, items, MODEL).score for e, items in ranked.items()] == [0.5, 0.0]
