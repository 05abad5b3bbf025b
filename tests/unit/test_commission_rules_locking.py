"""M5: deterministic line IDs; a locked period never changes, and is locked only once run."""

from __future__ import annotations

import uuid

from salesguard_commissions.rules import locking
from salesguard_commissions.rules.vocabulary import LOCKED, OPEN


def test_line_ids_are_uuid5_of_what_the_line_is_about() -> None:
    parts = ("2026-03", "branch-1", "0123456789abcdef0123456789abcdef", "COMMISSION")
    expected = uuid.uuid5(locking.LINE_NAMESPACE, "\x1f".join(parts)).hex
    assert locking.line_id(*parts) == expected
    assert locking.line_id(*parts) == locking.line_id(*parts)
    assert locking.line_id("2026-03", "branch-1", parts[2], "CLAWBACK") != expected
    assert locking.line_id("2026-04", "branch-1", parts[2], "COMMISSION") != expected


def test_the_ids_of_a_batch_are_line_ids() -> None:
    of = locking.line_ids("2026-03", "branch-1", "COMMISSION")
    for number in range(2000):  # every value of the variant's and version's digits
        order_id = uuid.uuid4().hex if number % 2 else f"order-{number}-订单"
        assert of(order_id) == locking.line_id("2026-03", "branch-1", order_id, "COMMISSION")
        assert (
            of(order_id)
            == uuid.uuid5(
                locking.LINE_NAMESPACE, f"2026-03\x1fbranch-1\x1f{order_id}\x1fCOMMISSION"
            ).hex
        )


def test_a_locked_period_no_longer_changes_and_only_a_run_period_is_locked() -> None:
    assert locking.may_change(OPEN) and locking.may_change(None)
    assert not locking.may_change(LOCKED)
    assert locking.is_open(OPEN) and not locking.is_open(LOCKED) and not locking.is_open(None)
    assert not locking.may_lock(0) and locking.may_lock(1)
