"""monitor.ingest.sitemaps: news sitemaps, URL sets, indexes, text and gzip sitemaps, and the corpora's real ones."""

from __future__ import annotations

import gzip
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from support.httpserver import Route

from monitor.ingest.feeditems import NotAFeed
from monitor.ingest.robots import RobotsRules
from monitor.ingest.sitemaps import parse_sitemap

SHARED = Path(os.environ.get("MONITOR_SHARED_DIR") or Path(__file__).resolve().parents[2] / "shared")
CORPORA = SHARED / "corpora"
SITEMAP_DIRS = [
    CORPORA / "crawler-commons/src/test/resources/sitemaps",
    CORPORA / "advertools/tests/data/sitemap_testing",
    CORPORA / "trafilatura/tests/resources",
]
ROBOTS_DIR = CORPORA / "crawler-commons/src/test/resources/robots"
NS = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" xmlns:news="http://www.google.com/schemas/sitemap-news/0.9"'


def corpus_files(pattern_dirs, predicate):
    found = [
        p for d in pattern_dirs if d.exists() for p in sorted(d.rglob("*")) if p.is_file() and predicate(p)
    ]
    return found or [pytest.param(None, marks=pytest.mark.skip(reason="shared corpora not present"))]


def is_sitemap_file(path: Path) -> bool:
    name = path.name.lower()
    return (
        "sitemap" in name or name.endswith(".gz") and "sitemap" in name.replace("xmlsitemap", "sitemap")
    ) and not name.endswith((".html.gz", ".py"))


def test_news_sitemap_gives_titles_dates_and_languages_newest_first():
    body = f"""<?xml version="1.0" encoding="UTF-8"?><urlset {NS}>
      <url><loc>https://agency.example/en/old-news</loc><news:news><news:publication><news:name>Agency</news:name>
        <news:language>en</news:language></news:publication><news:publication_date>2024-09-08</news:publication_date>
        <news:title>Older  news</news:title></news:news></url>
      <url><loc>/fa/new-news</loc><news:news><news:publication><news:language>fa</news:language></news:publication>
        <news:publication_date>2024-09-09T10:00:00+03:30</news:publication_date><news:title><![CDATA[خبر تازه]]></news:title>
        </news:news></url>
      <url><loc>https://agency.example/undated</loc></url>
      <url><loc>javascript:alert(1)</loc></url><url><loc>https://agency.example/en/old-news</loc></url>
    </urlset>""".encode()
    parsed = parse_sitemap(body, url="https://agency.example/news-sitemap.xml")
    items = parsed.feed.items
    assert [i.url for i in items] == [
        "https://agency.example/fa/new-news",
        "https://agency.example/en/old-news",
        "https://agency.example/undated",
    ]
    assert [i.title for i in items] == ["خبر تازه", "Older news", None]
    assert [i.language for i in items] == ["fa", "en", None]
    assert items[0].published == datetime(2024, 9, 9, 6, 30, tzinfo=UTC)
    assert items[1].published == datetime(2024, 9, 8, 12, tzinfo=UTC)  # the day alone, at its noon
    assert parsed.children == () and not parsed.is_index


def test_index_children_newest_first_and_undated_by_their_names():
    body = f"""<sitemapindex {NS}>
      <sitemap><loc>https://s.example/sitemap-2019-01.xml</loc></sitemap>
      <sitemap><loc>https://s.example/a.xml</loc><lastmod>2024-01-01</lastmod></sitemap>
      <sitemap><loc>https://s.example/b.xml</loc><lastmod>2024-09-01T00:00:00Z</lastmod></sitemap>
      <sitemap><loc>https://s.example/sitemap-2024-09.xml</loc></sitemap>
      <sitemap><loc>https://s.example/news-sitemap.xml</loc></sitemap>
    </sitemapindex>""".encode()
    parsed = parse_sitemap(body, url="https://s.example/index.xml")
    assert parsed.is_index
    assert parsed.children == (
        "https://s.example/b.xml",
        "https://s.example/a.xml",
        "https://s.example/news-sitemap.xml",
        "https://s.example/sitemap-2024-09.xml",
        "https://s.example/sitemap-2019-01.xml",
    )


def test_text_and_gzip_sitemaps():
    text = b"\xef\xbb\xbfhttps://s.example/a\n\nhttps://s.example/b\n"
    assert [i.url for i in parse_sitemap(text, url="https://s.example/s.txt").feed.items] == [
        "https://s.example/a",
        "https://s.example/b",
    ]
    assert [
        i.url for i in parse_sitemap(gzip.compress(text), url="https://s.example/s.txt.gz").feed.items
    ] == ["https://s.example/a", "https://s.example/b"]


@pytest.mark.parametrize(
    "body, message",
    [
        (b"", "empty"),
        (b"<!DOCTYPE html><html><body>Not found</body></html>", "root element is <html>"),
        (b"Hello, this is not a sitemap at all.\nJust text.", "neither XML nor a list of URLs"),
        (b"\x1f\x8b\x08\x00garbage", "not a sitemap"),
    ],
)
def test_what_is_not_a_sitemap_is_refused(body, message):
    with pytest.raises(NotAFeed, match=message):
        parse_sitemap(body, url="https://s.example/sitemap.xml")


def test_hostile_sitemaps_cost_nothing():
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE urlset [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">'
        b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;">]>'
        b"<urlset><url><loc>https://s.example/&d;</loc></url></urlset>"
    )
    items = parse_sitemap(laughs, url="https://s.example/s.xml").feed.items
    assert all(len(i.url) < 100 for i in items)  # entities are not expanded
    external = (
        b'<?xml version="1.0"?><!DOCTYPE urlset [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b"<urlset><url><loc>https://s.example/&x;</loc></url></urlset>"
    )
    assert all(
        "root:" not in (i.url or "")
        for i in parse_sitemap(external, url="https://s.example/s.xml").feed.items
    )
    bomb = gzip.compress(b"<urlset>" + b" " * 50_000_000 + b"</urlset>")
    assert parse_sitemap(bomb, url="https://s.example/s.xml.gz").feed.items == ()


def test_broken_xml_is_read_as_far_as_it_goes():
    body = (
        f"<urlset {NS}><url><loc>https://s.example/a</loc></url><url><loc>https://s.example/b</loc>".encode()
    )
    parsed = parse_sitemap(body, url="https://s.example/s.xml")
    assert [i.url for i in parsed.feed.items][:1] == ["https://s.example/a"]
    assert parsed.feed.warning and "malformed" in parsed.feed.warning


@pytest.mark.corpus
@pytest.mark.parametrize("path", corpus_files(SITEMAP_DIRS, is_sitemap_file), ids=lambda p: p and p.name)
def test_corpus_sitemaps_parse_or_are_refused_cleanly(path):
    try:
        parsed = parse_sitemap(path.read_bytes(), url=f"https://corpus.example/{path.name}")
    except NotAFeed:
        return  # refused with a reason: fine, it must not crash
    for item in parsed.feed.items:
        assert item.url.startswith(("http://", "https://")) and item.key == item.url
    assert all(c.startswith(("http://", "https://")) for c in parsed.children)


@pytest.mark.corpus
def test_corpus_news_sitemaps_carry_news_titles_and_dates():
    nyt = CORPORA / "advertools/tests/data/sitemap_testing/news_sitemap.xml"
    if not nyt.exists():
        pytest.skip("shared corpora not present")
    items = parse_sitemap(nyt.read_bytes(), url="https://corpus.example/news_sitemap.xml").feed.items
    assert items and all(i.title and i.published and i.language for i in items)
    assert [i.published for i in items] == sorted((i.published for i in items), reverse=True)


@pytest.mark.corpus
@pytest.mark.parametrize(
    "path", corpus_files([ROBOTS_DIR], lambda p: p.suffix == ".txt"), ids=lambda p: p and p.name
)
def test_corpus_robots_txt_sitemaps_are_read(path):
    text = path.read_bytes().decode("utf-8", errors="replace").lstrip("\ufeff")
    for location in RobotsRules(text).sitemaps:
        assert location.strip()


@pytest.mark.corpus
def test_corpus_sitemaps_served_and_polled_end_to_end(web, workspace):
    """Real sitemaps from the corpora, served locally; their URLs rewritten to the local server."""
    news = CORPORA / "crawler-commons/src/test/resources/sitemaps/extension/shinpaideshou-news-sitemap.xml"
    index = CORPORA / "trafilatura/tests/resources/sitemap2.xml"
    if not news.exists() or not index.exists():
        pytest.skip("shared corpora not present")
    body = news.read_bytes().replace(b"https://shinpaideshou.wordpress.com", web.url("").rstrip("/").encode())
    web.set("/news.xml", Route(body, headers={"Content-Type": "application/xml"}))
    expected = parse_sitemap(body, url=web.url("/news.xml")).feed.items
    workspace.write_config(
        [{"name": "Corpus", "url": web.url("/news.xml"), "kind": "sitemap"}], fetch_pages=False
    )
    report = workspace.json("poll")
    assert report[0]["outcome"] == "ok" and report[0]["new_articles"] == len(expected) > 0
    stored = {a["url"]: a for a in workspace.json("articles")}
    assert {i.url for i in expected} == set(stored)
    assert all(stored[i.url]["title"] == i.title for i in expected)


# --- Bounded by max_bytes ---------------------------------------------------------------------------------


def _text_sitemap(count: int, base: str = "https://s.example") -> bytes:
    return "".join(f"{base}/2025/03/story-{n:05d}\n" for n in range(count)).encode()


def test_a_gzipped_sitemap_unpacks_to_at_most_max_bytes():
    body = gzip.compress(_text_sitemap(5000))  # about 190 KB unpacked, a few KB packed
    assert len(parse_sitemap(body, url="https://s.example/s.txt.gz").feed.items) == 5000
    cut = parse_sitemap(body, url="https://s.example/s.txt.gz", max_bytes=50_000).feed.items
    assert 0 < len(cut) <= 50_000 // len("https://s.example/2025/03/story-00000\n") + 1


def test_a_feed_served_as_a_sitemap_expands_to_at_most_max_bytes():
    from test_hostile_feeds import bomb_feed

    parsed = parse_sitemap(bomb_feed("&lol5;"), url="https://s.example/s.xml", max_bytes=50_000).feed
    assert "expand past 50000 characters" in parsed.warning
    assert all(len(item.summary or "") < 50_000 for item in parsed.items)


def test_a_sitemap_source_is_bounded_by_the_max_bytes_setting(web, workspace):
    """Served as a gzip file (no Content-Encoding), small on the wire: it is the setting that cuts it, as
    the fetch's own cap would have cut the same sitemap served unpacked."""
    body = gzip.compress(_text_sitemap(5000, base=web.url("").rstrip("/")))
    assert len(body) < 50_000
    web.set("/sitemap.txt.gz", Route(body, headers={"Content-Type": "application/x-gzip"}))
    workspace.write_config(
        [{"name": "Packed", "url": web.url("/sitemap.txt.gz"), "kind": "sitemap", "max_links": 10_000}],
        fetch_pages=False,
        max_bytes="50KB",
        max_entries_per_poll=10_000,
    )
    (report,) = workspace.json("poll")
    assert report["outcome"] == "ok"
    line = len(f"{web.url('').rstrip('/')}/2025/03/story-00000\n")
    assert 0 < report["new_articles"] <= 50_000 // line + 1


def test_entries_dated_in_the_future_do_not_keep_todays_news_out(web, workspace):
    """250 pages with a lastmod of 2099 sort as the newest: they took every place of max_links (200), poll
    after poll, and the story published today was never read."""
    base = web.url("").rstrip("/")
    pinned = "".join(
        f"<url><loc>{base}/pinned/{n}</loc><lastmod>2099-01-01</lastmod></url>" for n in range(250)
    )
    today = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    fresh = f"<url><loc>{base}/news/fresh-story</loc><lastmod>{today}</lastmod></url>"
    web.set(
        "/news.xml",
        Route(f"<urlset {NS}>{pinned}{fresh}</urlset>", headers={"Content-Type": "application/xml"}),
    )
    workspace.write_config(
        [{"name": "Site", "url": web.url("/news.xml"), "kind": "sitemap"}], fetch_pages=False
    )
    workspace.cli("poll")
    workspace.cli("poll")
    urls = {article["url"] for article in workspace.json("articles", "--limit", "1000")}
    assert f"{base}/news/fresh-story" in urls
