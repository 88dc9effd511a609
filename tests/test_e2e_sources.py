"""End to end: sitemap and front-page sources served on 127.0.0.1, polled by the real CLI into a real database."""

from __future__ import annotations

import gzip
from datetime import timedelta
from xml.sax.saxutils import escape

from support.httpserver import Route
from support.news import BASE_TIME, article_html, make_entries, paragraphs_for

XML = {"Content-Type": "application/xml; charset=utf-8"}
NEWS_NS = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" xmlns:news="http://www.google.com/schemas/sitemap-news/0.9"'


def news_sitemap(entries, *, language="en") -> str:
    urls = "".join(
        f"<url><loc>{escape(e.url)}</loc><news:news><news:publication><news:name>The Daily Test</news:name>"
        f"<news:language>{language}</news:language></news:publication>"
        f"<news:publication_date>{e.published.isoformat()}</news:publication_date>"
        f"<news:title>{escape(e.title)}</news:title></news:news></url>"
        for e in entries
    )
    return f'<?xml version="1.0" encoding="UTF-8"?><urlset {NEWS_NS}>{urls}</urlset>'


def sitemap_index(urls_and_dates) -> str:
    items = "".join(
        f"<sitemap><loc>{escape(u)}</loc>"
        + (f"<lastmod>{d.isoformat()}</lastmod>" if d else "")
        + "</sitemap>"
        for u, d in urls_and_dates
    )
    return f'<?xml version="1.0" encoding="UTF-8"?><sitemapindex {NEWS_NS}>{items}</sitemapindex>'


def by_url(articles):
    return {a["url"]: a for a in articles}


def test_index_to_child_sitemaps_to_stored_articles(web, workspace):
    news = make_entries(web, "news", 3)
    older = make_entries(web, "older", 2, start=10)
    web.set("/news-sitemap.xml", Route(news_sitemap(news), headers=XML))
    # A gzipped child, as large sites serve them: the body itself is a gzip file.
    web.set(
        "/older.xml.gz",
        Route(gzip.compress(news_sitemap(older).encode()), headers={"Content-Type": "application/x-gzip"}),
    )
    web.set(
        "/sitemap_index.xml",
        Route(
            sitemap_index(
                [
                    (web.url("/older.xml.gz"), BASE_TIME - timedelta(days=1)),
                    (web.url("/news-sitemap.xml"), BASE_TIME),
                ]
            ),
            headers=XML,
        ),
    )
    workspace.write_config(
        [{"name": "Agency", "url": web.url("/sitemap_index.xml"), "kind": "sitemap", "tags": ["agency"]}]
    )

    result = workspace.cli("poll")
    assert "5 new articles" in result.stdout, result.stdout

    stored = by_url(workspace.json("articles"))
    assert set(stored) == {e.url for e in news + older}
    for entry in news:
        article = stored[entry.url]
        assert article["title"] == entry.title  # the news: title
        assert article["published_at"] == entry.published.isoformat()  # the news: publication date
        assert article["body_source"] == "extracted"
        assert paragraphs_for(entry.slug)[2] in article["body"]
        assert article["feeds"] == ["Agency"]

    # The next poll fetches only what is new: one more article in the news sitemap.
    web.clear_requests()
    fresh = make_entries(web, "news", 1, start=3)
    web.set("/news-sitemap.xml", Route(news_sitemap(fresh + news), headers=XML))
    report = workspace.json("poll")
    assert report[0]["outcome"] == "ok" and report[0]["new_articles"] == 1
    pages = [r.path for r in web.requests if r.path.startswith(("/news/", "/older/"))]
    assert pages == ["/news/3"]


def test_a_child_sitemap_unchanged_is_not_read_again_by_the_daemon(web, workspace):
    """Each child sitemap gets its own conditional GET within one running pipeline."""
    import asyncio

    from monitor.config import load_config
    from monitor.pipeline import Pipeline
    from monitor.store.db import open_database

    entries = make_entries(web, "c", 2)
    web.set("/child.xml", Route(news_sitemap(entries), headers=XML))
    web.set("/index.xml", Route(sitemap_index([(web.url("/child.xml"), None)]), headers=XML))
    workspace.write_config([{"name": "S", "url": web.url("/index.xml"), "kind": "sitemap"}])
    config, db = load_config(workspace.config_path), open_database(workspace.database_url)

    async def two_polls():
        async with Pipeline(config, db) as pipeline:
            pipeline.sync_feeds()
            first = await pipeline.poll(due_only=False)
            second = await pipeline.poll(due_only=False)
            return first, second

    first, second = asyncio.run(two_polls())
    db.dispose()
    assert first[0].new_articles == 2 and second[0].outcome == "ok" and second[0].new_articles == 0
    statuses = [r.status for r in web.requests_for("/child.xml")]
    assert statuses == [200, 304]
    assert len(web.requests_for("/index.xml")) == 2  # an index is always read: its sitemaps may have changed


def test_entries_of_a_child_sitemap_that_wait_for_the_next_poll_are_not_lost_to_a_304(web, workspace):
    """A child sitemap with more new entries than max_entries_per_poll: the rest wait for the next polls,
    which must read it whole again rather than take its 304 for "nothing new"."""
    import asyncio

    from monitor.config import load_config
    from monitor.pipeline import Pipeline
    from monitor.store.db import open_database

    entries = make_entries(web, "w", 5)
    web.set("/child.xml", Route(news_sitemap(entries), headers=XML))
    web.set("/index.xml", Route(sitemap_index([(web.url("/child.xml"), None)]), headers=XML))
    workspace.write_config(
        [{"name": "S", "url": web.url("/index.xml"), "kind": "sitemap"}],
        fetch_pages=False,
        max_entries_per_poll=2,
    )
    config, db = load_config(workspace.config_path), open_database(workspace.database_url)

    async def polls():
        async with Pipeline(config, db) as pipeline:
            pipeline.sync_feeds()
            return [(await pipeline.poll(due_only=False))[0].new_articles for _ in range(4)]

    counts = asyncio.run(polls())
    db.dispose()
    assert counts == [2, 2, 1, 0]
    assert [r.status for r in web.requests_for("/child.xml")] == [200, 200, 200, 304]


def test_a_site_named_by_its_address_is_read_through_its_robots_txt(web, workspace):
    entries = make_entries(web, "r", 2)
    web.set(
        "/robots.txt", f"User-agent: *\nDisallow: /private/\n\nSitemap: {web.url('/sitemaps/news.xml')}\n"
    )
    web.set("/sitemaps/news.xml", Route(news_sitemap(entries), headers=XML))
    workspace.write_config([{"name": "Ministry", "url": web.url("/"), "kind": "sitemap"}])
    report = workspace.json("poll")
    assert report[0]["outcome"] == "ok" and report[0]["new_articles"] == 2


def test_sitemap_caps_pages_and_links_per_poll(web, workspace):
    children = []
    for n in range(6):
        entries = make_entries(web, f"s{n}", 3)
        web.set(f"/s{n}.xml", Route(news_sitemap(entries), headers=XML))
        children.append((web.url(f"/s{n}.xml"), BASE_TIME - timedelta(days=n)))
    web.set("/index.xml", Route(sitemap_index(children), headers=XML))
    workspace.write_config(
        [{"name": "Big", "url": web.url("/index.xml"), "kind": "sitemap", "max_pages": 3, "max_links": 4}]
    )
    report = workspace.json("poll")
    assert report[0]["new_articles"] == 4
    read = {r.path for r in web.requests if r.path.startswith("/s") and r.path.endswith(".xml")}
    assert read == {"/s0.xml", "/s1.xml"}  # the index plus its two newest sitemaps: three documents


def test_robots_txt_disallowing_the_sitemap_is_obeyed(web, workspace):
    web.set("/robots.txt", "User-agent: *\nDisallow: /sitemaps/\n")
    web.set("/sitemaps/news.xml", Route(news_sitemap(make_entries(web, "d", 1)), headers=XML))
    workspace.write_config([{"name": "Closed", "url": web.url("/sitemaps/news.xml"), "kind": "sitemap"}])
    report = workspace.json("poll", expect=1)
    assert report[0]["error_kind"] == "robots"
    assert not web.requests_for("/sitemaps/news.xml")


def test_broken_sources_fail_with_a_clear_error_and_keep_what_is_stored(web, workspace):
    entries = make_entries(web, "k", 2)
    web.set("/news.xml", Route(news_sitemap(entries), headers=XML))
    workspace.write_config([{"name": "Keep", "url": web.url("/news.xml"), "kind": "sitemap"}])
    workspace.cli("poll")
    web.set(
        "/news.xml", Route("<html><body>Maintenance</body></html>", headers={"Content-Type": "text/html"})
    )
    report = workspace.json("poll", expect=1)
    assert report[0]["error_kind"] == "not_a_feed" and "not a sitemap" in report[0]["error"]
    assert len(workspace.json("articles")) == 2

    web.set("/index.xml", Route(sitemap_index([(web.url("/missing.xml"), None)]), headers=XML))
    workspace.write_config([{"name": "Keep", "url": web.url("/index.xml"), "kind": "sitemap"}])
    report = workspace.json("poll", expect=1)
    assert report[0]["error_kind"] == "http_4xx" and "missing.xml" in report[0]["error"]
    assert len(workspace.json("articles")) == 2


FRONT_PAGE = """<!DOCTYPE html><html lang="en"><head><title>The Daily Test</title></head><body>
<header><nav><a href="/">Home</a> <a href="/world">World</a> <a href="/world/europe">Europe</a>
<a href="/tag/iran/">Iran</a> <a href="/author/jane-doe/">Jane Doe</a> <a href="/category/politics/">Politics</a>
<a href="/login">Log in</a> <a href="/about">About us</a> <a href="/rss.xml">RSS</a></nav></header>
<main><section class="headlines">{links}</section>
<aside><a href="https://elsewhere.example.com/world/talks-resume-in-geneva-today">Partner story</a>
<a href="https://www.facebook.com/sharer.php?u=x">Share</a> <a href="/world?page=2">More</a>
<a href="/page/2/">Older</a> <a href="/search?q=iran">Search</a> <a href="#top">Top</a>
<a href="mailto:desk@example.com">Write to us</a> <a href="/files/report-on-the-talks.pdf">PDF</a></aside></main>
<footer><a href="/privacy">Privacy</a> <a href="/contact">Contact</a></footer></body></html>"""


def test_front_page_article_links_are_found_and_stored(web, workspace):
    paths = [
        "/world/2024/09/09/talks-resume-in-geneva",
        "/news/ministry-denies-shipment-of-missiles",
        "/a/8f3c2e91",
    ]
    for n, path in enumerate(paths):
        web.set(path, article_html(f"Headline {n}", paragraphs_for(f"front-{n}")))
    # The links' texts are teasers, as front pages have them: each article's title is its page's headline.
    links = "".join(f'<h2><a href="{p}?utm_source=front">Read more {n}</a></h2>' for n, p in enumerate(paths))
    web.set("/front", FRONT_PAGE.format(links=links))
    workspace.write_config([{"name": "Front", "url": web.url("/front"), "kind": "page"}])

    report = workspace.json("poll")
    assert report[0]["outcome"] == "ok" and report[0]["new_articles"] == 3, report
    fetched = {r.path_only for r in web.requests} - {"/front", "/robots.txt"}
    assert fetched == set(paths)  # and no navigation, tag, author, category, paging or external link
    titles = sorted(a["title"] for a in workspace.json("articles"))
    assert titles == ["Headline 0", "Headline 1", "Headline 2"]

    # A link seen before is known: the next poll fetches the page (304) and nothing else.
    web.clear_requests()
    report = workspace.json("poll")
    assert report[0]["outcome"] == "unchanged"
    assert {r.path_only for r in web.requests} - {"/robots.txt"} == {"/front"}

    # The page changes: only its new link is fetched.
    web.set(
        "/world/sanctions-announced-on-drone-makers", article_html("Headline 3", paragraphs_for("front-3"))
    )
    links = '<h2><a href="/world/sanctions-announced-on-drone-makers">Headline 3</a></h2>' + links
    web.set("/front", FRONT_PAGE.format(links=links))
    web.clear_requests()
    report = workspace.json("poll")
    assert report[0]["new_articles"] == 1
    assert {r.path_only for r in web.requests} - {"/robots.txt"} == {
        "/front",
        "/world/sanctions-announced-on-drone-makers",
    }


def test_front_page_narrowed_by_selector_and_pattern(web, workspace):
    web.set("/latest/talks-resume-in-geneva", article_html("Talks", paragraphs_for("sel-1")))
    web.set("/opinion/why-the-talks-will-fail-again", article_html("Opinion", paragraphs_for("sel-2")))
    web.set("/press/20240909-statement", article_html("Statement", paragraphs_for("sel-3")))
    links = (
        '<div class="latest"><a href="/latest/talks-resume-in-geneva">Talks</a></div>'
        '<div class="opinion"><a href="/opinion/why-the-talks-will-fail-again">Opinion</a></div>'
    )
    web.set("/front", FRONT_PAGE.format(links=links))
    web.set(
        "/press",
        FRONT_PAGE.format(
            links='<a href="/press/20240909-statement">Statement</a><a href="/press/list">All statements</a>'
        ),
    )
    workspace.write_config(
        [
            {"name": "Latest", "url": web.url("/front"), "kind": "page", "selector": ".latest"},
            {"name": "Press", "url": web.url("/press"), "kind": "page", "pattern": r"/press/\d{8}-"},
        ]
    )
    workspace.cli("poll")
    stored = {a["title"]: a["feeds"] for a in workspace.json("articles")}
    assert stored == {"Talks": ["Latest"], "Statement": ["Press"]}
