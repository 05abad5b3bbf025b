"""`make bench`'s closing table: collected from the benchmarks' RESULT lines."""

from __future__ import annotations

import json

import pytest

from benchmarks.report import Row, collect, table
from benchmarks.support import report_target


def test_a_target_line_is_printed_and_collected(capsys: pytest.CaptureFixture[str]) -> None:
    assert report_target("employeeTimeline(first: 50) p95", 31.4159, limit=50, unit="ms")
    assert not report_target("gateway/direct", 0.8, limit=0.9, unit="x", at_most=False)
    assert not report_target("run", 1327.29, limit=1000, unit="ms")
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "target: employeeTimeline(first: 50) p95 <= 50 ms  measured 31.4 ms  MET"
    assert out[2] == "target: gateway/direct >= 0.9 x  measured 0.8 x  MISSED"
    assert out[4] == "target: run <= 1000 ms  measured 1,327 ms  MISSED"
    assert collect("bench", out) == [
        Row("employeeTimeline(first: 50) p95", "<= 50 ms", "31.4 ms", "met"),
        Row("gateway/direct", ">= 0.9 x", "0.8 x", "MISSED"),
        Row("run", "<= 1000 ms", "1,327 ms", "MISSED"),
    ]


def test_a_benchmark_without_targets_ran_and_a_failed_one_says_so() -> None:
    assert collect("nearby_customers", ["figures\n"]) == [
        Row("nearby_customers", "-", "figures above, no target", "ran")
    ]
    good = "RESULT " + json.dumps(
        {"name": "m", "target": "<= 1 s", "measured": 0.5, "unit": "s", "met": True}
    )
    assert collect("reconciliation", [good, "RESULT {broken"], exit_code=1) == [
        Row("m", "<= 1 s", "0.5 s", "met"),
        Row("reconciliation", "-", "unreadable: RESULT {broken", "FAILED"),
        Row("reconciliation", "-", "exited with 1", "FAILED"),
    ]
    # A saved log: the exit code is unknown, its results stand.
    assert collect("risk_ranking", [good], exit_code=None) == [Row("m", "<= 1 s", "0.5 s", "met")]


def test_the_table_pads_its_columns() -> None:
    assert table([Row("a long measure", "<= 2 x", "1.5 x", "met")]).splitlines() == [
        "| measure        | target | measured | met/missed |",
        "|----------------|--------|----------|------------|",
        "| a long measure | <= 2 x | 1.5 x    | met        |",
    ]
