"""Composing a digest from stored material is pure: outlets named by publisher, the headline from an original,
write-ups and wire copies apart, one story once under its best topic, updates summed up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.dedupe.outlets import outlet_domain, outlet_name
from monitor.digest.content import View, build_content, excerpt, find_words
from monitor.store.deliveries import ItemRef
from monitor.store.digests import Material, Sent, StoredArticle, StoredMatch

T0 = datetime(2026, 3, 2, 6, tzinfo=UTC)
VIEW = View(
    "digest", "email", ("digest",), 0.0, 10, {"arms": "Iran–Russia arms", "caspian": "Caspian shipping"}
)


def art(
    id_: int,
    url: str,
    *,
    title: str = "",
    site: str | None = None,
    story: int | None = 1,
    cluster: int | None = None,
    hours: float = 0,
    body: str = "Officials said missiles were shipped.",
) -> StoredArticle:
    return StoredArticle(
        id_,
        url,
        title or f"Title {id_}",
        site,
        T0 + timedelta(hours=hours),
        T0 + timedelta(hours=hours, minutes=5),
        body,
        story,
        cluster,
    )


def match(article_id: int, score: float, topic: str = "arms", words=("missiles",)) -> StoredMatch:
    return StoredMatch(article_id, topic, score, {"terms": [{"hits": [{"text": w} for w in words]}]})


def content(articles, matches, items, *, representatives=None, sent=None, view=VIEW, sizes=None):
    material = Material(
        {a.id: a for a in articles}, tuple(matches), representatives or {}, sizes or {}, sent or {}
    )
    return build_content(
        material,
        name="morning",
        timezone="UTC",
        view=view,
        items=[ItemRef(i, None, "arms") for i in items],
        period=T0 + timedelta(days=1),
    )


def test_outlets_are_publishers_not_feeds_or_hosts():
    assert outlet_name("https://www.bbc.co.uk/news/1", None) == "bbc.co.uk"
    assert outlet_name("https://edition.cnn.com/x", None) == outlet_name("https://www.cnn.com/y", None)
    assert outlet_name("https://x.example/1", "  The   Guardian ") == "The Guardian"
    assert outlet_domain("http://127.0.0.2:8080/a") == "127.0.0.2:8080"
    assert outlet_name("https://x.example/1", "N" * 300).endswith("…")


def test_the_headline_is_the_original_never_the_reprint_and_copies_count_apart():
    original = art(
        1, "https://agency.test/a", title="Agency: missiles shipped", site="Wire Agency", cluster=7, hours=0
    )
    reprint = art(
        2,
        "https://courier.test/b",
        title="Sign up! Missiles shipped",
        site="The Courier",
        cluster=7,
        hours=-1,
    )  # published earlier, and scoring higher: still a reprint
    other = art(3, "https://observer.test/c", title="Observer write-up", site="Observer", cluster=8, hours=2)
    built = content(
        [original, reprint, other],
        [match(1, 50), match(2, 90), match(3, 40)],
        [1, 2, 3],
        representatives={7: 1, 8: 3},
    )
    [section] = built.sections
    [story] = section.items
    assert story.headline == "Agency: missiles shipped" and story.outlet == "Wire Agency"
    assert [(r.outlet, r.url) for r in story.writeups] == [("Observer", "https://observer.test/c")]
    assert [(c.outlet, c.url) for c in story.copies] == [("The Courier", "https://courier.test/b")]
    assert story.article_ids == (1, 2, 3) and story.score == 90 and story.coverage is None


def test_one_url_is_listed_once():
    a = art(1, "https://agency.test/a", cluster=7)
    b = art(2, "https://agency.test/a", cluster=7)  # one address stored twice (two feeds, before canonical)
    c = art(3, "https://other.test/c", cluster=9)
    d = art(4, "https://other.test/c", cluster=9)
    [story] = (
        content([a, b, c, d], [match(1, 5)], [1, 2, 3, 4], representatives={7: 1, 9: 3}).sections[0].items
    )
    urls = [story.url, *(r.url for r in story.writeups), *(c.url for c in story.copies)]
    assert sorted(urls) == ["https://agency.test/a", "https://other.test/c"]


def test_a_story_of_two_topics_comes_once_under_its_best_topic_naming_both():
    a = art(1, "https://a.test/1")
    b = art(2, "https://b.test/2", cluster=3)
    built = content([a, b], [match(1, 30, "arms"), match(1, 60, "caspian"), match(2, 20, "arms")], [1, 2])
    [section] = built.sections
    assert section.name == "caspian" and section.topic == "Caspian shipping"
    [story] = section.items
    assert story.topics == ("Caspian shipping", "Iran–Russia arms")


def test_a_story_with_earlier_reports_sent_here_is_an_update_summed_up():
    day1 = [art(1, "https://a.test/1", site="A", hours=0), art(2, "https://b.test/2", site="B", hours=1)]
    day2 = [
        art(3, "https://c.test/3", site="C", hours=24, title="Denial"),
        art(4, "https://b.test/4", site="B", hours=25, title="Ministry statement"),
    ]
    sent = {
        1: (Sent("digest", "email", T0 + timedelta(hours=20)),),
        2: (Sent("digest", "email", T0 + timedelta(hours=20)),),
    }
    built = content([*day1, *day2], [match(3, 40), match(1, 50)], [3, 4], sent=sent, sizes={1: 4})
    [story] = built.sections[0].items
    assert story.is_update and story.headline == "Denial" and story.article_ids == (3, 4)
    assert [r.title for r in story.writeups] == ["Ministry statement"]
    assert story.coverage.reports == 4 and story.coverage.outlets == 3
    assert story.coverage.first_reported == T0 and story.coverage.last_sent == T0 + timedelta(hours=20)
    assert built.updates == 1 and built.headline_count() == "1 update"


def test_sent_on_another_channel_is_no_update_here_and_an_alert_is_marked():
    earlier, new = art(1, "https://a.test/1"), art(2, "https://b.test/2", hours=3)
    sent = {1: (Sent("digest", "slack", T0),), 2: (Sent("alert", "slack", T0 + timedelta(hours=4)),)}
    [story] = content([earlier, new], [match(2, 70)], [2], sent=sent).sections[0].items
    assert story.coverage is not None and not story.is_update
    assert story.alerted_at == T0 + timedelta(hours=4)


def test_a_preview_counts_nothing_as_sent():
    view = View("digest", None, ("digest",), 0.0, 10, {})
    sent = {1: (Sent("digest", "email", T0),)}
    [story] = (
        content(
            [art(1, "https://a.test/1"), art(2, "https://b.test/2", hours=1)],
            [match(2, 5)],
            [2],
            sent=sent,
            view=view,
        )
        .sections[0]
        .items
    )
    assert not story.is_update and story.alerted_at is None


def test_excerpt_marks_whole_words_that_made_the_match_and_is_given_clean_text():
    text = "Missiles shipped. The important part: missiles arrived.\nSign up for our newsletter."
    found = excerpt(text, None, {"terms": [{"hits": [{"text": "missiles"}, {"text": "port"}]}]})
    assert found.text.startswith("Missiles shipped.")
    marked = [found.text[a:b] for a, b in found.highlights]
    assert marked == ["Missiles", "missiles"]  # "port" inside "important" is not a word of its own
    assert find_words("arms farms arms.", ["arms"]) == ((0, 4), (11, 15))


def test_the_excerpt_leaves_out_outlet_boilerplate_learnt_or_by_pattern():
    from monitor.dedupe.boilerplate import paragraph_keys, strip_boilerplate

    footer = (
        "The Courier is an independent newspaper owned by its readers since 1911, read in print and online."
    )
    body = (
        "Sign up for the Courier's morning briefing in your inbox.\n" + footer + "\n"
        "Tehran shipped missiles to Moscow, officials said."
    )
    learnt = frozenset(paragraph_keys(footer))
    found = excerpt(strip_boilerplate(body, learnt), None, {})
    assert found.text == "Tehran shipped missiles to Moscow, officials said."


def test_items_past_the_cap_are_counted_and_still_delivered():
    view = View("digest", "email", ("digest",), 0.0, 2, {})
    articles = [art(i, f"https://o{i}.test/{i}", story=None, hours=i) for i in range(1, 6)]
    built = content(articles, [match(i, i) for i in range(1, 6)], range(1, 6), view=view)
    [section] = built.sections
    assert [i.score for i in section.items] == [5, 4] and section.more == 3
    assert sorted(built.article_ids) == [1, 2, 3, 4, 5]


def test_a_big_story_lists_a_few_write_ups_and_copies_and_counts_the_rest():
    writeups = [
        art(i, f"https://w{i}.test/{i}", site=f"W{i}", cluster=100 + i, hours=i) for i in range(1, 21)
    ]
    copies = [
        art(100 + i, f"https://c{i}.test/{i}", site=f"C{i}", cluster=101, hours=30 + i) for i in range(30)
    ]
    built = content(
        [*writeups, *copies],
        [match(1, 9)],
        [a.id for a in [*writeups, *copies]],
        representatives={100 + i: i for i in range(1, 21)},
    )
    [story] = built.sections[0].items
    assert len(story.writeups) == 8 and story.more_writeups == 11
    assert len(story.copies) == 12 and story.copy_count == 30
    assert len(story.article_ids) == 50  # all delivered, a few listed
    from monitor.digest.notify.render import render

    digest = render(built)
    assert "Other write-ups (19):" in digest.text and "and 11 more write-ups" in digest.text
    assert "Wire copy carried by 30 more outlets:" in digest.text and "and 18 more" in digest.html


def test_an_outlet_is_counted_once_whether_or_not_its_page_named_it():
    """A page whose extraction failed has no og:site_name: its outlet was counted as another."""
    articles = [
        art(1, "https://www.herald.test/1", site="The Herald", hours=-5),
        art(2, "https://herald.test/2", site=None),  # its page failed: the feed's text, no name
        art(3, "https://wire.test/3", site="Wire", cluster=None, hours=1),
    ]
    [story] = content(articles, [match(2, 9), match(3, 5)], [2, 3]).sections[0].items
    assert story.coverage is not None and (story.coverage.reports, story.coverage.outlets) == (3, 2)
    # And named as the outlet's other page names it, not by its address beside "The Herald".
    assert story.outlet == "The Herald"


def test_each_write_up_s_wire_copies_are_counted_beside_it_not_under_the_lead():
    """Reprints of another write-up, listed under the lead's headline, read as copies of a text they did
    not carry."""
    articles = [
        art(1, "https://lead.test/1", site="Lead", cluster=201),
        art(2, "https://copy.test/2", site="Lead copy", cluster=201, hours=1),
        art(3, "https://other.test/3", site="Other", cluster=202, hours=2),
        art(4, "https://r4.test/4", site="Reprint A", cluster=202, hours=3),
        art(5, "https://r5.test/5", site="Reprint B", cluster=202, hours=4),
        art(6, "https://old.test/6", site="Old", cluster=203, hours=-20),  # sent before
        art(7, "https://r7.test/7", site="Reprint C", cluster=203, hours=5),
    ]
    built = content(
        articles,
        [match(1, 9), match(3, 5)],
        [1, 2, 3, 4, 5, 7],
        representatives={201: 1, 202: 3, 203: 6},
        sent={6: (Sent("digest", "email", T0 - timedelta(hours=20)),)},  # the ledger says so
    )
    [story] = built.sections[0].items
    assert story.url == "https://lead.test/1"
    assert [copy.url for copy in story.copies] == ["https://copy.test/2"]
    assert [(w.url, w.carried_by) for w in story.writeups] == [
        ("https://other.test/3", 2),
        ("https://old.test/6", 1),
    ]
    assert story.article_ids == (1, 2, 3, 4, 5, 7)
    from monitor.digest.notify.render import render

    digest = render(built)
    assert "Wire copy carried by 1 more outlet:" in digest.text
    assert "Title 3 (wire copy carried by 2 more outlets)" in digest.text
    # The write-up sent before is listed again for its new copy alone: said so, not read as news.
    assert [w.sent_before for w in story.writeups] == [False, True]
    assert "Title 6 (sent before; reprinted since by 1 more outlet)" in digest.text
    assert "(sent before; reprinted since by 1 more outlet)" in digest.html
    assert "sent before; reprinted since by 1 more outlet" in str(digest.slack[0].payload)


def test_the_feeds_not_heard_from_are_the_gone_the_failing_for_a_day_and_the_silent_newest_gap_first():
    from monitor.digest.content import FAILING_FOR, MAX_QUIET_SOURCES, source_health
    from monitor.store.feeds import FeedHealth

    now = datetime(2026, 12, 6, 7, tzinfo=UTC)
    day = timedelta(days=1)

    def feed(name, **state):
        values = {
            "created_at": now - 30 * day,
            "last_success_at": now - day / 24,
            "failing": False,
            "last_error_kind": None,
            "gone_at": None,
            "silent_since": None,
        }
        return FeedHealth(name, **(values | state))

    feeds = [
        feed("Fine"),
        feed("Blip", failing=True, last_error_kind="timeout"),  # failing for an hour: not yet
        feed("Down", failing=True, last_error_kind="http_5xx", last_success_at=now - FAILING_FOR - day / 24),
        feed("Never", failing=True, last_error_kind="dns", last_success_at=None, created_at=now - 3 * day),
        feed("Fresh", failing=True, last_error_kind="dns", last_success_at=None, created_at=now - day / 2),
        feed("Gone", failing=True, gone_at=now - 10 * day),
        feed("Silent", silent_since=now - 40 * day),
        # Silent before it started failing: failing is what its readers need to know now.
        feed("Both", failing=True, last_success_at=now - 2 * day, silent_since=now - 90 * day),
    ]
    health = source_health(feeds, now=now)
    assert health.feeds == 8 and health.more == 0
    assert [(s.name, s.state) for s in health.quiet] == [
        ("Down", "failing"),  # its gap began 25 hours ago
        ("Both", "failing"),
        ("Never", "failing"),  # since it was added, three days ago
        ("Gone", "gone"),
        ("Silent", "silent"),
    ]
    assert health.quiet[0].since == now - FAILING_FOR - day / 24 and health.quiet[0].detail == "http_5xx"
    assert health.quiet[2].since is None  # never a success: none to name
    many = source_health([feed(f"S{n}", silent_since=now - n * day) for n in range(1, 9)], now=now)
    assert [s.name for s in many.quiet] == [f"S{n}" for n in range(1, MAX_QUIET_SOURCES + 1)]
    assert many.more == 8 - MAX_QUIET_SOURCES and many.quiet_count == 8
    assert source_health([feed("Fine")], now=now).quiet == ()


def test_a_round_up_naming_another_topic_does_not_carry_the_story_off_to_it():
    # Ten obituaries of one man, and one morning round-up in the same story ("X has died. And, talks on Y"):
    # the round-up scores higher on the other topic, but the story is the obituaries' and is headed by one.
    obituaries = [
        art(i, f"https://paper{i}.test/obit", title=f"Obituary {i}", cluster=i) for i in range(1, 11)
    ]
    roundup = art(
        11, "https://radio.test/roundup", title="X has died. And, Caspian talks", cluster=11, hours=1
    )
    matches = [match(i, 70, "arms") for i in range(1, 11)] + [match(11, 70, "arms"), match(11, 85, "caspian")]
    built = content(
        [*obituaries, roundup], matches, list(range(1, 12)), representatives={i: i for i in range(1, 12)}
    )
    [section] = built.sections
    assert section.name == "arms"
    [story] = section.items
    assert story.headline != "X has died. And, Caspian talks"
    assert set(story.topics) == {"Caspian shipping", "Iran–Russia arms"}


def test_a_story_whose_source_gave_no_date_shows_when_it_was_found_as_such():
    """Shown with its fetch time as if published: a 2018 article whose date could not be read read as
    today's news."""
    from dataclasses import replace as changed

    from monitor.digest.notify.render import render

    undated = changed(art(1, "https://undated.test/1", site="Undated"), published_at=None)
    built = content([undated], [match(1, 9)], [1])
    [story] = built.sections[0].items
    assert story.undated and story.published_at == undated.fetched_at
    digest = render(built)
    assert "Undated · found " in digest.text and "Undated · found " in digest.html
    assert " · found " in str(digest.slack[0].payload)
    dated = render(content([art(2, "https://dated.test/2", site="Dated")], [match(2, 9)], [2]))
    assert "Dated · found" not in dated.text
