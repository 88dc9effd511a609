"""The email as mail apps show it: legible text, a preview line in the inbox that says what is inside, a
readable width in Outlook on Windows, and no out-of-office replies back from Exchange."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html.parser import HTMLParser

from monitor.digest.notify.content import Coverage, QuietSource, SourceHealth
from monitor.digest.notify.email import build_message
from monitor.digest.notify.render import DigestContent, DigestItem, Excerpt, Report, TopicSection, render
from monitor.digest.notify.settings import EmailChannel

PERIOD = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
AA_NORMAL_TEXT = 4.5


def luminance(hex_colour: str) -> float:
    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    red, green, blue = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * linear(red) + 0.7152 * linear(green) + 0.0722 * linear(blue)


def contrast(text: str, background: str) -> float:
    lighter, darker = sorted((luminance(text), luminance(background)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def every_kind_of_line() -> DigestContent:
    item = DigestItem(
        headline="Ministry announces sanctions",
        url="https://one.test/a",
        outlet="one.test",
        published_at=PERIOD,
        excerpt=Excerpt("Officials announced sanctions.", ((20, 29),)),
        score=5.0,
        article_ids=(1,),
        story_id=1,
        topics=("Arms", "Sanctions"),
        writeups=(Report("two.test", "https://two.test/b", "Sanctions announced", carried_by=2),),
        copies=(Report("three.test", "https://three.test/c"),),
        coverage=Coverage(PERIOD, 5, 3, PERIOD),
        alerted_at=PERIOD,
    )
    quiet = SourceHealth(4, (QuietSource("Wire", "failing", None, "timeout"),), more=2)
    return DigestContent("morning", "digest", PERIOD, "UTC", (TopicSection("Arms", (item,), more=3),), quiet)


def test_every_text_colour_of_the_email_meets_aa_contrast_on_its_background():
    # WCAG AA: 4.5:1 between text and its background; light grey on white fades on a phone in the sun.
    html = render(every_kind_of_line()).html
    styles = re.findall(r'style="([^"]*)"', html)
    checked = 0
    for style in styles:
        colour = re.search(r"(?:^|;)color:(#[0-9a-fA-F]{6})", style)
        if colour is None:
            continue
        background = re.search(r"background:(#[0-9a-fA-F]{6})", style)
        ratio = contrast(colour[1], background[1] if background else "#ffffff")
        assert ratio >= AA_NORMAL_TEXT, (
            f"{colour[1]} on {background[1] if background else '#ffffff'}: {ratio:.2f}:1"
        )
        checked += 1
    assert checked > 10


class BodyText(HTMLParser):
    """The text of the body, in order, as an inbox takes its preview from it (hidden text included)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.in_body, self.parts = False, []

    def handle_starttag(self, tag, attrs):
        self.in_body = self.in_body or tag == "body"

    def handle_data(self, data):
        if self.in_body:
            self.parts.append(data)

    def text(self) -> str:
        return " ".join(" ".join(self.parts).split())


def test_the_inbox_preview_says_how_many_stories_on_which_topics():
    content = every_kind_of_line()
    two_topics = content.sections + (TopicSection("Sanctions", content.sections[0].items[:1]),)
    reader = BodyText()
    reader.feed(render(DigestContent("morning", "digest", PERIOD, "UTC", two_topics)).html)
    # what Gmail, Apple Mail and Outlook show beside the subject: the start of the body's text
    preview = reader.text()[:90]
    assert preview.startswith("3 new stories, 2 updates: Arms (4), Sanctions (1)"), preview


def test_outlook_on_windows_gets_a_fixed_width_and_a_font_it_has():
    html = render(every_kind_of_line()).html
    # Word, which draws Outlook's mail, ignores max-width (lines ran the pane's width) and, given a font
    # list opening with one it lacks (-apple-system), falls back to Times New Roman.
    assert re.search(r'<!--\[if mso\]><table role="presentation" width="640"', html)
    assert re.search(r"<!--\[if mso\]><style>[^<]*font-family: 'Segoe UI', Arial", html)


def test_out_of_office_replies_are_asked_for_by_no_mail_server():
    settings = EmailChannel(host="127.0.0.1", to=["desk@example.org"], **{"from": "Monitor <m@example.org>"})
    message = build_message(render(every_kind_of_line()), settings, message_id="<d@example.org>", date=PERIOD)
    assert message["Auto-Submitted"] == "auto-generated"  # RFC 3834, as most servers read it
    # Exchange's own: out-of-office notes and other auto-replies, not bounces (they tell a wrong address)
    assert set(message["X-Auto-Response-Suppress"].replace(" ", "").split(",")) == {"OOF", "AutoReply"}


class Headings(HTMLParser):
    """The headings of a page and their text, as a screen reader lists them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.headings: list[tuple[str, str]] = []
        self.open: str | None = None

    def handle_starttag(self, tag, attrs):
        if tag in ("h1", "h2", "h3"):
            self.open = tag
            self.headings.append((tag, ""))

    def handle_endtag(self, tag):
        if tag == self.open:
            self.open = None

    def handle_data(self, data):
        if self.open:
            tag, text = self.headings[-1]
            self.headings[-1] = (tag, text + data)


def test_a_screen_reader_finds_each_topic_and_each_story_by_its_headings():
    content = every_kind_of_line()
    second = DigestItem(
        headline="Kyiv reports a new kind of drone",
        url="https://four.test/d",
        outlet="four.test",
        published_at=PERIOD,
        excerpt=Excerpt(""),
        score=4.0,
        article_ids=(2,),
    )
    sections = (*content.sections, TopicSection("Drones", (second,)))
    reader = Headings()
    reader.feed(render(DigestContent("morning", "digest", PERIOD, "UTC", sections)).html)
    assert reader.headings == [
        ("h1", "4 new stories, 1 update"),
        ("h2", "Arms"),
        ("h3", "Ministry announces sanctions"),
        ("h2", "Drones"),
        ("h3", "Kyiv reports a new kind of drone"),
    ]
