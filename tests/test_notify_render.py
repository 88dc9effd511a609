"""Rendering is pure: DigestContent in, every form out. Hostile feed text comes out inert in each form."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from monitor.notify.email import build_message, stable_message_id
from monitor.notify.render import DigestContent, DigestItem, Excerpt, Outlet, TopicSection, one_line, render
from monitor.notify.settings import EmailChannel
from monitor.notify.slack_blocks import MAX_HEADER, MAX_TEXT, escape

PERIOD = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
HOSTILE = [
    '<script>alert("x")</script> Missiles',
    "<!channel> <!here> <@U123> urgent",
    "*bold* _italic_ ~strike~ `code` claims",
    "Ends with a line break\r\nBcc: victim@example.org",
    "Long " + "very " * 400 + "title",
]


def item(headline: str, n: int = 0, *, url: str = "https://one.test/a", also=()) -> DigestItem:
    text = "Officials said missiles & drones <were> shipped. Second sentence."
    return DigestItem(headline=headline, url=f"{url}/{n}", outlet="Wire <One>",
                      published_at=PERIOD, excerpt=Excerpt(text, ((15, 23),)), score=5.0, also=tuple(also),
                      article_ids=(n,))


def content(*items: DigestItem, more: int = 0) -> DigestContent:
    return DigestContent("morning", "digest", PERIOD, "Europe/Berlin",
                         (TopicSection("arms <x>", tuple(items), more, (99,) if more else ()),))


@pytest.fixture(scope="module")
def hostile():
    return render(content(*(item(title, n) for n, title in enumerate(HOSTILE)),
                          item("javascript link", 9, url="javascript:alert(1)//"), more=4))


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


def test_json_keeps_text_as_data(hostile):
    [section] = hostile.json["topics"]
    assert section["items"][0]["headline"] == HOSTILE[0]  # JSON escapes for itself; the receiver decides
    assert section["more"] == 4


def test_slack_item_text_gives_way_when_an_item_is_too_long():
    outlets = [Outlet(f"Outlet number {n} " + "x" * 40, f"https://o{n}.test/" + "p" * 60) for n in range(200)]
    [message] = render(content(item("Story carried everywhere", also=outlets))).slack
    text = message.payload["blocks"][2]["text"]["text"]
    assert len(text) <= MAX_TEXT and "Also carried by 200 outlets" in text


def test_helpers():
    assert escape("a & <b> *c*") == "a &amp; &lt;b&gt; *\u200bc*\u200b"
    assert one_line("a\n\tb\x00c  d", 100) == "a b c d"
    period = datetime(2026, 3, 2, 6, tzinfo=UTC)
    first = stable_message_id("morning", "digest", "email", period, "monitor.test")
    assert first == stable_message_id("morning", "digest", "email", period, "monitor.test")
    assert first != stable_message_id("morning", "digest", "email", period.replace(hour=7), "monitor.test")
    assert Excerpt("abcd", ((1, 2), (5, 9))).pieces() == (("a", False), ("b", True), ("cd", False))
    assert Excerpt("abc", ((1, 2), (0, 3))).pieces() == (("abc", True),)  # overlaps: the first wins
