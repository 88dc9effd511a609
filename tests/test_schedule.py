"""Tests for monitor.schedule: when a feed is polled next after a success or a failure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.schedule import MAX_TTL, next_poll_after_failure, next_poll_after_success

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
HOUR = timedelta(hours=1)


# ----------------------------------------------------------------------------------- success


def test_success_uses_the_interval_by_default():
    assert next_poll_after_success(NOW, interval=30 * MIN) == NOW + 30 * MIN


def test_success_uses_a_longer_ttl():
    assert next_poll_after_success(NOW, interval=30 * MIN, ttl=2 * HOUR) == NOW + 2 * HOUR


def test_success_ignores_a_shorter_ttl():
    assert next_poll_after_success(NOW, interval=30 * MIN, ttl=5 * MIN) == NOW + 30 * MIN


def test_success_caps_the_ttl():
    assert next_poll_after_success(NOW, interval=30 * MIN, ttl=timedelta(days=30)) == NOW + MAX_TTL


def test_success_cap_on_ttl_does_not_shorten_a_long_interval():
    interval = MAX_TTL + HOUR
    assert next_poll_after_success(NOW, interval=interval, ttl=timedelta(days=30)) == NOW + interval


def test_success_retry_after_wins_when_longest():
    assert next_poll_after_success(NOW, interval=30 * MIN, ttl=HOUR, retry_after=3 * HOUR) == NOW + 3 * HOUR


def test_success_retry_after_is_not_capped_like_the_ttl():
    # Retry-After is capped where it is parsed (a week), not here: the server's word outranks the TTL cap.
    two_days = timedelta(days=2)
    assert next_poll_after_success(NOW, interval=30 * MIN, retry_after=two_days) == NOW + two_days


def test_success_shorter_retry_after_does_not_shorten_the_interval():
    assert next_poll_after_success(NOW, interval=30 * MIN, retry_after=MIN) == NOW + 30 * MIN


# ----------------------------------------------------------------------------------- failure


def _wait(failures: int, *, interval=10 * MIN, max_backoff=24 * HOUR, retry_after=None,
          key="feed") -> timedelta:
    when = next_poll_after_failure(NOW, interval=interval, failures=failures, max_backoff=max_backoff,
                                   retry_after=retry_after, feed_key=key)
    return when - NOW


@pytest.mark.parametrize("failures", [1, 2, 3, 4, 5, 6])
def test_failure_backs_off_exponentially_with_at_most_ten_percent_jitter(failures):
    base = 10 * MIN * 2 ** (failures - 1)
    wait = _wait(failures)
    assert base <= wait <= base * 1.1


def test_failure_zero_or_negative_count_is_treated_as_the_first():
    assert 10 * MIN <= _wait(0) <= 11 * MIN
    assert 10 * MIN <= _wait(-3) <= 11 * MIN


def test_failure_waits_grow_until_the_cap():
    waits = [_wait(n, max_backoff=6 * HOUR) for n in range(1, 12)]
    assert waits == sorted(waits)
    assert waits[-1] == 6 * HOUR


@pytest.mark.parametrize("failures", [6, 7, 10, 50, 1000, 10**9])
def test_failure_is_capped_by_max_backoff(failures):
    # 10 min x 2^5 = 320 min already passes the 5 h cap; huge counts must neither overflow nor loop for long.
    assert _wait(failures, max_backoff=5 * HOUR) == 5 * HOUR


def test_failure_cap_holds_with_jitter_just_below_it():
    # 10 min x 2^4 = 160 min; with up to 10% jitter it could pass a 165 min cap, and must not.
    for key in (f"feed-{i}" for i in range(50)):
        assert 160 * MIN <= _wait(5, max_backoff=165 * MIN, key=key) <= 165 * MIN


def test_failure_never_waits_less_than_the_interval_even_with_a_smaller_cap():
    for failures in (1, 2, 5):
        assert _wait(failures, interval=2 * HOUR, max_backoff=30 * MIN) == 2 * HOUR


def test_failure_jitter_is_deterministic():
    assert _wait(3, key="a") == _wait(3, key="a")
    assert next_poll_after_failure(NOW, interval=HOUR, failures=2, max_backoff=HOUR * 24, feed_key="x") == (
        next_poll_after_failure(NOW, interval=HOUR, failures=2, max_backoff=HOUR * 24, feed_key="x")
    )


def test_failure_jitter_spreads_feeds():
    waits = {_wait(3, key=f"feed-{i}") for i in range(20)}
    assert len(waits) > 10  # twenty feeds of one dead host do not all come back at the same second
    assert all(40 * MIN <= w <= 44 * MIN for w in waits)


def test_failure_jitter_differs_with_the_failure_count():
    fractions = {(_wait(n, max_backoff=1000 * HOUR) / (10 * MIN * 2 ** (n - 1))) for n in range(1, 8)}
    assert len(fractions) > 1


def test_failure_retry_after_wins_when_larger():
    assert _wait(1, retry_after=3 * HOUR) == 3 * HOUR


def test_failure_retry_after_wins_even_over_the_cap():
    assert _wait(20, max_backoff=HOUR, retry_after=2 * timedelta(days=1)) == 2 * timedelta(days=1)


def test_failure_smaller_retry_after_does_not_shorten_the_backoff():
    assert _wait(4, retry_after=MIN) >= 80 * MIN


def test_failure_result_is_now_plus_wait():
    when = next_poll_after_failure(NOW, interval=HOUR, failures=1, max_backoff=24 * HOUR, feed_key="k")
    assert when.tzinfo is not None
    assert NOW + HOUR <= when <= NOW + HOUR * 1.1


def test_a_failed_page_is_tried_three_more_times_ever_later_then_left():
    from monitor.schedule import PAGE_RETRY_DELAYS, next_page_retry

    now = datetime(2024, 9, 9, 12, tzinfo=UTC)
    waits = [next_page_retry(now, attempts=n) - now for n in range(len(PAGE_RETRY_DELAYS))]
    assert waits == sorted(waits) and waits[0] >= timedelta(minutes=5)
    assert next_page_retry(now, attempts=len(PAGE_RETRY_DELAYS)) is None
    # A server's Retry-After, when longer, wins; a shorter one does not bring the retry forward.
    assert next_page_retry(now, attempts=0, retry_after=timedelta(hours=2)) == now + timedelta(hours=2)
    assert next_page_retry(now, attempts=0, retry_after=timedelta(seconds=5)) == now + PAGE_RETRY_DELAYS[0]
