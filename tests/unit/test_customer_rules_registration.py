"""C1, C2 and C4 one by one: what a registration carries, when it is late, a source change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from salesguard_customers.rules.registration import (
    DEFAULT_LATE_REGISTRATION_SECONDS,
    change_action,
    has_contact,
    late_registration,
    late_registration_limit,
    owner_of_registration,
    source_change_lacks_reason,
)

FIRST_CONTACT = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
DAY = timedelta(hours=24)


def test_a_customer_needs_a_phone_or_an_email() -> None:
    assert has_contact("+8613800000000", "")
    assert has_contact("", "li@example.com")
    assert not has_contact("", "")


def test_the_registering_rep_owns_the_customer_unless_one_is_assigned() -> None:
    assert owner_of_registration("e-rep", "") == "e-rep"
    assert owner_of_registration("e-rep", "e-other") == "e-other"


def test_the_late_registration_limit_defaults_to_24_hours() -> None:
    assert late_registration_limit({}) == timedelta(seconds=DEFAULT_LATE_REGISTRATION_SECONDS)
    assert late_registration_limit({}) == DAY


def test_policy_data_sets_the_late_registration_limit() -> None:
    assert late_registration_limit({"after_seconds": 3600}) == timedelta(hours=1)


def test_registering_within_the_limit_is_on_time() -> None:
    assert late_registration(FIRST_CONTACT, FIRST_CONTACT + timedelta(hours=23), DAY) is None


def test_registering_exactly_at_the_limit_is_on_time() -> None:
    assert late_registration(FIRST_CONTACT, FIRST_CONTACT + DAY, DAY) is None


def test_registering_after_the_limit_is_late_and_says_by_how_much() -> None:
    registered = FIRST_CONTACT + timedelta(hours=30)
    late = late_registration(FIRST_CONTACT, registered, DAY)
    assert late is not None
    assert late.late_by == timedelta(hours=30)
    evidence = late.evidence(
        customer_code="C-000123",
        first_contact_at=FIRST_CONTACT,
        registered_at=registered,
        registered_by="e-rep",
    )
    assert evidence == {
        "customer_code": "C-000123",
        "hours_late": 30.0,
        "limit_hours": 24.0,
        "first_contact_at": FIRST_CONTACT.isoformat(),
        "registered_at": registered.isoformat(),
        "registered_by": "e-rep",
    }


def test_changing_the_source_channel_or_detail_needs_a_reason() -> None:
    assert source_change_lacks_reason({"source"}, "")
    assert source_change_lacks_reason({"source_detail", "name"}, "")
    assert not source_change_lacks_reason({"source"}, "the manager decided")


def test_changing_other_fields_needs_no_reason() -> None:
    assert not source_change_lacks_reason({"name", "phone"}, "")


def test_a_source_channel_change_is_audited_as_such() -> None:
    assert change_action({"source", "name"}) == "customer.source.change"
    assert change_action({"source_detail"}) == "customer.update"
    assert change_action({"name"}) == "customer.update"
