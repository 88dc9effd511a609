"""WebSub (W3C Recommendation, formerly PubSubHubbub): feeds that name a hub push their updates to us.

After a successful poll of a feed that names a hub (``<link rel="hub">`` or a ``Link: rel=hub`` header),
the daemon asks the hub for a subscription to the feed's topic (its ``rel=self`` address), with a callback
``<settings.websub.callback_url>/<token>`` and a secret of its own. The hub verifies the request by a GET to
the callback that we answer only for a request we made; from then on it POSTs new content there, signed with
the secret (``X-Hub-Signature``); content whose signature does not match is ignored. Verified content is
processed as a poll of the feed. Subscriptions are renewed at a poll once half their lease has run, and the
feed is still polled, at ``websub.fallback_interval``: pushes can be lost and hubs can fail. A poll that finds
entries the hub did not push puts the feed back on its own rhythm until the hub pushes again.

The hub is a link found in a feed: it is reached only where the feed's own links may go
(monitor.ingest.addressguard), like an article page.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import httpx

from monitor.config import WebSubSettings
from monitor.ingest.addressguard import Reach
from monitor.ingest.feeditems import ParsedFeed
from monitor.ingest.fetch import Fetcher, FetchResult
from monitor.store import websub as websub_store
from monitor.store.db import Database

log = logging.getLogger(__name__)

SIGNATURE_METHODS = {
    "sha1": hashlib.sha1,
    "sha256": hashlib.sha256,
    "sha384": hashlib.sha384,
    "sha512": hashlib.sha512,
}
MIN_LEASE = timedelta(minutes=5)  # a hub granting less would have us renew at every poll
RETRY_PENDING_AFTER = timedelta(hours=1)  # a hub that never verified: ask again after this
RETRY_DENIED_AFTER = timedelta(days=1)  # a hub that refused or failed: ask again after this
MAX_PUSH_BYTES_DEFAULT = 10_000_000
VERIFIED_AGAIN_WITHIN = timedelta(minutes=10)  # after a request: a hub verifying it again, our answer lost
LEASE_CLOCK_SLACK = timedelta(minutes=5)  # pushes taken this long past a lease's end: the hub's clock may lag
REPLAYS_REMEMBERED_FOR = timedelta(days=1)  # the same content pushed again within this long is ignored
REPLAYS_REMEMBERED_AT_MOST = 10_000  # pushes remembered: a bound on memory, whatever the hubs send


def discover(parsed: ParsedFeed, result: FetchResult) -> tuple[str, str] | None:
    """The (hub, topic) a fetched feed names, or None. HTTP Link headers come first, as the spec says."""
    header = result.headers.get("link", "")
    links = httpx.Response(200, headers={"link": header}).links if header else {}
    base = result.final_url

    def linked(rel: str) -> str | None:
        href = links.get(rel, {}).get("url")
        if not href:
            return None
        try:
            joined = httpx.URL(base).join(href)
        except (httpx.InvalidURL, ValueError):
            return None
        return str(joined) if joined.scheme in ("http", "https") else None

    hub = linked("hub") or parsed.hub
    topic = linked("self") or parsed.self_url or result.final_url
    return (hub, topic) if hub else None


def signature_matches(secret: str, body: bytes, header: str | None) -> bool:
    """Whether ``X-Hub-Signature`` (``method=hexdigest``) is the HMAC of ``body`` under ``secret``."""
    if not header or "=" not in header:
        return False
    method, _, signature = header.strip().partition("=")
    digest = SIGNATURE_METHODS.get(method.strip().lower())
    if digest is None:
        return False
    expected = hmac.new(secret.encode(), body, digest).hexdigest()
    return hmac.compare_digest(expected, signature.strip().lower())


def needs_request(existing: websub_store.Subscription | None, hub: str, topic: str, now: datetime) -> bool:
    """Whether to ask the hub (again): no subscription, another hub or topic, or half the lease gone."""
    if existing is None or existing.hub != hub or existing.topic != topic:
        return True
    if existing.state == websub_store.ACTIVE:
        return existing.lease_until is None or now >= renewal_due(existing)
    if existing.state == websub_store.PENDING:
        return now >= existing.requested_at + RETRY_PENDING_AFTER
    return now >= existing.requested_at + RETRY_DENIED_AFTER


def wanted(subscription: websub_store.Subscription) -> bool:
    """Whether the subscription's feed still wants pushes: it is configured, and read as a feed (sitemaps and
    pages name no hub, monitor.pipeline subscribes only feeds)."""
    return subscription.feed_enabled and subscription.feed_kind == "rss"


def awaits_verification(subscription: websub_store.Subscription, now: datetime) -> bool:
    """Whether a hub's verification of intent answers a request of ours: the feed still wants pushes and
    its subscription was asked for and not verified since, or asked for moments ago (a hub that did not get
    our answer verifies again). Counted from the request, not the last verification: repeated verifications
    must not keep stretching a lease that no request of ours renewed."""
    if not wanted(subscription):
        return False
    verified_at = subscription.verified_at
    return (
        verified_at is None
        or verified_at < subscription.requested_at
        or now - subscription.requested_at <= VERIFIED_AGAIN_WITHIN
    )


def takes_pushes(subscription: websub_store.Subscription, now: datetime) -> bool:
    """Whether what its hub pushes is looked at: the feed still wants pushes, the subscription was not denied,
    and its lease, if the hub granted one, has not run out (give or take the hub's clock)."""
    return (
        wanted(subscription)
        and subscription.state in (websub_store.ACTIVE, websub_store.PENDING)
        and (subscription.lease_until is None or now <= subscription.lease_until + LEASE_CLOCK_SLACK)
    )


def renewal_due(subscription: websub_store.Subscription) -> datetime:
    """Halfway through the lease the hub granted: room for a renewal to fail and be tried again."""
    assert subscription.lease_until is not None
    return subscription.requested_at + (subscription.lease_until - subscription.requested_at) / 2


@dataclass(frozen=True)
class Answer:
    """What the listener answers a hub: status, body and its media type."""

    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"


class Subscriber:
    """Asks hubs for subscriptions and answers them; the daemon's listener hands it the hubs' requests.

    Args:
        settings: ``settings.websub``.
        db: the store; the listener's threads read and write subscriptions through it.
        accept: called (in the listener's thread) with a subscription and the content its hub pushed, once
            the signature matched; it hands the content to the event loop to be processed as a poll.
        clock: the time now, aware UTC.
    """

    def __init__(
        self,
        settings: WebSubSettings,
        db: Database,
        *,
        accept: Callable[[websub_store.Subscription, bytes, Mapping[str, str]], None] | None = None,
        clock: Callable[[], datetime],
        max_push_bytes: int = MAX_PUSH_BYTES_DEFAULT,
    ) -> None:
        assert settings.callback_url is not None
        self.settings, self.db, self.accept, self.clock = settings, db, accept, clock
        self.max_push_bytes = max_push_bytes
        self._recent_pushes = RecentPushes()

    def callback_for(self, token: str) -> str:
        return f"{self.settings.callback_url}/{token}"

    async def after_poll(
        self,
        fetcher: Fetcher,
        *,
        feed_id: int,
        feed_name: str,
        parsed: ParsedFeed | None,
        result: FetchResult,
        reach: Reach | None,
    ) -> None:
        """Subscribe (or renew) when the feed names a hub and it is time to ask.

        ``parsed`` is None when the feed did not change (304): its subscription, if any, is renewed as it is.
        ``reach`` is how far the feed's links may go; None: looked up only if the hub is to be asked (most
        polls ask nothing, and a 304 has not looked it up).
        """
        asked = await asyncio.to_thread(self._record_request, feed_id, parsed, result)
        if asked is None:
            return
        hub, form = asked
        if reach is None:
            reach = await fetcher.links_reach(result)
        answer = await fetcher.post_form(hub, form, reach=reach)
        if answer.failure is not None:
            reason = f"subscribing at hub {hub} failed: {answer.failure.message}"
            log.warning("websub: feed=%s %s", feed_name, reason, extra={"feed": feed_name, "url": hub})
            await asyncio.to_thread(self._record_failure, feed_id, reason[:2000])
            return
        log.info(
            "websub: feed=%s subscription asked of hub %s for %s",
            feed_name,
            hub,
            form["hub.topic"],
            extra={"feed": feed_name, "url": hub},
        )

    def _record_request(
        self, feed_id: int, parsed: ParsedFeed | None, result: FetchResult
    ) -> tuple[str, dict[str, str]] | None:
        """The hub and the form to send it, recorded as pending first (the hub may verify before it answers
        our request); None when there is nothing to ask."""
        now = self.clock()
        with self.db.session() as session:
            existing = websub_store.of_feed(session, feed_id)
            if parsed is not None:
                found = discover(parsed, result)
            elif existing is not None and existing.state == websub_store.ACTIVE:
                found = existing.hub, existing.topic
            else:
                found = None
            if found is None:
                if parsed is not None and existing is not None:
                    # The feed names no hub any more (its hub link was taken out, or its address changed to
                    # one without): what a hub pushes under the old token is no news of this feed now.
                    websub_store.forget(session, feed_id=feed_id)
                    log.info(
                        "websub: feed=%s names no hub any more: its subscription at %s is dropped",
                        existing.feed_name,
                        existing.hub,
                        extra={"feed": existing.feed_name, "url": existing.hub},
                    )
                return None
            hub, topic = found
            # The callback moved (settings.websub.callback_url changed): the hub pushes where the daemon may
            # no longer be reached, so it is told at once, not at the renewal, days away.
            # (None: asked before the callback was kept, at the one configured then: not asked again for it; a
            # request failing then would have ended a subscription that worked.)
            moved = (
                existing is not None
                and existing.callback is not None
                and existing.callback != self.callback_for(existing.token)
            )
            if not moved and not needs_request(existing, hub, topic, now):
                return None
            if existing is not None and (existing.hub, existing.topic) == (hub, topic):
                # A renewal: the same callback and secret, so the hub extends the subscription it has.
                token, secret = existing.token, existing.secret
            else:
                token, secret = secrets.token_urlsafe(24), secrets.token_hex(32)
            websub_store.request(
                session,
                feed_id=feed_id,
                hub=hub,
                topic=topic,
                token=token,
                secret=secret,
                now=now,
                callback=self.callback_for(token),
            )
        return hub, {
            "hub.mode": "subscribe",
            "hub.topic": topic,
            "hub.callback": self.callback_for(token),
            "hub.secret": secret,
            "hub.lease_seconds": str(int(self.settings.lease.total_seconds())),
        }

    def _record_failure(self, feed_id: int, reason: str) -> None:
        with self.db.session() as session:
            websub_store.failed(session, feed_id=feed_id, error=reason)

    def next_poll(
        self,
        feed_id: int,
        now: datetime,
        planned: datetime,
        *,
        found: int = 0,
        since: datetime | None = None,
        began: datetime | None = None,
    ) -> datetime:
        """When to poll a feed next whose poll planned ``planned``: while its hub pushes, at the fallback
        interval (or later, if the feed's own rhythm says so), but no later than the renewal of its
        subscription, which a poll makes.

        ``found`` is how many entries the poll found that were not stored before, ``since`` when the feed's
        previous poll succeeded. Entries found by a poll after one made while the subscription was already
        verified are entries the hub did not push: a hub that stopped pushing (a publisher that no longer
        pings it, a hub that dropped the subscription) would otherwise leave the feed's news waiting for the
        fallback, hours. They are recorded on the subscription (``missed``), and such a feed is polled at its
        own rhythm until the hub pushes again. A push that came while the poll ran (it ``began`` then) clears
        the hub: what the poll found came by push as well. The fallback starts only from a poll that can judge
        the hub so: one whose previous poll was made under the verified subscription.
        """
        with self.db.session() as session:
            subscription = websub_store.of_feed(session, feed_id)
            if (
                subscription is None
                or subscription.state != websub_store.ACTIVE
                or subscription.lease_until is None
                or subscription.lease_until <= now
            ):
                return planned
            covered = (
                since is not None
                and subscription.verified_at is not None
                and subscription.verified_at <= since
            )
            pushing = (
                began is not None
                and subscription.last_push_at is not None
                and subscription.last_push_at >= began
            )
            if found and covered and not pushing:
                websub_store.missed(session, feed_id=feed_id, entries=found, now=now)
                if subscription.trusted:
                    log.warning(
                        "websub: feed=%s: a poll found %d new entries that its hub %s had not pushed; "
                        "polling the feed at its own rhythm until the hub pushes again",
                        subscription.feed_name,
                        found,
                        subscription.hub,
                        extra={"feed": subscription.feed_name, "url": subscription.hub},
                    )
                subscription = replace(subscription, missed_at=now)
        # Renewals are made by polls: the one due comes first, however quiet the feed (and never in a rush).
        renewal = max(renewal_due(subscription), now + MIN_LEASE)
        if not subscription.trusted or not covered:
            # Not covered: the hub verified after the previous poll (hubs verify after they answer the
            # request, and again at each renewal), so what this poll found says nothing of the hub. The next
            # poll, at the feed's own rhythm, will: a hub that never pushes must not hold a new
            # subscription's news for the whole fallback before a poll can tell.
            return min(planned, renewal)
        fallback = max(planned, now + self.settings.fallback_interval)
        return max(min(fallback, renewal_due(subscription)), now + MIN_LEASE)

    # --- the hub's requests, answered from the listener's threads ---------------------------------------

    def verify(self, token: str, query: Mapping[str, str]) -> Answer:
        """The hub's GET: confirm a subscription we asked for (echo the challenge), or take a denial."""
        mode = query.get("hub.mode", "")
        with self.db.session() as session:
            subscription = websub_store.by_token(session, token)
            if subscription is None or query.get("hub.topic") != subscription.topic:
                return Answer(404, b"no such subscription\n")
            if mode == "denied":
                reason = query.get("hub.reason", "")[:500]
                websub_store.denied(
                    session,
                    token=token,
                    error=f"hub denied the subscription: {reason}"
                    if reason
                    else "hub denied the subscription",
                    now=self.clock(),
                )
                log.warning(
                    "websub: feed=%s hub denied the subscription %s",
                    subscription.feed_name,
                    reason,
                    extra={"feed": subscription.feed_name, "url": subscription.hub},
                )
                return Answer(200, b"ok\n")
            challenge = query.get("hub.challenge", "")
            now = self.clock()
            if mode != "subscribe" or not challenge or not awaits_verification(subscription, now):
                # We never ask to unsubscribe. Anyone who learnt the callback can send a verification: only
                # one of a request we made is confirmed, lest it stretch a lease (and put off the renewal) or
                # revive a subscription the feed no longer wants.
                return Answer(404, b"not a request of ours\n")
            lease = _lease(query.get("hub.lease_seconds"), self.settings.lease)
            # The poll that asked was scheduled before the hub said how long the lease is: one shorter than the
            # feed's interval would run out before the poll that renews it. That poll comes at half the lease.
            renewal = renewal_due(replace(subscription, lease_until=now + lease))
            websub_store.verified(
                session, token=token, lease_until=now + lease, now=now, poll_by=max(renewal, now)
            )
        log.info(
            "websub: feed=%s subscription verified by %s for %s",
            subscription.feed_name,
            subscription.hub,
            _describe(lease),
            extra={"feed": subscription.feed_name, "url": subscription.hub},
        )
        return Answer(200, challenge.encode())

    def takes_pushes(self, token: str) -> bool:
        """Whether content pushed to ``token`` would be looked at: asked before its body is read."""
        return self._taking_pushes(token, self.clock()) is not None

    def push(self, token: str, headers: Mapping[str, str], body: bytes) -> Answer:
        """The hub's POST of new content: processed when signed with our secret, ignored otherwise.

        A 2xx either way, as the spec says, so a forger learns nothing. A token we do not know, of a feed no
        longer configured or of a lease that ran out unrenewed, is a 410, which tells a hub to stop sending.
        The same content pushed again (a hub retrying, or someone replaying what they overheard) is taken
        once.
        """
        now = self.clock()
        subscription = self._taking_pushes(token, now)
        if subscription is None:
            return Answer(410, b"no such subscription\n")
        if not signature_matches(subscription.secret, body, headers.get("x-hub-signature")):
            log.warning(
                "websub: feed=%s content pushed without a valid signature, ignored",
                subscription.feed_name,
                extra={"feed": subscription.feed_name},
            )
            return Answer(202, b"ignored\n")
        if not self._recent_pushes.first(token, body, now):
            log.info(
                "websub: feed=%s the same content pushed again, ignored",
                subscription.feed_name,
                extra={"feed": subscription.feed_name},
            )
            return Answer(202, b"ignored\n")
        try:
            with self.db.session() as session:
                websub_store.pushed(session, token=token, now=now)
            if self.accept is not None:
                self.accept(subscription, body, headers)
        except BaseException:
            # Not taken (the database away): the hub, answered no 2xx, sends it again, and that is no replay.
            self._recent_pushes.forget(token, body)
            raise
        return Answer(202, b"accepted\n")

    def _taking_pushes(self, token: str, now: datetime) -> websub_store.Subscription | None:
        """The subscription of ``token`` if what its hub pushes is looked at, else None (a 410)."""
        with self.db.session() as session:
            subscription = websub_store.by_token(session, token)
            if subscription is not None and not wanted(subscription):
                # The hub is told to stop, and may drop the subscription: forgotten here too, so that the feed,
                # configured again, subscribes anew rather than wait for pushes that will not come.
                websub_store.forget(session, feed_id=subscription.feed_id)
                log.info(
                    "websub: feed=%s is no longer configured as a feed: its hub %s is told its subscription "
                    "is gone",
                    subscription.feed_name,
                    subscription.hub,
                    extra={"feed": subscription.feed_name, "url": subscription.hub},
                )
        return subscription if subscription is not None and takes_pushes(subscription, now) else None


class RecentPushes:
    """The digests of the content pushed lately to each callback, to take each content once: a signature
    proves who signed, not when, so a push overheard once could be sent again at will."""

    def __init__(self) -> None:
        self._seen: OrderedDict[tuple[str, bytes], datetime] = OrderedDict()
        self._lock = threading.Lock()  # the listener's threads share it

    def first(self, token: str, body: bytes, now: datetime) -> bool:
        """Whether ``body`` is new to ``token`` within REPLAYS_REMEMBERED_FOR; remembered either way."""
        key = (token, hashlib.sha256(body).digest())
        with self._lock:
            while self._seen and (
                len(self._seen) >= REPLAYS_REMEMBERED_AT_MOST
                or next(iter(self._seen.values())) < now - REPLAYS_REMEMBERED_FOR
            ):
                self._seen.popitem(last=False)
            seen = self._seen.pop(key, None)
            self._seen[key] = now
        return seen is None

    def forget(self, token: str, body: bytes) -> None:
        """``body`` was not taken after all: sent to ``token`` again, it is new."""
        with self._lock:
            self._seen.pop((token, hashlib.sha256(body).digest()), None)


def token_of(path: str) -> str | None:
    """The token of a callback path ``/websub/<token>``; None for any other path."""
    prefix, _, token = urlsplit(path).path.rstrip("/").rpartition("/")
    if (
        prefix != "/websub"
        or not token
        or len(token) > 64
        or not token.replace("-", "").replace("_", "").isalnum()
    ):
        return None
    return token


def _lease(value: str | None, asked: timedelta) -> timedelta:
    """The lease the hub granted (``hub.lease_seconds``), or the one we asked for when it says none.

    Never longer than the one we asked for: a longer one (absurd, or forged by whoever learnt the callback)
    would put the renewal off, while one taken shorter than granted only renews a little early."""
    try:
        granted = timedelta(seconds=int(value)) if value is not None else asked
    except (ValueError, OverflowError):
        granted = asked
    return min(max(granted, MIN_LEASE), max(asked, MIN_LEASE))


def _describe(lease: timedelta) -> str:
    return f"{lease.total_seconds() / 86400:.1f} days" if lease >= timedelta(days=1) else f"{lease}"
