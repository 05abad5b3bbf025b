"""O6 one by one: a rhythm, its usual interval, silence, and who is still in touch.

The statement's fragments are checked against their pure twins in an in-memory SQLite.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime, timedelta

from salesguard_orders.rules.diversion import (
    IN_HISTORY_SQL,
    REGULAR_SQL,
    DiversionThresholds,
    SimilarRecord,
    Watch,
    counts_in_history,
    days_on_watch,
    dedupe_key,
    history_start,
    is_regular,
    is_silent,
    orders_moved_to,
    silent_sql,
    still_in_touch,
    thresholds_from,
    usual_interval,
    watch_of,
)

AS_OF = date(2026, 12, 5)
DEFAULTS = DiversionThresholds()


def test_thresholds_come_from_policy_data_and_a_rhythm_needs_two_orders() -> None:
    assert thresholds_from({}) == DEFAULTS
    assert thresholds_from({"min_orders": 1, "silence_factor": 3, "history_days": 90}) == (
        DiversionThresholds(min_orders=2, silence_factor=3.0, history_days=90)
    )


def test_the_history_leaves_out_cancelled_and_rejected_orders() -> None:
    start = history_start(AS_OF, DEFAULTS)
    assert start == AS_OF - timedelta(days=730)
    assert counts_in_history("APPROVED", AS_OF, AS_OF, start)
    assert counts_in_history("SUBMITTED", start, AS_OF, start)
    assert not counts_in_history("CANCELLED", AS_OF, AS_OF, start)
    assert not counts_in_history("REJECTED", AS_OF, AS_OF, start)
    assert not counts_in_history("APPROVED", start - timedelta(days=1), AS_OF, start)
    assert not counts_in_history("APPROVED", AS_OF + timedelta(days=1), AS_OF, start)


def test_a_regular_ordered_enough_on_at_least_two_days() -> None:
    assert is_regular(3, 2, DEFAULTS)
    assert not is_regular(2, 2, DEFAULTS)
    assert not is_regular(5, 1, DEFAULTS)  # a burst on one day is no rhythm


def test_the_usual_interval_is_the_median_gap_between_order_days() -> None:
    start = date(2026, 1, 1)
    monthly = [start + timedelta(days=30 * n) for n in range(5)]
    assert usual_interval(monthly) == 30.0
    # One long holiday does not move the rhythm.
    assert usual_interval([*monthly, monthly[-1] + timedelta(days=200)]) == 30.0
    # Two middle gaps: their mean; orders on one day count once.
    assert usual_interval(
        [start, start, start + timedelta(days=10), start + timedelta(days=30)]
    ) == (15.0)
    assert usual_interval([start, start]) is None


def test_silence_is_longer_than_the_factor_times_the_usual_interval() -> None:
    assert is_silent(61, 30.0, DEFAULTS)
    assert not is_silent(60, 30.0, DEFAULTS)
    assert not is_silent(100, 0.0, DEFAULTS)


def test_an_owner_who_visits_or_calls_is_still_in_touch() -> None:
    assert still_in_touch(1, 0)
    assert still_in_touch(0, 1)
    assert not still_in_touch(0, 0)


def test_the_silence_is_on_the_watch_of_the_owner_now() -> None:
    last_order = date(2026, 11, 1)
    after_order = datetime(2026, 11, 2, tzinfo=UTC)
    registered = datetime(2026, 1, 5, 9, tzinfo=UTC)
    # The last order was theirs: from the day after it, whenever they took the customer
    # (a book registered after its history was ordered too).
    mine = watch_of("rep-1", last_order, "rep-1", registered)
    assert mine == Watch("rep-1", last_order, after_order)
    assert watch_of("rep-1", last_order, "rep-1", datetime(2026, 12, 1, tzinfo=UTC)) == mine
    assert days_on_watch(AS_OF, mine) == (AS_OF - last_order).days
    # In the pool (the leaver's customer nobody claimed): nobody's watch, the leaver's least.
    assert watch_of("leaver", last_order, "", registered) is None
    # A successor who took the customer after the last order: from the moment they did.
    taken = datetime(2026, 11, 20, 8, 30, tzinfo=UTC)
    successor = watch_of("leaver", last_order, "successor", taken)
    assert successor == Watch("successor", date(2026, 11, 20), taken)
    assert days_on_watch(AS_OF, successor) == 15
    # Owning it since before the last order (someone else submitted it): from after it.
    assert watch_of("cover", last_order, "rep-1", registered) == Watch(
        "rep-1", last_order, after_order
    )


def test_orders_moved_to_the_nearest_similar_record_that_ordered_since() -> None:
    last_order = date(2026, 11, 1)
    near = SimilarRecord("c-near", "C-000002", "schemer", 12.0)
    far = SimilarRecord("c-far", "C-000003", "other", 80.0)
    assert orders_moved_to((), last_order, {}) is None
    # Ordered before the quiet customer's last order, or never: the silence is the owner's.
    assert orders_moved_to((near, far), last_order, {"c-near": last_order}) is None
    assert orders_moved_to((near,), last_order, {}) is None
    # The nearest that ordered after it.
    later = last_order + timedelta(days=3)
    assert orders_moved_to((near, far), last_order, {"c-far": later}) == far
    assert orders_moved_to((near, far), last_order, {"c-near": later, "c-far": later}) == near


def test_one_alert_per_customer_and_last_order() -> None:
    assert dedupe_key("c1", "o9") == "DIVERSION_RISK:c1:o9"


def test_the_fragments_agree_with_the_functions() -> None:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE orders (customer_id TEXT, status TEXT, order_date TEXT)")
    rows = [
        ("regular", "APPROVED", "2026-10-01"),
        ("regular", "APPROVED", "2026-11-01"),
        ("regular", "CLOSED", "2026-11-01"),
        ("one-day", "APPROVED", "2026-11-01"),
        ("one-day", "APPROVED", "2026-11-01"),
        ("one-day", "APPROVED", "2026-11-01"),
        ("cancelled", "CANCELLED", "2026-10-01"),
        ("cancelled", "APPROVED", "2026-11-01"),
        ("cancelled", "APPROVED", "2026-11-02"),
    ]
    db.executemany("INSERT INTO orders VALUES (?, ?, ?)", rows)
    params = {
        "history_start": history_start(AS_OF, DEFAULTS).isoformat(),
        "as_of": AS_OF.isoformat(),
        "min_orders": DEFAULTS.min_orders,
    }
    found = {
        customer
        for (customer,) in db.execute(
            f"SELECT customer_id FROM orders WHERE {IN_HISTORY_SQL} GROUP BY customer_id "
            f"{REGULAR_SQL}",
            params,
        )
    }
    start = history_start(AS_OF, DEFAULTS)
    expected = set()
    for customer in {row[0] for row in rows}:
        kept = [
            date.fromisoformat(day)
            for name, status, day in rows
            if name == customer and counts_in_history(status, date.fromisoformat(day), AS_OF, start)
        ]
        if is_regular(len(kept), len(set(kept)), DEFAULTS):
            expected.add(customer)
    assert found == expected == {"regular"}
    for days, usual in ((61, 30.0), (60, 30.0), (5, 0.0)):
        sql = f"SELECT {silent_sql(str(days), str(usual))}"
        (answer,) = db.execute(sql, {"silence_factor": DEFAULTS.silence_factor}).fetchone()
        assert bool(answer) == is_silent(days, usual, DEFAULTS)
