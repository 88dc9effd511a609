"""Notification channels: one interface, and a registry that built-ins and plugins join the same way.

    render.py        DigestContent -> Digest (HTML, text, Slack blocks, JSON); pure
    slack_blocks.py  the Slack form, split to Slack's limits; pure
    email.py         SMTP (STARTTLS, implicit TLS or plain), one multipart/alternative message
    slack.py         Slack incoming webhook, message by message, honouring 429 Retry-After
    webhook.py       the digest's JSON, POSTed to a URL
    settings.py      the ``digests:`` section of feeds.yaml

A channel is a name (its key under a digest's ``channels:``), a settings model (a ``ChannelSettings``, which
validates that key's section of feeds.yaml) and a factory ``(settings, *, domain) -> Sender``. The built-ins
register through ``register_channel``, as a plugin does: a plugin module listed under the
``monitor.channels`` entry point group is imported when the channels are first asked for, and calls
``register_channel`` when imported; its channel is then configured in feeds.yaml like a built-in one.

Errors::

    MonitorError
     └── DeliveryError     the channel did not accept (all of) the digest, or not for every recipient;
                           ``accepted`` messages went out
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import import_module
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel

from monitor.errors import MonitorError

if TYPE_CHECKING:  # rendering (Jinja) is loaded by what renders, not by every reader of the configuration
    from monitor.digest.notify.render import Digest

log = logging.getLogger(__name__)

# Called with the article ids of each message the channel accepted, at once: a later failure must not
# undo what already went out.
Accepted = Callable[[tuple[int, ...]], None]


@dataclass(frozen=True)
class Refusal:
    """A recipient the channel refused, with what its server said ("452 4.2.2 mailbox busy"); ``permanent``
    (a 5xx): not tried again for this delivery once another recipient took it."""

    address: str
    reply: str
    permanent: bool


class Recipients(Protocol):
    """What a delivery knows of its recipients, for a channel that sends one message to several (email):
    a retry sends only to those still owed it, and the accepted ones never get it twice."""

    def owed(self, addresses: Sequence[str]) -> tuple[str, ...]:
        """Of ``addresses``, those still owed the message: every one until one took it, then those put off
        for now (not those refused for good)."""
        ...

    def kept(self) -> bytes | None:
        """The message the first recipients took, kept for those put off; None when there is none."""
        ...

    def record(self, *, accepted: Sequence[str], refused: Sequence[Refusal], message: bytes) -> None:
        """Note who took ``message`` and who refused it; raises when it cannot (the caller then fails)."""
        ...


class DeliveryError(MonitorError):
    """The channel refused or could not be reached; ``retry_after`` is the channel's own wish, if any.

    ``maybe_delivered``: the message went out but its answer never came (the connection dropped after SMTP
    DATA): it may have arrived, so its retry must carry the same Message-ID / Idempotency-Key.
    """

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        hint: str | None = None,
        maybe_delivered: bool = False,
    ) -> None:
        super().__init__(message, hint=hint)
        self.retry_after = retry_after
        self.maybe_delivered = maybe_delivered


class Sender(Protocol):
    name: str

    def send(self, digest: Digest, *, message_id: str, accepted: Accepted) -> None:
        """Send ``digest``; call ``accepted`` after each message the channel took. Raises DeliveryError.

        A retry renders only what was not accepted yet, so a sender never needs to skip anything. A sender
        whose class sets ``addresses_recipients = True`` is also given ``recipients=`` (a ``Recipients``)."""


ChannelFactory = Callable[..., Sender]


@dataclass(frozen=True)
class Channel:
    """A registered channel: its key under ``channels:``, the model of its settings, its sender factory."""

    name: str
    settings: type[BaseModel]
    factory: ChannelFactory


_CHANNELS: dict[str, Channel] = {}
_BUILT_INS = ("monitor.digest.notify.email", "monitor.digest.notify.slack", "monitor.digest.notify.webhook")
ENTRY_POINT_GROUP = "monitor.channels"
_loaded = False


def register_channel(name: str, factory: ChannelFactory, settings: type[BaseModel]) -> None:
    """Make ``name`` a key under a digest's ``channels:``, validated by ``settings`` (a ChannelSettings
    model) and sending through ``factory(settings, **options)``."""
    _CHANNELS[name] = Channel(name, settings, factory)


def channels() -> dict[str, Channel]:
    """Every registered channel: the built-ins, then plugins from the ``monitor.channels`` entry points."""
    global _loaded
    if not _loaded:
        _loaded = True  # first, so that a plugin asking for the channels while it loads does not load twice
        for module in _BUILT_INS:
            import_module(module)
        for point in entry_points(group=ENTRY_POINT_GROUP):
            try:
                point.load()
            except Exception:
                log.exception("channel plugin %s could not be loaded", point.name)
    return dict(_CHANNELS)


def channel_factories() -> dict[str, ChannelFactory]:
    """Every registered channel's sender factory, by name."""
    return {name: channel.factory for name, channel in channels().items()}


def make_sender(name: str, settings: Any, **options: Any) -> Sender:
    """The sender of channel ``name``, configured by ``settings``."""
    factories = channel_factories()
    if name not in factories:
        raise MonitorError(f"no channel called {name!r}", hint=f"known: {', '.join(sorted(factories))}")
    return factories[name](settings, **options)
