"""The addresses a digest shows and links to are a feed's: shown as one word, with nothing invisible in them,
and linked in Slack only when they are http(s), whole, however long."""

from __future__ import annotations

import json

from test_notify_render import content, item

from monitor.digest.notify.render import Report, render
from monitor.digest.notify.slack_blocks import MAX_TEXT

SPOOFED = "https://evil.test/\u202e/moc.sretuer.www//:sptth"  # shown reversed after the override
WORDS = "https://evil.test/x FAKE LINE: your account is locked, see https://phish.test"
HIDDEN = "https://evil.test/\u200bpay\u2066now\u2069\ufeff"


def test_a_link_with_an_override_spaces_or_invisible_characters_is_shown_as_one_plain_word():
    writeups = [Report("Two", WORDS, "Second write-up"), Report("Three", HIDDEN, "Third write-up")]
    digest = render(content(item("Missiles shipped", url=SPOOFED, writeups=writeups)))
    lines = digest.text.splitlines()
    assert "  https://evil.test/%E2%80%AE/moc.sretuer.www//:sptth/0" in lines
    assert (
        "      https://evil.test/x%20FAKE%20LINE:%20your%20account%20is%20locked,%20see%20https://phish.test"
        in lines
    )
    assert "      https://evil.test/%E2%80%8Bpay%E2%81%A6now%E2%81%A9%EF%BB%BF" in lines
    slack = json.dumps([message.payload for message in digest.slack], ensure_ascii=False)
    for sent in (digest.text, digest.html, slack):
        assert not any(char in sent for char in "\u202e\u200b\u2066\u2069\ufeff")
        assert "x FAKE LINE" not in sent


def test_slack_links_nothing_that_is_not_http():
    writeups = [Report("Two", "javascript:alert(1)", "Click here")]
    [message] = render(content(item("Missiles shipped", writeups=writeups))).slack
    text = message.payload["blocks"][2]["text"]["text"]
    assert "• Two: Click here" in text and "<#|" not in text and "javascript" not in text


def test_a_headline_with_an_address_too_long_to_link_keeps_its_item_whole():
    [message] = render(content(item("Missiles shipped", url="https://a.test/" + "|" * 1900))).slack
    text = message.payload["blocks"][2]["text"]["text"]
    assert len(text) <= MAX_TEXT
    assert text.startswith("*Missiles shipped*\n") and "<" not in text.replace("&lt;", "")
    assert "*missiles*" in text  # the excerpt stays
