"""Golden files for the feed parser: each ``tests/data/<case>/feed.*`` is parsed with ``parse_feed`` and the
result, rendered as JSON, must equal the case's ``expected.json`` (for a document that is no feed, the error).

The cases are the project's own small documents: the feed formats (RSS 2.0, RSS 1.0, Atom, JSON Feed) and the
broken documents real feeds send (bad bytes, bad markup, odd dates, entities, truncation). A change to the
parser that changes any of them fails here and shows the difference.

The expected files are written only on request, after a change meant to alter the output::

    MONITOR_REGENERATE_GOLDEN=1 pytest tests/test_parse_golden.py

then review the diff of ``tests/data/*/expected.json`` before committing it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from monitor.ingest.feeditems import NotAFeed, ParsedFeed
from monitor.ingest.parse import parse_feed

DATA = Path(__file__).parent / "data"
FEED_URL = "https://news.example.org/section/feed"  # every case's base for relative links
REGENERATE = os.environ.get("MONITOR_REGENERATE_GOLDEN") == "1"
CASES = sorted(path.parent.name for path in DATA.glob("*/feed.*"))


def _feed_file(case: str) -> Path:
    (path,) = (DATA / case).glob("feed.*")
    return path


def render(feed: ParsedFeed) -> dict[str, Any]:
    """The parsed feed as plain JSON values, in a fixed order, so that a difference reads line by line."""
    rendered: dict[str, Any] = {"title": feed.title, "link": feed.link, "language": feed.language}
    if feed.hub is not None:
        rendered["hub"] = feed.hub
    if feed.self_url is not None:
        rendered["self_url"] = feed.self_url
    rendered["warning"] = feed.warning
    rendered["items"] = [
        {
            "key": item.key,
            "guid": item.guid,
            "url": item.url,
            "title": item.title,
            "author": item.author,
            "published": item.published.isoformat() if item.published else None,
            "summary": item.summary,
            "content": item.content,
            "language": item.language,
        }
        for item in feed.items
    ]
    return rendered


def outcome(case: str) -> dict[str, Any]:
    try:
        return render(parse_feed(_feed_file(case).read_bytes(), url=FEED_URL))
    except NotAFeed as error:
        return {"error": {"type": type(error).__name__, "message": str(error)}}


def test_there_are_cases():
    assert len(CASES) >= 19


@pytest.mark.parametrize("case", CASES)
def test_parse_matches_the_golden_file(case):
    expected_path = DATA / case / "expected.json"
    actual = outcome(case)
    if REGENERATE:
        expected_path.write_text(json.dumps(actual, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    assert expected_path.exists(), f"no {expected_path.name} for {case}: run with MONITOR_REGENERATE_GOLDEN=1"
    # Compared as JSON text, so that values JSON cannot tell apart (a tuple and a list) count as equal.
    assert json.loads(json.dumps(actual)) == json.loads(expected_path.read_text(encoding="utf-8"))
