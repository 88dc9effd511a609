"""The matcher: folding, scripts, wildcards, phrases, proximity (also across sentence punctuation), fields,
aliases, the weighted form, topics that match on absence, and the evidence of every match."""

from __future__ import annotations

import pytest

from monitor.watchlist.aliases import parse_entry, resolve_aliases
from monitor.watchlist.matcher import ArticleText, Matcher, TopicSpec
from monitor.watchlist.query import parse_query
from monitor.watchlist.text import FoldedText, fold, tokenize

ALIASES = {
    "iran": [parse_entry(x) for x in ("Iran", "Iranian", "Tehran", "IRGC", "Иран*", "ایران", "تهران")],
    "russia": [parse_entry(x) for x in ("Russia", "Moscow", "Росси*", "روسیه")],
}


def matcher(*queries: str, **weighted) -> Matcher:
    specs = [TopicSpec(f"t{i}", resolve_aliases(parse_query(q), ALIASES)) for i, q in enumerate(queries)]
    return Matcher(specs)


def matches(query: str, body: str = "", title: str = "", **fields) -> bool:
    return bool(matcher(query).match(ArticleText(title=title, body=body, **fields)))


# --- Folding and tokens ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "written, folded",
    [
        ("IRAN", "iran"),
        ("Straße", "strasse"),
        ("Café Déjà-vu", "cafe deja-vu"),
        ("ﬁghter", "fighter"),
        ("Ｉｒａｎ", "iran"),
        ("Ёлка Йемен", "елка иемен"),
        ("ايران كشور", "ایران کشور"),  # Arabic yeh and kaf -> Persian
        ("مُحَمَّد", "محمد"),  # harakat removed
        ("ايــــران", "ایران"),  # tatweel removed
        ("أحمد إيران آب", "احمد ایران اب"),  # hamza and madda on alef
        ("فتح ۳۶۰ / ٣٦٠", "فتح 360 / 360"),  # Persian and Arabic digits
        ("mis\u00adsile", "missile"),  # soft hyphen
    ],
)
def test_fold(written, folded):
    assert fold(written) == folded


def test_tokens_in_every_script_with_zwnj_inside_a_word():
    assert tokenize("Iran's Shahed-136 (Geran-2), Иран; ایران، موشک‌ها!") == [
        "iran",
        "s",
        "shahed",
        "136",
        "geran",
        "2",
        "иран",
        "ایران",
        "موشکها",
    ]


def test_offsets_map_back_to_the_original_text():
    text = "ﬁrst: Straße مُحَمَّد Iran"
    folded = FoldedText(text)
    words = [text[slice(*folded.word_span(i))] for i in range(len(folded.tokens()))]
    assert words == ["ﬁrst", "Straße", "مُحَمَّد", "Iran"]


# --- Terms, phrases, wildcards --------------------------------------------------------------------------


def test_whole_words_only():
    assert matches("iran", "Iran said")
    assert not matches("iran", "Iranian officials said")  # a word, not a prefix
    assert not matches("ran", "Iran said")
    assert matches("iran*", "Iranian officials said")


def test_case_and_diacritics_fold_on_both_sides():
    assert matches("IRAN", "iran")
    assert matches("deja", "Déjà vu")
    assert matches("Déjà", "DEJA VU")
    assert matches("Straße", "STRASSE")


def test_phrases_ignore_punctuation_and_spacing_but_not_order():
    assert matches('"ballistic missiles"', "short-range ballistic\n  missiles were")
    assert matches('"Shahed-136"', "the Shahed 136 drone")
    assert matches("Shahed-136", "the SHAHED-136 drone")
    assert not matches('"missiles ballistic"', "ballistic missiles")
    assert not matches('"ballistic missiles"', "ballistic and cruise missiles")


def test_wildcards_at_the_end_of_a_word_and_of_a_phrase():
    assert matches("missil*", "Missiles and a missile")
    assert not matches("missil*", "a dismissal")
    assert matches('"ballistic missil*"', "ballistic missiles")
    assert matches("Шахед*", "ударили Шахедами")
    assert matches("ракет*", "поставки баллистических ракет")


def test_scripts_cyrillic_persian_arabic():
    assert matches("@iran AND @russia", "Иран передал России ракеты")
    assert matches("@iran AND @russia", "ایران به روسیه موشک فرستاد")
    assert matches("@iran", "قالت ايران")  # Arabic spelling of Iran, folded to the Persian one
    assert matches("موشک*", "ارسال موشک‌ها به روسیه")  # a stem finds its inflected words with a wildcard
    assert not matches("موشک", "ارسال موشک‌ها به روسیه")  # as "missile" does not find "missiles"


# --- Boolean logic --------------------------------------------------------------------------------------


def test_and_or_not():
    assert matches("iran AND russia", "Iran and Russia")
    assert not matches("iran AND russia", "Iran alone")
    assert matches("iran OR russia", "Russia alone")
    assert matches("iran AND NOT nuclear", "Iran sent missiles")
    assert not matches("iran AND NOT nuclear", "Iran nuclear talks")


def test_a_topic_of_only_not_matches_articles_with_no_hit_at_all():
    m = matcher("NOT nuclear", "iran")
    assert [x.topic for x in m.match(ArticleText(body="Weather report"))] == ["t0"]
    assert [x.topic for x in m.match(ArticleText(body="Iran nuclear"))] == ["t1"]
    assert m.match(ArticleText()) == m.match(ArticleText(body="")) and len(m.match(ArticleText())) == 1


# --- Proximity ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query, body, expected",
    [
        ("iran NEAR/2 russia", "Iran sent Russia", True),
        ("iran NEAR/2 russia", "Russia got it from Iran", False),  # three words between
        ("iran NEAR/3 russia", "Russia got it from Iran", True),  # either order
        ("iran ONEAR/3 russia", "Russia got it from Iran", False),  # ordered
        ("russia ONEAR/3 iran", "Russia got it from Iran", True),
        ("iran NEAR/0 russia", "Iran Russia", True),
        ("iran NEAR/0 russia", "Iran, Russia", True),
        # Sentence punctuation is not a word: proximity runs across it.
        ("iran NEAR/1 missiles", "It was Iran. Missiles followed.", True),
        ("iran NEAR/1 missiles", "Iran! — «Missiles»?", True),
        ("iran NEAR/1 missiles", "Iran. Then, later: missiles.", False),
        # Phrases and wildcards count from their first and last words.
        ('"ballistic missiles" NEAR/2 russia', "ballistic missiles went to Russia", True),
        ("drone* NEAR/1 @russia", "drones for Moscow", True),
        ("(drone* OR missil*) NEAR/1 iran", "missiles from Iran", True),
        ("iran NEAR/2 russia NEAR/2 drones", "Iran and Russia built drones", True),
        ("iran NEAR/2 russia NEAR/2 drones", "Iran and Russia; much later, then, drones", False),
    ],
)
def test_proximity(query, body, expected):
    assert matches(query, body) is expected


def test_proximity_does_not_join_title_and_body():
    assert not matches("iran NEAR/1 russia", body="Russia said", title="Iran")
    assert matches("iran NEAR/1 russia", body="Russia said Iran", title="Iran")


def test_a_word_is_not_near_itself():
    assert not matches("missile NEAR/3 missil*", "one missile")
    assert matches("missile NEAR/3 missil*", "one missile, two missiles")


# --- Fields ---------------------------------------------------------------------------------------------


def test_fields():
    article = dict(
        title="Iran denies",
        body="Russia got missiles",
        url="https://news.example/world/iran-russia",
        language="en-GB",
        sources=("Tehran Times",),
    )
    assert matches("title:iran AND body:missil*", **article)
    assert not matches("title:russia", **article)
    assert not matches("body:iran", **article)
    assert matches('url:world AND url:"iran russia"', **article)
    assert matches("lang:en", **article)
    assert not matches("lang:fa", **article)
    assert matches('source:"tehran times"', **article)
    assert matches("source:news.example", **article)  # the host counts as a source too
    assert not matches("world", **article)  # no field: title and body only


# --- Weighted form --------------------------------------------------------------------------------------


def weighted(weights: dict[str, float], min_score: float) -> Matcher:
    entries = tuple((text, resolve_aliases(parse_entry(text), ALIASES), w) for text, w in weights.items())
    return Matcher([TopicSpec("w", None, entries, min_score)])


def test_weighted_terms_count_once_and_reach_the_threshold():
    m = weighted({"@iran": 2, "@russia": 2, "missil*": 1, "nuclear": -3}, 4)
    assert m.match(ArticleText(body="Iran Iran Iran Tehran")) == ()  # 2, however often
    found = m.match(ArticleText(body="Iran and Russia, missiles, missiles"))
    assert [x.evidence.total_weight for x in found] == [5.0]  # what min_score is compared with
    # in the lead (0.7); strength: every positive entry fired (1), missiles twice (0.25, weight 1 of 5)
    assert [x.score for x in found] == [64.8]
    assert m.match(ArticleText(body="Iran and Russia nuclear missiles")) == ()  # 5 - 3 < 4
    terms = {t.term: t for t in found[0].evidence.terms}
    assert terms["missil*"].count == 2 and terms["missil*"].weight == 1
    assert "@iran (+2)" in found[0].evidence.clauses


def test_a_query_topics_min_score_is_on_the_scale_of_the_score():
    m = Matcher(
        [
            TopicSpec(
                "q",
                resolve_aliases(parse_query("@iran AND (missil* OR drone* OR sanction*)"), ALIASES),
                min_score=60,
            )
        ]
    )
    assert m.match(ArticleText(body="Iran missiles drones")) == ()  # in the lead: 49
    assert m.match(ArticleText(title="Iran sends missiles", body="More later."))[0].score == 70


# --- Evidence -------------------------------------------------------------------------------------------


def test_evidence_names_clauses_terms_positions_and_highlights_a_snippet():
    m = matcher('@iran AND ("ballistic missil*" OR drone*) AND NOT nuclear')
    body = (
        "Officials said on Monday that Iran had sent short-range ballistic missiles to Russia. "
        + "Unrelated filler text follows here. " * 20
        + "Drones too."
    )
    (found,) = m.match(ArticleText(title="Iranian denial", body=body))
    evidence = found.evidence
    assert evidence.clauses == ("@iran", '"ballistic missil*" OR drone*', "NOT nuclear")
    terms = {t.term: t for t in evidence.terms}
    assert set(terms) == {"Iran", "Iranian", '"ballistic missil*"', "drone*"}
    (hit,) = terms['"ballistic missil*"'].hits
    assert (hit.field, hit.text, body[hit.start : hit.end]) == (
        "body",
        "ballistic missiles",
        "ballistic missiles",
    )
    assert hit.word == 10  # "short-range" is two words
    assert terms["Iranian"].hits[0].field == "title"
    assert evidence.snippet_field == "body"
    assert "**Iran** had sent short-range **ballistic missiles**" in evidence.marked()
    assert evidence.snippet.endswith("…") and len(evidence.snippet) < 320
    # @iran in the title (1.0), the missiles in the lead (0.7); each part mentioned twice
    assert found.score == 67.0
    assert (evidence.prominence, evidence.strength) == (0.85, 0.25)


def test_evidence_offsets_point_into_the_original_text_in_other_scripts():
    m = matcher("@iran AND موشک*")
    body = "گزارش‌ها درباره ارسال مُوشَک‌های بالستیک ايران به روسیه"
    (found,) = m.match(ArticleText(body=body))
    spans = {t.term: [body[h.start : h.end] for h in t.hits] for t in found.evidence.terms}
    assert spans == {"ایران": ["ايران"], "موشک*": ["مُوشَک‌های"]}


def test_matcher_with_no_topics_or_terms():
    assert Matcher([]).match(ArticleText(body="anything")) == ()


def test_evidence_of_near_is_the_occurrences_that_are_near():
    m = matcher("iran NEAR/2 missiles")
    body = "Iran said nothing. " + "Filler words here. " * 10 + "Iran sent missiles. Later, more missiles."
    (found,) = m.match(ArticleText(body=body))
    terms = {t.term: t for t in found.evidence.terms}
    assert terms["iran"].count == 1 and terms["missiles"].count == 1
    assert body[terms["iran"].hits[0].start :].startswith("Iran sent missiles")
    assert "**Iran** sent **missiles**" in found.evidence.marked()
