"""The wire level and outlet boilerplate: one outlet's short articles are not copies of each other because
they share a header and footer; real reprints (decorated by another outlet, or cut to half) still join."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from support.articles import extracted_article, stored_and_placed

from monitor.config import DedupSettings
from monitor.dedupe import fingerprint as fp
from monitor.dedupe.boilerplate import keyed_paragraphs
from monitor.store.records import Article

T = datetime(2024, 9, 9, 12, tzinfo=UTC)
SETTINGS = DedupSettings()

# One outlet's furniture: about 110 words around every article it publishes.
HEADER = [
    "Millbrook Chronicle | Local news, weather and sport for the whole county",
    "Sign up for the Millbrook Chronicle morning briefing: the stories you need before breakfast, every weekday.",
    "Advertisement",
]
FOOTER = [
    (
        "Thank you for reading the Millbrook Chronicle. Good local reporting takes time and money: our six reporters "
        "sit through council meetings, court hearings and school board sessions so you do not have to. A digital "
        "pass starts at three dollars a month and includes the print replica and the archive."
    ),
    "Got a story? Tell the Millbrook Chronicle newsroom what is happening where you live; we read every message.",
    "Copyright 2024 Millbrook Chronicle. All rights reserved.",
]
SHORTS = [
    (
        "The county fire service put out a barn fire on Elm Road late on Sunday. Nobody was hurt, but forty bales "
        "of hay were lost and the road stayed closed until the early hours of Monday morning."
    ),
    (
        "Millbrook library will open on Sunday afternoons from next month, after volunteers offered to staff the "
        "front desk. The trial runs until the end of the year, when the council will decide whether to keep it."
    ),
    (
        "A pair of peregrine falcons has nested on the tower of St Mary's church for the third year running. The "
        "parish has set up a camera so that visitors can watch the chicks without climbing the stairs."
    ),
    (
        "The high school robotics team won the regional final in Ashford on Saturday with a machine that sorts "
        "recycling. The students now travel to the national championship, which is held in the capital in June."
    ),
    (
        "Work on the new roundabout at the Mill Lane junction will start in two weeks and last about four months. "
        "Buses will be diverted along Station Road, and the market will move to the car park behind the town hall."
    ),
]
AGENCY_STORY = [
    f"Paragraph {n}: the harbour authority said on Tuesday that crane number {n} would be replaced after "
    f"inspectors found cracks in its boom, a repair expected to take {n + 2} weeks and cost the port "
    f"about {n * 3 + 1} million, according to documents seen by reporters on the quay."
    for n in range(10)
]


def value(url: str, body: str, at: datetime) -> Article:
    return extracted_article(url, body, at)


def place(session, url: str, body: str, at: datetime = T):
    return stored_and_placed(session, value(url, body, at), SETTINGS)[1]


def wrapped(story: str) -> str:
    return "\n\n".join([*HEADER, story, *FOOTER])


def test_one_outlets_short_articles_are_not_joined_on_their_header_and_footer(db):
    # The furniture is most of each text: compared whole, any two of these are "copies" (containment ~0.7).
    assert fp.compare(fp.shingles(wrapped(SHORTS[0])), fp.shingles(wrapped(SHORTS[1]))).similarity > 0.6
    with db.session() as session:
        placed = [
            place(session, f"https://www.millbrook.example/news/{n}", wrapped(story), T + timedelta(hours=n))
            for n, story in enumerate(SHORTS)
        ]
    assert len({p.wire_cluster_id for p in placed}) == len(SHORTS)
    assert all(p.method == "new" for p in placed)


def test_learnt_boilerplate_keeps_the_outlets_articles_apart_under_another_address_too(db):
    with db.session() as session:
        placed = [
            place(session, f"https://www.millbrook.example/news/{n}", wrapped(story), T + timedelta(hours=n))
            for n, story in enumerate(SHORTS[:3])
        ]
        # Its mobile site: no longer "the same outlet" by address, so only the learnt paragraphs can tell.
        mobile = place(
            session, "https://m.millbrook-chronicle.example/n/4", wrapped(SHORTS[3]), T + timedelta(hours=4)
        )
    assert mobile.method == "new" and mobile.wire_cluster_id not in {p.wire_cluster_id for p in placed}


def test_a_short_article_reprinted_elsewhere_still_joins_its_original(db):
    with db.session() as session:
        for n, story in enumerate(SHORTS[:3]):  # the outlet's furniture is learnt by now
            place(session, f"https://www.millbrook.example/news/{n}", wrapped(story), T + timedelta(hours=n))
        original = place(
            session, "https://www.millbrook.example/news/9", wrapped(SHORTS[4]), T + timedelta(hours=4)
        )
        copy = place(
            session,
            "https://radio.example/bulletin/roundabout",
            "Sign up for our news alerts\n\n" + SHORTS[4],
            T + timedelta(hours=5),
        )
    assert copy.method == "minhash" and copy.wire_cluster_id == original.wire_cluster_id


def test_a_reprint_with_another_outlets_boilerplate_still_joins(db):
    with db.session() as session:
        original = place(session, "https://agency.example/harbour", "\n\n".join(AGENCY_STORY))
        copy = place(
            session,
            "https://www.millbrook.example/news/harbour",
            "\n\n".join([*HEADER, *AGENCY_STORY, *FOOTER]),
            T + timedelta(hours=1),
        )
    assert copy.method == "minhash" and copy.wire_cluster_id == original.wire_cluster_id


def test_a_reprint_of_the_first_half_still_joins(db):
    with db.session() as session:
        original = place(session, "https://agency.example/harbour", "\n\n".join(AGENCY_STORY))
        trim = place(
            session,
            "https://daily.example/harbour-cranes",
            "\n\n".join(["Read more: port news", *AGENCY_STORY[:5], "Follow us on Facebook"]),
            T + timedelta(hours=1),
        )
    assert trim.method == "minhash" and trim.wire_cluster_id == original.wire_cluster_id


def test_one_outlet_publishing_a_story_again_with_an_edit_is_still_a_copy(db):
    first = "\n\n".join([*HEADER, *AGENCY_STORY[:6], *FOOTER])
    again = first.replace(
        "Paragraph 2: the harbour authority said", "Paragraph 2: the port authority confirmed"
    )
    with db.session() as session:
        original = place(session, "https://www.millbrook.example/news/harbour", first)
        update = place(
            session, "https://www.millbrook.example/news/harbour-update", again, T + timedelta(hours=1)
        )
    assert update.wire_cluster_id == original.wire_cluster_id


def _text(body: str) -> fp.WireText:
    return fp.wire_text(list(keyed_paragraphs(body)))


def test_confirmation_leaves_learnt_boilerplate_out_except_what_two_outlets_both_print_inside():
    middle = "\n\n".join(AGENCY_STORY[:4])
    learnt = {key for _, key in keyed_paragraphs(middle)}  # as if a missed copy had counted them twice
    mine = _text("\n\n".join([SHORTS[0], middle, SHORTS[1]]))
    theirs = _text("\n\n".join([SHORTS[2], middle, SHORTS[3]]))
    # Two outlets printing the same learnt paragraphs between lines of their own: the agency's text, kept.
    assert fp.confirm(mine, theirs, known=learnt, same_outlet=False, threshold=0.55) > 0.55
    # Within one outlet they are its furniture, and what is left differs.
    assert fp.confirm(mine, theirs, known=learnt, same_outlet=True, threshold=0.55) is None
    # Around the text (above and below everything else) in both: furniture, whoever prints it.
    header = "\n\n".join(AGENCY_STORY[6:])
    furniture = {key for _, key in keyed_paragraphs(header)}
    a, b = _text(header + "\n\n" + SHORTS[0]), _text(header + "\n\n" + SHORTS[1])
    assert fp.confirm(a, b, known=furniture, same_outlet=False, threshold=0.55) is None


def test_a_hostile_page_of_many_lines_is_read_up_to_a_bound(db):
    body = "\n".join(f"Line {n} of a page that is nothing but short lines" for n in range(20_000))
    assert len(_text(body).lines) == fp.MAX_LINES
    with db.session() as session:
        placed = place(session, "https://hostile.example/page", body)
    assert placed.method == "new"
