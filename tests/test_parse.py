"""Tests for monitor.ingest.parse: feed bytes and headers to ParsedFeed, for every format we read.

Every feed here is a small made-up document written for the test.
"""

from __future__ import annotations

import gzip
import json
import re
from datetime import UTC, datetime

import pytest

from monitor.ingest.feeditems import MAX_ITEMS, FeedItem, NotAFeed, ParsedFeed
from monitor.ingest.parse import parse_feed

FEED_URL = "https://news.example.org/feeds/main.xml"


def parse(body: bytes | str, url: str = FEED_URL, **headers: str) -> ParsedFeed:
    """parse_feed with headers given as keyword arguments (content_type= becomes Content-Type)."""
    data = body.encode("utf-8") if isinstance(body, str) else body
    return parse_feed(data, url=url, headers={k.replace("_", "-").title(): v for k, v in headers.items()})


def rss(items: str, *, channel: str = "", head: str = '<?xml version="1.0" encoding="utf-8"?>') -> str:
    return f"""{head}
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"
     xmlns:dc="http://purl.org/dc/elements/1.1/">
  <channel>
    <title>Harbour Gazette</title>
    <link>https://news.example.org/</link>
    <description>Local news</description>
    {channel}
    {items}
  </channel>
</rss>"""


def item(n: int, *, guid: bool = True, link: bool = True, extra: str = "") -> str:
    parts = [f"<title>Story {n}</title>", f"<description>Text of story {n}.</description>"]
    if guid:
        parts.append(f'<guid isPermaLink="false">story-{n}</guid>')
    if link:
        parts.append(f"<link>https://news.example.org/story/{n}</link>")
    return "<item>" + "".join(parts) + extra + "</item>"


def json_feed(items: list[dict], version: str = "https://jsonfeed.org/version/1.1", **fields) -> bytes:
    return json.dumps({"version": version, "title": "Harbour JSON", "items": items, **fields}).encode()


# --- RSS ----------------------------------------------------------------------------------------------


def test_rss_20_entry_fields():
    feed = parse(
        rss(
            channel="<language>en-GB</language><ttl>45</ttl>",
            items="""
            <item>
              <title>Council approves &lt;b&gt;new&lt;/b&gt; ferry timetable</title>
              <link>https://news.example.org/2024/ferry</link>
              <guid isPermaLink="false">gazette-ferry-1</guid>
              <author>desk@example.org (Ada Byrne)</author>
              <pubDate>Tue, 05 Mar 2024 09:30:00 +0100</pubDate>
              <description><![CDATA[<p>The council <em>approved</em> it.</p><p>Services start in May.</p>]]></description>
              <content:encoded><![CDATA[<p>The council approved the timetable on Monday.</p>
                <script>track()</script><p>Ferries will run every hour.</p>]]></content:encoded>
            </item>""",
        )
    )
    assert (feed.title, feed.link, feed.language, feed.ttl_minutes) == (
        "Harbour Gazette",
        "https://news.example.org/",
        "en-GB",
        45,
    )
    assert feed.warning is None
    (entry,) = feed.items
    assert entry == FeedItem(
        key="gazette-ferry-1",
        guid="gazette-ferry-1",
        url="https://news.example.org/2024/ferry",
        title="Council approves new ferry timetable",
        author="Ada Byrne",
        published=datetime(2024, 3, 5, 8, 30, tzinfo=UTC),
        summary="The council approved it.\n\nServices start in May.",
        content="The council approved the timetable on Monday.\n\nFerries will run every hour.",
        language="en-GB",
    )
    assert entry.feed_text == entry.content


@pytest.mark.parametrize(
    "document",
    [
        pytest.param(
            """<?xml version="1.0"?>
<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN"
  "http://my.netscape.com/publish/formats/rss-0.91.dtd">
<rss version="0.91"><channel><title>Old Gazette</title><link>https://old.example.org/</link>
<description>d</description><language>en-us</language>
<item><title>First &amp; foremost</title><link>https://old.example.org/1</link><description>One</description></item>
<item><title>Second</title><link>https://old.example.org/2</link><description>Two</description></item>
</channel></rss>""",
            id="rss-0.91",
        ),
        pytest.param(
            """<?xml version="1.0"?>
<rss version="0.92"><channel><title>Old Gazette</title><link>https://old.example.org/</link>
<description>d</description><language>en-us</language>
<item><title>First &amp; foremost</title><link>https://old.example.org/1</link><description>One</description>
<enclosure url="https://old.example.org/1.mp3" length="1" type="audio/mpeg"/></item>
<item><title>Second</title><link>https://old.example.org/2</link><description>Two</description></item>
</channel></rss>""",
            id="rss-0.92",
        ),
    ],
)
def test_rss_09x(document):
    feed = parse(document)
    assert feed.title == "Old Gazette"
    assert feed.language == "en-us"
    assert [(i.key, i.guid, i.title, i.summary) for i in feed.items] == [
        ("https://old.example.org/1", None, "First & foremost", "One"),
        ("https://old.example.org/2", None, "Second", "Two"),
    ]
    assert feed.warning is None


def test_rss_10_rdf():
    feed = parse("""<?xml version="1.0" encoding="utf-8"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
         xmlns:dc="http://purl.org/dc/elements/1.1/">
  <channel rdf:about="https://rdf.example.org/">
    <title>RDF Herald</title><link>https://rdf.example.org/</link><description>d</description>
    <dc:language>de</dc:language>
    <items><rdf:Seq><rdf:li rdf:resource="https://rdf.example.org/a"/><rdf:li rdf:resource="https://rdf.example.org/b"/></rdf:Seq></items>
  </channel>
  <item rdf:about="https://rdf.example.org/a">
    <title>Hafen wird erweitert</title><link>https://rdf.example.org/a</link>
    <description>Mehr Platz.</description><dc:creator>Jonas Weber</dc:creator><dc:date>2024-02-01T10:00:00+01:00</dc:date>
  </item>
  <item rdf:about="https://rdf.example.org/b">
    <title>Zweite Meldung</title><link>https://rdf.example.org/b</link><description>Kurz.</description>
  </item>
</rdf:RDF>""")
    assert feed.title == "RDF Herald"
    assert feed.language == "de"
    first, second = feed.items
    assert (first.url, first.title, first.author, first.summary) == (
        "https://rdf.example.org/a",
        "Hafen wird erweitert",
        "Jonas Weber",
        "Mehr Platz.",
    )
    assert first.published == datetime(2024, 2, 1, 9, 0, tzinfo=UTC)
    assert first.language == "de"
    assert second.published is None


def test_empty_rss_channel_is_a_feed_without_items():
    feed = parse(rss(""))
    assert feed.title == "Harbour Gazette"
    assert feed.items == ()


# --- Atom ---------------------------------------------------------------------------------------------


ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en" xml:base="https://atom.example.net/blog/">
  <title type="text">Atom &amp; Eve</title>
  <link rel="alternate" href="./"/>
  <link rel="self" href="feed.atom"/>
  <id>tag:atom.example.net,2024:feed</id>
  <updated>2024-04-02T12:00:00Z</updated>
  <entry>
    <title type="html">&lt;i&gt;Tides&lt;/i&gt; &amp;amp; currents</title>
    <link rel="alternate" type="text/html" href="posts/tides"/>
    <link rel="enclosure" href="media/tides.mp3"/>
    <id>tag:atom.example.net,2024:tides</id>
    <published>2024-04-01T08:00:00+02:00</published>
    <updated>2024-04-02T08:00:00+02:00</updated>
    <author><name>Mira Holt</name></author>
    <author><name>Ken Abe</name></author>
    <summary type="text">Why the &lt;div&gt; tag is not a tide.</summary>
    <content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><p>Tides rise.</p><p>Then fall.</p></div></content>
  </entry>
  <entry xml:base="/elsewhere/" xml:lang="fr">
    <title>Marées</title>
    <link href="marees"/>
    <id>tag:atom.example.net,2024:marees</id>
    <updated>2024-04-03T08:00:00Z</updated>
    <content type="html">&lt;p&gt;La mer monte.&lt;/p&gt;</content>
  </entry>
</feed>"""


def test_atom_10():
    feed = parse(ATOM, url="https://feeds.example.com/atom")
    assert feed.title == "Atom & Eve"
    assert feed.link == "https://atom.example.net/blog/"
    assert feed.language == "en"
    assert feed.warning is None
    tides, marees = feed.items
    assert tides.key == tides.guid == "tag:atom.example.net,2024:tides"
    assert tides.url == "https://atom.example.net/blog/posts/tides"  # against the feed's xml:base
    assert tides.title == "Tides & currents"
    assert tides.author == "Mira Holt, Ken Abe"
    assert tides.published == datetime(2024, 4, 1, 6, 0, tzinfo=UTC)  # published, not updated
    assert tides.summary == "Why the <div> tag is not a tide."  # type="text": the markup is the text
    assert tides.content == "Tides rise.\n\nThen fall."
    assert tides.language == "en"
    # An entry's own xml:base (relative, so joined to the feed's) and xml:lang.
    assert marees.url == "https://atom.example.net/elsewhere/marees"
    assert marees.language == "fr"
    assert marees.published == datetime(2024, 4, 3, 8, 0, tzinfo=UTC)  # updated, for want of published
    assert marees.content == "La mer monte."
    assert marees.summary is None


def test_atom_03():
    feed = parse("""<?xml version="1.0" encoding="utf-8"?>
<feed version="0.3" xmlns="http://purl.org/atom/ns#">
  <title>Legacy Atom</title>
  <link rel="alternate" type="text/html" href="https://legacy.example.org/"/>
  <modified>2005-01-01T00:00:00Z</modified>
  <entry>
    <title>Old post</title>
    <link rel="alternate" type="text/html" href="https://legacy.example.org/old"/>
    <id>tag:legacy.example.org,2005:old</id>
    <issued>2005-01-01T00:00:00Z</issued>
    <modified>2005-01-02T00:00:00Z</modified>
    <summary type="text/html" mode="escaped">&lt;b&gt;Bold&lt;/b&gt; claim</summary>
  </entry>
</feed>""")
    assert feed.title == "Legacy Atom"
    (entry,) = feed.items
    assert (entry.key, entry.url, entry.title, entry.summary) == (
        "tag:legacy.example.org,2005:old",
        "https://legacy.example.org/old",
        "Old post",
        "Bold claim",
    )
    assert entry.published == datetime(2005, 1, 1, tzinfo=UTC)


# --- JSON Feed ----------------------------------------------------------------------------------------


def test_json_feed_11():
    body = json_feed(
        [
            {
                "id": "j-1",
                "url": "/posts/1",
                "title": "Fish &amp; chips",
                "content_html": "<p>Hot <b>and</b> fresh.</p><p>Every Friday.</p>",
                "content_text": "ignored when there is HTML",
                "summary": "Friday food.",
                "date_published": "2024-05-01T18:00:00-04:00",
                "authors": [
                    {"name": "Lu Chen"},
                    {"url": "https://example.org/no-name"},
                    {"name": "Raj Patel"},
                ],
                "language": "en-US",
            },
            {
                "id": 2,
                "external_url": "https://elsewhere.example.com/story",
                "title": "Why <div> tags?",
                "content_text": "First line.\n\nSecond   paragraph.",
                "date_modified": "2024-05-02T09:00:00Z",
            },
            {"id": "j-3", "content_text": "No title, no link, no date."},
        ],
        home_page_url="https://json.example.org/",
        language="en",
        authors=[{"name": "The Desk"}],
    )
    feed = parse(body, url="https://json.example.org/feed.json", content_type="application/feed+json")
    assert (feed.title, feed.link, feed.language, feed.warning) == (
        "Harbour JSON",
        "https://json.example.org/",
        "en",
        None,
    )
    first, second, third = feed.items
    assert first.key == first.guid == "j-1"
    assert first.url == "https://json.example.org/posts/1"  # relative URL, against the feed URL
    assert first.title == "Fish & chips"
    assert first.content == "Hot and fresh.\n\nEvery Friday."  # content_html wins over content_text
    assert first.summary == "Friday food."
    assert first.author == "Lu Chen, Raj Patel"
    assert first.published == datetime(2024, 5, 1, 22, 0, tzinfo=UTC)
    assert first.language == "en-US"
    assert second.guid == "2"  # a number where the spec wants a string
    assert second.url == "https://elsewhere.example.com/story"  # external_url when there is no url
    assert second.title == "Why <div> tags?"  # a plain-text field
    assert second.content == "First line.\n\nSecond paragraph."
    assert second.author == "The Desk"  # the feed's authors stand for the item's
    assert second.published == datetime(2024, 5, 2, 9, 0, tzinfo=UTC)
    assert second.language == "en"
    assert (third.url, third.title, third.published, third.content) == (
        None,
        None,
        None,
        "No title, no link, no date.",
    )


def test_json_feed_10_author_object_and_http_version():
    body = json_feed(
        [
            {
                "id": "a",
                "url": "https://json.example.org/a",
                "title": "A",
                "content_text": "Body",
                "author": {"name": "Old Style"},
                "date_published": "2017-05-17T08:02:12-07:00",
            }
        ],
        version="http://jsonfeed.org/version/1",  # the scheme real feeds still use
    )
    (entry,) = parse(body).items
    assert (entry.author, entry.published) == ("Old Style", datetime(2017, 5, 17, 15, 2, 12, tzinfo=UTC))


def test_json_feed_sniffed_without_json_content_type():
    body = b"\xef\xbb\xbf\n  " + json_feed([{"id": "x", "content_text": "t"}])
    assert [i.key for i in parse(body, content_type="text/plain").items] == ["x"]


def test_xml_served_as_json_is_still_read_as_xml():
    assert len(parse(rss(item(1)), content_type="application/json").items) == 1


def test_truncated_json_feed_keeps_complete_items():
    whole = json_feed([{"id": f"t-{n}", "content_text": f"item {n} " * 20} for n in range(4)])
    cut = whole[: whole.index(b'"t-3"') + 30]
    feed = parse(cut)
    assert [i.key for i in feed.items] == ["t-0", "t-1", "t-2"]
    assert feed.title == "Harbour JSON"
    assert "parsed as far as possible" in feed.warning


def test_json_nested_past_what_the_parser_takes_is_read_as_far_as_it_goes():
    # json.loads recurses once a level: a few thousand brackets raise RecursionError, which must not pass
    # for a bug of ours (the poll failing as an internal error, with a traceback).
    items = [{"id": f"t-{n}", "content_text": f"item {n}"} for n in range(3)]
    whole = json_feed(items)
    deep = b'{"id": "deep", "_x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    nested = whole[: whole.rindex(b"]")] + b", " + deep + b"]}"
    feed = parse(nested)
    assert [i.key for i in feed.items] == ["t-0", "t-1", "t-2"]
    assert "nested too deeply" in feed.warning
    with pytest.raises(NotAFeed, match="nested too deeply"):
        parse(b"[" * 100_000 + b"]" * 100_000)


@pytest.mark.parametrize(
    "body",
    [
        b'{"title": "x", "items": [',  # cut before the first item: nothing of a feed left
        b'{"rss": {"channel": {"title": "RSS as JSON"}}}',
        b'{"version": "https://example.com/not-json-feed", "items": []}',
        b"[1, 2, 3]",
        b"{not json at all",
    ],
)
def test_json_that_is_not_a_json_feed(body):
    with pytest.raises(NotAFeed):
        parse(body)


# --- Links --------------------------------------------------------------------------------------------


def test_relative_rss_links_resolve_against_the_feed_url():
    feed = parse(
        rss(
            "<item><title>R</title><link>../story/7</link></item>"
            "<item><title>J</title><link>javascript:alert(1)</link><guid>j</guid></item>"
        ),
        url="https://cdn.example.net/feeds/rss/main.xml",
    )
    relative, script = feed.items
    assert relative.url == "https://cdn.example.net/feeds/story/7"
    assert relative.key == relative.url
    assert script.url is None  # only http(s) links are links


def test_relative_links_resolve_against_xml_base():
    feed = parse(
        """<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://base.example.com/a/b/">
        <title>t</title>
        <entry><id>1</id><title>one</title><link href="c"/></entry>
        <entry xml:base="../other/"><id>2</id><title>two</title><link href="d?x=1"/></entry>
        <entry xml:base="https://mirror.example.org/m/"><id>3</id><title>three</title><link href="/root"/></entry>
        </feed>""",
        url="https://feeds.example.com/x.atom",
    )
    assert [i.url for i in feed.items] == [
        "https://base.example.com/a/b/c",
        "https://base.example.com/a/other/d?x=1",
        "https://mirror.example.org/root",
    ]


def test_feed_link_falls_back_to_the_feed_url():
    feed = parse('<rss version="2.0"><channel><title>No link</title></channel></rss>')
    assert feed.link == FEED_URL


# --- Keys, dates, duplicates --------------------------------------------------------------------------


def test_entry_keys_fall_back_to_link_then_to_a_content_hash_and_are_stable():
    document = rss(
        item(1) + item(2, guid=False) + item(3, guid=False, link=False) + item(4, guid=False, link=False)
    )
    first, second = parse(document), parse(document)
    assert [i.key for i in first.items] == [i.key for i in second.items]
    k1, k2, k3, k4 = (i.key for i in first.items)
    assert k1 == "story-1"
    assert k2 == "https://news.example.org/story/2"
    assert re.fullmatch(r"sha256:[0-9a-f]{32}", k3) and re.fullmatch(r"sha256:[0-9a-f]{32}", k4)
    assert k3 != k4
    assert all(i.published is None for i in first.items)


def test_content_hash_key_ignores_the_feed_url():
    document = rss(item(5, guid=False, link=False))
    assert (
        parse(document, url="https://a.example/").items[0].key
        == parse(document, url="https://b.example/").items[0].key
    )


def test_duplicate_guids_in_one_feed_are_dropped_keeping_the_first():
    feed = parse(rss(item(1) + item(2) + item(1).replace("Story 1", "Story 1, again") + item(3)))
    assert [(i.key, i.title) for i in feed.items] == [
        ("story-1", "Story 1"),
        ("story-2", "Story 2"),
        ("story-3", "Story 3"),
    ]


def test_duplicate_ids_in_json_feed_are_dropped():
    body = json_feed([{"id": "same", "content_text": "one"}, {"id": "same", "content_text": "two"}])
    assert [i.content for i in parse(body).items] == ["one"]


def test_huge_guid_is_hashed_into_the_key():
    guid_a, guid_b = "g" * 200_000, "g" * 199_999 + "h"
    feed = parse(
        rss(
            f'<item><title>a</title><guid isPermaLink="false">{guid_a}</guid></item>'
            f'<item><title>b</title><guid isPermaLink="false">{guid_b}</guid></item>'
        )
    )
    a, b = feed.items
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", a.key)
    assert a.key != b.key
    assert a.guid == guid_a  # the GUID itself is kept; only the indexed key is bounded
    assert parse(rss(f'<item><guid isPermaLink="false">{guid_a}</guid></item>')).items[0].key == a.key


def test_huge_link_without_guid_is_hashed_too():
    link = "https://news.example.org/?q=" + "x" * 5000
    (entry,) = parse(rss(f"<item><title>t</title><link>{link}</link></item>")).items
    assert entry.url == link
    assert entry.key.startswith("sha256:") and len(entry.key) == len("sha256:") + 64


def test_item_count_is_capped():
    feed = parse(rss("".join(item(n) for n in range(MAX_ITEMS + 5))))
    assert len(feed.items) == MAX_ITEMS


def test_unparseable_dates_are_none():
    feed = parse(rss(item(1, extra="<pubDate>someday soon</pubDate>")))
    assert feed.items[0].published is None


# --- Broken input -------------------------------------------------------------------------------------


def test_truncated_feed_is_parsed_as_far_as_it_goes():
    whole = rss(item(1) + item(2) + item(3))
    cut = whole[: whole.index("<title>Story 3")]
    feed = parse(cut)
    assert [i.key for i in feed.items][:2] == ["story-1", "story-2"]
    assert feed.title == "Harbour Gazette"
    assert feed.warning and "malformed" in feed.warning


def test_undefined_entity_is_a_warning_not_an_error():
    feed = parse(rss(item(1, extra="<category>Caf&eacute;</category>") + item(2)))
    assert [i.key for i in feed.items] == ["story-1", "story-2"]
    assert feed.warning is not None


def test_well_formed_feed_has_no_warning_even_with_a_blank_line_before_the_declaration():
    feed = parse("\n\n" + rss(item(1)))
    assert feed.warning is None
    assert len(feed.items) == 1


def test_undeclared_rss_prefix_on_every_element():
    feed = parse("""<?xml version="1.0"?>
<rss rss:version="2.0"><rss:channel><rss:title>Prefixed</rss:title><rss:link>https://p.example/</rss:link>
<rss:item><rss:title>Entry one</rss:title><rss:link>https://p.example/1</rss:link></rss:item>
<rss:item><rss:title>Entry two</rss:title><rss:link>https://p.example/2</rss:link></rss:item>
</rss:channel></rss>""")
    assert [(i.title, i.url) for i in feed.items] == [
        ("Entry one", "https://p.example/1"),
        ("Entry two", "https://p.example/2"),
    ]
    assert feed.warning is not None


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(
            b"<!DOCTYPE html><html><head><title>Home</title></head><body><p>Welcome</p></body></html>",
            id="html-page",
        ),
        pytest.param(
            b'<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><head><title>x</title>'
            b"</head><body><p>y</p></body></html>",
            id="xhtml-page",
        ),
        pytest.param(
            b'<?xml version="1.0"?><opml version="1.0"><head><title>Subs</title></head><body>'
            b'<outline text="x" xmlUrl="https://example.org/rss"/></body></opml>',
            id="opml",
        ),
        pytest.param(b"<note><to>you</to></note>", id="other-xml"),
        pytest.param(b"\x00\x01\x02\xff\xfe garbage \x89PNG", id="garbage"),
        pytest.param(b"Service Unavailable", id="plain-text"),
        pytest.param(b"", id="empty"),
        pytest.param(b"   \n\t ", id="blank"),
    ],
)
def test_not_a_feed(body):
    with pytest.raises(NotAFeed, match="not a feed"):
        parse(body)


def test_cdf_channel_without_items_is_still_a_feed():
    feed = parse(b"<CHANNEL><TITLE>Channel Definition</TITLE></CHANNEL>")
    assert feed.title == "Channel Definition"
    assert feed.items == ()


def test_gzip_file_body_is_unpacked():
    feed = parse(gzip.compress(rss(item(1)).encode()), content_type="application/x-gzip")
    assert [i.key for i in feed.items] == ["story-1"]


# --- Character sets -----------------------------------------------------------------------------------

CYRILLIC_TITLE = "Новости порта"
CYRILLIC_TEXT = "Паром отправился вовремя, сообщает редакция."


def cyrillic_rss(declaration: str | None) -> str:
    head = f'<?xml version="1.0" encoding="{declaration}"?>' if declaration else ""
    return f"""{head}<rss version="2.0"><channel><title>{CYRILLIC_TITLE}</title><link>https://ru.example.org/</link>
<item><title>{CYRILLIC_TITLE}: паром</title><guid>ru-1</guid><description>{CYRILLIC_TEXT}</description></item>
</channel></rss>"""


def assert_cyrillic(feed: ParsedFeed) -> None:
    assert feed.title == CYRILLIC_TITLE
    assert feed.items[0].title == f"{CYRILLIC_TITLE}: паром"
    assert feed.items[0].summary == CYRILLIC_TEXT


def test_charset_from_content_type_header_without_declaration():
    body = cyrillic_rss(None).encode("windows-1251")
    feed = parse(body, content_type="application/rss+xml; charset=windows-1251")
    assert_cyrillic(feed)
    assert feed.warning is None


def test_charset_from_xml_declaration_without_header_charset():
    assert_cyrillic(parse(cyrillic_rss("koi8-r").encode("koi8-r"), content_type="text/xml"))
    assert_cyrillic(parse(cyrillic_rss("windows-1251").encode("windows-1251")))


def test_header_charset_wins_over_a_contradicting_declaration():
    body = cyrillic_rss("windows-1251").encode("koi8-r")
    assert_cyrillic(parse(body, content_type="application/xml; charset=KOI8-R"))


def test_utf8_body_wins_over_wrong_labels():
    body = cyrillic_rss("windows-1251").encode("utf-8")
    assert_cyrillic(parse(body, content_type="text/xml; charset=windows-1251"))


def test_utf8_without_declaration_or_header_charset_is_utf8():
    body = cyrillic_rss(None).encode("utf-8")
    assert_cyrillic(parse(body))
    assert_cyrillic(parse(body, content_type="text/html"))  # a wrong media type alone is no reason to doubt


def test_byte_order_marks():
    document = cyrillic_rss("utf-16")
    assert_cyrillic(parse(document.encode("utf-16")))  # with a BOM, in the machine's byte order
    assert_cyrillic(parse(b"\xef\xbb\xbf" + cyrillic_rss("utf-8").encode()))


def test_latin1_declared_feed():
    body = rss(
        "<item><title>Café crème à la carte</title><guid>fr</guid></item>",
        head='<?xml version="1.0" encoding="iso-8859-1"?>',
    ).encode("iso-8859-1")
    feed = parse(body, content_type="application/rss+xml")
    assert feed.items[0].title == "Café crème à la carte"
    assert feed.warning is None


def test_header_names_are_case_insensitive():
    body = cyrillic_rss(None).encode("koi8-r")
    feed = parse_feed(body, url=FEED_URL, headers={"CONTENT-TYPE": "application/xml; charset=koi8-r"})
    assert_cyrillic(feed)


# --- TTL and languages --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ttl", "expected"),
    [
        ("<ttl>30</ttl>", 30),
        ("<ttl> 90 </ttl>", 90),
        ("", None),
        ("<ttl>soon</ttl>", None),
        ("<ttl>-5</ttl>", None),
        ("<ttl>99999999999999999999</ttl>", 525_600),
        (f"<ttl>{'9' * 5000}</ttl>", 525_600),  # past the digits Python's int() reads
        ("<ttl>\u00b2</ttl>", None),  # a digit to str.isdigit, not to int()
        ("<ttl>0060</ttl>", 60),
    ],
)
def test_ttl(ttl, expected):
    assert parse(rss(item(1), channel=ttl)).ttl_minutes == expected


def test_feed_language_wins_over_the_content_language_header():
    feed = parse(rss(item(1), channel="<language>nl</language>"), content_language="en")
    assert feed.language == "nl"
    assert feed.items[0].language == "nl"


def test_content_language_header_when_the_feed_is_silent():
    feed = parse(rss(item(1)), content_language="pt-BR, en")
    assert feed.language == "pt-BR"
    assert feed.items[0].language == "pt-BR"


def test_no_language_anywhere():
    feed = parse(rss(item(1)))
    assert feed.language is None and feed.items[0].language is None


def test_language_codes_with_underscores_are_normalised():
    assert parse(rss(item(1), channel="<language>en_US</language>")).language == "en-US"


def test_json_feed_language_falls_back_to_the_header():
    feed = parse(json_feed([{"id": "1", "content_text": "x"}]), content_language="sv")
    assert feed.language == "sv" and feed.items[0].language == "sv"


def test_atom_entry_language_overrides_the_feed_and_the_header():
    feed = parse(ATOM, content_language="de")
    assert feed.language == "en"
    assert [i.language for i in feed.items] == ["en", "fr"]


# --- Text ---------------------------------------------------------------------------------------------


def test_html_in_titles_and_summaries_becomes_plain_text():
    feed = parse(
        rss("""<item><guid>h</guid>
      <title><![CDATA[<b>Breaking:</b>   storm&nbsp;warning &amp; closures]]></title>
      <description>&lt;p&gt;Roads &lt;a href="/x"&gt;closed&lt;/a&gt;.&lt;br&gt;Stay home.&lt;/p&gt;&lt;style&gt;p{}&lt;/style&gt;</description>
    </item>""")
    )
    (entry,) = feed.items
    assert entry.title == "Breaking: storm warning & closures"
    assert entry.summary == "Roads closed.\nStay home."


def test_plain_text_rss_title_keeps_its_ampersands_and_angle_brackets():
    (entry,) = parse(rss("<item><guid>p</guid><title>Q&amp;A: is 3 &lt; 4?</title></item>")).items
    assert entry.title == "Q&A: is 3 < 4?"


def test_titles_are_single_lines():
    (entry,) = parse(rss("<item><guid>s</guid><title>\n  Two\n\n  lines  </title></item>")).items
    assert entry.title == "Two lines"


def test_summary_equal_to_content_is_not_repeated():
    (entry,) = parse(rss(item(1, extra="<content:encoded>Text of story 1.</content:encoded>"))).items
    assert (entry.summary, entry.content) == (None, "Text of story 1.")


def test_entries_reusing_one_guid_with_their_own_links_are_each_kept_and_named():
    items = "".join(
        f'<item><title>Story {n}</title><link>https://news.example/{n}</link><guid isPermaLink="false">same</guid></item>'
        for n in range(5)
    )
    repeat = '<item><title>Story 0</title><link>https://news.example/0</link><guid isPermaLink="false">same</guid></item>'
    parsed = parse(rss(items + repeat))
    assert [item.url for item in parsed.items] == [f"https://news.example/{n}" for n in range(5)]
    assert len({item.key for item in parsed.items}) == 5 and parsed.items[0].key == "same"
    assert "4 entries reuse the id of an earlier entry with another link ('same')" in parsed.warning


def test_ten_empty_entries_are_counted_as_ten_and_named_once():
    # They share one key: "10 entries have no usable link ... ('sha256:...' and 5 more)" named six.
    parsed = parse(
        rss("<item></item>" * 10 + "<item><title>Kept</title><link>https://news.example/k</link></item>")
    )
    [warning] = [w for w in parsed.warning.split("; ") if "no usable link" in w]
    assert warning.startswith("10 entries have no usable link") and "more" not in warning


def test_a_web_page_or_an_empty_document_at_a_feed_s_address_is_said_so():
    page = b"<!DOCTYPE html><html><head><title>Harbour News - Home</title></head><body><p>Hi<br></p></body></html>"
    with pytest.raises(
        NotAFeed, match=r"answers with a web page \('Harbour News - Home'\).*monitor discover"
    ):
        parse_feed(page, url="https://news.example/")
    with pytest.raises(NotAFeed, match="the document is empty"):
        parse_feed(b"  \n", url="https://news.example/feed")


def test_a_json_feed_item_of_wrong_types_is_named(caplog):
    document = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "Types",
        "items": [
            {"id": "j1", "url": "https://news.example/j1", "title": "Fine"},
            {"id": "j7", "url": ["x"], "title": {"a": 1}, "content_text": ["y"], "date_published": -5},
        ],
    }
    parsed = parse(json.dumps(document), **{"content-type": "application/feed+json"})
    assert "1 entry has no usable link, title or text ('j7'): not stored" in parsed.warning
    assert "'j7'" in caplog.text and parsed.items[0].title == "Fine"
