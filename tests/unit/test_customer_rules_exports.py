"""C9 one by one: another manager decides, once; only an approved export runs, once."""

from __future__ import annotations

from salesguard_customers.rules.exports import (
    APPROVED,
    COMPLETED,
    PENDING,
    REJECTED,
    RunVerdict,
    decided_status,
    is_self_approval,
    may_decide,
    run_verdict,
    without_approval_dedupe_key,
)


def test_nobody_decides_their_own_export_request() -> None:
    assert is_self_approval("e-1", "e-1", [])


def test_the_policys_self_approval_reason_also_refuses() -> None:
    assert is_self_approval("e-1", "e-2", ["SELF_APPROVAL"])


def test_another_manager_may_decide() -> None:
    assert not is_self_approval("e-1", "e-2", ["OUT_OF_SCOPE"])


def test_a_request_is_decided_once_while_pending() -> None:
    assert may_decide(PENDING)
    for status in (APPROVED, REJECTED, COMPLETED):
        assert not may_decide(status)


def test_a_decision_approves_or_rejects() -> None:
    assert decided_status(True) == APPROVED
    assert decided_status(False) == REJECTED


def test_only_an_approved_request_runs() -> None:
    assert run_verdict(APPROVED) is RunVerdict.RUN


def test_a_pending_or_rejected_request_runs_without_approval_and_is_refused() -> None:
    assert run_verdict(PENDING) is RunVerdict.WITHOUT_APPROVAL
    assert run_verdict(REJECTED) is RunVerdict.WITHOUT_APPROVAL


def test_a_completed_request_does_not_run_again() -> None:
    assert run_verdict(COMPLETED) is RunVerdict.ALREADY_RAN


def test_one_without_approval_alert_per_request_actor_and_status() -> None:
    assert without_approval_dedupe_key("x-1", "e-1", PENDING) == (
        "EXPORT_WITHOUT_APPROVAL:x-1:e-1:PENDING"
    )
    assert without_approval_dedupe_key("x-1", "e-1", PENDING) != without_approval_dedupe_key(
        "x-1", "e-1", REJECTED
    )
