"""M3: the registry's source class decides the rate; a conflicting claim waits for review."""

from __future__ import annotations

import pytest

from salesguard.vocabulary import COMPANY_CHANNELS
from salesguard_commissions.rules.source_conflict import SourceClass, classify


@pytest.mark.parametrize("channel", sorted(COMPANY_CHANNELS))
def test_a_personal_claim_for_a_company_channel_customer_is_a_source_conflict(
    channel: str,
) -> None:
    assert classify(channel, "PERSONAL") == SourceClass(False, "SOURCE_CONFLICT", True)
    assert classify(channel, channel) == SourceClass(False, "COMPANY_CHANNEL", False)
    assert classify(channel, "") == SourceClass(False, "COMPANY_CHANNEL", False)


def test_a_personal_customer_earns_the_personal_rate_whatever_the_claim() -> None:
    for claim in ("PERSONAL", "WEBSITE", ""):
        assert classify("PERSONAL", claim) == SourceClass(True, "PERSONAL_CHANNEL", False)


def test_a_customer_the_registry_does_not_know_earns_the_company_rate_and_waits() -> None:
    for claim in ("PERSONAL", "WEBSITE", ""):
        assert classify(None, claim) == SourceClass(False, "UNKNOWN_CUSTOMER", True)
