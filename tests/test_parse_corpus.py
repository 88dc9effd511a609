"""parse_feed against the third-party feed corpora in ../shared/corpora (read from disk, never copied here).

Every feed file of seven parser projects' test suites goes through ``parse_feed`` without an exception;
``NotAFeed`` is accepted only for the files listed in NOT_FEEDS, which really are no feeds (and they must
raise it). Where a corpus ships its parser's expected output (fastfeedparser's integration tests, rss-parser's
test/output), our item count, titles and links must agree with it.

The corpora live beside the checkout (<root>/main and <root>/shared) or wherever MONITOR_SHARED_DIR points;
without them the module is skipped.
"""

from __future__ import annotations

import fnmatch
import functools
import gzip
import json
import os
import re
from datetime import datetime
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest

from monitor.ingest.feeditems import MAX_KEY_LENGTH, FeedItem, NotAFeed, ParsedFeed
from monitor.ingest.parse import parse_feed
from monitor.ingest.text import html_to_text

SHARED = Path(os.environ.get("MONITOR_SHARED_DIR") or Path(__file__).resolve().parents[2] / "shared")
CORPORA = SHARED / "corpora"
FEED_CORPORA = (
    "feedparser",
    "fastfeedparser",
    "feedjira",
    "rss-parser",
    "rsparser",
    "miniflux",
    "node-feedparser",
)
FEED_SUFFIXES = {".xml", ".rss", ".atom", ".rdf", ".json", ".txt", ".html", ".htm", ".opml", ".gz"}
BASE_URL = "https://corpus.example.com/feeds/feed.xml"

# Files that hold no feed, by glob on "<corpus>/<path>", with the reason.
NOT_FEEDS = {
    "feedparser/tests/illformed/rss_empty_document.xml": "an empty document: only the test's leading comment",
    "feedjira/spec/sample_feeds/*FirstEntry*.xml": "one entry's expected HTML content, a fragment of a feed",
    "rss-parser/test/input/unrecognized.rss": "an HTML 'Document Moved' page",
    "rsparser/Tests/RSParserTests/Resources/*.html": "HTML home pages, kept for feed autodiscovery tests",
    "rsparser/Tests/RSParserTests/Resources/*.opml": "OPML subscription lists",
    "rsparser/Tests/RSParserTests/Resources/ScriptingNews.json": "RSS converted to JSON, not a JSON Feed",
    "miniflux/internal/reader/encoding/testdata/*.html": "HTML pages for charset-detection tests",
    "miniflux/internal/reader/xml/testdata/iso88591*.xml": "a <note> XML document for charset tests",
    "node-feedparser/test/feeds/notafeed.html": "an HTML page",
}

if not CORPORA.is_dir():
    pytest.skip(f"feed corpora not found at {CORPORA} (set MONITOR_SHARED_DIR)", allow_module_level=True)

pytestmark = pytest.mark.corpus


def _is_expectation(corpus: str, rel: str) -> bool:
    """Expected-output and index files that sit among the inputs."""
    path = Path(rel)
    if path.name in ("manifest.json", "expected.json") or path.name.endswith(".expected.json"):
        return True
    if corpus == "rss-parser" and rel.startswith("test/output/"):
        return True
    # fastfeedparser/tests/integration: <name>.json is the expected parse of <name>.xml.
    return (
        corpus == "fastfeedparser"
        and path.suffix == ".json"
        and (CORPORA / corpus / path.with_suffix(".xml")).exists()
    )


def _feed_files() -> list[str]:
    found = []
    for corpus in FEED_CORPORA:
        root = CORPORA / corpus
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*")):
            rel = path.relative_to(root).as_posix()
            if path.is_file() and path.suffix.lower() in FEED_SUFFIXES and not _is_expectation(corpus, rel):
                found.append(f"{corpus}/{rel}")
    return found


FEED_FILES = _feed_files()
if not FEED_FILES:
    pytest.skip(f"no feed files under {CORPORA}", allow_module_level=True)


def _read(name: str) -> bytes:
    body = (CORPORA / name).read_bytes()
    return gzip.decompress(body) if name.endswith(".gz") else body


@functools.cache
def _feedparser_headers() -> dict[str, dict[str, str]]:
    """The simulated response headers of feedparser's test files (its `Header:` comments), by path."""
    index = CORPORA / "feedparser" / "expected.json"
    if not index.exists():
        return {}
    headers = {}
    for entry in json.loads(index.read_text(encoding="utf-8"))["files"]:
        lines = entry.get("http_headers") or []
        pairs = (line.split(":", 1) for line in lines if ":" in line)
        headers[f"feedparser/{entry['file']}"] = {k.strip().lower(): v.strip() for k, v in pairs}
    return headers


def _not_a_feed_reason(name: str) -> str | None:
    return next((why for pattern, why in NOT_FEEDS.items() if fnmatch.fnmatchcase(name, pattern)), None)


def _check_invariants(feed: ParsedFeed) -> None:
    """What every stage after parse relies on, whatever the input."""
    assert isinstance(feed, ParsedFeed)
    keys = [item.key for item in feed.items]
    assert len(keys) == len(set(keys)), "duplicate keys"
    for item in feed.items:
        assert isinstance(item, FeedItem)
        assert item.key and len(item.key) <= MAX_KEY_LENGTH
        assert item.url is None or urlsplit(item.url).scheme in ("http", "https")
        assert item.published is None or (isinstance(item.published, datetime) and item.published.tzinfo)
        for text in (item.title, item.summary, item.content, item.author, item.guid):
            assert text is None or (isinstance(text, str) and text and text == text.strip())
        assert item.title is None or "\n" not in item.title
    assert feed.ttl_minutes is None or feed.ttl_minutes >= 0


@pytest.mark.parametrize("name", FEED_FILES)
def test_corpus_file_parses(name):
    body = _read(name)
    headers = _feedparser_headers().get(name, {})
    reason = _not_a_feed_reason(name)
    if reason is not None:
        with pytest.raises(NotAFeed):
            parse_feed(body, url=BASE_URL, headers=headers)
        return
    _check_invariants(parse_feed(body, url=BASE_URL, headers=headers))


# --- Against the corpora's own expected output -----------------------------------------------------------


def _squash(text: str | None) -> str:
    return " ".join((text or "").split())


def _same_title(ours: str | None, theirs: str | None) -> bool:
    ours, theirs = _squash(ours), _squash(theirs)
    if ours == theirs or ours == _squash(html_to_text(theirs)):
        return True
    if "\ufffd" in theirs:
        # The expected output was decoded with the wrong charset: each undecodable byte became U+FFFD.
        return re.fullmatch(".".join(map(re.escape, theirs.split("\ufffd"))), ours) is not None
    return False


def _expected_link(theirs: str | None) -> str | None:
    link = (theirs or "").strip()
    if not link:
        return None
    link = urljoin(BASE_URL, link)  # they keep relative links as written; we resolve them
    return link if urlsplit(link).scheme in ("http", "https") else None


def _compare(feed: ParsedFeed, expected: list[dict]) -> None:
    titles = [(item.title, e.get("title")) for item, e in zip(feed.items, expected)]
    links = [(item.url, _expected_link(e.get("link"))) for item, e in zip(feed.items, expected)]
    assert len(feed.items) == len(expected)
    assert [pair for pair in titles if not _same_title(*pair)] == []
    assert [pair for pair in links if pair[0] != pair[1]] == []


def _load_json(path: Path) -> dict:
    raw = path.read_bytes()
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:  # rss-parser's encoding.json was written in ISO-8859-1
        return json.loads(raw.decode("iso-8859-1"))


def _fastfeedparser_cases() -> list:
    folder = CORPORA / "fastfeedparser" / "tests" / "integration"
    pairs = [
        (f"{p.stem}.xml", f"{p.stem}.json")
        for p in sorted(folder.glob("*.xml"))
        if p.with_suffix(".json").exists()
    ]
    pairs += [
        (p.name.replace(".expected.json", ".json"), p.name) for p in sorted(folder.glob("*.expected.json"))
    ]
    return [pytest.param(*pair, id=f"fastfeedparser/tests/integration/{pair[0]}") for pair in pairs]


def _rss_parser_cases() -> list:
    folder = CORPORA / "rss-parser" / "test"
    cases = []
    for output in sorted((folder / "output").glob("*.json")):
        inputs = sorted((folder / "input").glob(output.stem + ".*"))
        if inputs:
            cases.append(
                pytest.param(inputs[0].name, output.name, id=f"rss-parser/test/input/{inputs[0].name}")
            )
    return cases


@pytest.mark.parametrize(("feed_file", "expected_file"), _fastfeedparser_cases())
def test_matches_fastfeedparser_expected_output(feed_file, expected_file):
    # All fourteen agree, including malformed_rss_namespaced.xml (undeclared rss: prefixes, which parse.py
    # strips when feedparser finds no items) and utf16_encoded.xml (declares UTF-16, is UTF-8).
    folder = CORPORA / "fastfeedparser" / "tests" / "integration"
    feed = parse_feed((folder / feed_file).read_bytes(), url=BASE_URL, headers={})
    _compare(feed, _load_json(folder / expected_file)["entries"])


@pytest.mark.parametrize(("feed_file", "expected_file"), _rss_parser_cases())
def test_matches_rss_parser_expected_output(feed_file, expected_file):
    # Known and tolerated differences: rss-parser keeps relative links (gulp-atom) and surrounding whitespace
    # (itunes-href) as written, and its uolNoticias output decoded the ISO-8859-1 feed as UTF-8, leaving
    # U+FFFD where we have the right letters. No feed here repeats a GUID, so the counts agree exactly.
    folder = CORPORA / "rss-parser" / "test"
    feed = parse_feed((folder / "input" / feed_file).read_bytes(), url=BASE_URL, headers={})
    _compare(feed, _load_json(folder / "output" / expected_file)["feed"]["items"])


def test_not_feeds_list_is_current():
    """Every NOT_FEEDS pattern still names a file, so the list cannot silently cover new feeds."""
    unused = [
        pattern for pattern in NOT_FEEDS if not any(fnmatch.fnmatchcase(n, pattern) for n in FEED_FILES)
    ]
    assert unused == []
