"""A heavy day's email stays whole in Gmail: past about 102 KB of HTML it hides the rest (the last stories and
the feeds not heard from) behind "View entire message". The HTML links fewer write-ups and wire copies then,
says so, and the plain-text part still has every link."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email import policy
from email.parser import BytesParser

from monitor.digest.notify.content import QuietSource, SourceHealth
from monitor.digest.notify.email import build_message
from monitor.digest.notify.render import DigestContent, DigestItem, Excerpt, Report, TopicSection, render
from monitor.digest.notify.settings import EmailChannel

PERIOD = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
GMAIL_CLIPS_PAST = 102 * 1024
OUTLETS = ("reuters", "apnews", "bbc", "theguardian", "aljazeera", "france24", "spiegel", "kyivindependent")
SENTENCE = (
    "Officials said the ministry announced new sanctions as negotiations on a ceasefire stalled again. "
)


def address(outlet: str, n: int) -> str:
    return f"https://www.{outlet}.example.com/news/world/2026/03/02/officials-announce-sanctions-as-talks-stall-{n}"


def story(n: int, topic: str, *, writeups: int, copies: int) -> DigestItem:
    return DigestItem(
        headline=f"Story {n}: the ministry announces sanctions as ceasefire negotiations stall for a third week",
        url=address("reuters", n),
        outlet="reuters.example.com",
        published_at=PERIOD - timedelta(hours=n % 20),
        excerpt=Excerpt(SENTENCE * 3, ((0, 9),)),
        score=5.0,
        article_ids=(n,),
        story_id=n,
        topics=(topic,),
        writeups=tuple(
            Report(
                f"{OUTLETS[k % 8]}.example.com", address(OUTLETS[k % 8], n * 100 + k), f"Write-up {k} of {n}"
            )
            for k in range(writeups)
        ),
        copies=tuple(
            Report(f"{OUTLETS[k % 8]}.example.com", address(OUTLETS[k % 8], n * 1000 + k))
            for k in range(copies)
        ),
    )


def day(stories_per_topic: int, *, writeups: int = 8, copies: int = 12) -> DigestContent:
    topics = ("Iran–Russia arms", "Ukraine war", "Middle East ceasefire", "Elections in Europe", "Energy")
    sections = tuple(
        TopicSection(
            topic,
            tuple(
                story(t * 100 + i, topic, writeups=writeups, copies=copies) for i in range(stories_per_topic)
            ),
        )
        for t, topic in enumerate(topics)
    )
    quiet = SourceHealth(40, (QuietSource("Kyiv wire", "failing", PERIOD - timedelta(days=1), "timeout"),))
    return DigestContent("morning", "digest", PERIOD, "Europe/Berlin", sections, quiet)


def sent_parts(content: DigestContent) -> tuple[str, str]:
    """The HTML and plain text of the email as a mail client reads them."""
    settings = EmailChannel(host="127.0.0.1", to=["desk@example.org"], **{"from": "Monitor <m@example.org>"})
    message = build_message(render(content), settings, message_id="<d@example.org>", date=PERIOD)
    parsed = BytesParser(policy=policy.default).parsebytes(message.as_bytes(policy=policy.SMTP))
    return (
        parsed.get_body(("html",)).get_content(),
        parsed.get_body(("plain",)).get_content(),
    )


def test_a_heavy_days_html_stays_under_what_gmail_shows_and_says_what_it_left_out():
    content = day(10)  # 50 stories, each with 8 write-ups and 12 wire copies
    html, text = sent_parts(content)
    assert len(html.encode()) < GMAIL_CLIPS_PAST
    # every story is still there, and the feeds not heard from under them
    for section in content.sections:
        for item in section.items:
            assert item.headline in html
    assert "Kyiv wire" in html
    # what is not linked is said, and counted per story
    assert "the plain-text version of this email has them all" in html
    assert "Wire copy carried by 12 more outlets" in html
    # the plain text still links every write-up and wire copy
    for section in content.sections:
        for item in section.items:
            for report in (*item.writeups, *item.copies):
                assert report.url in text


def test_an_ordinary_days_html_links_everything_and_says_nothing_of_shortening():
    content = day(2)  # 10 stories
    html, _text = sent_parts(content)
    assert "Shortened" not in html
    for section in content.sections:
        for item in section.items:
            for report in (*item.writeups, *item.copies):
                assert report.url in html


def test_a_day_just_over_keeps_the_first_write_ups_of_each_story():
    content = day(6)  # 30 stories: the wire copies and the write-ups past three are left out
    html, _text = sent_parts(content)
    assert len(html.encode()) < GMAIL_CLIPS_PAST
    first = content.sections[0].items[0]
    assert first.writeups[0].url in html and first.writeups[2].url in html
    assert first.writeups[3].url not in html
    assert "and 5 more write-ups" in html
