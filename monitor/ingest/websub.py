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
                return None
            hub, topic = found
            if not needs_request(existing, hub, topic, now):
                return None
            if existing is not None and (existing.hub, existing.topic) == (hub, topic):
                # A renewal: the same callback and secret, so the hub extends the subscription it has.
                token, secret = existing.token, existing.secret
            else:
                token, secret = secrets.token_urlsafe(24), secrets.token_hex(32)
            websub_store.request(
                session, feed_id=feed_id, hub=hub, topic=topic, token=token, secret=secret, now=now
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
                websub_store.set_state(
                    session,
                    token=token,
                    state=websub_store.DENIED,
                    error=f"hub denied the subscription: {reason}"
                    if reason
                    else "hub denied the subscription",
                )
                log.warning(
                    "websub: feed=%s hub denied the subscription %s",
                    subscription.feed_name,
                    reason,
                    extra={"feed": subscription.feed_name, "url": subscription.hub},
                )
                return Answer(200, b"ok\n")
            challenge = query.get("hub.challenge", "")
            if mode != "subscribe" or not challenge:
                # We never ask to unsubscribe: a lease we no longer want simply runs out.
                return Answer(404, b"not a request of ours\n")
            lease = _lease(query.get("hub.lease_seconds"), self.settings.lease)
            now = self.clock()
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
        with self.db.session() as session:
            subscription = websub_store.by_token(session, token)
        return subscription is not None and subscription.state in (websub_store.ACTIVE, websub_store.PENDING)

    def push(self, token: str, headers: Mapping[str, str], body: bytes) -> Answer:
        """The hub's POST of new content: processed when signed with our secret, ignored otherwise.

        A 2xx either way, as the spec says, so a forger learns nothing; a token we do not know is a 410,
        which tells a hub to stop sending.
        """
        with self.db.session() as session:
            subscription = websub_store.by_token(session, token)
        if subscription is None or subscription.state not in (websub_store.ACTIVE, websub_store.PENDING):
            return Answer(410, b"no such subscription\n")
        if not signature_matches(subscription.secret, body, headers.get("x-hub-signature")):
            log.warning(
                "websub: feed=%s content pushed without a valid signature, ignored",
                subscription.feed_name,
                extra={"feed": subscription.feed_name},
            )
            return Answer(202, b"ignored\n")
        with self.db.session() as session:
            websub_store.pushed(session, token=token, now=self.clock())
        if self.accept is not None:
            self.accept(subscription, body, headers)
        return Answer(202, b"accepted\n")


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
    """The lease the hub granted (``hub.lease_seconds``), or the one we asked for when it says none."""
    try:
        granted = timedelta(seconds=int(value)) if value is not None else asked
    except (ValueError, OverflowError):
        granted = asked
    return min(max(granted, MIN_LEASE), timedelta(days=365))


def _describe(lease: timedelta) -> str:
    return f"{lease.total_seconds() / 86400:.1f} days" if lease >= timedelta(days=1) else f"{lease}"
