"""M4: a payment reversed after its order's period was locked claws back in the next run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from salesguard_commissions.models import Line, Period
from salesguard_commissions.rules import clawback, vocabulary
from salesguard_commissions.rules.clawback import LineFacts, is_original
from salesguard_commissions.rules.vocabulary import CLAWBACK, COMMISSION, LOCKED, OPEN, PAYABLE
from tests.unit.commission_rules_db import add_lines, add_periods, commission_tables, line

START = datetime(2026, 3, 1, tzinfo=UTC)
END = datetime(2026, 4, 1, tzinfo=UTC)


def test_the_window_looks_back_from_every_branch_s_month() -> None:
    assert clawback.lookback_from(START, 400) == START - timedelta(days=400)
    shanghai = (START - timedelta(hours=8), END - timedelta(hours=8))
    assert clawback.reversal_window([shanghai, (START, END)], 400) == (
        START - timedelta(hours=8, days=400),
        END,
    )
    assert clawback.reversal_window([], 400) is None


def test_a_reversal_is_clawed_back_by_its_own_branch_within_the_window() -> None:
    window = (START, END)
    inside = START + timedelta(days=3)
    assert clawback.reversal_applies("branch-1", "branch-1", inside, window)
    assert clawback.reversal_applies("", "branch-1", inside, window)  # branch unknown to it
    assert not clawback.reversal_applies("branch-2", "branch-1", inside, window)
    assert not clawback.reversal_applies("branch-1", "branch-1", END, window)
    assert not clawback.reversal_applies("branch-1", "branch-1", START - timedelta(1), window)
    assert not clawback.reversal_applies("branch-1", "branch-1", None, window)


def facts(**values: str | None) -> LineFacts:
    base: dict[str, str | None] = {
        "order_id": "order-1",
        "branch_id": "branch-1",
        "period": "2026-02",
        "kind": COMMISSION,
        "status": PAYABLE,
        "period_status": LOCKED,
    }
    base.update(values)
    return LineFacts(**base)  # type: ignore[arg-type]


def test_only_a_payable_commission_of_a_locked_earlier_period_is_clawed_back() -> None:
    assert is_original(facts(), "branch-1", "2026-03", [])
    assert not is_original(facts(period_status=OPEN), "branch-1", "2026-03", [])
    assert not is_original(facts(status=vocabulary.WITHHELD), "branch-1", "2026-03", [])
    assert not is_original(facts(status=vocabulary.PENDING_REVIEW), "branch-1", "2026-03", [])
    assert not is_original(facts(kind=CLAWBACK), "branch-1", "2026-03", [])
    assert not is_original(facts(period="2026-03"), "branch-1", "2026-03", [])
    assert not is_original(facts(branch_id="branch-2"), "branch-1", "2026-03", [])


def test_an_order_is_clawed_back_once_a_re_run_of_the_same_period_may_repeat_it() -> None:
    assert not is_original(facts(), "branch-1", "2026-04", [("2026-03", "branch-1")])
    assert is_original(facts(), "branch-1", "2026-03", [("2026-03", "branch-1")])


def test_a_clawback_negates_the_original_and_says_what_it_undoes() -> None:
    assert clawback.clawback_amount(5_00) == -5_00
    assert clawback.clawback_reason("2026-02", "pay-1", "CHARGEBACK") == (
        "CLAWBACK of 2026-02; payment pay-1 reversed (CHARGEBACK)"
    )


def test_the_originals_query_agrees_with_the_rule() -> None:
    periods = {
        ("branch-1", "2026-01"): LOCKED,
        ("branch-1", "2026-02"): LOCKED,
        ("branch-1", "2026-03"): OPEN,
        ("branch-1", "2026-04"): OPEN,
        ("branch-2", "2026-02"): LOCKED,
    }
    spec = [
        # (order, period, branch, kind, status)
        (1, "2026-02", "branch-1", COMMISSION, PAYABLE),
        (1, "2026-01", "branch-1", COMMISSION, PAYABLE),  # an older locked line of order 1
        (2, "2026-02", "branch-1", COMMISSION, vocabulary.WITHHELD),
        (3, "2026-03", "branch-1", COMMISSION, PAYABLE),  # open period
        (4, "2026-02", "branch-2", COMMISSION, PAYABLE),  # another branch
        (5, "2026-02", "branch-1", COMMISSION, PAYABLE),
        (5, "2026-03", "branch-1", CLAWBACK, PAYABLE),  # clawed back in 2026-03 already
        (6, "2026-02", "branch-1", COMMISSION, PAYABLE),
        (6, "2026-04", "branch-1", CLAWBACK, PAYABLE),  # ...the run of 2026-04 repeats it
    ]
    rows = [
        line(
            index,
            order_id=f"order-{order}",
            period=period,
            branch_id=branch,
            kind=kind,
            status=status,
        )
        for index, (order, period, branch, kind, status) in enumerate(spec)
    ]
    order_ids = sorted({row["order_id"] for row in rows})
    for period in ("2026-03", "2026-04"):
        with commission_tables() as db:
            add_periods(db, periods)
            add_lines(db, rows)
            query = clawback.originals_query(
                Line.__table__, Period.__table__, order_ids, "branch-1", period
            )
            found = [(row.order_id, row.period) for row in db.execute(query)]
        accepted = [
            (row["order_id"], row["period"])
            for row in rows
            if is_original(
                LineFacts(
                    row["order_id"],
                    row["branch_id"],
                    row["period"],
                    row["kind"],
                    row["status"],
                    periods.get((row["branch_id"], row["period"])),
                ),
                "branch-1",
                period,
                [
                    (other["period"], other["branch_id"])
                    for other in rows
                    if other["order_id"] == row["order_id"] and other["kind"] == CLAWBACK
                ],
            )
        ]
        # Order by order, the latest period first.
        expected = sorted(
            sorted(accepted, key=lambda pair: pair[1], reverse=True), key=lambda pair: pair[0]
        )
        assert found == expected, period
    # The latest locked line of an order comes first: that one is clawed back.
    assert found[:2] == [("order-1", "2026-02"), ("order-1", "2026-01")]
