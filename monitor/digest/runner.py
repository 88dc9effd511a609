"""Digests: what is new for a digest on each channel, and delivering it through the ledger.

One delivery, step by step (each step its own transaction, so no lock is held while a channel is slow):

1. claim the (digest, kind, channel, period) row: the unique constraint lets one daemon win;
2. freeze its items, one per article: what failed before on that channel, the matches that no delivery on
   the channel carried since the lookback (or the schedule's previous run, if earlier: ``reach_of``), and
   the articles that joined a matched story since (the article counts, not the story: a developing story
   comes back with what is new on it);
3. render and send; after each message the channel accepts, its articles are marked delivered;
4. close the row as sent, or record the failure and when to retry (exponential back-off).

A crash after step 3 sent a message but before it was recorded leaves the row ``sending`` with a lease;
when the lease runs out a retry sends what is not marked: at most one message is repeated, and it carries
the same Message-ID. A sender that died on this host (its process gone) is taken over at once, by the next
run of any digest job here, including that of a daemon restarted after the crash. A scheduled run that did
not happen at all (the daemon down at the time, its database refusing the work) is made late by the retry
job, within ``CATCH_UP_WITHIN`` of its time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, NamedTuple

from sqlalchemy.orm import Session

from monitor.dedupe.boilerplate import BOILERPLATE_CLUSTERS, paragraph_keys, strip_boilerplate
from monitor.dedupe.outlets import outlet_key
from monitor.digest.content import View, build_content, same_headline, source_health
from monitor.digest.notify import DeliveryError, make_sender
from monitor.digest.notify.email import sender_domain, stable_message_id
from monitor.digest.notify.render import Digest, DigestContent, render
from monitor.digest.notify.settings import DigestConfig
from monitor.digest.recipients import LedgerRecipients, Unrecorded, record_unrecorded
from monitor.errors import MonitorError
from monitor.runtime import instance
from monitor.runtime.logs import log_failure
from monitor.runtime.metrics import NO_METRICS, Metrics
from monitor.runtime.plurals import plural
from monitor.schedule import next_delivery_attempt
from monitor.store import counts as counts_store
from monitor.store import deliveries as ledger
from monitor.store import digests as digest_store
from monitor.store import feeds as feed_store
from monitor.store.db import Database, unavailability
from monitor.store.deliveries import ItemRef, Slot

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=15)  # a send taking longer than this is presumed crashed, and retried
MAX_ITEMS = 5000  # articles gathered for one delivery; a backlog larger than this waits for the next
MAX_STORY_MEMBERS = 200  # articles read per story to tell its coverage; enough to name its outlets
PREVIEW_CHANNEL = "/preview"  # a channel no delivery is made on: in a preview nothing counts as sent


@dataclass(frozen=True)
class Outcome:
    """What happened to one delivery (or why there was none)."""

    digest: str
    kind: str
    channel: str
    period: datetime
    status: str  # sent | failed | empty | skipped | taken (another daemon has it)
    stories: int = 0
    articles: int = 0
    error: str | None = None
    next_attempt_at: datetime | None = None


def counted_kinds(slot: Slot) -> tuple[str, ...]:
    """Which deliveries on ``slot``'s channel make an article "sent already" for it.

    An alert is not sent for what a digest or an alert already sent on the channel. A digest is not sent
    for what an alert sent on the channel either, except by email: the email digest is the day's complete
    record, so it carries alerted articles again, marked as alerted.
    """
    if slot.kind == "digest" and slot.channel == "email":
        return ("digest",)
    return ("digest", "alert")


def digest_topics(digest: DigestConfig, titles: Mapping[str, str]) -> tuple[str, ...]:
    """The topics whose stories a digest follows and names: those it names, else every topic of the watchlist
    in force (``titles``), not the names of topics since renamed, removed or disabled, whose matches stay
    stored; with no watchlist known (``titles`` empty), every topic."""
    return digest.topics or tuple(titles)


def select_new(
    session: Session,
    *,
    digest: DigestConfig,
    slot: Slot,
    since: datetime,
    titles: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> list[ItemRef]:
    """What the next delivery of ``slot`` carries, one item per article: the items of its failed deliveries,
    then new matches (for an alert, not the reprints of a text the channel already carried, nor, until
    ``alerts.update_after`` from ``now`` has passed, new write-ups of a story it alerted), then (for a digest)
    the articles that joined a matched story since and were not sent on the channel: a developing story comes
    back with its new reports."""
    carried = digest_store.Carried(slot.digest, slot.channel, counted_kinds(slot), digest.renamed_from)
    min_score = min_score_of(digest, slot.kind)
    # What failed under the digest's earlier names (``renamed_from``) is still owed by it.
    found = [
        item
        for name in digest.names
        for item in digest_store.failed_items(session, digest=name, kind=slot.kind, channel=slot.channel)
    ]
    # A match made before its topic was renamed or removed is still news not sent (never lost); but only
    # the topics in force bring a story back with its later write-ups.
    matched = digest_store.new_matches(
        session, carried=carried, topics=digest.topics, min_score=min_score, since=since, limit=MAX_ITEMS
    )
    if slot.kind == "alert":
        # A reprint of a text the channel already carried is no news to alert anyone to: it waits for the
        # digest, which counts it among its story's wire copies. On a breaking story the reprints of one
        # agency text come in for hours, and each minute's alert would otherwise ping the channel for them.
        reprints = digest_store.copies_of_carried(
            session, carried=carried, article_ids=[item.article_id for item in matched]
        )
        matched = [item for item in matched if item.article_id not in reprints]
        # Nor is an article published before the alert's reach: a feed back after weeks of failures, or one
        # just added, lists its backlog at once, and the channel was pinged for each of its weeks-old
        # stories as if it broke now. The digest carries them.
        old = digest_store.published_before(
            session, article_ids=[item.article_id for item in matched], before=since
        )
        matched = [item for item in matched if item.article_id not in old]
        quiet = digest.alerts.update_after if digest.alerts else timedelta(0)
        if now is not None and quiet > timedelta(0):
            # A story alerted moments ago is not alerted again for each write-up that follows: they wait and
            # go together, at the first check past ``update_after`` (or with the digest, if it comes first).
            alerted = digest_store.stories_alerted_since(
                session,
                carried=carried,
                story_ids={item.story_id for item in matched if item.story_id is not None},
                since=now - quiet,
            )
            matched = [item for item in matched if item.story_id not in alerted]
    topics = digest_topics(digest, titles or {})
    if slot.kind == "digest":
        followups = digest_store.story_followups(
            session, carried=carried, topics=topics, min_score=min_score, since=since, limit=MAX_ITEMS
        )
        new = [*matched, *(ItemRef(article_id, story_id, "") for article_id, story_id in followups)]
        republished = _republished(session, carried, [item.article_id for item in new])
        found += [item for item in new if item.article_id not in republished]
    else:
        found += matched
    by_article: dict[int, ItemRef] = {}
    for item in found:
        by_article.setdefault(item.article_id, item)
    return list(by_article.values())[:MAX_ITEMS]


def _republished(session: Session, carried: digest_store.Carried, article_ids: Sequence[int]) -> set[int]:
    """Of ``article_ids``, the articles the channel carried before that their own outlet put under a new
    address, headline and text as they were (a site moving to a new CMS changes the address of every entry it
    lists; a piece republished in another section): no news, not even a wire copy, since "carried by N more
    outlets" counts other outlets. A longer version under a new headline stays news."""
    copies = digest_store.copies_of_carried(session, carried=carried, article_ids=article_ids)
    return {
        article_id
        for article_id, copy in copies.items()
        if any(
            outlet_key(url) == outlet_key(copy.url) and same_headline(title, copy.title)
            for url, title in copy.carried
        )
    }


def min_score_of(digest: DigestConfig, kind: str) -> float:
    return digest.alerts.min_score if kind == "alert" and digest.alerts else digest.min_score


def compose(
    session: Session,
    *,
    digest: DigestConfig,
    slot: Slot,
    items: Sequence[ItemRef],
    period: datetime,
    titles: Mapping[str, str],
    preview: bool = False,
    now: datetime | None = None,
) -> DigestContent:
    """The content of a delivery of ``items`` on ``slot`` (``preview``: as if nothing had been sent); a
    digest's says which feeds its readers have not heard from, as of ``now`` (an alert's, nothing)."""
    material = digest_store.material(
        session,
        article_ids=[item.article_id for item in items],
        topics=digest_topics(digest, titles),
        digest=slot.digest,
        channel=None if preview else slot.channel,
        members_per_story=MAX_STORY_MEMBERS,
        earlier=digest.renamed_from,
    )
    view = View(
        slot.kind,
        None if preview else slot.channel,
        counted_kinds(slot),
        min_score_of(digest, slot.kind),
        digest.max_items,
        titles,
    )
    content = build_content(
        material,
        name=digest.name,
        timezone=digest.timezone,
        view=view,
        items=items,
        period=period,
        clean=partial(without_boilerplate, session),
    )
    if slot.kind != "digest":
        return content
    sources = source_health(feed_store.feed_health(session), now=now or period)
    return replace(content, sources=sources)


def without_boilerplate(session: Session, text: str) -> str:
    """``text`` without outlet boilerplate: the paragraphs the dedup stage learnt as shared by unrelated wire
    clusters, and furniture such as sign-up lines (``monitor.dedupe.boilerplate``). Asked only of the texts
    a digest excerpts, one per story shown."""
    keys = paragraph_keys(text)
    known = (
        counts_store.boilerplate_keys(session, keys=keys, min_clusters=BOILERPLATE_CLUSTERS) if keys else ()
    )
    return strip_boilerplate(text, known=frozenset(known))


CATCH_UP_AFTER = timedelta(minutes=10)
"""A scheduled digest with no delivery this long after its time did not run (its job claims the delivery
first thing, after the regrouping pass): it is made late (``DigestRunner.missed_run``)."""
CATCH_UP_WITHIN = timedelta(hours=12)
"""A scheduled digest missed for longer than this is not made late: a morning digest in the evening would
be news of the day before; the next run reaches back to the last one made (``_deliver_new``)."""


def period_of(digest: DigestConfig, now: datetime) -> datetime:
    """The latest time the digest's schedule fired at or before ``now``: the period a run belongs to.

    Two daemons woken a little apart, or one woken late, name the same period, so the unique ledger row
    decides between them.
    """
    trigger = digest.trigger()
    for window in (timedelta(minutes=2), timedelta(hours=2), timedelta(days=2), timedelta(days=40)):
        fire, last = trigger.get_next_fire_time(None, now - window), None
        for _ in range(1000):
            if fire is None or fire > now:
                break
            last, fire = fire, trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
        if last is not None and (fire is None or fire > now):
            return last.astimezone(UTC)
    return now.replace(second=0, microsecond=0)


def reach_of(digest: DigestConfig, kind: str, period: datetime, now: datetime) -> datetime:
    """Since when a delivery of ``period`` looks for matches: the digest's ``lookback``, and for a digest at
    least back to its schedule's previous run, so that a gap between two runs longer than the lookback (a
    weekday digest's weekend, a weekly one) loses nothing. What a channel carried already is left out
    whatever the reach (``select_new``)."""
    since = now - digest.lookback
    if kind == "digest":
        since = min(since, period_of(digest, period - timedelta(seconds=1)))
    return since


def alert_period(every: timedelta, now: datetime) -> datetime:
    """``now`` rounded down to a multiple of ``every`` since the epoch: one period per alert check."""
    step = max(1, int(every.total_seconds()))
    return datetime.fromtimestamp(int(now.timestamp()) // step * step, UTC)


class DigestRunner:
    """Delivers one digest (and its alerts) on each of its channels, through the ledger."""

    def __init__(
        self,
        db: Database,
        digest: DigestConfig,
        *,
        owner: str,
        lease: timedelta = LEASE,
        sender_options: dict[str, Any] | None = None,
        titles: Callable[[], Mapping[str, str]] | None = None,
        catch_up_from: datetime | None = None,
        before_alert: Callable[[], None] | None = None,
    ) -> None:
        self.db, self.digest, self.owner, self.lease = db, digest, owner, lease
        # Run before an alert that has something to send (the daemon's regrouping of stories): the alert
        # then shows stories as the digest after it does. An alert showed two events as one story that the
        # digest forty seconds later, regrouped, showed as two, both marked alerted.
        self._before_alert = before_alert
        self._before_alert_ran_for: datetime | None = (
            None  # the alert period it last ran for (once, not per channel)
        )
        # When the digest's schedule (or time zone) took effect, if this process changed it: a run it puts
        # before that time was never due (``missed_run``).
        self.catch_up_from = catch_up_from
        # Topic name -> the title digests show; asked at each delivery, so a reloaded watchlist's titles show.
        self._titles = titles or dict
        self.sender_options = sender_options or {}
        self._told_missing: set[str] = set()
        # Delivery id -> what its channel accepted that the database, failing then, did not record: kept for
        # the process and its database, not this runner, which a reload of the configuration replaces.
        self._unrecorded = _UNRECORDED.setdefault(str(getattr(db, "url", "")), {})

    def channels(self, kind: str) -> list[tuple[str, Any]]:
        """The channels to send ``kind`` on; a channel without its settings (an empty secret) is skipped."""
        chosen = []
        for name, settings in self.digest.channels.configured().items():
            if kind == "alert" and (self.digest.alerts is None or name not in self.digest.alerts.channels):
                continue
            if (missing := settings.missing()) is not None:
                if name not in self._told_missing:  # once per process: alerts and retries ask every minute
                    self._told_missing.add(name)
                    log.warning(
                        "digest %s: channel %s skipped: %s%s",
                        self.digest.name,
                        name,
                        missing,
                        self._owed_on(name),
                    )
                continue
            chosen.append((name, settings))
        return chosen

    def _owed_on(self, channel: str) -> str:
        """What a skipped channel leaves waiting, for its log line: a delivery that failed there (sent by hand
        with settings this process lacks) is retried only by a process that has them."""
        try:
            with self.db.session() as session:
                count = sum(
                    o.count for o in ledger.owed(session, digest=self.digest.name) if o.channel == channel
                )
        except Exception:  # noqa: BLE001 - the line is said without it; the database's trouble is told elsewhere
            return ""
        if not count:
            return ""
        owed = "1 delivery owed on it waits" if count == 1 else f"{count} deliveries owed on it wait"
        return f"; {owed} until it can send (monitor deliveries lists them)"

    def run(
        self,
        *,
        kind: str = "digest",
        period: datetime,
        now: datetime | None = None,
        since: datetime | None = None,
    ) -> list[Outcome]:
        """Deliver the ``period`` of the digest (or its alerts) on every channel: due retries first."""
        now = now or _now()
        self._record_accepted()
        self._take_over_dead_leases(now)
        outcomes: list[Outcome] = []
        for channel, settings in self.channels(kind):
            slot = Slot(self.digest.name, kind, channel)
            outcomes += self._retries(slot, settings, now)
            with self.db.session() as session:
                # An alert waits for a failing one's back-off rather than piling up; a digest carries it.
                if kind == "alert" and ledger.waiting_retry(session, slot=slot, now=now):
                    continue
            outcomes.append(self._deliver_new(slot, settings, period, now, since))
        return outcomes

    def retry_due(self, *, now: datetime | None = None) -> list[Outcome]:
        """Retry every delivery of this digest whose back-off is over (or whose sender died), and make the
        latest scheduled run if it did not happen (``missed_run``)."""
        now = now or _now()
        self._record_accepted()
        self._take_over_dead_leases(now)
        outcomes = []
        for kind in ("digest", "alert") if self.digest.alerts else ("digest",):
            for channel, settings in self.channels(kind):
                outcomes += self._retries(Slot(self.digest.name, kind, channel), settings, now)
        return outcomes + self.missed_run(now)

    def missed_run(self, now: datetime) -> list[Outcome]:
        """The latest scheduled digest, on each channel that has no delivery of it, when it is between
        ``CATCH_UP_AFTER`` and ``CATCH_UP_WITHIN`` old: its run did not happen (the daemon was down at the
        time, or its database refused the work) and it goes now, late rather than a day later. Another
        instance's run of it, or one under way, has its row: nothing is sent twice.

        Only a run that was due: not one on a channel the digest never sent on (a digest or channel just
        added, a first start), nor one from before the schedule changed (``catch_up_from``). A daily digest
        added, moved earlier or given Slack in the afternoon went out at once, "made now"."""
        period = period_of(self.digest, now)
        if not CATCH_UP_AFTER <= now - period <= CATCH_UP_WITHIN:
            return []
        if self.catch_up_from is not None and period < self.catch_up_from:
            return []
        outcomes = []
        for channel, settings in self.channels("digest"):
            slot = Slot(self.digest.name, "digest", channel)
            with self.db.session() as session:
                if ledger.delivered_period(session, slot=slot, period=period):
                    continue
                if (
                    ledger.latest_period(session, slot=slot, before=period, earlier=self.digest.renamed_from)
                    is None
                ):
                    continue  # never sent here before: its first run is the next one
            log.info(
                "digest %s: the run of %s on %s did not happen (the daemon was down, or its database refused "
                "the work): made now",
                slot.digest,
                period.isoformat(),
                channel,
            )
            outcomes.append(self._deliver_new(slot, settings, period, now, None))
        return outcomes

    def preview(self, *, now: datetime | None = None, since: datetime | None = None) -> Digest:
        """What the next digest would say (on its first channel), or everything matched since ``since``."""
        now = now or _now()
        channels = list(self.digest.channels.configured()) or ["preview"]
        # With ``since``, a channel name no channel has: nothing counts as sent.
        slot = Slot(self.digest.name, "digest", channels[0] if since is None else PREVIEW_CHANNEL)
        with self.db.session() as session:
            since = since or reach_of(self.digest, "digest", period_of(self.digest, now), now)
            items = select_new(session, digest=self.digest, slot=slot, since=since, titles=self._titles())
            content = compose(
                session,
                digest=self.digest,
                slot=slot,
                items=items,
                period=now,
                titles=self._titles(),
                preview=slot.channel == PREVIEW_CHANNEL,
                now=now,
            )
        return render(content)

    def _take_over_dead_leases(self, now: datetime) -> None:
        """Free this digest's deliveries that processes of this host were sending when they died (killed,
        crashed): they are sent again now, not once their lease runs out a quarter of an hour later."""
        host = instance.host_name()
        with self.db.session() as session:
            held = [
                lease
                for name in self.digest.names
                for lease in ledger.leases_held_on(session, digest=name, host=host, now=now)
            ]
            dead = instance.abandoned(held, host=host)
            for delivery_id in ledger.break_leases(session, leases=dead):
                owner = next(lease.owner for lease in dead if lease.row_id == delivery_id)
                log.warning("delivery id=%d taken over: its sender %s no longer runs", delivery_id, owner)

    def _record_accepted(self) -> None:
        """Record what a channel accepted while the database failed, once it answers again: the delivery
        stayed "sending" under this live process's lease, its articles held back from the next runs until
        the lease ran out (15 minutes), and then sent again, the same message twice."""
        for delivery_id, accepted in list(self._unrecorded.items()):
            if self._unrecorded.pop(delivery_id, None) is None:
                continue  # another digest's job of this process recorded it meanwhile
            try:
                with self.db.session() as session:
                    if accepted.recipients is not None:
                        record_unrecorded(session, delivery_id=delivery_id, unrecorded=accepted.recipients)
                    ledger.mark_delivered(
                        session,
                        delivery_id=delivery_id,
                        article_ids=accepted.article_ids,
                        now=_now(),
                        parts_sent=accepted.parts,
                    )
                    if accepted.whole:
                        ledger.finish(
                            session,
                            delivery_id=delivery_id,
                            status=ledger.SENT,
                            now=_now(),
                            message_id=accepted.message_id,
                        )
                    else:  # the rest goes at the next retry, now
                        ledger.fail(
                            session,
                            delivery_id=delivery_id,
                            error="the database failed while the delivery was recorded",
                            next_attempt_at=_now(),
                        )
            except Exception as error:  # noqa: BLE001 - the database away is kept for later; anything else said
                if unavailability(error) is not None:
                    self._unrecorded.setdefault(delivery_id, accepted)
                    return  # still away: the next run tries again
                # Not the database's state (the row is gone): said once, not raised at every run after.
                log.warning(
                    "delivery id=%d: what its channel accepted could not be recorded: %s", delivery_id, error
                )
                continue
            log.info(
                "delivery id=%d: what its channel accepted while the database failed is recorded%s",
                delivery_id,
                "" if accepted.whole else "; the rest goes now",
            )

    # --- one delivery ---------------------------------------------------------------------------------

    def _retries(self, slot: Slot, settings: Any, now: datetime) -> list[Outcome]:
        outcomes = []
        with self.db.session() as session:
            # Deliveries owed under the digest's earlier names (``renamed_from``) are retried by it too.
            due = [
                delivery_id
                for name in self.digest.names
                for delivery_id in ledger.due_retries(session, slot=replace(slot, digest=name), now=now)
            ]
        for delivery_id in due:
            with self.db.session() as session:
                claimed = ledger.claim_retry(
                    session,
                    delivery_id=delivery_id,
                    owner=self.owner,
                    now=now,
                    lease=self.lease,
                    holder=instance.current(),
                )
            if claimed is not None:
                log.info(
                    "digest %s: retrying %s on %s for %s (attempt %d)",
                    slot.digest,
                    slot.kind,
                    slot.channel,
                    claimed.period.isoformat(),
                    claimed.attempts + 1,
                )
                outcomes.append(
                    self._send(slot, settings, claimed.id, claimed.period, now, sent_as=claimed.message_id)
                )
        return outcomes

    def _deliver_new(
        self, slot: Slot, settings: Any, period: datetime, now: datetime, since: datetime | None
    ) -> Outcome:
        if since is None:
            since = reach_of(self.digest, slot.kind, period, now)
            if slot.kind == "digest":
                with self.db.session() as session:
                    last = ledger.latest_period(
                        session, slot=slot, before=period, earlier=self.digest.renamed_from
                    )
                # Runs missed between the last one made and this: back to it, within two reaches (a digest
                # turned off for months and on again reaches back as a first one does).
                # (The reach, a year of the schedule's runs, is read only when a run was missed.)
                if last is not None and last < since and period - last <= 2 * self.digest.reach():
                    since = min(since, last)
        if slot.kind == "alert":
            # Alerts look every minute and mostly find nothing: that writes no row (1,440 a day per channel).
            with self.db.session() as session:
                if not select_new(
                    session, digest=self.digest, slot=slot, since=since, titles=self._titles(), now=now
                ):
                    return Outcome(slot.digest, slot.kind, slot.channel, period, "empty")
            if self._before_alert is not None and self._before_alert_ran_for != period:
                self._before_alert_ran_for = period
                self._before_alert()
        with self.db.session() as session:
            claimed = ledger.claim_new(
                session,
                slot=slot,
                period=period,
                owner=self.owner,
                now=now,
                lease=self.lease,
                holder=instance.current(),
            )
        if claimed is None:
            log.info(
                "digest %s: %s on %s for %s is another instance's",
                slot.digest,
                slot.kind,
                slot.channel,
                period.isoformat(),
            )
            return Outcome(slot.digest, slot.kind, slot.channel, period, "taken")
        with self.db.session() as session:
            items = select_new(
                session, digest=self.digest, slot=slot, since=since, titles=self._titles(), now=now
            )
            if not items and slot.kind == "alert":
                # What the look above found went out with another delivery meanwhile: no row stays.
                ledger.release(session, delivery_id=claimed.id)
                return Outcome(slot.digest, slot.kind, slot.channel, period, "empty")
            if not items and not self.digest.send_empty:
                ledger.finish(session, delivery_id=claimed.id, status=ledger.EMPTY, now=now, message_id=None)
                return Outcome(slot.digest, slot.kind, slot.channel, period, "empty")
            ledger.add_items(session, delivery_id=claimed.id, items=items)
            if superseded := sum(
                ledger.supersede_failed(session, slot=replace(slot, digest=name), keep=claimed.id)
                for name in self.digest.names
            ):
                log.info(
                    "digest %s: %s on %s carried by this one",
                    slot.digest,
                    plural(superseded, "failed delivery", "failed deliveries"),
                    slot.channel,
                )
        return self._send(slot, settings, claimed.id, period, now)

    def _send(
        self,
        slot: Slot,
        settings: Any,
        delivery_id: int,
        period: datetime,
        now: datetime,
        *,
        sent_as: str | None = None,
    ) -> Outcome:
        """Send what the delivery has pending. ``sent_as``: the Message-ID of an earlier attempt that may
        have arrived; this one goes out under it too, so a repeat is recognisable as one."""
        with self.db.session() as session:
            # What another delivery on the channel sent meanwhile is not sent again: a failed alert and the
            # next digest both carried the articles the channel had not taken, and after the outage each
            # sent them once more.
            dropped = ledger.drop_carried_elsewhere(
                session,
                delivery_id=delivery_id,
                digest=slot.digest,
                channel=slot.channel,
                kinds=counted_kinds(slot),
            )
            if dropped:
                log.info(
                    "digest %s: %s on %s: %d articles went out in another delivery meanwhile, not sent again",
                    slot.digest,
                    slot.kind,
                    slot.channel,
                    dropped,
                )
            items = ledger.pending_items(session, delivery_id=delivery_id)
            # Nothing pending: everything went out before a crash (the row is only closed), or a digest with
            # nothing new that is sent all the same (``send_empty``: "nothing new", and who was not heard from),
            # or recipients the server put off are owed the message the others took (kept as it was).
            to_send = (
                bool(items)
                or ledger.message_kept(session, delivery_id=delivery_id) is not None
                or (
                    slot.kind == "digest"
                    and self.digest.send_empty
                    and ledger.never_sent_anything(session, delivery_id=delivery_id)
                )
            )
            content = compose(
                session,
                digest=self.digest,
                slot=slot,
                items=items,
                period=period,
                titles=self._titles(),
                now=now,
            )
        digest = render(content)
        domain = sender_domain(getattr(settings, "from_", "")) or "monitor.invalid"
        message_id = sent_as or stable_message_id(slot.digest, slot.kind, slot.channel, period, domain)
        parts = 0
        taken: list[int] = []

        def accepted(article_ids: Sequence[int]) -> None:
            nonlocal parts
            parts += 1
            taken.extend(article_ids)
            with self.db.session() as session:
                ledger.mark_delivered(
                    session, delivery_id=delivery_id, article_ids=article_ids, now=_now(), parts_sent=parts
                )

        attempt_began = time.monotonic()
        followed: LedgerRecipients | None = None
        try:
            if to_send:
                sender = make_sender(slot.channel, settings, **self.sender_options.get(slot.channel, {}))
                # A channel of several recipients (email) follows each in the ledger: a retry reaches only
                # those still owed the message.
                if getattr(sender, "addresses_recipients", False):
                    followed = LedgerRecipients(self.db, delivery_id)
                addressed = {"recipients": followed} if followed is not None else {}
                with _LeaseKeeper(self.db, delivery_id, owner=self.owner, lease=self.lease):
                    sender.send(digest, message_id=message_id, accepted=accepted, **addressed)
        except Exception as error:
            if unavailability(error) is not None:
                # The database, not the channel, failed (recording what the channel took): it is recorded
                # when the database answers again (``_record_accepted``); the caller logs the cause.
                if taken:
                    self._unrecorded[delivery_id] = _Accepted(
                        tuple(taken), parts, False, message_id, followed.unrecorded if followed else None
                    )
                raise
            if not isinstance(error, DeliveryError):
                log.exception("digest %s: %s sender failed", slot.digest, slot.channel)
            with self.db.session() as session:
                # An attempt that may have arrived keeps its Message-ID, and its items, for its retries.
                maybe_sent = getattr(error, "maybe_delivered", False)
                # From the attempt's end: a channel's waits (its 429s) may have taken minutes.
                retry_at = next_delivery_attempt(
                    now + timedelta(seconds=int(time.monotonic() - attempt_began)),
                    attempts=ledger.attempts_made(session, delivery_id=delivery_id) + 1,
                    retry_after=getattr(error, "retry_after", None),
                )
                ledger.fail(
                    session,
                    delivery_id=delivery_id,
                    error=str(error),
                    next_attempt_at=retry_at,
                    maybe_sent_as=message_id if maybe_sent else None,
                )
            log.warning(
                "digest %s: %s on %s failed (%s); retry at %s",
                slot.digest,
                slot.kind,
                slot.channel,
                error.one_line() if isinstance(error, MonitorError) else error,
                retry_at.isoformat(timespec="seconds"),
            )
            return Outcome(
                slot.digest,
                slot.kind,
                slot.channel,
                period,
                "failed",
                content.stories,
                len(content.article_ids),
                str(error),
                retry_at,
            )
        try:
            with self.db.session() as session:
                # Items a channel did not list in any message (none of ours do) count as delivered with it.
                ledger.mark_delivered(
                    session, delivery_id=delivery_id, article_ids=content.article_ids, now=_now()
                )
                ledger.finish(
                    session, delivery_id=delivery_id, status=ledger.SENT, now=_now(), message_id=message_id
                )
        except Exception as error:
            if unavailability(error) is not None and to_send:
                whole = _Accepted(tuple(content.article_ids), parts, True, message_id)
                self._unrecorded[delivery_id] = whole
            raise
        log.info(
            "digest %s: %s sent on %s: %s",
            slot.digest,
            slot.kind,
            slot.channel,
            plural(content.stories, "story", "stories"),
        )
        return Outcome(
            slot.digest, slot.kind, slot.channel, period, "sent", content.stories, len(content.article_ids)
        )


class _LeaseKeeper:
    """Renews a delivery's lease while its channel is sending, every third of the lease: a send that lasts
    longer than the lease (a Slack digest in several messages, each waiting out 429s) is the live sender's
    still, not taken for crashed by the retry job (or another instance) and sent a second time beside it."""

    def __init__(self, db: Database, delivery_id: int, *, owner: str, lease: timedelta) -> None:
        self.db, self.delivery_id, self.owner, self.lease = db, delivery_id, owner, lease
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._keep, name=f"lease-{delivery_id}", daemon=True)

    def __enter__(self) -> _LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._done.set()
        self._thread.join()

    def _keep(self) -> None:
        every = max(1.0, self.lease.total_seconds() / 3)
        while not self._done.wait(every):
            try:
                with self.db.session() as session:
                    held = ledger.renew_lease(
                        session, delivery_id=self.delivery_id, owner=self.owner, until=_now() + self.lease
                    )
            except Exception as error:  # noqa: BLE001 - the database away: tried again at the next turn
                log.debug("delivery id=%d: its lease was not renewed: %s", self.delivery_id, error)
                continue
            if not held:
                return


_UNRECORDED: dict[str, dict[int, _Accepted]] = {}
"""By database: what channels accepted that the database did not record (``DigestRunner._record_accepted``).
Digest jobs run in the scheduler's threads; a delivery is popped before it is recorded, so one job records it."""


class _Accepted(NamedTuple):
    """What a channel accepted of a delivery: its articles, the messages (parts) it took, whether that was
    the whole delivery, and the Message-ID it went under."""

    article_ids: tuple[int, ...]
    parts: int
    whole: bool
    message_id: str
    recipients: Unrecorded | None = None  # an email's: who took it, who was put off


def scheduled_jobs(
    digests: Sequence[DigestConfig],
    db: Database,
    *,
    owner: str,
    titles: Callable[[], Mapping[str, str]] | None = None,
    metrics: Metrics = NO_METRICS,
    before_digest: Callable[[], None] | None = None,
    rescheduled_at: Mapping[str, datetime] | None = None,
    stopping: threading.Event | None = None,
) -> list[tuple[str, Any, Any]]:
    """(job id, function, APScheduler trigger) for the daemon: each digest on its cron schedule in its
    time zone, each digest's alerts on their interval, and the retries of failed deliveries every minute.
    Every delivery's outcome is counted in ``metrics``. ``before_digest`` runs before each scheduled digest,
    and before an alert that has something to send
    (the daemon's regrouping of stories, so a digest shows them as they are grouped at that moment).
    ``rescheduled_at``: digest name -> when a reload changed its schedule or time zone. ``stopping``: set when
    the daemon stops; a channel's wait (Slack's 429s) ends then, and the rest of its delivery goes at the
    next start."""
    from apscheduler.triggers.interval import IntervalTrigger

    rescheduled_at = rescheduled_at or {}
    runners = [
        DigestRunner(
            db,
            digest,
            owner=owner,
            titles=titles,
            catch_up_from=rescheduled_at.get(digest.name),
            before_alert=before_digest,
            sender_options={"slack": {"sleep": stoppable_sleep(stopping)}} if stopping is not None else None,
        )
        for digest in digests
    ]
    jobs: list[tuple[str, Any, Any]] = []
    for runner in runners:
        jobs.append(
            (
                f"digest:{runner.digest.name}",
                partial(_guarded, partial(_run_scheduled, before=before_digest), runner, metrics),
                runner.digest.trigger(),
            )
        )
        if runner.digest.alerts is not None:
            every = runner.digest.alerts.every.total_seconds()
            jobs.append(
                (
                    f"alerts:{runner.digest.name}",
                    partial(_guarded, _run_alerts, runner, metrics),
                    IntervalTrigger(seconds=every, timezone=UTC),
                )
            )
    if runners:
        every_minute = IntervalTrigger(minutes=1, timezone=UTC)
        jobs.append(("digest-retries", partial(_retry_all, runners, metrics), every_minute))
    return jobs


def stoppable_sleep(stopping: threading.Event) -> Callable[[float], None]:
    """A channel's ``sleep`` that ends when ``stopping`` is set, failing the attempt: a daemon told to stop
    while Slack's 429s were waited out (minutes a message) logged "daemon stopped" and went on sending for
    minutes more, past its grace and a service manager's patience."""

    def sleep(seconds: float) -> None:
        if stopping.wait(seconds):
            raise DeliveryError(
                "the daemon stopped while the channel asked to wait; the rest goes at its next start"
            )

    return sleep


def renamed_digest_warnings(db: Database, digests: Sequence[DigestConfig]) -> list[str]:
    """A warning for each configured digest that has sent nothing while the ledger holds what digests no
    longer configured sent: a digest renamed without ``renamed_from`` sends again, as news, everything
    within its lookback that it sent under its old name."""
    with db.session() as session:
        in_ledger = ledger.digest_names(session)
    gone = sorted(in_ledger - {name for digest in digests for name in digest.names})
    if not gone:
        return []
    earlier = ", ".join(repr(name) for name in gone)
    return [
        f"digest {digest.name!r} has sent nothing yet, and the ledger holds what {earlier} sent, which is no "
        f"longer configured: if it is {digest.name!r} renamed, add 'renamed_from: [{gone[0]}]' to it, or it "
        "sends again what it sent within its lookback"
        for digest in digests
        if digest.name not in in_ledger
    ]


def topic_titles(watchlist: Any) -> dict[str, str]:
    """Topic name -> its title (``title:`` in the watchlist, else the name)."""
    return {topic.name: getattr(topic, "title", None) or topic.name for topic in watchlist.topics}


def _run_scheduled(runner: DigestRunner, *, before: Callable[[], None] | None = None) -> list[Outcome]:
    if before is not None:
        before()
    now = _now()
    return runner.run(period=period_of(runner.digest, now), now=now)


def _run_alerts(runner: DigestRunner) -> list[Outcome]:
    alerts = runner.digest.alerts
    if alerts is None:  # the job is scheduled only for a digest with alerts
        return []
    now = _now()
    return runner.run(kind="alert", period=alert_period(alerts.every, now), now=now)


def _retry_all(runners: Sequence[DigestRunner], metrics: Metrics) -> None:
    for runner in runners:
        _guarded(lambda r: r.retry_due(), runner, metrics)


def _guarded(job, runner: DigestRunner, metrics: Metrics) -> None:
    # A database hiccup or a bug must not take the schedule down; the ledger makes the next run whole.
    try:
        for outcome in job(runner):
            metrics.delivered(outcome)
    except Exception as exc:  # noqa: BLE001 - logged; the ledger keeps what is owed
        log_failure(
            log,
            f"digest {runner.digest.name}: scheduled run failed",
            "the next run or retry picks it up",
            cause=unavailability(exc),
        )


def _now() -> datetime:
    return datetime.now(UTC)
