"""M1: the plan in force, rates by source class, exact amounts, caps per order and period."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import insert, select

from salesguard.errors import InvalidInput
from salesguard_commissions.models import Line, Plan
from salesguard_commissions.rules import rates
from salesguard_commissions.rules.rates import PlanTerms, Pricing, price
from tests.unit.commission_rules_db import add_lines, commission_tables, line

PLAN = PlanTerms(
    version=3,
    company_rate_bp=500,
    personal_rate_bp=800,
    cap_per_order_minor=None,
    cap_per_period_minor=None,
)


@pytest.mark.parametrize(
    ("base", "rate_bp", "amount"),
    [
        (3333, 500, 167),  # 1.6665 -> 1.67
        (6667, 500, 333),  # 3.3335 -> 3.33
        (10, 500, 1),  # 0.005 -> 0.01: half-up
        (9, 500, 0),  # 0.0045 -> 0.00
        (101, 1250, 13),  # 0.12625 -> 0.13
        (-10, 500, -1),  # symmetric for clawbacks
        (100_000_000_00, 10_000, 100_000_000_00),
    ],
)
def test_amounts_round_half_up_to_the_cent(base: int, rate_bp: int, amount: int) -> None:
    assert rates.commission_minor(base, rate_bp) == amount


def test_order_totals_become_cents_exactly() -> None:
    assert rates.decimal_to_minor("1234.5") == 123450
    assert rates.decimal_to_minor("0.07") == 7
    assert rates.decimal_to_minor("12") == 1200
    assert rates.decimal_to_minor("1E+2") == 10000
    # Two places, the form orders sends, and what only looks like it.
    assert rates.decimal_to_minor("99990.00") == 9_999_000
    assert rates.decimal_to_minor(".25") == 25
    assert rates.decimal_to_minor("-1.25") == -125
    assert rates.decimal_to_minor("1_0.00") == 1000
    assert rates.decimal_to_minor("١٢.٣٤") == 1234
    for bad in ("1.234", "abc", "NaN", "1.2.34", "1. 25", "+.1.5", "99999999999999.00"):
        with pytest.raises(InvalidInput):
            rates.decimal_to_minor(bad)


def test_the_registered_source_sets_the_rate() -> None:
    assert price(PLAN, "WEBSITE", "WEBSITE") == Pricing(500, "COMPANY_CHANNEL", False)
    assert price(PLAN, "REFERRAL", "") == Pricing(500, "COMPANY_CHANNEL", False)
    assert price(PLAN, "PERSONAL", "PERSONAL") == Pricing(800, "PERSONAL_CHANNEL", False)
    # A company-channel claim on a personal customer changes nothing: the registry decides.
    assert price(PLAN, "PERSONAL", "EXHIBITION") == Pricing(800, "PERSONAL_CHANNEL", False)
    # M3: claiming PERSONAL for a company-channel customer.
    assert price(PLAN, "COMPANY_ASSIGNED", "PERSONAL") == Pricing(500, "SOURCE_CONFLICT", True)
    assert price(PLAN, None, "PERSONAL") == Pricing(500, "UNKNOWN_CUSTOMER", True)


def test_the_plan_in_force_is_the_latest_version_effective_by_the_first_day() -> None:
    versions = [(1, date(2026, 1, 1)), (2, date(2026, 4, 1)), (3, date(2026, 3, 1))]
    assert rates.in_force(versions, date(2025, 12, 1)) is None
    assert rates.in_force(versions, date(2026, 2, 1)) == 1
    assert rates.in_force(versions, date(2026, 3, 1)) == 3
    # A later version effective earlier than another still wins: versions only grow.
    assert rates.in_force(versions, date(2026, 5, 1)) == 3


def test_the_plan_in_force_query_agrees_with_the_rule() -> None:
    versions = [(1, date(2026, 1, 1)), (2, date(2026, 4, 1)), (3, date(2026, 3, 1))]
    with commission_tables() as db:
        db.execute(
            insert(Plan),
            [
                {
                    "id": f"plan-{version}",
                    "version": version,
                    "effective_from": effective_from,
                    "company_rate_bp": 500,
                    "personal_rate_bp": 800,
                    "created_by": "finance-1",
                }
                for version, effective_from in versions
            ],
        )
        for day in (date(2025, 12, 1), date(2026, 2, 1), date(2026, 3, 1), date(2026, 5, 1)):
            row = db.execute(rates.in_force_query(Plan.__table__, day)).first()
            assert (None if row is None else row.version) == rates.in_force(versions, day)


def test_the_default_rates_are_five_and_eight_percent() -> None:
    assert (rates.DEFAULT_COMPANY_RATE_PERCENT, rates.DEFAULT_PERSONAL_RATE_PERCENT) == ("5", "8")


def test_a_cap_per_order_bounds_the_amount_and_says_so() -> None:
    assert rates.cap_per_order(5_00, "COMPANY_CHANNEL", 10_00) == (5_00, "COMPANY_CHANNEL")
    assert rates.cap_per_order(10_00, "COMPANY_CHANNEL", 10_00) == (10_00, "COMPANY_CHANNEL")
    assert rates.cap_per_order(12_00, "COMPANY_CHANNEL", 10_00) == (
        10_00,
        "COMPANY_CHANNEL; CAPPED_PER_ORDER",
    )


def test_a_cap_per_period_gives_each_line_what_the_earlier_ones_leave() -> None:
    assert rates.cap_per_period([4_00, 4_00, 4_00, 4_00], 10_00) == [4_00, 4_00, 2_00, 0]
    assert rates.cap_per_period([3_00, 7_00, 1_00], 10_00) == [3_00, 7_00, 0]
    assert rates.cap_per_period([], 10_00) == []


def test_the_period_cap_statement_agrees_with_the_rule() -> None:
    """Two employees, two currencies, lines inserted out of payment order, another branch
    and a clawback untouched: the UPDATE leaves what cap_per_period computes."""
    cap = 10_00
    amounts = {1: 4_00, 2: 4_00, 3: 4_00, 4: 3_00, 5: 9_00, 6: 6_00, 7: 8_00, 8: 20_00}
    rows = [
        line(number, amount_minor=amount, fully_paid_at=line(9 - number)["fully_paid_at"])
        for number, amount in amounts.items()
    ]
    rows[3]["employee_id"] = rows[4]["employee_id"] = "rep-2"
    rows[5]["currency"] = "USD"
    rows[6]["branch_id"] = "branch-2"
    rows[7]["kind"] = "CLAWBACK"
    with commission_tables() as db:
        add_lines(db, rows)
        statement, parameters = rates.period_cap("2026-03", "branch-1", cap)
        db.execute(statement, parameters)
        stored = {
            row.id: (row.amount_minor, row.reason)
            for row in db.execute(select(Line.id, Line.amount_minor, Line.reason))
        }
    expected: dict[str, tuple[int, str]] = {
        row["id"]: (row["amount_minor"], row["reason"]) for row in rows
    }
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        if row["branch_id"] == "branch-1" and row["kind"] == "COMMISSION":
            groups.setdefault((row["employee_id"], row["currency"]), []).append(row)
    for group in groups.values():
        group.sort(key=lambda row: (row["fully_paid_at"], row["order_code"], row["id"]))
        capped = rates.cap_per_period([row["amount_minor"] for row in group], cap)
        for row, amount in zip(group, capped, strict=True):
            if amount != row["amount_minor"]:
                expected[row["id"]] = (amount, f"{row['reason']}; CAPPED_PER_PERIOD")
    assert stored == expected
    assert any(reason.endswith("CAPPED_PER_PERIOD") for _, reason in stored.values())
