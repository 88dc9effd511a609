"""The story level keeps different events apart and joins write-ups of one event; explain shows the score
that decided."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from support.articles import extracted_article, stored_and_placed

from monitor.config import DedupSettings
from monitor.dedupe.explain import explain_article
from monitor.dedupe.stories import (
    LEAD_WORDS,
    SCORING,
    Scoring,
    story_score,
    term_counts,
    time_factor,
    time_gap,
)
from monitor.store import counts as counts_store
from monitor.store import stories as stories_store
from monitor.store.records import Article

MONDAY = datetime(2025, 1, 13, 9, tzinfo=UTC)
SETTINGS = DedupSettings()

# Local news of one town in one week: the town, the county and the council are in every article.
POWER_BILL = (
    "Households in Millbrook will pay 14 percent more for electricity from March, after the Harlow Valley "
    "Energy Cooperative raised its rates.\n\n"
    "The cooperative's board said the increase covers repairs to the substation on Ferry Road. A family in "
    "Millbrook using 900 kilowatt-hours a month will pay about $18 more.\n\n"
    "Residents in Millbrook can apply to the county for help with their bills, the council said, and the "
    "cooperative will hold a public meeting at the library in Millbrook."
)
SNOWFALL = (
    "Millbrook recorded 31 inches of snow in 24 hours, breaking a record set in 1958, the National Weather "
    "Service said.\n\n"
    "Schools in Millbrook stayed closed and snowplows worked through the night on the county roads. The "
    "council opened the library in Millbrook as a warming centre.\n\n"
    "Forecasters expect more snow in Millbrook and across the Harlow Valley by the weekend, and the county "
    "asked residents to stay off the roads."
)
# One event, two outlets, their own words.
BRIDGE_A = (
    "The Oldmere bridge over the Tay river partly collapsed on Tuesday night, and two cars fell into the water; "
    "rescuers pulled four people out alive, the fire service said.\n\n"
    "Engineer Dana Whitlock, who inspected the 1930s span last spring, had warned that its piers were eroding."
)
BRIDGE_B = (
    "Four people were rescued from the Tay after a section of the Oldmere bridge gave way late Tuesday, "
    "sending two vehicles into the river.\n\n"
    "Dana Whitlock, the engineer who examined the crossing last year, said she had reported erosion of the "
    "piers. Firefighters said the span will stay closed."
)

BRIDGE_C = (
    "Dana Whitlock warned a year ago that the piers of the Oldmere bridge were eroding. On Tuesday the span "
    "gave way and two cars went into the Tay; all four people in them survived.\n\n"
    "The council said the bridge would be closed until divers had surveyed what is left of it."
)

# Two title fights of one boxer in one week: the champion, the belt and the frame are shared; the opponent,
# the city and the figures are not.
FIGHT_A = (
    "Vitali Klitschko kept his WBC heavyweight title on Saturday, stopping Dereck Chisora in the tenth round "
    "before 40,000 fans at the Olympiastadion in Munich.\n\n"
    "Chisora, who slapped Klitschko at the weigh-in, was cut over the left eye in the seventh. Promoter Frank "
    "Warren said the British challenger would ask for a rematch. Klitschko improved his record to 44 wins and 2 "
    "losses."
)
FIGHT_A2 = (
    "Dereck Chisora says he wants another shot at Vitali Klitschko after the champion stopped him in ten rounds "
    "in Munich on Saturday to keep the WBC heavyweight belt.\n\n"
    "Frank Warren, Chisora's promoter, said the cut over his eye forced the stoppage, and that 40,000 fans had "
    "seen a brave challenger. Klitschko, 44-2, said Chisora hit harder than he expected."
)
FIGHT_B = (
    "Vitali Klitschko kept his WBC heavyweight title on Saturday, beating Manuel Charr on points after twelve "
    "rounds before 17,000 fans at the Olimpiyskiy arena in Kiev.\n\n"
    "Charr, a Lebanese-born German, was knocked down in the fourth. Promoter Wilfried Sauerland said Charr had "
    "earned a second fight. Klitschko improved his record to 45 wins and 2 losses."
)


def value(n: int, title: str, body: str, published: datetime | None, fetched: datetime = MONDAY) -> Article:
    return extracted_article(
        f"https://outlet{n}.test/news/{n}", body, fetched, title=title, published=published
    )


# Words of any local news: in a running daemon's term counts they are in many articles, names are not.
COMMON = (
    "county council residents road roads library town city officials public meeting week people school "
    "schools said year night closed help asked service services local state police weather board family "
    "families million percent month help new expected forecast plan plans work"
).split()


def warm(session, articles: int = 600) -> None:
    """Term counts as a daemon has them after weeks: ``articles`` other texts of common words counted."""
    for n in range(articles):
        counts_store.count_terms(session, terms={word: 1.0 for word in COMMON[n % 7 :: 3]})


def place(session, article: Article, settings: DedupSettings = SETTINGS, **options):
    return stored_and_placed(session, article, settings, **options)


def test_one_town_one_week_two_events_stay_apart(db):
    with db.session() as session:
        warm(session)
        _, bill = place(
            session, value(1, "Millbrook electricity bills to rise 14 percent", POWER_BILL, MONDAY)
        )
        _, snow = place(
            session,
            value(
                2,
                "Millbrook breaks snowfall record",
                SNOWFALL,
                MONDAY + timedelta(days=4),
                MONDAY + timedelta(days=4),
            ),
        )
    assert snow.story_id != bill.story_id


def test_the_town_name_is_not_what_joins_them_even_on_one_day(db):
    # Without the time factor (both published the same hour), the shared place still does not join them.
    with db.session() as session:
        warm(session)
        _, bill = place(
            session, value(1, "Millbrook electricity bills to rise 14 percent", POWER_BILL, MONDAY)
        )
        _, snow = place(session, value(2, "Millbrook breaks snowfall record", SNOWFALL, MONDAY))
    assert snow.story_id != bill.story_id


def test_write_ups_of_one_event_in_other_words_join(db):
    with db.session() as session:
        warm(session)
        _, first = place(
            session, value(1, "Oldmere bridge collapses, cars plunge into Tay", BRIDGE_A, MONDAY)
        )
        _, second = place(
            session, value(2, "Four rescued as Tay bridge gives way", BRIDGE_B, MONDAY + timedelta(hours=3))
        )
    assert second.story_id == first.story_id and second.story_score is not None


def test_place_names_weigh_less_than_other_names_and_numbers_count():
    counts = term_counts(None, "Officials in Millbrook said Dana Whitlock counted 31 cars.", scoring=SCORING)
    assert counts["whitlock"] > counts["millbrook"]
    assert "31" in counts
    # Years are shared by every event of the window: they are not terms.
    assert "1958" not in term_counts(None, "A record set in 1958 fell.", scoring=SCORING)


def test_the_body_past_the_lead_weighs_half_and_the_headline_twice():
    # A write-up of a later event recalls the earlier one in its body; its headline and lead name its own.
    lead = "Police said the tackle Dana Whitlock was stopped on the highway. " + " ".join(
        ["filler"] * LEAD_WORDS
    )
    counts = term_counts(
        "Tackle arrested", f"{lead} Earlier this season the receiver Lee Harlan was arrested too."
    )
    assert counts["whitlock"] == 2 * counts["harlan"] == SCORING.entity_boost
    assert counts["tackle"] == SCORING.title_weight + 1.0 == 3.0
    assert SCORING.body_weight == 0.5


def test_time_is_neutral_when_unknown_and_costs_beyond_a_day():
    first, last = MONDAY, MONDAY + timedelta(hours=6)
    assert time_gap(None, first, last) is None and time_factor(None, SCORING) == 1.0
    assert time_gap(MONDAY + timedelta(hours=3), first, last) == timedelta(0)
    assert time_factor(timedelta(hours=20), SCORING) == 1.0
    assert time_factor(timedelta(days=4), SCORING) == 0.5
    assert time_factor(timedelta(days=4), Scoring()) == 1.0  # the previous scoring had no time factor


def test_an_article_without_a_publication_date_is_not_penalised(db):
    with db.session() as session:
        _, first = place(
            session, value(1, "Oldmere bridge collapses, cars plunge into Tay", BRIDGE_A, MONDAY)
        )
        # Fetched five days later with no date of its own (a back-fill): time says nothing, the words decide.
        _, late = place(
            session,
            value(2, "Four rescued as Tay bridge gives way", BRIDGE_B, None, MONDAY + timedelta(days=5)),
        )
    assert late.story_id == first.story_id


def test_explain_prints_the_score_that_decided_and_its_terms(db):
    with db.session() as session:
        _, first = place(
            session, value(1, "Oldmere bridge collapses, cars plunge into Tay", BRIDGE_A, MONDAY)
        )
        row, second = place(
            session, value(2, "Four rescued as Tay bridge gives way", BRIDGE_B, MONDAY + timedelta(hours=3))
        )
        profile_then = stories_store.parse_profile(
            stories_store.story(session, story_id=first.story_id).profile
        )
        # A third write-up moves the profile: the explanation must still show the second one's decision.
        _, third = place(
            session,
            value(
                3, "Tay bridge engineer had warned of eroding piers", BRIDGE_C, MONDAY + timedelta(hours=5)
            ),
        )
        assert third.story_id == first.story_id
        assert (
            stories_store.parse_profile(stories_store.story(session, story_id=first.story_id).profile)
            != profile_then
        )
        session.refresh(row)
        report = explain_article(session, row)
    assert report["story"]["stored_score"] == second.story_score
    assert report["story"]["evidence"]["score"] == second.story_score
    terms = [term for term, _ in report["story"]["evidence"]["terms"]]
    assert "whitlock" in terms or "oldmere" in terms
    text = "\n".join(report["lines"])
    assert f"story score {second.story_score}" in text
    assert "whitlock" in text or "oldmere" in text


def test_the_recorded_score_is_the_stage_scoring_of_the_profile_it_joined():
    counts = term_counts("Four rescued as Tay bridge gives way", BRIDGE_B)
    vector = {t: w / sum(v * v for v in counts.values()) ** 0.5 for t, w in counts.items()}
    result = story_score(vector, vector, gap=timedelta(days=2), scoring=SCORING)
    assert abs(result.similarity - 1.0) < 1e-9
    assert result.score == result.similarity * time_factor(timedelta(days=2), SCORING)


def test_a_copy_joins_its_originals_story_without_a_score(db):
    with db.session() as session:
        _, first = place(session, value(1, "Oldmere bridge collapses", BRIDGE_A * 3, MONDAY))
        _, copy = place(
            session,
            value(
                2,
                "Bridge collapses",
                BRIDGE_A * 3 + "\n\nRead more at our site.",
                MONDAY + timedelta(hours=1),
            ),
        )
    assert copy.story_id == first.story_id and copy.story_score is None


def test_explain_compares_wire_copies_as_the_stage_does(db):
    # A trimmed reprint under its outlet's furniture: the stage leaves the furniture out and finds all of the
    # reprint in the original; explain must print that comparison, not one of the raw bodies.
    original = BRIDGE_A + "\n\n" + BRIDGE_B + "\n\n" + BRIDGE_C
    furniture = (
        "Sign up for the Valley Courier morning briefing and get the news first\n\n"
        "Follow us on social media for the latest from the Valley\n\n"
        "Copyright 2025 Valley Courier Media, all rights reserved"
    )
    reprint = BRIDGE_A + "\n\n" + BRIDGE_B + "\n\n" + furniture
    with db.session() as session:
        place(session, value(1, "Oldmere bridge collapses", original, MONDAY))
        row, copy = place(session, value(2, "Bridge collapses", reprint, MONDAY + timedelta(hours=1)))
        assert copy.method == "minhash"
        session.refresh(row)
        report = explain_article(session, row)
    wire = report["wire_match"]
    assert wire["stored_score"] == copy.wire_score == 1.0
    assert wire["containment"] == 1.0 and wire["share_of_this"] == 1.0


def test_two_title_fights_of_one_boxer_stay_apart_and_a_follow_up_joins_its_fight(db):
    with db.session() as session:
        warm(session)
        _, munich = place(session, value(1, "Klitschko stops Chisora in Munich", FIGHT_A, MONDAY))
        _, kiev = place(
            session, value(2, "Klitschko outpoints Charr in Kiev", FIGHT_B, MONDAY + timedelta(hours=2))
        )
        _, rematch = place(
            session, value(3, "Chisora wants Klitschko rematch", FIGHT_A2, MONDAY + timedelta(hours=5))
        )
    assert kiev.story_id != munich.story_id
    assert rematch.story_id == munich.story_id and rematch.story_score >= SETTINGS.story_threshold


def test_the_configured_story_threshold_is_the_one_tuned_on_ecb_plus():
    # bench/story_eval.py: the best mean B-cubed F1 on the tuning half (0.12 was chosen on synthetic copies).
    assert DedupSettings().story_threshold == 0.20
