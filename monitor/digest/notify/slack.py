"""Slack: the digest's Block Kit messages POSTed one by one to an incoming webhook.

Each message the webhook accepts is reported at once, so when a digest split in three fails on the second,
the first counts as delivered and the retry carries only the rest. A 429 is waited out when its
Retry-After is short (``max_retry_after``); longer, the attempt fails and the ledger's back-off takes over.
"""

from __future__ import annotations

import logging
import math
import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from monitor.digest.notify import Accepted, DeliveryError, register_channel
from monitor.digest.notify.render import Digest
from monitor.digest.notify.settings import SlackChannel

log = logging.getLogger(__name__)
MAX_429_WAITS = 3  # per message
MAX_RETRY_AFTER = 86_400.0  # seconds
# As for webhooks: failures once the request was written (no answer read, or the connection closed).
UNANSWERED = (httpx.ReadTimeout, httpx.ReadError, httpx.RemoteProtocolError)


def retry_after_seconds(value: str | None, default: float = 1.0, *, now: datetime | None = None) -> float:
    """Seconds from a Retry-After header: whole seconds (as Slack sends them) or an HTTP date (as a proxy
    or a Slack-compatible server may); ``default`` when absent or unreadable."""
    if value is None:
        return default
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value.strip())
        except (TypeError, ValueError, IndexError, OverflowError):
            return default
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if math.isnan(seconds):
        return default
    # At most a day (``next_delivery_attempt`` holds no delivery longer): "99999999999" is no wish to honour.
    return max(0.0, min(seconds, MAX_RETRY_AFTER))


class SlackSender:
    name = "slack"

    def __init__(self, settings: SlackChannel, *, sleep=time.sleep, **_options: object) -> None:
        self.settings = settings
        self.sleep = sleep

    def send(self, digest: Digest, *, message_id: str, accepted: Accepted) -> None:
        with httpx.Client(timeout=self.settings.timeout.total_seconds(), follow_redirects=False) as client:
            for number, message in enumerate(digest.slack):
                self._post(client, message.payload, f"{number + 1}/{len(digest.slack)}")
                accepted(message.article_ids)

    def _post(self, client: httpx.Client, payload, part: str) -> None:
        # The webhook URL is a secret: it appears in no message or log line.
        wait: float | None = None
        for _ in range(MAX_429_WAITS + 1):
            try:
                response = client.post(self.settings.webhook_url, json=payload)
            except UNANSWERED as error:
                # Posted, and no answer came: Slack may have shown it. The delivery is unconfirmed, so no
                # later digest carries its articles; its retry posts the message again, and Slack cannot
                # tell a repeat (a webhook has no idempotency key).
                raise DeliveryError(
                    f"Slack did not answer message {part} ({type(error).__name__}: {error}): it may have "
                    "been posted",
                    maybe_delivered=True,
                ) from None
            except httpx.HTTPError as error:
                raise DeliveryError(f"Slack webhook unreachable ({type(error).__name__}: {error})") from None
            if response.status_code == 429:
                wait = retry_after_seconds(response.headers.get("Retry-After"))
                if wait > self.settings.max_retry_after.total_seconds():
                    raise DeliveryError(
                        f"Slack rate-limited message {part} for {wait:.0f}s", retry_after=wait
                    )
                log.info("Slack rate-limited message %s; waiting %.0fs as asked", part, wait)
                self.sleep(wait)
                continue
            if response.is_success:
                return
            if response.is_redirect:
                # Not followed: the message would go where the answer says, and the address is not shown (a
                # webhook's address is a secret, and so may be where it points).
                raise DeliveryError(
                    f"Slack answered {response.status_code} to message {part}: the webhook URL redirects",
                    hint="copy the webhook URL anew from the Slack app's settings (Incoming Webhooks)",
                )
            raise DeliveryError(
                f"Slack answered {response.status_code} to message {part}: {response.text[:200]!r}"
            )
        # The ledger's retry waits at least as long as Slack last asked.
        raise DeliveryError(f"Slack kept rate-limiting message {part}", retry_after=wait)


register_channel("slack", SlackSender, SlackChannel)
