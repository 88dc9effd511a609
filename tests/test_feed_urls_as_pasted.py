"""A feed's address as browsers and word processors hand it over: a feed: link, or the address in
typographic quotes, which YAML keeps as part of it (an address ending in ” was fetched, and 404ed, at every
poll). Each is reported with the address to write."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import ConfigError, ConfigProblem, load_config


def only_problem(tmp_path: Path, url: str) -> ConfigProblem:
    path = tmp_path / "feeds.yaml"
    path.write_text(f"feeds:\n  - name: A\n    url: {url}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    (problem,) = caught.value.problems
    assert (problem.line, problem.key) == (3, "feeds[0].url")
    return problem


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("feed://example.org/rss.xml", "https://example.org/rss.xml"),
        ("feed:https://example.org/rss", "https://example.org/rss"),
        ("FEED://example.org/rss", "https://example.org/rss"),
    ],
)
def test_a_feed_link_is_told_the_address_to_write(tmp_path: Path, url: str, address: str) -> None:
    problem = only_problem(tmp_path, url)
    assert problem.hint is not None and problem.hint.endswith(f"write the feed's own address: {address}")


@pytest.mark.parametrize(
    "url", ["“https://example.org/a.xml”", "https://example.org/a.xml”", "«https://example.org/a.xml»"]
)
def test_an_address_in_typographic_quotes_is_an_error(tmp_path: Path, url: str) -> None:
    problem = only_problem(tmp_path, url)
    assert "typographic quotes" in problem.message
    assert problem.hint is not None and "straight quotes" in problem.hint
