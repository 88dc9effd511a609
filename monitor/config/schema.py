"""The sections of feeds.yaml as pydantic models: what each key means, its default and its checks.

``Config`` is the whole file; ``digests:`` and ``watchlist:`` are modelled by their own packages
(``monitor.digest.notify.settings``, ``monitor.watchlist.model``) on the same ``Section`` base.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    ByteSize,
    Field,
    PlainSerializer,
    PrivateAttr,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from monitor.config.durations import Duration, format_duration, parse_duration
from monitor.config.errors import InvalidValue
from monitor.config.reader import KeyPath
from monitor.config.section import Section
from monitor.config.values import check_name, invisible_problem, split_url, url_problem
from monitor.digest.notify.settings import DigestConfig
from monitor.errors import MonitorError
from monitor.watchlist.model import WatchlistConfig

_TYPOGRAPHIC_QUOTES = "“”„‟‘’‚‛«»‹›「『"  # word processors' quotes: pasted, they stay part of a value
_LOOKS_LIKE_HOST = re.compile(r"([\w-]+\.)+[\w-]+(:\d+)?(/|$)|localhost(:\d+)?(/|$)")

DEFAULT_MAX_PAGES = 5  # sitemaps fetched per poll of one sitemap source: the root and its newest children
DEFAULT_MAX_LINKS = 200  # entries of a sitemap, or article links of a page, taken per poll (newest first)
# Feed keys that only some kinds of source take.
KIND_OPTIONS = {
    "selector": ("page",),
    "pattern": ("page",),
    "max_pages": ("sitemap",),
    "max_links": ("sitemap", "page"),
}


def _positive(value: timedelta | None) -> timedelta | None:
    """``value`` unless it is zero: a zero interval or timeout would spin or fail every time."""
    if value is not None and value <= timedelta(0):
        raise InvalidValue("must be longer than zero", "use e.g. 30s or 15m")
    return value


class WebSubSettings(Section):
    """Push instead of polling, for feeds that name a WebSub hub (the ``settings.websub:`` section).

    Off until ``callback_url`` is set: the public address at which hubs reach the daemon's listener
    (``settings.listen``) at its ``/websub/`` path, e.g. through a reverse proxy. Each subscribed feed gets
    ``<callback_url>/<token>``.
    """

    callback_url: str | None = None
    lease: Duration = timedelta(days=7)  # the subscription lease asked of hubs (they may grant another)
    # how often a feed whose hub pushes is polled all the same: pushes can be lost, hubs can fail
    fallback_interval: Duration = timedelta(hours=6)

    _check_positive = field_validator("lease", "fallback_interval")(_positive)

    @field_validator("callback_url")
    @classmethod
    def _check_callback(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        parts = split_url(value)
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or url_problem(parts):
            raise InvalidValue(
                f"callback_url {value!r} is not an absolute http(s) URL",
                "the public URL of this daemon's /websub/ path, e.g. https://monitor.example.org/websub",
            )
        if parts.query or parts.fragment:
            raise InvalidValue(
                f"callback_url {value!r} has a query or fragment",
                "a plain path: each feed's token is added as one more path segment",
            )
        return value.rstrip("/")

    @property
    def enabled(self) -> bool:
        return self.callback_url is not None


class Settings(Section):
    """Defaults and limits for the whole daemon (the ``settings:`` section)."""

    user_agent: str | None = None  # full override of the User-Agent header
    contact: str | None = None  # email or URL added to the default User-Agent, for site owners
    interval: Duration = timedelta(minutes=30)  # the first retry after a failure (then it doubles)
    # A feed without an interval of its own is polled as often as it publishes (monitor.schedule), within
    # these bounds; equal bounds poll every feed at that one interval. 5 min and 24 h are miniflux's
    # defaults for its entry_frequency scheduler: few publishers refresh a feed faster than a CDN caches
    # it for minutes, and a feed silent for a week is still looked at daily.
    min_interval: Duration = timedelta(minutes=5)
    max_interval: Duration = timedelta(hours=24)
    max_backoff: Duration = timedelta(hours=24)  # cap for exponential back-off after consecutive failures
    timeout: Duration = timedelta(seconds=30)  # per request
    max_bytes: ByteSize = Field("10MB", gt=0, validate_default=True)  # per response, also after decompression
    max_redirects: int = Field(5, ge=0, le=20)
    # requests in flight over all hosts. Each host takes about one request a second (host_delay), so serving
    # N hosts at once needs N x response time of them: with 16, hosts waited for these, not for their turn
    concurrency: int = Field(64, ge=1)
    per_host: int = Field(2, ge=1)  # requests in flight to one host
    host_delay: Duration = timedelta(seconds=1)  # minimum delay between two requests to one host
    # a slow host's requests start at least its recent response time apart (up to 30 s), as Scrapy's
    # AutoThrottle does: a server taking seconds to answer is struggling (monitor.ingest.politeness)
    autothrottle: bool = True
    fetch_pages: bool = True  # fetch each new entry's page for its full text
    respect_robots: bool = True  # obey robots.txt for article pages
    min_body_chars: int = Field(250, ge=0)  # shorter extracted text falls back to the feed's own text
    max_entries_per_poll: int = Field(100, ge=1)  # new entries fetched per feed per poll; the rest wait
    # processes for text extraction; None = one per CPU; 0 = a thread of the main process (small setups)
    extract_workers: int | None = Field(None, ge=0)
    poll_tick: Duration = timedelta(seconds=30)  # how often the daemon looks for due feeds
    # how often the daemon looks whether feeds.yaml (or its watchlist file) changed; when not given, the
    # older watchlist.reload_every is honoured if that is (Config.config_check_every)
    config_check_every: Duration = timedelta(seconds=30)
    # on SIGTERM, how long polls and the scheduler's jobs under way (a digest, a prune) may finish
    shutdown_grace: Duration = timedelta(seconds=20)
    # networks that links from public feeds may reach all the same (monitor.ingest.addressguard), e.g. 10.1.0.0/16
    allow_networks: tuple[str, ...] = ()
    listen: str | None = None  # HOST:PORT of the daemon's /healthz and /metrics listener; None = none
    websub: WebSubSettings = WebSubSettings()

    _check_positive = field_validator(
        "interval",
        "min_interval",
        "max_interval",
        "max_backoff",
        "timeout",
        "poll_tick",
        "config_check_every",
    )(_positive)

    @model_validator(mode="after")
    def _interval_bounds_in_order(self) -> Settings:
        if self.min_interval > self.max_interval:
            raise PydanticCustomError(
                "interval_bounds",
                "min_interval ({low}) is longer than max_interval ({high})",
                {"low": format_duration(self.min_interval), "high": format_duration(self.max_interval)},
            )
        return self

    @field_validator("allow_networks")
    @classmethod
    def _check_networks(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        checked = []
        for value in values:
            try:
                checked.append(str(ipaddress.ip_network(value.strip(), strict=True)))
            except ValueError as error:
                raise InvalidValue(
                    f"allow_networks: {value!r} is not a network ({error})",
                    "write an address or a network, e.g. 10.1.0.0/16 or fd00:1::/64",
                ) from None
        return tuple(checked)

    @field_validator("listen")
    @classmethod
    def _check_listen(cls, value: str | None) -> str | None:
        if value is not None and value.strip():
            listen_address(value)
            return value.strip()
        return None

    @model_validator(mode="after")
    def _websub_needs_listener(self) -> Settings:
        if self.websub.enabled and self.listen is None:
            raise InvalidValue(
                "websub.callback_url is set but nothing listens for the hub's requests",
                "set settings.listen (e.g. 127.0.0.1:9100) and route callback_url to its /websub/",
            )
        return self


def listen_address(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:9100``, ``:9100`` for every interface) as (host, port); ValueError with a hint."""
    host, colon, port = value.strip().rpartition(":")
    host = host.strip("[]") if host.startswith("[") and host.endswith("]") else host
    if not colon or not port.isascii() or not port.isdigit() or not 0 <= int(port) <= 65535 or " " in host:
        raise InvalidValue(
            f"listen address {value!r} is not HOST:PORT",
            "e.g. 127.0.0.1:9100 (this machine only) or 0.0.0.0:9100 (every interface)",
        )
    return host or "0.0.0.0", int(port)


def configured_listen(settings: Settings) -> tuple[str, int] | None:
    """Where ``settings.listen`` asks /healthz and /metrics to be served (None: not served)."""
    return listen_address(settings.listen) if settings.listen else None


class FeedConfig(Section):
    """One feed to poll (an item of the ``feeds:`` list)."""

    name: str  # unique, ignoring case
    url: str
    kind: Literal["rss", "sitemap", "page"] = "rss"  # a feed; a (news) sitemap; a front or section page
    interval: Duration | None = None  # None = settings.interval
    tags: tuple[str, ...] = ()
    enabled: bool = True
    fetch_pages: bool | None = None  # None = settings.fetch_pages
    # page kind only: where on the page the article links are (CSS), and what their URLs look like (regex)
    selector: str | None = None
    pattern: str | None = None
    # sitemap and page kinds: per poll, at most this many sitemaps fetched and links taken (newest first)
    max_pages: int | None = Field(None, ge=1, le=100)  # None = DEFAULT_MAX_PAGES
    max_links: int | None = Field(None, ge=1, le=10_000)  # None = DEFAULT_MAX_LINKS

    _check_positive = field_validator("interval")(_positive)

    @field_validator("pattern")
    @classmethod
    def _check_pattern(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as error:
                raise InvalidValue(
                    f"pattern is not a valid regular expression: {error}",
                    r"e.g. '/news/\d{4}/' (quote it in YAML)",
                ) from None
        return value

    @field_validator("selector")
    @classmethod
    def _check_selector(cls, value: str | None) -> str | None:
        if value is not None:
            from lxml.cssselect import CSSSelector, SelectorError  # only needed by configs that use it

            try:
                CSSSelector(value)
            except (SelectorError, ValueError) as error:
                raise InvalidValue(
                    f"selector is not a valid CSS selector: {error}",
                    "e.g. 'main article h2 a' or '.headlines a'",
                ) from None
        return value

    @model_validator(mode="after")
    def _options_fit_kind(self) -> FeedConfig:
        for key, kinds in KIND_OPTIONS.items():
            if getattr(self, key) is not None and self.kind not in kinds:
                raise PydanticCustomError(
                    "kind_option",
                    "{key} applies only to kind: {kinds}, not to kind: {kind}",
                    {"key": key, "kinds": " or ".join(kinds), "kind": self.kind},
                )
        return self

    @property
    def pages_cap(self) -> int:
        """Sitemaps fetched per poll of a sitemap source (the first one included)."""
        return self.max_pages or DEFAULT_MAX_PAGES

    @property
    def links_cap(self) -> int:
        """Links (sitemap entries, page links) taken per poll of a sitemap or page source."""
        return self.max_links or DEFAULT_MAX_LINKS

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        return check_name(value, max_chars=200, hint="give the feed a short, unique name")

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        value = value.strip()
        if problem := invisible_problem(value):
            raise InvalidValue(f"url {value!r}: {problem}", "delete it, or retype the URL")
        if value and (value[0] in _TYPOGRAPHIC_QUOTES or value[-1] in _TYPOGRAPHIC_QUOTES):
            raise InvalidValue(
                f"url {value!r} is in typographic quotes",
                'YAML takes them for part of the address: write straight quotes (") or none',
            )
        parts = split_url(value)
        if parts is None:
            raise InvalidValue(
                f"url {value!r} is malformed (an unclosed '[' or an IPv6 address that is none)",
                "write an IPv6 address in brackets: http://[2001:db8::1]:8080/feed",
            )
        if parts.scheme in ("http", "https") and parts.hostname:
            if problem := url_problem(parts):
                raise InvalidValue(f"url {value!r}: {problem}", "e.g. https://example.org:8443/feed")
            return value
        if hint := _pasted_url_hint(value):
            raise InvalidValue(f"url {value!r} is not an absolute http(s) URL", hint)
        # urlsplit reads "example.com:8080/feed" as scheme "example.com", so look for "://" instead.
        if "://" not in value and _LOOKS_LIKE_HOST.match(value):
            raise InvalidValue(f"url {value!r} has no scheme", f"write it in full: https://{value}")
        raise InvalidValue(f"url {value!r} is not an absolute http(s) URL", "write it as https://host/...")


def _pasted_url_hint(value: str) -> str | None:
    """The way out for a feed's address as browsers and word processors hand it over, if it is one."""
    scheme, colon, rest = value.partition(":")
    if scheme.lower() == "feed" and colon:  # feed://example.org/rss, feed:https://example.org/rss
        inner = rest if "://" in rest else f"https:{rest}"
        return f"feed: tells a browser to open a feed reader; write the feed's own address: {inner}"
    return None


def _is_off(value: Any) -> bool:
    """``off`` or ``never`` (any case), ``false`` or nothing: a setting that can be turned off."""
    return (
        value is None
        or value is False
        or (isinstance(value, str) and value.strip().lower() in ("off", "never"))
    )


_OFF_OR_DURATION = PlainSerializer(
    lambda value: "off" if value is None else format_duration(value), when_used="json"
)


def _off_or_at_least(least: timedelta, too_short: str, hint: str) -> Callable[[Any], timedelta | None]:
    """A validator of a setting that can be off (``off``, ``never``, ``false`` or nothing: None) or else is a
    duration of at least ``least``; ``too_short`` says what a shorter one is, with ``{}`` for it."""

    def validate(value: Any) -> timedelta | None:
        if _is_off(value):
            return None
        duration = parse_duration(value)
        if duration < least:
            raise InvalidValue(too_short.format(format_duration(duration)), hint)
        return duration

    return validate


EveryOrOff = Annotated[
    timedelta | None,
    BeforeValidator(
        _off_or_at_least(
            timedelta(minutes=1),
            "every {} is too often",
            "run it at most once a minute, e.g. 1h; or write off",
        )
    ),
    _OFF_OR_DURATION,
]
"""How often a periodic job runs: a duration of a minute or more, or ``off`` (also ``false``)."""


class DedupSettings(Section):
    """Deduplication (the ``dedup:`` section).

    The wire threshold was chosen on the dev half of ``bench/wire_eval.py`` (real reprints, half trims, short
    articles of one outlet under shared boilerplate): F1 is flat from 0.40 to 0.55 with boilerplate left out;
    at 0.55 the test half gives P 1.00, R 0.99. The story threshold was chosen on the tuning half of
    ``bench/story_eval.py`` (ECB+, articles placed one at a time through the stage): 0.20 gives the best
    B-cubed F1 there over eight arrival orders; held-out figures, and what 0.20 costs the paraphrased stories
    of ``bench/dedup_eval.py`` (they split; 0.16 keeps them), are in bench/README.md.
    """

    enabled: bool = True
    window: Duration = timedelta(
        days=14
    )  # near-duplicates and stories are looked for this far back (and ahead)
    wire_threshold: float = Field(0.55, gt=0, le=1)  # shingle containment (or Jaccard) for a wire copy
    story_threshold: float = Field(0.20, gt=0, le=1)  # story score to join a story (tuned on ECB+)
    # How often the daemon splits the window's stories where their write-ups' neighbourhoods say two events
    # (monitor.dedupe.regrouping); off: never.
    regroup_every: EveryOrOff = timedelta(hours=1)

    _check_positive = field_validator("window")(_positive)


RetentionWindow = Annotated[
    timedelta | None,
    BeforeValidator(
        _off_or_at_least(
            timedelta(days=1),
            "a retention window of {} is too short",
            "keep at least 1d, e.g. 180d; or write off to keep everything",
        )
    ),
    _OFF_OR_DURATION,
]
"""A retention window: a duration of a day or more, or ``off`` (also ``false`` or nothing) to keep everything."""


class RetentionSettings(Section):
    """How long what is stored is kept (the ``retention:`` section); ``off`` keeps it for ever.

    Applied once a day by the daemon and by ``monitor prune`` (``monitor.retention``).
    """

    articles: RetentionWindow = timedelta(
        days=365
    )  # articles (by fetch time), with everything that hangs on them
    evidence: RetentionWindow = timedelta(
        days=90
    )  # match evidence emptied after this; match, score, snippet stay
    deliveries: RetentionWindow = timedelta(
        days=365
    )  # delivery ledger rows (digests, alerts) and their items


class Config(Section):
    """The whole of feeds.yaml. A new section is one more field here."""

    settings: Settings = Settings()
    feeds: tuple[FeedConfig, ...] = ()
    dedup: DedupSettings = DedupSettings()
    watchlist: WatchlistConfig = WatchlistConfig()
    digests: tuple[DigestConfig, ...] = ()
    retention: RetentionSettings = RetentionSettings()
    # Private rather than fields, so that feeds.yaml cannot set them and dumps leave them out.
    _source: Path | None = PrivateAttr(None)
    _from_env: frozenset[KeyPath] = PrivateAttr(frozenset())
    _env_names: dict[KeyPath, tuple[str, ...]] = PrivateAttr(default_factory=dict)
    _env_templates: dict[KeyPath, str] = PrivateAttr(default_factory=dict)

    @property
    def source(self) -> Path | None:
        """The file this config was loaded from, if any."""
        return self._source

    def env_template(self, path: KeyPath) -> str | None:
        """The value at ``path`` as written, its ${VAR} references unexpanded (None: it has none)."""
        return self._env_templates.get(path)

    def env_names(self, path: KeyPath) -> tuple[str, ...]:
        """The environment variables the value at ``path`` (and the values under it: a list's items) was
        written with (``${SMTP_HOST:-}``), if any."""
        return tuple(
            dict.fromkeys(
                name for at, names in self._env_names.items() if at[: len(path)] == path for name in names
            )
        )

    @model_validator(mode="before")
    @classmethod
    def _empty_sections_are_defaults(cls, data: Any) -> Any:
        # "settings:" with everything below it commented out is null, which means "defaults".
        return {k: v for k, v in data.items() if v is not None} if isinstance(data, dict) else data

    @model_validator(mode="after")
    def _unique_feeds(self) -> Config:
        for _, _, message in duplicate_feeds([(feed.name, feed.url) for feed in self.feeds]):
            raise PydanticCustomError("duplicate_feed", message)
        names = [digest.name.casefold() for digest in self.digests]
        if len(names) != len(set(names)):
            raise PydanticCustomError("duplicate_digest", "two digests have the same name; give each its own")
        if (problem := _ledger_problem(self)) is not None:
            raise PydanticCustomError("retention_ledger", problem)
        if (problem := _articles_problem(self)) is not None:
            raise PydanticCustomError("retention_articles", problem)
        return self

    @property
    def config_check_every(self) -> timedelta:
        """How often the daemon looks whether its configuration files changed.

        ``settings.config_check_every``; a file written before that setting existed said it with
        ``watchlist.reload_every``, which is honoured when given alone (the new name wins over the old).
        """
        older = "reload_every" in self.watchlist.model_fields_set
        if older and "config_check_every" not in self.settings.model_fields_set:
            return self.watchlist.reload_every
        return self.settings.config_check_every

    def digest(self, name: str) -> DigestConfig:
        """The digest called ``name`` (ignoring case), or a MonitorError that lists the known names."""
        for digest in self.digests:
            if digest.name.casefold() == name.strip().casefold():
                return digest
        names = [digest.name for digest in self.digests]
        known = f"known digests: {', '.join(names)}" if names else "no digests are configured in feeds.yaml"
        raise MonitorError(f"no digest named '{name}'", hint=known)

    def feed(self, name: str) -> FeedConfig:
        """The feed called ``name`` (ignoring case), or a MonitorError that lists the known names."""
        for feed in self.feeds:
            if feed.name.casefold() == name.strip().casefold():
                return feed
        names = [feed.name for feed in self.feeds]
        close = difflib.get_close_matches(name, names, n=1)
        known = f"known feeds: {', '.join(names)}" if names else "no feeds are configured"
        hint = (f"did you mean '{close[0]}'? " if close else "") + known
        raise MonitorError(f"no feed named '{name}'", hint=hint)

    def interval_for(self, feed: FeedConfig) -> timedelta:
        """The interval ``feed`` backs off from after failures: its own, else ``settings.interval``."""
        return self.settings.interval if feed.interval is None else feed.interval

    def fixed_interval_for(self, feed: FeedConfig) -> timedelta | None:
        """How often to poll ``feed`` if that is fixed (its own interval, or equal bounds); None when its
        publication rhythm decides (monitor.schedule.adaptive_interval)."""
        if feed.interval is not None:
            return feed.interval
        if self.settings.min_interval >= self.settings.max_interval:
            return self.settings.max_interval
        return None

    def fetch_pages_for(self, feed: FeedConfig) -> bool:
        """Whether to fetch the pages of ``feed``'s entries."""
        return self.settings.fetch_pages if feed.fetch_pages is None else feed.fetch_pages


def _articles_problem(config: Config) -> str | None:
    """Why ``retention.articles`` would prune what a digest is to carry before it runs, if it would: a weekly
    digest with articles kept two days went out empty, its week's matches pruned, without a word."""
    if config.retention.articles is None or not config.digests:
        return None
    digest = max(config.digests, key=lambda d: d.reach())
    if config.retention.articles >= digest.reach():
        return None
    return (
        f"{format_duration(config.retention.articles)} is shorter than what digest {digest.name!r} reaches back "
        f"({format_duration(digest.reach())}: its lookback, or the gap between two of its runs): what it "
        "would carry would be pruned before it runs"
    )


def _ledger_problem(config: Config) -> str | None:
    """Why ``retention.deliveries`` would let an article be sent twice, if it would.

    The ledger remembers an article was sent through its delivery rows. Once they are gone, the article must
    be out of reach of every digest: pruned itself (deliveries kept at least as long as articles), or older
    than every digest's lookback (deliveries kept longer than it).
    """
    retention = config.retention
    if retention.deliveries is None:
        return None
    if retention.articles is not None and retention.deliveries >= retention.articles:
        return None
    # A digest's run looks back its lookback, or to its previous scheduled run if that is further, or over
    # runs that were missed to the last one made: two reaches at most (``monitor.digest.runner``).
    reach = 2 * max((digest.reach() for digest in config.digests), default=timedelta(0))
    if retention.deliveries > reach:
        return None
    return (
        f"{format_duration(retention.deliveries)} must be at least retention.articles "
        f"({'off' if retention.articles is None else format_duration(retention.articles)}) or longer than "
        f"twice the longest digest lookback, or gap between two of a digest's runs ({format_duration(reach)}): an "
        f"article whose delivery rows are gone could be sent again"
    )


def duplicate_feeds(feeds: Sequence[tuple[Any, Any]]) -> list[tuple[int, str, str]]:
    """(index, "name" or "url", message) for each feed that repeats an earlier one's name or URL."""
    found: list[tuple[int, str, str]] = []
    first_index: dict[tuple[str, object], int] = {}
    for index, (name, url) in enumerate(feeds):
        for field, value in (("name", name), ("url", url)):
            if not isinstance(value, str) or not value.strip():
                continue
            value = value.strip()
            same: object
            if field == "name":
                same = value.casefold()
            elif (parts := split_url(value)) is not None:
                same = parts._replace(netloc=parts.netloc.lower())  # scheme and host are case-insensitive
            else:
                continue  # reported as malformed by the feed's own check
            if (field, same) in first_index:
                message = f"duplicate feed {field} {value!r}, as in feeds[{first_index[field, same]}]"
                found.append((index, field, message))
            first_index.setdefault((field, same), index)
    return found
