"""One entry never costs its feed: NULs, lone surrogates and overlong fields are cleaned or cut before they
are stored, and an entry the database still refuses is skipped with a warning naming it.

Each bad entry sits beside a clean one; every case runs on SQLite and, with MONITOR_TEST_DATABASE_URL, on
PostgreSQL (which refuses NUL characters and values longer than their column).
"""

from __future__ import annotations

import asyncio
import json
import logging

from support.httpserver import Route
from support.news import Entry, article_html, paragraphs_for, rss

from monitor.config import load_config
from monitor.ingest.storable import clean_text
from monitor.pipeline import Pipeline
from monitor.store import articles as article_store
from monitor.store.db import open_database

JSON_FEED = {"Content-Type": "application/feed+json"}
RSS = {"Content-Type": "application/rss+xml"}


def _json_feed(web) -> str:
    def item(slug: str, **fields) -> dict:
        return {
            "id": f"tag:test,2024:{slug}",
            "url": web.url(f"/j/{slug}"),
            "title": f"Entry {slug}",
            "content_text": f"What the feed says of {slug}.",
            **fields,
        }

    items = [
        item("clean-1"),
        item("nul-title", title="A NUL\u0000in the title"),
        item("nul-body", content_text="A NUL\u0000in the body."),
        item("nul-author", authors=[{"name": "Jane\u0000Doe"}]),
        item("nul-url", url=web.url("/j/nul\u0000url")),
        item("surrogate", title="A lone \ud800 surrogate", content_text="And \udfff another."),
        # Year 0 once in UTC: the database refused the entry at every poll.
        item("year-one", date_published="0001-01-01T00:00:00+01:00"),
        item("year-one-utc", date_published="0001-01-01T00:00:00Z"),  # deduplication's window broke on it
        item("clean-2"),
    ]
    # ensure_ascii writes "\u0000" and "\ud800" as JSON escapes: the document is valid, its strings are not.
    return json.dumps(
        {"version": "https://jsonfeed.org/version/1.1", "title": "Hostile JSON", "items": items}
    )


def _rss_feed(web) -> str:
    long_canonical = web.url("/r/canonical?" + "x" * 5000)
    web.set("/r/canonical", article_html("Canonical", paragraphs_for("canonical"), canonical=long_canonical))
    web.set("/r/clean", article_html("Clean", paragraphs_for("clean")))
    items = "".join(
        f"<item><title>{title}</title><link>{web.url(path)}</link><guid>{path}</guid>"
        f"<description>What the feed says of {path}.</description>"
        f"{'<pubDate>Mon, 01 Jan 0001 00:00:00 +0100</pubDate>' if 'year' in path else ''}</item>"
        for title, path in [
            ("Clean RSS entry", "/r/clean"),
            ("A lone &#xD800; surrogate", "/r/surrogate"),
            ("A five-kilobyte canonical URL", "/r/canonical"),
            ("Dated in the year one", "/r/year-one"),
        ]
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Hostile RSS</title>'
        f"<link>{web.url('/')}</link><language>{'en-' + 'x' * 297}</language>{items}</channel></rss>"
    )


def _poll(workspace):
    config, db = load_config(workspace.config_path), open_database(workspace.database_url)

    async def run():
        async with Pipeline(config, db) as pipeline:
            pipeline.sync_feeds()
            return await pipeline.poll(due_only=False)

    try:
        return asyncio.run(run())
    finally:
        db.dispose()


def test_hostile_entries_are_cleaned_and_their_neighbours_stored(web, workspace, caplog):
    web.set("/hostile.json", Route(_json_feed(web), headers=JSON_FEED))
    web.set(
        "/hostile.xml", Route(_rss_feed(web), etag=False, headers={**RSS, "ETag": '"' + "e" * 2048 + '"'})
    )
    workspace.write_config(
        [{"name": "JSON", "url": web.url("/hostile.json")}, {"name": "RSS", "url": web.url("/hostile.xml")}],
        min_body_chars=50,
    )

    reports = {report.feed: report for report in _poll(workspace)}

    assert reports["JSON"].outcome == "ok" and reports["JSON"].new_articles == 9
    assert reports["RSS"].outcome == "ok" and reports["RSS"].new_articles == 4
    articles = workspace.json("articles")
    by_title = {article["title"]: article for article in articles}
    # The clean neighbours are stored as they are.
    assert {"Entry clean-1", "Entry clean-2", "Clean RSS entry"} <= set(by_title)
    assert by_title["Clean RSS entry"]["body_source"] == "extracted"
    # The bad ones are stored cleaned: no NUL, no lone surrogate anywhere.
    assert "A NULin the title" in by_title
    assert by_title["Entry nul-author"]["author"] == "JaneDoe"
    assert "A lone \ufffd surrogate" in by_title  # from JSON (\ud800) and from XML (&#xD800;)
    dumped = json.dumps(articles, ensure_ascii=False)
    assert "\\u0000" not in dumped and all(clean_text(a["title"] or "") == a["title"] for a in articles)
    nul_url = next(a for a in articles if a["title"] == "Entry nul-url")
    assert "\x00" not in nul_url["url"]
    # Overlong fields are cut to their columns; the feed's overlong ETag is dropped, not stored.
    rss_articles = [a for a in articles if a["feeds"] == ["RSS"]]
    assert all(len(a["language"]) <= 20 for a in rss_articles if a["language"])
    canonical = next(a for a in rss_articles if a["title"] == "A five-kilobyte canonical URL")
    assert len(canonical["canonical_url"]) <= 2048 and canonical["body_source"] == "extracted"
    feeds = {feed["name"]: feed for feed in workspace.json("feeds")}
    assert feeds["RSS"]["etag"] is None and feeds["RSS"]["last_error"] is None
    # Dates before the web's news are no dates: stored, deduplicated, their time the time they were found.
    for title in ("Entry year-one", "Entry year-one-utc", "Dated in the year one"):
        assert by_title[title]["published_at"] is None, by_title[title]
    assert "skipped" not in caplog.text and "deduplication failed" not in caplog.text


def test_an_entry_the_database_refuses_is_skipped_with_a_warning(web, workspace, monkeypatch, caplog):
    feed = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "Three",
        "items": [
            {
                "id": slug,
                "url": web.url(f"/p/{slug}"),
                "title": f"Entry {slug}",
                "content_text": f"About {slug}.",
            }
            for slug in ("before", "refused", "after")
        ],
    }
    web.set("/three.json", Route(json.dumps(feed), headers=JSON_FEED))
    workspace.write_config([{"name": "Three", "url": web.url("/three.json"), "fetch_pages": False}])
    save_article = article_store.save_article

    def refusing(session, *, article, **kwargs):
        if article.title == "Entry refused":
            # A real refusal from the database, as a value it cannot take would raise (here a NOT NULL
            # column): on PostgreSQL it aborts the transaction unless it happened inside a savepoint.
            session.execute(__import__("sqlalchemy").text("INSERT INTO feeds (name) VALUES (NULL)"))
        return save_article(session, article=article, **kwargs)

    monkeypatch.setattr(article_store, "save_article", refusing)
    with caplog.at_level(logging.WARNING, logger="monitor.pipeline"):
        reports = _poll(workspace)

    assert reports[0].outcome == "ok" and reports[0].new_articles == 2
    titles = {article["title"] for article in workspace.json("articles")}
    assert titles == {"Entry before", "Entry after"}
    assert "entry skipped" in caplog.text and web.url("/p/refused") in caplog.text


def serve_two_entries(web, workspace) -> None:
    """A JSON Feed of two entries ("Entry one", "Entry two"), pages off, configured as the only feed."""
    feed = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "Two",
        "items": [
            {
                "id": slug,
                "url": web.url(f"/p/{slug}"),
                "title": f"Entry {slug}",
                "content_text": f"About {slug}.",
            }
            for slug in ("one", "two")
        ],
    }
    web.set("/two.json", Route(json.dumps(feed), headers=JSON_FEED))
    workspace.write_config([{"name": "Two", "url": web.url("/two.json"), "fetch_pages": False}])


def test_a_busy_or_lost_database_fails_the_poll_rather_than_skip_entries(web, workspace, monkeypatch):
    serve_two_entries(web, workspace)
    save_article = article_store.save_article

    def busy(session, *, article, **kwargs):
        if article.title == "Entry two":
            from sqlalchemy.exc import OperationalError

            raise OperationalError("INSERT", {}, Exception("disk I/O error"))
        return save_article(session, article=article, **kwargs)

    monkeypatch.setattr(article_store, "save_article", busy)
    [report] = _poll(workspace)
    # Nothing of the entry's own is wrong: the poll fails, keeps no validators, and the next one stores it.
    assert report.outcome == "failed"
    monkeypatch.setattr(article_store, "save_article", save_article)
    [again] = _poll(workspace)
    assert again.outcome == "ok" and again.new_articles == 2  # the failed poll stored nothing
    assert sorted(a["title"] for a in workspace.json("articles")) == ["Entry one", "Entry two"]


def test_a_feed_cannot_put_its_words_in_another_sites_article(web, workspace):
    """A blog lists a ministry's address (as its link, or as its entry's GUID) under a made-up headline
    and text, before the ministry's page is up: the ministry's own feed, listing the article later, has the
    last word, and the blog's later edits do not take it back."""
    blog_host, ministry_host = web.hosts[0], web.hosts[1]
    planted = web.url("/news/statement", host=ministry_host)
    claimed = web.url("/news/interview", host=ministry_host)
    unread = web.url("/news/notice", host=ministry_host)  # its page never comes: the feeds' text is all
    web.set("/news/notice", Route(status=404), host=ministry_host)
    web.set("/news/statement", Route(status=404), host=ministry_host)  # not up yet
    web.set("/news/interview", article_html("Interview", paragraphs_for("interview")), host=ministry_host)

    def blog(version: str) -> list[Entry]:
        return [
            Entry("fake-1", f"FAKE: the ministry admits everything ({version})", "Planted text.", planted),
            Entry("fake-2", f"FAKE: the minister resigns ({version})", "More planted text.", claimed),
            Entry("fake-3", f"FAKE: notice ({version})", f"Planted notice, version {version}.", unread),
        ]

    def publish_blog(version: str) -> None:
        body = rss("Blog", web.url("/", host=blog_host), blog(version))
        web.set("/blog.xml", Route(body, headers=RSS), host=blog_host)

    publish_blog("v1")
    workspace.write_config([{"name": "Blog", "url": web.url("/blog.xml", host=blog_host)}], min_body_chars=50)
    _poll(workspace)
    fakes = {a["url"]: a for a in workspace.json("articles")}
    assert fakes[planted]["title"].startswith("FAKE") and fakes[planted]["body_source"] == "feed"

    # The ministry's page goes up, and its own feed lists both articles.
    web.set("/news/statement", article_html("Statement", paragraphs_for("statement")), host=ministry_host)
    own = [
        Entry("statement", "The ministry's statement", "What the ministry said.", planted),
        Entry("interview", "The minister's interview", "What the minister said.", claimed),
        Entry("notice", "The ministry's notice", "What the ministry's notice says.", unread),
    ]
    web.set(
        "/feed.xml",
        Route(rss("Ministry", web.url("/", host=ministry_host), own), headers=RSS),
        host=ministry_host,
    )
    workspace.write_config(
        [
            {"name": "Blog", "url": web.url("/blog.xml", host=blog_host)},
            {"name": "Ministry", "url": web.url("/feed.xml", host=ministry_host)},
        ],
        min_body_chars=50,
    )
    _poll(workspace)
    # The blog edits its entries again: they are remembered, not applied.
    publish_blog("v2")
    _poll(workspace)

    articles = {a["url"]: a for a in workspace.json("articles")}
    assert len(articles) == 3
    assert articles[planted]["title"] == "The ministry's statement"
    assert articles[planted]["body_source"] == "extracted" and "statement talks" in articles[planted]["body"]
    assert articles[claimed]["title"] == "The minister's interview"
    assert articles[unread]["title"] == "The ministry's notice" and "Planted" not in articles[unread]["body"]
    assert all(sorted(a["feeds"]) == ["Blog", "Ministry"] for a in articles.values())


def test_a_take_over_whose_page_fails_keeps_the_extracted_text_and_its_matches(web, workspace):
    """The site's own feed takes an article over while its page is down: the title is the site's, the text
    stays the page's, and the article is tagged on that text, not on the feed's few words."""
    blog_host, ministry_host = web.hosts[0], web.hosts[1]
    address = web.url("/news/talks", host=ministry_host)
    web.set("/news/talks", article_html("Talks", paragraphs_for("talks")), host=ministry_host)
    blog = [Entry("b", "A blog's headline", "A blog's words.", address)]
    web.set("/blog.xml", Route(rss("Blog", web.url("/", host=blog_host), blog), headers=RSS), host=blog_host)
    own = [Entry("m", "The ministry's headline", "The ministry's words.", address)]
    web.set(
        "/feed.xml",
        Route(rss("Ministry", web.url("/", host=ministry_host), own), headers=RSS),
        host=ministry_host,
    )

    def configure(*names: str) -> None:
        feeds = {
            "Blog": web.url("/blog.xml", host=blog_host),
            "Ministry": web.url("/feed.xml", host=ministry_host),
        }
        workspace.write_config([{"name": name, "url": feeds[name]} for name in names], min_body_chars=50)
        with workspace.config_path.open("a", encoding="utf-8") as file:
            file.write("watchlist:\n  topics:\n    - name: talks\n      query: delegations\n")

    configure("Blog")
    _poll(workspace)
    assert [m["topic"] for m in workspace.json("matches")] == ["talks"]  # the page's words
    web.set("/news/talks", Route(status=500), host=ministry_host)
    configure("Blog", "Ministry")
    _poll(workspace)
    [article] = workspace.json("articles")
    assert article["title"] == "The ministry's headline" and article["body_source"] == "extracted"
    assert [m["topic"] for m in workspace.json("matches")] == ["talks"]
