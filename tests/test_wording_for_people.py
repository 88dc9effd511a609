"""Counts and times in words, as every message says how many and when."""

from __future__ import annotations

import pytest

from monitor.runtime.plurals import plural


@pytest.mark.parametrize(
    ("count", "expected"),
    [(0, "0 stories"), (1, "1 story"), (2, "2 stories")],
)
def test_a_count_of_one_is_singular_and_an_irregular_plural_is_given(count, expected):
    assert plural(count, "story", "stories") == expected


def test_a_regular_plural_adds_an_s():
    assert [plural(n, "feed") for n in (1, 3)] == ["1 feed", "3 feeds"]


def test_times_for_people_say_hours_and_minutes_and_whether_a_try_is_due():
    from datetime import UTC, datetime, timedelta

    from monitor.cli import when

    now = datetime(2026, 12, 7, 7, 0, tzinfo=UTC)
    assert when(now + timedelta(hours=2, minutes=30), now) == "in 2h30m"  # it read "in 3h"
    assert when(now - timedelta(hours=3), now) == "3h ago"
    assert when(now + timedelta(hours=20), now) == "in 20h"
    assert when(now + timedelta(seconds=40), now) == "in 40s"


def test_a_failed_delivery_past_its_retry_time_is_said_due():
    from datetime import UTC, datetime, timedelta

    from monitor.cli.digest import _when
    from monitor.store.deliveries import DeliveryRecord

    now = datetime(2026, 12, 7, 7, 0, tzinfo=UTC)

    def failed(retry_at: datetime) -> DeliveryRecord:
        return DeliveryRecord(
            1,
            "morning",
            "digest",
            "slack",
            now,
            "failed",
            1,
            3,
            0,
            now,
            None,
            retry_at,
            None,
            None,
            None,
            "500",
        )

    # The daemon is down: "next try 22s ago" read as a try that was made.
    assert _when(failed(now - timedelta(seconds=22)), now) == "next try due 22s ago"
    assert _when(failed(now + timedelta(minutes=5)), now) == "next try in 5m"
