"""When to poll a feed next: pure arithmetic on intervals, server hints and failures."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from monitor.config.durations import format_duration

MAX_TTL = timedelta(hours=24)
"""The longest a feed's own hints (its <ttl>, the response's Cache-Control max-age or Expires) may hold it
off: a publisher that says "a month" must not go unread for a month."""

RHYTHM_WINDOW = timedelta(days=7)
"""How far back a feed's publications count towards its rhythm: a week holds every weekday once, so a feed
quiet at weekends is not judged by its Sunday alone."""

WHOLE_FETCH_EVERY = timedelta(hours=24)
"""How long a feed may go without coming whole (a body, not a 304) before its next poll asks without the
validators (ETag, Last-Modified) it would send. A server can keep answering 304 to a feed that changed (a
Last-Modified taken from a template that never changes, a cache that keeps an old ETag): its news would never
be read. A whole fetch a day bounds the loss to a day at the price of one full download."""


def asks_whole(fetched_whole_at: datetime | None, now: datetime) -> bool:
    """Whether a poll at ``now`` should ask for the feed without validators: it has not come whole for
    ``WHOLE_FETCH_EVERY`` (or not since it has been tracked)."""
    return fetched_whole_at is None or now - fetched_whole_at >= WHOLE_FETCH_EVERY


def news_delay(
    published: datetime | None, *, stored_at: datetime, read_whole_at: datetime | None
) -> float | None:
    """Seconds from an entry's publication (the date its feed states) to its article being stored, when that
    delay is the daemon's to answer for: the entry was published after the feed last came whole, so no read
    before this one could have found it. Then the delay is what the schedule, a hub, a failing or stuck feed
    (a 304 for ever, ``WHOLE_FETCH_EVERY``) or a backlog (``max_entries_per_poll``) added.

    None for an entry without a stated date, for a feed never read whole before (its first poll's entries
    are its backlog) and for an entry dated before that read: it reached the feed late (a backdated entry, an
    old article listed again), which is the publisher's delay, not the schedule's. A date in the future (a
    clock ahead) counts as no delay.
    """
    if published is None or read_whole_at is None or published <= read_whole_at:
        return None
    return max((stored_at - published).total_seconds(), 0.0)


CLOCK_SKEW = timedelta(minutes=10)
"""How far after we first saw an entry its stated date may lie and still be believed (clocks differ)."""

MOMENT = timedelta(minutes=1)
"""Entries dated within one minute of each other count as one publication: a poll finds them together,
so a feed that stamps a hundred entries with one time is not taken for a hundred times busier."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # moments are the clock's own minutes, counted from here

Spell = tuple[datetime, datetime]
"""A stretch of time (start, end) during which a feed was not watched."""


def next_poll_after_success(
    now: datetime,
    *,
    interval: timedelta,
    ttl: timedelta | None = None,
    retry_after: timedelta | None = None,
    cache_lifetime: timedelta | None = None,
) -> datetime:
    """As miniflux does: the longest of the interval, the feed's TTL and the response's cache lifetime
    (Cache-Control max-age or Expires), both capped at ``MAX_TTL``, and Retry-After."""
    waits = [interval]
    for hint in (ttl, cache_lifetime):
        if hint is not None:
            waits.append(min(hint, MAX_TTL))
    if retry_after is not None:
        waits.append(retry_after)
    return now + max(waits)


def publication_moments(
    sightings: Iterable[tuple[datetime | None, datetime]],
    *,
    now: datetime,
    window: timedelta = RHYTHM_WINDOW,
    backlog_until: datetime | None = None,
) -> list[datetime]:
    """When a feed published within ``window`` before ``now``, from its entries' (stated date, first seen).

    The stated date is believed unless it lies after the entry was first seen (a clock ahead, a date in the
    future) or more than ``window`` before it (an old entry that reappeared, a date of 1970): then the time
    we first saw the entry stands in for it. Entries of one minute count once (see ``MOMENT``); in
    particular, everything a first poll finds undated counts as one publication, not as a burst of them.

    Entries first seen by ``backlog_until`` (the feed's backlog: ``backlog_end``) have their dates believed
    however old, back to ``FEEDS_BEGAN``: a feed's first listing is its own past, not entries that
    reappeared.
    """
    since = now - window
    whens = _moments(sightings, window=window, backlog_until=backlog_until)
    return _on_minutes(when for when in whens if since < when <= now)


def _on_minutes(whens: Iterable[datetime]) -> list[datetime]:
    """``whens`` on the clock's minutes, each minute once, in order: not counted from ``now``, so that two
    polls that see the same entries count the same."""
    return sorted(_EPOCH + MOMENT * minute for minute in {(when - _EPOCH) // MOMENT for when in whens})


def _per_day(moments: Sequence[datetime]) -> float:
    """The pace of two or more ``moments`` (in order): one over their mean gap, in days."""
    return (len(moments) - 1) / ((moments[-1] - moments[0]) / timedelta(days=1))


def _moments(
    sightings: Iterable[tuple[datetime | None, datetime]],
    *,
    window: timedelta,
    backlog_until: datetime | None,
) -> Iterator[datetime]:
    """When each sighting was published, as ``publication_moments`` believes it, however old."""
    for published, first_seen in sightings:
        when = first_seen
        if published is not None and published <= first_seen + CLOCK_SKEW:
            if first_seen - window <= published or (
                backlog_until is not None and first_seen <= backlog_until and published >= FEEDS_BEGAN
            ):
                when = min(published, first_seen)
        yield when


MIN_SPAN = timedelta(hours=1)
"""The shortest time a feed's rate is counted over: a new feed whose one entry is a minute old has not shown
that it publishes every minute."""


def publications_per_day(
    sightings: Iterable[tuple[datetime | None, datetime]],
    *,
    now: datetime,
    window: timedelta = RHYTHM_WINDOW,
    watched_since: datetime | None = None,
    unwatched: Iterable[Spell] = (),
) -> float:
    """A feed's observed publication rate: its publications within ``window`` (see ``publication_moments``)
    per day of the time they were in view, as miniflux's entry_frequency scheduler counts a week's entries.

    The time in view is the whole window for a feed watched longer (or since an unknown time: ``watched_since``
    None). A feed added more recently has shown less: since ``watched_since``, or since the oldest date its
    entries stated, if earlier (a feed lists its latest entries, so its backlog shows what came since). Over a
    whole week, the twenty entries a wire feed lists, one every two minutes, would pass for three a day: it
    would be polled again after 50 minutes, by when 25 more had come and five had scrolled out unseen.

    The ``unwatched`` spells (``unwatched_spell``: the daemon was away and the listing could not show what
    came meanwhile) are left out of both counts, their time and their publications, so that a week after a
    stopped daemon is not taken for a quiet week.
    """
    sightings = list(sightings)
    spells = _merged(unwatched)
    moments = [
        moment
        for moment in publication_moments(sightings, now=now, window=window)
        if not any(start < moment and moment + MOMENT <= end for start, end in spells)
    ]
    span = observed_span(sightings, now=now, window=window, watched_since=watched_since)
    blind = sum((_overlap(spell, now - span, now) for spell in spells), timedelta(0))
    return len(moments) / (max(span - blind, MIN_SPAN) / timedelta(days=1))


SILENCE_LOOKBACK = timedelta(days=365)
"""How far back a feed's publications are read to tell whether it has gone silent: a year (as long as articles
are kept by default), so that a feed publishing once a month has a pace to be judged by."""
SILENCE_PUBLICATIONS = 30
"""Of the lookback, a feed's latest entries read, at most: its pace of late, in a bounded number of rows, an
hourly feed's last day or a monthly one's last years."""
SILENT_AFTER = timedelta(days=3)
"""The shortest silence that counts: a busy feed quiet over a long weekend is not yet a dead one."""
SILENT_GAPS = 10
"""A silence counts from this many of the feed's usual gaps between publications (its mean gap)..."""
SILENT_LONGEST_GAPS = 3
"""... or from this many of its longest gap, if sooner: a feed publishing every week, whose longest gap was
nine days, is silent after four weeks of nothing, not ten; a daily one that rests at weekends, after nine
days; one that took three weeks off once, after nine weeks."""
SILENCE_HISTORY = 5
"""Publications a feed must have shown in the lookback before a silence can be told from its usual pace."""


@dataclass(frozen=True)
class Silence:
    """A feed that stopped publishing: when it last did, and how often it had been publishing."""

    since: datetime
    per_day: float | None
    """None when no longer known: its publications before the silence are out of the lookback (or pruned)."""


def describe_pace(per_day: float) -> str:
    """A publication rate for people, in the largest unit it rounds to one of: "~3/day", "~2/week",
    "~1/month" (``Rhythm.describe`` and silent feeds' old pace)."""
    if per_day >= 1:
        return f"~{per_day:.0f}/day"
    if per_day * 7 >= 0.5:
        return f"~{per_day * 7:.0f}/week"
    monthly = per_day * 30
    return f"~{monthly:.0f}/month" if monthly >= 0.5 else "<1/month"


FEEDS_BEGAN = datetime(1995, 1, 1, tzinfo=UTC)
"""No news feed published before: a backlog's date before it is a default (1970, 1900) or a historical
document's, not when the entry was published, and is not believed however old a backlog's dates may be."""
SILENCE_READ_SINCE = _EPOCH
"""Where the silence's read of a feed's latest entries starts: before any, so that they are read however old
(a year with nothing is silence at any pace), still ``SILENCE_PUBLICATIONS`` at most."""
BACKLOG = timedelta(days=1)
"""What a feed lists in its first day of being watched is its backlog (its first polls, a listing longer
than ``max_entries_per_poll`` read over several): dates stated there are believed however old."""


def backlog_end(watched_since: datetime | None) -> datetime | None:
    """Until when what a feed watched since ``watched_since`` lists is its backlog (None: unknown)."""
    return None if watched_since is None else watched_since + BACKLOG


def quiet_for_days(
    sightings: Iterable[tuple[datetime | None, datetime]],
    *,
    now: datetime,
    watched_since: datetime | None = None,
) -> bool:
    """Whether ``silence`` is worth reading a feed's latest entries for: its latest publication among
    ``sightings`` (the week's, their dates believed back to ``SILENCE_LOOKBACK``, a backlog's however old: a
    first poll's listing, old to its last entry, shows a feed silent already) is ``SILENT_AFTER`` old or
    more, or there is none."""
    recent = publication_moments(
        sightings, now=now, window=SILENCE_LOOKBACK, backlog_until=backlog_end(watched_since)
    )
    return not recent or now - recent[-1] >= SILENT_AFTER


def silence(
    sightings: Iterable[tuple[datetime | None, datetime]],
    *,
    now: datetime,
    watched_since: datetime | None = None,
) -> Silence | None:
    """Whether a feed has gone silent: its latest publication (``publication_moments`` over
    ``SILENCE_LOOKBACK``, of its ``SILENCE_PUBLICATIONS`` latest entries) is older than ``SILENT_GAPS`` of
    its mean gap between publications or ``SILENT_LONGEST_GAPS`` of its longest, whichever is sooner, and at
    least ``SILENT_AFTER``, though it had published ``SILENCE_HISTORY`` times or more before; or it is older
    than ``SILENCE_LOOKBACK``, however often it had published.

    A feed that answers every poll but lists nothing new fails silently: its publisher moved it, its CMS
    stopped updating it, a cache serves an old copy. Polls succeed, the rhythm backs off as for a quiet
    feed, and its news is missed with nothing said. A feed that was always rare, or is new, is not judged
    by its gaps. The longest gap keeps a regular feed from waiting ten of its gaps (ten weeks for a weekly
    one), and a feed that has rested long before from being called silent sooner than it has shown it
    stays away. A year without anything is silence whatever the feed's pace: a rare feed that stopped, or
    one that was dead when it was added (an old subscription list's: its first listing, ``watched_since``,
    dated over a year ago).
    """
    sightings = list(sightings)
    backlog_until = backlog_end(watched_since)
    past = _on_minutes(_moments(sightings, window=SILENCE_LOOKBACK, backlog_until=backlog_until))
    if past and now - past[-1] >= SILENCE_LOOKBACK:  # however old
        return Silence(past[-1], _per_day(past) if len(past) >= SILENCE_HISTORY else None)
    moments = publication_moments(sightings, now=now, window=SILENCE_LOOKBACK, backlog_until=backlog_until)
    if len(moments) < SILENCE_HISTORY:
        return None
    last = moments[-1]
    gaps = [later - earlier for earlier, later in zip(moments, moments[1:], strict=False)]
    mean = (last - moments[0]) / len(gaps)
    if now - last < max(SILENT_AFTER, min(mean * SILENT_GAPS, max(gaps) * SILENT_LONGEST_GAPS)):
        return None
    return Silence(last, _per_day(moments))


def still_silent(
    sightings: Iterable[tuple[datetime | None, datetime]],
    *,
    now: datetime,
    since: datetime | None,
    watched_since: datetime | None = None,
) -> Silence | None:
    """``silence``; or, for a feed found silent ``since`` its last publication before, that silence while it
    has published nothing after it, though ``silence`` no longer sees it (the feed's last publications have
    left the lookback, or retention pruned them: its pace is then unknown)."""
    sightings = list(sightings)
    found = silence(sightings, now=now, watched_since=watched_since)
    if found is not None or since is None:
        return found
    moments = publication_moments(
        sightings, now=now, window=SILENCE_LOOKBACK, backlog_until=backlog_end(watched_since)
    )
    if moments and moments[-1] > since:
        return None  # it published again
    return Silence(since, None)


def observed_span(
    sightings: Iterable[tuple[datetime | None, datetime]],
    *,
    now: datetime,
    window: timedelta = RHYTHM_WINDOW,
    watched_since: datetime | None = None,
) -> timedelta:
    """How long a feed's publications have been in view (see ``publications_per_day``): within
    [``MIN_SPAN``, ``window``]."""
    if watched_since is None:
        return window
    since = watched_since
    for published, first_seen in sightings:
        # A stated date is evidence of how far back the listing reaches, however old, unless it lies after
        # the entry was seen (a clock ahead says nothing of the past).
        seen_from = (
            published if published is not None and published <= first_seen + CLOCK_SKEW else first_seen
        )
        since = min(since, seen_from, first_seen)
    return min(max(now - since, MIN_SPAN), window)


def adaptive_interval(per_day: float, *, min_interval: timedelta, max_interval: timedelta) -> timedelta:
    """The poll interval for a feed that publishes ``per_day`` times a day.

    The geometric mean of the feed's mean gap between publications and ``min_interval``, clamped to
    [min_interval, max_interval]: a feed publishing once per min_interval or more is polled every
    min_interval, and the interval grows with the square root of the gap (once a day: 85 min with a 5 min
    minimum; once a week: 3.7 h). Why the square root: an entry waits half an interval on average, so the
    delay summed over all entries is the sum of rate x interval, and for a given number of requests that
    sum is smallest with intervals in proportion to 1/sqrt(rate); busy feeds get the requests quiet ones
    do not need. A feed with nothing in its window waits ``max_interval``.
    """
    if min_interval >= max_interval:
        return max_interval  # equal bounds: fixed polling
    if math.isnan(per_day) or per_day <= 0:  # nothing seen (or nonsense): as quiet as a feed can be
        return max_interval
    if math.isinf(per_day):
        return min_interval
    gap = timedelta(days=1).total_seconds() / per_day
    wait = timedelta(seconds=math.sqrt(gap * min_interval.total_seconds()))
    return min(max(wait, min_interval), max_interval)


@dataclass(frozen=True)
class Rhythm:
    """How often a feed is polled after a success, and why: a fixed interval, or its learnt rate."""

    interval: timedelta
    per_day: float | None = None  # publications per day in the window; None when the interval is fixed

    def describe(self) -> str:
        """For people: "~12/day, every 1h", "~2/week, every 3h", "quiet, every 1d" or "fixed 30m"."""
        every = format_duration(_rounded(self.interval))
        if self.per_day is None:
            return f"fixed {every}"
        if self.per_day <= 0:
            return f"quiet, every {every}"
        return f"{describe_pace(self.per_day)}, every {every}"


def learned_rhythm(
    sightings: Iterable[tuple[datetime | None, datetime]],
    *,
    now: datetime,
    min_interval: timedelta,
    max_interval: timedelta,
    watched_since: datetime | None = None,
    unwatched: Iterable[Spell] = (),
) -> Rhythm:
    """A feed's rhythm from its entries' (stated date, first seen): its rate over ``RHYTHM_WINDOW`` (or the
    shorter time it has been watched, less the spells it was not, see ``publications_per_day``) and the
    interval that rate earns (``adaptive_interval``)."""
    per_day = publications_per_day(sightings, now=now, watched_since=watched_since, unwatched=unwatched)
    return Rhythm(adaptive_interval(per_day, min_interval=min_interval, max_interval=max_interval), per_day)


def listing_overflowed(*, listed: int, unseen: int, polled_before: bool) -> bool:
    """Whether a feed's listing turned over entirely since its last poll: every one of its ``listed`` entries
    (two or more) is one not seen before. Then entries may have scrolled out of it unseen, and the feed is
    polled again at ``min_interval`` whatever its rate so far (a breaking story, a rate still being learnt,
    the daemon stopped for a while). A first poll sees every entry new by nature, and a listing of one entry
    cannot tell an overflow from one new publication."""
    return polled_before and listed >= 2 and unseen >= listed


ABSENCE = timedelta(hours=1)
"""A poll this much later than it was due means the daemon was away (stopped, its machine asleep or down)
rather than busy: shorter delays lose nothing the listing does not show. Longer than the lease of an
instance that died (``monitor.pipeline.LEASE``, 30 min), after which another instance takes its feeds:
that is a handover, not an absence."""
MAX_SPELLS = 16
"""Spells kept per feed, the latest: a week holds a few stops, not a hundred."""


def unwatched_spell(
    new: Iterable[tuple[datetime | None, datetime]],
    *,
    due: datetime | None,
    now: datetime,
    overflowed: bool,
    window: timedelta = RHYTHM_WINDOW,
) -> Spell | None:
    """The time a late poll could not see, if the daemon was away: from when the poll was ``due`` to where its
    listing's evidence begins. None when the poll came within ``ABSENCE`` of its due time, or when the listing
    showed everything that came meanwhile.

    ``new`` holds the (stated date, first seen) of the entries this poll found. A listing that still holds an
    entry seen before (not ``overflowed``) reaches back to the last poll: when every new entry states a date
    we believe, each publication is counted at its moment and nothing is lost. Otherwise:

    - an undated new entry is counted when it was found, so whatever came during the absence falls into one
      moment at ``now``: the whole absence is unwatched;
    - a listing that turned over shows back to its oldest entry's date, and what came between the due time
      and that date scrolled out unseen: that stretch is unwatched.

    Left in the count, an absence of days reads as days without news: the feed's rate drops and it is polled
    slowly for the week its window takes to forget them (``publications_per_day`` leaves spells out).
    """
    if due is None or now - due <= ABSENCE:
        return None
    covered_from: datetime | None = None if overflowed else due
    for published, first_seen in new:
        if published is None or not first_seen - window <= published <= first_seen + CLOCK_SKEW:
            covered_from = now  # counted when seen: the absence collapses into this one moment
            break
        if overflowed:
            covered_from = published if covered_from is None else min(covered_from, published)
    if covered_from is None:  # a listing that turned over into nothing: nothing tells how far it reaches
        covered_from = now
    covered_from = min(covered_from, now)
    return (due, covered_from) if covered_from > due else None


def with_spell(
    spells: Iterable[Spell], spell: Spell, *, now: datetime, window: timedelta = RHYTHM_WINDOW
) -> tuple[Spell, ...]:
    """``spells`` with ``spell`` added, those that ended before the window dropped, the latest
    ``MAX_SPELLS`` kept."""
    kept = [old for old in spells if old[1] > now - window]
    return tuple(sorted([*kept, spell], key=lambda each: each[1])[-MAX_SPELLS:])


def _merged(spells: Iterable[Spell]) -> list[Spell]:
    """Spells in order, overlapping ones joined (so no time is left out twice)."""
    joined: list[Spell] = []
    for start, end in sorted(spells):
        if joined and start <= joined[-1][1]:
            joined[-1] = (joined[-1][0], max(joined[-1][1], end))
        elif end > start:
            joined.append((start, end))
    return joined


def _overlap(spell: Spell, start: datetime, end: datetime) -> timedelta:
    return max(min(spell[1], end) - max(spell[0], start), timedelta(0))


def _rounded(interval: timedelta) -> timedelta:
    """To the minute (to the second under one): "every 1h25m", not "every 1h24m59.6s"."""
    unit = timedelta(minutes=1) if interval >= timedelta(minutes=1) else timedelta(seconds=1)
    return max(unit, round(interval / unit) * unit)


def next_poll_after_failure(
    now: datetime,
    *,
    interval: timedelta,
    failures: int,
    max_backoff: timedelta,
    retry_after: timedelta | None = None,
    feed_key: str = "",
) -> datetime:
    """Exponential back-off: interval x 2^(failures-1) plus up to 10% jitter, capped; Retry-After if later.

    The cap is ``max_backoff`` but never less than ``interval``: a failing feed is not polled more often than
    a healthy one. Jitter stays inside the cap; feeds that reach the cap keep the spread jitter gave them on
    the way up, since each waits the same cap from its own last attempt.

    Args:
        failures: consecutive failures including this one (>= 1).
        feed_key: spreads feeds that failed together (one host down) so they do not all retry at once.
    """
    cap = max(max_backoff, interval)
    backoff = interval
    for _ in range(max(failures - 1, 0)):  # doubling until the cap, so no huge power can overflow timedelta
        if backoff >= cap or backoff <= timedelta(0):
            break
        backoff *= 2
    backoff = min(backoff, cap)
    backoff = min(backoff + _jitter(backoff, feed_key, failures), cap)
    if retry_after is not None:
        backoff = max(backoff, retry_after)
    return now + backoff


def _jitter(base: timedelta, key: str, failures: int) -> timedelta:
    """Up to 10% extra, the same for the same feed and failure count (deterministic, so testable)."""
    digest = hashlib.blake2b(f"{key}:{failures}".encode(), digest_size=2).digest()
    return base * (int.from_bytes(digest, "big") / 65535 * 0.1)


PAGE_RETRY_DELAYS = (timedelta(minutes=15), timedelta(hours=1), timedelta(hours=4))
"""When an article page that failed for a passing reason is fetched again, after each failed attempt: a
server down for a deploy is back within minutes, one having a bad day within hours; after the third the
feed's text stays."""


NOT_FOUND_RETRIES = 2
"""How often an article page that answered 404 is fetched again (after the first two delays above): news
sites publish an entry in their feed a few minutes before its page is up, or move it as it is edited. A
link that is truly dead costs its site two more requests."""


def next_page_retry(now: datetime, *, attempts: int, retry_after: timedelta | None = None) -> datetime | None:
    """When to fetch a failed page again after ``attempts`` failures (0: the first fetch failed), or None
    when it has been tried enough. A server's Retry-After, if longer, wins."""
    if attempts >= len(PAGE_RETRY_DELAYS):
        return None
    wait = PAGE_RETRY_DELAYS[attempts]
    return now + max(wait, retry_after) if retry_after else now + wait


DELIVERY_FIRST_RETRY = timedelta(minutes=1)
DELIVERY_MAX_RETRY = timedelta(hours=1)
# A channel's own wish is honoured up to a day: a "Retry-After: 99999999999" (or "inf") from a broken or
# hostile receiver pushed the retry into the year 5195 (or raised), and held every alert on the channel.
DELIVERY_MAX_RETRY_AFTER = timedelta(days=1)


def next_delivery_attempt(now: datetime, *, attempts: int, retry_after: float | None = None) -> datetime:
    """When to try a digest delivery again after ``attempts`` failed attempts: 1, 2, 4 ... minutes, at most an
    hour, or later if the channel asked (``retry_after``, in seconds; at most a day)."""
    delay = min(DELIVERY_FIRST_RETRY * 2 ** max(0, attempts - 1), DELIVERY_MAX_RETRY)
    if retry_after is not None and retry_after == retry_after:  # not NaN
        wish = DELIVERY_MAX_RETRY_AFTER.total_seconds()
        delay = max(delay, timedelta(seconds=max(0.0, min(retry_after, wish))))
    return now + delay
