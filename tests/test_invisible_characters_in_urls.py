"""A URL copied from a web page, an email or a chat may bring invisible characters (a zero width space, a
left-to-right mark) that make every fetch fail while feeds.yaml looks right: they are reported at their
line. The joiners of Persian and Indic words may stand in a URL's path."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import ConfigError, load_config

PERSIAN_PATH = "https://fa.example.org/\u0646\u06cc\u0645\u200c\u0641\u0627\u0635\u0644\u0647"  # نیم‌فاصله


def feeds_yaml(tmp_path: Path, url: str, extra: str = "") -> Path:
    path = tmp_path / "feeds.yaml"
    path.write_text(f"feeds:\n  - name: A\n    url: {url}\n{extra}", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("http://127.0.0.1:9/a.xml\u200b", "U+200B"),  # zero width space, after the address
        ("\u200ehttps://example.org/rss", "U+200E"),  # left-to-right mark, from a right-to-left page
        ("https://exam\u00adple.org/rss", "U+00AD"),  # soft hyphen, from a word processor
        ("https://example.org/\ufeffrss", "U+FEFF"),
    ],
)
def test_an_invisible_character_in_a_feed_url_is_reported(tmp_path: Path, url: str, code: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(feeds_yaml(tmp_path, url), {})
    (problem,) = caught.value.problems
    assert (problem.line, problem.key) == (3, "feeds[0].url")
    assert f"invisible {code}" in problem.message
    assert problem.hint == "delete it, or retype the URL"


def test_a_webhook_url_with_an_invisible_character_is_reported(tmp_path: Path) -> None:
    digest = (
        "digests:\n  - name: d\n    channels:\n      webhook:\n"
        "        url: https://hooks.example.org/x\u200b\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(feeds_yaml(tmp_path, "https://example.org/rss", digest), {})
    (problem,) = caught.value.problems
    assert problem.line == 8 and "invisible U+200B" in problem.message


def test_a_word_joiner_in_a_path_is_part_of_the_word(tmp_path: Path) -> None:
    config = load_config(feeds_yaml(tmp_path, PERSIAN_PATH), {})
    assert config.feeds[0].url == PERSIAN_PATH
