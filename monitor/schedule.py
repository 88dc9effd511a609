"""When to poll a feed next: pure arithmetic on intervals, server hints and failures."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

MAX_TTL = timedelta(hours=24)


def next_poll_after_success(
    now: datetime,
    *,
    interval: timedelta,
    ttl: timedelta | None = None,
    retry_after: timedelta | None = None,
) -> datetime:
    """As miniflux does: the longest of the configured interval, the feed's TTL (capped) and Retry-After."""
    waits = [interval]
    if ttl is not None:
        waits.append(min(ttl, MAX_TTL))
    if retry_after is not None:
        waits.append(retry_after)
    return now + max(waits)


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


def next_page_retry(now: datetime, *, attempts: int, retry_after: timedelta | None = None) -> datetime | None:
    """When to fetch a failed page again after ``attempts`` failures (0: the first fetch failed), or None
    when it has been tried enough. A server's Retry-After, if longer, wins."""
    if attempts >= len(PAGE_RETRY_DELAYS):
        return None
    wait = PAGE_RETRY_DELAYS[attempts]
    return now + max(wait, retry_after) if retry_after else now + wait
