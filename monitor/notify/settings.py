"""The ``digests:`` section of feeds.yaml: what each digest covers, when it goes out, and through which
channels; validated like every other section, so each problem is reported at its line with a hint.

A channel whose secret is empty (``${SLACK_WEBHOOK_URL:-}`` with the variable unset) is valid here and
skipped at send time with a log line: the bundled feeds.yaml must load on a machine without secrets.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger
from pydantic import ConfigDict, Field, field_validator, model_validator

from monitor.config.errors import InvalidValue
from monitor.config.section import Section
from monitor.config.values import check_name, split_url, url_problem
from monitor.durations import Duration

_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _http_url(value: str, *, empty_ok: bool) -> str:
    value = value.strip()
    if not value and empty_ok:
        return value
    parts = split_url(value)
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidValue("not an absolute http(s) URL", "write it as https://host/path, or take it from ${VAR}")
    if problem := url_problem(parts):
        raise InvalidValue(f"not a usable URL: {problem}", "write it as https://host:port/path")
    return value


def _host_port(host: str, port: int | None) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"{shown}:{port}" if port is not None else shown


def _site(url: str) -> str:
    """scheme://host[:port] of a URL, without user, password, path or query."""
    parts = split_url(url)
    if parts is None or not parts.hostname:
        return "an unreadable URL"
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{parts.scheme}://{_host_port(parts.hostname, port)}"


_EMAIL_MISSING = {
    "host": "no SMTP host (set it, e.g. through ${SMTP_HOST})",
    "to": "no recipients in 'to'",
    "from": "no sender in 'from'",
}


class EmailChannel(Section):
    """SMTP delivery: one multipart message per digest and period to every address in ``to``."""

    host: str = ""  # empty: the channel is skipped (e.g. ${SMTP_HOST:-} with the variable unset)
    port: int | None = Field(None, ge=1, le=65535)  # None: 587 for starttls, 465 for tls, 25 for none
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str = ""
    password: str = ""
    from_: str = Field("", alias="from")
    to: tuple[str, ...] = ()
    timeout: Duration = timedelta(seconds=30)

    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True, populate_by_name=True,
                              serialize_by_alias=True)

    @field_validator("to", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return (value,) if isinstance(value, str) else value

    @field_validator("to")
    @classmethod
    def _addresses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        cleaned = tuple(address.strip() for address in value if address.strip())
        for address in cleaned:
            if "@" not in address:
                raise InvalidValue(f"{address!r} is not an email address", "write it as name@example.org")
        return cleaned

    def effective_port(self) -> int:
        return self.port or {"starttls": 587, "tls": 465, "none": 25}[self.security]

    def missing(self) -> str | None:
        """Why the channel cannot send, or None."""
        key = self.missing_key()
        return None if key is None else _EMAIL_MISSING[key]

    def missing_key(self) -> str | None:
        """The key of feeds.yaml whose emptiness ``missing`` reports, or None."""
        return "host" if not self.host.strip() else "to" if not self.to else "from" if not self.from_.strip() \
            else None

    def describe(self) -> str:
        """Where and how it sends, with no secret: no password, no user name."""
        count = len(self.to)
        login = ", with login" if self.username or self.password else ""
        return (f"{_host_port(self.host.strip(), self.effective_port())}, {self.security}, "
                f"{count} recipient{'s' if count != 1 else ''}{login}")


class SlackChannel(Section):
    """A Slack incoming webhook; the URL is a secret, so it normally comes from ${ENV}."""

    webhook_url: str = ""
    timeout: Duration = timedelta(seconds=15)
    # A 429 asking for a longer wait fails the attempt, and the ledger retries after at least that long.
    max_retry_after: Duration = timedelta(minutes=2)

    @field_validator("webhook_url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _http_url(value, empty_ok=True)

    def missing(self) -> str | None:
        return None if self.webhook_url else "no webhook_url (set it, e.g. through ${SLACK_WEBHOOK_URL})"

    def missing_key(self) -> str | None:
        return None if self.webhook_url else "webhook_url"

    def describe(self) -> str:
        """The webhook's site only: the rest of its URL is the secret."""
        return f"incoming webhook at {_site(self.webhook_url)}"


class WebhookChannel(Section):
    """A URL that receives each digest as JSON (POST)."""

    url: str = ""
    timeout: Duration = timedelta(seconds=15)
    headers: dict[str, str] = {}

    def __hash__(self) -> int:
        return hash((self.url, tuple(sorted(self.headers.items()))))

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _http_url(value, empty_ok=True)

    def missing(self) -> str | None:
        return None if self.url else "no url"

    def missing_key(self) -> str | None:
        return None if self.url else "url"

    def describe(self) -> str:
        """The receiver's site only (its path or query may hold a token), and how many headers go along."""
        count = len(self.headers)
        headers = f", {count} header{'s' if count != 1 else ''}" if count else ""
        return f"POST to {_site(self.url)}{headers}"


class Channels(Section):
    """The channels of one digest; each is optional."""

    email: EmailChannel | None = None
    slack: SlackChannel | None = None
    webhook: WebhookChannel | None = None

    def configured(self) -> dict[str, EmailChannel | SlackChannel | WebhookChannel]:
        return {name: value for name in ("email", "slack", "webhook") if (value := getattr(self, name))}


class Alerts(Section):
    """Matches at or above ``min_score`` go out at once (checked every ``every``) instead of waiting."""

    min_score: float = Field(ge=0, le=100)  # a match's score runs from 0 to 100 (see the README's Watchlist)
    channels: tuple[Literal["email", "slack", "webhook"], ...] = ("slack",)
    every: Duration = timedelta(minutes=1)


class DigestConfig(Section):
    """One digest (an item of the ``digests:`` list)."""

    name: str
    schedule: str = "0 7 * * *"  # cron: minute hour day month weekday
    timezone: str = "UTC"
    topics: tuple[str, ...] = ()  # empty: every topic
    min_score: float = Field(0.0, ge=0, le=100)
    max_items: int = Field(10, ge=1, le=200)  # per topic; past it, "and N more"
    lookback: Duration = timedelta(days=2)  # the first digest (and anything unsent) reaches this far back
    send_empty: bool = False
    channels: Channels = Channels()
    alerts: Alerts | None = None

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        return check_name(value, max_chars=100, extra="/", hint="e.g. morning or team-slack")

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value.strip())
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidValue(f"unknown time zone {value!r}",
                           "use an IANA name such as Europe/Berlin or UTC") from None
        return value.strip()

    @model_validator(mode="after")
    def _check_schedule(self) -> DigestConfig:
        try:
            self.trigger()
        except ValueError as error:
            raise InvalidValue(f"invalid cron expression {self.schedule!r} ({error})",
                           "five fields: minute hour day month weekday, e.g. '0 7 * * 1-5'") from None
        for channel in self.alerts.channels if self.alerts else ():
            if channel not in self.channels.configured():
                raise InvalidValue(f"alerts go to {channel!r}, which this digest does not configure",
                               f"add channels.{channel}, or name one of: "
                               f"{', '.join(self.channels.configured()) or 'none configured'}")
        return self

    def trigger(self) -> CronTrigger:
        """The APScheduler trigger for the schedule, in the digest's time zone."""
        fields = self.schedule.split()
        if len(fields) != 5:
            raise ValueError(f"wrong number of fields; got {len(fields)}, expected 5")
        minute, hour, day, month, weekday = fields
        # cron counts weekdays from Sunday (0 or 7), APScheduler from Monday: names mean the same to both.
        weekday = re.sub(r"\d+", lambda m: _WEEKDAYS[int(m.group())] if int(m.group()) < 8 else m.group(),
                         weekday)
        return CronTrigger(minute=minute, hour=hour, day=day, month=month, day_of_week=weekday,
                           timezone=ZoneInfo(self.timezone))

    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)
