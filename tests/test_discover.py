"""monitor.ingest.discover and ``monitor discover``: feeds a site advertises or keeps at common paths, its sitemaps."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from support.httpserver import Route
from support.news import make_entries, rss

from monitor.config import load_config
from monitor.ingest.discover import alternate_links

RSS = {"Content-Type": "application/rss+xml; charset=utf-8"}
XML = {"Content-Type": "application/xml"}
SHARED = Path(os.environ.get("MONITOR_SHARED_DIR") or Path(__file__).resolve().parents[2] / "shared")
HOME_PAGES = SHARED / "corpora" / "rsparser" / "Tests" / "RSParserTests" / "Resources"

HOME = """<!DOCTYPE html><html><head><title>Ministry of Tests</title>
<link rel="alternate" type="application/rss+xml" title="Ministry – Press releases" href="/press/rss.xml">
<link rel="alternate" type="application/atom+xml; charset=utf-8" title="Ministry – Speeches" href="{speeches}">
<link rel="alternate" hreflang="fr" href="/fr/">
<link rel="stylesheet" type="text/css" href="/style.css">
<link rel="alternate" type="application/rss+xml" title="Broken" href="/broken.xml">
</head><body><p>Welcome</p></body></html>"""

ATOM = """<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>Speeches</title>
<id>urn:test:speeches</id><updated>2024-09-09T08:00:00Z</updated><entry><title>A speech</title>
<id>urn:test:speech-1</id><link href="{link}"/><updated>2024-09-09T08:00:00Z</updated></entry></feed>"""


def test_alternate_links_reads_type_title_and_base():
    page = b"""<html><head><base href="https://example.org/news/"><link rel="Alternate" type="application/rss+xml"
    href="feed.xml" title=" Top  stories "><link rel="alternate" type="application/feed+json" href="/feed.json">
    <link rel="alternate" type="text/html" href="/other"><link rel="alternate" type="application/rss+xml"
    href="javascript:alert(1)"></head></html>"""
    assert alternate_links(page, "https://example.org/") == (
        ("https://example.org/news/feed.xml", "Top stories"),
        ("https://example.org/feed.json", None),
    )


@pytest.mark.corpus
@pytest.mark.parametrize(
    "name",
    [
        "DaringFireball.html",
        "coco.html",
        "furbo.html",
        "inessential.html",
        "sixcolors.html",
        "YouTubeTheVolvoRocks.html",
    ],
)
def test_corpus_home_pages_advertise_their_feeds(name):
    path = HOME_PAGES / name
    if not path.exists():
        pytest.skip("shared corpora not present")
    found = alternate_links(path.read_bytes(), "https://site.example/")
    assert found, name
    for url, _title in found:
        assert url.startswith(("http://", "https://"))
        assert "m.youtube.com" not in url and "android-app" not in url  # alternates that are not feeds


def test_discover_prints_verified_entries_and_add_appends_them(web, workspace):
    make_entries(web, "speech", 1)
    web.set("/", HOME.format(speeches=web.url("/speeches.atom")))
    web.set(
        "/press/rss.xml",
        Route(rss("Press releases", web.url("/"), make_entries(web, "press", 2)), headers=RSS),
    )
    web.set(
        "/speeches.atom",
        Route(ATOM.format(link=web.url("/speech/0")), headers={"Content-Type": "application/atom+xml"}),
    )
    web.set("/broken.xml", "<html><body>not here</body></html>")
    web.set("/robots.txt", f"User-agent: *\nAllow: /\nSitemap: {web.url('/news-sitemap.xml')}\n")
    web.set(
        "/news-sitemap.xml",
        Route(
            '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
            'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9"><url><loc>'
            + web.url("/press/0")
            + "</loc><news:news><news:title>Press 0</news:title></news:news></url></urlset>",
            headers=XML,
        ),
    )
    workspace.config_path.write_text(
        "# my feeds\nsettings:\n  host_delay: 0s  # keep it fast\nfeeds:\n"
        "  - name: Existing\n    url: https://example.org/rss\n\n# the end\n"
    )

    report = workspace.json("discover", web.url("/"))
    assert report["entries"] == [
        {"name": "Press releases", "url": web.url("/press/rss.xml")},  # the feed's own title
        {"name": "Speeches", "url": web.url("/speeches.atom")},
        {"name": "Ministry of Tests – sitemap", "url": web.url("/news-sitemap.xml"), "kind": "sitemap"},
    ]
    assert any("broken.xml" in problem for problem in report["problems"])
    # Advertised feeds were found, so no common path was guessed.
    assert not web.requests_for("/feed") and not web.requests_for("/rss.xml")

    text = workspace.cli("discover", web.url("/")).stdout
    assert (
        yaml.safe_load(text.split("# feeds.yaml entries (add them with --add):", 1)[1]) == report["entries"]
    )

    workspace.cli("discover", web.url("/"), "--add")
    written = workspace.config_path.read_text()
    assert written.startswith("# my feeds\nsettings:\n  host_delay: 0s  # keep it fast\n")
    assert written.endswith("\n# the end\n")  # the comment after the list stays after it
    assert [f.name for f in load_config(workspace.config_path).feeds] == [
        "Existing",
        "Press releases",
        "Speeches",
        "Ministry of Tests – sitemap",
    ]

    again = workspace.json("discover", web.url("/"), "--add")
    assert again["added"] == [] and len(again["skipped"]) == 3  # duplicates refused, saying which holds each
    assert (
        again["skipped"][2]["reason"] == "already configured as 'Ministry of Tests – sitemap' (kind sitemap)"
    )
    assert workspace.config_path.read_text() == written


def test_discover_probes_common_paths_politely_when_nothing_is_advertised(web, workspace):
    web.set("/", "<html><head><title>Quiet site</title></head><body>Hello</body></html>")
    web.set("/index.xml", Route(rss("Quiet", web.url("/"), make_entries(web, "q", 1)), headers=RSS))
    web.set("/robots.txt", "User-agent: *\nDisallow: /feed\n")
    workspace.write_config([])
    report = workspace.json("discover", web.url("/"), "--max-probes", "6")
    assert report["entries"] == [{"name": "Quiet", "url": web.url("/index.xml")}]
    assert not web.requests_for("/feed")  # robots.txt disallows it: not even asked
    probes = {r.path for r in web.requests} - {"/", "/robots.txt"}
    assert len(probes) <= 6 + 3  # the guessed feed paths within the cap, then the sitemap paths


def test_discover_offers_the_page_itself_when_it_only_lists_articles(web, workspace):
    links = "".join(f'<a href="/news/2024/ministry-statement-number-{n}">Statement {n}</a>' for n in range(6))
    web.set("/", f"<html><head><title>Agency</title></head><body>{links}</body></html>")
    workspace.write_config([])
    report = workspace.json("discover", web.url("/"), "--max-probes", "0", expect=0)
    assert report["entries"] == [{"name": "Agency", "url": web.url("/"), "kind": "page"}]


def test_discover_finds_nothing_and_says_so(web, workspace):
    web.set("/", "<html><head><title>Empty</title></head><body>Nothing</body></html>")
    workspace.write_config([])
    result = workspace.cli("discover", web.url("/"), "--max-probes", "2", expect=1)
    assert "nothing to watch found" in result.stderr
