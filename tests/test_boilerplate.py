"""Outlet boilerplate: the pure cleaning function, its patterns, and the store's learnt paragraphs."""

from __future__ import annotations

import pytest

from monitor.dedupe.boilerplate import (
    BOILERPLATE_CLUSTERS,
    is_furniture,
    keyed_paragraphs,
    paragraph_keys,
    strip_boilerplate,
)
from monitor.store import counts as counts_store

NEWS = (
    "The regional council voted on Tuesday to close two rural schools, a decision that parents said they "
    "would challenge in court before the start of the next school year."
)
PLUG = (
    "Thank you for reading the Ledger. A digital pass costs three dollars a month and includes the archive."
)


@pytest.mark.parametrize(
    "line",
    [
        "Sign up for the Guardian's morning briefing",
        "Sign up to our daily newsletter and get the news first.",
        "Want the headlines in your inbox? Sign up here for our free newsletter.",
        "SUBSCRIBE NOW for unlimited access",
        "Read more: Markets open lower as investors wait for the central bank",
        "READ MORE",
        "Also read: Council approves the new budget",
        "Advertisement",
        "- Advertisement -",
        "Related: What we know so far",
        "Follow us on Facebook, Instagram and X",
        "Share this article",
        "Share",
        "We use cookies to improve your experience on our website.",
        "Click here to download the full report",
        "Get our free morning briefing delivered every weekday",
        "Copyright 2024 The Valley Courier. All rights reserved.",
        "© 2024 Example Media",
        "Already a subscriber? Log in",
        "Continue reading",
    ],
)
def test_outlet_furniture_is_recognised(line):
    assert is_furniture(line)


@pytest.mark.parametrize(
    "line",
    [
        NEWS,
        "Subscribers to the streaming service rose by 10% in the second quarter.",
        "The newsletter was sent to 3,000 members on Monday.",
        "Readers of the paper signed a petition against the closure.",
        "Sharing of patient data between hospitals will be allowed from next year, the minister said.",
        "Followers of the movement gathered outside parliament.",
        "Cookies and cakes were sold at the fair to raise money for the roof.",
        # Long: prose, whatever it starts with.
        (
            "Sign up for the draft closes on Friday, officials said, and more than 40,000 young men have registered so "
            "far in the northern provinces, where the fighting has been heaviest since the spring offensive began."
        ),
        "",
    ],
)
def test_news_sentences_are_never_furniture(line):
    assert not is_furniture(line)


def test_strip_removes_furniture_and_learnt_paragraphs_and_keeps_news():
    text = f"Sign up for the Ledger morning briefing\n\n{NEWS}\n\nAdvertisement\n\n{PLUG}\n\nRead more: sport"
    learnt = set(paragraph_keys(PLUG))
    assert strip_boilerplate(text) == NEWS + "\n" + PLUG  # the plug is not furniture by pattern
    assert strip_boilerplate(text, learnt) == NEWS
    assert strip_boilerplate(NEWS) == NEWS
    assert strip_boilerplate("") == ""


def test_the_excerpt_no_longer_starts_with_a_sign_up_line():
    text = "Sign up for the Ledger morning briefing: the five stories you need before breakfast.\n" + NEWS
    assert strip_boilerplate(text).startswith("The regional council")


def test_keys_are_those_the_paragraph_counts_use():
    text = f"{NEWS}\n\nShort line\n{PLUG}\n  spaced   OUT   words  in a   line  "
    keyed = list(keyed_paragraphs(text))
    assert [line for line, _ in keyed] == [NEWS, "Short line", PLUG, "  spaced   OUT   words  in a   line  "]
    assert [key for _, key in keyed if key is not None] == list(paragraph_keys(text))
    assert keyed[1][1] is None  # too short to be counted


def test_store_says_which_keys_are_learnt_boilerplate(db):
    many = list(range(-40, 40)) + list(range(1000, 1600))  # more keys than one query asks for
    with db.session() as session:
        for _ in range(BOILERPLATE_CLUSTERS):
            counts_store.count_paragraphs(session, keys=[11, 35, -12])
        counts_store.count_paragraphs(session, keys=[13])
        assert counts_store.boilerplate_keys(
            session, keys=[11, -12, 13, 99], min_clusters=BOILERPLATE_CLUSTERS
        ) == {
            11,
            -12,
        }
        assert counts_store.boilerplate_keys(session, keys=many, min_clusters=BOILERPLATE_CLUSTERS) == {
            11,
            35,
            -12,
        }
        assert counts_store.boilerplate_keys(session, keys=[13], min_clusters=1) == {13}
        assert counts_store.boilerplate_keys(session, keys=[], min_clusters=1) == set()
