"""Rendering is pure: DigestContent in, every form out. Hostile feed text comes out inert in each form."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from monitor.digest.notify.email import build_message, stable_message_id
from monitor.digest.notify.render import (
    Coverage,
    DigestContent,
    DigestItem,
    Excerpt,
    Report,
    TopicSection,
    local_time,
    one_line,
    render,
)
from monitor.digest.notify.settings import EmailChannel
from monitor.digest.notify.slack_blocks import MAX_HEADER, MAX_TEXT, escape

PERIOD = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
HOSTILE = [
    '<script>alert("x")</script> Missiles',
    "<!channel> <!here> <@U123> urgent",
    "*bold* _italic_ ~strike~ `code` claims",
    "Ends with a line break\r\nBcc: victim@example.org",
    "Long " + "very " * 400 + "title",
]


def item(
    headline: str, n: int = 0, *, url: str = "https://one.test/a", copies=(), writeups=(), **extra
) -> DigestItem:
    text = "Officials said missiles & drones <were> shipped. Second sentence."
    return DigestItem(
        headline=headline,
        url=f"{url}/{n}",
        outlet="Wire <One>",
        published_at=extra.pop("published_at", PERIOD),
        excerpt=Excerpt(text, ((15, 23),)),
        score=5.0,
        copies=tuple(copies),
        writeups=tuple(writeups),
        article_ids=(n,),
        **extra,
    )


def content(*items: DigestItem, more: int = 0) -> DigestContent:
    return DigestContent(
        "morning",
        "digest",
        PERIOD,
        "Europe/Berlin",
        (TopicSection("arms <x>", tuple(items), more, (99,) if more else ()),),
    )


@pytest.fixture(scope="module")
def hostile():
    return render(
        content(
            *(item(title, n) for n, title in enumerate(HOSTILE)),
            item("javascript link", 9, url="javascript:alert(1)//"),
            more=4,
        )
    )


def test_html_escapes_everything_from_feeds(hostile):
    html = hostile.html
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<!channel>" not in html and "Wire &lt;One&gt;" in html and "arms &lt;x&gt;" in html
    assert "javascript:" not in html  # a non-http link becomes "#"
    assert "very " * 300 not in html and "…" in html  # trimmed
    assert "and 4 more stories on arms &lt;x&gt;" in html
    assert "Bcc: victim" in html and "\r\nBcc" not in html  # flattened to one line


def test_text_is_one_line_per_title(hostile):
    lines = hostile.text.splitlines()
    assert not any(line.startswith("Bcc:") for line in lines)
    assert max(len(line) for line in lines if "very" in line) < 250
    assert "*missiles*" in hostile.text


def test_slack_escapes_markup_and_mentions(hostile):
    payload = json.dumps([message.payload for message in hostile.slack], ensure_ascii=False)
    for raw in ("<script>", "<!channel>", "<!here>", "<@U123>", "*bold*", "_italic_", "~strike~", "`code`"):
        assert raw not in payload
    assert "&lt;!channel&gt;" in payload and "Wire &lt;One&gt;" in payload
    for message in hostile.slack:
        header = message.payload["blocks"][0]["text"]["text"]
        assert len(header) <= MAX_HEADER
        for block in message.payload["blocks"][1:]:
            if "text" in block:
                assert len(block["text"]["text"]) <= MAX_TEXT


def test_email_subject_cannot_inject_headers():
    digest = render(content(item(HOSTILE[3]), item(HOSTILE[4], 1)))
    settings = EmailChannel(host="127.0.0.1", **{"from": "digest@monitor.test"}, to=("a@monitor.test",))
    message = build_message(digest, settings, message_id="<x@monitor.test>", date=PERIOD)
    raw = message.as_bytes()
    assert b"\nBcc:" not in raw and message["Bcc"] is None
    assert len(str(message["Subject"])) <= 200


ENCODED_WORDS = [
    "Zebra =?utf-8?q?=0D=0AReply-To:_attacker@evil.example=0D=0A=0D=0A<h1>Phish</h1>?=",
    "=?utf-8?b?SGFja2VkIHN1YmplY3Q=?=",  # shown by mail readers as "Hacked subject"
]
SENT_HEADERS = [
    "subject",
    "from",
    "to",
    "date",
    "message-id",
    "auto-submitted",
    "x-auto-response-suppress",
    "x-monitor-digest",
    "mime-version",
    "content-type",
]


def sent_and_read_back(message):
    from email import policy
    from email.parser import BytesParser

    return BytesParser(policy=policy.SMTP).parsebytes(message.as_bytes(policy=policy.SMTP))


@pytest.mark.parametrize("headline", ENCODED_WORDS)
def test_an_encoded_word_in_a_headline_stays_text_in_the_subject(headline):
    settings = EmailChannel(host="127.0.0.1", **{"from": "digest@monitor.test"}, to=("a@monitor.test",))
    message = build_message(
        render(content(item(headline))), settings, message_id="<x@monitor.test>", date=PERIOD
    )
    received = sent_and_read_back(message)
    assert [name.lower() for name in received.keys()] == SENT_HEADERS
    assert received["Reply-To"] is None and received.is_multipart()
    subject = str(received["Subject"])
    assert subject.replace("\u2060", "").startswith(f"Digest morning: {headline}"[:60]), subject
    assert "Hacked subject" not in subject


def test_a_long_subject_folded_on_its_way_is_kept(caplog):
    settings = EmailChannel(host="127.0.0.1", **{"from": "digest@monitor.test"}, to=("a@monitor.test",))
    headline = "Tehran ships missiles to Moscow, officials say, as talks on the shipment continue in Vienna"
    message = build_message(
        render(content(item(headline))), settings, message_id="<x@monitor.test>", date=PERIOD
    )
    assert " ".join(str(sent_and_read_back(message)["Subject"]).split()).startswith(
        f"Digest morning: {headline[:80]}"
    )
    assert "did not survive" not in caplog.text


def test_a_subject_that_does_not_read_back_is_replaced_by_the_digests_name(monkeypatch, caplog):
    """What the defusing misses (here: none at all) is caught by reading the message back."""
    from monitor.digest.notify import email

    monkeypatch.setattr(email, "literal_header", lambda text: text)
    settings = EmailChannel(host="127.0.0.1", **{"from": "digest@monitor.test"}, to=("a@monitor.test",))
    message = build_message(
        render(content(item(ENCODED_WORDS[0]))), settings, message_id="<x@monitor.test>", date=PERIOD
    )
    received = sent_and_read_back(message)
    assert [name.lower() for name in received.keys()] == SENT_HEADERS and received["Reply-To"] is None
    if "did not survive" in caplog.text:  # Pythons with the fix for CVE-2024-6923 encode it safely
        assert str(received["Subject"]) == "Digest morning"


def test_bidirectional_overrides_in_feed_text_do_not_reach_what_is_sent():
    """An override reverses how the rest of a line reads: the subject, the text and Slack drop them; the
    marks that Arabic and Hebrew headlines need stay."""
    override = "Missiles \u202eSTNEMPIHS\u202c \u2066isolated\u2069 \u200fمرحبا"
    hostile = replace(item(override), excerpt=Excerpt("Officials \u202esaid\u202c missiles.", ((20, 28),)))
    digest = render(content(hostile))
    slack = json.dumps([message.payload for message in digest.slack], ensure_ascii=False)
    for sent in (digest.subject, digest.text, slack):
        assert not any(char in sent for char in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
        assert "Missiles STNEMPIHS isolated \u200fمرحبا" in sent
    assert "\u202e" not in digest.html.split("<body", 1)[1].split("Officials", 1)[0]  # the headline's link


def test_json_keeps_text_as_data(hostile):
    [section] = hostile.json["topics"]
    assert section["items"][0]["headline"] == HOSTILE[0]  # JSON escapes for itself; the receiver decides
    assert section["more"] == 4


def test_slack_item_text_gives_way_when_an_item_is_too_long():
    outlets = [Report(f"Outlet number {n} " + "x" * 40, f"https://o{n}.test/" + "p" * 60) for n in range(200)]
    [message] = render(content(item("Story carried everywhere", copies=outlets))).slack
    text = message.payload["blocks"][2]["text"]["text"]
    assert len(text) <= MAX_TEXT and "Wire copy carried by 200 more outlets" in text
    assert "*missiles*" in text  # the excerpt stays; only the links gave way


UPDATE = item(
    "Foreign ministry denies the shipment",
    7,
    writeups=[Report("Daily <Two>", "https://two.test/denial", "Moscow denies receiving missiles")],
    copies=[Report("Three Times", "https://three.test/copy")],
    coverage=Coverage(datetime(2026, 2, 23, 9, tzinfo=UTC), 7, 5, datetime(2026, 3, 1, 6, tzinfo=UTC)),
    topics=("Iran–Russia arms", "Sanctions"),
)


def test_an_update_says_what_is_new_and_sums_up_the_story_so_far_in_every_form():
    digest = render(content(UPDATE, item("A new story", 8)))
    expected = (
        "Update · first reported Mon 23 Feb; 7 reports from 5 outlets so far; last sent Sun 1 Mar 07:00"
    )
    text = " ".join(digest.text.split())  # as read, whatever its lines (the text is wrapped at 76 columns)
    assert expected in text and expected in digest.html
    assert "1 new story, 1 update" in digest.text and "1 new story, 1 update" in digest.html
    assert "[Update] Foreign ministry denies the shipment" in digest.text
    assert (
        "New write-ups (1):" in digest.text and "Daily <Two>: Moscow denies receiving missiles" in digest.text
    )
    assert "Wire copy carried by 1 more outlet:" in digest.text and "https://three.test/copy" in digest.text
    assert (
        "topics: Iran–Russia arms, Sanctions" in digest.text
        and "Topics: Iran–Russia arms, Sanctions" in digest.html
    )
    assert ">Update</div>" in digest.html and 'href="https://two.test/denial"' in digest.html
    assert "Daily &lt;Two&gt;" in digest.html
    slack = json.dumps([m.payload for m in digest.slack], ensure_ascii=False)
    assert "*Update* · " in slack and "<https://two.test/denial|Moscow denies receiving missiles>" in slack
    assert expected in slack and "Wire copy carried by 1 more outlet" in slack
    [story, _] = digest.json["topics"][0]["items"]
    assert story["update"] is True and story["coverage"]["reports"] == 7
    assert (
        story["writeups"][0]["outlet"] == "Daily <Two>"
        and story["copies"][0]["url"] == "https://three.test/copy"
    )


def test_a_story_seen_before_but_never_sent_here_is_no_update():
    first = item(
        "Seen in an older digest elsewhere",
        3,
        coverage=Coverage(datetime(2026, 3, 1, 9, tzinfo=UTC), 3, 2, None),
    )
    digest = render(content(first))
    assert "[Update]" not in digest.text and "1 new story" in digest.text
    assert "first reported Sun 1 Mar; 3 reports from 2 outlets so far" in digest.text


def test_dates_of_another_year_show_the_year():
    assert local_time(datetime(2026, 3, 1, 9, tzinfo=UTC), "UTC", PERIOD) == "1 Mar 09:00"
    assert local_time(datetime(2025, 12, 30, 9, tzinfo=UTC), "UTC", PERIOD) == "30 Dec 2025 09:00"
    old = item("Old news", 4, published_at=datetime(2025, 11, 3, 9, tzinfo=UTC))
    assert "3 Nov 2025" in render(content(old)).text


def test_slack_split_limits_hold_with_updates():
    many = [
        item(
            f"Story {n} " + "long " * 30,
            n,
            writeups=[Report(f"Outlet {k}", f"https://o{k}.test/{n}", "A write-up " * 10) for k in range(12)],
            coverage=UPDATE.coverage,
        )
        for n in range(60)
    ]
    messages = render(content(*many)).slack
    assert len(messages) > 1
    assert sorted(i for m in messages for i in m.article_ids) == list(range(60))
    for message in messages:
        blocks = message.payload["blocks"]
        assert len(blocks) <= 50 and sum(len(json.dumps(b)) for b in blocks) < 40_000
        assert all(len(b["text"]["text"]) <= MAX_TEXT for b in blocks[1:] if "text" in b)


def test_helpers():
    assert escape("a & <b> *c*") == "a &amp; &lt;b&gt; *\u200bc*\u200b"
    assert one_line("a\n\tb\x00c  d", 100) == "a b c d"
    period = datetime(2026, 3, 2, 6, tzinfo=UTC)
    first = stable_message_id("morning", "digest", "email", period, "monitor.test")
    assert first == stable_message_id("morning", "digest", "email", period, "monitor.test")
    assert first != stable_message_id("morning", "digest", "email", period.replace(hour=7), "monitor.test")
    assert Excerpt("abcd", ((1, 2), (5, 9))).pieces() == (("a", False), ("b", True), ("cd", False))
    assert Excerpt("abc", ((1, 2), (0, 3))).pieces() == (("abc", True),)  # overlaps: the first wins


def test_the_feeds_not_heard_from_are_listed_under_the_stories_in_every_form():
    from dataclasses import replace

    from monitor.digest.notify.content import QuietSource, SourceHealth

    quiet = (
        QuietSource("Down <desk>", "failing", PERIOD.replace(day=1), "http_5xx"),
        QuietSource("New", "failing", None, "timeout"),
        QuietSource("Gone\nfeed", "gone", PERIOD.replace(month=2)),
        QuietSource("*Old* blog", "silent", datetime(2024, 9, 9, tzinfo=UTC)),
    )
    digest = render(replace(content(item("Missiles")), sources=SourceHealth(40, quiet, more=2)))
    lines = digest.text.splitlines()
    start = lines.index("Not heard from: 6 of 40 feeds")
    assert lines[start + 1 : start + 6] == [
        "- Down <desk>: failing since Sun 1 Mar (http_5xx)",
        "- New: failing, never polled with success (timeout)",
        "- Gone feed: gone (410) since Mon 2 Feb",
        "- *Old* blog: lists nothing new since Mon 9 Sep 2024",
        "- and 2 more: `monitor feeds` lists every feed's state",
    ]
    assert lines.index("Not heard from: 6 of 40 feeds") > lines.index("* Missiles")  # under the stories
    assert (
        "Down &lt;desk&gt;: failing since Sun 1 Mar (http_5xx)" in digest.html and "<desk>" not in digest.html
    )
    [context] = [
        block["elements"][0]["text"]
        for message in digest.slack
        for block in message.payload["blocks"]
        if block["type"] == "context" and "Not heard from" in block["elements"][0]["text"]
    ]
    assert context.splitlines()[:2] == [
        "Not heard from: 6 of 40 feeds",
        escape("• Down <desk>: failing since Sun 1 Mar (http_5xx)"),
    ]
    assert "*Old*" not in context and escape("*Old* blog") in context  # no bold from a feed's name
    assert digest.json["sources"]["quiet"][0] == {
        "name": "Down <desk>",
        "state": "failing",
        "since": PERIOD.replace(day=1).isoformat(),
        "detail": "http_5xx",
    }
    assert digest.json["sources"]["more"] == 2 and digest.json["sources"]["feeds"] == 40
    # Every feed heard from: nothing said.
    calm = render(replace(content(item("Missiles")), sources=SourceHealth(40, ())))
    assert "Not heard from" not in calm.text + calm.html + json.dumps([m.payload for m in calm.slack])
    assert calm.json["sources"] is None


def test_a_slack_message_that_opens_in_the_middle_of_a_topic_names_the_topic():
    many = content(*(item(f"Story {n} " + "long words " * 60, n) for n in range(60)))
    messages = render(many).slack
    assert len(messages) > 1
    for message in messages[1:]:
        first = message.payload["blocks"][1]
        assert first["type"] == "section" and first["text"]["text"].startswith("*arms &lt;x&gt;*"), first
