"""C3 (duplicate criteria) and C12 (shared values ignored for blocking) one by one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from salesguard_customers.rules.duplicates import (
    EMAIL,
    NAME_COMPANY,
    PHONE,
    Criterion,
    Refusal,
    SharedThreshold,
    blocking_criteria,
    claim_dedupe_key,
    claim_evidence,
    duplicate_criteria,
    identity_key,
    involved_branch,
    refusals_count_since,
    shared_by_refusals,
)

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
THRESHOLD = SharedThreshold(distinct_reps=3, distinct_branches=2, window_days=30)


def test_name_and_company_match_whatever_their_case_and_spacing() -> None:
    assert identity_key("Li  Wei", "ACME Ltd") == identity_key(" li wei", "acme ltd ")
    assert identity_key("Li Wei", "ACME") != identity_key("Li Wei", "Other")


def test_a_registration_is_matched_on_phone_email_then_name_and_company() -> None:
    assert duplicate_criteria("p-key", "e-key", "li|acme") == [
        Criterion(PHONE, "p-key"),
        Criterion(EMAIL, "e-key"),
        Criterion(NAME_COMPANY, "li|acme"),
    ]


def test_a_missing_phone_or_email_is_no_criterion_but_name_and_company_always_is() -> None:
    assert duplicate_criteria("", "", "li|acme") == [Criterion(NAME_COMPANY, "li|acme")]
    assert duplicate_criteria("", "e-key", "li|acme") == [
        Criterion(EMAIL, "e-key"),
        Criterion(NAME_COMPANY, "li|acme"),
    ]


def test_without_shared_values_every_criterion_blocks() -> None:
    criteria = duplicate_criteria("p-key", "e-key", "li|acme")
    check = blocking_criteria(criteria, set())
    assert check.blocking == tuple(criteria)
    assert check.ignored == ()


def test_a_shared_value_does_not_block_and_is_reported() -> None:
    criteria = duplicate_criteria("switchboard", "e-key", "li|acme")
    check = blocking_criteria(criteria, {(PHONE, "switchboard")})
    assert [c.name for c in check.blocking] == [EMAIL, NAME_COMPANY]
    assert check.ignored == (PHONE,)


def test_a_value_shared_under_another_criterion_still_blocks() -> None:
    check = blocking_criteria([Criterion(EMAIL, "same-key")], {(PHONE, "same-key")})
    assert check.ignored == ()


def test_one_claim_alert_per_customer_claimant_and_criterion() -> None:
    assert claim_dedupe_key("c-1", "e-2", PHONE) == "DUPLICATE_CUSTOMER_CLAIM:c-1:e-2:phone"
    assert claim_evidence("C-000001", PHONE, "e-2", "e-1") == {
        "existing_code": "C-000001",
        "matched_on": PHONE,
        "claimant_id": "e-2",
        "existing_owner_id": "e-1",
    }


def test_the_shared_threshold_comes_from_policy_data_with_defaults() -> None:
    assert SharedThreshold.from_policy({}) == SharedThreshold(3, 2, 30)
    assert SharedThreshold.from_policy(
        {"distinct_reps": 5, "distinct_branches": 3, "window_days": 7}
    ) == SharedThreshold(5, 3, 7)


def test_refusals_count_within_the_window() -> None:
    assert refusals_count_since(NOW, THRESHOLD, None) == NOW - timedelta(days=30)


def test_refusals_before_the_value_was_unshared_count_no_more() -> None:
    unshared = NOW - timedelta(days=2)
    assert refusals_count_since(NOW, THRESHOLD, unshared) == unshared
    long_ago = NOW - timedelta(days=90)
    assert refusals_count_since(NOW, THRESHOLD, long_ago) == NOW - timedelta(days=30)


def test_enough_reps_of_enough_branches_make_a_value_shared() -> None:
    refusals = [Refusal("e-1", "b-1"), Refusal("e-2", "b-1"), Refusal("e-3", "b-2")]
    verdict = shared_by_refusals(refusals, THRESHOLD, existing_owner_id="e-owner")
    assert verdict is not None
    assert verdict.reps == ("e-1", "e-2", "e-3")
    assert verdict.branches == ("b-1", "b-2")
    evidence = verdict.evidence(PHONE, "138****0000", "C-000001")
    assert evidence["rep_count"] == 3
    assert evidence["branch_count"] == 2
    assert evidence["window_days"] == 30
    assert evidence["why"] == (
        "registrations carrying it were refused for 3 different reps of 2 branches within 30 days"
    )


def test_reps_of_one_branch_alone_never_make_a_value_shared() -> None:
    refusals = [Refusal(f"e-{n}", "b-1") for n in range(10)]
    assert shared_by_refusals(refusals, THRESHOLD, existing_owner_id=None) is None


def test_one_rep_retrying_counts_once() -> None:
    refusals = [Refusal("e-1", "b-1"), Refusal("e-1", "b-2"), Refusal("e-2", "b-2")]
    assert shared_by_refusals(refusals, THRESHOLD, existing_owner_id=None) is None


def test_the_existing_customers_owner_does_not_count() -> None:
    refusals = [Refusal("e-owner", "b-9"), Refusal("e-1", "b-1"), Refusal("e-2", "b-1")]
    assert shared_by_refusals(refusals, THRESHOLD, existing_owner_id="e-owner") is None
    counted = [*refusals, Refusal("e-3", "b-2")]
    verdict = shared_by_refusals(counted, THRESHOLD, existing_owner_id="e-owner")
    assert verdict is not None
    assert "e-owner" not in verdict.reps
    assert verdict.branches == ("b-1", "b-2")


def test_refusals_of_reps_without_a_branch_count_no_branch() -> None:
    refusals = [Refusal("e-1", None), Refusal("e-2", None), Refusal("e-3", "b-1")]
    assert shared_by_refusals(refusals, THRESHOLD, existing_owner_id=None) is None


def test_the_customers_branch_and_refused_branches_may_not_confirm_a_shared_value() -> None:
    assert involved_branch("b-1", "b-1", set())
    assert involved_branch("b-2", "b-1", {"b-2", "b-3"})
    assert not involved_branch("b-4", "b-1", {"b-2", "b-3"})


def test_someone_of_no_branch_is_involved_in_none() -> None:
    assert not involved_branch(None, None, {None})
