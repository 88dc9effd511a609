"""The plain-text email as mutt, a terminal or a screen reader shows it: lines of at most 76 columns, each
set in under its item, links on lines of their own and never split; and the message travels in 7 bits, so a
server that offers no SMTPUTF8 takes it."""

from __future__ import annotations

from datetime import UTC, datetime

from support.smtp import SmtpServer, email_channel

from monitor.digest.notify.content import QuietSource, SourceHealth
from monitor.digest.notify.email import EmailSender
from monitor.digest.notify.render import DigestContent, DigestItem, Excerpt, Report, TopicSection, render
from monitor.digest.notify.settings import EmailChannel

PERIOD = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
WIDTH = 76  # columns: what a terminal and a mail reader show without wrapping again
LONG_URL = "https://www.example.com/news/world/2026/03/02/" + "officials-announce-sanctions-" * 4 + "1"
EXCERPT = (
    "Officials in Tehran said on Monday that the shipment of drones had left the port two weeks ago. "
    "The ministry in Moscow denied receiving any missiles and called the reports a provocation. "
    "Negotiators are due to meet again in Geneva on Thursday, a diplomat said."
)


def busy_story() -> DigestItem:
    return DigestItem(
        headline="Iran–Russia: the foreign ministry denies the shipment of drones and missiles reported by "
        "several outlets over the weekend, and calls the reports a provocation",
        url=LONG_URL,
        outlet="wire.example.com",
        published_at=PERIOD,
        excerpt=Excerpt(EXCERPT, ((13, 19),)),
        score=5.0,
        article_ids=(1,),
        topics=("Iran–Russia arms transfers and sanctions", "Drone strikes on energy infrastructure"),
        writeups=(
            Report(
                "daily.example.com",
                LONG_URL + "/writeup",
                "Moscow denies receiving missiles from Tehran as Western capitals weigh new sanctions",
                carried_by=3,
            ),
        ),
        copies=(Report("reprints.example.com", LONG_URL + "/copy"),),
    )


def content() -> DigestContent:
    quiet = SourceHealth(9, (QuietSource("A feed with a very long name " * 3, "failing", None, "timeout"),))
    section = TopicSection("Iran–Russia arms transfers and sanctions", (busy_story(),), more=4)
    return DigestContent("morning", "digest", PERIOD, "Europe/Berlin", (section,), quiet)


def test_every_line_but_a_link_fits_the_width_and_nothing_is_lost():
    text = render(content()).text
    for line in text.splitlines():
        if "https://" not in line:
            assert len(line) <= WIDTH, line
    # a link is never split and stands on its line (after an outlet's name at most)
    for url in (LONG_URL, LONG_URL + "/writeup", LONG_URL + "/copy"):
        assert any(line.strip().endswith(url) for line in text.splitlines())
    # the excerpt is all there, its lines set in under the item
    assert EXCERPT.replace("Tehran", "*Tehran*") in " ".join(text.split())
    excerpt_lines = [line for line in text.splitlines() if "Officials in" in line or "Geneva" in line]
    assert excerpt_lines and all(line.startswith("  ") for line in excerpt_lines)
    assert "topics: Iran–Russia arms transfers and sanctions, Drone strikes" in " ".join(text.split())


def test_a_digest_of_short_lines_reaches_a_server_that_offers_no_smtputf8():
    story = DigestItem(
        headline="Iran–Russia: drones shipped",
        url="https://one.test/a",
        outlet="one.test",
        published_at=PERIOD,
        excerpt=Excerpt("Officials said drones were shipped."),
        score=5.0,
        article_ids=(1,),
    )
    quiet = DigestContent("morning", "digest", PERIOD, "UTC", (TopicSection("Arms", (story,)),))
    with SmtpServer() as smtp:  # 8BITMIME yes, SMTPUTF8 no, like many relays
        settings = EmailChannel.model_validate(email_channel(smtp.port))
        taken: list[int] = []
        EmailSender(settings).send(render(quiet), message_id="<d@monitor.test>", accepted=taken.extend)
        [message] = smtp.messages
    assert taken == [1]
    for part in message.walk():
        if not part.is_multipart():
            assert part["Content-Transfer-Encoding"] in ("quoted-printable", "base64", "7bit")
    # text mostly in ASCII goes readable as sent: spam filters count base64 text against a message
    assert message.get_body(("plain",))["Content-Transfer-Encoding"] == "quoted-printable"
    assert "Iran–Russia" in message.get_body(("plain",)).get_content()
