"""Feed dates in RFC 822 form with day and month names of the feed's language are read, not dropped."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from monitor.ingest.parse import parse_feed


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
