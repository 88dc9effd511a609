"""Webhook: the digest as JSON, POSTed to a URL; any 2xx answer is acceptance."""

from __future__ import annotations

import httpx

from monitor.digest.notify import Accepted, DeliveryError, register_channel
from monitor.digest.notify.render import Digest
from monitor.digest.notify.settings import WebhookChannel
from monitor.digest.notify.slack import retry_after_seconds

# Failures once the request was written: reading the answer timed out, failed, or the connection closed.
_UNANSWERED = (httpx.ReadTimeout, httpx.ReadError, httpx.RemoteProtocolError)


class WebhookSender:
    name = "webhook"

    def __init__(self, settings: WebhookChannel, **_options: object) -> None:
        self.settings = settings

    def send(self, digest: Digest, *, message_id: str, accepted: Accepted) -> None:
        # The id lets the receiver drop a repeat (the at-most-one repeat after a crash).
        body = {"id": message_id.strip("<>"), **digest.json}
        headers = {"Idempotency-Key": message_id.strip("<>"), **self.settings.headers}
        try:
            with httpx.Client(timeout=self.settings.timeout.total_seconds()) as client:
                response = client.post(self.settings.url, json=body, headers=headers)
        except _UNANSWERED as error:
            # The request went out and no answer came: the receiver may have taken it, so the retry must
            # carry the same id (``DeliveryError.maybe_delivered``).
            raise DeliveryError(
                f"webhook did not answer ({type(error).__name__}: {error}): it may have received the digest",
                maybe_delivered=True,
            ) from None
        except httpx.HTTPError as error:
            raise DeliveryError(f"webhook unreachable ({type(error).__name__}: {error})") from None
        if not response.is_success:
            # A receiver asking for time (429, 503 with Retry-After) gets it: the ledger's retry waits as long.
            asked = response.headers.get("Retry-After")
            raise DeliveryError(
                f"webhook answered {response.status_code}",
                retry_after=retry_after_seconds(asked, default=0.0) if asked else None,
            )
        accepted(digest.content.article_ids)


register_channel("webhook", WebhookSender, WebhookChannel)
