#!/usr/bin/env python
"""Freshness: how long news waits to be found, with fixed 30-minute polling and with the adaptive schedule.

    .venv/bin/python bench/freshness.py             # 28 simulated days, about a minute
    .venv/bin/python bench/freshness.py --quick     # 10 days, a few seconds; targets not enforced
    .venv/bin/python bench/freshness.py --exact     # recompute the rhythm at every poll (slower, same result)
    .venv/bin/python bench/freshness.py --ttl       # every schedule also waits for a feed's <ttl>

The feeds are the real ones in ../shared/corpora (see its SOURCES.md; set MONITOR_SHARED_DIR to look
elsewhere), read at run time and parsed by monitor.ingest.parse. Each feed with at least five dated entries over
at least an hour becomes a simulated feed that publishes at its real moments: its dates, repeated end to
end (one mean gap between the last and the next first) for as long as the simulation runs, starting at a
random point of the pattern (seeded by the feed's name). So a busy feed brings as many entries per day as
it really did, and every feed keeps its own bursts and lulls. Like the real feed, the simulated one lists
only as many entries as its document held: an entry pushed out before a poll saw it is missed.

Each schedule polls each feed on a simulated clock, with no network: the poll at time t finds the entries
published by t, and the next poll comes when monitor.schedule says. Fixed polling waits 30 minutes; the
adaptive schedule is the daemon's own (``learned_rhythm`` on what the feed has shown in its window, then
``next_poll_after_success``), with the default settings. The first week (the rhythm's window) is warm-up;
from then on the script measures the delay from each entry's publication to the poll that finds it, and
the requests per feed per day. Two other rules are printed for reference: miniflux's entry_frequency (one
poll per expected publication) and this square root rule anchored at 30 minutes instead of min_interval.

Target: the adaptive schedule halves the median delay of fixed polling at no more requests, or uses half
the requests at no more median delay. Results go to ``bench/out/freshness.json``.
"""

from __future__ import annotations

import argparse
import gzip
import math
import random
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bootstrap import ensure_project_python  # noqa: E402

ensure_project_python(__file__, ("feedparser",))

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _pages import shared_dir  # noqa: E402
from _report import report_checks  # noqa: E402

from monitor.config import Settings  # noqa: E402
from monitor.config.durations import format_duration  # noqa: E402
from monitor.ingest.feeditems import NotAFeed  # noqa: E402
from monitor.ingest.parse import parse_feed  # noqa: E402
from monitor.schedule import (  # noqa: E402
    RHYTHM_WINDOW,
    Spell,
    learned_rhythm,
    listing_overflowed,
    next_poll_after_success,
    publications_per_day,
    unwatched_spell,
    with_spell,
)

# The real feeds of the corpora (captured from the web, not hand-written test cases), by folder and suffix.
FEED_SOURCES = (
    ("fastfeedparser/benchmark_data", (".gz",)),
    ("fastfeedparser/tests/integration", (".xml", ".json")),
    ("feedjira/spec/sample_feeds", (".xml", ".json")),
    ("rsparser/Tests/RSParserTests/Resources", (".rss", ".atom", ".xml", ".json", ".rdf")),
    ("rss-parser/test/input", (".rss", ".atom")),
    ("miniflux/internal/reader/parser/testdata", (".xml",)),
)
MIN_ENTRIES = 5
MIN_SPAN = timedelta(hours=1)  # shorter, the dates are one timestamp stamped on every entry: no rhythm
# Dates outside are junk (1970, year 1, 2099) and would stretch a pattern over centuries.
PLAUSIBLE = (datetime(1995, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
FIXED = timedelta(minutes=30)
START = datetime(2030, 1, 6, tzinfo=UTC)  # any moment: the patterns are shifted onto it
DAY = timedelta(days=1)


@dataclass(frozen=True)
class Feed:
    name: str
    offsets: tuple[timedelta, ...]  # publication moments from the first, sorted (one pattern)
    period: timedelta  # the pattern's length, one mean gap included
    listed: int  # how many entries the feed's document holds
    ttl: timedelta | None  # the feed's <ttl>, if it states one

    @property
    def per_day(self) -> float:
        return len(self.offsets) / (self.period / DAY)


def load_feeds(corpora: Path) -> tuple[list[Feed], dict[str, int]]:
    """The corpora's feeds with a rhythm to replay, and how many were left out, by reason."""
    feeds, skipped, seen = (
        [],
        {"unreadable": 0, "too few dated entries": 0, "dates within an hour": 0, "duplicate dates": 0},
        set(),
    )
    for folder, suffixes in FEED_SOURCES:
        directory = corpora / folder
        if not directory.is_dir():
            continue
        for path in sorted(directory.iterdir()):
            if path.suffix not in suffixes:
                continue
            data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
            try:
                parsed = parse_feed(data, url=f"https://feeds.invalid/{path.name}")
            except NotAFeed:
                skipped["unreadable"] += 1
                continue
            dates = sorted(
                item.published
                for item in parsed.items
                if item.published and PLAUSIBLE[0] <= item.published <= PLAUSIBLE[1]
            )
            if len(dates) < MIN_ENTRIES:
                skipped["too few dated entries"] += 1
                continue
            span = dates[-1] - dates[0]
            if span < MIN_SPAN:
                skipped["dates within an hour"] += 1
                continue
            if tuple(dates) in seen:  # one feed captured twice (a full and a trimmed copy)
                skipped["duplicate dates"] += 1
                continue
            seen.add(tuple(dates))
            offsets = tuple(date - dates[0] for date in dates)
            ttl = timedelta(minutes=parsed.ttl_minutes) if parsed.ttl_minutes else None
            feeds.append(
                Feed(
                    f"{folder.split('/')[0]}/{path.name}",
                    offsets,
                    span + span / (len(dates) - 1),
                    len(parsed.items),
                    ttl,
                )
            )
    return feeds, skipped


def publications(feed: Feed, start: datetime, end: datetime) -> list[datetime]:
    """The feed's moments from before ``start`` (what its first poll finds listed) to ``end``."""
    rng = random.Random(feed.name)
    origin = start - feed.period * rng.random() - feed.period * math.ceil(RHYTHM_WINDOW / feed.period)
    times, cycle = [], 0
    while True:
        base = origin + feed.period * cycle
        if base > end:
            return times
        times.extend(base + offset for offset in feed.offsets if base + offset <= end)
        cycle += 1


Interval = Callable[[deque, datetime, bool, datetime | None], timedelta]
"""A schedule: the interval after a poll at ``now``, from the (published, first seen) pairs in the window,
whether the poll found every listed entry new (``monitor.schedule.listing_overflowed``) and when the poll was
due (None for the first; later than due only after a stop)."""


@dataclass
class Outcome:
    delays: list[float] = field(default_factory=list)  # minutes, one per measured entry found
    missed: int = 0  # measured entries pushed out of the listing before a poll found them
    requests: int = 0  # polls within the measured period
    days: float = 0.0
    per_day: float = 0.0  # the feed's real publication rate
    warmup_delays: list[float] = field(default_factory=list)  # the same for the first week, the rhythm learnt
    warmup_missed: int = 0


def simulate(
    feed: Feed,
    interval: Interval,
    start: datetime,
    measure_from: datetime,
    end: datetime,
    *,
    ttl: bool = False,
    stop: tuple[datetime, datetime] | None = None,
) -> Outcome:
    """Poll ``feed`` from ``start``, each time ``interval`` says (and its <ttl> with ``ttl``); measure from
    ``measure_from`` to ``end``. During ``stop`` (start, end) the daemon is away: a poll due then comes at
    its end, as a restarted daemon polls every overdue feed at once."""
    times = publications(feed, start, end)
    outcome = Outcome(days=(end - measure_from) / DAY, per_day=feed.per_day)
    window: deque = deque()  # (published, first seen), as the store's sightings_since returns them
    found = 0  # times[:found] have been seen or missed
    now, due = start, None
    while True:
        published_by_now = _published_by(times, now)
        listed_from = max(found, published_by_now - feed.listed)
        for skipped in times[found:listed_from]:  # out of the listing before this poll: never seen
            outcome.missed += measure_from <= skipped < end
            outcome.warmup_missed += start <= skipped < measure_from
        overflowed = now > start and listing_overflowed(
            listed=min(feed.listed, published_by_now),
            unseen=published_by_now - found,
            polled_before=True,
        )
        found = max(found, listed_from)
        while found < len(times) and times[found] <= now:
            published = times[found]
            if measure_from <= published < end:
                outcome.delays.append((now - published) / timedelta(minutes=1))
            elif start <= published < measure_from:
                outcome.warmup_delays.append((now - published) / timedelta(minutes=1))
            window.append((published, now))
            found += 1
        if measure_from <= now < end:
            outcome.requests += 1
        if now >= end and (found >= len(times) or times[found] >= end):
            return outcome
        while window and window[0][1] <= now - RHYTHM_WINDOW:
            window.popleft()
        wait = interval(window, now, overflowed, due)
        now = due = next_poll_after_success(now, interval=wait, ttl=feed.ttl if ttl else None)
        if stop is not None and stop[0] <= now < stop[1]:
            now = stop[1]


def _published_by(times: list[datetime], now: datetime) -> int:
    """How many of ``times`` (sorted) are at or before ``now``."""
    low, high = 0, len(times)
    while low < high:
        middle = (low + high) // 2
        if times[middle] <= now:
            low = middle + 1
        else:
            high = middle
    return low


def fixed(window: deque, now: datetime, overflowed: bool, due: datetime | None) -> timedelta:
    return FIXED


class Adaptive:
    """The daemon's schedule (``learned_rhythm``, then ``listing_overflowed``). Unless ``exact``, the rhythm is
    recomputed only when its inputs can have changed (an entry came, one's date left the window, or the
    time in view still grows): the same result, faster.

    ``whole_week`` is the schedule before December 2026, for comparison: every rate counted over the whole
    week, however recently the feed was added, and no second look at a listing that turned over. Without
    ``absences``, the schedule before the unwatched spells: a stop counts as time the feed was watched."""

    def __init__(
        self,
        settings: Settings,
        *,
        exact: bool = False,
        rule: Callable[[float, Settings], timedelta] | None = None,
        whole_week: bool = False,
        absences: bool = True,
    ) -> None:
        self.settings, self.exact, self.rule, self.absences = settings, exact, rule, absences
        self.watched_since = None if whole_week else START
        self.overflow = not whole_week
        self.spells: tuple[Spell, ...] = ()
        self._known: tuple[int, datetime | None] | None = None
        self._valid_until = datetime.max.replace(tzinfo=UTC)
        self._interval = settings.max_interval

    def __call__(self, window: deque, now: datetime, overflowed: bool, due: datetime | None) -> timedelta:
        if self.absences and due is not None:
            found = [sighting for sighting in window if sighting[1] == now]  # first seen by this poll
            spell = unwatched_spell(found, due=due, now=now, overflowed=overflowed)
            if spell is not None:
                self.spells = with_spell(self.spells, spell, now=now)
                self._known = None
        state = (len(window), window[-1][1] if window else None)
        if self.exact or state != self._known or now >= self._valid_until:
            if self.rule is None:
                self._interval = learned_rhythm(
                    window,
                    now=now,
                    min_interval=self.settings.min_interval,
                    max_interval=self.settings.max_interval,
                    watched_since=self.watched_since,
                    unwatched=self.spells,
                ).interval
            else:
                per_day = publications_per_day(
                    window, now=now, watched_since=self.watched_since, unwatched=self.spells
                )
                self._interval = self.rule(per_day, self.settings)
            self._known = state
            # The count changes next when the oldest date in the window leaves it; the time in view grows
            # until it is the whole window.
            oldest = min((min(published, seen) for published, seen in window), default=None)
            self._valid_until = oldest + RHYTHM_WINDOW if oldest else datetime.max.replace(tzinfo=UTC)
            if self.watched_since is not None and now < self.watched_since + RHYTHM_WINDOW:
                self._valid_until = now
            if self.spells and self.spells[-1][1] > now - RHYTHM_WINDOW:
                # A spell's share of the window shrinks as it ages: an hour's change is a small one.
                self._valid_until = min(self._valid_until, now + timedelta(hours=1))
        if self.overflow and overflowed:
            return self.settings.min_interval
        return self._interval


def miniflux_rule(per_day: float, settings: Settings) -> timedelta:
    """miniflux's entry_frequency: a week over the week's count, i.e. one poll per expected publication."""
    if per_day <= 0:
        return settings.max_interval
    return min(max(DAY / per_day, settings.min_interval), settings.max_interval)


def anchored_at_30m(per_day: float, settings: Settings) -> timedelta:
    """The square root rule anchored at 30 minutes (a feed publishing every 30 min is polled every 30 min)."""
    if per_day <= 0:
        return settings.max_interval
    return min(max(math.sqrt((DAY / per_day) / FIXED) * FIXED, settings.min_interval), settings.max_interval)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


def _requests_per_day(outcomes: list[Outcome]) -> float:
    return sum(o.requests / o.days for o in outcomes) / max(len(outcomes), 1)


RATE_CLASSES = (("24+/day", 24, math.inf), ("1-24/day", 1, 24), ("under 1/day", 0, 1))


def summary(outcomes: list[Outcome]) -> dict:
    delays = [delay for outcome in outcomes for delay in outcome.delays]
    warmup = [delay for outcome in outcomes for delay in outcome.warmup_delays]
    by_rate = {}
    for name, low, high in RATE_CLASSES:
        members = [outcome for outcome in outcomes if low <= outcome.per_day < high]
        class_delays = [delay for outcome in members for delay in outcome.delays]
        by_rate[name] = {
            "feeds": len(members),
            "entries": len(class_delays),
            "median_delay_min": percentile(class_delays, 0.5),
            "requests_per_feed_day": _requests_per_day(members),
        }
    return {
        "entries": len(delays),
        "missed": sum(outcome.missed for outcome in outcomes),
        "median_delay_min": percentile(delays, 0.5),
        "p90_delay_min": percentile(delays, 0.9),
        "mean_delay_min": sum(delays) / len(delays) if delays else float("nan"),
        "requests_per_feed_day": _requests_per_day(outcomes),
        "by_rate": by_rate,
        "first_week": {
            "entries": sum(len(outcome.warmup_delays) for outcome in outcomes),
            "missed": sum(outcome.warmup_missed for outcome in outcomes),
            "median_delay_min": percentile(warmup, 0.5),
            "p90_delay_min": percentile(warmup, 0.9),
        },
    }


STOP_AFTER = 2 * RHYTHM_WINDOW
"""With ``--stopped``: the daemon runs two weeks (one to learn, one as it then is) before it stops."""


def after_a_stop(feeds: list[Feed], settings: Settings, args: argparse.Namespace, started: float) -> int:
    """The week after the daemon was stopped for ``args.stopped`` days: each schedule's delay and requests,
    beside the adaptive schedule that never stopped over the same week. What a stop should not cost is the
    week after it: a schedule that takes the absence for quiet days polls slowly until its window forgets."""
    stop = (START + STOP_AFTER, START + STOP_AFTER + DAY * args.stopped)
    measure_from, end = stop[1], stop[1] + RHYTHM_WINDOW
    print(
        f"{len(feeds)} feeds replayed; the daemon runs {STOP_AFTER.days} days, is stopped for "
        f"{args.stopped:g} days, and the week after its restart is measured (entries published in it)\n"
    )
    runs: dict[str, tuple[Callable[[], Interval], tuple[datetime, datetime] | None]] = {
        "fixed 30m": (lambda: fixed, stop),
        "adaptive": (lambda: Adaptive(settings, exact=args.exact), stop),
        "adaptive, absence as watched": (lambda: Adaptive(settings, exact=args.exact, absences=False), stop),
        "adaptive, never stopped": (lambda: Adaptive(settings, exact=args.exact), None),
    }
    results = {
        name: summary(
            [simulate(feed, make(), START, measure_from, end, ttl=args.ttl, stop=stopped) for feed in feeds]
        )
        for name, (make, stopped) in runs.items()
    }
    print(f"{'schedule':<30} {'median':>8} {'p90':>8} {'mean':>8} {'req/feed/day':>13} {'missed':>7}")
    for name, row in results.items():
        print(
            f"{name:<30} {row['median_delay_min']:>6.1f}m {row['p90_delay_min']:>6.0f}m "
            f"{row['mean_delay_min']:>6.0f}m {row['requests_per_feed_day']:>13.1f} {row['missed']:>7}"
        )
    resumed, before, steady = (
        results["adaptive"],
        results["adaptive, absence as watched"],
        results["adaptive, never stopped"],
    )
    checks = {
        "after a stop, the adaptive schedule's median delay is within 10% of never having stopped": resumed[
            "median_delay_min"
        ]
        <= 1.1 * steady["median_delay_min"],
        "and no more than counting the absence as watched": resumed["median_delay_min"]
        <= before["median_delay_min"],
    }
    result = {"stopped_days": args.stopped, "feeds": len(feeds), "schedules": results, "ttl": args.ttl}
    report_checks(checks, result, "freshness_stopped.json", started=started)
    return 0 if args.quick or all(checks.values()) else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=28, help="simulated days, the first week warm-up (28)")
    parser.add_argument("--quick", action="store_true", help="10 days; targets not enforced")
    parser.add_argument("--exact", action="store_true", help="recompute the rhythm at every poll")
    parser.add_argument(
        "--ttl", action="store_true", help="honour the feeds' <ttl> in every schedule, as the daemon does"
    )
    parser.add_argument(
        "--listed",
        type=int,
        default=0,
        help="every feed lists at most this many entries, as many news sites do (0: as many as its document)",
    )
    parser.add_argument(
        "--stopped",
        type=float,
        default=0,
        help="instead: the daemon stopped for this many days after two weeks; measure the week after it",
    )
    args = parser.parse_args()
    days = 10 if args.quick else args.days
    if days <= RHYTHM_WINDOW / DAY:
        parser.error(f"--days must be longer than the warm-up ({RHYTHM_WINDOW.days} days)")
    corpora = shared_dir() / "corpora"
    if not (corpora / "SOURCES.md").is_file():
        print(f"skipped: {shared_dir()} has no corpora (set MONITOR_SHARED_DIR)")
        return 0
    started = time.perf_counter()
    feeds, skipped = load_feeds(corpora)
    if not feeds:
        print(f"skipped: no feed in {corpora} has dated entries to replay")
        return 0
    if args.listed > 0:
        feeds = [replace(feed, listed=min(feed.listed, args.listed)) for feed in feeds]
    settings = Settings()
    if args.stopped > 0:
        return after_a_stop(feeds, settings, args, started)
    measure_from, end = START + RHYTHM_WINDOW, START + DAY * days
    rates = sorted(feed.per_day for feed in feeds)
    left_out = ", ".join(f"{n} {why}" for why, n in skipped.items() if n)
    print(
        f"{len(feeds)} feeds replayed ({left_out} left out); publications per day: median "
        f"{percentile(rates, 0.5):.2f}, 90th percentile {percentile(rates, 0.9):.1f}, "
        f"busiest {rates[-1]:.0f}"
    )
    bounds = (
        f"min_interval {format_duration(settings.min_interval)}, max_interval "
        f"{format_duration(settings.max_interval)}"
    )
    with_ttl = sum(feed.ttl is not None for feed in feeds)
    print(
        f"{days} simulated days, the first {RHYTHM_WINDOW.days} warm-up; adaptive: {bounds}; the <ttl> of "
        f"{with_ttl} feeds {'honoured' if args.ttl else 'ignored (--ttl honours it)'}\n"
    )

    schedules: dict[str, Callable[[], Interval]] = {
        "fixed 30m": lambda: fixed,
        "adaptive": lambda: Adaptive(settings, exact=args.exact),
        "adaptive, whole week": lambda: Adaptive(settings, exact=args.exact, whole_week=True),
        "ref: miniflux rule": lambda: Adaptive(settings, rule=miniflux_rule),
        "ref: sqrt at 30m": lambda: Adaptive(settings, rule=anchored_at_30m),
    }
    results = {}
    for name, make in schedules.items():
        results[name] = summary(
            [simulate(feed, make(), START, measure_from, end, ttl=args.ttl) for feed in feeds]
        )
    base = results["fixed 30m"]
    print(
        f"{'schedule':<20} {'median':>8} {'p90':>8} {'mean':>8} {'req/feed/day':>13} {'delay x':>8} "
        f"{'requests x':>10} {'missed':>7}"
    )
    for name, row in results.items():
        row["median_ratio"] = row["median_delay_min"] / base["median_delay_min"]
        row["requests_ratio"] = row["requests_per_feed_day"] / base["requests_per_feed_day"]
        print(
            f"{name:<20} {row['median_delay_min']:>6.1f}m {row['p90_delay_min']:>6.0f}m "
            f"{row['mean_delay_min']:>6.0f}m {row['requests_per_feed_day']:>13.1f} "
            f"{row['median_ratio']:>7.2f}x "
            f"{row['requests_ratio']:>9.2f}x {row['missed']:>7}"
        )
    print("\nby the feed's rate: median delay / requests per feed per day")
    heads = [f"{name} ({c['feeds']} feeds, {c['entries']} entries)" for name, c in base["by_rate"].items()]
    print(f"{'schedule':<20}" + "".join(f" {head:>38}" for head in heads))
    for name, row in results.items():
        cells = [
            f"{c['median_delay_min']:.0f}m / {c['requests_per_feed_day']:.1f}"
            for c in row["by_rate"].values()
        ]
        print(f"{name:<20}" + "".join(f" {cell:>38}" for cell in cells))
    print("\nthe first week, while the rhythm is learnt (not in the figures above):")
    for name, row in results.items():
        week = row["first_week"]
        print(
            f"{name:<20} median {week['median_delay_min']:.1f}m, p90 {week['p90_delay_min']:.0f}m, "
            f"{week['missed']} of {week['entries'] + week['missed']} entries missed"
        )
    adaptive = results["adaptive"]
    print(f"\nentries measured: {base['entries']} under fixed polling, {adaptive['entries']} under adaptive")
    halves_delay = adaptive["median_ratio"] <= 0.5 and adaptive["requests_ratio"] <= 1.0
    halves_requests = adaptive["requests_ratio"] <= 0.5 and adaptive["median_ratio"] <= 1.0
    checks = {
        "adaptive halves the median delay at no more requests, or halves the requests at no more delay": halves_delay
        or halves_requests
    }
    result = {
        "days": days,
        "feeds": len(feeds),
        "skipped": skipped,
        "schedules": results,
        "ttl": args.ttl,
        "listed": args.listed or None,
        "settings": {
            "min_interval": format_duration(settings.min_interval),
            "max_interval": format_duration(settings.max_interval),
        },
    }
    report_checks(checks, result, "freshness.json", started=started)
    return 0 if args.quick or all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
