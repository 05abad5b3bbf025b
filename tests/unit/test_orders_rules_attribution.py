"""O3 one by one: attribution mismatch and a customer registered after the order."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from salesguard_orders.rules.attribution import (
    ATTRIBUTION_MISMATCH,
    UNREGISTERED_CUSTOMER,
    attribution_flags,
    flag_dedupe_key,
    flag_evidence,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
# 2026-12-05 ends at 16:00 UTC in Shanghai.
DAY_END = datetime(2026, 12, 5, 16, tzinfo=UTC)


def flags(owner_id: str | None, registered_at: datetime | None) -> list[str]:
    return attribution_flags(
        submitted_by="rep-1", owner_id=owner_id, registered_at=registered_at, order_day_end=DAY_END
    )


def test_the_owner_submitting_before_registration_day_ends_is_no_flag() -> None:
    assert flags("rep-1", DAY_END - timedelta(seconds=1)) == []
    assert flags("rep-1", None) == []


def test_someone_other_than_the_owner_submitting_is_an_attribution_mismatch() -> None:
    assert flags("rep-2", None) == [ATTRIBUTION_MISMATCH]
    assert flags(None, None) == [ATTRIBUTION_MISMATCH]  # an unowned customer


def test_a_customer_registered_after_the_order_date_is_unregistered() -> None:
    assert flags("rep-1", DAY_END) == [UNREGISTERED_CUSTOMER]
    assert flags("rep-2", DAY_END + timedelta(days=3)) == [
        ATTRIBUTION_MISMATCH,
        UNREGISTERED_CUSTOMER,
    ]


def test_one_alert_per_flag_and_order_with_the_facts_behind_it() -> None:
    assert flag_dedupe_key(ATTRIBUTION_MISMATCH, "o1") == "ATTRIBUTION_MISMATCH:o1"
    evidence = flag_evidence(
        order_code="O-000001",
        customer_code="C-000001",
        submitted_by="rep-2",
        owner_id=None,
        order_date=date(2026, 12, 5),
        total_minor=123450,
        currency="CNY",
        registered_at=DAY_END,
        zone=SHANGHAI,
        source_claim="PERSONAL",
        registered_source="WEBSITE",
    )
    assert evidence["owner_id"] == "—"
    assert evidence["total"] == "1234.50"
    assert evidence["registered_on"] == "2026-12-06"
    assert (evidence["source_claim"], evidence["registered_source"]) == ("PERSONAL", "WEBSITE")
    assert "registered_at" not in flag_evidence(
        order_code="O-000001",
        customer_code="C-000001",
        submitted_by="rep-1",
        owner_id="rep-1",
        order_date=date(2026, 12, 5),
        total_minor=1,
        currency="CNY",
        registered_at=None,
        zone=SHANGHAI,
        source_claim="WEBSITE",
        registered_source="WEBSITE",
    )
