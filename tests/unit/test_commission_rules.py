"""The pure rules of a commission line: periods, IDs, money, source classes, withholding."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from salesguard.common.v1 import common_pb2
from salesguard.errors import InvalidInput
from salesguard_commissions import rules
from salesguard_commissions.peers import Withholding, withholds
from salesguard_commissions.rules import Period, PlanTerms, price

PLAN = PlanTerms(
    version=3,
    company_rate_bp=500,
    personal_rate_bp=800,
    cap_per_order_minor=None,
    cap_per_period_minor=None,
)


def test_a_period_is_a_month_in_the_branch_time_zone() -> None:
    month = Period.parse("2026-03")
    assert str(month) == "2026-03" and month.first_day.isoformat() == "2026-03-01"
    start, end = month.bounds(rules.zone_of("Asia/Shanghai"))
    assert start == datetime(2026, 2, 28, 16, tzinfo=UTC)
    assert end == datetime(2026, 3, 31, 16, tzinfo=UTC)
    # New York switches to summer time within March: the month is an hour shorter.
    start, end = month.bounds(rules.zone_of("America/New_York"))
    assert (start, end) == (
        datetime(2026, 3, 1, 5, tzinfo=UTC),
        datetime(2026, 4, 1, 4, tzinfo=UTC),
    )
    assert Period.parse("2026-12").next() == Period(2027, 1)
    assert rules.zone_of("Not/AZone") == rules.zone_of("")
    for bad in ("2026-13", "2026-1", "26-01", "2026/01", "", "1999-12"):
        with pytest.raises(InvalidInput):
            Period.parse(bad)


def test_line_ids_are_uuid5_of_what_the_line_is_about() -> None:
    parts = ("2026-03", "branch-1", "0123456789abcdef0123456789abcdef", "COMMISSION")
    expected = uuid.uuid5(rules.LINE_NAMESPACE, "\x1f".join(parts)).hex
    assert rules.line_id(*parts) == expected
    assert rules.line_id(*parts) == rules.line_id(*parts)
    assert rules.line_id("2026-03", "branch-1", parts[2], "CLAWBACK") != expected
    assert rules.line_id("2026-04", "branch-1", parts[2], "COMMISSION") != expected


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
    assert rules.commission_minor(base, rate_bp) == amount


def test_order_totals_become_cents_exactly() -> None:
    assert rules.decimal_to_minor("1234.5") == 123450
    assert rules.decimal_to_minor("0.07") == 7
    assert rules.decimal_to_minor("12") == 1200
    assert rules.decimal_to_minor("1E+2") == 10000
    for bad in ("1.234", "abc", "NaN"):
        with pytest.raises(InvalidInput):
            rules.decimal_to_minor(bad)


def test_the_registered_source_sets_the_rate() -> None:
    assert price(PLAN, "WEBSITE", "WEBSITE") == rules.Pricing(500, "COMPANY_CHANNEL", False)
    assert price(PLAN, "REFERRAL", "") == rules.Pricing(500, "COMPANY_CHANNEL", False)
    assert price(PLAN, "PERSONAL", "PERSONAL") == rules.Pricing(800, "PERSONAL_CHANNEL", False)
    # A company-channel claim on a personal customer changes nothing: the registry decides.
    assert price(PLAN, "PERSONAL", "EXHIBITION") == rules.Pricing(800, "PERSONAL_CHANNEL", False)
    # M3: claiming PERSONAL for a company-channel customer.
    assert price(PLAN, "COMPANY_ASSIGNED", "PERSONAL") == rules.Pricing(
        500, "SOURCE_CONFLICT", True
    )
    assert price(PLAN, None, "PERSONAL") == rules.Pricing(500, "UNKNOWN_CUSTOMER", True)


def target(
    alert_id: str,
    status: common_pb2.AlertStatus.ValueType,
    resolution: common_pb2.AlertResolution.ValueType = common_pb2.ALERT_RESOLUTION_UNSPECIFIED,
    *,
    order_id: str = "",
    customer_id: str = "",
    kind: str = "FAKE_DEAL_SUSPECTED",
) -> common_pb2.AlertTarget:
    return common_pb2.AlertTarget(
        alert_id=alert_id,
        kind=kind,
        status=status,
        resolution=resolution,
        order_id=order_id,
        customer_id=customer_id,
    )


def test_open_and_confirmed_alerts_withhold_cleared_ones_release() -> None:
    open_ = target("a1", common_pb2.ALERT_STATUS_OPEN, order_id="o1", customer_id="c1")
    acknowledged = target("a2", common_pb2.ALERT_STATUS_ACKNOWLEDGED, order_id="o2")
    confirmed = target(
        "a3", common_pb2.ALERT_STATUS_RESOLVED, common_pb2.ALERT_RESOLUTION_CONFIRMED, order_id="o3"
    )
    cleared = target(
        "a4", common_pb2.ALERT_STATUS_RESOLVED, common_pb2.ALERT_RESOLUTION_CLEARED, order_id="o4"
    )
    dismissed = target("a5", common_pb2.ALERT_STATUS_DISMISSED, order_id="o5")
    diversion = target("a6", common_pb2.ALERT_STATUS_OPEN, customer_id="c9", kind="DIVERSION_RISK")
    assert [withholds(t) for t in (open_, acknowledged, confirmed, cleared, dismissed)] == [
        True,
        True,
        True,
        False,
        False,
    ]
    index = Withholding.from_targets(
        [open_, acknowledged, confirmed, cleared, dismissed, diversion]
    )
    assert len(index) == 4
    assert index.concerning("o1", "c1") == [("a1", "FAKE_DEAL_SUSPECTED")]
    # An alert about one order does not hold back the customer's other orders...
    assert index.concerning("o7", "c1") == []
    # ...one about the customer (and no order) holds back all of them.
    assert index.concerning("o8", "c9") == [("a6", "DIVERSION_RISK")]
    assert index.concerning("o4", "c4") == [] and index.concerning("o5", "c5") == []
    assert index.concerning("o3", "c9") == [
        ("a3", "FAKE_DEAL_SUSPECTED"),
        ("a6", "DIVERSION_RISK"),
    ]
