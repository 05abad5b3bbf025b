"""O2 ``APPROVAL_DESPITE_WARNING``'s pure rule: which alerts warn an approver, how many it
takes, and its thresholds from policy data."""

from __future__ import annotations

from typing import Any

import pytest

from salesguard_orders.rules import approvals as rules

DEFAULTS = rules.WarningThresholds()


def stands(**changes: Any) -> bool:
    facts: dict[str, Any] = {
        "kind": "FAKE_DEAL_SUSPECTED",
        "status": "OPEN",
        "resolution": None,
        "payment_state": "UNPAID",
        "paid_minor": 0,
        "shipped": False,
        "shipments": 0,
        "back_ordered": False,
        "thresholds": DEFAULTS,
    }
    return rules.warning_stands(**(facts | changes))


def test_an_open_or_confirmed_fake_deal_on_an_unpaid_unshipped_order_warns() -> None:
    assert stands()
    assert stands(kind="SHIPMENT_OVERDUE")
    assert stands(status="ACKNOWLEDGED")
    assert stands(status="RESOLVED", resolution="CONFIRMED")


@pytest.mark.parametrize(
    "changes",
    [
        {"status": "DISMISSED"},
        {"status": "RESOLVED", "resolution": "CLEARED"},
        {"kind": "PAYER_MISMATCH"},
        {"payment_state": "PARTIALLY_PAID", "paid_minor": 100},
        {"shipped": True},
        {"shipments": 1},
        {"back_ordered": True},
    ],
)
def test_a_cleared_dismissed_other_or_answered_alert_warns_nobody(changes: dict[str, Any]) -> None:
    assert not stands(**changes)


def test_the_approver_of_an_order_may_not_record_its_back_order() -> None:
    assert not rules.may_record_back_order({"m-1", "f-1"}, "m-1")
    assert rules.may_record_back_order({"m-1"}, "f-1")
    assert rules.may_record_back_order(set(), "m-1")


def test_thresholds_from_policy_data_and_their_defaults() -> None:
    assert rules.warning_thresholds_from({}) == DEFAULTS
    limits = rules.warning_thresholds_from(
        {"min_warnings": 2, "warning_kinds": ["FAKE_DEAL_SUSPECTED", "DIVERSION_RISK"]}
    )
    assert limits == rules.WarningThresholds(2, ("FAKE_DEAL_SUSPECTED", "DIVERSION_RISK"))
    assert stands(kind="DIVERSION_RISK", thresholds=limits)
    # Never below one warning: approving is no offence without one.
    assert rules.warning_thresholds_from({"min_warnings": 0}).min_warnings == 1
    assert not rules.ignores_warnings(0, DEFAULTS)
    assert rules.ignores_warnings(1, DEFAULTS)
    assert not rules.ignores_warnings(1, limits)


def test_one_alert_per_approver_rep_and_warning() -> None:
    assert rules.warning_dedupe_key("m", "r", "a1") != rules.warning_dedupe_key("m", "r", "a2")
    assert rules.warning_dedupe_key("m", "r", "a1") == "APPROVAL_DESPITE_WARNING:m:r:a1"
