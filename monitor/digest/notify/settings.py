"""The ``digests:`` section of feeds.yaml: what each digest covers, when it goes out, and through which
channels; validated like every other section, so each problem is reported at its line with a hint.

The keys under ``channels:`` are the registered channels (``monitor.digest.notify.register_channel``), each
validated by the settings model it registered: a plugin's channel is configured like ``email`` or ``slack``.

A channel whose secret is empty (``${SLACK_WEBHOOK_URL:-}`` with the variable unset) is valid here and
skipped at send time with a log line: the bundled feeds.yaml must load on a machine without secrets.
"""

from __future__ import annotations

import difflib
import re
from datetime import timedelta
from email.headerregistry import Address
from email.utils import getaddresses
from typing import TYPE_CHECKING, Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError
from pydantic_core.core_schema import ErrorType

from monitor.config.durations import Duration
from monitor.config.errors import InvalidValue
from monitor.config.section import Section, secret
from monitor.config.values import check_name, split_url, url_problem
from monitor.digest.notify import channels as registered_channels

if TYPE_CHECKING:
    from apscheduler.triggers.base import BaseTrigger

_TIME_OF_DAY = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])")  # "8:30" written for a schedule
_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")


def cron_weekdays(field: str) -> str:
    """cron's weekday field as APScheduler's: the days it names, listed by name. cron counts from Sunday (0
    or 7), APScheduler from Monday, so each number is read as cron means it; and a range or a step is
    written out day by day (``1-5/2``: Monday, Wednesday, Friday), since a range of names that crosses
    APScheduler's week end (``0-2``, Sunday to Tuesday) is one it refuses, and a step of names it dropped
    (``1-5/2`` was every weekday)."""
    if field == "*":
        return field
    days: set[int] = set()
    for part in field.split(","):
        span, slash, step_text = part.partition("/")
        step = int(step_text) if step_text.isdigit() else 0 if slash else 1
        if step < 1:
            raise ValueError(f"invalid step in weekday {part!r}")
        if span == "*":
            first, last = 0, 6
        else:
            first_text, dash, last_text = span.partition("-")
            first = _weekday_number(first_text)
            # "1/2", as cron reads it: from Monday to the end of the week, every other day.
            last = _weekday_number(last_text, end=True) if dash else (7 if slash else first)
        if first > last:
            raise ValueError(f"weekday range {span!r} runs backwards")
        days.update(day % 7 for day in range(first, last + 1, step))
    return ",".join(_WEEKDAYS[day] for day in sorted(days))


def _weekday_number(text: str, *, end: bool = False) -> int:
    name = text.strip().lower()
    if name.isdigit() and int(name) <= 7:
        return int(name)
    if name in _WEEKDAYS:
        return 7 if end and name == "sun" else _WEEKDAYS.index(name)  # "sat-sun" ends the week
    raise ValueError(f"unknown weekday {text!r}")


def _http_url(value: str, *, empty_ok: bool) -> str:
    value = value.strip()
    if not value and empty_ok:
        return value
    parts = split_url(value)
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidValue(
            "not an absolute http(s) URL", "write it as https://host/path, or take it from ${VAR}"
        )
    if problem := url_problem(parts):
        raise InvalidValue(f"not a usable URL: {problem}", "write it as https://host:port/path")
    return value


def _written(name: str, address: str) -> str:
    """An address with its display name, quoted where it needs quotes ("Doe, Jane" <jane@example.org>)."""
    if not name:
        return address
    username, _, domain = address.rpartition("@")
    return str(Address(display_name=name, username=username, domain=domain))


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


class ChannelSettings(Section):
    """The base of a channel's settings: what ``monitor check`` and the digest runner ask of every channel.

    Declare each secret key with ``secret()``: ``monitor check`` and the logs then hide its value."""

    def missing_key(self) -> str | None:
        """The key of feeds.yaml whose emptiness keeps the channel from sending, or None."""
        return None

    def missing(self) -> str | None:
        """Why the channel cannot send, or None."""
        key = self.missing_key()
        return None if key is None else f"no {key}"

    def describe(self) -> str:
        """Where it sends, without any secret."""
        return "configured"


class EmailChannel(ChannelSettings):
    """SMTP delivery: one multipart message per digest and period to every address in ``to``."""

    host: str = ""  # empty: the channel is skipped (e.g. ${SMTP_HOST:-} with the variable unset)
    port: int | None = Field(None, ge=1, le=65535)  # None: 587 for starttls, 465 for tls, 25 for none
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str = ""
    password: str = secret("")
    from_: str = Field("", alias="from")
    to: tuple[str, ...] = ()
    timeout: Duration = timedelta(seconds=30)

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)  # "from" is a Python keyword

    @field_validator("to", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return (value,) if isinstance(value, str) else value

    @field_validator("to")
    @classmethod
    def _addresses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        cleaned: list[str] = []
        for entry in value:
            # Several in one, as a mail client copies them: "ana@example.org; Desk <desk@example.org>". Kept
            # as one, the To header ended at the ';' (the rest were not named in it) and check counted one.
            found = [(n, a) for n, a in getaddresses([entry.replace(";", ",")]) if n or a]
            for name, address in found:
                if "@" not in address:
                    shown = (name or address).strip() or entry.strip()
                    hint = "write it as name@example.org" + (
                        """; a name holding a comma goes in double quotes: '"Doe, Jane" <jane@example.org>'"""
                        if "," in entry
                        else ""
                    )
                    raise InvalidValue(f"{shown!r} is not an email address", hint)
            if len(found) == 1:
                cleaned.append(entry.strip())  # one address, as written
            else:
                cleaned += [_written(name, address) for name, address in found]
        return tuple(cleaned)

    def addresses(self) -> tuple[str, ...]:
        """The addresses of ``to`` as the server is given them: without display names, and each once (an
        address listed twice, or once more in another case, got every digest twice)."""
        found: dict[str, str] = {}
        for _name, address in getaddresses(list(self.to)):
            if address:
                found.setdefault(address.casefold(), address)
        return tuple(found.values())

    def effective_port(self) -> int:
        return self.port or {"starttls": 587, "tls": 465, "none": 25}[self.security]

    def missing(self) -> str | None:
        """Why the channel cannot send, or None."""
        key = self.missing_key()
        return None if key is None else _EMAIL_MISSING[key]

    def missing_key(self) -> str | None:
        """The key of feeds.yaml whose emptiness ``missing`` reports, or None."""
        return (
            "host"
            if not self.host.strip()
            else "to"
            if not self.to
            else "from"
            if not self.from_.strip()
            else None
        )

    def describe(self) -> str:
        """Where and how it sends, with no secret: no password, no user name."""
        count = len(self.addresses())
        login = ", with login" if self.username or self.password else ""
        return (
            f"{_host_port(self.host.strip(), self.effective_port())}, {self.security}, "
            f"{count} recipient{'s' if count != 1 else ''}{login}"
        )


class SlackChannel(ChannelSettings):
    """A Slack incoming webhook; the URL is a secret, so it normally comes from ${ENV}."""

    webhook_url: str = secret("")
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


class WebhookChannel(ChannelSettings):
    """A URL that receives each digest as JSON (POST)."""

    url: str = secret("")  # its path or query may hold a token
    timeout: Duration = timedelta(seconds=15)
    headers: dict[str, str] = secret({})  # e.g. Authorization: every value is hidden

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
    """The channels of one digest, keyed by the names in the channel registry; each is optional."""

    model_config = ConfigDict(extra="allow", frozen=True)  # the keys are the registry's, checked below

    @model_validator(mode="wrap")
    @classmethod
    def _registered_channels(cls, data: Any, handler: Any) -> Channels:
        if not isinstance(data, dict) or not data:
            return handler(data)  # pydantic reports what is not a mapping
        known, validated, errors = registered_channels(), {}, []
        for name, section in data.items():
            if name not in known:
                close = difflib.get_close_matches(str(name), list(known), n=1)
                hint = (f"did you mean '{close[0]}'? " if close else "") + f"channels: {', '.join(known)}"
                problem = InvalidValue(f"unknown channel '{name}'", hint)
                errors.append(
                    InitErrorDetails(type="value_error", loc=(name,), input=section, ctx={"error": problem})
                )
            elif section is not None:
                try:
                    validated[name] = known[name].settings.model_validate(section)
                except ValidationError as error:
                    errors += [_nested(entry, name) for entry in error.errors(include_url=False)]
        if errors:
            raise ValidationError.from_exception_data(cls.__name__, errors)
        return handler(validated)

    @model_serializer(mode="wrap")
    def _every_channel(self, handler: Any) -> dict[str, Any]:
        # Every registered channel is shown, as None when this digest leaves it out, as fields would be.
        dumped = handler(self)
        return {name: dumped.get(name) for name in [*registered_channels(), *dumped]}

    def __getattr__(self, name: str) -> Any:
        # ``channels.email`` is None when the digest does not configure it (a registered name).
        try:
            return super().__getattr__(name)  # type: ignore[misc]
        except AttributeError:
            if not name.startswith("_") and name in registered_channels():
                return None
            raise

    @classmethod
    def key_model(cls, key: str) -> type[BaseModel] | None:
        """The model of the section under ``key``: the channel's registered settings."""
        channel = registered_channels().get(key)
        return None if channel is None else channel.settings

    def configured(self) -> dict[str, ChannelSettings]:
        """The channels this digest sends on, in the order of the registry."""
        extra = self.__pydantic_extra__ or {}
        return {name: extra[name] for name in registered_channels() if extra.get(name) is not None}


def _nested(entry: Any, name: str) -> InitErrorDetails:
    """A channel's validation error placed under its key, keeping its kind (and so its hint)."""
    kind = entry["type"]
    if kind not in _BUILT_IN_ERROR_TYPES:
        kind = PydanticCustomError(kind, entry["msg"])
    details = InitErrorDetails(type=kind, loc=(name, *entry["loc"]), input=entry["input"])
    if "ctx" in entry and not isinstance(kind, PydanticCustomError):
        details["ctx"] = entry["ctx"]
    return details


_BUILT_IN_ERROR_TYPES = frozenset(get_args(ErrorType))


class Alerts(Section):
    """Matches at or above ``min_score`` go out at once (checked every ``every``) instead of waiting."""

    min_score: float = Field(ge=0, le=100)  # a match's score runs from 0 to 100 (see the README's Watchlist)
    channels: tuple[str, ...] = ("slack",)  # names of channels the digest configures
    every: Duration = timedelta(minutes=1)
    # New write-ups of a story alerted on a channel wait this long after that alert, then go as one update:
    # a breaking story's write-ups came in for hours, an alert a minute. 0: each at once.
    update_after: Duration = timedelta(minutes=30)


_GAPS_READ = 1000
"""Scheduled runs whose gaps ``DigestConfig.reach`` reads: a year of a daily or weekday digest; two weeks,
weekends included, of one every quarter of an hour in office hours."""


class DigestConfig(Section):
    """One digest (an item of the ``digests:`` list)."""

    name: str
    # The names this digest had before: what it sent under them counts as sent (a rename sent again
    # everything within its lookback, as news).
    renamed_from: tuple[str, ...] = ()
    schedule: str = "0 7 * * *"  # cron: minute hour day month weekday
    timezone: str = "UTC"
    topics: tuple[str, ...] = ()  # empty: every topic
    min_score: float = Field(0.0, ge=0, le=100)
    max_items: int = Field(10, ge=1, le=200)  # per topic; past it, "and N more"
    # How far back a run looks for what was not sent: the first digest, and any whose previous run was
    # nearer (a run reaches back to the previous one whatever the lookback: ``reach``).
    lookback: Duration = timedelta(days=2)
    send_empty: bool = False
    channels: Channels = Channels()
    alerts: Alerts | None = None

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        return check_name(value, max_chars=100, extra="/", hint="e.g. morning or team-slack")

    @field_validator("renamed_from")
    @classmethod
    def _check_earlier_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(
            check_name(name, max_chars=100, extra="/", hint="the digest's name as it was") for name in value
        )

    @property
    def names(self) -> tuple[str, ...]:
        """Its name and those it had (``renamed_from``): what went out under any of them was sent by it."""
        return (self.name, *self.renamed_from)

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value.strip())
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidValue(
                f"unknown time zone {value!r}", "use an IANA name such as Europe/Berlin or UTC"
            ) from None
        return value.strip()

    @model_validator(mode="after")
    def _check_schedule(self) -> DigestConfig:
        try:
            self.trigger()
        except ValueError as error:
            hint = "five fields: minute hour day month weekday, e.g. '0 7 * * 1-5'"
            if time_of_day := _TIME_OF_DAY.fullmatch(self.schedule.strip()):
                hour, minute = (int(part) for part in time_of_day.groups())
                hint = (
                    f"every day at {hour}:{minute:02d} is '{minute} {hour} * * *' "
                    "(minute hour day month weekday)"
                )
            raise InvalidValue(f"invalid cron expression {self.schedule!r} ({error})", hint) from None
        for channel in self.alerts.channels if self.alerts else ():
            if channel not in self.channels.configured():
                raise InvalidValue(
                    f"alerts go to {channel!r}, which this digest does not configure",
                    f"add channels.{channel}, or name one of: "
                    f"{', '.join(self.channels.configured()) or 'none configured'}",
                )
        return self

    def trigger(self) -> BaseTrigger:
        """The APScheduler trigger for the schedule, in the digest's time zone."""
        # Imported here: a configuration without digests (a poll, most commands) need not load APScheduler.
        from apscheduler.triggers.combining import OrTrigger

        from monitor.digest.notify.walltime import OnceAtEachWallTime

        fields = self.schedule.split()
        if len(fields) != 5:
            raise ValueError(f"wrong number of fields; got {len(fields)}, expected 5")
        minute, hour, day, month, weekday = fields

        def at(day: str, weekday: str) -> OnceAtEachWallTime:
            return OnceAtEachWallTime(
                minute=minute,
                hour=hour,
                day=day,
                month=month,
                day_of_week=cron_weekdays(weekday),
                timezone=ZoneInfo(self.timezone),
            )

        if day.startswith("*") or weekday.startswith("*"):
            return at(day, weekday)
        # Both the day of the month and the weekday named: cron runs on either ("0 7 1 * 1", the 1st and every
        # Monday), where APScheduler asks for both (only a Monday that is the 1st).
        return OrTrigger([at(day, "*"), at("*", weekday)])

    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def reach(self) -> timedelta:
        """How far back a digest's run may look for matches: its lookback, or the longest gap between two of
        its scheduled runs (a weekday digest's weekend), read off a year of them (at most 1,000)."""
        from datetime import UTC, datetime

        trigger = self.trigger()
        start = datetime(2025, 1, 1, tzinfo=UTC)  # any year: cron schedules repeat within one
        longest = timedelta(0)
        previous = trigger.get_next_fire_time(None, start)
        for _ in range(_GAPS_READ):
            if previous is None or previous - start > timedelta(days=366):
                break
            following = trigger.get_next_fire_time(previous, previous + timedelta(seconds=1))
            if following is None:
                break
            longest, previous = max(longest, following - previous), following
        return max(self.lookback, longest)
