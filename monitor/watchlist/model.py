"""The ``watchlist:`` section (inline in feeds.yaml or in a file it names) -> validated, compiled topics.

Two steps, both reporting problems at their place in the YAML: pydantic checks the shape (as for the
rest of feeds.yaml), then ``compile_watchlist`` parses every query and alias entry, resolves ``@alias``
references and builds the matcher. A query that does not parse is reported with its topic, the column in
the query and a hint.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field, ValidationError, field_validator, model_validator

from monitor.config.durations import Duration
from monitor.config.errors import ConfigError, ConfigProblem, InvalidValue
from monitor.config.reader import KeyPath, YamlReader, compose
from monitor.config.section import Section
from monitor.config.validation import validation_problems
from monitor.config.values import check_name
from monitor.watchlist.aliases import parse_entry, resolve_aliases
from monitor.watchlist.evidence import Match
from monitor.watchlist.matcher import ArticleText, Matcher, TopicSpec
from monitor.watchlist.query import QuerySyntaxError, parse_query
from monitor.watchlist.tree import AliasRef, Node, Term, term_count

if TYPE_CHECKING:
    from monitor.config.schema import Config

MAX_TOPICS = 10_000
MAX_WATCHLIST_TERMS = 1_000_000  # terms of all topics, aliases expanded: what the matcher is built from


class _HashableSection(Section):
    def __hash__(self) -> int:  # frozen like the rest of the config, though mappings are not hashable
        return hash(self.model_dump_json())


class ExampleConfig(_HashableSection):
    """An example article written out, for topics that look at the title, source, URL or language."""

    title: str = ""
    text: str = ""
    url: str = ""
    lang: str = ""
    source: str = ""


class TopicConfig(_HashableSection):
    """One topic (an item of ``watchlist.topics``)."""

    name: str
    title: str = ""  # shown in digest headers; the name when empty
    description: str = ""
    query: str | None = None  # the boolean form
    weights: dict[str, float] = {}  # the weighted form: term -> weight, each counted once per article
    min_score: float | None = None  # the score from which the topic matches
    enabled: bool = True
    # Texts, URLs of stored articles, or {title, text, url, lang, source}.
    should_match: tuple[str | ExampleConfig, ...] = ()
    should_not_match: tuple[str | ExampleConfig, ...] = ()

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        return check_name(value, max_chars=200, hint="give the topic a short, unique name")

    @model_validator(mode="after")
    def _title_or_name(self) -> TopicConfig:
        # As it takes effect, so `monitor check` shows it and digests need no fallback of their own.
        if not self.title:
            object.__setattr__(self, "title", self.name)  # frozen, and still being built
        return self

    @field_validator("title")
    @classmethod
    def _check_title(cls, value: str) -> str:
        value = " ".join(value.split())  # one line: it heads a digest section and a Slack message
        if len(value) > 200:
            raise InvalidValue(
                "title must be at most 200 characters", "a headline, e.g. Iran–Russia arms transfers"
            )
        return value


class WatchlistConfig(_HashableSection):
    """The ``watchlist:`` section: named alias lists and topics, or ``file:`` naming a YAML that has them."""

    file: str | None = None  # relative to feeds.yaml
    reload_every: Duration = timedelta(seconds=10)  # how often the daemon looks for changes
    aliases: dict[str, tuple[str, ...]] = {}
    topics: tuple[TopicConfig, ...] = Field((), max_length=MAX_TOPICS)

    @field_validator("reload_every")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise InvalidValue("must be longer than zero", "use e.g. 10s")
        return value


# --- Compiled -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Example:
    """A text or a stored article's URL that a topic should (or should not) match."""

    topic: str
    expected: bool
    article: ArticleText | None  # None: look the URL up among stored articles
    url: str | None
    label: str  # short, for reports


@dataclass(frozen=True)
class Topic:
    name: str
    description: str
    query: str | None
    spec: TopicSpec
    examples: tuple[Example, ...]
    title: str = ""  # for people (digest headers): the configured title, else the name

    def __post_init__(self) -> None:
        if not self.title:
            object.__setattr__(self, "title", self.name)


@dataclass(frozen=True)
class WatchlistProblem:
    path: KeyPath  # from the watchlist section, e.g. ("topics", 2, "query")
    message: str
    hint: str | None = None


class Watchlist:
    """Compiled topics and the matcher over all of them. Immutable: a reload builds a new one."""

    def __init__(self, topics: Sequence[Topic], *, fingerprint: str = "", source: str = "") -> None:
        self.topics = tuple(topics)
        self.matcher = Matcher([topic.spec for topic in self.topics])
        self.fingerprint = fingerprint
        self.source = source

    def match(self, article: ArticleText, *, explain: bool = True) -> tuple[Match, ...]:
        return self.matcher.match(article, explain=explain)

    def topic(self, name: str) -> Topic | None:
        return next((t for t in self.topics if t.name.casefold() == name.casefold()), None)

    def title(self, name: str) -> str:
        """The title of topic ``name`` for people: its ``title:``, else its name (also for a topic no
        longer in the watchlist, whose stored matches a digest may still show)."""
        topic = self.topic(name)
        return topic.title if topic is not None else name

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(topic.name for topic in self.topics)


EMPTY = Watchlist(())


def compile_watchlist(
    section: WatchlistConfig, *, source: str = ""
) -> tuple[Watchlist | None, list[WatchlistProblem]]:
    """Parse every alias and query, resolve the aliases, build the matcher.

    Returns:
        The watchlist (None when there are problems) and the problems, each at its path in the section.
    """
    problems: list[WatchlistProblem] = []
    aliases: dict[str, list[Term | AliasRef]] = {}
    for name, entries in section.aliases.items():
        aliases[name] = []
        for index, entry in enumerate(entries):
            try:
                parsed = parse_entry(entry)
            except QuerySyntaxError as error:
                problems.append(
                    WatchlistProblem(
                        ("aliases", name, index), f"alias '{name}': {entry!r}: {error.problem}", error.hint
                    )
                )
                continue
            if not isinstance(parsed, (Term, AliasRef)) or (isinstance(parsed, Term) and parsed.field):
                problems.append(
                    WatchlistProblem(
                        ("aliases", name, index),
                        f"alias '{name}': {entry!r} is a query",
                        "an alias lists terms and phrases, one spelling per item; put queries in topics "
                        "(a phrase with these very words goes in double quotes: '\"a OR b\"')",
                    )
                )
                continue
            aliases[name].append(parsed)
    topics, total_terms = [], 0
    seen: dict[str, int] = {}  # folded name: index of the first topic of that name
    for index, config in enumerate(section.topics):
        where = ("topics", index)
        if config.name.casefold() in seen:
            problems.append(
                WatchlistProblem(
                    (*where, "name"),
                    f"duplicate topic name '{config.name}', as in topics[{seen[config.name.casefold()]}]",
                    "give each topic its own name",
                )
            )
        seen.setdefault(config.name.casefold(), index)
        topic = _compile_topic(config, aliases, where, problems)
        if topic is not None and config.enabled:
            topics.append(topic)
            total_terms += _terms(topic.spec)
            if total_terms > MAX_WATCHLIST_TERMS:
                problems.append(
                    WatchlistProblem(
                        where,
                        f"the topics up to '{config.name}' expand to more than {MAX_WATCHLIST_TERMS} terms",
                        "aliases are written out in every topic that uses them; use fewer or smaller ones",
                    )
                )
                break
    if problems:
        return None, problems
    return Watchlist(topics, fingerprint=fingerprint(section), source=source), []


def _compile_topic(
    config: TopicConfig, aliases, where: KeyPath, problems: list[WatchlistProblem]
) -> Topic | None:
    before = len(problems)
    name = config.name
    if config.query is None and not config.weights:
        problems.append(
            WatchlistProblem(
                where,
                f"topic '{name}' has neither a query nor weights",
                "add query: 'Iran AND \"ballistic missile*\"' or weights with a min_score",
            )
        )
        return None
    if config.weights and config.min_score is None:
        problems.append(
            WatchlistProblem(
                (*where, "weights"),
                f"topic '{name}' has weights but no min_score",
                "add min_score: the total weight from which the topic matches",
            )
        )
    query = None
    if config.query is not None:
        try:
            query = resolve_aliases(parse_query(config.query), aliases, config.query)
        except QuerySyntaxError as error:
            problems.append(
                WatchlistProblem(
                    (*where, "query"),
                    f"topic '{name}': query column {error.column}: "
                    f"{error.problem}{_excerpt(config.query, error.column)}",
                    error.hint,
                )
            )
    weights = []
    first_entry: dict[object, str] = {}  # each term's first key in weights:
    for entry, weight in config.weights.items():
        try:
            node: Node = parse_entry(entry)
            node = resolve_aliases(node, aliases, entry)
        except QuerySyntaxError as error:
            problems.append(
                WatchlistProblem(
                    (*where, "weights", entry),
                    f"topic '{name}': weight {entry!r}: {error.problem}",
                    error.hint,
                )
            )
            continue
        # "Iran" and "iran " are two keys to YAML and one term to the matcher: both weights would count.
        same = (node.tokens, node.prefix, node.field) if isinstance(node, Term) else str(node)
        if same in first_entry:
            problems.append(
                WatchlistProblem(
                    (*where, "weights", entry),
                    f"topic '{name}': weight {entry!r} repeats {first_entry[same]!r}, whatever its case",
                    "keep one of the two, with the weight you mean",
                )
            )
            continue
        first_entry[same] = entry
        weights.append((entry, node, weight))
    examples = [*_examples(config, True), *_examples(config, False)]
    if len(problems) > before:
        return None
    spec = TopicSpec(name, query, tuple(weights), config.min_score)
    return Topic(name, config.description, config.query, spec, tuple(examples), config.title)


def _terms(spec: TopicSpec) -> int:
    """The terms of a topic's query and weights, aliases expanded."""
    return (term_count(spec.query) if spec.query is not None else 0) + sum(
        term_count(node) for _, node, _ in spec.weights
    )


def _excerpt(query: str, column: int) -> str:
    """A few characters of the query around the column, to find the place in a long query."""
    query = query.replace("\n", " ").replace("\r", " ").replace("\t", " ")  # one line, the same columns
    if len(query) <= 60:
        return f" in «{query}»"
    start = max(0, column - 30)
    return f" near «{query[start : column + 30]}»"


def _examples(config: TopicConfig, expected: bool) -> list[Example]:
    found = []
    for item in config.should_match if expected else config.should_not_match:
        if isinstance(item, str):
            text = item.strip()
            if text.startswith(("http://", "https://")) and " " not in text:
                found.append(Example(config.name, expected, None, text, text))
            else:
                found.append(Example(config.name, expected, ArticleText(body=text), None, _label(text)))
        else:
            article = ArticleText(
                item.title, item.text, item.url, item.lang, (item.source,) if item.source else ()
            )
            found.append(Example(config.name, expected, article, None, _label(item.title or item.text)))
    return found


def _label(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 70 else text[:69] + "…"


def fingerprint(section: WatchlistConfig) -> str:
    """Names this watchlist's content: equal for equal topics and aliases."""
    dumped = section.model_dump_json(exclude={"file", "reload_every"})
    return hashlib.sha256(dumped.encode()).hexdigest()[:12]


# --- Loading from the configuration ---------------------------------------------------------------------


def watchlist_file(config: Config) -> Path | None:
    """The separate watchlist file the config names, if it names one."""
    if config.watchlist.file is None:
        return None
    path = Path(os.path.expanduser(config.watchlist.file))
    base = config.source.parent if config.source else Path.cwd()
    return path if path.is_absolute() else base / path


def load_watchlist(config: Config) -> Watchlist:
    """The compiled watchlist of ``config`` (reading the file it names, if any).

    Raises:
        ConfigError: every problem, at its file, line and key.
    """
    watchlist, problems = _load(config, None)
    if problems:
        raise ConfigError(problems)
    assert watchlist is not None
    return watchlist


def watchlist_problems(config: Config, reader: YamlReader) -> list[ConfigProblem]:
    """Problems of the watchlist of a config that is otherwise valid (``load_config`` calls this), and the
    digests' ``topics:`` that name no topic of it (a topic renamed or removed, a typo): such a digest would
    carry nothing of that topic, without a word."""
    watchlist, problems = _load(config, reader)
    if problems or watchlist is None:
        return problems
    known = {topic.name for topic in _section(config)[0].topics}  # a disabled topic may be named
    for index, digest in enumerate(config.digests):
        for place, name in enumerate(digest.topics):
            if name not in known:
                problems.append(
                    reader.problem(
                        ("digests", index, "topics", place),
                        f"digest {digest.name!r} names the topic {name!r}, which the watchlist does not have",
                        f"name one of: {', '.join(sorted(known)) or 'none defined'}; or leave topics: out for "
                        "every topic",
                    )
                )
    return problems


def watchlist_section(config: Config) -> WatchlistConfig:
    """The watchlist's aliases and topics as written: inline, or in the file it names (``monitor check``
    shows them). Raises ConfigError as ``load_watchlist`` does."""
    section, _, problems = _section(config)
    if problems:
        raise ConfigError(problems)
    return section


def _load(config: Config, reader: YamlReader | None) -> tuple[Watchlist | None, list[ConfigProblem]]:
    section, file_reader, problems = _section(config)
    if problems:
        return None, problems
    path = watchlist_file(config)
    # Problems are placed in the file that holds the watchlist, at their lines.
    reader = file_reader or reader or YamlReader(str(config.source or "feeds.yaml"), {})
    watchlist, found = compile_watchlist(section, source=str(path or config.source or ""))
    return watchlist, [reader.problem(("watchlist", *p.path), p.message, p.hint) for p in found]


def _section(config: Config) -> tuple[WatchlistConfig, YamlReader | None, list[ConfigProblem]]:
    """The watchlist section in force (the file's, when it names one), the reader of that file, and the
    problems of reading it."""
    section = config.watchlist
    path = watchlist_file(config)
    if path is not None:
        if section.aliases or section.topics:
            where = ConfigProblem(
                str(config.source),
                None,
                None,
                "watchlist.file",
                "watchlist has both file: and topics or aliases",
                "keep one: the file, or inline",
            )
            return section, None, [where]
        reader = YamlReader(str(path), os.environ)
        try:
            data = reader.read(
                compose(
                    path,
                    role="watchlist file",
                    # A watchlist file given alone (`backtest --candidate`) has no feeds.yaml naming it.
                    missing=f"create it, or correct watchlist.file in {config.source}"
                    if config.source is not None
                    else "check the path",
                    empty="add 'topics:', each with a name and a query",
                ),
                ("watchlist",),
            )
        except ConfigError as error:
            return section, reader, list(error.problems)
        problems = list(reader.problems)
        if not isinstance(data, dict):
            return (
                section,
                reader,
                [
                    *problems,
                    reader.problem(
                        ("watchlist",),
                        "a watchlist file is a mapping",
                        "start it with 'aliases:' or 'topics:'",
                    ),
                ],
            )
        if "file" in data:
            return (
                section,
                reader,
                [
                    *problems,
                    reader.problem(
                        ("watchlist", "file"),
                        "a watchlist file cannot name another",
                        "put aliases: and topics: in this file",
                    ),
                ],
            )
        try:
            section = WatchlistConfig.model_validate(data)
        except ValidationError as error:
            problems += validation_problems(reader, error, WatchlistConfig, ("watchlist",))
        return section, reader, problems
    return section, None, []
