"""Feeds that cost more than their size: entities that expand, more entries than a poll takes, charsets
that lie or break. Each is bounded, and what is clean in the feed still comes through."""

from __future__ import annotations

import json
import logging
import os
import resource
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from support.httpserver import Route

from monitor.ingest.feedbytes import expand_internal_entities
from monitor.ingest.feeditems import MAX_TEXT_CHARS
from monitor.ingest.parse import parse_feed

FEED_URL = "https://news.example.org/feed.xml"
SHARED = Path(os.environ.get("MONITOR_SHARED_DIR") or Path(__file__).resolve().parents[2] / "shared")
CORPORA = SHARED / "corpora"


def clean_items(count: int, start: int = 0) -> str:
    return "".join(
        f"<item><title>Clean {n}</title><guid>clean-{n}</guid><description>Story {n} text."
        f"</description></item>"
        for n in range(start, start + count)
    )


def laughs(levels: int = 9, fan_out: int = 10) -> str:
    """Nested entity declarations: ``&lol{levels};`` expands to 3 * fan_out ** levels characters."""
    declarations = ['<!ENTITY lol0 "lol">']
    declarations += [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * fan_out}">' for i in range(1, levels + 1)]
    return "\n".join(declarations)


def bomb_feed(reference: str = "&lol9;") -> bytes:
    return f"""<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE rss [
{laughs()}
]>
<rss version="2.0"><channel><title>Harbour news</title><link>https://news.example.org/</link>
{clean_items(3)}
<item><title>Laughing</title><guid>bomb</guid><description>{reference}</description></item>
{clean_items(2, start=3)}
</channel></rss>""".encode()


# --- Entity expansion ----------------------------------------------------------------------------------


def test_billion_laughs_is_bounded_in_time_and_memory_and_clean_entries_survive(caplog):
    body = bomb_feed()
    assert len(body) < 5_000  # a few KB that would expand to 3,000,000,000 characters
    resident_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KB, the peak so far
    tracemalloc.start()
    started = time.monotonic()
    try:
        with caplog.at_level(logging.WARNING, logger="monitor.ingest.parse"):
            feed = parse_feed(body, url=FEED_URL, headers={"Content-Type": "application/rss+xml"})
        elapsed = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < 5
    assert peak < 400_000_000  # generous: the document may grow to max_chars (10 million characters)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - resident_before < 1_000_000
    by_title = {item.title: item for item in feed.items}
    assert [by_title[f"Clean {n}"].summary for n in range(5)] == [f"Story {n} text." for n in range(5)]
    assert len(by_title["Laughing"].summary) <= MAX_TEXT_CHARS
    assert by_title["Laughing"].summary.startswith("lollol")
    assert "expand past" in feed.warning
    assert any(
        FEED_URL in record.getMessage() and "expand past" in record.getMessage() for record in caplog.records
    )


def test_max_chars_bounds_the_expansion():
    feed = parse_feed(bomb_feed("&lol5;"), url=FEED_URL, max_chars=50_000)  # 300,000 characters wanted
    bomb = next(item for item in feed.items if item.title == "Laughing")
    assert 30_000 < len(bomb.summary) < 50_000
    assert "expand past 50000 characters" in feed.warning
    assert len(feed.items) == 6


def test_entities_that_fit_are_expanded_as_declared():
    body = b"""<?xml version="1.0"?>
<!DOCTYPE rss [
  <!ENTITY nbsp "&#160;">
  <!ENTITY org "Harbour &amp; Ferry Authority">
  <!ENTITY sign "&org; press office">
  <!ENTITY ext SYSTEM "file:///etc/passwd">
]>
<rss version="2.0"><channel><title>&org;</title>
<item><title>From&nbsp;the &sign;</title><guid>one</guid><description>Issued by &sign;. &ext;</description></item>
</channel></rss>"""
    feed = parse_feed(body, url=FEED_URL)
    assert feed.title == "Harbour & Ferry Authority"
    (item,) = feed.items
    assert item.title == "From the Harbour & Ferry Authority press office"
    assert "Issued by Harbour & Ferry Authority press office." in item.summary
    assert "root:" not in item.summary  # external entities are never loaded
    assert feed.warning is None or "expand past" not in feed.warning


def test_recursive_and_quadratic_declarations_are_bounded():
    recursive = '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "x&b;"><!ENTITY b "y&a;">]><r>&a;</r>'
    text, _ = expand_internal_entities(recursive, max_chars=1_000)
    assert "<!ENTITY" not in text and len(text) < 1_000
    big = "x" * 100_000
    quadratic = f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "{big}">]><r>{"&a;" * 10_000}</r>'
    text, warning = expand_internal_entities(quadratic, max_chars=1_000_000)
    assert len(text) <= 1_000_000
    assert "references cut" in warning


def test_an_entity_declaration_the_doctype_reader_misses_is_defused():
    # A declaration outside the DOCTYPE (expat refuses it; the lenient parser would have kept it).
    body = f"""<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>
<!ENTITY big "{"x" * 1000}">
{clean_items(2)}<item><title>&big;&big;</title><guid>b</guid></item></channel></rss>""".encode()
    feed = parse_feed(body, url=FEED_URL)
    assert [item.title for item in feed.items][:2] == ["Clean 0", "Clean 1"]
    assert all("x" * 1000 not in (item.title or "") for item in feed.items)


# --- More entries than one poll takes -----------------------------------------------------------------


def many_entries_rss(web, count: int) -> str:
    start = datetime(2025, 3, 1, tzinfo=UTC)
    items = "".join(
        f"<item><title>Bulletin {n}</title><link>{web.url(f'/b/{n}')}</link><guid>bulletin-{n}</guid>"
        f"<pubDate>{(start + timedelta(minutes=n)).strftime('%a, %d %b %Y %H:%M:%S +0000')}</pubDate>"
        f"<description>Bulletin number {n} of the harbour office.</description></item>"
        for n in range(count)
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Bulletins</title>{items}</channel></rss>'


def test_a_document_of_1500_entries_is_stored_whole_over_several_polls(web, workspace):
    web.set(
        "/bulletins.xml",
        Route(many_entries_rss(web, 1500), headers={"Content-Type": "application/rss+xml; charset=utf-8"}),
    )
    workspace.write_config(
        [{"name": "Bulletins", "url": web.url("/bulletins.xml"), "fetch_pages": False}],
        max_entries_per_poll=200,
    )
    new, logged = [], []
    for _ in range(10):
        result = workspace.cli("poll", "--json")
        (report,) = json.loads(result.stdout)
        new.append(report["new_articles"])
        logged.append(result.stderr)
        if len(new) == 1:  # newest first: the first poll took bulletins 1300 to 1499
            first = {a["url"] for a in workspace.json("articles", "--limit", "0")}
            assert first == {web.url(f"/b/{n}") for n in range(1300, 1500)}
        if not report["new_articles"]:
            break
    assert new[:8] == [200] * 7 + [100]
    assert sum(new) == 1500
    articles = workspace.json("articles", "--limit", "0")
    assert len({a["url"] for a in articles}) == 1500
    assert "feed=Bulletins has 1500 new or changed entries" in logged[0] and "1300 wait" in logged[0]
    assert "wait for the next polls" not in logged[7]
    polls = web.requests_for("/bulletins.xml")
    assert all(r.status == 200 for r in polls[:8])  # entries waiting: no 304 until all are stored


def test_parse_reads_past_a_thousand_entries():
    body = f'<rss version="2.0"><channel><title>T</title>{clean_items(1500)}</channel></rss>'.encode()
    feed = parse_feed(body, url=FEED_URL)
    assert len(feed.items) == 1500
    assert feed.warning is None


# --- Charsets -----------------------------------------------------------------------------------------

CYRILLIC = ["Паром отправился вовремя", "Новости порта", "Мэр открыл новый причал", "Шторм закрыл гавань"]


def cyrillic_feed() -> str:
    items = "".join(
        f"<item><title>{title}</title><guid>ru-{n}</guid><description>{title}, сообщает редакция."
        f"</description></item>"
        for n, title in enumerate(CYRILLIC)
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Порт</title>{items}'
        "</channel></rss>"
    )


def test_one_invalid_byte_in_a_utf8_feed_spares_the_other_entries():
    body = (
        cyrillic_feed()
        .encode("utf-8")
        .replace("Новости".encode(), "Нов".encode() + b"\xff" + "ости".encode())
    )
    for content_type in (
        "application/rss+xml; charset=utf-8",
        "application/rss+xml",
        "text/xml; charset=iso-8859-1",
    ):
        feed = parse_feed(body, url=FEED_URL, headers={"Content-Type": content_type})
        titles = [item.title for item in feed.items]
        assert titles[0] == CYRILLIC[0] and titles[2:] == CYRILLIC[2:], content_type
        assert titles[1] == "Нов\ufffdости порта"
        assert feed.title == "Порт"
        assert "undecodable bytes replaced" in feed.warning


def test_a_utf8_feed_served_as_latin1_is_read_as_utf8():
    body = cyrillic_feed().encode("utf-8")
    feed = parse_feed(body, url=FEED_URL, headers={"Content-Type": "application/rss+xml; charset=iso-8859-1"})
    assert [item.title for item in feed.items] == CYRILLIC
    assert feed.warning is None


def test_a_header_that_lies_is_caught_by_the_documents_declaration():
    document = cyrillic_feed().replace('encoding="utf-8"', 'encoding="windows-1251"')
    # Served as UTF-8: UTF-8 fails on the windows-1251 bytes, and the declaration agrees on windows-1251.
    feed = parse_feed(
        document.encode("windows-1251"),
        url=FEED_URL,
        headers={"Content-Type": "application/rss+xml; charset=utf-8"},
    )
    assert [item.title for item in feed.items] == CYRILLIC
    # Served as ISO-8859-1, a server's default: the document's own declaration is believed.
    feed = parse_feed(
        document.encode("windows-1251"),
        url=FEED_URL,
        headers={"Content-Type": "text/xml; charset=iso-8859-1"},
    )
    assert [item.title for item in feed.items] == CYRILLIC


def test_a_detector_reads_a_feed_whose_labels_all_fail():
    document = cyrillic_feed().replace('<?xml version="1.0" encoding="utf-8"?>', "")
    feed = parse_feed(
        document.encode("windows-1251"),
        url=FEED_URL,
        headers={"Content-Type": "application/rss+xml; charset=utf-8"},
    )
    assert [item.title for item in feed.items] == CYRILLIC


@pytest.mark.parametrize(
    ("path", "charset", "title"),
    [
        (
            "miniflux/internal/reader/parser/testdata/encoding_WINDOWS-1251.xml",
            "windows-1251",
            "iBash.Org.Ru",
        ),
        ("miniflux/internal/reader/xml/testdata/koi8r.xml", "koi8-r", "Пример RSS ленты"),
    ],
)
def test_real_legacy_cyrillic_feeds_still_decode(path, charset, title):
    source = CORPORA / path
    if not source.exists():
        pytest.skip(f"corpus file {path} is absent")
    body = source.read_bytes()
    expected = body.decode(charset)
    feed = parse_feed(body, url=FEED_URL, headers={})
    assert feed.title == title
    assert feed.items
    cyrillic_titles = [
        item.title for item in feed.items if item.title and any("а" <= c <= "я" for c in item.title)
    ]
    assert cyrillic_titles and all(t in " ".join(expected.split()) for t in cyrillic_titles)
    assert "\ufffd" not in "".join((item.title or "") + (item.summary or "") for item in feed.items)
    # Served with a header naming another legacy charset that also decodes: the header wins (RFC 7303).
    served = parse_feed(body, url=FEED_URL, headers={"Content-Type": f"text/xml; charset={charset}"})
    assert [i.title for i in served.items] == [i.title for i in feed.items]
