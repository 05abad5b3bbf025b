"""M2: which alerts hold a line back, and a line's status, strongest first."""

from __future__ import annotations

from sqlalchemy import select, update

from salesguard_api.common.v1 import common_pb2
from salesguard_commissions.models import Line, Period
from salesguard_commissions.rules import withholding
from salesguard_commissions.rules.vocabulary import (
    CLAWBACK,
    COMMISSION,
    LOCKED,
    OPEN,
    PAYABLE,
    PENDING_REVIEW,
    WITHHELD,
)
from salesguard_commissions.rules.withholding import LineStatus, Withholding, line_status, withholds
from tests.unit.commission_rules_db import add_lines, add_periods, commission_tables, line


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


def test_the_withholding_kinds_are_the_spec_s_three() -> None:
    assert set(withholding.ALERT_KINDS) == {
        "FAKE_DEAL_SUSPECTED",
        "DIVERSION_RISK",
        "ATTRIBUTION_MISMATCH",
    }


def test_nothing_concerning_a_line_leaves_it_payable_or_pending_as_its_source_says() -> None:
    assert line_status(False, "COMPANY_CHANNEL", (), None) == LineStatus(
        PAYABLE, "COMPANY_CHANNEL", []
    )
    assert line_status(True, "SOURCE_CONFLICT", (), None) == LineStatus(
        PENDING_REVIEW, "SOURCE_CONFLICT", []
    )


def test_an_alert_withholds_and_its_kinds_lead_the_reason() -> None:
    alerts = [("a1", "FAKE_DEAL_SUSPECTED"), ("a2", "DIVERSION_RISK"), ("a3", "DIVERSION_RISK")]
    assert line_status(False, "COMPANY_CHANNEL", alerts, None) == LineStatus(
        WITHHELD, "DIVERSION_RISK; FAKE_DEAL_SUSPECTED; COMPANY_CHANNEL", ["a1", "a2", "a3"]
    )
    # Withholding is stronger than a review, and than a freeze (which adds nothing then).
    assert line_status(True, "SOURCE_CONFLICT", alerts[:1], "left") == LineStatus(
        WITHHELD, "FAKE_DEAL_SUSPECTED; SOURCE_CONFLICT", ["a1"]
    )


def test_a_frozen_employee_s_lines_wait_for_review() -> None:
    assert line_status(False, "COMPANY_CHANNEL", (), "resigned") == LineStatus(
        PENDING_REVIEW, "COMPANY_CHANNEL; employee left: resigned", []
    )
    assert line_status(False, "COMPANY_CHANNEL", (), "") == LineStatus(
        PENDING_REVIEW, "COMPANY_CHANNEL; employee left", []
    )


def test_a_freeze_turns_payable_and_pending_lines_of_open_periods_only() -> None:
    assert withholding.status_after_freeze(COMMISSION, PAYABLE, OPEN) == PENDING_REVIEW
    assert withholding.status_after_freeze(COMMISSION, PENDING_REVIEW, OPEN) == PENDING_REVIEW
    assert withholding.status_after_freeze(COMMISSION, WITHHELD, OPEN) == WITHHELD
    assert withholding.status_after_freeze(COMMISSION, PAYABLE, LOCKED) == PAYABLE
    assert withholding.status_after_freeze(CLAWBACK, PAYABLE, OPEN) == PAYABLE


def test_the_freeze_statement_agrees_with_the_rule() -> None:
    periods = {("branch-1", "2026-02"): LOCKED, ("branch-1", "2026-03"): OPEN}
    rows = [
        line(number, employee_id=employee, period=period, kind=kind, status=status)
        for number, (employee, period, kind, status) in enumerate(
            [
                ("rep-1", "2026-03", COMMISSION, PAYABLE),
                ("rep-1", "2026-03", COMMISSION, PENDING_REVIEW),
                ("rep-1", "2026-03", COMMISSION, WITHHELD),
                ("rep-1", "2026-03", CLAWBACK, PAYABLE),
                ("rep-1", "2026-02", COMMISSION, PAYABLE),
                ("rep-2", "2026-03", COMMISSION, PAYABLE),
            ]
        )
    ]
    with commission_tables() as db:
        add_periods(db, periods)
        add_lines(db, rows)
        db.execute(
            update(Line)
            .where(*withholding.freezable_lines(Line.__table__, Period.__table__, "rep-1"))
            .values(withholding.frozen_values(Line.__table__, "resigned"))
        )
        stored = {row.id: (row.status, row.reason) for row in db.execute(select(Line))}
    for row in rows:
        status, reason = row["status"], row["reason"]
        period_status = periods[row["branch_id"], row["period"]]
        if row["employee_id"] == "rep-1" and withholding.freezes(
            row["kind"], status, period_status
        ):
            status = withholding.status_after_freeze(row["kind"], status, period_status)
            reason = f"{reason}; employee left: resigned"
        assert stored[row["id"]] == (status, reason), row["id"]
    assert sum(status == PENDING_REVIEW for status, _ in stored.values()) == 2
