"""Which digest channels will send and which will be skipped, and why: what ``monitor check`` shows.

It says what ``DigestRunner.channels`` will do with the same settings (a channel ``missing`` something is
skipped), naming the environment variable that left it empty; nothing it says holds a secret: an email
channel shows its server, port, security and number of recipients, a webhook only its site.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from monitor.config import Config


@dataclass(frozen=True)
class ChannelReadiness:
    """One channel of one digest: ``ready`` or ``skipped``, with where it sends or why not."""

    digest: str
    channel: str
    status: str  # "ready" | "skipped"
    detail: str
    alerts: bool  # the digest's alerts go out on it too

    def line(self) -> str:
        """``email: ready (smtp.example.org:587, starttls, 2 recipients)`` or ``slack: skipped — why``, each
        saying when the digest's alerts go on it too."""
        if self.status == "ready":
            return f"{self.channel}: ready ({self.detail}){', alerts too' if self.alerts else ''}"
        # Its alerts are not sent either: said, as they were the reason to configure it for some.
        return f"{self.channel}: skipped — {self.detail}{' (its alerts too)' if self.alerts else ''}"

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def channel_readiness(config: Config) -> list[ChannelReadiness]:
    """Every configured channel of every digest, in the order of feeds.yaml."""
    found = []
    for index, digest in enumerate(config.digests):
        alert_channels = digest.alerts.channels if digest.alerts else ()
        for name, settings in digest.channels.configured().items():
            alerts = name in alert_channels
            key = settings.missing_key()
            if key is None:
                found.append(ChannelReadiness(digest.name, name, "ready", settings.describe(), alerts))
                continue
            path = ("digests", index, "channels", name, key)
            found.append(ChannelReadiness(digest.name, name, "skipped", _why(config, path, settings), alerts))
    return found


def _why(config: Config, path: tuple, settings: Any) -> str:
    """Why the channel is skipped: the variable that left its key empty, else what ``missing`` says."""
    if names := config.env_names(path):
        verb = "is" if len(names) == 1 else "are"
        return f"{' and '.join(names)} {verb} empty"
    return settings.missing()
