"""Tests for monitor.config (feeds.yaml loading) and monitor.config.durations."""

from __future__ import annotations

import json
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from monitor.config import (
    MAX_FILE_BYTES,
    Config,
    ConfigError,
    ConfigProblem,
    FeedConfig,
    Settings,
    load_config,
    redacted_dump,
)
from monitor.config.durations import Duration, format_duration, parse_duration, parse_since
from monitor.errors import MonitorError

NO_ENV: dict[str, str] = {}


def write(tmp_path: Path, text: str, name: str = "feeds.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def load(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> Config:
    return load_config(write(tmp_path, text), NO_ENV if environ is None else environ)


def problems(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> list[ConfigProblem]:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text, environ)
    return list(caught.value.problems)


def only_problem(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> ConfigProblem:
    found = problems(tmp_path, text, environ)
    assert len(found) == 1, "\n".join(map(str, found))
    return found[0]


# --- durations ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("15m", timedelta(minutes=15)),
        ("1h", timedelta(hours=1)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1h 30m", timedelta(hours=1, minutes=30)),
        (" 1H30M ", timedelta(hours=1, minutes=30)),
        ("2d", timedelta(days=2)),
        ("1w", timedelta(weeks=1)),
        ("500ms", timedelta(milliseconds=500)),
        ("30", timedelta(seconds=30)),
        ("1.5h", timedelta(minutes=90)),
        ("0", timedelta(0)),
        ("0s", timedelta(0)),
        (45, timedelta(seconds=45)),
        (2.5, timedelta(seconds=2.5)),
        (timedelta(minutes=3), timedelta(minutes=3)),
    ],
)
def test_parse_duration_accepts(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "bad", ["abc", "", "5x", "m", "1h abc", "1e5s", "h1", "1 h m", None, True, float("nan"), [1]]
)
def test_parse_duration_rejects_garbage(bad):
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(bad)


def test_parse_duration_message_explains_the_format():
    with pytest.raises(ValueError) as caught:
        parse_duration("abc")
    assert str(caught.value) == "invalid duration 'abc': use a number with s, m, h, d or w, e.g. 15m"


@pytest.mark.parametrize("negative", ["-5m", "-30", -1, timedelta(seconds=-1)])
def test_parse_duration_rejects_negative(negative):
    with pytest.raises(ValueError, match="negative"):
        parse_duration(negative)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (timedelta(hours=1, minutes=30), "1h30m"),
        (timedelta(minutes=15), "15m"),
        (timedelta(seconds=45), "45s"),
        (timedelta(days=2), "2d"),
        (timedelta(weeks=1), "7d"),
        (timedelta(0), "0s"),
        (timedelta(milliseconds=500), "500ms"),
        (timedelta(seconds=2, milliseconds=5), "2s5ms"),
        (timedelta(microseconds=250), "0.25ms"),
        (timedelta(days=1, seconds=1), "1d1s"),
    ],
)
def test_format_duration_is_compact(value, expected):
    assert format_duration(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        timedelta(0),
        timedelta(seconds=1),
        timedelta(hours=25, minutes=1, seconds=1),
        timedelta(days=400),
        timedelta(milliseconds=1),
        timedelta(microseconds=1),
        timedelta(seconds=59, microseconds=999_999),
    ],
)
def test_format_and_parse_round_trip(value):
    assert parse_duration(format_duration(value)) == value


@pytest.mark.parametrize("text", ["90s", "1h30m", "2d", "500ms", "1d2h3m4s"])
def test_parse_and_format_round_trip(text):
    assert parse_duration(format_duration(parse_duration(text))) == parse_duration(text)


class _Timed(BaseModel):
    every: Duration
    maybe: Duration | None = None


def test_duration_type_in_a_model_dumps_compact_json():
    timed = _Timed(every="1h30m")
    assert timed.every == timedelta(minutes=90)
    assert timed.model_dump() == {"every": timedelta(minutes=90), "maybe": None}
    assert timed.model_dump(mode="json") == {"every": "1h30m", "maybe": None}
    assert _Timed.model_validate_json(timed.model_dump_json()) == timed
    with pytest.raises(ValidationError, match="invalid duration 'soon'"):
        _Timed(every="soon")


NOW = datetime(2024, 9, 10, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2d", datetime(2024, 9, 8, 12, 0, tzinfo=UTC)),
        ("12H", datetime(2024, 9, 10, 0, 0, tzinfo=UTC)),
        ("1h30m", datetime(2024, 9, 10, 10, 30, tzinfo=UTC)),
        ("2024-09-01", datetime(2024, 9, 1, tzinfo=UTC)),
        ("2024-09-01T10:00Z", datetime(2024, 9, 1, 10, 0, tzinfo=UTC)),
        ("2024-09-01T10:00", datetime(2024, 9, 1, 10, 0, tzinfo=UTC)),
        ("2024-09-01T10:00+02:00", datetime(2024, 9, 1, 8, 0, tzinfo=UTC)),
    ],
)
def test_parse_since(text, expected):
    since = parse_since(text, NOW)
    assert since == expected
    assert since.tzinfo == UTC


def test_parse_since_takes_a_naive_now_as_utc():
    assert parse_since("1d", datetime(2024, 9, 10)) == datetime(2024, 9, 9, tzinfo=UTC)


@pytest.mark.parametrize("bad", ["yesterday", "", "2024", "30", "2024-13-01", "-2d"])
def test_parse_since_rejects_with_a_hint(bad):
    with pytest.raises(ValueError, match=r"invalid --since .*use a duration back from now like 2d"):
        parse_since(bad, NOW)


# --- valid configs -----------------------------------------------------------------------------


def test_minimal_config_uses_defaults(tmp_path):
    config = load(
        tmp_path,
        """
        feeds:
          - name: Example
            url: https://example.com/feed.xml
    """,
    )
    assert config.settings == Settings()
    assert config.source == tmp_path / "feeds.yaml"
    (feed,) = config.feeds
    assert feed == FeedConfig(name="Example", url="https://example.com/feed.xml")
    assert (feed.kind, feed.tags, feed.enabled) == ("rss", (), True)
    assert feed.interval is None and feed.fetch_pages is None
    assert config.interval_for(feed) == timedelta(minutes=30)
    assert config.fetch_pages_for(feed) is True


def test_settings_defaults():
    settings = Settings()
    assert settings.user_agent is None and settings.contact is None
    assert settings.interval == timedelta(minutes=30)
    assert settings.max_backoff == timedelta(hours=24)
    assert settings.timeout == timedelta(seconds=30)
    assert settings.max_bytes == 10_000_000
    assert settings.max_redirects == 5
    assert (settings.concurrency, settings.per_host) == (64, 2)
    assert settings.host_delay == timedelta(seconds=1)
    assert settings.fetch_pages is True and settings.respect_robots is True
    assert settings.min_body_chars == 250
    assert settings.max_entries_per_poll == 100
    assert settings.extract_workers is None
    assert settings.poll_tick == timedelta(seconds=30)
    assert Config().feeds == () and Config().source is None


def test_feeds_follow_their_rhythm_unless_an_interval_is_fixed(tmp_path):
    config = load(
        tmp_path,
        """
        settings:
          min_interval: 2m
          max_interval: 12h
        feeds:
          - {name: wire, url: "https://example.org/wire.xml"}
          - {name: weekly, url: "https://example.org/weekly.xml", interval: 6h}
    """,
    )
    settings = config.settings
    assert (settings.min_interval, settings.max_interval) == (timedelta(minutes=2), timedelta(hours=12))
    wire, weekly = config.feeds
    assert config.fixed_interval_for(wire) is None
    assert config.fixed_interval_for(weekly) == timedelta(hours=6)
    assert Settings().min_interval == timedelta(minutes=5) and Settings().max_interval == timedelta(hours=24)


def test_equal_interval_bounds_fix_every_feed(tmp_path):
    config = load(
        tmp_path,
        """
        settings: {min_interval: 20m, max_interval: 20m}
        feeds: [{name: wire, url: "https://example.org/wire.xml"}]
    """,
    )
    assert config.fixed_interval_for(config.feeds[0]) == timedelta(minutes=20)


def test_interval_bounds_out_of_order_are_refused(tmp_path):
    problem = only_problem(
        tmp_path,
        """
        settings: {min_interval: 2h, max_interval: 30m}
    """,
    )
    assert problem.message == "min_interval (2h) is longer than max_interval (30m)"
    zero = only_problem(
        tmp_path,
        """
        settings: {min_interval: 0s}
    """,
    )
    assert (zero.key, zero.message) == ("settings.min_interval", "must be longer than zero")


def test_full_config(tmp_path):
    config = load(
        tmp_path,
        """
        settings:
          user_agent: MyBot/2.0
          contact: ops@example.com
          interval: 15m
          max_backoff: 12h
          timeout: 10s
          max_bytes: 512KiB
          max_redirects: 0
          concurrency: 4
          per_host: 1
          host_delay: 0
          fetch_pages: false
          respect_robots: no
          min_body_chars: 0
          max_entries_per_poll: 20
          extract_workers: 3
          poll_tick: 1m
        feeds:
          - name: "  Le Monde  "
            url: https://www.lemonde.fr/rss/une.xml
            kind: rss
            interval: 1h30m
            tags: [france, news]
            enabled: false
            fetch_pages: true
          - name: 1984
            url: http://example.org:8080/feed?x=1
            tags: [2024]
    """,
    )
    settings = config.settings
    assert settings.user_agent == "MyBot/2.0" and settings.contact == "ops@example.com"
    assert settings.interval == timedelta(minutes=15)
    assert settings.max_backoff == timedelta(hours=12)
    assert settings.timeout == timedelta(seconds=10)
    assert settings.max_bytes == 512 * 1024
    assert (settings.max_redirects, settings.concurrency, settings.per_host) == (0, 4, 1)
    assert settings.host_delay == timedelta(0)
    assert settings.fetch_pages is False and settings.respect_robots is False
    assert (settings.min_body_chars, settings.max_entries_per_poll, settings.extract_workers) == (0, 20, 3)
    assert settings.poll_tick == timedelta(minutes=1)

    monde, numbered = config.feeds
    assert monde.name == "Le Monde"  # stripped
    assert monde.tags == ("france", "news")
    assert monde.enabled is False
    assert config.interval_for(monde) == timedelta(minutes=90)
    assert config.fetch_pages_for(monde) is True
    assert numbered.name == "1984" and numbered.tags == ("2024",)  # numbers read as text where text is wanted
    assert config.interval_for(numbered) == timedelta(minutes=15)
    assert config.fetch_pages_for(numbered) is False


def test_empty_sections_mean_defaults(tmp_path):
    config = load(
        tmp_path,
        """
        settings:
          # everything commented out
        feeds:
    """,
    )
    assert config.settings == Settings() and config.feeds == ()


def test_feed_lookup_ignores_case_and_names_the_known_feeds(tmp_path):
    config = load(
        tmp_path,
        """
        feeds:
          - {name: Reuters, url: "https://reuters.example/feed"}
          - {name: AP News, url: "https://ap.example/feed"}
    """,
    )
    assert config.feed("reuters").url == "https://reuters.example/feed"
    assert config.feed(" AP NEWS ").name == "AP News"
    with pytest.raises(MonitorError) as caught:
        config.feed("Reuter")
    assert not isinstance(caught.value, KeyError)
    assert caught.value.message == "no feed named 'Reuter'"
    assert caught.value.hint == "did you mean 'Reuters'? known feeds: Reuters, AP News"
    with pytest.raises(MonitorError, match="no feeds are configured"):
        Config().feed("x")


def test_models_are_frozen(tmp_path):
    config = load(
        tmp_path,
        """
        feeds:
          - {name: a, url: "https://a.example/"}
    """,
    )
    with pytest.raises(ValidationError):
        config.settings.interval = timedelta(seconds=1)  # type: ignore[misc]
    with pytest.raises(ValidationError):
        config.feeds[0].url = "https://b.example/"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        config.feeds = ()  # type: ignore[misc]
    with pytest.raises(ValidationError):
        config.source = None  # type: ignore[misc]
    assert isinstance(config.feeds, tuple)
    hash(config)  # frozen all the way down


def test_config_built_in_code_also_refuses_duplicate_feeds():
    with pytest.raises(ValidationError, match="duplicate feed name 'A'"):
        Config(feeds=[{"name": "a", "url": "https://a.example/"}, {"name": "A", "url": "https://b.example/"}])


def test_source_cannot_be_set_from_the_file(tmp_path):
    problem = only_problem(
        tmp_path,
        """
        source: /etc/passwd
    """,
    )
    assert (problem.line, problem.key, problem.message) == (1, "source", "unknown key 'source'")


# --- problems, each at its place ----------------------------------------------------------------


def test_problem_format_matches_the_documented_example(tmp_path):
    # feeds[3].interval lands on line 12, column 5, as in the docstring of ConfigProblem.
    path = write(
        tmp_path,
        """
        feeds:
          - name: a
            url: https://a.example/
          - name: b
            url: https://b.example/
          - name: c
            url: https://c.example/
          - name: d
            url: https://d.example/
            tags: [x]
            enabled: true
            interval: abc
    """,
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path, NO_ENV)
    (problem,) = caught.value.problems
    assert problem == ConfigProblem(
        file=str(path),
        line=12,
        column=5,
        key="feeds[3].interval",
        message="invalid duration 'abc'",
        hint="use a number with s, m, h, d or w, e.g. 15m",
    )
    expected = (
        f"{path}:12:5: feeds[3].interval: invalid duration 'abc'"
        " (hint: use a number with s, m, h, d or w, e.g. 15m)"
    )
    assert str(problem) == expected
    assert str(caught.value) == expected
    assert isinstance(caught.value, MonitorError)


def test_problem_str_without_place_key_or_hint():
    whole_file = ConfigProblem("f.yaml", None, None, "", "config file is empty", None)
    assert str(whole_file) == "f.yaml: config file is empty"
    assert str(ConfigProblem("f.yaml", 3, None, "feeds", "bad", "fix")) == "f.yaml:3: feeds: bad (hint: fix)"


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "nope.yaml", NO_ENV)
    (problem,) = caught.value.problems
    assert problem.file == str(tmp_path / "nope.yaml")
    assert problem.message == "config file not found"
    assert problem.hint == "create it, or pass --config / set MONITOR_CONFIG"


def test_file_larger_than_5_mb_is_refused(tmp_path):
    path = tmp_path / "feeds.yaml"
    with path.open("wb") as handle:
        handle.write(b"# padding\n" * (MAX_FILE_BYTES // 10 + 1))
    with pytest.raises(ConfigError, match="larger than 5 MB"):
        load_config(path, NO_ENV)


@pytest.mark.parametrize("text", ["", "\n\n", "# nothing but a comment\n"])
def test_empty_file(tmp_path, text):
    path = tmp_path / "feeds.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="config file is empty"):
        load_config(path, NO_ENV)


@pytest.mark.parametrize("text", ["- a\n- b\n", "just words\n", "42\n"])
def test_root_must_be_a_mapping(tmp_path, text):
    problem = only_problem(tmp_path, text)
    assert (problem.line, problem.message) == (1, "the top level must be a mapping of sections")


def test_yaml_syntax_error_has_line_and_column(tmp_path):
    problem = only_problem(
        tmp_path,
        """
        settings:
          interval: 15m
         timeout: 10s
    """,
    )
    assert (problem.line, problem.column) == (3, 2)
    assert problem.message.startswith("YAML syntax error: ")
    assert problem.hint is not None and problem.hint.startswith(
        "line this key up with the keys it belongs with"
    )


def test_tab_indentation_gets_its_own_hint(tmp_path):
    path = tmp_path / "feeds.yaml"
    path.write_text("feeds:\n\t- name: a\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, NO_ENV)
    (problem,) = caught.value.problems
    assert problem.line == 2 and problem.hint == "indent with spaces, not tabs"


def test_duplicate_key_names_the_line_of_the_duplicate(tmp_path):
    problem = only_problem(
        tmp_path,
        """
        settings:
          interval: 15m
          timeout: 10s
          interval: 20m
    """,
    )
    assert (problem.line, problem.column, problem.key) == (4, 3, "settings.interval")
    assert problem.message == "duplicate key 'interval' (first on line 2)"


def test_duplicate_key_in_a_feed_and_at_the_top(tmp_path):
    found = problems(
        tmp_path,
        """
        feeds:
          - name: a
            url: https://a.example/
            name: b
        feeds: []
    """,
    )
    assert [(p.line, p.key) for p in found] == [(4, "feeds[0].name"), (5, "feeds")]


def test_duplicate_feed_names_ignore_case(tmp_path):
    problem = only_problem(
        tmp_path,
        """
        feeds:
          - name: Reuters
            url: https://one.example/
          - name: " reuters"
            url: https://two.example/
    """,
    )
    assert (problem.line, problem.key) == (4, "feeds[1].name")
    assert problem.message == "duplicate feed name 'reuters', as in feeds[0]"


def test_duplicate_feed_urls(tmp_path):
    problem = only_problem(
        tmp_path,
        """
        feeds:
          - name: one
            url: https://Example.com/feed
          - name: two
            url: https://example.com/other
          - name: three
            url: https://example.COM/feed
    """,
    )
    assert (problem.line, problem.column, problem.key) == (7, 5, "feeds[2].url")
    assert "duplicate feed url" in problem.message and "feeds[0]" in problem.message


def test_unknown_key_suggests_the_closest_and_lists_valid_keys(tmp_path):
    problem = only_problem(
        tmp_path,
        """
        settings:
          timeout: 10s
          concurency: 4
    """,
    )
    assert (problem.line, problem.column, problem.key) == (3, 3, "settings.concurency")
    assert problem.message == "unknown key 'concurency'"
    assert problem.hint.startswith("did you mean 'concurrency'? valid keys: user_agent, contact, interval,")


def test_unknown_feed_key(tmp_path):
    problem = only_problem(
        tmp_path,
        """
        feeds:
          - name: a
            url: https://a.example/
            tag: [x]
    """,
    )
    assert (problem.line, problem.key) == (4, "feeds[0].tag")
    valid = "name, url, kind, interval, tags, enabled, fetch_pages, selector, pattern, max_pages, max_links"
    assert problem.hint == f"did you mean 'tags'? valid keys: {valid}"


def test_unknown_top_level_section(tmp_path):
    problem = only_problem(
        tmp_path,
        """
        feeds: []
        alerts:
          - topic: x
    """,
    )
    assert (problem.line, problem.key, problem.message) == (2, "alerts", "unknown key 'alerts'")
    assert problem.hint.startswith(
        "'alerts' is a key of each item of 'digests:'; valid keys: settings, feeds"
    )


def test_missing_name_and_url_point_at_the_feed(tmp_path):
    found = problems(
        tmp_path,
        """
        feeds:
          - name: fine
            url: https://fine.example/
          - url: https://nameless.example/
            tags: [x]
          -
            name: urlless
    """,
    )
    assert [(p.line, p.column, p.key, p.message) for p in found] == [
        (4, 5, "feeds[1].name", "missing required key 'name'"),
        (7, 5, "feeds[2].url", "missing required key 'url'"),
    ]
    assert all(p.hint == "every feed needs a name and a url" for p in found)


@pytest.mark.parametrize(
    ("url", "message", "hint"),
    [
        ("example.com/feed.xml", "has no scheme", "write it in full: https://example.com/feed.xml"),
        ("localhost:8080/feed", "has no scheme", "write it in full: https://localhost:8080/feed"),
        ("ftp://example.com/feed", "is not an absolute http(s) URL", "write it as https://host/..."),
        ("/feed.xml", "is not an absolute http(s) URL", "write it as https://host/..."),
        ("https://", "is not an absolute http(s) URL", "write it as https://host/..."),
        ("", "is not an absolute http(s) URL", "write it as https://host/..."),
    ],
)
def test_bad_url(tmp_path, url, message, hint):
    message = f"url {url!r} {message}"
    problem = only_problem(
        tmp_path,
        f"""
        feeds:
          - name: a
            url: "{url}"
    """,
    )
    assert (problem.line, problem.key, problem.message, problem.hint) == (3, "feeds[0].url", message, hint)


def test_bad_values(tmp_path):
    found = problems(
        tmp_path,
        """
        settings:
          interval: 0s
          max_bytes: lots
          max_redirects: 21
          concurrency: 0
          fetch_pages: maybe
        feeds:
          - name: ""
            url: https://a.example/
            kind: atom
          - name:
            url: https://b.example/
            tags: politics
            interval: -5m
          - just-a-url
    """,
    )
    assert [(p.line, p.key) for p in found] == [
        (2, "settings.interval"),
        (3, "settings.max_bytes"),
        (4, "settings.max_redirects"),
        (5, "settings.concurrency"),
        (6, "settings.fetch_pages"),
        (8, "feeds[0].name"),
        (10, "feeds[0].kind"),
        (11, "feeds[1].name"),
        (13, "feeds[1].tags"),
        (14, "feeds[1].interval"),
        (15, "feeds[2]"),
    ]
    by_key = {p.key: p for p in found}
    assert by_key["settings.interval"].message == "must be longer than zero"
    assert by_key["settings.max_bytes"].hint == "use a number with a unit, e.g. 10MB or 512KiB"
    assert by_key["settings.fetch_pages"].hint == "use true or false"
    assert by_key["feeds[0].name"].message == "name must be 1 to 200 characters"
    assert "'rss'" in by_key["feeds[0].kind"].message
    assert by_key["feeds[1].name"].message == "has no value"
    assert by_key["feeds[1].tags"].hint == "expected a list here: one '- item' per line"
    assert by_key["feeds[1].interval"].message == "invalid duration '-5m'"
    assert by_key["feeds[2]"].message == "expected 'key: value' lines here, not the text 'just-a-url'"
    assert by_key["feeds[2]"].hint == "a feed is a name and a url: '- {name: Example, url: just-a-url}'"


def test_yes_and_no_in_text_fields_get_a_quoting_hint(tmp_path):
    problem = only_problem(
        tmp_path,
        """
        feeds:
          - name: Norway
            url: https://no.example/
            tags: [no]
    """,
    )
    assert problem.key == "feeds[0].tags[0]" and problem.line == 4 and "quotes" in problem.hint


def test_every_problem_is_reported_at_once_in_file_order(tmp_path):
    path = write(
        tmp_path,
        """
        settings:
          timeout: soon
          per_hots: 3
        feeds:
          - name: a
            url: a.example
          - name: A
            url: https://b.example/
          - url: https://c.example/
        alerts: {}
    """,
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path, NO_ENV)
    lines = str(caught.value).splitlines()
    assert len(lines) == len(caught.value.problems) == 6
    assert [p.line for p in caught.value.problems] == [2, 3, 6, 7, 9, 10]
    assert lines[0].startswith(f"{path}:2:3: settings.timeout: invalid duration 'soon'")
    assert lines[-1].startswith(f"{path}:10:1: alerts: unknown key 'alerts'")


@pytest.mark.parametrize(
    "text",
    [
        "feeds: !!python/object/apply:os.system ['echo pwned']\n",
        "settings:\n  contact: !!python/name:os.system\n",
        "settings:\n  contact: !custom x\n",
    ],
)
def test_only_safe_yaml(tmp_path, text, capfd):
    problem = only_problem(tmp_path, text)
    assert problem.message.startswith("unsupported YAML tag")
    assert problem.line == text.count("\n")
    assert "pwned" not in capfd.readouterr().out


@pytest.mark.parametrize(
    "text",
    [
        "a: &a [*a]\n",
        "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
        "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
        "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
        "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
        "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
        "f: [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n",
    ],
)
def test_alias_bombs_are_refused(tmp_path, text):
    with pytest.raises(ConfigError, match="nests or repeats too much"):
        load(tmp_path, text)


# --- ${VAR} expansion ---------------------------------------------------------------------------

ENV_CONFIG = """
    settings:
      contact: ${CONTACT}
      user_agent: "Bot/1.0 ($$${CHANNEL:-stable})"
    feeds:
      - name: private
        url: https://reader:${FEED_PASSWORD}@private.example/feed?key=${FEED_KEY:-none}
        tags: [public, "${SECRET_TAG}"]
        interval: ${PRIVATE_INTERVAL:-10m}
      - name: open
        url: https://alice:plain@open.example/feed
"""


def test_env_expansion_defaults_and_dollar_escape(tmp_path):
    environ = {"CONTACT": "ops@example.com", "FEED_PASSWORD": "hunter2", "SECRET_TAG": "vip"}
    config = load(tmp_path, ENV_CONFIG, environ)
    assert config.settings.contact == "ops@example.com"
    assert config.settings.user_agent == "Bot/1.0 ($stable)"
    private, _ = config.feeds
    assert private.url == "https://reader:hunter2@private.example/feed?key=none"
    assert private.tags == ("public", "vip")
    assert private.interval == timedelta(minutes=10)


def test_environment_wins_over_the_default(tmp_path):
    config = load(tmp_path, 'settings:\n  interval: "${POLL:-5m}"\n', {"POLL": "1h"})
    assert config.settings.interval == timedelta(hours=1)


def test_env_defaults_to_os_environ(tmp_path, monkeypatch):
    monkeypatch.setenv("MONITOR_TEST_CONTACT", "from-os@example.com")
    config = load_config(write(tmp_path, "settings:\n  contact: ${MONITOR_TEST_CONTACT}\n"))
    assert config.settings.contact == "from-os@example.com"


def test_dollar_without_braces_is_literal(tmp_path):
    config = load(tmp_path, "settings:\n  user_agent: costs $5 or $$6\n")
    assert config.settings.user_agent == "costs $5 or $6"


def test_unset_variable_is_a_problem_at_its_line(tmp_path):
    found = problems(tmp_path, ENV_CONFIG, {"CONTACT": "x"})
    assert [(p.line, p.key, p.message, p.hint) for p in found] == [
        (
            6,
            "feeds[0].url",
            "environment variable FEED_PASSWORD is not set",
            "export FEED_PASSWORD=... or use ${FEED_PASSWORD:-default}",
        ),
        (
            7,
            "feeds[0].tags[1]",
            "environment variable SECRET_TAG is not set",
            "export SECRET_TAG=... or use ${SECRET_TAG:-default}",
        ),
    ]  # and no second problem about the URL that the missing value broke


def test_malformed_reference(tmp_path):
    problem = only_problem(tmp_path, "settings:\n  contact: ${not a name}\n")
    assert (problem.line, problem.message) == (2, "malformed reference '${not a name}'")


def test_problem_messages_do_not_show_values_from_the_environment(tmp_path):
    problem = only_problem(tmp_path, "feeds:\n  - name: a\n    url: ${URL}\n", {"URL": "token-abc123"})
    assert "token-abc123" not in str(problem)
    assert problem.message == "url '***' is not an absolute http(s) URL"


# --- redacted dump ------------------------------------------------------------------------------


def test_redacted_dump_hides_expanded_values_and_url_passwords(tmp_path):
    environ = {"CONTACT": "ops@example.com", "FEED_PASSWORD": "hunter2", "SECRET_TAG": "vip"}
    dump = redacted_dump(load(tmp_path, ENV_CONFIG, environ))
    text = json.dumps(dump)
    for secret in ("ops@example.com", "hunter2", "vip", "plain"):
        assert secret not in text
    assert dump["settings"]["contact"] == "***"
    assert dump["settings"]["user_agent"] == "***"
    private, open_feed = dump["feeds"]
    assert private["url"] == "***"
    assert private["tags"] == ["public", "***"]
    assert private["interval"] == "***"  # written as ${...}, so redacted even though the default was used
    assert open_feed["url"] == "https://alice:***@open.example/feed"
    assert open_feed["name"] == "open"


def test_redacted_dump_is_json_with_compact_durations_and_int_sizes(tmp_path):
    config = load(
        tmp_path,
        """
        settings:
          interval: 90m
          max_bytes: 2MiB
        feeds:
          - {name: a, url: "https://a.example/", interval: 2d}
    """,
    )
    dump = redacted_dump(config)
    assert json.loads(json.dumps(dump)) == dump
    assert dump["settings"]["interval"] == "1h30m"
    assert dump["settings"]["max_backoff"] == "1d"
    assert dump["settings"]["max_bytes"] == 2 * 1024 * 1024
    assert dump["feeds"] == [
        {
            "name": "a",
            "url": "https://a.example/",
            "kind": "rss",
            "interval": "2d",
            "tags": [],
            "enabled": True,
            "fetch_pages": None,
        }
    ]
    assert "source" not in dump
    assert Config.model_validate(dump) == Config.model_validate(config.model_dump())  # dumps load back


def test_a_list_where_text_belongs_gets_no_quoting_hint(tmp_path):
    problem = only_problem(tmp_path, "settings:\n  contact: [a, b]\n")
    assert (problem.line, problem.key, problem.hint) == (2, "settings.contact", None)


def test_config_check_every_has_its_own_setting_and_honours_the_older_name(tmp_path):
    assert load_config(write(tmp_path, "feeds: []\n")).config_check_every == timedelta(seconds=30)
    own = load_config(write(tmp_path, "settings: {config_check_every: 5s}\nfeeds: []\n"))
    assert own.config_check_every == timedelta(seconds=5)
    older = load_config(write(tmp_path, "watchlist: {reload_every: 7s}\nfeeds: []\n"))
    assert older.config_check_every == timedelta(seconds=7)
    both = load_config(write(tmp_path, "settings: {config_check_every: 5s}\nwatchlist: {reload_every: 7s}\n"))
    assert both.config_check_every == timedelta(seconds=5)  # the new name wins
    assert redacted_dump(older)["settings"]["config_check_every"] == "7s"  # shown as it takes effect
    with pytest.raises(ConfigError, match="longer than zero"):
        load_config(write(tmp_path, "settings: {config_check_every: 0s}\n"))
