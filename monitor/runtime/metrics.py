"""What the daemon counts, in one place: the stages call a ``Metrics`` and never hold counters of their own.

``Metrics`` itself records nothing, at the cost of a method call: it is what every stage gets when no
listener is configured (``monitor poll``, a daemon without ``--listen``). ``PrometheusMetrics`` records into
a registry of its own rather than prometheus_client's global one, so that several daemons in one process
(tests) never mix their numbers; ``monitor.daemon.observe`` serves it at /metrics.

Recorded where the facts are known: a feed's poll report (pipeline), a fetch's result (fetcher), an
extraction (pipeline), the writer thread's queue (pipeline), a delivery's outcome (digest jobs), a tick and
the polls in flight (daemon).
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

# Seconds: a 304 from a near host takes milliseconds, a slow page up to the whole-request deadline.
FETCH_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 90.0)
EXTRACT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
REGROUP_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
# Seconds from publication to storage: a push takes seconds, a poll up to its interval (30 minutes by default,
# 6 hours behind a hub), a feed that failed or answered 304 to changes a day or more.
NEWS_DELAY_BUCKETS = (
    30.0,
    60.0,
    120.0,
    300.0,
    600.0,
    900.0,
    1800.0,
    3600.0,
    7200.0,
    14400.0,
    43200.0,
    86400.0,
)
NEWS_VIA = ("poll", "push")
"""How news comes in (``Metrics.news_stored``)."""
BODY_SOURCES = ("page", "feed_fallback", "failed", "no_page")
"""Where a new article's text came from (``Metrics.bodies_stored``)."""
RESTART_REASONS = ("ended", "timeout")
"""Why the extraction workers are started again (``Metrics.extraction_restarted``)."""


class Metrics:
    """Records nothing: the stand-in when no listener is configured. Subclasses record."""

    last_tick_at: float | None = None  # time.time() of the last scheduler tick
    last_poll_success_at: float | None = None  # of the last poll that fetched its feed (ok or unchanged)

    def ticked(self, *, due: int) -> None:
        """The scheduler ticked and claimed ``due`` feeds."""

    @contextmanager
    def polling(self) -> Iterator[None]:
        """A feed's poll is in flight for the duration of the block."""
        yield

    def polled(self, report: Any) -> None:
        """A feed's poll ended (a ``pipeline.PollReport``)."""

    def pushed(self, report: Any) -> None:
        """Content a WebSub hub pushed for a feed was stored (a ``pipeline.PollReport``)."""

    def news_stored(self, delays: Iterable[float], *, via: str) -> None:
        """New articles were stored ``delays`` seconds after their entries' publication (those whose delay
        is the daemon's, ``monitor.schedule.news_delay``), found by a poll or pushed by a hub (``via``)."""

    def bodies_stored(self, sources: Iterable[str]) -> None:
        """New articles were stored with their bodies from these ``BODY_SOURCES``, one each."""

    def feed_went_silent(self) -> None:
        """A feed that answers was found to have stopped publishing (``monitor.schedule.silence``)."""

    def fetched(self, result: Any) -> None:
        """A GET ended (a ``fetch.FetchResult``), feed or page, successful or not."""

    def hosts_slowed(self, count: int) -> None:
        """``count`` hosts are held to a slower pace by their response time now
        (``monitor.ingest.politeness.SLOW_HOST``)."""

    def extracted(self, seconds: float) -> None:
        """A page went through text extraction, taking ``seconds``."""

    def extraction_restarted(self, reason: str) -> None:
        """The extraction workers were started again: a worker ended under its pages (``ended``: killed, out
        of memory, crashed) or a page outlasted the extraction timeout (``timeout``)."""

    def writer_queue(self, change: int) -> None:
        """A write was handed to the writer thread (+1) or finished there (-1)."""

    def delivered(self, outcome: Any) -> None:
        """A digest or alert delivery ended (a ``digest.Outcome``)."""

    def regrouped(self, seconds: float, *, split: int | None) -> None:
        """A regrouping pass ended after ``seconds``, splitting ``split`` groups off stories (None: failed)."""


NO_METRICS = Metrics()


def _at_zero(metric, values: Iterable[str]) -> None:
    """Give ``metric`` a series at zero for each of ``values`` from the start, so that an alert on their
    increase, or a share of them, has a series to read before the first one is counted."""
    for value in values:
        metric.labels(value)


class PrometheusMetrics(Metrics):
    """Records into its own prometheus_client registry.

    Args:
        database_size: called at each scrape for the database's size in bytes (None when unknown).
        database_failing: called at each scrape: whether the database refuses the daemon's work now
            (``monitor.daemon.database.DatabaseOutage``).
        disk_free: called at each scrape for the bytes free on the file system of an SQLite database.
        deliveries_owed: called at each scrape for the deliveries not sent yet
            (``monitor.store.deliveries.Owed``: kind, channel, status, count, oldest_period).
        feed_schedule: called at each scrape for how the feeds stand
            (``monitor.store.feeds.ScheduleState``: by_state, waiting, oldest_due).
    """

    def __init__(
        self,
        *,
        database_size: Callable[[], int | None] | None = None,
        database_failing: Callable[[], bool] | None = None,
        disk_free: Callable[[], int | None] | None = None,
        deliveries_owed: Callable[[], Iterable[Any]] | None = None,
        feed_schedule: Callable[[], Any] | None = None,
    ) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self._polls = Counter(
            "monitor_polls",
            "Feed polls, by outcome (ok, unchanged, failed, held) and error kind (empty when none)",
            ["outcome", "error_kind"],
            registry=r,
        )
        self._articles = Counter("monitor_articles_stored", "New articles stored", registry=r)
        self._pushes = Counter(
            "monitor_websub_pushes", "Contents pushed by WebSub hubs and stored", registry=r
        )
        self._news_delay = Histogram(
            "monitor_news_delay_seconds",
            "From an entry's stated publication to its article being stored, for entries published after "
            "their feed was last read whole (the delay the schedule, hubs and failures add), by how they "
            "came (poll, push)",
            ["via"],
            buckets=NEWS_DELAY_BUCKETS,
            registry=r,
        )
        _at_zero(self._news_delay, NEWS_VIA)
        self._bodies = Counter(
            "monitor_article_bodies",
            "New articles by where their text came from: page (extracted from it), feed_fallback (the page "
            "failed or gave too little: the feed's own text), failed (neither), no_page (none to fetch: no "
            "link, or fetch_pages off)",
            ["source"],
            registry=r,
        )
        _at_zero(self._bodies, BODY_SOURCES)
        self._silent = Counter(
            "monitor_feeds_gone_silent",
            "Feeds found to answer but have listed nothing new for longer than their pace allows (three of "
            "their longest gaps, at most ten of their mean gaps, at least three days), counted once each time",
            registry=r,
        )
        self._pages = Counter(
            "monitor_pages_extracted", "Article pages put through text extraction", registry=r
        )
        self._extract_seconds = Histogram(
            "monitor_extraction_seconds",
            "Time to extract one page's text",
            buckets=EXTRACT_BUCKETS,
            registry=r,
        )
        self._extraction_restarts = Counter(
            "monitor_extraction_restarts",
            "Times the extraction workers were started again, by reason: a worker ended (killed, out of "
            "memory, crashed) or a page outlasted the extraction timeout",
            ["reason"],
            registry=r,
        )
        _at_zero(self._extraction_restarts, RESTART_REASONS)
        self._fetch_seconds = Histogram(
            "monitor_fetch_duration_seconds",
            "Time of one GET, redirects included, by result (ok, not_modified, or the failure kind)",
            ["result"],
            buckets=FETCH_BUCKETS,
            registry=r,
        )
        self._due = Gauge("monitor_feeds_due", "Feeds claimed as due at the last tick", registry=r)
        self._in_flight = Gauge("monitor_feeds_in_flight", "Feed polls in flight", registry=r)
        self._hosts_slowed = Gauge(
            "monitor_hosts_slowed",
            "Hosts whose requests start further apart than host_delay because they answer slowly (autothrottle)",
            registry=r,
        )
        self._writer = Gauge(
            "monitor_writer_queue_depth", "Writes waiting for or running in the writer thread", registry=r
        )
        self._deliveries = Counter(
            "monitor_deliveries",
            "Digest and alert deliveries, by kind (digest, alert), "
            "channel and status (sent, failed, empty, taken)",
            ["kind", "channel", "status"],
            registry=r,
        )
        self._regroup_passes = Counter(
            "monitor_regroup_passes",
            "Regrouping passes over the window, by result (ok, failed)",
            ["result"],
            registry=r,
        )
        self._regroup_seconds = Histogram(
            "monitor_regroup_seconds", "Time of one regrouping pass", buckets=REGROUP_BUCKETS, registry=r
        )
        self._split = Counter(
            "monitor_stories_split", "Groups of write-ups split off a story into one of their own", registry=r
        )
        self._last_tick = Gauge(
            "monitor_last_tick_timestamp_seconds", "When the scheduler last ticked", registry=r
        )
        self._last_poll = Gauge(
            "monitor_last_successful_poll_timestamp_seconds",
            "When a feed was last fetched successfully",
            registry=r,
        )
        self._last_digest = Gauge(
            "monitor_last_digest_sent_timestamp_seconds",
            "When a digest or alert was last sent on any channel",
            registry=r,
        )
        # Read at each scrape, from the database or the disk: (name, help, how to read it), when wired.
        for name, documentation, read in (
            (
                "monitor_database_size_bytes",
                "Size of the database (SQLite files, or pg_database_size); NaN when it cannot be read",
                database_size,
            ),
            (
                "monitor_database_failing",
                "1 while the database refuses the daemon's work (a full disk, a server away) and polling pauses",
                database_failing,
            ),
            (
                "monitor_database_disk_free_bytes",
                "Free space of the file system holding the SQLite database; NaN when it cannot be read",
                disk_free,
            ),
        ):
            if read is not None:
                Gauge(name, documentation, registry=r).set_function(functools.partial(_or_nan, read))
        if deliveries_owed is not None:
            r.register(_OwedDeliveries(deliveries_owed))
        if feed_schedule is not None:
            r.register(_FeedSchedule(feed_schedule))

    def ticked(self, *, due: int) -> None:
        self.last_tick_at = time.time()
        self._last_tick.set(self.last_tick_at)
        self._due.set(due)

    @contextmanager
    def polling(self) -> Iterator[None]:
        self._in_flight.inc()
        try:
            yield
        finally:
            self._in_flight.dec()

    def polled(self, report: Any) -> None:
        self._polls.labels(str(report.outcome), report.error_kind or "").inc()
        if report.new_articles:
            self._articles.inc(report.new_articles)
        if str(report.outcome) in ("ok", "unchanged"):
            self.last_poll_success_at = time.time()
            self._last_poll.set(self.last_poll_success_at)

    def pushed(self, report: Any) -> None:
        self._pushes.inc()
        if report.new_articles:
            self._articles.inc(report.new_articles)

    def news_stored(self, delays: Iterable[float], *, via: str) -> None:
        histogram = self._news_delay.labels(via)
        for seconds in delays:
            histogram.observe(seconds)

    def bodies_stored(self, sources: Iterable[str]) -> None:
        for source in sources:
            self._bodies.labels(source).inc()

    def feed_went_silent(self) -> None:
        self._silent.inc()

    def fetched(self, result: Any) -> None:
        if result.failure is not None:
            outcome = str(result.failure.kind)
        else:
            outcome = "not_modified" if result.status == 304 else "ok"
        self._fetch_seconds.labels(outcome).observe(result.elapsed)

    def hosts_slowed(self, count: int) -> None:
        self._hosts_slowed.set(count)

    def extracted(self, seconds: float) -> None:
        self._pages.inc()
        self._extract_seconds.observe(seconds)

    def extraction_restarted(self, reason: str) -> None:
        self._extraction_restarts.labels(reason).inc()

    def writer_queue(self, change: int) -> None:
        self._writer.inc(change)

    def delivered(self, outcome: Any) -> None:
        self._deliveries.labels(outcome.kind, outcome.channel, outcome.status).inc()
        if outcome.status == "sent":
            self._last_digest.set(time.time())

    def regrouped(self, seconds: float, *, split: int | None) -> None:
        self._regroup_passes.labels("failed" if split is None else "ok").inc()
        if split is not None:
            self._regroup_seconds.observe(seconds)
            self._split.inc(split)

    def exposition(self) -> tuple[bytes, str]:
        """The registry in the Prometheus text format, and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class _ReadAtScrape:
    """Gauges read from the database at each scrape (what every instance shares: any one of them tells the
    whole of it). A database that cannot be read leaves the families empty, as ``monitor_database_size_bytes``
    gives NaN: the scrape itself goes on. Subclasses name their families and fill them from what was read."""

    def __init__(self, read: Callable[[], Any]) -> None:
        self._read = read

    def describe(self) -> list:
        return list(self._families())

    def collect(self) -> list:
        families = self._families()
        try:
            value = self._read()
        except Exception:  # noqa: BLE001 - a scrape must not fail because one gauge cannot be read
            return list(families)
        self._fill(families, value)
        return list(families)

    @staticmethod
    def _families() -> tuple:
        raise NotImplementedError

    @staticmethod
    def _fill(families: tuple, value: Any) -> None:
        raise NotImplementedError


class _OwedDeliveries(_ReadAtScrape):
    """The deliveries not sent yet (``monitor.store.deliveries.Owed`` rows)."""

    @staticmethod
    def _fill(families: tuple, value: Any) -> None:
        count, oldest = families
        periods: dict[tuple[str, str], float] = {}
        for row in value:
            count.add_metric([row.kind, row.channel, row.status], row.count)
            at = row.oldest_period.timestamp()
            periods[row.kind, row.channel] = min(at, periods.get((row.kind, row.channel), at))
        for (kind, channel), at in sorted(periods.items()):
            oldest.add_metric([kind, channel], at)

    @staticmethod
    def _families() -> tuple:
        from prometheus_client.core import GaugeMetricFamily

        return (
            GaugeMetricFamily(
                "monitor_deliveries_owed",
                "Deliveries not sent yet, by kind, channel and status (sending, failed, unconfirmed)",
                labels=["kind", "channel", "status"],
            ),
            GaugeMetricFamily(
                "monitor_deliveries_owed_oldest_period_timestamp_seconds",
                "The period of the oldest delivery not sent yet, by kind and channel",
                labels=["kind", "channel"],
            ),
        )


class _FeedSchedule(_ReadAtScrape):
    """The feeds by state and the polls waiting for an instance (``monitor.store.feeds.ScheduleState``)."""

    STATES = ("ok", "silent", "moved", "failing", "gone", "new", "disabled")

    @staticmethod
    def _fill(families: tuple, value: Any) -> None:
        by_state, waiting, oldest = families
        # Every state, 0 included: an alert on failing feeds needs the series.
        for name in _FeedSchedule.STATES:
            by_state.add_metric([name], value.by_state.get(name, 0))
        waiting.add_metric([], value.waiting)
        if value.oldest_due is not None:
            oldest.add_metric([], value.oldest_due.timestamp())

    @staticmethod
    def _families() -> tuple:
        from prometheus_client.core import GaugeMetricFamily

        return (
            GaugeMetricFamily(
                "monitor_feeds",
                "Feeds by state: ok, silent (answers but has stopped publishing), moved (answers through a "
                "permanent redirect), failing, gone (410), new (never polled), disabled",
                labels=["state"],
            ),
            GaugeMetricFamily(
                "monitor_feeds_waiting",
                "Feeds due for a poll that no instance has taken yet",
            ),
            GaugeMetricFamily(
                "monitor_feeds_waiting_oldest_due_timestamp_seconds",
                "When the longest-waiting of those feeds fell due",
            ),
        )


def _or_nan(read: Callable[[], int | None]) -> float:
    try:
        value = read()
    except Exception:  # noqa: BLE001 - a scrape must not fail because one gauge cannot be read
        return math.nan
    return math.nan if value is None else float(value)
