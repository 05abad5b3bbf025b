"""C6 one by one: reassignment is all or nothing, a leaver's successor, the owner lock."""

from __future__ import annotations

from salesguard_customers.rules.ownership import (
    Person,
    missing_customers,
    owner_lock_key,
    successor_refusal,
)

LEAVER = Person("e-leaver", active=False, branch_id="b-1")


def test_the_owner_lock_is_named_after_the_employee() -> None:
    assert owner_lock_key("e-1") == "owner:e-1"


def test_customers_not_found_or_out_of_scope_are_named_in_request_order() -> None:
    assert missing_customers(["c-3", "c-1", "c-2"], {"c-1"}) == ["c-3", "c-2"]


def test_a_reassignment_of_customers_all_found_misses_none() -> None:
    assert missing_customers(["c-1", "c-2"], {"c-1", "c-2"}) == []


def test_an_active_successor_of_the_same_branch_takes_the_customers() -> None:
    people = {"e-leaver": LEAVER, "e-next": Person("e-next", active=True, branch_id="b-1")}
    assert successor_refusal("e-leaver", "e-next", people) is None


def test_a_leaver_cannot_succeed_themselves() -> None:
    refusal = successor_refusal("e-leaver", "e-leaver", {"e-leaver": LEAVER})
    assert refusal == "a leaving employee cannot succeed themselves"


def test_an_inactive_or_unknown_successor_is_refused() -> None:
    people = {"e-leaver": LEAVER, "e-gone": Person("e-gone", active=False, branch_id="b-1")}
    assert successor_refusal("e-leaver", "e-gone", people) == "e-gone is not an active employee"
    assert successor_refusal("e-leaver", "e-nobody", people) == (
        "e-nobody is not an active employee"
    )


def test_a_successor_of_another_branch_is_refused() -> None:
    people = {"e-leaver": LEAVER, "e-far": Person("e-far", active=True, branch_id="b-2")}
    refusal = successor_refusal("e-leaver", "e-far", people)
    assert refusal is not None
    assert "another branch" in refusal


def test_a_leaver_the_directory_does_not_know_takes_any_active_successor() -> None:
    people = {"e-next": Person("e-next", active=True, branch_id="b-2")}
    assert successor_refusal("e-unknown", "e-next", people) is None
