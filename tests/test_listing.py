"""monitor.ingest.listing: which links of a front or section page are articles of the site."""

from __future__ import annotations

import re

import pytest

from monitor.ingest.feeditems import NotAFeed
from monitor.ingest.listing import is_article_link, parse_listing, same_site

PAGE = "https://news.example.org/world/"


@pytest.mark.parametrize(
    "link",
    [
        "https://news.example.org/world/2024/09/09/talks-resume-in-geneva",
        "https://news.example.org/world/talks-resume-in-geneva-after-a-long-pause.html",
        "https://www.example.org/politics/ministry-denies-missile-shipment",  # same site, another host
        "https://news.example.org/a/8f3c2e91",
        "https://news.example.org/news/2024/09/09/123456",
        "https://news.example.org/article/1234567",
        "https://news.example.org/world/talks-resume-in-geneva?utm_source=home",
        "https://news.example.org/world/terms-of-the-ceasefire-agreed-in-doha",
    ],
)
def test_article_links(link):
    assert is_article_link(link, page_url=PAGE)


@pytest.mark.parametrize(
    "link",
    [
        "https://news.example.org/",  # home
        "https://news.example.org/world",  # this section
        "https://news.example.org/world/europe",  # another section
        "https://news.example.org/2024/09/",  # an archive
        "https://news.example.org/tag/iran/",
        "https://news.example.org/tags/drone-strikes-in-ukraine",
        "https://news.example.org/author/jane-doe/",
        "https://news.example.org/category/politics/",
        "https://news.example.org/topics/middle-east-and-north-africa",
        "https://news.example.org/world/page/2/",
        "https://news.example.org/world?page=2",
        "https://news.example.org/search?q=iran",
        "https://news.example.org/login",
        "https://news.example.org/contact",
        "https://news.example.org/about-us",
        "https://news.example.org/terms-of-use",
        "https://news.example.org/files/report-on-the-talks.pdf",
        "https://news.example.org/images/photo-of-the-talks.jpg",
        "https://elsewhere.example.com/world/talks-resume-in-geneva",  # external
        "https://www.facebook.com/sharer/sharer.php?u=https://news.example.org/world/talks",
        "https://news.example.org/video/talks-resume-in-geneva-live",
    ],
)
def test_links_that_are_not_articles(link):
    assert not is_article_link(link, page_url=PAGE)


def test_a_pattern_replaces_the_guess_but_not_the_site_check():
    pattern = re.compile(r"/press/\d+$")
    assert is_article_link("https://news.example.org/press/20240909", page_url=PAGE, pattern=pattern)
    assert not is_article_link(
        "https://news.example.org/world/talks-resume-in-geneva", page_url=PAGE, pattern=pattern
    )
    assert not is_article_link("https://other.example.com/press/20240909", page_url=PAGE, pattern=pattern)


def test_same_site():
    assert same_site("http://127.0.0.1:8000/a", "http://127.0.0.1:8000/")
    assert not same_site("http://127.0.0.2:8000/a", "http://127.0.0.1:8000/")
    assert same_site("https://www.bbc.co.uk/news/x", "https://bbc.co.uk/")
    assert not same_site("https://evil.co.uk/news/x", "https://bbc.co.uk/")


def test_parse_listing_titles_base_selector_and_dedup():
    body = b"""<html lang="de"><head><base href="https://news.example.org/de/"><title>Nachrichten</title></head>
    <body><nav><a href="/de/politik">Politik</a></nav>
    <div class="top"><a href="gespraeche-in-genf-gehen-weiter">Gespraeche  in <b>Genf</b></a>
    <a href="gespraeche-in-genf-gehen-weiter#comments">Kommentare</a>
    <a href="ministerium-dementiert-lieferung-von-raketen" title="Dementi"><img src="x.jpg"></a></div>
    <div class="more"><a href="/de/weitere-meldung-aus-der-region">Weitere</a></div></body></html>"""
    parsed = parse_listing(body, url="https://news.example.org/de/")
    assert [(i.url, i.title) for i in parsed.items] == [
        ("https://news.example.org/de/gespraeche-in-genf-gehen-weiter", "Gespraeche in Genf"),
        ("https://news.example.org/de/ministerium-dementiert-lieferung-von-raketen", "Dementi"),
        ("https://news.example.org/de/weitere-meldung-aus-der-region", "Weitere"),
    ]
    assert parsed.language == "de" and parsed.title == "Nachrichten"
    narrowed = parse_listing(body, url="https://news.example.org/de/", selector=".top")
    assert len(narrowed.items) == 2
    empty = parse_listing(body, url="https://news.example.org/de/", selector=".nothing")
    assert empty.items == () and "no article links" in empty.warning


@pytest.mark.parametrize("body", [b"", b'{"json": true}', b'<?xml version="1.0"?><rss></rss>'])
def test_what_is_not_a_page_is_refused(body):
    with pytest.raises(NotAFeed):
        parse_listing(body, url=PAGE)
