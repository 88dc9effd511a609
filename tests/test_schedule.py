"""Tests for monitor.schedule: when a feed is polled next after a success or a failure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.schedule import (
    ABSENCE,
    MAX_SPELLS,
    MAX_TTL,
    MIN_SPAN,
    SILENT_AFTER,
    Rhythm,
    adaptive_interval,
    describe_pace,
    learned_rhythm,
    listing_overflowed,
    news_delay,
    next_poll_after_failure,
    next_poll_after_success,
    publication_moments,
    publications_per_day,
    quiet_for_days,
    silence,
    still_silent,
    unwatched_spell,
    with_spell,
)

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


def _wait(
    failures: int, *, interval=10 * MIN, max_backoff=24 * HOUR, retry_after=None, key="feed"
) -> timedelta:
    when = next_poll_after_failure(
        NOW,
        interval=interval,
        failures=failures,
        max_backoff=max_backoff,
        retry_after=retry_after,
        feed_key=key,
    )
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


# ----------------------------------------------------------------------------------- cache lifetime


def test_success_waits_for_a_longer_cache_lifetime():
    assert next_poll_after_success(NOW, interval=30 * MIN, cache_lifetime=2 * HOUR) == NOW + 2 * HOUR


def test_success_ignores_a_shorter_cache_lifetime():
    assert next_poll_after_success(NOW, interval=30 * MIN, cache_lifetime=MIN) == NOW + 30 * MIN


def test_success_caps_a_huge_cache_lifetime_like_the_ttl():
    ten_years = timedelta(days=3650)
    assert next_poll_after_success(NOW, interval=5 * MIN, cache_lifetime=ten_years) == NOW + MAX_TTL


def test_success_takes_the_longest_of_all_hints():
    when = next_poll_after_success(
        NOW, interval=5 * MIN, ttl=HOUR, cache_lifetime=3 * HOUR, retry_after=2 * HOUR
    )
    assert when == NOW + 3 * HOUR


# ----------------------------------------------------------------------------------- rhythm

DAY = timedelta(days=1)
LOW, HIGH = 5 * MIN, 24 * HOUR


def _interval(per_day: float) -> timedelta:
    return adaptive_interval(per_day, min_interval=LOW, max_interval=HIGH)


def test_publications_are_counted_by_their_dates_within_the_week():
    sightings = [(NOW - n * HOUR, NOW - n * HOUR + MIN) for n in range(1, 15)]  # 14 in the last 14 h
    sightings.append((NOW - 8 * DAY, NOW - 8 * DAY))  # before the window
    assert len(publication_moments(sightings, now=NOW)) == 14
    assert publications_per_day(sightings, now=NOW) == pytest.approx(2.0)


def test_a_first_poll_counts_the_dated_backlog_it_finds():
    # The first poll sees a week of entries at once: their dates, not the moment of the poll, tell the rate.
    sightings = [(NOW - n * 6 * HOUR, NOW) for n in range(28)]
    assert publications_per_day(sightings, now=NOW) == pytest.approx(4.0)


def test_undated_entries_count_when_first_seen_and_a_backlog_once():
    backlog = [(None, NOW - 3 * DAY)] * 50  # all found by the first poll
    later = [(None, NOW - n * HOUR) for n in range(1, 5)]
    assert len(publication_moments(backlog + later, now=NOW)) == 5


def test_thousands_of_entries_with_one_timestamp_count_as_one_publication():
    stamp = NOW - HOUR
    sightings = [(stamp, NOW - HOUR + n * timedelta(seconds=1) / 1000) for n in range(5000)]
    assert publication_moments(sightings, now=NOW) == [stamp.replace(second=0, microsecond=0)]
    assert _interval(publications_per_day(sightings, now=NOW)) > 3 * HOUR


def test_dates_in_the_future_fall_back_to_when_the_entry_was_first_seen():
    first_seen = NOW - 2 * HOUR
    sightings = [(datetime(2999, 1, 1, tzinfo=UTC), first_seen), (NOW + DAY, first_seen)]
    assert publication_moments(sightings, now=NOW) == [first_seen]


def test_a_slightly_fast_clock_is_believed_but_never_past_the_sighting():
    first_seen = NOW - HOUR
    moments = publication_moments([(first_seen + 5 * MIN, first_seen)], now=NOW)
    assert moments == [first_seen]


def test_dates_far_in_the_past_of_new_entries_fall_back_to_first_seen():
    # A new entry dated 1970 (or reappearing years later) is news when we see it, not decades ago.
    first_seen = NOW - 3 * HOUR
    sightings = [(datetime(1970, 1, 1, tzinfo=UTC), first_seen), (datetime(1, 1, 1, tzinfo=UTC), first_seen)]
    assert publication_moments(sightings, now=NOW) == [first_seen]


def test_entries_first_seen_after_now_are_ignored():
    assert publication_moments([(None, NOW + HOUR)], now=NOW) == []


def test_no_entries_is_no_rate():
    assert publications_per_day([], now=NOW) == 0.0
    assert publications_per_day([], now=NOW, watched_since=NOW - HOUR) == 0.0


def test_a_new_feed_counts_its_rate_over_what_its_listing_shows():
    # Twenty entries two minutes apart, the first poll ten minutes after the feed was added.
    sightings = [(NOW - n * 2 * MIN, NOW) for n in range(20)]
    added = NOW - 10 * MIN
    # The listing reaches back 38 minutes; MIN_SPAN makes an hour of it: 20 an hour.
    assert publications_per_day(sightings, now=NOW, watched_since=added) == pytest.approx(20 * 24)
    assert (
        learned_rhythm(sightings, now=NOW, min_interval=LOW, max_interval=HIGH, watched_since=added).interval
        == LOW
    )
    # Counted over a week, as for a feed watched all week: under three a day.
    assert publications_per_day(sightings, now=NOW) == pytest.approx(20 / 7)
    assert publications_per_day(sightings, now=NOW, watched_since=NOW - 30 * DAY) == pytest.approx(20 / 7)


def test_a_new_feed_watched_for_a_day_counts_that_day():
    # Added a day ago with nothing listed then; four entries since, first seen as they came.
    sightings = [(NOW - n * 5 * HOUR, NOW - n * 5 * HOUR + MIN) for n in range(4)]
    assert publications_per_day(sightings, now=NOW, watched_since=NOW - DAY) == pytest.approx(4.0)


def test_an_old_entry_shows_the_listing_reaches_back_past_the_week():
    # A blog's first poll: two entries this week, one from last year. Its rate is the week's.
    sightings = [(NOW - DAY, NOW), (NOW - 3 * DAY, NOW), (NOW - 300 * DAY, NOW)]
    assert publications_per_day(sightings, now=NOW, watched_since=NOW) == pytest.approx(3 / 7)


def test_a_just_published_entry_is_not_taken_for_a_rate_of_one_a_minute():
    sightings = [(NOW - MIN, NOW)]
    assert publications_per_day(sightings, now=NOW, watched_since=NOW) == pytest.approx(DAY / MIN_SPAN)
    # Undated: when first seen, the same.
    assert publications_per_day([(None, NOW)], now=NOW, watched_since=NOW) == pytest.approx(DAY / MIN_SPAN)


def test_a_date_in_the_future_does_not_stretch_or_shrink_the_span():
    sightings = [(NOW + 3 * DAY, NOW - 2 * HOUR), (NOW - 3 * HOUR, NOW - 2 * HOUR)]
    # The future date stands for its sighting (two hours ago); the other entry is three hours old.
    assert publications_per_day(sightings, now=NOW, watched_since=NOW - 2 * HOUR) == pytest.approx(2 * 24 / 3)


def test_a_watch_start_after_now_counts_at_least_min_span():
    assert publications_per_day([(None, NOW)], now=NOW, watched_since=NOW + DAY) == pytest.approx(
        DAY / MIN_SPAN
    )


# ----------------------------------------------------------------------------------- the daemon away


def _steady(per_day: int, *, start: datetime, end: datetime, dated: bool = True):
    """A feed publishing ``per_day`` entries a day, each seen a minute after it came out."""
    gap = DAY / per_day
    moments = [start + gap * n for n in range(int((end - start) / gap))]
    return [(moment if dated else None, moment + MIN) for moment in moments]


def test_a_poll_on_time_or_a_little_late_leaves_no_unwatched_spell():
    due = NOW - ABSENCE
    assert unwatched_spell([(None, NOW)], due=due, now=NOW, overflowed=True) is None
    assert unwatched_spell([(None, NOW)], due=None, now=NOW, overflowed=True) is None


def test_a_listing_that_still_holds_a_known_entry_shows_a_dated_absence_whole():
    due = NOW - 3 * DAY
    new = [(NOW - n * HOUR, NOW) for n in range(1, 70)]  # every publication of the three days, dated
    assert unwatched_spell(new, due=due, now=NOW, overflowed=False) is None


def test_undated_entries_found_after_an_absence_make_it_all_unwatched():
    due = NOW - 3 * DAY
    new = [(NOW - HOUR, NOW), (None, NOW)]
    assert unwatched_spell(new, due=due, now=NOW, overflowed=False) == (due, NOW)


def test_a_listing_that_turned_over_shows_back_to_its_oldest_date():
    due = NOW - 3 * DAY
    new = [(NOW - n * HOUR, NOW) for n in range(1, 21)]  # the last 20 of three days' publications
    assert unwatched_spell(new, due=due, now=NOW, overflowed=True) == (due, NOW - 20 * HOUR)
    # Reaching back past the due time, it lost nothing to the absence.
    old = [(NOW - 4 * DAY, NOW), *new]
    assert unwatched_spell(old, due=due, now=NOW, overflowed=True) is None


def test_an_unbelievable_date_counts_as_undated():
    due = NOW - 3 * DAY
    new = [(NOW - HOUR, NOW), (NOW + DAY, NOW)]  # a clock a day ahead
    assert unwatched_spell(new, due=due, now=NOW, overflowed=True) == (due, NOW)


def test_a_week_after_a_stopped_daemon_keeps_the_rate_it_had():
    # Ten a day, dated, a listing of 20: the daemon was stopped for five days, then polled today.
    stop, restart = NOW - 6 * DAY, NOW - DAY
    before = _steady(10, start=NOW - 8 * DAY, end=stop)
    listed = [(published, restart) for published, _ in _steady(10, start=restart - 2 * DAY, end=restart)]
    after = _steady(10, start=restart, end=NOW)
    sightings = before + listed + after
    spell = unwatched_spell(listed, due=stop + HOUR, now=restart, overflowed=True)
    assert spell == (stop + HOUR, listed[0][0])
    counted = publications_per_day(sightings, now=NOW)
    assert counted < 6  # the absence read as quiet days
    assert publications_per_day(sightings, now=NOW, unwatched=[spell]) == pytest.approx(10, rel=0.1)


def test_an_undated_feed_after_a_stopped_daemon_keeps_its_rate():
    stop, restart = NOW - 4 * DAY, NOW - DAY
    before = _steady(24, start=NOW - 8 * DAY, end=stop, dated=False)
    found = [(None, restart)] * 50  # three days of news found at once: one moment
    after = _steady(24, start=restart + HOUR, end=NOW, dated=False)
    spell = unwatched_spell(found, due=stop + 20 * MIN, now=restart, overflowed=False)
    assert spell == (stop + 20 * MIN, restart)
    rate = publications_per_day(before + found + after, now=NOW, unwatched=[spell])
    assert rate == pytest.approx(24, rel=0.1)
    assert publications_per_day(before + found + after, now=NOW) < 15


def test_a_whole_week_unwatched_leaves_the_minimum_span():
    sightings = [(None, NOW)]
    rate = publications_per_day(sightings, now=NOW, unwatched=[(NOW - 30 * DAY, NOW)])
    assert rate == pytest.approx(DAY / MIN_SPAN)


def test_spells_past_the_window_are_dropped_and_few_are_kept():
    old = (NOW - 20 * DAY, NOW - 10 * DAY)
    recent = (NOW - 2 * DAY, NOW - DAY)
    assert with_spell([old], recent, now=NOW) == (recent,)
    many = [(NOW - n * HOUR - MIN, NOW - n * HOUR) for n in range(1, 40)]
    kept = with_spell(many, (NOW - MIN, NOW), now=NOW)
    assert len(kept) == MAX_SPELLS
    assert kept[-1] == (NOW - MIN, NOW)


@given(
    st.lists(st.tuples(st.integers(0, 10 * 24 * 60), st.integers(0, 10 * 24 * 60)), max_size=6),
    st.lists(st.tuples(st.one_of(st.none(), st.integers(0, 8 * 24 * 60)), st.integers(0, 8 * 24 * 60))),
)
def test_a_rate_never_goes_negative_or_infinite_whatever_the_spells(spells, sightings):
    as_time = [(NOW - a * MIN, NOW - b * MIN) for a, b in spells]  # some backwards: they count for nothing
    seen = [(None if p is None else NOW - p * MIN, NOW - s * MIN) for p, s in sightings]
    rate = publications_per_day(seen, now=NOW, unwatched=as_time)
    assert 0 <= rate <= len(seen) * DAY / MIN_SPAN


@pytest.mark.parametrize(
    ("listed", "unseen", "polled_before", "overflowed"),
    [
        (10, 10, True, True),  # every entry new since the last poll
        (10, 9, True, False),  # one still listed from before: nothing scrolled out unseen
        (10, 10, False, False),  # a first poll sees every entry new
        (1, 1, True, False),  # one entry cannot tell an overflow from one publication
        (0, 0, True, False),
        (5, 7, True, True),  # more unseen than listed (entries held back for the next poll): still all new
    ],
)
def test_a_listing_overflows_when_every_entry_is_new_since_a_poll(listed, unseen, polled_before, overflowed):
    assert listing_overflowed(listed=listed, unseen=unseen, polled_before=polled_before) is overflowed


def test_a_busy_feed_is_polled_at_the_minimum():
    assert _interval(288) == LOW  # every 5 minutes
    assert _interval(100_000) == LOW


def test_a_feed_with_nothing_in_its_window_waits_the_maximum():
    assert _interval(0) == HIGH


@pytest.mark.parametrize("junk", [float("nan"), float("-inf"), -3.0])
def test_a_junk_rate_waits_the_maximum(junk):
    assert _interval(junk) == HIGH


def test_an_infinite_rate_is_the_minimum():
    assert _interval(float("inf")) == LOW


def test_the_interval_grows_with_the_square_root_of_the_gap():
    once_a_day = _interval(1)
    assert once_a_day == timedelta(seconds=(DAY.total_seconds() * LOW.total_seconds()) ** 0.5)  # ~85 min
    assert _interval(1 / 4) == pytest.approx(once_a_day * 2, abs=timedelta(seconds=1))


def test_intervals_shorten_as_the_rate_rises_and_stay_within_bounds():
    rates = [0.01, 0.1, 0.5, 1, 4, 12, 48, 150, 288, 1000]
    waits = [_interval(rate) for rate in rates]
    assert waits == sorted(waits, reverse=True)
    assert all(LOW <= wait <= HIGH for wait in waits)


def test_the_maximum_holds_for_very_quiet_feeds():
    assert adaptive_interval(0.001, min_interval=LOW, max_interval=6 * HOUR) == 6 * HOUR


def test_equal_bounds_are_fixed_polling():
    assert adaptive_interval(500, min_interval=HOUR, max_interval=HOUR) == HOUR
    assert adaptive_interval(0, min_interval=HOUR, max_interval=HOUR) == HOUR


def test_a_rhythm_is_learnt_from_sightings():
    sightings = [(NOW - n * 2 * HOUR, NOW - n * 2 * HOUR) for n in range(84)]  # every 2 h for a week
    rhythm = learned_rhythm(sightings, now=NOW, min_interval=LOW, max_interval=HIGH)
    assert rhythm.per_day == pytest.approx(12)
    assert rhythm.interval == _interval(12)
    assert rhythm.describe() == "~12/day, every 24m"  # sqrt(2 h x 5 min)


@pytest.mark.parametrize(
    ("rhythm", "text"),
    [
        (Rhythm(30 * MIN), "fixed 30m"),
        (Rhythm(timedelta(seconds=5097.3), 1.0), "~1/day, every 1h25m"),
        (Rhythm(24 * HOUR, 0.0), "quiet, every 1d"),
        (Rhythm(timedelta(hours=3.7), 2 / 7), "~2/week, every 3h42m"),
        (Rhythm(24 * HOUR, 0.01), "<1/month, every 1d"),  # said as a silent feed's pace is
        (Rhythm(timedelta(seconds=0.2), 1e9), "~1000000000/day, every 1s"),
    ],
)
def test_a_rhythm_describes_itself(rhythm, text):
    assert rhythm.describe() == text


def test_delivery_back_off_doubles_to_an_hour_and_honours_the_channel():
    from monitor.schedule import next_delivery_attempt

    now = datetime(2024, 9, 9, 12, tzinfo=UTC)
    delays = [next_delivery_attempt(now, attempts=n) - now for n in (1, 2, 3, 7, 8, 20)]
    assert delays == [timedelta(minutes=m) for m in (1, 2, 4, 60, 60, 60)]
    assert next_delivery_attempt(now, attempts=1, retry_after=300) == now + timedelta(minutes=5)
    assert next_delivery_attempt(now, attempts=3, retry_after=30) == now + timedelta(minutes=4)


@pytest.mark.parametrize(
    ("published", "read_whole_at", "delay"),
    [
        (NOW - 20 * MIN, NOW - HOUR, 20 * 60.0),  # published after the last read: the schedule's delay
        (NOW - 2 * HOUR, NOW - HOUR, None),  # dated before it: reached the feed late, the publisher's delay
        (NOW - HOUR, NOW - HOUR, None),  # as that read: it could have been in it
        (NOW - 20 * MIN, None, None),  # the feed's first read: a backlog
        (None, NOW - HOUR, None),  # no date stated
        (NOW + 5 * MIN, NOW - HOUR, 0.0),  # a publisher's clock ahead of ours: no delay
        (NOW - 23 * HOUR, NOW - 25 * HOUR, 23 * 3600.0),  # a day of 304s to a changed feed shows
    ],
)
def test_news_delay_is_counted_from_publication_for_entries_no_earlier_read_could_have_found(
    published, read_whole_at, delay
):
    assert news_delay(published, stored_at=NOW, read_whole_at=read_whole_at) == delay


DAY = timedelta(days=1)


def _daily(last_ago: timedelta, count: int, gap: timedelta = DAY) -> list[tuple[datetime | None, datetime]]:
    """``count`` entries ``gap`` apart, the newest ``last_ago`` before NOW, each seen as it was published."""
    return [(NOW - last_ago - gap * i, NOW - last_ago - gap * i) for i in range(count)]


def test_a_feed_that_stopped_publishing_is_silent_after_three_of_its_longest_gaps_and_at_least_three_days():
    # Daily for two weeks, nothing for eleven days: silent, since its last entry, at its old pace.
    found = silence(_daily(11 * DAY, 14), now=NOW)
    assert found is not None and found.since == NOW - 11 * DAY and found.per_day == pytest.approx(1.0)
    # Every day without fail: three days without one are a silence, two are not.
    assert silence(_daily(3 * DAY + HOUR, 14), now=NOW) is not None
    assert silence(_daily(2 * DAY, 14), now=NOW) is None
    # Hourly: three days make a silence, two do not (a long weekend).
    assert silence(_daily(3 * DAY + HOUR, 48, HOUR), now=NOW) is not None
    assert silence(_daily(2 * DAY, 48, HOUR), now=NOW) is None


def _weekdays(last_ago: timedelta, weeks: int) -> list[tuple[datetime | None, datetime]]:
    """Monday to Friday for ``weeks`` weeks, the last Friday ``last_ago`` before NOW."""
    friday = NOW - last_ago
    return [(friday - week * 7 * DAY - day * DAY,) * 2 for week in range(weeks) for day in range(5)]


def test_a_feed_is_silent_only_once_quiet_for_longer_than_it_has_rested_before():
    # A daily feed that rests at weekends (its longest gap three days): silent after nine days, not three.
    assert silence(_weekdays(8 * DAY, 6), now=NOW) is None
    assert silence(_weekdays(10 * DAY, 6), now=NOW) is not None
    # Weekly: three weeks without a post are a silence, not ten; its pace is said in weeks.
    assert silence(_daily(20 * DAY, 10, 7 * DAY), now=NOW) is None
    found = silence(_daily(22 * DAY, 10, 7 * DAY), now=NOW)
    assert found is not None and describe_pace(found.per_day) == "~1/week"
    # Weekly, but it once took three weeks off: nine weeks of nothing, not three.
    rested = _daily(10 * DAY, 5, 7 * DAY) + _daily(10 * DAY + 49 * DAY, 5, 7 * DAY)
    assert silence([(when - 40 * DAY, seen - 40 * DAY) for when, seen in rested], now=NOW) is None
    assert silence([(when - 54 * DAY, seen - 54 * DAY) for when, seen in rested], now=NOW) is not None
    # Monthly, for half a year: silent after three months; ten months were never the point.
    assert silence(_daily(85 * DAY, 6, 30 * DAY), now=NOW) is None
    found = silence(_daily(95 * DAY, 6, 30 * DAY), now=NOW)
    assert found is not None and describe_pace(found.per_day) == "~1/month"


@given(
    st.lists(st.integers(0, 30 * 24 * 60), min_size=1, max_size=40),
    st.integers(0, 60 * 24 * 60),
    st.integers(1, 100 * 24 * 60),
)
def test_once_silent_a_feed_stays_silent_while_it_publishes_nothing(ago, quiet, later):
    """Whatever its history (within a month), a feed silent at one moment is silent at every later one, since
    the same moment, so long as nothing new comes: a silence is never called off by time alone."""
    now = NOW + quiet * MIN
    seen = [(NOW - minutes * MIN, NOW - minutes * MIN) for minutes in ago]
    found = silence(seen, now=now)
    if found is not None:
        again = silence(seen, now=now + later * MIN)
        assert again is not None and again.since == found.since and again.per_day == found.per_day
        assert now - found.since >= SILENT_AFTER


@pytest.mark.parametrize(
    ("per_day", "said"),
    [
        (24.0, "~24/day"),
        (1.0, "~1/day"),
        (0.5, "~4/week"),
        (1 / 7, "~1/week"),
        (1 / 30, "~1/month"),
        (0.001, "<1/month"),
    ],
)
def test_a_pace_is_said_in_the_largest_unit_it_reaches(per_day, said):
    assert describe_pace(per_day) == said


def test_a_rare_new_or_publishing_feed_is_never_called_silent():
    assert silence(_daily(20 * DAY, 4, HOUR), now=NOW) is None  # four entries: no pace to judge
    assert silence(_daily(30 * DAY, 3, 7 * DAY), now=NOW) is None  # three weekly posts: no pace yet
    assert silence(_daily(HOUR, 200, 30 * MIN), now=NOW) is None  # publishing
    assert silence([], now=NOW) is None
    # A first poll's backlog, undated: one moment, not a pace.
    assert silence([(None, NOW - 5 * DAY)] * 30, now=NOW) is None


def test_a_year_without_anything_is_silence_at_any_pace():
    # Three posts, the last thirteen months ago: too rare to be judged by its gaps, but a year is enough.
    found = silence(_daily(400 * DAY, 3, 30 * DAY), now=NOW)
    assert found is not None and found.since == NOW - 400 * DAY and found.per_day is None
    assert silence(_daily(360 * DAY, 3, 30 * DAY), now=NOW) is None  # not quite a year: a rare feed
    # Weekly for ten weeks, then a year of nothing: silent since its last, at the pace it had.
    found = silence(_daily(370 * DAY, 10, 7 * DAY), now=NOW)
    assert found is not None and found.since == NOW - 370 * DAY and describe_pace(found.per_day) == "~1/week"


def test_a_feed_dead_when_it_was_added_is_silent_since_its_newest_entry():
    added = NOW - HOUR
    # Its first listing, seen at its first poll: three entries dated two years ago and more.
    backlog = [(NOW - 730 * DAY - i * DAY, added + MIN) for i in range(3)]
    assert quiet_for_days(backlog, now=NOW, watched_since=added)
    found = silence(backlog, now=NOW, watched_since=added)
    assert found is not None and found.since == NOW - 730 * DAY and found.per_day is None
    assert still_silent(backlog, now=NOW, since=None, watched_since=added) == found
    # Not knowing when it was added, old dates of new entries are not believed (an entry that reappeared).
    assert silence(backlog, now=NOW) is None and not quiet_for_days(backlog, now=NOW)
    # A live feed whose every entry says 1970 (a broken clock): only its first listing's date is believed,
    # its later entries count when they were seen, and it publishes.
    since = NOW - 10 * DAY
    broken = [(datetime(1970, 1, 1, tzinfo=UTC), since + i * DAY + MIN) for i in range(10)]
    assert silence(broken, now=NOW, watched_since=since) is None
    # A first listing whose every entry says 1970 (or 1900, or an archive's 1975): no feed published then.
    for year in (1900, 1970, 1975):
        defaults = [(datetime(year, 1, 1, tzinfo=UTC), added + MIN) for _ in range(3)]
        assert silence(defaults, now=NOW, watched_since=added) is None
        assert not quiet_for_days(defaults, now=NOW, watched_since=added)
    # A backlog dated within the year is judged by its gaps, as before.
    recent = [(NOW - 30 * DAY - i * DAY, added + MIN) for i in range(3)]
    assert silence(recent, now=NOW, watched_since=added) is None


def test_a_feed_is_looked_at_for_silence_once_quiet_for_three_days_by_the_dates_it_lists():
    assert quiet_for_days([], now=NOW)  # nothing this week
    assert not quiet_for_days([(NOW - 2 * DAY, NOW - 2 * DAY)], now=NOW)
    assert quiet_for_days([(NOW - 3 * DAY, NOW - 3 * DAY)], now=NOW)
    # A first poll's listing, every entry ten days old: its dates are believed, four weeks back.
    assert quiet_for_days([(NOW - 10 * DAY, NOW - MIN)], now=NOW)
    # An entry dated far in the past (a date of 1970) counts when it was seen.
    assert not quiet_for_days([(datetime(1970, 1, 1, tzinfo=UTC), NOW - MIN)], now=NOW)


def test_a_silence_is_kept_past_the_weeks_it_is_judged_from_until_the_feed_publishes_again():
    before = NOW - 40 * DAY
    found = still_silent(_daily(11 * DAY, 14), now=NOW, since=None)
    assert found is not None and found.since == NOW - 11 * DAY  # judged as ``silence`` judges it
    # Its last publications are out of the four weeks read: still silent since then, its pace unknown.
    kept = still_silent([], now=NOW, since=before)
    assert kept is not None and kept.since == before and kept.per_day is None
    assert still_silent([(NOW - 40 * DAY, NOW - 40 * DAY)], now=NOW, since=before) is not None
    # It published again (a quiet while since, not yet a silence): no longer silent.
    assert still_silent([(NOW - 4 * DAY, NOW - 4 * DAY)], now=NOW, since=before) is None
    assert still_silent([], now=NOW, since=None) is None
