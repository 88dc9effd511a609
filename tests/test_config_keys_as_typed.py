"""Keys and sections typed or pasted a little off: a spreadsheet's capitalised header ("URL") is pointed at its
key, a key holding an invisible character shows it, where it looked the same as the key it is not, and a
feed or a watchlist written as a bare text is told the keys to write, a key left out of its
section where it belongs, a percentage the number to write."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import ConfigError, ConfigProblem, load_config


def unknown_key(tmp_path: Path, key: str) -> ConfigProblem:
    path = tmp_path / "feeds.yaml"
    path.write_text(
        f"feeds:\n  - name: A\n    url: http://127.0.0.1:9/a.xml\n    {key}: 1h\n", encoding="utf-8"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    (problem,) = [p for p in caught.value.problems if p.message.startswith("unknown key")]
    assert problem.line == 4
    return problem


@pytest.mark.parametrize("key", ["Interval", "INTERVAL"])
def test_a_capitalised_key_is_pointed_at_its_own(tmp_path: Path, key: str) -> None:
    problem = unknown_key(tmp_path, key)
    assert problem.hint is not None and problem.hint.startswith("did you mean 'interval'?")


@pytest.mark.parametrize(
    ("key", "shown"), [("interval\u200b", "'interval\\u200b'"), ("interval\u00a0", "'interval\\xa0'")]
)
def test_an_invisible_character_in_a_key_is_shown(tmp_path: Path, key: str, shown: str) -> None:
    problem = unknown_key(tmp_path, key)
    assert problem.message == f"unknown key {shown}"


def test_a_list_of_bare_urls_is_told_what_a_feed_is(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text("feeds:\n  - https://example.org/rss.xml\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    (problem,) = caught.value.problems
    assert problem.message == "expected 'key: value' lines here, not the text 'https://example.org/rss.xml'"
    assert problem.hint == "a feed is a name and a url: '- {name: Example, url: https://example.org/rss.xml}'"


def test_a_watchlist_naming_its_file_is_told_the_key(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text("feeds: []\nwatchlist: topics.yaml\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    (problem,) = caught.value.problems
    assert "WatchlistConfig" not in problem.message and "'topics.yaml'" in problem.message
    assert problem.hint == "to read the topics from a file, write 'watchlist: {file: topics.yaml}'"


def test_a_percentage_is_told_to_be_a_plain_number(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text("feeds: []\ndedup:\n  wire_threshold: 55%\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    (problem,) = caught.value.problems
    assert (problem.line, problem.key) == (3, "dedup.wire_threshold")
    assert problem.hint == "use a plain number, e.g. 0.55 or 45: no unit, no %"


@pytest.mark.parametrize(
    ("text", "key", "section"),
    [
        ("feeds: []\nsettings:\ninterval: 5m\n", "interval", "settings"),  # not indented under it
        ("feeds: []\nwatchlist:\n  aliases: {}\ntopics: []\n", "topics", "watchlist"),
    ],
)
def test_a_key_left_out_of_its_section_is_told_where_it_belongs(
    tmp_path: Path, text: str, key: str, section: str
) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    (problem,) = caught.value.problems
    assert problem.message == f"unknown key '{key}'"
    assert problem.hint is not None
    assert problem.hint.startswith(
        f"'{key}' is a key of '{section}:': indent it under that line; valid keys: "
    )
