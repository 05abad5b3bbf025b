"""O2 one by one: the steps an order needs, whose turn it is, what a decision does."""

from __future__ import annotations

from decimal import Decimal

from salesguard.principal import Principal
from salesguard_orders.rules.approvals import (
    FINANCE,
    HQ_MANAGER,
    MANAGER,
    MAX_REASON,
    approval_chain,
    approved_before,
    awaiting_decision_of,
    current_step,
    is_self_approval,
    order_status_after,
    step_asked_about,
    step_status,
)
from salesguard_orders.settings import OrdersSettings

SETTINGS = OrdersSettings(
    finance_approval_above_cny=Decimal("100000"),
    hq_approval_above_cny=Decimal("1000000"),
    hq_approval_discount_above_percent=Decimal("15"),
)


def roles(total_minor: int, *, currency: str = "CNY", discount_bp: int = 0) -> list[str]:
    chain = approval_chain(
        SETTINGS,
        currency=currency,
        total_minor=total_minor,
        max_discount_basis_points=discount_bp,
        flags=[],
    )
    return [step.role for step in chain]


def test_every_order_needs_a_manager() -> None:
    assert roles(100) == [MANAGER]
    assert roles(100_000_00) == [MANAGER]  # at the threshold, not above it


def test_finance_approves_above_its_threshold() -> None:
    assert roles(100_000_01) == [MANAGER, FINANCE]


def test_headquarters_approves_large_totals_and_large_discounts() -> None:
    assert roles(1_000_000_01) == [MANAGER, FINANCE, HQ_MANAGER]
    assert roles(100, discount_bp=1500) == [MANAGER]
    assert roles(100, discount_bp=1501) == [MANAGER, HQ_MANAGER]


def test_thresholds_are_in_cny_at_the_settings_rates() -> None:
    # 14 000 USD at 7.20 is 100 800 CNY: above the finance threshold.
    assert roles(14_000_00, currency="USD") == [MANAGER, FINANCE]
    assert roles(13_000_00, currency="USD") == [MANAGER]
    chain = approval_chain(
        SETTINGS, currency="USD", total_minor=14_000_00, max_discount_basis_points=0, flags=[]
    )
    assert chain[1].reason == "total 100800.00 CNY (14000.00 USD) above 100000.00 CNY"


def test_the_manager_step_names_the_flags_and_reasons_fit_their_column() -> None:
    chain = approval_chain(
        SETTINGS,
        currency="CNY",
        total_minor=100,
        max_discount_basis_points=0,
        flags=["ATTRIBUTION_MISMATCH"] * 40,
    )
    assert "flagged ATTRIBUTION_MISMATCH" in chain[0].reason
    assert len(chain[0].reason) == MAX_REASON


def test_steps_are_decided_in_sequence() -> None:
    assert current_step(["PENDING", "PENDING"]) == 0
    assert current_step(["APPROVED", "PENDING", "PENDING"]) == 1
    assert current_step(["APPROVED", "APPROVED"]) is None
    assert current_step([]) is None


def test_the_policy_is_asked_about_the_last_step_of_a_decided_order() -> None:
    assert step_asked_about(["APPROVED", "PENDING"]) == 1
    assert step_asked_about(["APPROVED", "REJECTED"]) == 1
    assert step_asked_about([]) is None


def test_nobody_decides_their_own_order() -> None:
    assert is_self_approval("rep-1", "rep-1", [])
    assert is_self_approval("rep-1", "m-1", ["SELF_APPROVAL"])
    assert not is_self_approval("rep-1", "m-1", ["NOT_IN_BRANCH"])


def test_nobody_approves_two_steps_of_one_order() -> None:
    assert approved_before(["m-1", None], "m-1")
    assert not approved_before(["m-1", None], "f-1")


def test_a_rejection_rejects_the_order_and_the_last_approval_approves_it() -> None:
    assert step_status(True) == "APPROVED"
    assert step_status(False) == "REJECTED"
    assert order_status_after(["REJECTED", "PENDING"], approve=False, current="SUBMITTED") == (
        "REJECTED"
    )
    assert order_status_after(["APPROVED", "PENDING"], approve=True, current="SUBMITTED") == (
        "SUBMITTED"
    )
    assert order_status_after(["APPROVED", "APPROVED"], approve=True, current="SUBMITTED") == (
        "APPROVED"
    )


def sql(principal: Principal) -> str:
    return str(awaiting_decision_of(principal))


def test_the_listing_filter_follows_the_step_roles() -> None:
    branch_manager = Principal("m-1", ("MANAGER",), "team-1", "branch-1")
    assert "approval_steps_1.role = " in sql(branch_manager)
    assert "orders.branch_id = " in sql(branch_manager)
    hq_manager = Principal("m-2", ("MANAGER",), None, "hq", hq=True)
    assert "orders.branch_id" not in sql(hq_manager)
    assert sql(Principal("rep-1", ("SALES_REP",), "team-1", "branch-1")) == "false"
