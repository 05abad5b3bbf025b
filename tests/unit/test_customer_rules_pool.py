"""C11 one by one: neglect, the grace period, cooling-off and the holding cap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from salesguard_customers.rules.pool import (
    DEFAULT_HOLDING_CAP,
    cooling_off,
    grace_over,
    holding_cap,
    is_neglected,
    last_activity,
    over_holding_cap,
)

AS_OF = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
DAYS = timedelta(days=1)


def test_last_activity_is_the_later_of_ownership_and_the_latest_follow_up() -> None:
    owned = AS_OF - 40 * DAYS
    assert last_activity(owned, None) == owned
    assert last_activity(owned, owned - DAYS) == owned
    assert last_activity(owned, owned + DAYS) == owned + DAYS


def test_a_customer_without_activity_for_the_neglect_period_is_neglected() -> None:
    assert is_neglected(AS_OF - 31 * DAYS, AS_OF, neglect_days=30)
    assert is_neglected(AS_OF - 30 * DAYS, AS_OF, neglect_days=30)


def test_a_customer_active_within_the_neglect_period_is_not_neglected() -> None:
    assert not is_neglected(AS_OF - 29 * DAYS, AS_OF, neglect_days=30)


def test_a_customer_returns_to_the_pool_once_its_alert_outlived_the_grace_period() -> None:
    assert grace_over(AS_OF - 7 * DAYS, AS_OF, pool_grace_days=7)
    assert not grace_over(AS_OF - 6 * DAYS, AS_OF, pool_grace_days=7)


def test_the_previous_owner_waits_out_the_cooling_off_period() -> None:
    pooled = AS_OF - 10 * DAYS
    waiting = cooling_off("e-1", "e-1", pooled, AS_OF, cooling_off_days=30)
    assert waiting is not None
    assert waiting.ends == pooled + 30 * DAYS


def test_the_previous_owner_may_claim_again_after_cooling_off() -> None:
    pooled = AS_OF - 30 * DAYS
    assert cooling_off("e-1", "e-1", pooled, AS_OF, cooling_off_days=30) is None


def test_another_rep_claims_without_cooling_off() -> None:
    assert cooling_off("e-2", "e-1", AS_OF, AS_OF, cooling_off_days=30) is None
    assert cooling_off("e-2", None, AS_OF, AS_OF, cooling_off_days=30) is None


def test_the_holding_cap_is_the_largest_among_the_reps_roles() -> None:
    caps = {"junior": 50, "senior": 100, "default": 20}
    assert holding_cap(caps, ["junior", "senior"]) == 100
    assert holding_cap(caps, ["junior"]) == 50


def test_a_rep_of_no_capped_role_gets_the_default_cap() -> None:
    assert holding_cap({"junior": 50, "default": 20}, ["manager"]) == 20
    assert holding_cap({}, ["junior"]) == DEFAULT_HOLDING_CAP


def test_a_rep_at_the_cap_may_claim_no_more() -> None:
    assert over_holding_cap(50, 50)
    assert not over_holding_cap(49, 50)
