"""The pure parts of deduplication: fingerprints, agency detection, the representative rule, story vectors."""

from __future__ import annotations

import string
import unicodedata
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.dedupe import fingerprint as fp
from monitor.dedupe.agency import detect_agency
from monitor.dedupe.representative import Member, choose_representative, representative_after_join
from monitor.dedupe.stories import (
    cosine,
    idf,
    merge_profile,
    paragraph_keys,
    shared_terms,
    term_counts,
    vectorize,
)
from monitor.dedupe.updates import entry_hash
from monitor.ingest.feeditems import FeedItem

ORIGINAL = [
    f"Paragraph {n}: the harbour authority said on Tuesday that crane number {n} would be replaced after "
    f"inspectors found cracks in its boom, a repair expected to take {n + 2} weeks and cost the port "
    f"about {n * 3 + 1} million, according to documents seen by reporters on the quay."
    for n in range(10)
]
UNRELATED = [
    f"Section {n}: a choir from the valley rehearsed hymn {n} in the old chapel, while the organist tuned "
    f"pipe {n * 7} and the children painted banners for the festival that opens on the {n + 1}th of May."
    for n in range(10)
]


def text(paragraphs):
    return "\n\n".join(paragraphs)


def similarity(a: str, b: str) -> float:
    return fp.compare(fp.shingles(a), fp.shingles(b)).similarity


def shared_bands(a: str, b: str) -> int:
    return len(set(fp.fingerprint(a).band_keys) & set(fp.fingerprint(b).band_keys))


def test_typography_case_and_spacing_do_not_change_shingles():
    a = "“Don’t panic,” the Minister said — twice.   Then   she left."
    b = '"Don\'t PANIC," the minister said - twice. Then she left.'
    assert fp.shingles(a).tolist() == fp.shingles(b).tolist()


_SEPARATING = string.punctuation.replace("'", "") + "“”«»„‟–—‒―…•·¡¿、。，：；！？（）"
_DROPPED = "'’‘\u00ad\u200b"


@settings(max_examples=300, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from(string.ascii_letters + " \n\tÉßﬁİ" + _SEPARATING + _DROPPED), max_size=60
    )
)
def test_words_split_at_punctuation_and_drop_apostrophes(text):
    # The rule, written the slow way: NFKC, case folded, each punctuation mark a space, apostrophes and
    # invisible hyphens gone.
    folded = unicodedata.normalize("NFKC", text).casefold()
    expected = "".join(" " if c in _SEPARATING else "" if c in _DROPPED else c for c in folded).split()
    assert fp.words(text) == expected[: fp.MAX_WORDS]
    assert fp.normalize(text) == " ".join(expected)


def test_a_trimmed_reprint_with_boilerplate_is_a_copy():
    reprint = text(
        ["Sign up for our newsletter to get the top stories every morning."]
        + ORIGINAL[:6]
        + ["Copyright The Coast Gazette. All rights reserved. Read more: local news."]
    )
    score = fp.compare(fp.shingles(text(ORIGINAL)), fp.shingles(reprint))
    assert score.containment > 0.8 and score.size_ratio > 0.5
    assert score.similarity >= 0.55
    assert shared_bands(text(ORIGINAL), reprint) > 0  # the LSH index finds it


def test_one_reworded_sentence_keeps_a_copy():
    edited = list(ORIGINAL)
    edited[4] = "Paragraph four: according to the port, repairs of another crane will take a month or so."
    assert similarity(text(ORIGINAL), text(edited)) > 0.8


def test_unrelated_texts_share_nothing():
    assert similarity(text(ORIGINAL), text(UNRELATED)) < 0.05
    assert shared_bands(text(ORIGINAL), text(UNRELATED)) == 0


def test_a_short_quote_of_a_long_text_is_not_a_copy():
    quote = ORIGINAL[0] + " " + ORIGINAL[1]
    score = fp.compare(fp.shingles(text(ORIGINAL)), fp.shingles(quote))
    assert score.containment == 1.0 and score.size_ratio < fp.MIN_SIZE_RATIO
    assert score.similarity < 0.55  # Jaccard decides for a text that small


def test_band_keys_are_stable_and_fit_a_bigint():
    print_ = fp.fingerprint(text(ORIGINAL))
    assert print_ == fp.fingerprint(text(ORIGINAL))
    assert len(print_.band_keys) == fp.BANDS
    assert all(-(2**31) <= key < 2**31 for key in print_.band_keys)


@pytest.mark.parametrize(
    "hostile",
    [
        "",
        "   \n\t ",
        "!!! ??? ...",
        "\x00\x01\ud800 lone surrogate",
        "word " * 200_000,
        "ß" * 10_000,
        "中文新闻报道" * 500,
    ],
)
def test_hostile_text_never_raises(hostile):
    result = fp.fingerprint(hostile)
    assert result.shingle_count >= 0
    detect_agency(hostile, author=hostile[:1000], url="not a url")
    term_counts(hostile[:5000], hostile)
    paragraph_keys(hostile)


def test_long_hostile_words_are_counted_but_never_cached():
    # The word-to-term cache lives as long as the daemon: a page of long distinct tokens must not fill it.
    from monitor.dedupe import stories

    before = stories._folded_term.cache_info().currsize
    counts = term_counts(None, " ".join(f"w{n}{'x' * 300}" for n in range(40)) + " harbour")
    assert len(counts) == 41 and "harbour" in counts
    assert stories._folded_term.cache_info().currsize <= before + 1


PINNED_BAND_KEYS = (1524776064, 2122363553, -1487211763, -1413252395)
"""The first band keys of the text in ``test_band_keys_of_a_known_text_are_stable``, as stored since the
wire level's keys were made 32-bit."""


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=2**64 - 1), min_size=1, max_size=9000))
def test_minhash_is_datasketchs_affine64_scheme(hashes):
    # The stored band keys are made of these signatures: they must stay datasketch's, value for value,
    # including past one signing block (4,096 shingles).
    from datasketch import MinHash

    reference = MinHash(num_perm=fp.NUM_PERM, seed=fp.SEED, hashfunc=lambda value: value, scheme="affine64")
    reference.update_batch(np.array(hashes, dtype=np.uint64))
    assert np.array_equal(fp.minhash(np.array(hashes, dtype=np.uint64)), reference.hashvalues)


def test_band_keys_of_a_known_text_are_stable():
    # Pinned: a change of shingling, permutations or banding changes every stored key, which needs a
    # migration that signs the stored texts again.
    text = " ".join(f"word{n % 37} token{n % 11}" for n in range(200))
    keys = fp.fingerprint(text).band_keys
    assert len(keys) == fp.BANDS
    assert keys[:4] == PINNED_BAND_KEYS


def test_short_texts_get_no_band_keys():
    assert not fp.fingerprint("Breaking: more soon.").comparable


@pytest.mark.parametrize(
    "body, author, url, agency",
    [
        ("MOSCOW, Sept 9 (Reuters) - Russia said", None, None, "Reuters"),
        ("KYIV (AP) — Ukraine said on Monday", None, None, "AP"),
        ("Tehran, IRNA - The foreign ministry", None, None, "IRNA"),
        ("ANKARA (Anadolu) - Turkish officials", None, None, "Anadolu"),
        ("Text of the article.\n\n(Reporting by Jane Roe; Editing by John Doe)", None, None, "Reuters"),
        ("Text of the article. — AFP", None, None, "AFP"),
        ("Text of the article.\nSource: TASS", None, None, "TASS"),
        ("Body", "By Jane Doe, Associated Press", None, "AP"),
        ("Headline\n\nBy The Associated Press\n\nNEW YORK — Text", None, None, "AP"),
        ("Headline\nAssociated Press\nText of the article", None, None, "AP"),
        ("Body", None, "https://www.ukrinform.net/rubric-polytics/1.html", "Ukrinform"),
        ("Body", None, "https://news.xinhuanet.com/x", "Xinhua"),
        # In the agencies' own scripts
        ("МОСКВА, 12 сентября. /ТАСС/. Россия заявила", None, None, "TASS"),
        ("КИЇВ (Укрінформ) – Україна заявила", None, None, "Ukrinform"),
        ("تهران – ایرنا: وزارت امور خارجه", None, None, "IRNA"),
        ("تهران- ایرنا- سخنگوی وزارت امور خارجه", None, None, "IRNA"),  # the Persian agencies' own style
        ("مسکو- ایسنا- سفیر ایران در روسیه", None, None, "ISNA"),
        ("طهران (إرنا) – قالت وزارة الخارجية", None, None, "IRNA"),
        ("新华社德黑兰9月12日电 伊朗外交部说", None, None, "Xinhua"),
        ("【テヘラン共同】イラン外務省は", None, None, "Kyodo"),
        ("Текст статьи.\nИсточник: РИА Новости", None, None, "RIA Novosti"),
        ("Текст статьи. — Интерфакс", None, None, "Interfax"),
    ],
)
def test_agencies_are_found_in_datelines_bylines_credits_and_sites(body, author, url, agency):
    found = detect_agency(body, author=author, url=url)
    assert found is not None and found.agency == agency


@pytest.mark.parametrize(
    "body",
    [
        "The minister told Reuters in an interview that talks would go on. " * 10,
        "Photo: AFP/Getty Images. The council met on Monday.",
        "APPLE said on Monday (quarterly results) - its revenue rose.",
        "Mid- AA-rated bonds fell on Monday as investors sold.",
        "By Jane Doe\n\nThe council said the Associated Press had asked for the documents.",
        "Как сообщает ТАСС, переговоры продолжатся. " * 10,
        "وزیر خارجه به ایرنا گفت که گفتگوها ادامه دارد. " * 10,
        "共同声明は月曜日に発表された。" * 10,
    ],
)
def test_a_mention_is_not_a_credit(body):
    assert detect_agency(body) is None


T = datetime(2024, 9, 9, tzinfo=UTC)


def test_the_agency_own_copy_represents_the_cluster():
    members = (
        Member(1, "https://paper.example/a", T, 3000),
        Member(2, "https://apnews.com/article/x", T + timedelta(hours=1), 2500),
        Member(3, "https://other.example/b", T - timedelta(hours=1), 3100),
    )
    assert choose_representative(members, agency="AP").id == 2


def test_else_the_earliest_complete_copy_represents_the_cluster():
    members = (
        Member(1, "https://a.example/1", T, 3000),
        Member(2, "https://b.example/2", T - timedelta(hours=2), 900),  # earliest, but trimmed
        Member(3, "https://c.example/3", T - timedelta(hours=1), 2800),
        Member(4, "https://d.example/4", T - timedelta(hours=1), 2900),
    )
    assert choose_representative(members, agency=None).id == 3
    assert choose_representative(members, agency="Reuters").id == 3  # no member on reuters.com
    with pytest.raises(ValueError):
        choose_representative((), agency=None)


def test_a_reprint_padded_with_its_outlets_boilerplate_does_not_displace_the_original():
    members = (
        Member(1, "https://agency.example/1", T, 2000),
        Member(2, "https://courier.example/2", T + timedelta(hours=1), 3000),  # + header, sign-up, footer
        Member(3, "https://teaser.example/3", T - timedelta(hours=1), 1000),
    )  # earlier, but half the text
    assert choose_representative(members, agency=None).id == 1


_JOINS = st.lists(
    st.tuples(
        st.sampled_from(["https://apnews.com/article/", "https://paper.example/", "https://news.ap.org/"]),
        st.integers(0, 5),  # hours after T: ties are common
        st.integers(1, 4000),  # body length
        st.sampled_from([None, None, "AP", "Reuters"]),  # the agency the copy credits
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=300, deadline=None)
@given(_JOINS)
def test_a_joining_copy_weighed_against_the_representative_alone_gets_what_the_whole_rule_gives(joins):
    """Copies join one by one, the cluster credited to the first agency one of them names, as grow_cluster
    does: wherever ``representative_after_join`` answers, it is the rule's own choice over every member."""
    members: list[Member] = []
    agency, representative, longest = None, None, None
    for n, (site, hours, length, credited) in enumerate(joins, start=1):
        joining = Member(n, f"{site}{n}", T + timedelta(hours=hours), length)
        before = agency
        agency = agency or credited
        members.append(joining)
        whole = choose_representative(tuple(members), agency=agency)
        if representative is not None:
            chosen = representative_after_join(
                representative, joining, longest=longest, agency_before=before, agency=agency
            )
            # Only a longer copy or a new credit needs every member: the common join is answered alone.
            if agency == before and length <= longest:
                assert chosen is not None
            if chosen is not None:
                assert chosen == whole
        representative, longest = whole, max(m.body_length for m in members)


def test_the_whole_rule_is_asked_when_the_joining_copy_is_the_longest_or_brings_the_agency():
    current = Member(1, "https://paper.example/1", T, 2000)
    longer = Member(2, "https://other.example/2", T - timedelta(hours=1), 2500)
    shorter = Member(3, "https://other.example/3", T - timedelta(hours=1), 1500)
    assert representative_after_join(current, longer, longest=2000, agency_before=None, agency=None) is None
    assert (
        representative_after_join(current, shorter, longest=2000, agency_before=None, agency=None) == shorter
    )
    assert representative_after_join(current, shorter, longest=None, agency_before=None, agency=None) is None
    # Credited to AP by this copy: members on apnews.com may be in the cluster already.
    assert representative_after_join(current, shorter, longest=2000, agency_before=None, agency="AP") is None
    on_site = Member(4, "https://apnews.com/article/4", T + timedelta(hours=3), 100)
    assert (
        representative_after_join(current, on_site, longest=2000, agency_before="AP", agency="AP") == on_site
    )


def _vector(title, body, df, total):
    counts = term_counts(title, body)
    return vectorize(counts, {t: idf(df.get(t, 0), total) for t in counts}, idf(0, total)).as_dict()


def test_story_vectors_group_write_ups_of_one_event():
    df = {"said": 90, "monday": 80, "port": 20, "crane": 3, "harbour": 4}
    a = _vector("Harbour crane cracked, repairs to take weeks", text(ORIGINAL[:3]), df, 100)
    b = _vector(
        "Cracks found in harbour crane boom",
        "Inspectors at the Harbour Authority found cracks in a crane boom; the crane will be replaced "
        "and the repair will cost millions, the authority said.",
        df,
        100,
    )
    c = _vector("Valley choir prepares for May festival", text(UNRELATED[:3]), df, 100)
    assert cosine(a, b) > cosine(a, c) + 0.1
    assert "crane" in shared_terms(a, b)
    assert abs(cosine(a, a) - 1.0) < 1e-9


def test_boilerplate_paragraphs_are_left_out_of_story_terms():
    footer = (
        "Subscribe to the Ledger for unlimited access to local journalism and the daily crossword puzzle."
    )
    body = ORIGINAL[0] + "\n" + footer
    keys = paragraph_keys(body)
    assert len(keys) == 2
    without = term_counts(None, body, boilerplate=frozenset({keys[1]}))
    assert "crossword" in term_counts(None, body) and "crossword" not in without


def test_a_story_profile_is_the_normalised_mean_of_its_members():
    first = vectorize({"iran": 3.0, "missile": 2.0}, {}, 1.0)
    second = vectorize({"iran": 1.0, "denial": 2.0}, {}, 1.0)
    profile = merge_profile(first.as_dict(), 1, second).as_dict()
    assert set(profile) == {"iran", "missile", "denial"}
    assert abs(sum(w * w for w in profile.values()) - 1.0) < 1e-9
    assert profile["iran"] == max(profile.values())


def test_an_entry_hash_changes_with_the_text_not_with_spacing():
    item = FeedItem(
        key="k",
        guid="g",
        url="https://x.test/1",
        title="Title",
        author=None,
        published=T,
        summary="Summary text",
        content=None,
        language=None,
    )
    same = FeedItem(**{**item.__dict__, "summary": "  Summary\n text "})
    edited = FeedItem(**{**item.__dict__, "title": "Title, updated"})
    redated = FeedItem(**{**item.__dict__, "published": T + timedelta(hours=1)})
    assert entry_hash(item) == entry_hash(same)
    assert len({entry_hash(item), entry_hash(edited), entry_hash(redated)}) == 3


def _shared_dir():
    import os
    from pathlib import Path

    return Path(os.environ.get("MONITOR_SHARED_DIR") or Path(__file__).resolve().parents[2] / "shared")


PROVENANCE = _shared_dir() / "corpora" / "provenance"


def _provenance(name: str) -> dict[str, str]:
    import csv

    csv.field_size_limit(10**8)
    with open(PROVENANCE / f"{name}_articles.csv", encoding="utf-8", newline="") as handle:
        return {row["id"]: row["text"].replace(" ### ", "\n\n") for row in csv.DictReader(handle)}


@pytest.mark.corpus
@pytest.mark.skipif(not PROVENANCE.is_dir(), reason="../shared/corpora/provenance is absent")
def test_real_agency_reprints_are_copies_and_their_agency_is_found():
    from monitor.config import DedupSettings

    threshold = DedupSettings().wire_threshold
    census, spotify = _provenance("census"), _provenance("spotify")
    # Real reprints (row ids of the files): one Reuters story, AP stories with outlets' cuts and credits.
    copies = [
        (census, "761", "16223"),
        (census, "8818", "9990"),
        (census, "8818", "8200"),
        (census, "6190", "12769"),
        (spotify, "1710", "17324"),
        (spotify, "1710", "15231"),
        (spotify, "7885", "14850"),
        (spotify, "3270", "4859"),
    ]
    for rows, a, b in copies:
        assert similarity(rows[a], rows[b]) >= threshold, (a, b)
    # The same event written by two agencies is one story, not one text.
    for rows, a, b in [(census, "761", "8818"), (spotify, "1710", "7885")]:
        assert similarity(rows[a], rows[b]) < 0.2, (a, b)
    found = {
        key: detect_agency(rows[key])
        for rows, keys in ((census, ("761", "8818", "2313", "8200")), (spotify, ("15231", "14850")))
        for key in keys
    }
    assert {key: p.agency if p else None for key, p in found.items()} == {
        "761": "Reuters",
        "8818": "AP",
        "2313": "AP",
        "8200": "AP",
        "15231": "AP",
        "14850": "AP",
    }
