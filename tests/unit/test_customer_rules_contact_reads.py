"""C8 one by one: bulk contact access per actor and window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from salesguard_customers.rules.contact_reads import BulkThreshold, bulk_contact_access

NOW = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
HOURLY = BulkThreshold(count=10, window_seconds=3600)


def test_the_threshold_comes_from_policy_data_with_defaults() -> None:
    assert BulkThreshold.from_policy({}) == HOURLY
    assert BulkThreshold.from_policy({"count": 5, "window_seconds": 600}) == BulkThreshold(5, 600)


def test_the_window_reaches_back_one_window_length() -> None:
    assert HOURLY.window_start(NOW) == NOW - timedelta(hours=1)


def test_reading_fewer_customers_than_the_threshold_raises_nothing() -> None:
    assert bulk_contact_access("e-1", 9, HOURLY, NOW, ["c-1"]) is None


def test_reading_the_threshold_of_customers_raises_bulk_contact_access() -> None:
    bulk = bulk_contact_access("e-1", 10, HOURLY, NOW, ["c-1", "c-2"])
    assert bulk is not None
    assert bulk.evidence == {
        "customer_count": 10,
        "threshold": 10,
        "window_minutes": 60,
        "last_customer_ids": ["c-1", "c-2"],
    }


def test_one_alert_per_actor_and_window() -> None:
    first = bulk_contact_access("e-1", 10, HOURLY, NOW, [])
    later_same_hour = bulk_contact_access("e-1", 12, HOURLY, NOW + timedelta(minutes=20), [])
    next_hour = bulk_contact_access("e-1", 12, HOURLY, NOW + timedelta(minutes=40), [])
    other_actor = bulk_contact_access("e-2", 10, HOURLY, NOW, [])
    assert first is not None and later_same_hour is not None
    assert next_hour is not None and other_actor is not None
    assert first.dedupe_key == later_same_hour.dedupe_key
    assert first.dedupe_key != next_hour.dedupe_key
    assert first.dedupe_key != other_actor.dedupe_key
    assert first.dedupe_key.startswith("BULK_CONTACT_ACCESS:e-1:")


def test_the_evidence_names_at_most_the_last_20_customers() -> None:
    ids = [f"c-{n}" for n in range(30)]
    bulk = bulk_contact_access("e-1", 30, HOURLY, NOW, ids)
    assert bulk is not None
    assert bulk.evidence["last_customer_ids"] == ids[-20:]
