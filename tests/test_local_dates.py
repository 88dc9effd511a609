"""Feed dates are read at their moment: RFC 822 dates in the feed's language and with zone abbreviations, and a
day given alone placed in its day."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from monitor.ingest.parse import parse_feed
from monitor.ingest.sitemaps import parse_sitemap


def _rss_dated(written: str) -> bytes:
    return (
        "<rss version='2.0'><channel><title>t</title><link>https://news.example/</link>"
        f"<item><title>A</title><link>https://news.example/a</link><pubDate>{written}</pubDate></item>"
        "</channel></rss>"
    ).encode()


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("Seg, 24 Set 2018 19:42:40 -0300", datetime(2018, 9, 24, 22, 42, 40, tzinfo=UTC)),
        ("Qua, 03 Out 2018 08:00:00 -0300", datetime(2018, 10, 3, 11, 0, tzinfo=UTC)),
        ("Mié, 03 Ene 2018 13:47:00 +0100", datetime(2018, 1, 3, 12, 47, tzinfo=UTC)),
        ("mar., 02 oct. 2018 10:00:00 +0200", datetime(2018, 10, 2, 8, 0, tzinfo=UTC)),
        ("Di, 04 Dez 2018 09:15:00 +0100", datetime(2018, 12, 4, 8, 15, tzinfo=UTC)),
        ("Mon, 24 Sep 2018 19:42:40 -0300", datetime(2018, 9, 24, 22, 42, 40, tzinfo=UTC)),
    ],
)
def test_a_localised_rfc822_date_is_read(written, expected):
    [item] = parse_feed(_rss_dated(written), url="https://news.example/rss").items
    assert item.published == expected


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("Mon, 24 Sep 2018 19:42:40 MSK", datetime(2018, 9, 24, 16, 42, 40, tzinfo=UTC)),
        ("Mon, 24 Sep 2018 19:42:40 IRST", datetime(2018, 9, 24, 16, 12, 40, tzinfo=UTC)),
        ("Sun, 31 Mar 2024 02:30:00 CET", datetime(2024, 3, 31, 1, 30, tzinfo=UTC)),
        ("Mon, 24 Sep 2018 19:42:40 CEST", datetime(2018, 9, 24, 17, 42, 40, tzinfo=UTC)),
        ("Mon, 24 Sep 2018 19:42 AEST", datetime(2018, 9, 24, 9, 42, tzinfo=UTC)),
        ("Seg, 24 Set 2018 19:42:40 BST", datetime(2018, 9, 24, 18, 42, 40, tzinfo=UTC)),
        # What feedparser knows stays as it reads it; an abbreviation known to neither is read as UTC.
        ("Mon, 24 Sep 2018 19:42:40 EDT", datetime(2018, 9, 24, 23, 42, 40, tzinfo=UTC)),
        ("Mon, 24 Sep 2018 19:42:40 XYZ", datetime(2018, 9, 24, 19, 42, 40, tzinfo=UTC)),
    ],
)
def test_a_zone_abbreviation_is_read_as_its_offset_not_as_utc(written, expected):
    [item] = parse_feed(_rss_dated(written), url="https://news.example/rss").items
    assert item.published == expected
    # A JSON Feed written with RFC 822 dates (its specification asks for RFC 3339) reads them the same.
    body = json.dumps(
        {
            "version": "https://jsonfeed.org/version/1.1",
            "title": "t",
            "items": [{"id": "a", "url": "https://news.example/a", "title": "A", "date_published": written}],
        }
    ).encode()
    [item] = parse_feed(
        body, url="https://news.example/feed.json", headers={"content-type": "application/feed+json"}
    ).items
    assert item.published == expected


def _json_feed_dated(written: str) -> bytes:
    item = {"id": "a", "url": "https://news.example/a", "title": "A", "date_published": written}
    return json.dumps({"version": "https://jsonfeed.org/version/1.1", "title": "t", "items": [item]}).encode()


def _sitemap_dated(written: str) -> bytes:
    return (
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'
        ' xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">'
        "<url><loc>https://news.example/a</loc><news:news><news:title>A</news:title>"
        f"<news:publication_date>{written}</news:publication_date></news:news></url></urlset>"
    ).encode()


@pytest.mark.parametrize("written", ["2018-09-24", "Mon, 24 Sep 2018", "24 Sep 2018"])
def test_a_day_given_alone_is_placed_at_its_noon_utc(written):
    # Read as midnight UTC, the day alone showed as the evening before from Washington to Honolulu.
    [item] = parse_feed(_rss_dated(written), url="https://news.example/rss").items
    assert item.published == datetime(2018, 9, 24, 12, tzinfo=UTC)


def test_a_day_given_alone_in_a_json_feed_or_a_sitemap_is_placed_at_its_noon_utc():
    [item] = parse_feed(
        _json_feed_dated("2018-09-24"),
        url="https://news.example/feed.json",
        headers={"content-type": "application/feed+json"},
    ).items
    assert item.published == datetime(2018, 9, 24, 12, tzinfo=UTC)
    [item] = parse_sitemap(_sitemap_dated("2018-09-24"), url="https://news.example/sitemap.xml").feed.items
    assert item.published == datetime(2018, 9, 24, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    "written", ["2018-09-24T00:00:00Z", "2018-09-24T00:00:00+00:00", "Mon, 24 Sep 2018 00:00:00 GMT"]
)
def test_a_midnight_written_out_stays_midnight(written):
    [item] = parse_feed(_rss_dated(written), url="https://news.example/rss").items
    assert item.published == datetime(2018, 9, 24, tzinfo=UTC)
    if written[:1].isdigit():  # a sitemap's dates are W3C's
        [item] = parse_sitemap(_sitemap_dated(written), url="https://news.example/sitemap.xml").feed.items
        assert item.published == datetime(2018, 9, 24, tzinfo=UTC)


def test_todays_date_alone_in_a_sitemap_is_never_ahead_of_the_clock():
    before = datetime.now(UTC)
    [item] = parse_sitemap(
        _sitemap_dated(before.date().isoformat()), url="https://news.example/sitemap.xml"
    ).feed.items
    assert before.replace(hour=0, minute=0, second=0, microsecond=0) <= item.published
    assert item.published <= min(
        datetime.now(UTC), before.replace(hour=12, minute=0, second=0, microsecond=0)
    )
