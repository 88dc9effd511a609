"""feeds.yaml -> validated, frozen settings, with every problem reported at its place in the file.

The YAML is composed into nodes rather than loaded, so each value keeps its line; the plain data built
from the nodes goes through pydantic, and each validation error is mapped back to the nearest node.
``${VAR}`` references are expanded first and remembered, so that ``redacted_dump`` can hide them.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin
from urllib.parse import urlunsplit

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ByteSize,
    ConfigDict,
    Field,
    PlainSerializer,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from monitor.boundedread import FileTooLarge, describe_size, read_bounded
from monitor.configvalues import InvalidValue as _InvalidValue
from monitor.configvalues import check_name, split_url, url_problem
from monitor.durations import Duration, format_duration, parse_duration
from monitor.errors import MonitorError
from monitor.logs import is_secret_name
from monitor.notify.settings import DigestConfig
from monitor.watchlist.model import WatchlistConfig, watchlist_problems

MAX_FILE_BYTES = 5 * 1024 * 1024  # feeds.yaml and a watchlist file: read no further than this
REDACTED = "***"
# YAML aliases can blow a small file up into a huge tree ("billion laughs"), and deep nesting exhausts the
# stack of every reader that walks it; these bound the work.
MAX_YAML_NODES = 200_000  # values, counted with aliases expanded
MAX_YAML_DEPTH = 64  # mappings and lists inside each other
_SCALAR_TAGS = {f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null", "timestamp")}
_ENV_REFERENCE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\{[^}]*\}?")
_LOOKS_LIKE_HOST = re.compile(r"([\w-]+\.)+[\w-]+(:\d+)?(/|$)|localhost(:\d+)?(/|$)")

DEFAULT_MAX_PAGES = 5  # sitemaps fetched per poll of one sitemap source: the root and its newest children
DEFAULT_MAX_LINKS = 200  # entries of a sitemap, or article links of a page, taken per poll (newest first)
# Feed keys that only some kinds of source take.
_KIND_OPTIONS = {"selector": ("page",), "pattern": ("page",), "max_pages": ("sitemap",),
                 "max_links": ("sitemap", "page")}

KeyPath = tuple[str | int, ...]  # where a value sits in the YAML: ("feeds", 3, "interval")


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with the config, at its place in the file."""

    file: str
    line: int | None
    column: int | None
    key: str  # dotted, with list indices: "feeds[3].interval"; "" for the file as a whole
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        place = ":".join([self.file] + [str(n) for n in (self.line, self.column) if n is not None])
        key = f" {self.key}:" if self.key else ""
        return f"{place}:{key} {self.message}" + (f" (hint: {self.hint})" if self.hint else "")


class ConfigError(MonitorError):
    """feeds.yaml could not be read or is invalid; ``problems`` lists everything wrong, in file order."""

    def __init__(self, problems: Sequence[ConfigProblem]) -> None:
        self.problems = tuple(sorted(problems, key=lambda p: (p.line is None, p.line or 0, p.column or 0)))
        super().__init__("\n".join(str(problem) for problem in self.problems))


def _positive(value: timedelta | None) -> timedelta | None:
    """``value`` unless it is zero: a zero interval or timeout would spin or fail every time."""
    if value is not None and value <= timedelta(0):
        raise _InvalidValue("must be longer than zero", "use e.g. 30s or 15m")
    return value


class _Section(BaseModel):
    # YAML reads "name: 1984" as a number; a name or tag that looks like one is still text.
    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)


class WebSubSettings(_Section):
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
            raise _InvalidValue(f"callback_url {value!r} is not an absolute http(s) URL",
                                "the public URL of this daemon's /websub/ path, e.g. https://monitor.example.org/websub")
        if parts.query or parts.fragment:
            raise _InvalidValue(f"callback_url {value!r} has a query or fragment",
                                "a plain path: each feed's token is added as one more path segment")
        return value.rstrip("/")

    @property
    def enabled(self) -> bool:
        return self.callback_url is not None


class Settings(_Section):
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
    shutdown_grace: Duration = timedelta(seconds=20)  # on SIGTERM, how long polls in flight may finish
    # networks that links from public feeds may reach all the same (monitor.addressguard), e.g. 10.1.0.0/16
    allow_networks: tuple[str, ...] = ()
    listen: str | None = None  # HOST:PORT of the daemon's /healthz and /metrics listener; None = none
    websub: WebSubSettings = WebSubSettings()

    _check_positive = field_validator("interval", "min_interval", "max_interval", "max_backoff", "timeout",
                                      "poll_tick", "config_check_every")(_positive)

    @model_validator(mode="after")
    def _interval_bounds_in_order(self) -> Settings:
        if self.min_interval > self.max_interval:
            raise PydanticCustomError(
                "interval_bounds", "min_interval ({low}) is longer than max_interval ({high})",
                {"low": format_duration(self.min_interval), "high": format_duration(self.max_interval)})
        return self

    @field_validator("allow_networks")
    @classmethod
    def _check_networks(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        checked = []
        for value in values:
            try:
                checked.append(str(ipaddress.ip_network(value.strip(), strict=True)))
            except ValueError as error:
                raise _InvalidValue(f"allow_networks: {value!r} is not a network ({error})",
                                    "write an address or a network, e.g. 10.1.0.0/16 or fd00:1::/64") from None
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
            raise _InvalidValue("websub.callback_url is set but nothing listens for the hub's requests",
                                "set settings.listen (e.g. 127.0.0.1:9100) and route callback_url to its /websub/")
        return self


def listen_address(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:9100``, ``:9100`` for every interface) as (host, port); ValueError with a hint."""
    host, colon, port = value.strip().rpartition(":")
    host = host.strip("[]") if host.startswith("[") and host.endswith("]") else host
    if not colon or not port.isascii() or not port.isdigit() or not 0 <= int(port) <= 65535 or " " in host:
        raise _InvalidValue(f"listen address {value!r} is not HOST:PORT",
                            "e.g. 127.0.0.1:9100 (this machine only) or 0.0.0.0:9100 (every interface)")
    return host or "0.0.0.0", int(port)


class FeedConfig(_Section):
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
                raise _InvalidValue(f"pattern is not a valid regular expression: {error}",
                                    r"e.g. '/news/\d{4}/' (quote it in YAML)") from None
        return value

    @field_validator("selector")
    @classmethod
    def _check_selector(cls, value: str | None) -> str | None:
        if value is not None:
            from lxml.cssselect import CSSSelector, SelectorError  # only needed by configs that use it

            try:
                CSSSelector(value)
            except (SelectorError, ValueError) as error:
                raise _InvalidValue(f"selector is not a valid CSS selector: {error}",
                                    "e.g. 'main article h2 a' or '.headlines a'") from None
        return value

    @model_validator(mode="after")
    def _options_fit_kind(self) -> FeedConfig:
        for key, kinds in _KIND_OPTIONS.items():
            if getattr(self, key) is not None and self.kind not in kinds:
                raise PydanticCustomError(
                    "kind_option", "{key} applies only to kind: {kinds}, not to kind: {kind}",
                    {"key": key, "kinds": " or ".join(kinds), "kind": self.kind})
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
        parts = split_url(value)
        if parts is None:
            raise _InvalidValue(f"url {value!r} is malformed (an unclosed '[' or an IPv6 address that is none)",
                                "write an IPv6 address in brackets: http://[2001:db8::1]:8080/feed")
        if parts.scheme in ("http", "https") and parts.hostname:
            if problem := url_problem(parts):
                raise _InvalidValue(f"url {value!r}: {problem}", "e.g. https://example.org:8443/feed")
            return value
        # urlsplit reads "example.com:8080/feed" as scheme "example.com", so look for "://" instead.
        if "://" not in value and _LOOKS_LIKE_HOST.match(value):
            raise _InvalidValue(f"url {value!r} has no scheme", f"write it in full: https://{value}")
        raise _InvalidValue(f"url {value!r} is not an absolute http(s) URL", "write it as https://host/...")


class DedupSettings(_Section):
    """Deduplication (the ``dedup:`` section).

    The wire threshold was chosen on the dev half of ``bench/wire_eval.py`` (real reprints, half trims, short
    articles of one outlet under shared boilerplate): F1 is flat from 0.40 to 0.55 with boilerplate left out;
    at 0.55 the test half gives P 1.00, R 0.99. The story threshold was chosen on the tuning half of
    ``bench/story_eval.py`` (ECB+, articles placed one at a time through the stage): 0.16 gives the best
    B-cubed F1 there; held-out figures are in bench/README.md.
    """

    enabled: bool = True
    window: Duration = timedelta(days=14)  # near-duplicates and stories are looked for this far back (and ahead)
    wire_threshold: float = Field(0.55, gt=0, le=1)  # shingle containment (or Jaccard) for a wire copy
    story_threshold: float = Field(0.16, gt=0, le=1)  # story score to join a story (tuned on ECB+)

    _check_positive = field_validator("window")(_positive)


def _window_or_off(value: Any) -> timedelta | None:
    """A retention window: a duration, or ``off`` (also ``false`` or nothing) to keep everything."""
    if value is None or value is False or (isinstance(value, str) and value.strip().lower() in ("off", "never")):
        return None
    window = parse_duration(value)
    if window < timedelta(days=1):
        raise _InvalidValue(f"a retention window of {format_duration(window)} is too short",
                            "keep at least 1d, e.g. 180d; or write off to keep everything")
    return window


RetentionWindow = Annotated[
    timedelta | None,
    BeforeValidator(_window_or_off),
    PlainSerializer(lambda value: "off" if value is None else format_duration(value), when_used="json"),
]


class RetentionSettings(_Section):
    """How long what is stored is kept (the ``retention:`` section); ``off`` keeps it for ever.

    Applied once a day by the daemon and by ``monitor prune`` (``monitor.retention``).
    """

    articles: RetentionWindow = timedelta(days=365)  # articles (by fetch time), with everything that hangs on them
    evidence: RetentionWindow = timedelta(days=90)  # match evidence emptied after this; match, score, snippet stay
    deliveries: RetentionWindow = timedelta(days=365)  # delivery ledger rows (digests, alerts) and their items


class Config(_Section):
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

    @property
    def source(self) -> Path | None:
        """The file this config was loaded from, if any."""
        return self._source

    def env_names(self, path: KeyPath) -> tuple[str, ...]:
        """The environment variables the value at ``path`` (and the values under it: a list's items) was
        written with (``${SMTP_HOST:-}``), if any."""
        return tuple(dict.fromkeys(name for at, names in self._env_names.items() if at[:len(path)] == path
                                   for name in names))

    @model_validator(mode="before")
    @classmethod
    def _empty_sections_are_defaults(cls, data: Any) -> Any:
        # "settings:" with everything below it commented out is null, which means "defaults".
        return {k: v for k, v in data.items() if v is not None} if isinstance(data, dict) else data

    @model_validator(mode="after")
    def _unique_feeds(self) -> Config:
        for _, _, message in _duplicate_feeds([(feed.name, feed.url) for feed in self.feeds]):
            raise PydanticCustomError("duplicate_feed", message)
        names = [digest.name.casefold() for digest in self.digests]
        if len(names) != len(set(names)):
            raise PydanticCustomError("duplicate_digest", "two digests have the same name; give each its own")
        if (problem := _ledger_problem(self)) is not None:
            raise PydanticCustomError("retention_ledger", problem)
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
    lookback = max((digest.lookback for digest in config.digests), default=timedelta(0))
    if retention.deliveries > lookback:
        return None
    return (f"retention.deliveries ({format_duration(retention.deliveries)}) must be at least retention.articles "
            f"({'off' if retention.articles is None else format_duration(retention.articles)}) or longer than "
            f"the longest digest lookback ({format_duration(lookback)}): an article whose delivery rows are "
            f"gone could be sent again")


def _duplicate_feeds(feeds: Sequence[tuple[Any, Any]]) -> list[tuple[int, str, str]]:
    """(index, "name" or "url", message) for each feed that repeats an earlier one's name or URL."""
    found, first_index = [], {}
    for index, (name, url) in enumerate(feeds):
        for field, value in (("name", name), ("url", url)):
            if not isinstance(value, str) or not value.strip():
                continue
            value = value.strip()
            parts = split_url(value)  # scheme and host are case-insensitive, the rest is not
            if field == "url" and parts is None:
                continue  # reported as malformed by the feed's own check
            same = value.casefold() if field == "name" else parts._replace(netloc=parts.netloc.lower())
            if (field, same) in first_index:
                message = f"duplicate feed {field} {value!r}, as in feeds[{first_index[field, same]}]"
                found.append((index, field, message))
            first_index.setdefault((field, same), index)
    return found


def load_config(path: Path | str, environ: Mapping[str, str] | None = None) -> Config:
    """Read feeds.yaml, expand ``${VAR}`` references and validate it.

    Args:
        path: the YAML file.
        environ: where ``${VAR}`` references are looked up; ``os.environ`` when None.

    Returns:
        The frozen Config, with ``source`` set to ``path``.

    Raises:
        ConfigError: listing every problem found, each with its file, line and key.
    """
    path = Path(path)
    reader = _NodeReader(str(path), os.environ if environ is None else environ)
    data = reader.read(_compose(path))
    problems = reader.problems
    if not isinstance(data, dict):
        top = reader.problem((), "the top level must be a mapping of sections", "start with 'feeds:'")
        raise ConfigError([*problems, top])
    # Checked on the raw data too, so duplicates come with every other problem and with their line
    # (Config's own check runs only once everything else is valid, and knows no lines).
    if isinstance(data.get("feeds"), list):
        items = [item if isinstance(item, dict) else {} for item in data["feeds"]]
        names_and_urls = [(item.get("name"), item.get("url")) for item in items]
        for index, field, message in _duplicate_feeds(names_and_urls):
            hint = f"give each feed its own {field}"
            problems.append(reader.problem(("feeds", index, field), message, hint))
    try:
        config = Config.model_validate(data)
    except ValidationError as error:
        problems += [_problem_from(reader, e) for e in error.errors(include_url=False) if _is_new(e, reader)]
    if problems:
        raise ConfigError(problems)
    config._source, config._from_env = path, frozenset(reader.from_env)
    config._env_names = dict(reader.env_names)
    if found := watchlist_problems(config, reader):  # queries and aliases, once the shape is right
        raise ConfigError(found)
    return config


# libyaml when PyYAML has it: ten times faster on a long feed list, and its nodes carry the same marks.
# A file it rejects is read again by the pure-Python parser, whose messages say more.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _compose(path: Path) -> yaml.Node:
    """The YAML node tree of ``path``, or ConfigError for a missing, huge, empty or malformed file."""

    def fail(message: str, hint: str | None, mark: yaml.Mark | None = None) -> ConfigError:
        line, column = (mark.line + 1, mark.column + 1) if mark else (None, None)
        return ConfigError([ConfigProblem(str(path), line, column, "", message, hint)])

    try:
        text = read_bounded(path, MAX_FILE_BYTES).decode("utf-8-sig")
    except FileNotFoundError:
        raise fail("config file not found", "create it, or pass --config / set MONITOR_CONFIG") from None
    except FileTooLarge:
        size = describe_size(MAX_FILE_BYTES)
        raise fail(f"file is larger than {size}", "is this the right file? feeds.yaml is normally a few KB") from None
    except (OSError, UnicodeDecodeError) as error:
        raise fail(f"cannot read the config file: {error}", "it must be a readable UTF-8 text file") from None
    try:
        if (deep := _too_deep(text)) is not None:
            raise fail(f"the YAML nests more than {MAX_YAML_DEPTH} levels deep",
                       "mappings and lists inside each other: is this the right file?", deep)
        try:
            root = yaml.compose(text, Loader=_LOADER)
        except yaml.YAMLError:
            if _LOADER is yaml.SafeLoader:
                raise
            # The pure-Python parser says more about what is wrong (a tab, say): let it tell.
            root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        tabs = "'\\t'" in str(error.problem)
        hint = "indent with spaces, not tabs" if tabs else "check the indentation and quoting here"
        raise fail(f"YAML syntax error: {error.problem}", hint, error.problem_mark) from None
    except yaml.YAMLError as error:
        raise fail(f"YAML syntax error: {error}", None) from None
    if root is None:
        raise fail("config file is empty", "add a 'feeds:' list with a name and url for each feed")
    return root


def _too_deep(text: str) -> yaml.Mark | None:
    """Where the YAML first nests deeper than ``MAX_YAML_DEPTH``, if it does. The parser's events come
    without recursion; composing them into nodes recurses once per level, so the depth is checked first."""
    # libyaml scans ahead and may stop at a syntax error (or its own depth limit) before it hands out the
    # events that go too deep; the pure-Python parser, which then reads the file again, does not.
    for loader in dict.fromkeys((_LOADER, yaml.SafeLoader)):
        depth = 0
        try:
            for event in yaml.parse(text, Loader=loader):
                if isinstance(event, yaml.CollectionStartEvent):
                    depth += 1
                    if depth > MAX_YAML_DEPTH:
                        return event.start_mark
                elif isinstance(event, yaml.CollectionEndEvent):
                    depth -= 1
            return None
        except yaml.YAMLError:
            continue
    return None  # a syntax error within the limit: composing reports it, with its best message


class _NodeReader:
    """Builds plain data from YAML nodes, remembering where each path is and which came from ${VAR}."""

    def __init__(self, file: str, environ: Mapping[str, str]) -> None:
        self.file, self.environ = file, environ
        self.marks: dict[KeyPath, tuple[int, int]] = {}  # 1-based (line, column) of each key or item
        self.from_env: set[KeyPath] = set()
        self.env_names: dict[KeyPath, tuple[str, ...]] = {}  # the variables each such value names
        self.unresolved: set[KeyPath] = set()  # already reported; pydantic's errors there would repeat them
        self.problems: list[ConfigProblem] = []
        self._nodes = 0
        self._constructor = yaml.constructor.SafeConstructor()

    def problem(self, path: KeyPath, message: str, hint: str | None = None) -> ConfigProblem:
        """A problem placed at ``path``, or at its nearest recorded parent."""
        for depth in range(len(path), -1, -1):
            if path[:depth] in self.marks:
                return ConfigProblem(self.file, *self.marks[path[:depth]], _dotted(path), message, hint)
        return ConfigProblem(self.file, None, None, _dotted(path), message, hint)

    def read(self, node: yaml.Node, path: KeyPath = (), mark: yaml.Mark | None = None) -> Any:
        """The plain value of ``node``; ``mark`` is where its key starts, if it has one."""
        mark = mark or node.start_mark
        self.marks[path] = (mark.line + 1, mark.column + 1)
        self._nodes += 1
        if self._nodes > MAX_YAML_NODES or len(path) > MAX_YAML_DEPTH:
            hint = "an alias (*name) must not contain itself or multiply into a huge tree"
            raise ConfigError([self.problem(path[:2], "the file nests or repeats too much", hint)])
        if isinstance(node, yaml.MappingNode) and node.tag == "tag:yaml.org,2002:map":
            return self._read_mapping(node, path)
        if isinstance(node, yaml.SequenceNode) and node.tag == "tag:yaml.org,2002:seq":
            return [self.read(item, path + (index,)) for index, item in enumerate(node.value)]
        if isinstance(node, yaml.ScalarNode) and node.tag in _SCALAR_TAGS:
            try:
                value = self._constructor.construct_object(node)
            except (yaml.YAMLError, ValueError, OverflowError) as error:
                return self._unresolved(path, f"cannot read {node.value!r}: {error}", None)
            return self._expand(value, path) if isinstance(value, str) else value
        hint = "only plain YAML is allowed: mappings, lists, text, numbers, booleans"
        return self._unresolved(path, f"unsupported YAML tag {node.tag!r}", hint)

    def _unresolved(self, path: KeyPath, message: str, hint: str | None) -> None:
        """Report a value that could not be read; None stands in for it."""
        self.problems.append(self.problem(path, message, hint))
        self.unresolved.add(path)

    def _read_mapping(self, node: yaml.MappingNode, path: KeyPath) -> dict[str, Any]:
        """A dict, reporting repeated keys (PyYAML would silently keep the last)."""
        result: dict[str, Any] = {}
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self.problems.append(self.problem(path, "a key must be a plain word", None))
                continue
            # The key's text as written: "on:" names a key here, it is not YAML 1.1's True.
            key, mark = key_node.value, key_node.start_mark
            if key in first_line:
                message = f"duplicate key '{key}' (first on line {first_line[key]})"
                place = (mark.line + 1, mark.column + 1)  # this key's, not the first one's
                key_path = _dotted(path + (key,))
                self.problems.append(ConfigProblem(self.file, *place, key_path, message, "remove one"))
            first_line.setdefault(key, mark.line + 1)
            result[key] = self.read(value_node, path + (key,), mark)
        return result

    def _expand(self, text: str, path: KeyPath) -> str:
        """``text`` with ${VAR} and ${VAR:-default} replaced from the environment and $$ by $."""

        def substitute(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if match.group(0) == "$$":
                return "$"
            if name is None:
                hint = "write ${NAME} or ${NAME:-default}, and $$ for a literal $"
                self._unresolved(path, f"malformed reference {match.group(0)!r}", hint)
            elif name in self.environ or default is not None:
                return self.environ.get(name, default)
            else:
                hint = f"export {name}=... or use ${{{name}:-default}}"
                self._unresolved(path, f"environment variable {name} is not set", hint)
            return ""

        expanded = _ENV_REFERENCE.sub(substitute, text)
        # Redacted even when the default was used: a reference marks the value as one to keep out of sight.
        if names := tuple(dict.fromkeys(m.group(1) for m in _ENV_REFERENCE.finditer(text) if m.group(1))):
            self.from_env.add(path)
            self.env_names[path] = names
        return expanded


def _is_new(error: Any, reader: _NodeReader) -> bool:
    """False for a pydantic error that repeats a problem already reported."""
    loc = error["loc"]
    return error["type"] != "duplicate_feed" and not any(loc[: len(p)] == p for p in reader.unresolved)


_HINTS = {
    "bool_type": "use true or false",
    "bool_parsing": "use true or false",
    "int_parsing": "use a whole number",
    "int_type": "use a whole number",
    "byte_size": "use a number with a unit, e.g. 10MB or 512KiB",
    "byte_size_unit": "use a unit such as KB, MB, KiB or MiB",
    "model_type": "expected 'key: value' lines here",
    "dict_type": "expected 'key: value' lines here",
    "tuple_type": "expected a list here: one '- item' per line",
    "kind_option": "set the feed's kind, or remove the key",
    "retention_ledger": "raise retention.deliveries, or set it to off",
}


def _problem_from(reader: _NodeReader, error: Any) -> ConfigProblem:
    """A ConfigProblem for one pydantic error entry."""
    loc, kind, cause = tuple(error["loc"]), error["type"], error.get("ctx", {}).get("error")
    message, hint = error["msg"], _HINTS.get(kind)
    if isinstance(cause, ValueError) and hasattr(cause, "hint"):  # ours: _InvalidValue, DurationError
        message, hint = cause.problem, cause.hint
    elif error["input"] is None and kind.endswith("_type"):
        message, hint = "has no value", "write a value after the ':', or remove the key"
    elif kind == "string_type" and isinstance(error["input"], (bool, date)):
        hint = "put it in quotes: YAML reads yes, no, on, off and dates as other types"
    elif kind == "missing":
        message = f"missing required key '{loc[-1]}'"
        hint = "every feed needs a name and a url" if loc[:1] == ("feeds",) else None
    elif kind == "extra_forbidden":
        valid = list(_model_at(loc[:-1]).model_fields)
        close = difflib.get_close_matches(str(loc[-1]), valid, n=1)
        message = f"unknown key '{loc[-1]}'"
        hint = (f"did you mean '{close[0]}'? " if close else "") + f"valid keys: {', '.join(valid)}"
    if loc in reader.from_env and isinstance(error["input"], str) and error["input"].strip():
        message = message.replace(error["input"].strip(), REDACTED)  # it may be a secret
    return reader.problem(loc, message, hint)


def _model_at(loc: KeyPath) -> Any:
    """The model class that validates the mapping at ``loc``, for listing its keys."""
    model: Any = Config
    for part in loc:
        if isinstance(part, str):
            model = model.model_fields[part].annotation
        if get_origin(model) is tuple:  # tuple[FeedConfig, ...]: the next part is an index into it
            model = get_args(model)[0]
        if get_origin(model) in (Union, UnionType):  # EmailChannel | None: the model is the non-None part
            model = next(arg for arg in get_args(model) if arg is not type(None))
    return model


def _dotted(path: KeyPath) -> str:
    """("feeds", 3, "interval") -> "feeds[3].interval"."""
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path).lstrip(".")


def redacted_dump(config: Config) -> dict[str, Any]:
    """The config as JSON-able data, with values from ${VAR} and passwords in URLs shown as ***."""
    dump = _redacted(config.model_dump(mode="json"), (), config._from_env)
    # The check interval as it takes effect, under its own name only (watchlist.reload_every is its older one).
    dump["settings"]["config_check_every"] = format_duration(config.config_check_every)
    dump.get("watchlist", {}).pop("reload_every", None)
    for feed, shown in zip(config.feeds, dump["feeds"]):
        # Keys of other kinds of source are left out; the caps are shown as they take effect.
        for key, kinds in _KIND_OPTIONS.items():
            if feed.kind not in kinds:
                shown.pop(key, None)
        if "max_pages" in shown and shown["max_pages"] != REDACTED:
            shown["max_pages"] = feed.pages_cap
        if "max_links" in shown and shown["max_links"] != REDACTED:
            shown["max_links"] = feed.links_cap
    return dump


def secret_values(config: Config) -> set[str]:
    """The values no log line may show: those from ${VAR} (as ``monitor check`` hides them), passwords in
    URLs, and the channels' secrets even when written into the file."""
    found: set[str] = set()

    def collect(value: Any, path: KeyPath) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                collect(item, path + (key,))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                collect(item, path + (index,))
        elif isinstance(value, str):
            # Short values from the environment ("1", "true", a port) would blank out half of every line.
            if path in config._from_env and len(value) >= 8:
                found.add(value)
            if "://" in value and (parts := split_url(value)) and (password := parts.password):
                found.add(password)

    collect(config.model_dump(mode="json"), ())
    for digest in config.digests:
        channels = digest.channels
        if channels.email is not None:
            found.add(channels.email.password)
        if channels.slack is not None:
            found.add(channels.slack.webhook_url)
        if channels.webhook is not None:
            found.update(value for name, value in channels.webhook.headers.items()
                         if name.lower() in ("authorization", "cookie") or is_secret_name(name))
    return {value for value in found if value}


def _redacted(value: Any, path: KeyPath, hidden: frozenset[KeyPath]) -> Any:
    """``value`` with the paths in ``hidden`` and the password of every URL replaced by ***."""
    if path in hidden:
        return REDACTED
    if isinstance(value, dict):
        return {key: _redacted(item, path + (key,), hidden) for key, item in value.items()}
    if isinstance(value, list):
        return [_redacted(item, path + (index,), hidden) for index, item in enumerate(value)]
    if isinstance(value, str) and "://" in value and (parts := split_url(value)) and parts.password:
        userinfo, _, host = parts.netloc.rpartition("@")
        return urlunsplit(parts._replace(netloc=f"{userinfo.split(':', 1)[0]}:{REDACTED}@{host}"))
    return value
