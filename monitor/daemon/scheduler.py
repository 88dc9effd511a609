"""The daemon: APScheduler decides when; the pipeline does the work. SIGTERM/SIGINT stop it cleanly.

Every ``poll_tick`` the daemon claims the feeds that are due and starts polling each in its own task, so a
slow feed never holds back the others and a feed that falls due mid-pass starts at the next tick. Leases in
the database keep several daemons sharing one PostgreSQL from polling the same feed.

A changed feeds.yaml (or watchlist file) is applied while the daemon runs, when the files change and on
SIGHUP: whole when valid, not at all when not (monitor.daemon.reload).
"""

from __future__ import annotations

import asyncio
import logging
import random
import signal
import threading
import time
from datetime import UTC, datetime, timedelta

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from monitor import retention
from monitor.config import Config, configured_listen
from monitor.daemon.clockwatch import ClockWatch
from monitor.daemon.database import DatabaseOutage, DiskWatch
from monitor.daemon.jobs import RunningJobs
from monitor.daemon.observe import Health, Listener
from monitor.daemon.reload import ConfigChange, ConfigReloader, Loaded, describe_change
from monitor.dedupe.regrouping import apply_regroup, plan_regroup
from monitor.digest.runner import renamed_digest_warnings, scheduled_jobs, topic_titles
from monitor.ingest.websub import Subscriber
from monitor.pipeline import DATABASE, Outcome, Pipeline
from monitor.runtime.logs import log_failure
from monitor.runtime.metrics import NO_METRICS, Metrics, PrometheusMetrics
from monitor.store import deliveries as ledger
from monitor.store import feeds as feed_store
from monitor.store.db import Database, disk_space, remedy, size_bytes, unavailability
from monitor.store.schema import SchemaError, refuse_newer
from monitor.store.timeshift import later_times_moved

log = logging.getLogger(__name__)

JOB_THREADS = "job-threads"
"""The scheduler's executor for the jobs that run in threads (digests, alerts, delivery retries, the regrouping
and the prune): a pool of their own. APScheduler's asyncio scheduler runs them in the event loop's default
executor otherwise, the one the poll tick claims feeds in and the polls parse feeds in: a few digests
waiting out a channel (Slack's 429s, two minutes a wait) took all of its threads (CPUs + 4): no feed was
polled, and /healthz answered 503, until they were done."""
JOB_THREAD_COUNT = 10
"""Threads of that pool: jobs past it wait their turn there, and the polls never wait for them."""


def job_scheduler(loop: asyncio.AbstractEventLoop) -> AsyncIOScheduler:
    """The daemon's scheduler: coroutine jobs run in the event loop, the others in ``JOB_THREADS``."""
    return AsyncIOScheduler(
        event_loop=loop, timezone="UTC", executors={JOB_THREADS: ThreadPoolExecutor(JOB_THREAD_COUNT)}
    )


class Daemon:
    def __init__(
        self,
        config: Config,
        db: Database,
        pipeline: Pipeline,
        metrics: Metrics = NO_METRICS,
        *,
        scheduler: AsyncIOScheduler,  # every job goes on it (``job_scheduler``): a daemon without one cannot run
        outage: DatabaseOutage | None = None,
        listening: tuple[str, int] | None = None,
        listen_given: bool = False,
    ) -> None:
        self.config = config
        # Where /healthz and /metrics are served (bound once, at the start), and whether --listen or
        # MONITOR_LISTEN chose it: then settings.listen is not used, whatever a reload makes it.
        self.listening, self.listen_given = listening, listen_given
        self.db = db
        self.pipeline = pipeline
        self.metrics = metrics
        self.scheduler = scheduler
        # Polling pauses while the database refuses work; /healthz reads the same (monitor.daemon.database).
        self.outage = outage or DatabaseOutage(tick=config.settings.poll_tick.total_seconds())
        self.disk = DiskWatch(db.sqlite_path) if db.sqlite_path is not None else None
        self._polling = 0  # polls in flight
        self.refusal: SchemaError | None = None  # why the daemon stopped itself, when it did
        self._rescheduled_at: dict[str, datetime] = {}  # digest -> when a reload changed its schedule
        self.stopping = asyncio.Event()
        # The same, for the digest jobs in the scheduler's threads: a channel's waits end at once.
        self.sending_stops = threading.Event()
        # A second stop signal while draining (Ctrl-C pressed again): the grace is over at once.
        self.hurry = asyncio.Event()
        self.in_flight: set[asyncio.Task] = set()
        self._retrying: asyncio.Task | None = None  # one pass of page retries at a time
        self.reloader = ConfigReloader(config)
        self._reloading = asyncio.Lock()  # a SIGHUP during a timed check waits for it, then reads again
        # A job that waits (on a locked or slow database) past its next run makes that run return at once:
        # APScheduler would skip it too, with a warning at every interval, where the wait is a passing state.
        self._ticking = asyncio.Lock()
        self._digest_jobs: list[str] = []
        # Every job goes through ``jobs.tracked``: a stop lets those under way finish.
        self.jobs = RunningJobs()

    async def tick(self) -> None:
        """Start a poll for every due feed that is not already being polled."""
        if self.stopping.is_set() or self._ticking.locked():
            # The last tick still waits (for a locked or slow database): this one would only queue behind it.
            return
        async with self._ticking:
            await self._tick()

    async def _tick(self) -> None:
        if self.disk is not None:
            self.disk.check()
        allowed = self.outage.may_poll()
        if allowed == 0:
            # The database refuses work: fetching feeds whose news cannot be stored would only load the sites.
            self.metrics.ticked(due=0)
            return
        if allowed is None:
            try:
                # What the last tick's polls counted for deduplication and left waiting is written now, so
                # other instances see it within a tick even when no article follows.
                await self.pipeline.write_term_counts()
            except Exception as exc:  # noqa: BLE001 - statistics; the next tick (or the next articles) writes them
                self._failed("could not write the gathered term counts", "will retry at the next tick", exc)
        try:
            # In a thread: a database that makes the claim wait (SQLite locked by another program, a server
            # slow to answer) must not stop the event loop, where the polls in flight do their I/O.
            claimed, _ = await asyncio.to_thread(self.pipeline.claim, due_only=True, limit=allowed)
        except Exception as exc:  # noqa: BLE001 - a database hiccup must not kill the schedule
            self.metrics.ticked(due=0)  # the scheduler is alive; /healthz tells about the database itself
            self._failed("could not claim due feeds", "will retry at the next tick", exc)
            return
        self.metrics.ticked(due=len(claimed))
        if not claimed:
            if self._polling:
                # A tick from before the pause may hold the feed a probe would take: the polls in flight
                # tell how the database is, and the next tick probes again.
                self.outage.probe_found_nothing()
            else:
                self.outage.worked()  # the database answered, and no poll is left to tell
        if self.stopping.is_set():
            # A stop came while the claim waited (``stop`` waits for the jobs under way): no poll starts after
            # it, and the leases just taken are given back with the others.
            return
        for feed in claimed:
            self._start(self._poll(feed), name=f"poll {feed.name}")
        if allowed is None and (self._retrying is None or self._retrying.done()):
            self._retrying = self._start(self._retry_pages(), name="page retries")

    async def _poll(self, feed: feed_store.FeedSnapshot) -> None:
        self._polling += 1
        try:
            with self.metrics.polling():
                report = await self.pipeline.poll_feed(feed)
        finally:
            self._polling -= 1
        if report.error_kind == DATABASE:
            self.outage.failed(report.error or "the database is unavailable", hint=report.hint)
        elif report.outcome is not Outcome.HELD:
            self.outage.worked()

    async def _retry_pages(self) -> None:
        try:
            await self.pipeline.retry_pages()
        except Exception as exc:  # noqa: BLE001 - a failure here must not stop the schedule; the next tick tries again
            self._failed("page retries failed", "will try again at the next tick", exc)

    def schedule(self) -> None:
        """Add the daemon's jobs: the poll tick, the configuration check, the digests."""
        config = self.config
        # Two instances allowed: the second returns at once while the first waits (``tick``, ``check_config``).
        self.scheduler.add_job(
            self.jobs.tracked(self.tick),
            "interval",
            seconds=config.settings.poll_tick.total_seconds(),
            id="poll-tick",
            max_instances=2,
            coalesce=True,
            next_run_time=_utcnow(),
        )
        self.scheduler.add_job(
            self.jobs.tracked(self.check_config),
            "interval",
            seconds=config.config_check_every.total_seconds(),
            id="config-reload",
            max_instances=2,
            coalesce=True,
        )
        self._schedule_digests(self._digest_jobs_of(config))
        self._schedule_regroup(config)
        # Retention once a day, first within the hour after start at a random minute: several instances
        # sharing a database seldom prune at once, and when they do the deletes are harmless (monitor.retention).
        first = _utcnow() + timedelta(seconds=random.uniform(300, 3900))
        self.scheduler.add_job(
            self.jobs.tracked(self.prune),
            "interval",
            hours=24,
            jitter=1800,
            id="retention",
            executor=JOB_THREADS,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=6
            * 3600,  # late (a busy loop, a clock stepped forward) is no reason to skip a day
            next_run_time=first,
        )

    def _schedule_regroup(self, config: Config) -> None:
        if self.scheduler.get_job("regroup") is not None:
            self.scheduler.remove_job("regroup")
        every = config.dedup.regroup_every if _regrouping(config) else None
        if every is None:
            return
        self.scheduler.add_job(
            self.jobs.tracked(self.regroup),
            "interval",
            seconds=every.total_seconds(),
            jitter=min(300.0, every.total_seconds() / 10),
            id="regroup",
            executor=JOB_THREADS,
            max_instances=1,
            coalesce=True,
        )

    def regroup_if_on(self) -> None:
        """The regrouping pass, when the configuration in force has it on (run before each scheduled digest)."""
        if _regrouping(self.config):
            self.regroup()

    def regroup(self) -> None:
        """Split the window's stories where their write-ups' neighbourhoods say two events (a job: run in
        the scheduler's thread pool, never in the event loop)."""
        started = time.monotonic()
        try:
            now = _utcnow()
            # Judged reading, split writing: on SQLite a busy window's seconds of judging held the write lock,
            # and every poll's storing waited (a breaking story brings an alert, and this pass, a minute).
            with self.db.session() as session:
                plan = plan_regroup(session, settings=self.config.dedup, now=now)
            done = []
            if plan.leaving:
                with self.db.write_session() as session:
                    done = apply_regroup(session, plan, now=now)
        except Exception as exc:  # noqa: BLE001 - stories stay as the stage placed them until the next run
            self.metrics.regrouped(time.monotonic() - started, split=None)
            self._failed("regroup failed", "the next run tries again", exc)
            return
        self.metrics.regrouped(time.monotonic() - started, split=len(done))

    def prune(self) -> None:
        """Apply the retention windows (a job: run in the scheduler's thread pool, never in the event loop)."""
        try:
            retention.prune(self.db, self.config.retention)
        except Exception as exc:  # noqa: BLE001 - tomorrow's run takes up what this one left
            self._failed("retention: prune failed", "the next daily run tries again", exc)

    def _digest_jobs_of(self, config: Config) -> list:
        # Digests on their cron schedules, alerts, and retries of failed deliveries (monitor.digest.runner). The
        # titles are looked up when a digest is rendered, so a reloaded watchlist's titles are the ones shown.
        pipeline = self.pipeline
        self._warn_of_renamed_digests(config)
        return scheduled_jobs(
            config.digests,
            self.db,
            owner=pipeline.owner,
            titles=lambda: topic_titles(pipeline.tagger.watchlist),
            metrics=self.metrics,
            before_digest=self.regroup_if_on,
            rescheduled_at=self._rescheduled_at,
            stopping=self.sending_stops,
        )

    def _warn_of_renamed_digests(self, config: Config) -> None:
        try:
            warnings = renamed_digest_warnings(self.db, config.digests)
        except Exception:  # noqa: BLE001 - only advice: a database away now is the tick's to report
            log.debug("renamed digests not looked for", exc_info=True)
            return
        for warning in warnings:
            log.warning("%s", warning)

    def _note_rescheduled(self, old: Config, new: Config) -> None:
        """Remember when each digest whose schedule or time zone ``new`` changes was changed: its runs
        before then were never due, and are not made up for (``DigestRunner.missed_run``)."""
        before = {digest.name: (digest.schedule, digest.timezone) for digest in old.digests}
        now = datetime.now(UTC)
        for digest in new.digests:
            if before.get(digest.name, (digest.schedule, digest.timezone)) != (
                digest.schedule,
                digest.timezone,
            ):
                self._rescheduled_at[digest.name] = now

    def _schedule_digests(self, jobs: list) -> None:
        for job_id in self._digest_jobs:
            self.scheduler.remove_job(job_id)
        for job_id, job, trigger in jobs:
            self.scheduler.add_job(
                self.jobs.tracked(job),
                trigger,
                id=job_id,
                # Named as the log should say it: a skipped run ("maximum number of running instances
                # reached") named the wrapper, not the digest, and every digest's read the same.
                name=job_id,
                executor=JOB_THREADS,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=3600,
            )
        self._digest_jobs = [job_id for job_id, _, _ in jobs]

    async def check_config(self) -> None:
        """The timed check of feeds.yaml (nothing while a reload, a check or SIGHUP's, is under way), and of
        the database's schema."""
        if await asyncio.to_thread(self._schema_moved_on):
            return
        if not self._reloading.locked():
            await self.reload()

    def _schema_moved_on(self) -> bool:
        """Whether a newer version migrated the database under this daemon (``monitor db upgrade`` while it
        ran): it stops then, with the reason, rather than go on writing to a schema it does not know."""
        try:
            refuse_newer(self.db)
        except SchemaError as exc:
            if self.refusal is None:
                log.error("%s; this daemon stops", exc.message)
                self.refusal = exc
                self.stopping.set()
            return True
        except Exception:  # noqa: BLE001 - a database away is the outage's to tell (tick, /healthz)
            return False
        return False

    async def reload(self, *, force: bool = False) -> bool:
        """Apply feeds.yaml if its files changed (or ``force``: SIGHUP). Returns whether a new one took effect.

        Atomic: the files are validated whole first; the new feeds are written to the database in one
        transaction; only then is the new configuration put in force, in one step of the event loop, so a
        tick claims and polls either with the old configuration or with the new one, never with a mixture.
        Any failure leaves the configuration in force as it was.
        """
        async with self._reloading:
            loaded = await asyncio.to_thread(self.reloader.load, force=force)
            if loaded is None:
                return False
            change = describe_change(self.config, loaded.config)
            try:
                # Everything that could fail is done before anything is put in force.
                if change.digests_changed:
                    self._note_rescheduled(self.config, loaded.config)
                digest_jobs = self._digest_jobs_of(loaded.config) if change.digests_changed else None
                await asyncio.to_thread(self.pipeline.sync_feeds, loaded.config, due_by=change.due_by)
            except Exception as exc:  # noqa: BLE001 - the database may be down for a moment: try again at the next check
                self._failed("configuration not reloaded", "the one in force stays; will try again", exc)
                self.reloader.retry_later()
                return False
            self._apply(loaded, change, digest_jobs)
            return True

    def _apply(self, loaded: Loaded, change: ConfigChange, digest_jobs: list | None) -> None:
        old, new = self.config, loaded.config
        old_watchlist = self.pipeline.tagger.watchlist
        self.pipeline.reconfigure(new, loaded.watchlist)
        self.config = new
        if digest_jobs is not None:
            self._schedule_digests(digest_jobs)
        if new.settings.poll_tick != old.settings.poll_tick:
            self.outage.tick = new.settings.poll_tick.total_seconds()
            self.scheduler.reschedule_job(
                "poll-tick", trigger="interval", seconds=new.settings.poll_tick.total_seconds()
            )
        if new.config_check_every != old.config_check_every:
            self.scheduler.reschedule_job(
                "config-reload", trigger="interval", seconds=new.config_check_every.total_seconds()
            )
        if (_regrouping(new), new.dedup.regroup_every) != (_regrouping(old), old.dedup.regroup_every):
            self._schedule_regroup(new)
        log.info(
            "configuration reloaded: %d feeds (%s)",
            len(new.feeds),
            change.summary(),
            extra={"url": str(new.source)},
        )
        if loaded.watchlist.fingerprint != old_watchlist.fingerprint:
            log.info(
                "watchlist reloaded: %d topics, version %s (was %s)",
                len(loaded.watchlist.topics),
                loaded.watchlist.fingerprint,
                old_watchlist.fingerprint or "-",
                extra={"url": str(new.source)},
            )
        if new.settings.websub != old.settings.websub:
            if self.pipeline.websub is not None and new.settings.websub.enabled:
                self.pipeline.websub.settings = new.settings.websub  # asked of hubs from the next request on
            else:
                log.warning("settings.websub turned on or off: takes effect at the next restart")
        restart_needed = [key for key in change.restart_needed if key != "listen" or self._listen_moves(new)]
        if restart_needed:
            log.warning(
                "settings changed that take effect only at the next restart: %s", ", ".join(restart_needed)
            )
        elif "listen" in change.restart_needed and self.listen_given:
            log.info("settings.listen changed; not used: --listen or MONITOR_LISTEN gives the address")

    def _listen_moves(self, config: Config) -> bool:
        """Whether ``config``'s settings.listen asks for another address than the one served now (it was
        changed and changed back: no restart needed)."""
        if self.listen_given:
            return False
        return configured_listen(config.settings) != self.listening

    def _failed(self, what: str, then: str, error: Exception) -> None:
        """Log a job's failure (in an ``except`` block); one for the database's sake pauses polling."""
        cause = unavailability(error)
        hint = remedy(error, self.db.sqlite_path) if cause is not None else None
        log_failure(log, what, then, cause=cause, hint=hint)
        if cause is not None:
            self.outage.failed(f"the database is unavailable ({cause})", hint=hint)

    def _start(self, coroutine, *, name: str) -> asyncio.Task:
        task = asyncio.create_task(coroutine, name=name)
        self.in_flight.add(task)
        task.add_done_callback(self.in_flight.discard)
        return task

    async def stop(self) -> None:
        """Start no job from now on; let the polls and the scheduler's jobs under way finish within the grace
        (``drain``); then end the scheduler, which cancels only what outlasted the grace."""
        self.stopping.set()
        self.sending_stops.set()
        self.scheduler.pause()
        await self.drain()
        self.scheduler.shutdown(wait=False)

    def hurry_up(self) -> None:
        """A second stop signal while stopping: what is still under way is cut short now, not at the end of
        the grace (its leases are released all the same); said once."""
        if not self.hurry.is_set():
            log.warning("a second stop signal: what is still under way is cut short now")
            self.hurry.set()

    async def drain(self) -> None:
        """Let polls in flight and the scheduler's jobs under way finish for a while (``shutdown_grace``, or
        until ``hurry_up``), then cancel the polls left; their leases are released."""
        grace = self.config.settings.shutdown_grace.total_seconds()
        deadline = time.monotonic() + grace
        if self.in_flight:
            log.info("stopping: waiting up to %.0fs for %d polls in flight", grace, len(self.in_flight))
            hurried = asyncio.create_task(self.hurry.wait())
            try:
                while (left := {t for t in self.in_flight if not t.done()}) and not self.hurry.is_set():
                    if (remaining := deadline - time.monotonic()) <= 0:
                        break
                    await asyncio.wait(
                        {*left, hurried}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
                    )
            finally:
                hurried.cancel()
            pending = {t for t in self.in_flight if not t.done()}
            for task in pending:
                task.cancel()
            if pending:
                cut = sorted(task.get_name() for task in pending)  # "poll <feed>", "page retries"
                log.warning(
                    "stopping: %d still under way after %.0fs cut short (%s%s); what they had not stored "
                    "comes again at the next start",
                    len(cut),
                    grace,
                    ", ".join(cut[:10]),
                    f" and {len(cut) - 10} more" if len(cut) > 10 else "",
                )
                await asyncio.gather(*pending, return_exceptions=True)
        if self.jobs.running:
            log.info(
                "stopping: waiting for %d scheduled jobs under way (a digest, a prune)", self.jobs.running
            )
        jobs_may_take = 0.0 if self.hurry.is_set() else max(0.0, deadline - time.monotonic())
        if not await self.jobs.finished(timeout=jobs_may_take):
            log.warning("stopping: %d scheduled jobs still running after %.0fs", self.jobs.running, grace)
        self.pipeline.release()


async def run_daemon(
    config: Config, db: Database, *, listen: tuple[str, int] | None = None, listen_given: bool = False
) -> None:
    """Run until SIGTERM or SIGINT.

    Args:
        listen: where to serve /healthz and /metrics (``monitor.daemon.observe``); None for no listener, and then
            nothing is counted either.

    On an SQLite file the caller holds ``sole_daemon`` (from before the schema's upgrade).
    """
    loop = asyncio.get_running_loop()
    metrics: Metrics = NO_METRICS
    listener = None
    outage = DatabaseOutage(tick=config.settings.poll_tick.total_seconds())
    if listen is not None:
        sqlite_path = db.sqlite_path
        metrics = PrometheusMetrics(
            database_size=lambda: size_bytes(db),
            deliveries_owed=lambda: _owed(db),
            feed_schedule=lambda: _feed_schedule(db),
            database_failing=lambda: outage.active,
            disk_free=(lambda: _free(disk_space(sqlite_path))) if sqlite_path is not None else None,
        )
        health = Health(
            db=db, metrics=metrics, tick_every=config.settings.poll_tick.total_seconds(), outage=outage
        )
        listener = Listener(listen, health=health, metrics=metrics)  # fails now if the port is taken
    try:
        await _run(config, db, metrics, listener, loop, outage, listening=listen, listen_given=listen_given)
    finally:
        if listener is not None:
            listener.stop()


def _free(space: tuple[int, int] | None) -> int | None:
    return space[0] if space is not None else None


def _owed(db: Database) -> list[ledger.Owed]:
    with db.session() as session:
        return ledger.owed(session)


def _feed_schedule(db: Database) -> feed_store.ScheduleState:
    with db.session() as session:
        return feed_store.schedule_state(session, now=datetime.now(UTC))


async def _run(
    config: Config,
    db: Database,
    metrics: Metrics,
    listener: Listener | None,
    loop: asyncio.AbstractEventLoop,
    outage: DatabaseOutage,
    *,
    listening: tuple[str, int] | None,
    listen_given: bool,
) -> None:
    async with Pipeline(config, db, metrics=metrics) as pipeline:
        pipeline.sync_feeds()
        if db.is_sqlite:
            # SQLite serves one daemon: leases left by a killed predecessor are stale, not another instance's.
            with db.session() as session:
                feed_store.release_leases_of_others(session, owner=pipeline.owner)
                ledger.release_leases_of_others(session, owner=pipeline.owner)
        scheduler = job_scheduler(loop)
        daemon = Daemon(
            config,
            db,
            pipeline,
            metrics,
            scheduler=scheduler,
            outage=outage,
            listening=listening,
            listen_given=listen_given,
        )
        if config.settings.websub.enabled and listener is not None:
            pipeline.websub = listener.websub = _subscriber(config, db, pipeline, loop)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, daemon.stopping.set)
        # SIGHUP (`systemctl reload`) reads feeds.yaml again now, changed or not.
        loop.add_signal_handler(
            signal.SIGHUP, lambda: daemon._start(daemon.reload(force=True), name="reload")
        )
        daemon.schedule()
        scheduler.start()
        watch = ClockWatch(
            scheduler,
            every=max(10.0, config.settings.poll_tick.total_seconds()),
            on_step_back=lambda step, now: _move_stored_times(db, step, now),
        )
        watching = loop.create_task(watch.run(daemon.stopping), name="clock-watch")
        if listener is not None:
            listener.start()
        log.info(
            "daemon started: %d feeds, tick every %ss",
            len(config.feeds),
            config.settings.poll_tick.total_seconds(),
        )
        try:
            await daemon.stopping.wait()
        finally:
            watching.cancel()
            loop.remove_signal_handler(signal.SIGHUP)
            # Removing a handler restores the default, and SIGHUP's default is to die: not while draining.
            signal.signal(signal.SIGHUP, signal.SIG_IGN)
            # Pressed again, Ctrl-C (or SIGTERM) cuts the drain short rather than killing the process midway,
            # which left the feeds' leases held and said nothing.
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, daemon.hurry_up)
            try:
                await daemon.stop()
            finally:
                for sig in (signal.SIGTERM, signal.SIGINT):
                    loop.remove_signal_handler(sig)
        log.info("daemon stopped")
        if daemon.refusal is not None:
            raise daemon.refusal


def _move_stored_times(db: Database, step: timedelta, now: datetime) -> None:
    """The wall times the database holds for later (each feed's next poll, each delivery's and page's next
    try), reckoned before the clock stepped back by ``step``, moved by it: a feed due a quarter of an hour
    after its poll waited the quarter and the whole step besides."""
    with db.write_session() as session:
        moved = later_times_moved(session, by=step, now=now)
    log.info("after the clock's step: %d next polls and retries moved with it", moved)


def _subscriber(
    config: Config, db: Database, pipeline: Pipeline, loop: asyncio.AbstractEventLoop
) -> Subscriber:
    def accept(subscription, body: bytes, headers) -> None:
        # From the listener's thread to the event loop, where polls run; the hub has its answer meanwhile.
        asyncio.run_coroutine_threadsafe(pipeline.accept_push(subscription, body, headers), loop)

    return Subscriber(
        config.settings.websub,
        db,
        accept=accept,
        clock=_utcnow,
        max_push_bytes=int(config.settings.max_bytes),
    )


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _regrouping(config: Config) -> bool:
    """Whether the configuration has the regrouping pass on: deduplication on, and ``regroup_every`` set."""
    return config.dedup.enabled and config.dedup.regroup_every is not None
