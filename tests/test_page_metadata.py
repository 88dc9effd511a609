"""A page's metadata as the extraction workers read it: what trafilatura's ``extract_metadata`` finds, for the
fields monitor keeps, without searching a page for what its feed already gave; and the parser's element
classes chosen in C give the same extraction as lxml.html's own choice."""

from __future__ import annotations

import gzip
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import trafilatura
from lxml.html import HtmlElement, HtmlElementClassLookup
from support.httpserver import Route
from support.news import paragraphs_for
from trafilatura.utils import HTML_PARSER, load_html

from monitor import pipeline as pipeline_module
from monitor.ingest.extract import _DATE_PARAMS, EVERYTHING, Wanted, extract_page
from monitor.ingest.pagemeta import page_metadata

SHARED = Path(os.environ.get("MONITOR_SHARED_DIR") or Path(__file__).resolve().parents[2] / "shared")
CORPUS = SHARED / "corpora" / "trafilatura"
FIELDS = ("title", "author", "date", "url", "sitename", "language")

BYLINE_PAGE = (
    '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Talks resume | The Daily Test</title>'
    '<meta property="og:site_name" content="dailytest">'
    '<link rel="canonical" href="https://news.example/world/talks-resume">'
    '<script type="application/ld+json">{"@type": "NewsArticle", "headline": "Talks resume in Vienna",'
    ' "datePublished": "2024-03-05T09:30:00Z"}</script></head><body>'
    '<nav><a href="/">Home</a> <a href="/category/world/">World</a> <a href="/tag/iran/">Iran</a></nav>'
    '<article><h1>Talks resume in Vienna</h1><p class="byline">By <span class="author">Jane Roe</span></p>'
    + "".join(f"<p>{p}</p>" for p in paragraphs_for("vienna"))
    + '<form action="/subscribe"><label for="e">Email</label><input id="e" name="email" value="">'
    '<select name="f"><option>daily</option></select><textarea name="t">note</textarea></form>'
    "</article><footer><p>Published under CC BY 4.0</p></footer></body></html>"
).encode()


def _fields(document) -> dict:
    return {field: getattr(document, field) for field in FIELDS}


def _corpus_pages(step: int) -> list[bytes]:
    if not CORPUS.is_dir():
        pytest.skip("../shared/corpora is not present")
    documents = json.loads((CORPUS / "expected.json").read_text())["documents"][::step]
    return [
        gzip.decompress(d) if (d := (CORPUS / doc["path"]).read_bytes())[:2] == b"\x1f\x8b" else d
        for doc in documents
    ]


def test_a_page_gives_what_trafilatura_finds_for_the_fields_monitor_keeps():
    tree = load_html(BYLINE_PAGE)
    url = "https://news.example/world/talks-resume?utm_source=x"
    expected = trafilatura.extract_metadata(load_html(BYLINE_PAGE), url, dict(_DATE_PARAMS))
    found = page_metadata(tree, url, search_author=True, search_date=True, date_params=_DATE_PARAMS)
    assert _fields(found) == _fields(expected)
    assert found.author == "Jane Roe" and found.date.startswith("2024-03-05")  # found in the page, not given


def test_a_page_is_not_searched_for_the_author_and_date_its_feed_gave():
    found = page_metadata(
        load_html(BYLINE_PAGE),
        "https://news.example/a",
        search_author=False,
        search_date=False,
        date_params=_DATE_PARAMS,
    )
    assert found.author is None and found.date is None
    assert found.title == "Talks resume in Vienna"
    assert found.url == "https://news.example/world/talks-resume"

    page = extract_page(BYLINE_PAGE, "https://news.example/a", wanted=Wanted(author=False, date=False))
    whole = extract_page(BYLINE_PAGE, "https://news.example/a")
    assert page is not None and whole is not None
    assert (page.author, page.published) == (None, None)
    assert whole.author == "Jane Roe" and whole.published is not None
    assert page.text == whole.text and page.title == whole.title and page.site_name == whole.site_name


def test_a_page_date_keeps_its_offset():
    html = BYLINE_PAGE.replace(
        b"<title>", b'<meta property="article:published_time" content="2024-09-01T23:30:00-05:00"><title>'
    )
    page = extract_page(html, "https://news.example/a")
    assert page is not None and page.published == datetime(2024, 9, 2, 4, 30, tzinfo=UTC)


def test_a_page_date_of_the_day_alone_reads_as_that_day_in_the_americas_too():
    # Midnight UTC was the evening before in New York: the day is placed at its noon UTC.
    html = BYLINE_PAGE.replace(
        b"<title>", b'<meta property="article:published_time" content="2024-09-01"><title>'
    )
    page = extract_page(html, "https://news.example/a")
    assert page is not None and page.published == datetime(2024, 9, 1, 12, 0, tzinfo=UTC)
    assert page.published.astimezone(ZoneInfo("America/Los_Angeles")).day == 1


def test_an_author_named_in_the_meta_tags_is_kept_without_a_search():
    html = BYLINE_PAGE.replace(b"<title>", b'<meta name="author" content="John Doe"><title>')
    found = page_metadata(
        load_html(html),
        "https://news.example/a",
        search_author=False,
        search_date=True,
        date_params=_DATE_PARAMS,
    )
    assert found.author == "John Doe"


@pytest.mark.corpus
def test_real_pages_give_what_trafilatura_finds():
    url = "https://news.example/article"
    for html in _corpus_pages(step=4):
        expected = trafilatura.extract_metadata(load_html(html), url, dict(_DATE_PARAMS))
        found = page_metadata(
            load_html(html), url, search_author=True, search_date=True, date_params=_DATE_PARAMS
        )
        assert _fields(found) == _fields(expected)


def _extracted_with_lxml_lookup(pages: list[bytes]) -> list:
    """Each page's extraction with lxml.html's own element classes, then with monitor's (set at first use)."""
    extract_page(BYLINE_PAGE, "https://news.example/warm")  # monitor's parser set-up is made
    try:
        HTML_PARSER.set_element_class_lookup(HtmlElementClassLookup())
        theirs = [extract_page(html, "https://news.example/a") for html in pages]
    finally:
        from monitor.ingest import extract

        extract._trafilatura.cache_clear()
    ours = [extract_page(html, "https://news.example/a") for html in pages]
    return list(zip(theirs, ours, strict=True))


def test_elements_classed_in_c_give_the_same_extraction():
    for theirs, ours in _extracted_with_lxml_lookup([BYLINE_PAGE]):
        assert theirs == ours and ours is not None
    # In force once extraction has run: a form is a plain element, its class not looked up in Python.
    assert type(load_html(BYLINE_PAGE).find(".//form")) is HtmlElement


@pytest.mark.corpus
def test_elements_classed_in_c_give_the_same_extraction_of_real_pages():
    pairs = _extracted_with_lxml_lookup(_corpus_pages(step=8))
    assert all(theirs == ours for theirs, ours in pairs)
    assert sum(ours is not None for _, ours in pairs) > len(pairs) / 2


def _byline_page(title: str, author: str, published: str) -> str:
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f'<meta property="article:published_time" content="{published}"></head><body><article><h1>{title}</h1>'
        f'<p class="byline">By <span class="author">{author}</span></p>'
        + "".join(f"<p>{p}</p>" for p in paragraphs_for(title))
        + "</article></body></html>"
    )


def test_a_poll_asks_a_page_only_for_what_its_feed_did_not_give(web, workspace, monkeypatch):
    asked = {}

    def recording_extract(html, url, content_type="", *, wanted=EVERYTHING):
        asked[url] = wanted
        return extract_page(html, url, content_type, wanted=wanted)

    monkeypatch.setattr(pipeline_module, "extract_page", recording_extract)
    told, untold = web.url("/told"), web.url("/untold")
    web.set("/told", Route(_byline_page("Told", "Page Writer", "2024-03-01T08:00:00Z")))
    web.set("/untold", Route(_byline_page("Untold", "Page Writer", "2024-03-02T08:00:00Z")))
    feed = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">'
        f"<channel><title>F</title><link>{web.url('/')}</link>"
        f"<item><title>Told</title><link>{told}</link><dc:creator>Feed Writer</dc:creator>"
        "<pubDate>Tue, 05 Mar 2024 09:00:00 GMT</pubDate></item>"
        f"<item><title>Untold</title><link>{untold}</link></item></channel></rss>"
    )
    web.set("/feed.xml", Route(feed, headers={"Content-Type": "application/rss+xml"}))
    workspace.write_config([{"name": "F", "url": web.url("/feed.xml")}], extract_workers=0)

    workspace.cli("poll")

    assert asked == {told: Wanted(author=False, date=False), untold: Wanted(author=True, date=True)}
    stored = {a["url"]: a for a in workspace.json("articles")}
    assert (stored[told]["author"], stored[told]["published_at"][:10]) == ("Feed Writer", "2024-03-05")
    assert (stored[untold]["author"], stored[untold]["published_at"][:10]) == ("Page Writer", "2024-03-02")
