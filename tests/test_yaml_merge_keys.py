"""YAML's merge key: ``<<: *defaults`` brings a marked mapping's keys into another, whose own keys win, as
Docker Compose files and CI configurations use it; feeds.yaml and watchlist files read it the same way."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest

from monitor.config import ConfigError, load_config
from monitor.watchlist.model import watchlist_section

FEEDS = """\
feeds:
  - &defaults
    name: A
    url: http://127.0.0.1:9/a.xml
    interval: 15m
    tags: [world]
  - <<: *defaults
    name: B
    url: http://127.0.0.1:9/b.xml
    interval: 1h
  - <<: [{fetch_pages: false, interval: 2h}, *defaults]
    name: C
    url: http://127.0.0.1:9/c.xml
"""


def write(tmp_path: Path, text: str, name: str = "feeds.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_feeds_take_the_merged_keys_and_keep_their_own(tmp_path: Path) -> None:
    a, b, c = load_config(write(tmp_path, FEEDS), {}).feeds
    assert (b.name, b.url, b.tags, b.interval) == (
        "B",
        "http://127.0.0.1:9/b.xml",
        ("world",),
        timedelta(hours=1),
    )
    # In a list of merged mappings the first one wins.
    assert (c.name, c.tags, c.interval, c.fetch_pages) == ("C", ("world",), timedelta(hours=2), False)
    assert a.fetch_pages is None


def test_a_watchlist_file_merges_too(tmp_path: Path) -> None:
    write(tmp_path, "feeds: []\nwatchlist:\n  file: topics.yaml\n")
    write(
        tmp_path,
        "topics:\n"
        "  - &topic {name: arms, query: missile*, should_match: [a missile was sold]}\n"
        "  - {<<: *topic, name: drones, query: drone*}\n",
        "topics.yaml",
    )
    topics = watchlist_section(load_config(tmp_path / "feeds.yaml", {})).topics
    assert [(t.name, t.query, t.should_match) for t in topics] == [
        ("arms", "missile*", ("a missile was sold",)),
        ("drones", "drone*", ("a missile was sold",)),
    ]


def test_merging_what_is_no_mapping_is_an_error_at_its_place(tmp_path: Path) -> None:
    text = (
        "feeds:\n  - name: A\n    url: http://127.0.0.1:9/a.xml\n  - <<: 5\n    name: B\n    url: b.example\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text), {})
    problem = caught.value.problems[0]
    assert (problem.line, problem.key, problem.message) == (4, "feeds[1]", "'<<' merges mappings only")


def test_merges_of_merges_stay_cheap(tmp_path: Path) -> None:
    lines = ["feeds:", "  - &m0 {name: A, url: 'http://127.0.0.1:9/a.xml'}"]
    for level in range(1, 40):  # each level merges the one before it twenty times over
        lines.append(f"  - &m{level} {{<<: [{', '.join([f'*m{level - 1}'] * 20)}], name: F{level}}}")
    started = time.monotonic()
    with pytest.raises(ConfigError) as caught:  # the same url in every feed
        load_config(write(tmp_path, "\n".join(lines) + "\n"), {})
    assert time.monotonic() - started < 10
    assert "url" in str(caught.value)
