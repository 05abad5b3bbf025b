"""SOURCE_CONFLICT at submission: a personal-channel claim on a company-channel customer."""

from __future__ import annotations

import pytest

from salesguard_orders.rules.source_claim import SOURCE_CONFLICT, source_flags


@pytest.mark.parametrize("registered", ["WEBSITE", "EXHIBITION", "REFERRAL", "COMPANY_ASSIGNED"])
def test_a_personal_claim_on_a_company_channel_customer_is_a_conflict(registered: str) -> None:
    assert source_flags(source_claim="PERSONAL", registered_source=registered) == [SOURCE_CONFLICT]


@pytest.mark.parametrize(
    ("claim", "registered"),
    [
        ("PERSONAL", "PERSONAL"),  # the rep's own network, claimed as such
        ("WEBSITE", "WEBSITE"),  # the registered channel (the default claim)
        ("REFERRAL", "WEBSITE"),  # another company channel: the same rate
        ("WEBSITE", "PERSONAL"),  # a company claim on a personal customer asks for less
        ("PERSONAL", "UNSPECIFIED"),  # a source the registry does not know
    ],
)
def test_no_other_claim_is_a_conflict(claim: str, registered: str) -> None:
    assert source_flags(source_claim=claim, registered_source=registered) == []
