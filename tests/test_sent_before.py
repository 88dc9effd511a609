"""'Sent before' only for a write-up the channel carried."""

from datetime import timedelta

from test_digest_content import T0, art, content, match

from monitor.store.digests import Sent


def _story(sent):
    articles = [
        art(1, "https://lead.test/1", site="Lead", cluster=201),
        # An agency text from days ago that matched nothing then; a reprint today adds the watched words.
        art(6, "https://old.test/6", site="Old", cluster=203, hours=-72),
        art(7, "https://r7.test/7", site="Reprint C", cluster=203, hours=5),
    ]
    built = content(articles, [match(1, 9), match(7, 5)], [1, 7], representatives={201: 1, 203: 6}, sent=sent)
    [story] = built.sections[0].items
    return story


def test_a_write_up_the_channel_never_carried_is_not_said_sent_before():
    [writeup] = _story({}).writeups
    assert writeup.url == "https://old.test/6" and writeup.sent_before is False


def test_a_write_up_the_channel_carried_is_said_sent_before():
    [writeup] = _story({6: (Sent("digest", "email", T0 - timedelta(days=2)),)}).writeups
    assert writeup.sent_before is True
