"""The one orchestrator: claim due feeds, then for each fetch, parse, complete new entries and store them.

Every other module does one stage; only this one knows their order. A failure in one feed is recorded on
that feed's row and never reaches the others.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import hashlib
import itertools
import logging
import multiprocessing
import multiprocessing.forkserver
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from http import HTTPStatus
from types import MappingProxyType
from typing import NamedTuple, TypeVar
from urllib.parse import urlsplit

from sqlalchemy.exc import OperationalError, PendingRollbackError, SQLAlchemyError

from monitor import dedupe
from monitor.config import Config, FeedConfig
from monitor.config.durations import format_duration
from monitor.dedupe.tally import TermTally
from monitor.dedupe.updates import entry_hash
from monitor.errors import MonitorError
from monitor.ingest import sources
from monitor.ingest.addressguard import AddressGuard, Reach
from monitor.ingest.extract import (
    EVERYTHING,
    Wanted,
    build_article,
    choose_body,
    completed_by_page,
    extract_page,
    revision_of,
    taken_over_by,
)
from monitor.ingest.feeditems import FeedItem, NotAFeed, ParsedFeed
from monitor.ingest.fetch import (
    FEED_ACCEPT,
    PAGE_ACCEPT,
    Failure,
    FailureKind,
    Fetcher,
    FetchResult,
    reaching,
)
from monitor.ingest.fetchtools import FetchTools, Shared
from monitor.ingest.pagebuffer import PageBuffer
from monitor.ingest.parse import parse_feed
from monitor.ingest.robots import RobotsCache
from monitor.ingest.storable import clean, storable_article, storable_feed, storable_page, storable_validators
from monitor.ingest.urls import canonical_url, is_fetchable, is_move
from monitor.ingest.websub import Subscriber
from monitor.retention import mark_seen
from monitor.runtime import instance
from monitor.runtime.groupcommit import GroupCommit
from monitor.runtime.lifeline import expect_helpers, start_worker
from monitor.runtime.logs import log_failure
from monitor.runtime.metrics import NO_METRICS, Metrics
from monitor.runtime.priority import PriorityGate
from monitor.schedule import (
    NOT_FOUND_RETRIES,
    RHYTHM_WINDOW,
    SILENCE_PUBLICATIONS,
    SILENCE_READ_SINCE,
    Rhythm,
    Spell,
    asks_whole,
    describe_pace,
    learned_rhythm,
    listing_overflowed,
    news_delay,
    next_page_retry,
    next_poll_after_failure,
    next_poll_after_success,
    quiet_for_days,
    still_silent,
    unwatched_spell,
    with_spell,
)
from monitor.store import articles as article_store
from monitor.store import feeds as feed_store
from monitor.store import matches as match_store
from monitor.store import sightings as sighting_store
from monitor.store import websub as websub_store
from monitor.store.db import Database, remedy, unavailability
from monitor.store.records import NO_LINK, PAGES_OFF, Article, BodySource, ExtractedPage, body_origin
from monitor.watchlist import Match, Watchlist, load_watchlist
from monitor.watchlist.tag import Tagger

log = logging.getLogger(__name__)
T = TypeVar("T")

LEASE = timedelta(minutes=30)
LEASED = "leased"
"""The error kind of a feed not polled because another live instance is polling it."""
DATABASE = "database"
"""The error kind of a poll the database failed (a full disk, a server gone): no fault of the feed."""
# Content a hub pushed waits this long, in all, for a poll of its feed in flight to end.
PUSH_LEASE_TRIES, PUSH_LEASE_WAIT = 60, 1.0
SAVES_PER_TRANSACTION = 16
"""Feeds whose articles are stored in one transaction at most: enough to share the count rows' pages, few
enough that the write lock is not held for long (another instance, or a command, waits for it)."""
SORTS_PER_TRANSACTION = 64
"""Feeds whose entries are sorted in one transaction at most: a few lookups each, and rarely a write."""
LARGE_FEED_BYTES = 1_000_000
"""A feed document larger is parsed apart from the others (``Pipeline._parsed``): a news feed is tens of
kilobytes, a podcast's full archive a few megabytes."""


class Outcome(StrEnum):
    OK = "ok"
    UNCHANGED = "unchanged"
    FAILED = "failed"
    HELD = "held"


@dataclass(frozen=True)
class PollReport:
    """One feed's poll, as the CLI and the log show it."""

    feed: str
    outcome: Outcome
    status: int | None = None
    new_articles: int = 0
    linked: int = 0
    duration: float = 0.0
    error: str | None = None
    error_kind: str | None = None
    warning: str | None = None
    next_poll_at: datetime | None = None
    hint: str | None = None
    """What the user can do about the failure, when it is theirs to mend (a full disk: ``db.remedy``)."""


def instance_name() -> str:
    """Names this process in feed leases (the lease also records its host, pid and start time)."""
    return f"{instance.host_name()}:{os.getpid()}"


EXTRACT_TRIES = 2
"""Times a page is put to the workers when a worker ends under it: once more after the pool is replaced."""
EXTRACT_TIMEOUT = 120.0
"""Seconds a page may take to extract, from when it is handed to the workers: pages of 10 MB take seconds,
and a page that made the extractor loop would otherwise hold its worker, and in the end every worker, for
good."""


class ExtractionFailed(MonitorError):
    """A page could not be extracted: its workers ended under it, or it took too long (``Extractor.extract``)."""

    hint = "the page is fetched and extracted again later; until then its article keeps the feed's text"


class Extractor:
    """Runs ``extract_page`` in worker processes so extraction uses every core while fetching goes on.

    The workers are forked from a forkserver that has loaded ``monitor.ingest.extract_worker`` (trafilatura, warmed
    up) and nothing else: they share its pages, and none of them carries this process's imports, database
    connections or sockets. Each worker is replaced after ``RECYCLE_AFTER`` pages, so memory that an odd page
    made a worker grow is given back. With ``workers=0`` extraction runs in a thread of this process instead
    (cheaper to start, for small runs).
    """

    RECYCLE_AFTER = 100

    def __init__(self, workers: int | None, *, metrics: Metrics = NO_METRICS) -> None:
        self.workers = (os.cpu_count() or 1) if workers is None else workers
        self.metrics = metrics  # counts the times the workers are started again
        self._pool: ProcessPoolExecutor | None = None
        # Pages go to the workers by priority, a worker's worth and one more at a time (the one more keeps
        # a worker from waiting for the event loop between two pages): see ``extract``.
        self._line = PriorityGate(self.workers + 1)

    def start(self) -> ProcessPoolExecutor | None:
        """Have the forkserver load the extraction code now, without waiting for it (the pool; None for
        ``workers=0``).

        Called when a poll has its first page to fetch: the second or two the forkserver takes to load
        trafilatura then passes while that page waits for robots.txt and its host's turn. Started at the
        first extraction instead, it held up that extraction and the event loop (every fetch) with it.
        """
        if self.workers == 0:
            return None
        if self._pool is None:
            context = multiprocessing.get_context("forkserver")
            # Only the extraction modules: by default the forkserver would import this program's __main__
            # (the whole CLI) and every worker would carry it.
            context.set_forkserver_preload(["monitor.ingest.extract_worker"])
            expect_helpers()  # the forkserver and workers die with this process (monitor.runtime.lifeline)
            # Started from this (the event loop's) thread, which lives as long as the extractor: see
            # monitor.runtime.lifeline. It only spawns the server, which then loads the code on its own.
            multiprocessing.forkserver.ensure_running()
            self._pool = ProcessPoolExecutor(
                self.workers,
                mp_context=context,
                max_tasks_per_child=self.RECYCLE_AFTER,
                initializer=start_worker,
            )
        return self._pool

    async def extract(
        self, html: bytes, url: str, *, priority: int = 0, content_type: str = "", wanted: Wanted = EVERYTHING
    ) -> ExtractedPage | None:
        """The page's text and metadata, extracted in a worker; pages waiting for one go lowest
        ``priority`` first, then in order of arrival.

        The pipeline gives the pages of a feed the order in which the feeds' polls began: a feed's
        articles are stored together once its last page is extracted, and in the order pages arrive that
        last page waited behind every other feed's earlier pages, so storing and deduplicating (the main
        process's share of the cores) bunched up at the end of a poll, on one core, while the other idled.

        A worker that ends while it works (killed, out of memory, crashed in native code) breaks the whole
        pool, every page in it with it: the pool is replaced and each of those pages extracted again once,
        in the new one. A page whose second try breaks its pool too raises ``ExtractionFailed``; so does one
        still being extracted after ``EXTRACT_TIMEOUT``, whose workers are stopped (a worker cannot be
        asked to drop a page), the other pages in them extracted again.
        """
        for attempt in range(1, EXTRACT_TRIES + 1):
            pool = self.start()
            if pool is None:
                return await asyncio.to_thread(extract_page, html, url, content_type, wanted=wanted)
            async with self._line.hold(priority):
                try:
                    extracting = asyncio.wrap_future(
                        pool.submit(extract_page, html, url, content_type, wanted=wanted)
                    )
                    return await asyncio.wait_for(extracting, EXTRACT_TIMEOUT)
                except TimeoutError as exc:
                    self._stop_workers(pool, reason="timeout")
                    raise ExtractionFailed(
                        f"its extraction took longer than {EXTRACT_TIMEOUT:g} s; its workers were stopped"
                    ) from exc
                except BrokenProcessPool as exc:
                    self._replace(pool, reason="ended")
                    broken = exc
            if attempt < EXTRACT_TRIES:
                log.warning(
                    "an extraction worker ended while %s waited for it or was extracted; workers started "
                    "again, the page is extracted again",
                    url,
                    extra={"url": url},
                )
        raise ExtractionFailed(
            f"its extraction worker ended {EXTRACT_TRIES} times (killed, out of memory or crashed)"
        ) from broken

    def _stop_workers(self, pool: ProcessPoolExecutor, *, reason: str) -> None:
        """End the workers of ``pool``: a page they are stuck on is given up, the pool breaks, and the pages
        waiting in it are extracted again in a new one (``extract``)."""
        # ProcessPoolExecutor keeps its workers in ``_processes`` and can end them itself only from Python
        # 3.14 on (``kill_workers``).
        for process in list(getattr(pool, "_processes", {}).values()):
            process.kill()
        self._replace(pool, reason=reason)

    def _replace(self, pool: ProcessPoolExecutor, *, reason: str) -> None:
        """Let a broken pool go; the next page starts a new one. Its pages are not cancelled here: the pool
        fails each with BrokenProcessPool, and ``extract`` puts them to the new one.

        Counted once a pool (``reason`` in the metrics), however many of its pages saw it break."""
        if self._pool is pool:
            self._pool = None
            pool.shutdown(wait=False)
            self.metrics.extraction_restarted(reason)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


class Pipeline:
    """Polls feeds end to end. Use as ``async with Pipeline(config, db) as pipeline``.

    ``guard`` decides which addresses links may reach; by default the system resolver's answers, checked
    against ``settings.allow_networks``.
    """

    def __init__(
        self,
        config: Config,
        db: Database,
        *,
        metrics: Metrics = NO_METRICS,
        owner: str | None = None,
        guard: AddressGuard | None = None,
    ) -> None:
        self.config = config
        self.db = db
        self.owner = owner or instance_name()
        self.metrics = metrics  # monitor.runtime.metrics: polls, fetches, extractions, the writer's queue
        # The fetcher, robots cache, extractor and page buffer in force; a reload that changes their settings
        # swaps in new ones, and each poll keeps the set it started with (see _pinned_tools).
        self._tools: FetchTools[Extractor] = FetchTools(
            config.settings,
            Shared(Extractor(config.settings.extract_workers, metrics=metrics)),
            metrics=metrics,
            guard=guard,
        )
        self._pinned: ContextVar[FetchTools[Extractor] | None] = ContextVar(
            f"fetch-tools-{id(self)}", default=None
        )
        # The order in which feed polls began: their pages' priority for extraction (Extractor.extract).
        self._poll_order = itertools.count()
        self._extraction_order: ContextVar[int | None] = ContextVar(
            f"extraction-order-{id(self)}", default=None
        )
        # Feeds between their fetch and the sorting of their entries (the CPU-bound part of a poll: fetch,
        # parse, look up) at once. The first poll of thousands of feeds would otherwise fetch and parse
        # them all before any feed's pages are asked for, leaving the extraction workers idle meanwhile;
        # past this stage a feed waits for its pages, which hold nothing here. As many as requests may be in
        # flight (settings.concurrency, as configured at start): a pass of unchanged feeds is not held back.
        # Polls enter in the order they began, as their pages are extracted.
        self._feed_stage = PriorityGate(config.settings.concurrency)
        self._stage_place: ContextVar[_StagePlace | None] = ContextVar(f"feed-stage-{id(self)}", default=None)
        self._closing: set[asyncio.Task] = set()  # sets of tools being closed, once their last poll is done
        # Sitemaps and front pages: what they unpack or expand to is bounded as a response is.
        self.sources = sources.SourceReader(
            self._fetch_polite, max_bytes=lambda: int(self._tools_in_use().settings.max_bytes)
        )
        self._dedup_prepared = False
        # Feeds whose poll the database cut short while it was away: their leases go back with the next claim.
        self._leases_to_give_back: set[int] = set()
        self._feeds: dict[str, FeedConfig] = {feed.name: feed for feed in config.feeds}
        # Set by the daemon when hubs push to its listener (monitor.ingest.websub); None: feeds are only polled.
        self.websub: Subscriber | None = None
        # The watchlist in force; the daemon swaps in a reloaded one (monitor.daemon.scheduler).
        self.tagger = Tagger(load_watchlist(config))
        # A poll's database work (storing, deduplicating and tagging articles, recording each feed's outcome)
        # runs in this one thread: the event loop goes on fetching meanwhile, and writes never queue for
        # SQLite's single write lock inside the loop.
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="monitor-store")
        # Feed parsing and the reads a poll's schedule needs run in one more thread, not in asyncio's
        # default pool: they hold the GIL, and several threads taking turns at it cost CPU that the
        # first poll of thousands of feeds spends on contention instead of on their pages.
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="monitor-read")
        # Except the documents of more than LARGE_FEED_BYTES: parsing one of 10 MB (340,000 empty items)
        # takes 20 s, and in the one reader thread every other feed's parse waited behind it, poll after
        # poll. They take turns in a thread of their own.
        self._large_reader = ThreadPoolExecutor(1, thread_name_prefix="monitor-read-large")
        # Each feed's outcome is a row update; those that finish together are stored together.
        self._poll_records: GroupCommit[tuple[int, feed_store.PollRecord], None] = GroupCommit(
            self._write_poll_records, self._in_writer, what="feed outcomes"
        )
        # So are the articles of feeds whose pages are all in: one transaction rewrites the pages of the
        # counts that deduplication keeps (a term's count is a row; an article adds to hundreds of them) once
        # for all its articles instead of once per feed, which on SQLite is most of a poll's disk writes.
        self._article_saves: GroupCommit[_ArticleSave, tuple[list[_Created], int]] = GroupCommit(
            self._save_articles, self._in_writer, max_batch=SAVES_PER_TRANSACTION, what="feeds' article saves"
        )
        # Which of a feed's entries are known is looked up as its feed is parsed; feeds parsed together are
        # sorted together: the same few queries for all of them, and one transaction (it links entries
        # known from other feeds) instead of one per feed.
        self._entry_sorts: GroupCommit[_EntrySort, _Sorted] = GroupCommit(
            self._sort_entries, self._in_writer, max_batch=SORTS_PER_TRANSACTION, what="feeds' entry sorts"
        )
        # Each feed's sightings (what its rhythm is learnt from) are read once a poll, as it finishes: feeds that
        # finish together are read by one query, as their outcomes are written by one transaction. A first poll
        # of thousands of feeds otherwise spent as much on these lookups, one query each, as on parsing feeds.
        self._sighting_reads: GroupCommit[tuple[int, datetime], list[sighting_store.Sighting]] = GroupCommit(
            self._read_sightings, self._in_reader, what="sighting reads"
        )
        # A quiet feed's latest sightings, to tell whether it went silent: batched apart, as they are read
        # for the few feeds quiet for days, by another query.
        self._lookback_reads: GroupCommit[tuple[int, datetime], list[sighting_store.Sighting]] = GroupCommit(
            self._read_latest_sightings, self._in_reader, what="reads of quiet feeds' latest sightings"
        )
        # Deduplication's term counts, written behind (monitor.dedupe.tally): with the articles' transactions
        # when a few seconds' worth has gathered, and at the end of each pass. Used in the writer thread only.
        self._tally = TermTally()

    async def __aenter__(self) -> Pipeline:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._tools.close()
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
        try:
            await self.write_term_counts()
        except Exception:  # noqa: BLE001 - closing goes on; the counts are statistics (see TermTally)
            log.exception("term counts gathered in this run could not be written")
        # A write in progress finishes (its transaction commits or rolls back whole) before we return.
        await asyncio.to_thread(self._writer.shutdown, wait=True)
        self._reader.shutdown(wait=False)
        self._large_reader.shutdown(wait=False)

    async def _parsed(self, body: bytes, *, url: str, headers: Mapping[str, str]) -> ParsedFeed:
        """``body`` parsed as a feed, in the reader thread, or in the one for large documents."""
        call = functools.partial(
            parse_feed, body, url=url, headers=headers, max_chars=int(self.config.settings.max_bytes)
        )
        reader = self._large_reader if len(body) > LARGE_FEED_BYTES else self._reader
        return await asyncio.get_running_loop().run_in_executor(reader, contextvars.copy_context().run, call)

    async def _in_reader(self, function: Callable[..., T], /, *args: object, **kwargs: object) -> T:
        """``function`` in the reader thread, in this task's context (as ``asyncio.to_thread``)."""
        call = functools.partial(function, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(
            self._reader, contextvars.copy_context().run, call
        )

    async def _in_writer(self, function: Callable[..., T], /, *args: object) -> T:
        self.metrics.writer_queue(+1)
        try:
            return await asyncio.get_running_loop().run_in_executor(self._writer, function, *args)
        finally:
            self.metrics.writer_queue(-1)

    def sync_feeds(
        self, config: Config | None = None, *, due_by: Mapping[str, timedelta] | None = None
    ) -> None:
        """Write the feeds of ``config`` (by default the one in force) into the database."""
        with self.db.write_session() as session:
            feed_store.sync_feeds(session, feeds=(config or self.config).feeds, now=_now(), due_by=due_by)

    def reconfigure(self, config: Config, watchlist: Watchlist | None = None) -> None:
        """Put ``config`` (and ``watchlist``) in force for the polls that start from now on.

        Settings read when a poll needs them (intervals, back-off, pages, robots, limits per poll,
        deduplication) take effect at once. When those built into the fetcher or the extractor (timeouts,
        sizes, concurrency, User-Agent, networks, workers) changed, new ones are built: polls that start from
        now on use them, polls in flight finish with the ones they started with, which are closed after.
        """
        successor = self._tools.successor(
            config.settings, functools.partial(Extractor, metrics=self.metrics), metrics=self.metrics
        )
        # Plain assignments, with no await between them: no poll of the event loop sees half of it.
        self.config = config
        self._feeds = {feed.name: feed for feed in config.feeds}
        if watchlist is not None:
            self.tagger.replace(watchlist)
        if successor is not None:
            retired, self._tools = self._tools, successor
            if retired.retire():
                self._close_later(retired)

    def _close_later(self, tools: FetchTools[Extractor]) -> None:
        task = asyncio.get_running_loop().create_task(tools.close(), name="close fetch tools")
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    @contextmanager
    def _pinned_tools(self) -> Iterator[None]:
        """Fetch with the tools in force now until the block ends, whatever a reload swaps in meanwhile.

        The pin is a context variable, so the tasks a poll starts (pages, link checks) inherit it.
        """
        if self._pinned.get() is not None:  # already inside a pinned poll
            yield
            return
        tools = self._tools
        tools.pin()
        token = self._pinned.set(tools)
        try:
            yield
        finally:
            self._pinned.reset(token)
            if tools.unpin():
                self._close_later(tools)

    def _tools_in_use(self) -> FetchTools[Extractor]:
        return self._pinned.get() or self._tools

    @property
    def fetcher(self) -> Fetcher:
        return self._tools_in_use().fetcher

    @property
    def robots(self) -> RobotsCache:
        return self._tools_in_use().robots

    @property
    def extractor(self) -> Extractor:
        return self._tools_in_use().extractor

    @property
    def _page_buffer(self) -> PageBuffer:
        return self._tools_in_use().page_buffer

    def configured(self, name: str) -> FeedConfig | None:
        """The settings of the feed named ``name`` in the configuration in force; None if it lists none."""
        return self._feeds.get(name)

    def claim(
        self, *, names: Sequence[str] | None = None, due_only: bool = True, limit: int | None = None
    ) -> tuple[list[feed_store.FeedSnapshot], list[PollReport]]:
        """Lease the feeds to poll now; also report (as held) the ones a server asked us to leave alone.

        Args:
            names: only these feeds; all configured feeds when None. A feed in the database that the
                configuration in force does not list is never claimed: it would be polled without its settings.
            due_only: only feeds whose next poll time has come (the daemon); False takes every feed now,
                except those gone or held by a server's Retry-After.
            limit: claim at most this many.
        """
        names = list(self._feeds) if names is None else list(names)
        if not names:
            return [], []
        now = _now()
        me = instance.current()
        giving_back = set(self._leases_to_give_back)
        with self.db.session() as session:
            if giving_back:
                feed_store.release_leases(session, owner=self.owner, feed_ids=sorted(giving_back))
            self._take_over_dead_leases(session, me, now)
            claimed = feed_store.claim_feeds(
                session,
                now=now,
                owner=self.owner,
                lease=LEASE,
                names=names,
                due_only=due_only,
                limit=limit,
                holder=me,
            )
            held = (
                []
                if due_only
                else [
                    _held_report(feed, now)
                    for feed in feed_store.feeds_on_hold(session, now=now, names=names, owner=self.owner)
                ]
            )
        self._leases_to_give_back -= giving_back
        return claimed, held

    @staticmethod
    def _take_over_dead_leases(session, me: instance.Holder, now: datetime) -> None:
        """Free the leases that processes of this host took and died holding (killed, crashed): their feeds
        are polled now, not once the lease runs out."""
        dead = instance.abandoned(feed_store.leases_held_on(session, host=me.host, now=now), host=me.host)
        for feed_id in feed_store.break_leases(session, leases=dead):
            owner = next(lease.owner for lease in dead if lease.row_id == feed_id)
            log.warning("lease of feed id=%d taken over: its holder %s no longer runs", feed_id, owner)

    async def poll(
        self,
        *,
        names: Sequence[str] | None = None,
        due_only: bool = True,
        on_claimed: Callable[[int], None] | None = None,
        on_report: Callable[[PollReport], None] | None = None,
    ) -> list[PollReport]:
        """One pass: claim the feeds to poll (see ``claim``), poll them concurrently, report each.

        Args:
            on_claimed: called with the number of feeds claimed, before polling starts.
            on_report: called as each feed finishes.
        """
        claimed, held = self.claim(names=names, due_only=due_only)
        if on_claimed:
            on_claimed(len(claimed))
        for report in held:
            if on_report:
                on_report(report)

        async def poll_one(feed: feed_store.FeedSnapshot) -> PollReport:
            report = await self.poll_feed(feed)
            if on_report:
                on_report(report)
            return report

        reports = held + list(await asyncio.gather(*(poll_one(feed) for feed in claimed)))
        if names is None:
            await self.retry_pages()  # pages that failed in an earlier pass, now due
        await self.write_term_counts()
        return reports

    def release(self) -> None:
        """Give back the leases of feeds this instance did not finish (on shutdown)."""
        with self.db.session() as session:
            feed_store.release_leases(session, owner=self.owner)

    def _release(self, feed_id: int) -> None:
        with self.db.session() as session:
            feed_store.release_leases(session, owner=self.owner, feed_ids=[feed_id])

    async def poll_feed(self, feed: feed_store.FeedSnapshot) -> PollReport:
        """Poll one claimed feed and record the outcome on its row. Never raises (except cancellation)."""
        started = time.monotonic()
        order = next(self._poll_order)
        self._extraction_order.set(order)  # this task's context: the feed's own pages
        try:
            with self._pinned_tools():
                await self._feed_stage.acquire(order)
                place = _StagePlace(self._feed_stage)
                self._stage_place.set(place)
                try:
                    report = await self._poll_feed(feed, started)
                finally:
                    place.leave()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a bug met in one feed must not stop the others
            report = await self._poll_crashed(feed, exc, started)
        log.info(
            "poll feed=%s outcome=%s status=%s new=%d duration=%.2fs%s",
            feed.name,
            report.outcome,
            report.status,
            report.new_articles,
            report.duration,
            f" error={report.error_kind}: {report.error}" if report.error else "",
            extra={
                "feed": feed.name,
                "url": feed.url,
                "outcome": str(report.outcome),
                "status": report.status,
                "new": report.new_articles,
                "duration": round(report.duration, 3),
                "kind": report.error_kind,
            },
        )
        self.metrics.polled(report)
        return report

    async def _poll_crashed(
        self, feed: feed_store.FeedSnapshot, error: Exception, started: float
    ) -> PollReport:
        """The report of a poll that raised.

        A bug is logged with its traceback and recorded on the feed. A database that went away (locked past
        the busy timeout, a server restarting) is no fault of the feed: nothing is recorded against it, so it
        is not backed off, and its lease is given back (``_give_back``) rather than held for ``LEASE``; what
        its poll did not store comes again at its next poll, as its validators were not kept.
        """
        cause = unavailability(error)
        if cause is None:
            log.exception("poll crashed: feed=%s url=%s", feed.name, feed.url)
            try:
                return await self._finish_failed(
                    feed, None, Failure(FailureKind.OTHER, f"internal error: {error!r}"), started
                )
            except Exception as again:
                cause = unavailability(again)
                if cause is None:
                    raise
                error = again
        hint = remedy(error, self.db.sqlite_path)
        log_failure(
            log,
            f"poll of feed={feed.name} not finished",
            "it is polled again once the database is back",
            cause=cause,
            hint=hint,
            extra={"feed": feed.name, "url": feed.url},
        )
        await self._give_back(feed.id)
        return PollReport(
            feed.name,
            Outcome.FAILED,
            duration=time.monotonic() - started,
            error=f"the database is unavailable ({cause})",
            error_kind=DATABASE,
            hint=hint,
        )

    async def _give_back(self, feed_id: int) -> None:
        """Release this instance's lease of a feed, now or, if the database is still away, with the next
        claim (``claim``)."""
        try:
            await self._in_writer(self._release, feed_id)
        except Exception as exc:
            if unavailability(exc) is None:
                raise
            self._leases_to_give_back.add(feed_id)

    async def _poll_feed(self, feed: feed_store.FeedSnapshot, started: float) -> PollReport:
        source = self._feeds.get(feed.name)
        if source is None:  # claimed, then a reload took it out of the configuration before its poll began
            await self._in_writer(self._release, feed.id)
            return PollReport(feed.name, Outcome.HELD, error="no longer configured", error_kind="removed")
        if source.url != feed.url:
            # The row was written from another configuration: this one's address is the one to poll.
            feed = replace(feed, url=source.url, etag=None, last_modified=None, body_sha256=None)
        elif asks_whole(feed.fetched_whole_at, _now()):
            if feed.etag or feed.last_modified:
                log.info(
                    "feed=%s: asked for without its validators (%s): a server can answer 304 to a feed that "
                    "changed",
                    feed.name,
                    f"last whole copy {feed.fetched_whole_at:%Y-%m-%d %H:%M} UTC"
                    if feed.fetched_whole_at
                    else "no whole copy on record",
                    extra={"feed": feed.name, "url": feed.url},
                )
            # Read in full once a day even when it comes again unchanged: that read keeps the entries of
            # retention's pruned articles known (``pruned_entries``) while the feed still lists them.
            feed = replace(feed, etag=None, last_modified=None, body_sha256=None)
        if source.kind != "rss":
            # Sitemaps and front pages are crawled: robots.txt applies to them as to article pages.
            result = await self._fetch_polite(
                sources.first_url(source),
                etag=feed.etag,
                last_modified=feed.last_modified,
                accept=sources.ACCEPT[source.kind],
            )
        else:
            result = await self.fetcher.fetch(
                feed.url, etag=feed.etag, last_modified=feed.last_modified, accept=FEED_ACCEPT
            )
        if result.failure is not None:
            return await self._finish_failed(feed, result.status, result.failure, started)
        # Where the configured address moved for good (a sitemap named by its site is reached through its
        # robots.txt, whose redirects say nothing of the address to configure).
        moved_to = (
            result.moved_to if result.url == source.url and is_move(source.url, result.moved_to) else None
        )
        digest = (
            hashlib.sha256(result.body).hexdigest()
            if source.kind == "rss" and not result.not_modified
            else None
        )
        # A 304, or the very document read in full last time from a server that sends no validators or
        # ignores them (known by its bytes, as NetNewsWire does): nothing in it is new, so nothing is parsed.
        reach = await self.fetcher.links_reach(result)  # where the links of this feed may go
        if result.not_modified or (digest is not None and digest == feed.body_sha256):
            await self._subscribe(feed, result, None, None)
            return await self._finish_ok(
                feed, result, None, 0, 0, started, unchanged=True, moved_to=moved_to, reach=reach
            )
        try:
            if source.kind != "rss":
                with reaching(reach):  # the sitemaps an index names are links too
                    parsed, result = await self.sources.read(source, result)
            else:
                parsed = await self._parsed(result.body, url=result.final_url, headers=result.headers)
        except NotAFeed as exc:
            return await self._finish_failed(
                feed, result.status, Failure(FailureKind.NOT_A_FEED, str(exc)), started
            )
        except sources.SourceFailed as exc:
            return await self._finish_failed(feed, exc.status, exc.failure, started)
        parsed = storable_feed(parsed)  # a NUL, a lone surrogate or an overlong field must not cost the feed
        new, linked, waiting = await self._store_new_entries(feed, parsed, result, reach)
        if source.kind != "rss":
            self.sources.settle(source.name, complete=not waiting)
        if source.kind == "rss":
            await self._subscribe(feed, result, parsed, reach)
        return await self._finish_ok(
            feed,
            result,
            parsed,
            new,
            linked,
            started,
            waiting=waiting,
            digest=digest,
            moved_to=moved_to,
            reach=reach,
        )

    async def _subscribe(
        self,
        feed: feed_store.FeedSnapshot,
        result: FetchResult,
        parsed: ParsedFeed | None,
        reach: Reach | None,
    ) -> None:
        """Subscribe at the feed's WebSub hub, or renew, when the daemon takes pushes (monitor.ingest.websub)."""
        if self.websub is None or feed.kind != "rss":
            return
        try:
            await self.websub.after_poll(
                self.fetcher,
                feed_id=feed.id,
                feed_name=feed.name,
                parsed=parsed,
                result=result,
                reach=reach,
            )
        except Exception:  # noqa: BLE001 - the feed is polled all the same: a hub's trouble must not cost it
            log.exception("websub: subscribing feed=%s failed", feed.name, extra={"feed": feed.name})

    async def accept_push(
        self, subscription: websub_store.Subscription, body: bytes, headers: Mapping[str, str]
    ) -> PollReport | None:
        """Content a feed's hub pushed: its new entries are stored as a poll of the feed stores them, under the
        feed's lease (so no poll of it runs meanwhile); the feed's poll schedule and validators stay as they are.
        """
        source = self._feeds.get(subscription.feed_name)
        if source is None or source.kind != "rss":
            log.info(
                "websub: content pushed for feed=%s, which is no longer configured; ignored",
                subscription.feed_name,
                extra={"feed": subscription.feed_name},
            )
            return None
        feed = await self._claim_for_push(subscription.feed_name)
        if feed is None:
            log.warning(
                "websub: feed=%s could not be leased for pushed content; its next poll gets it",
                subscription.feed_name,
                extra={"feed": subscription.feed_name},
            )
            return None
        started = time.monotonic()
        try:
            with self._pinned_tools():  # its pages are fetched with one configuration's settings, as a poll's
                result = FetchResult(source.url, source.url, 200, MappingProxyType(dict(headers)), body)
                reach = _stored_reach(feed.links_reach)
                parsed = await self._parsed(body, url=subscription.topic, headers=headers)
                new, linked, _ = await self._store_new_entries(
                    feed, storable_feed(parsed), result, reach, via="push"
                )
        except NotAFeed as exc:
            log.warning("websub: feed=%s: the hub pushed %s", feed.name, exc, extra={"feed": feed.name})
            return None
        finally:
            await self._in_writer(self._release, feed.id)
        report = PollReport(feed.name, Outcome.OK, 200, new, linked, time.monotonic() - started)
        log.info(
            "push feed=%s new=%d duration=%.2fs",
            feed.name,
            new,
            report.duration,
            extra={"feed": feed.name, "url": source.url, "new": new, "duration": round(report.duration, 3)},
        )
        self.metrics.pushed(report)
        return report

    async def _claim_for_push(self, name: str) -> feed_store.FeedSnapshot | None:
        """The feed's lease, waiting while a poll of it runs (it may not have seen the pushed entries)."""
        for _ in range(PUSH_LEASE_TRIES):
            claimed, _ = await asyncio.to_thread(self.claim, names=[name], due_only=False)
            if claimed:
                return claimed[0]
            await asyncio.sleep(PUSH_LEASE_WAIT)
        return None

    async def _store_new_entries(
        self,
        feed: feed_store.FeedSnapshot,
        parsed: ParsedFeed,
        result: FetchResult,
        reach: Reach,
        *,
        via: str = "poll",
    ) -> tuple[int, int, int]:
        """Store the new entries (newest first, ``max_entries_per_poll`` of them) and apply changed ones,
        and count how long after their publication the new ones were stored (found by a poll or pushed,
        ``via``).

        Returns:
            How many articles were created, how many linked from other feeds, and how many entries wait
            for the next poll.
        """
        hashes = {item.key: entry_hash(item) for item in parsed.items}
        known, changed, linked, taken_over = await self._entry_sorts.submit(_EntrySort(feed, parsed, hashes))
        place = self._stage_place.get()  # None when storing a push, outside any poll
        if place is not None:
            place.leave()  # from here on the feed waits for its pages
        fresh = [
            item
            for item in parsed.items
            if item.key not in known.in_feed and item.key not in known.elsewhere and item.says_anything
        ]
        cap = self.config.settings.max_entries_per_poll
        revised = [item for item in parsed.items if item.key in changed]
        waiting = max(len(fresh) + len(revised) - cap, 0)
        if len(fresh) > cap:
            fresh = newest_first(fresh)[:cap]
        revised = revised[: max(cap - len(fresh), 0)]
        if waiting:
            log.warning(
                "feed=%s has %d new or changed entries, more than max_entries_per_poll (%d): %d wait "
                "for the next polls",
                feed.name,
                len(fresh) + len(revised) + waiting,
                cap,
                waiting,
                extra={"feed": feed.name, "url": feed.url},
            )
        checks = LinkChecks(self.fetcher, reach)
        complete = await asyncio.gather(
            *(self._complete(feed, item, result.final_url, checks) for item in fresh + revised)
        )
        if not fresh and not revised:
            return 0, linked, waiting
        stored, updated = await self._article_saves.submit(
            _ArticleSave(
                feed,
                list(zip(fresh, complete[: len(fresh)])),
                list(zip(revised, complete[len(fresh) :])),
                changed,
                hashes,
                taken_over,
            )
        )
        created = len(stored)
        if created:
            self.metrics.news_stored([c.delay for c in stored if c.delay is not None], via=via)
            self.metrics.bodies_stored(c.body for c in stored)
        if updated:
            log.info(
                "feed=%s: %d stored articles changed and were updated",
                feed.name,
                updated,
                extra={"feed": feed.name, "url": feed.url},
            )
        return created, linked, waiting

    def _sort_entries(self, sorts: Sequence[_EntrySort]) -> list[_Sorted]:
        """For each feed, which of its entries are known (in this feed, or from another feed: those are
        linked now), which known ones changed, and how many were linked. Runs in the writer thread."""
        now = _now()
        with self.db.write_session() as session:
            knowns = article_store.find_known(
                session, [(sort.feed.id, _entry_refs(sort.parsed)) for sort in sorts], same_site=_same_site
            )
            pruned = sorted({row for known in knowns for row in known.pruned})
            if pruned:  # articles removed by retention that a feed still lists: remembered on
                mark_seen(session, pruned_ids=pruned, now=now)
            # Updates are not copies: a known entry whose feed text changed is fetched again (below).
            changes = article_store.changed_entries(
                session,
                [
                    (sort.feed.id, {key: sort.hashes[key] for key in known.in_feed})
                    for sort, known in zip(sorts, knowns, strict=True)
                ],
            )
            owners = _TextOwners(
                article_store.carriers(
                    session,
                    [
                        aid
                        for known, changed in zip(knowns, changes)
                        for aid in (*known.elsewhere.values(), *changed.values())
                    ],
                )
            )
            sorted_feeds = []
            for sort, known, changed in zip(sorts, knowns, changes, strict=True):
                linked, taken_over = 0, set()
                listed = frozenset(item.key for item in sort.parsed.items)
                for item in sort.parsed.items:
                    if item.key in known.elsewhere:
                        article_id = known.elsewhere[item.key]
                        # The feed's own entry under a new name (a new CMS, RSS turned Atom, a GUID with a
                        # timestamp in it): nothing new, no page to fetch again, no publication to count,
                        # and no link more at every poll.
                        if article_store.rename_entry(
                            session,
                            article_id=article_id,
                            feed_id=sort.feed.id,
                            listed_keys=listed,
                            entry_key=item.key,
                            entry_url=item.url,
                            entry_hash=sort.hashes[item.key],
                        ):
                            continue
                        linked += article_store.link_to_feed(
                            session,
                            article_id=article_id,
                            feed_id=sort.feed.id,
                            entry_key=item.key,
                            entry_url=item.url,
                            now=now,
                            entry_hash=sort.hashes[item.key],
                        )
                        if owners.takes_over(sort.feed, article_id):
                            changed[item.key] = article_id  # its text is this feed's from now on
                            taken_over.add(item.key)
                for key, article_id in list(changed.items()):
                    if owners.overruled(sort.feed, article_id):
                        del changed[key]  # what it says now is remembered, and not applied
                        article_store.record_entry_hash(
                            session, feed_id=sort.feed.id, entry_key=key, entry_hash=sort.hashes[key]
                        )
                sorted_feeds.append(_Sorted(known, changed, linked, frozenset(taken_over)))
        return sorted_feeds

    def _save_articles(self, saves: Sequence[_ArticleSave]) -> list[tuple[list[_Created], int]]:
        """Store feeds' new articles and apply their revised ones, with the stages that follow storage, in
        one transaction, and the term counts gathered until now when they are due. Runs in the writer
        thread. Returns, by feed, each article created (its news delay, ``news_delay``, None when not the
        daemon's; where its text came from) and how many were updated."""
        with self._tally.transaction(), self.db.write_session() as session:
            results = [self._save_feed_articles(session, save) for save in saves]
            if self._tally.due():
                self._tally.write(session)
        return results

    async def write_term_counts(self) -> None:
        """Write the term counts deduplication gathered and has not written yet (``monitor.dedupe.tally``):
        at the end of a pass, at the daemon's every tick, and before the pipeline closes."""
        if self._tally.waiting_articles:
            await self._in_writer(self._write_term_counts)

    def _write_term_counts(self) -> None:
        with self._tally.transaction(), self.db.write_session() as session:
            self._tally.write(session)

    def _save_feed_articles(self, session, save: _ArticleSave) -> tuple[list[_Created], int]:
        """One feed's part of ``_save_articles``: each of its articles created (its news delay, where its
        text came from), and how many were updated."""
        feed, changed, hashes = save.feed, save.changed, save.hashes
        created: list[_Created] = []
        updated = 0
        for item, article in save.new:
            now = _now()
            # From the date the feed states (a page's date is often the day alone).
            delay = news_delay(item.published, stored_at=now, read_whole_at=feed.fetched_whole_at)

            # A savepoint per entry: one the database still refuses is skipped, not the whole feed.
            def store_new(article=article, now=now, delay=delay) -> int:
                article_id, is_new = article_store.save_article(
                    session,
                    article=article,
                    feed_id=feed.id,
                    now=now,
                    entry_hash=hashes[article.entry_key],
                    delay=delay,
                )
                if is_new:
                    self._after_store(session, article_id, article)
                return int(is_new)

            if _store_entry(session, feed, article, store_new, self._tally):
                created.append(_Created(delay, body_origin(article.body_source, article.body_note)))
        for item, article in save.revised:

            def store_revised(item=item, article=article) -> int:
                article_id = changed[item.key]
                stored = article_store.stored_article(session, article_id=article_id)
                merge = taken_over_by if item.key in save.taken_over else revision_of
                revision = merge(stored, article) if stored is not None else None
                if stored is not None and revision is not None:
                    article_store.rewrite_article(
                        session, article_id=article_id, article=revision, now=_now(), revision=True
                    )
                    # As stored: a revision keeps what the new version does not say (an extracted body
                    # a failed page fetch did not replace, a title). A new headline on the same text is
                    # matched again; its text, where it stands among copies and stories, is as it was.
                    if revision.content_hash == stored.content_hash:
                        tag_stored(session, self.tagger, article_id, revision, replace=True)
                    else:
                        self._after_update(session, article_id, revision)
                article_store.record_entry_hash(
                    session, feed_id=feed.id, entry_key=item.key, entry_hash=hashes[item.key]
                )
                return int(revision is not None)

            updated += _store_entry(session, feed, article, store_revised, self._tally) or 0
        return created, updated

    def _after_store(self, session, article_id: int, article: Article) -> None:
        """The stages that work on a stored article, in order, inside the transaction that stored it."""
        dedupe.place(
            session, article_id=article_id, article=article, settings=self.config.dedup, tally=self._tally
        )
        tag_stored(session, self.tagger, article_id, article)

    def _after_update(self, session, article_id: int, article: Article) -> None:
        """The stages that work on an article whose text changed: it is placed again, not stored again."""
        dedupe.place(
            session,
            article_id=article_id,
            article=article,
            settings=self.config.dedup,
            changed=True,
            tally=self._tally,
        )
        tag_stored(session, self.tagger, article_id, article, replace=True)

    async def _complete(
        self, feed: feed_store.FeedSnapshot, item: FeedItem, feed_url: str, checks: LinkChecks
    ) -> Article:
        """Fetch and extract an entry's page when allowed; fall back to the feed's text with the reason."""
        url = item.url or (item.guid if is_fetchable(item.guid) else None)
        canonical = None
        if url is None or not is_fetchable(url):
            # No page to fetch: a stable made-up address keeps the entry unique in the store.
            url = f"{feed_url}#entry-{hashlib.sha256(item.key.encode()).hexdigest()[:16]}"
            canonical = url
            fetched = PageFetch(None, NO_LINK, url)
        elif not self._fetch_pages(feed.name):
            fetched = PageFetch(None, PAGES_OFF, url)
        else:
            # The feed wins on the author and the date: the page is not searched for what it gave.
            wanted = Wanted(author=not item.author, date=item.published is None)
            fetched = await self._fetch_page(url, checks, wanted)
            canonical = _foreign_canonical_refused(fetched)
        now = _now()
        body = choose_body(
            fetched.page,
            item.feed_text,
            page_problem=fetched.problem,
            min_chars=self.config.settings.min_body_chars,
        )
        article = build_article(
            item, fetched.page, body, url=fetched.url, fetched_at=now, canonical=canonical
        )
        retry_at = fetched.retry_at(now, attempts=0)
        return storable_article(replace(article, page_retry_at=retry_at) if retry_at else article)

    async def _fetch_page(self, url: str, checks: LinkChecks, wanted: Wanted = EVERYTHING) -> PageFetch:
        # A link that may only go public is looked up first: one to a private address is refused at once,
        # without a robots.txt request or a turn at the host. The connection itself is checked again.
        refused = await checks.refusal(url)
        if refused is not None:
            log.warning("link refused: %s", refused.message, extra={"url": url})
            return PageFetch(None, f"page not fetched ({refused.kind}): {refused.message}", url, refused)
        with reaching(checks.reach):  # robots.txt of the link's host too
            return await self._fetch_page_politely(url, wanted)

    async def _fetch_page_politely(self, url: str, wanted: Wanted) -> PageFetch:
        # A page holds nothing shared while it waits for robots.txt or for its host's turn (spacing,
        # Crawl-delay): its place in the page buffer is taken once the turn has come, and the fetcher's
        # global slot only for the request itself. Waits that held a slot stalled the pages of every other
        # host behind a few hosts' delays.
        self._prepare_for_pages()
        if self.config.settings.respect_robots:
            verdict = await self.robots.verdict(url)
            if not verdict.allowed:
                return _robots_refusal(url, verdict.unavailable)
        allow = self.robots.allowed if self.config.settings.respect_robots else None
        order = self._extraction_order.get()
        priority = next(self._poll_order) if order is None else order  # a retry: as if a feed began now
        async with self._page_buffer.place(priority) as place:
            result = await self.fetcher.fetch(url, accept=PAGE_ACCEPT, allow=allow, place=place)
            if not result.ok:
                failure = result.failure or Failure(FailureKind.OTHER, f"HTTP {result.status}")
                return PageFetch(None, f"page fetch failed ({failure.kind}): {failure.message}", url, failure)
            extract_started = time.monotonic()
            try:
                extracted = await self.extractor.extract(
                    result.body,
                    result.final_url,
                    priority=priority,
                    content_type=result.headers.get("content-type", ""),
                    wanted=wanted,
                )
            except ExtractionFailed as exc:
                log.warning(
                    "page not extracted: %s: %s", result.final_url, exc, extra={"url": result.final_url}
                )
                failure = Failure(FailureKind.EXTRACTION, str(exc))
                return PageFetch(None, f"page not extracted: {exc}", result.final_url, failure)
            page = storable_page(extracted)
            self.metrics.extracted(time.monotonic() - extract_started)
        return PageFetch(page, None, result.final_url)

    def _prepare_for_pages(self) -> None:
        """Load what pages and their articles need while the first page waits for robots.txt and its host's
        turn (a second or more): the extraction workers, and deduplication's code (NumPy and the signing
        permutations), which would otherwise take the writer's time at the first article."""
        self.extractor.start()
        if not self._dedup_prepared and self.config.dedup.enabled:
            self._dedup_prepared = True
            asyncio.get_running_loop().run_in_executor(None, _prepare_dedup)

    async def retry_pages(self, *, limit: int = 200) -> int:
        """Fetch again the article pages that failed for a passing reason and are due; the extracted text
        replaces the feed's, and the article is deduplicated and tagged again.

        Returns:
            How many articles got their page's text.
        """
        due = await self._in_writer(self._claim_page_retries, limit)
        if not due:
            return 0
        with self._pinned_tools():
            completed = sum(await asyncio.gather(*(self._retry_page(retry) for retry in due)))
        log.info("page retries: %d due, %d now extracted", len(due), completed)
        return completed

    def _claim_page_retries(self, limit: int) -> list[article_store.PageRetry]:
        with self.db.session() as session:
            return article_store.claim_page_retries(session, now=_now(), lease=LEASE, limit=limit)

    async def _retry_page(self, retry: article_store.PageRetry) -> bool:
        if retry.feed_reach is None and retry.feed_polled:
            # Its feed's reach is not recorded yet (a database upgraded to it since the feed's last poll):
            # the retry waits out its claim for the feed's next poll, rather than judge a link of a feed on a
            # private address as a public feed's and give its page up for good.
            return False
        reach = _stored_reach(retry.feed_reach)
        fetched = await self._fetch_page(retry.url, LinkChecks(self.fetcher, reach))
        return await self._in_writer(self._record_page_retry, retry, fetched)

    def _record_page_retry(self, retry: article_store.PageRetry, fetched: PageFetch) -> bool:
        now = _now()
        body = choose_body(
            fetched.page,
            retry.body,
            page_problem=fetched.problem,
            min_chars=self.config.settings.min_body_chars,
        )
        with self.db.session() as session:
            # EXTRACTED comes only from a page: the second test restates that for the type checker.
            if body.source is BodySource.EXTRACTED and fetched.page is not None:
                stored = article_store.stored_article(session, article_id=retry.id)
                article = (
                    completed_by_page(stored, fetched.page, body, title_from_link=retry.feed_kind == "page")
                    if stored is not None
                    else None
                )
                if article is not None:
                    article_store.rewrite_article(
                        session, article_id=retry.id, article=article, now=now, revision=False
                    )
                    self._after_update(session, retry.id, article)
                    log.info("page fetched at last: url=%s", retry.url, extra={"url": retry.url})
                return article is not None
            attempts = retry.attempts + 1
            retry_at = fetched.retry_at(now, attempts=attempts)
            note = body.note or ""
            if retry_at is None and note.endswith(_NOT_YET):  # tried enough: no longer "yet"
                note = note.removesuffix(" yet")
            article_store.page_failed_again(
                session,
                article_id=retry.id,
                attempts=attempts,
                retry_at=retry_at,
                note=f"{note} (after {attempts + 1} attempts)",
            )
        return False

    async def _fetch_polite(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        accept: str | None = None,
    ) -> FetchResult:
        """GET a page of a crawled source (a sitemap, a front page) as robots.txt allows."""
        if not self.config.settings.respect_robots:
            return await self.fetcher.fetch(url, etag=etag, last_modified=last_modified, accept=accept)
        verdict = await self.robots.verdict(url)
        if not verdict.allowed:
            if verdict.unavailable is not None:
                # robots.txt could not be read (5xx, 429, no answer): say so, with that failure's kind, so the
                # source is retried as after any passing failure, and nobody looks for a Disallow that is not there.
                reason = verdict.unavailable
                failure = replace(
                    reason,
                    message=f"robots.txt unavailable ({reason.kind}): {reason.message}; {url} not fetched",
                )
            else:
                failure = Failure(FailureKind.ROBOTS, f"robots.txt disallows {url}")
            return FetchResult(url, url, None, failure=failure)
        return await self.fetcher.fetch(
            url, etag=etag, last_modified=last_modified, accept=accept, allow=self.robots.allowed
        )

    def _fetch_pages(self, name: str) -> bool:
        feed = self._feeds.get(name)
        return self.config.fetch_pages_for(feed) if feed else self.config.settings.fetch_pages

    def _interval(self, name: str) -> timedelta:
        feed = self._feeds.get(name)
        return self.config.interval_for(feed) if feed else self.config.settings.interval

    async def _rhythm(
        self, feed: feed_store.FeedSnapshot, now: datetime, began: datetime, *, overflowed: bool
    ) -> tuple[Rhythm, tuple[Spell, ...] | None, datetime | None]:
        """How often to poll ``feed`` after a success: its fixed interval, else what its publications earn;
        the feed's unwatched spells when this poll (which ``began`` then), late after the daemon was away,
        adds one (None: as they were); and since when it has been silent, if it has (``_silence``)."""
        source = self._feeds.get(feed.name)
        fixed = self.config.fixed_interval_for(source) if source else self.config.settings.interval
        settings = self.config.settings
        try:  # a read, not a write: it runs beside the writer thread, not in its queue
            sightings = await self._sighting_reads.submit((feed.id, now - RHYTHM_WINDOW))
        except (
            SQLAlchemyError
        ) as exc:  # the poll itself succeeded: keep it, at the middle-of-the-road interval
            if fixed is None:
                log.warning(
                    "rhythm of feed=%s unreadable, polling in %s: %s", feed.name, settings.interval, exc
                )
            return Rhythm(fixed or settings.interval), None, feed.silent_since
        # Read for fixed intervals too: a feed polled every quarter of an hour can go silent as well.
        silent_since = await self._silence(feed, sightings, now)
        if fixed is not None:
            return Rhythm(fixed), None, silent_since
        spells, unwatched = None, feed.unwatched
        if feed.last_success_at is not None:  # a first poll's backlog is the feed's own past, not an absence
            found = [sighting for sighting in sightings if sighting[1] >= began]  # what this poll found
            spell = unwatched_spell(found, due=feed.due_at, now=now, overflowed=overflowed)
            if spell is not None:
                log.debug("feed=%s unwatched from %s to %s", feed.name, *spell, extra={"feed": feed.name})
                spells = unwatched = with_spell(unwatched, spell, now=now)
        rhythm = learned_rhythm(
            sightings,
            now=now,
            min_interval=settings.min_interval,
            max_interval=settings.max_interval,
            watched_since=feed.created_at,
            unwatched=unwatched,
        )
        return rhythm, spells, silent_since

    async def _silence(
        self, feed: feed_store.FeedSnapshot, sightings: Sequence[sighting_store.Sighting], now: datetime
    ) -> datetime | None:
        """Since when ``feed`` has been silent after this poll (``monitor.schedule.still_silent``; None: it
        publishes), from its latest sightings when its week's (``sightings``) show nothing for days.
        A feed found silent now is warned of once, and counted."""
        if not quiet_for_days(sightings, now=now, watched_since=feed.created_at):
            return None
        try:
            lookback = await self._lookback_reads.submit((feed.id, SILENCE_READ_SINCE))
        except SQLAlchemyError:
            return feed.silent_since  # judged again at the next poll
        silent = still_silent(lookback, now=now, since=feed.silent_since, watched_since=feed.created_at)
        if silent is not None and feed.silent_since is None:
            log.warning(
                "feed=%s has listed nothing new since %s%s: check that its address still carries its news",
                feed.name,
                f"{silent.since:%Y-%m-%d %H:%M} UTC",
                f", though it published {describe_pace(silent.per_day)} before" if silent.per_day else "",
                extra={"feed": feed.name, "url": feed.url},
            )
            self.metrics.feed_went_silent()
        return silent.since if silent is not None else None

    def _read_sightings(self, asked: Sequence[tuple[int, datetime]]) -> list[list[sighting_store.Sighting]]:
        """For each (feed, since) asked, the entries that feed first listed after ``since``."""
        return self._read_cut(asked, sighting_store.sightings_since)

    def _read_latest_sightings(
        self, asked: Sequence[tuple[int, datetime]]
    ) -> list[list[sighting_store.Sighting]]:
        """For each (feed, since) asked, the latest ``SILENCE_PUBLICATIONS`` entries that feed first listed
        after ``since``."""
        return self._read_cut(
            asked, functools.partial(sighting_store.latest_sightings, most=SILENCE_PUBLICATIONS)
        )

    def _read_cut(
        self,
        asked: Sequence[tuple[int, datetime]],
        read: Callable[..., dict[int, list[sighting_store.Sighting]]],
    ) -> list[list[sighting_store.Sighting]]:
        """One ``read`` of all the feeds asked, from the earliest ``since``, each answer cut to its own. Runs
        in the reader thread."""
        earliest = min(since for _, since in asked)
        with self.db.session() as session:
            found = read(session, feed_ids=sorted({feed_id for feed_id, _ in asked}), since=earliest)
        return [[seen for seen in found.get(feed_id, []) if seen[1] > since] for feed_id, since in asked]

    async def _finish_ok(
        self,
        feed: feed_store.FeedSnapshot,
        result: FetchResult,
        parsed: ParsedFeed | None,
        new: int,
        linked: int,
        started: float,
        *,
        waiting: int = 0,
        digest: str | None = None,
        unchanged: bool = False,
        moved_to: str | None = None,
        reach: Reach | None = None,
    ) -> PollReport:
        """Record a successful poll: ``digest`` is the SHA-256 of the document it read in full (None for a
        source other than a feed); ``unchanged``, it read none (a 304, or the same bytes as last time);
        ``moved_to``, where the configured address redirected for good (``FetchResult.moved_to``); ``reach``,
        how far its links may go, by the address that answered (kept for its pushes and page retries)."""
        now = _now()
        began = _began(now, started)
        # No document read: the last one read in full still says how long to wait.
        ttl_minutes = feed.ttl_minutes if unchanged or parsed is None else parsed.ttl_minutes
        ttl = timedelta(minutes=ttl_minutes) if ttl_minutes else None
        listed = len(parsed.items) if parsed else 0
        overflowed = listing_overflowed(
            listed=listed, unseen=new + linked + waiting, polled_before=feed.last_success_at is not None
        )
        rhythm, unwatched, silent_since = await self._rhythm(feed, now, began, overflowed=overflowed)
        if rhythm.per_day is not None and overflowed:
            # Every entry it lists came since the last poll: more may have scrolled out of the listing unseen,
            # whatever its rate so far. The next poll comes as soon as any feed's may.
            log.info(
                "feed=%s: every one of its %d entries was new; polling again in %s lest more scroll out unseen",
                feed.name,
                listed,
                format_duration(self.config.settings.min_interval),
                extra={"feed": feed.name},
            )
            rhythm = Rhythm(self.config.settings.min_interval, rhythm.per_day)
        next_poll = next_poll_after_success(
            now, interval=rhythm.interval, ttl=ttl, cache_lifetime=result.cache_lifetime
        )
        if self.websub is not None and feed.kind == "rss":  # a hub pushes its news: polling is the fallback
            next_poll = await asyncio.to_thread(
                self.websub.next_poll,
                feed.id,
                now,
                next_poll,
                found=new + linked,
                since=feed.last_success_at,
                began=began,
            )
        etag, last_modified = storable_validators(result.etag, result.last_modified)
        if waiting:  # entries wait in this very document: the next poll must get it whole, not a 304
            etag = last_modified = digest = None
        moved_since = self._moved_since(feed, moved_to, began)
        record = clean(
            feed_store.PollRecord(
                polled_at=began,
                next_poll_at=next_poll,
                status=result.status,
                succeeded=True,
                warning=parsed.warning if parsed else None,
                etag=etag or (feed.etag if unchanged else None),
                last_modified=last_modified or (feed.last_modified if unchanged else None),
                title=parsed.title if parsed else None,
                unwatched=unwatched,
                # Read whole only when nothing of it waits: entries held back by max_entries_per_poll were
                # listed before this poll, and their delay counts from the read before it (news_delay).
                whole=not unchanged and not waiting,
                silent_since=silent_since,
                body_sha256=digest or (feed.body_sha256 if unchanged else None),
                ttl_minutes=ttl_minutes,
                moved_to=moved_to,
                moved_since=moved_since,
                links_reach=reach.value if reach is not None else None,
            )
        )
        await self._poll_records.submit((feed.id, record))
        return PollReport(
            feed.name,
            Outcome.UNCHANGED if unchanged else Outcome.OK,
            result.status,
            new,
            linked,
            time.monotonic() - started,
            warning=record.warning,
            next_poll_at=next_poll,
        )

    @staticmethod
    def _moved_since(feed: feed_store.FeedSnapshot, moved_to: str | None, began: datetime) -> datetime | None:
        """Since when ``feed``'s address has redirected for good to ``moved_to`` (None: it does not). A new
        move is warned of once: the old address may stop answering any day (a domain left to expire, an old
        server switched off), and only feeds.yaml can change it."""
        if moved_to is None:
            if feed.moved_to is not None:
                log.info(
                    "feed=%s: %s no longer redirects for good (it did to %s)",
                    feed.name,
                    feed.url,
                    feed.moved_to,
                    extra={"feed": feed.name, "url": feed.url},
                )
            return None
        if moved_to == feed.moved_to and feed.moved_since is not None:
            return feed.moved_since
        if feed.moved_to is not None:
            # Moved on again: said without a warning, so that a server whose redirects wander (a load
            # balancer's, a hostile one's) warns once, not at every poll.
            log.info(
                "feed=%s now redirects for good to %s (it did to %s)",
                feed.name,
                moved_to,
                feed.moved_to,
                extra={"feed": feed.name, "url": feed.url},
            )
            return began
        log.warning(
            "feed=%s has moved: %s redirects for good (301/308) to %s; put the new address in feeds.yaml "
            "(`monitor feeds --move-redirected` does it) before the old one stops answering",
            feed.name,
            feed.url,
            moved_to,
            extra={"feed": feed.name, "url": feed.url},
        )
        return began

    async def _finish_failed(
        self, feed: feed_store.FeedSnapshot, status: int | None, failure: Failure, started: float
    ) -> PollReport:
        now = _now()
        began = _began(now, started)
        next_poll = next_poll_after_failure(
            now,
            interval=self._interval(feed.name),
            failures=feed.consecutive_failures + 1,
            max_backoff=self.config.settings.max_backoff,
            retry_after=failure.retry_after,
            feed_key=feed.name,
        )
        record = clean(
            feed_store.PollRecord(  # an error message may quote what the server sent
                polled_at=began,
                next_poll_at=next_poll,
                status=status,
                succeeded=False,
                error=failure.message,
                error_kind=str(failure.kind),
                etag=feed.etag,
                last_modified=feed.last_modified,
                retry_after_until=now + failure.retry_after if failure.retry_after else None,
                gone=failure.kind is FailureKind.GONE,
            )
        )
        await self._poll_records.submit((feed.id, record))
        return PollReport(
            feed.name,
            Outcome.FAILED,
            status,
            duration=time.monotonic() - started,
            error=failure.message,
            error_kind=str(failure.kind),
            next_poll_at=next_poll,
        )

    def _write_poll_records(self, records: Sequence[tuple[int, feed_store.PollRecord]]) -> list[None]:
        """Runs in the writer thread, for every poll outcome that came in while the last batch was written."""
        with self.db.session() as session:
            feed_store.record_polls(session, owner=self.owner, records=records)
        return [None] * len(records)


PASSING_FAILURES = frozenset(
    {
        FailureKind.TIMEOUT,
        FailureKind.CONNECTION,
        FailureKind.DNS,
        FailureKind.HTTP_5XX,
        FailureKind.RATE_LIMITED,
        FailureKind.EXTRACTION,  # a worker killed or out of memory now may not be later
    }
)
"""Page failures worth another try later; the others (404, robots.txt, too large, not HTML) stay as they are."""


class _StagePlace:
    """A poll's place in the pipeline's feed stage, given back once: when its entries are sorted, or when
    the poll ends before that."""

    __slots__ = ("_gate", "_held")

    def __init__(self, gate: PriorityGate) -> None:
        self._gate, self._held = gate, True

    def leave(self) -> None:
        if self._held:
            self._held = False
            self._gate.release()


def _entry_refs(parsed: ParsedFeed) -> list[article_store.EntryRef]:
    """How each entry of a feed may be known already: its key, its GUID, its canonical URL."""
    return [
        article_store.EntryRef(item.key, item.guid, canonical_url(item.url) if item.url else None)
        for item in parsed.items
    ]


@dataclass(frozen=True)
class _EntrySort:
    """One feed's entries to sort (``Pipeline._sort_entries``), with each entry's hash."""

    feed: feed_store.FeedSnapshot
    parsed: ParsedFeed
    hashes: dict[str, str]


class _TextOwners:
    """Whose word an article's title and feed text are, of the feeds that list it.

    A feed may link to another site's page, and say what it likes of it: a blog listing a ministry's
    address (or giving its own entry that address as a GUID) under a made-up headline had that headline
    stored for the ministry's article, and the ministry's own feed, listing it later, was only linked to it.
    The site's own feed has the last word: one that lists an article first known from another site's feed
    takes its text over (the article is revised from its entry, page and all), and from then on only the
    changes of the site's own feeds revise it. An article no feed of its own site lists is revised by any
    feed's changes, as before.
    """

    def __init__(self, carriers: Mapping[int, article_store.Carriers]) -> None:
        self._carriers = carriers

    def takes_over(self, feed: feed_store.FeedSnapshot, article_id: int) -> bool:
        """Whether ``feed`` (just linked to the article) is the first of its own site to list it."""
        found = self._carriers.get(article_id)
        if found is None or not _same_site(feed.url, found.canonical_url):
            return False
        return not any(
            _same_site(url, found.canonical_url) for feed_id, url in found.feeds if feed_id != feed.id
        )

    def overruled(self, feed: feed_store.FeedSnapshot, article_id: int) -> bool:
        """Whether ``feed``'s changes to the article give way to a feed of the article's own site."""
        found = self._carriers.get(article_id)
        if found is None or _same_site(feed.url, found.canonical_url):
            return False
        return any(_same_site(url, found.canonical_url) for _, url in found.feeds)


def _foreign_canonical_refused(fetched: PageFetch) -> str | None:
    """The address to store a fetched page under when its ``rel=canonical`` names another site: its own
    (None: the page's canonical address stands).

    A page may name any address as its canonical one, and the article was stored under it: a page of one site
    naming a newsroom's article had its words credited to that newsroom, and later shown under the
    newsroom's name with a link to the page. A copy on another site (a syndicated one) is found by its text.
    """
    page = fetched.page
    if page is None or not page.canonical_url:
        return None
    named, own = urlsplit(page.canonical_url).hostname, urlsplit(fetched.url).hostname
    if named == own or _same_site(page.canonical_url, fetched.url):
        return None
    return canonical_url(fetched.url)


def _same_site(url: str, other: str) -> bool:
    from monitor.dedupe.outlets import outlet_domain

    return outlet_domain(url) == outlet_domain(other)


class _Sorted(NamedTuple):
    """A feed's entries sorted: which are known, which known ones changed (key -> article id), how many
    were linked from other feeds."""

    known: article_store.KnownEntries
    changed: dict[str, int]
    linked: int
    taken_over: frozenset[str]  # keys among ``changed`` of articles whose text this feed takes over


@dataclass(frozen=True)
class _ArticleSave:
    """One feed's articles to store: the new ones and the revised ones (with their entries), the stored ids
    of its changed entries, and every entry's hash."""

    feed: feed_store.FeedSnapshot
    new: Sequence[tuple[FeedItem, Article]]
    revised: Sequence[tuple[FeedItem, Article]]
    changed: dict[str, int]
    hashes: dict[str, str]
    taken_over: frozenset[str] = frozenset()  # changed entries whose feed takes the article's text over


def _began(now: datetime, started: float) -> datetime:
    """When a poll that ends at ``now`` began (``started``, on the monotonic clock): its time on record, before
    its fetch. What a later judgement needs is what the feed's document could show: an entry published, or a
    hub's subscription verified, while the poll fetched pages and stored articles came after that document."""
    return now - timedelta(seconds=time.monotonic() - started)


class _Created(NamedTuple):
    """An article a poll created: its news delay (``news_delay``) and where its text came from."""

    delay: float | None
    body: str  # one of ``monitor.runtime.metrics.BODY_SOURCES``


@dataclass(frozen=True)
class PageFetch:
    """An article page fetched and extracted, or why not."""

    page: ExtractedPage | None
    problem: str | None
    url: str
    failure: Failure | None = None

    def retry_at(self, now: datetime, *, attempts: int) -> datetime | None:
        """When to fetch the page again after ``attempts`` earlier failed retries; None when its failure
        will not pass (or there was none), or it has been tried enough. A 404 may pass too: a page not up
        yet when its entry came (``NOT_FOUND_RETRIES``)."""
        if self.failure is None:
            return None
        if self.failure.kind in PASSING_FAILURES:
            return next_page_retry(now, attempts=attempts, retry_after=self.failure.retry_after)
        if self.failure.status == HTTPStatus.NOT_FOUND and attempts < NOT_FOUND_RETRIES:
            return next_page_retry(now, attempts=attempts)
        return None


class LinkChecks:
    """The early check of links of one reach (``Fetcher.refusal``), made once per host rather than once per
    link: a feed's links mostly share a host or a few. Kept for one poll of a feed; every connection is
    still checked where it is opened."""

    def __init__(self, fetcher: Fetcher, reach: Reach) -> None:
        self.reach = reach
        self._fetcher = fetcher
        self._hosts: dict[tuple[str | None, int | None], asyncio.Future[Failure | None]] = {}

    async def refusal(self, url: str) -> Failure | None:
        try:
            parts = urlsplit(url)
            host = (parts.hostname, parts.port)
        except ValueError:
            return await self._fetcher.refusal(url, self.reach)
        if host not in self._hosts:
            self._hosts[host] = asyncio.ensure_future(self._fetcher.refusal(url, self.reach))
        # Shielded: a link given up (cancelled) must not cancel the lookup other links of the host wait for.
        return await asyncio.shield(self._hosts[host])


_NOT_YET = "page not fetched yet"


def _prepare_dedup() -> None:
    try:
        from monitor.dedupe import fingerprint

        fingerprint.prepare()
    except Exception:  # noqa: BLE001 - only an early start: the first article loads it again, and says why
        log.debug("deduplication not prepared ahead", exc_info=True)


def _stored_reach(stored: str | None) -> Reach:
    """How far the links of pushed content or of a retried page may go: as the last successful poll of
    their feed found it, by the address that answered; public addresses only when it is not known.

    Not by a lookup of the feed's host made now: a hub or a feed's owner who points the host's name at a
    private address (DNS rebinding) would have the links of their pushed content, or the page retried, reach
    anywhere, where the poll itself gains nothing by it (its content then comes from the private address).
    """
    try:
        return Reach(stored) if stored else Reach.PUBLIC
    except ValueError:
        return Reach.PUBLIC


def _robots_refusal(url: str, unavailable: Failure | None) -> PageFetch:
    """A page robots.txt held back: because it disallows the page, or because it could not be read. The
    latter carries the robots.txt failure, so that a passing one (a timeout, a 503) is tried again on the
    page-retry schedule, and the note says which it was."""
    if unavailable is None:
        return PageFetch(None, "robots.txt disallows fetching the page", url)
    later = _NOT_YET if unavailable.kind in PASSING_FAILURES else "page not fetched"
    return PageFetch(None, f"robots.txt unavailable ({unavailable.kind}); {later}", url, unavailable)


def _store_entry(
    session, feed: feed_store.FeedSnapshot, article: Article, work: Callable[[], int], tally: TermTally
) -> int | None:
    """Run ``work`` (store one entry) in a savepoint; if the database refuses the entry, roll it back (the
    term counts its placement gathered in ``tally`` with it), warn, and go on (None).

    Only a refusal of the entry's own data is skipped. A database that is busy, gone or timed out says nothing
    about the entry: that fails the poll, so its validators are not kept and the entry comes again.
    """
    try:
        with tally.savepoint(), session.begin_nested():
            return work()
    except (SQLAlchemyError, ValueError) as exc:
        # A database that is away (``unavailability``), a transaction around the savepoint that is already
        # lost (PendingRollbackError) or a statement SQLite cannot run (an OperationalError that is a bug, and
        # would refuse every entry alike) says nothing about this entry: the poll fails, and says why.
        if unavailability(exc) is not None or isinstance(exc, PendingRollbackError | OperationalError):
            raise
        log.warning(
            "entry skipped, the database refused it: feed=%s entry=%s url=%s: %s",
            feed.name,
            article.entry_key,
            article.url,
            exc,
            extra={"feed": feed.name, "url": article.url},
        )
        return None


def tag_stored(
    session, tagger: Tagger, article_id: int, article: Article, *, replace: bool = False
) -> tuple[Match, ...]:
    """The tagging stage of a stored article: match it (``monitor.watchlist.tag``, pure) and store its matches in the
    caller's transaction.

    Args:
        replace: the article was stored before and its text changed: its matches are replaced.
    """
    if not tagger.watchlist.topics and not replace:
        return ()
    sources = match_store.feed_names(session, article_ids=[article_id]).get(article_id, ())
    tagging = tagger.match(article, sources)
    if tagging.failed:
        return ()
    store = match_store.replace_matches if replace else match_store.save_matches
    store(session, article_id=article_id, matches=tagging.matches, watchlist=tagging.watchlist, now=_now())
    for match in tagging.matches:
        log.info(
            "match topic=%s score=%g url=%s",
            match.topic,
            match.score,
            article.url,
            extra={"url": article.url, "topic": match.topic},
        )
    return tagging.matches


def newest_first(items: Sequence[FeedItem]) -> list[FeedItem]:
    """``items`` by publication date, newest first; the undated after them, in the order they came."""
    dated = sorted(
        ((item.published, item) for item in items if item.published), key=lambda pair: pair[0], reverse=True
    )
    return [item for _, item in dated] + [item for item in items if not item.published]


def _held_report(feed, now: datetime) -> PollReport:
    if feed.lease_until is not None and feed.lease_until >= now:
        return PollReport(
            feed.name,
            Outcome.HELD,
            feed.last_status,
            error=f"being polled by {feed.lease_owner} (lease until "
            f"{feed.lease_until:%Y-%m-%d %H:%M:%S} UTC)",
            error_kind=LEASED,
            next_poll_at=feed.lease_until,
        )
    if feed.gone_at is not None:
        return PollReport(
            feed.name,
            Outcome.HELD,
            feed.last_status,
            error="gone (HTTP 410): no longer polled",
            error_kind=str(FailureKind.GONE),
        )
    return PollReport(
        feed.name,
        Outcome.HELD,
        feed.last_status,
        error=f"server asked to wait (Retry-After) until {feed.retry_after_until:%Y-%m-%d %H:%M:%S} UTC",
        error_kind=feed.last_error_kind,
        next_poll_at=feed.retry_after_until,
    )


def _now() -> datetime:
    return datetime.now(UTC)
