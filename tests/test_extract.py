"""The extraction stage's choices: body source and its reason, merged metadata, canonical URLs."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

from support.articles import extracted_article
from support.news import article_html, paragraphs_for

from monitor.ingest.extract import build_article, choose_body, completed_by_page, extract_page, revision_of
from monitor.ingest.feeditems import FeedItem
from monitor.ingest.urls import canonical_url, is_fetchable
from monitor.store.records import Article, Body, BodySource, ExtractedPage, content_hash

NOW = datetime(2024, 9, 10, 12, 0, tzinfo=UTC)


def item(**fields) -> FeedItem:
    base = dict(
        key="k",
        guid="k",
        url="https://news.example/a",
        title="Feed title",
        author="Feed Author",
        published=datetime(2024, 9, 9, 8, 0, tzinfo=UTC),
        summary="A short feed summary.",
        content=None,
        language="en",
    )
    base.update(fields)
    return FeedItem(**base)


def page(text: str, **fields) -> ExtractedPage:
    base = dict(
        title="Page title | Site",
        author="Page Author",
        published=None,
        language="de",
        canonical_url="https://news.example/a",
    )
    base.update(fields)
    return ExtractedPage(text=text, **base)


def test_extract_page_reads_body_language_and_canonical():
    html = article_html(
        "Talks resume", paragraphs_for("talks"), canonical="https://news.example/talks", lang="fr"
    )
    extracted = extract_page(html.encode(), "https://news.example/talks?utm_source=x")
    assert paragraphs_for("talks")[2] in extracted.text
    assert "Copyright" not in extracted.text and "Sport" not in extracted.text
    assert extracted.language == "fr"
    assert extracted.canonical_url == "https://news.example/talks"


def test_extract_page_gives_none_for_a_page_without_text():
    assert extract_page(b"<html><body></body></html>", "https://x.example/") is None
    assert extract_page(b"\x00\xff garbage", "https://x.example/") is None


def test_long_extracted_text_wins():
    body = choose_body(page("x" * 400), item().feed_text, page_problem=None, min_chars=250)
    assert body.source is BodySource.EXTRACTED and body.note is None


def test_short_extraction_falls_back_to_longer_feed_text_with_the_reason():
    feed_text = item(content="The whole story as the feed gives it. " * 3).feed_text
    body = choose_body(page("tiny"), feed_text, page_problem=None, min_chars=250)
    assert body.source is BodySource.FEED
    assert body.text.startswith("The whole story") and "extracted only 4 characters" in body.note


def test_short_extraction_still_longer_than_the_feed_is_kept_with_a_note():
    body = choose_body(page("y" * 100), item(summary="short").feed_text, page_problem=None, min_chars=250)
    assert body.source is BodySource.EXTRACTED and "short (100 characters)" in body.note


def test_failed_page_falls_back_to_the_feed_and_keeps_why():
    body = choose_body(
        None, item().feed_text, page_problem="page fetch failed (timeout): timed out", min_chars=250
    )
    assert body.source is BodySource.FEED and body.text == "A short feed summary."
    assert body.note == "page fetch failed (timeout): timed out"


def test_nothing_anywhere_is_a_failed_body():
    body = choose_body(
        None,
        item(summary=None).feed_text,
        page_problem="robots.txt disallows fetching the page",
        min_chars=250,
    )
    assert body.source is BodySource.FAILED and body.text == "" and "robots" in body.note


def test_build_article_prefers_feed_title_author_date_and_page_language_canonical():
    extracted = page("z" * 300, canonical_url="https://news.example/a?utm_medium=rss")
    body = choose_body(extracted, item().feed_text, page_problem=None, min_chars=250)
    article = build_article(item(), extracted, body, url="https://news.example/a?x=1", fetched_at=NOW)
    assert article.title == "Feed title" and article.author == "Feed Author"
    assert article.published == datetime(2024, 9, 9, 8, 0, tzinfo=UTC)
    assert article.language == "de"
    assert article.canonical_url == "https://news.example/a"
    assert article.content_hash == content_hash("z" * 300)


def test_build_article_clamps_a_future_date_and_uses_page_date_when_feed_has_none():
    future = item(published=NOW + timedelta(days=2))
    article = build_article(
        future,
        None,
        choose_body(None, future.feed_text, page_problem="x", min_chars=1),
        url="https://news.example/a",
        fetched_at=NOW,
    )
    assert article.published == NOW
    undated = item(published=None)
    extracted = page("w" * 300, published=datetime(2024, 9, 1, tzinfo=UTC))
    body = choose_body(extracted, undated.feed_text, page_problem=None, min_chars=1)
    article = build_article(undated, extracted, body, url="https://news.example/a", fetched_at=NOW)
    assert article.published == datetime(2024, 9, 1, tzinfo=UTC)


def test_content_hash_ignores_case_and_whitespace():
    assert content_hash("Iran  denies\nreports") == content_hash("iran denies reports")
    assert content_hash("Iran denies reports") != content_hash("Iran confirms reports")


def test_canonical_url_drops_trackers_fragment_default_port_and_sorts_query():
    assert (
        canonical_url("HTTPS://News.Example:443/a/b?utm_source=rss&id=3&fbclid=x&gclid=y#top")
        == "https://news.example/a/b?id=3"
    )
    assert canonical_url("http://news.example/p?b=2&a=1") == "http://news.example/p?a=1&b=2"
    assert canonical_url("http://news.example") == "http://news.example/"
    assert (
        canonical_url("https://news.example/story?id=42&page=2") == "https://news.example/story?id=42&page=2"
    )


def test_is_fetchable():
    assert is_fetchable("https://news.example/a")
    assert not is_fetchable("ftp://news.example/a")
    assert not is_fetchable("urn:uuid:1234")
    assert not is_fetchable(None)
    assert not is_fetchable("https://news.example/" + "a" * 3000)


def _stored(body: str = "Stored body text.", **fields) -> Article:
    base = {
        "guid": "g",
        "title": "Stored title",
        "author": "Ann",
        "summary": "Stored summary.",
        "site_name": "Herald",
    }
    return extracted_article("https://example.org/a", body, NOW, **(base | fields))


def test_a_revision_keeps_what_the_new_version_does_not_say_and_never_loses_an_extracted_body():
    stored = _stored()
    assert revision_of(stored, stored) is None  # the same text: nothing to keep
    newer = _stored(
        title="New title",
        author=None,
        published=None,
        body="New body.",
        summary=None,
        content_hash=content_hash("New body."),
        site_name=None,
    )
    revised = revision_of(stored, newer)
    assert revised is not None
    assert (revised.title, revised.author, revised.published, revised.summary, revised.site_name) == (
        "New title",
        "Ann",
        NOW,
        "Stored summary.",
        "Herald",
    )
    assert (revised.body, revised.url, revised.guid) == ("New body.", stored.url, "g")
    # A fetch that fell back to the feed's text never replaces an extracted body.
    fallback = _stored(
        body="Feed text.", body_source=BodySource.FEED, content_hash=content_hash("Feed text.")
    )
    assert revision_of(stored, fallback) is None
    assert revision_of(fallback, newer) is not None


def test_a_page_fetched_at_last_gives_the_body_and_language_and_keeps_the_feeds_title():
    stored = _stored(
        title="Feed title",
        author=None,
        language="en",
        body="Feed text.",
        body_source=BodySource.FEED,
        page_retry_at=NOW,
    )
    page = ExtractedPage(
        "Page text " * 40, "Page title | Herald", "Bob", None, "de", None, site_name="Herold"
    )
    body = Body(page.text, BodySource.EXTRACTED)
    completed = completed_by_page(stored, page, body)
    assert (completed.title, completed.author, completed.language, completed.site_name) == (
        "Feed title",
        "Bob",
        "de",
        "Herold",
    )
    assert completed.body_source is BodySource.EXTRACTED and completed.page_retry_at is None
    assert completed.content_hash == content_hash(page.text)


def test_a_page_date_in_an_unknown_time_zone_is_read_without_a_library_warning():
    # dateutil warns about a zone abbreviation it does not know ("EST"); the date is read without the zone
    # and the warning, which names no page, must not reach the logs. A new interpreter: the warnings
    # registry of this one may have seen it already, and would hide it either way.
    html = article_html("Talks resume", paragraphs_for("talks")).replace(
        "<title>", '<meta name="last-modified" content="2014-12-29 08:57:25 EST"><title>', 1
    )
    script = (
        "import sys, warnings\n"
        "warnings.simplefilter('always')\n"
        "from monitor.ingest.extract import extract_page\n"
        "page = extract_page(sys.stdin.buffer.read(), 'https://news.example/talks')\n"
        "print(page.published.date() if page and page.published else None)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], input=html.encode(), capture_output=True, timeout=120, check=True
    )
    assert done.stdout.decode().strip() == "2014-12-29"
    assert b"Warning" not in done.stderr, done.stderr.decode()


def test_the_headline_is_not_the_first_line_of_the_body():
    """A page whose <h1> sits inside its article: the headline is the title, not also the body's first line
    (matched twice, it counted twice in a match's mentions and numbered the body's words from it)."""
    html = article_html("Tehran ships missiles to Moscow", paragraphs_for("talks"))
    extracted = extract_page(html.encode(), "https://news.example/talks")
    assert extracted.title == "Tehran ships missiles to Moscow"
    assert extracted.text.startswith(paragraphs_for("talks")[0])
