"""End to end: feeds and pages served on 127.0.0.1, the real CLI, a real database."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import update
from support.httpserver import Route
from support.inprocess import poll_every_feed, statements_where
from support.news import Entry, article_html, make_entries, paragraphs_for, rss
from support.pageretries import make_page_retries_due

from monitor import pipeline as pipeline_module
from monitor.config import load_config
from monitor.runtime.metrics import PrometheusMetrics
from monitor.store.db import open_database
from monitor.store.models import Feed

RSS = {"Content-Type": "application/rss+xml; charset=utf-8"}


def serve_feed(web, path, entries, *, host=None, **route):
    web.set(path, Route(rss("Test feed", web.url("/", host=host), entries), headers=RSS, **route), host=host)
    return web.url(path, host=host)


def by_url(articles):
    return {a["url"]: a for a in articles}


def test_first_poll_stores_every_article_with_its_extracted_body(web, workspace):
    entries = make_entries(web, "world", 5)
    workspace.write_config([{"name": "World", "url": serve_feed(web, "/world.xml", entries)}])

    result = workspace.cli("poll")
    assert "1 ok" in result.stdout and "5 new articles" in result.stdout

    articles = workspace.json("articles")
    assert len(articles) == 5
    stored = by_url(articles)
    for entry in entries:
        article = stored[entry.url]
        assert article["title"] == entry.title
        assert article["guid"] == entry.guid
        assert article["body_source"] == "extracted"
        assert paragraphs_for(entry.slug)[3] in article["body"]
        assert "All rights reserved" not in article["body"]  # boilerplate left out
        assert article["summary"] == entry.summary
        assert article["feeds"] == ["World"]
        assert article["language"] == "en"
        assert article["published_at"] == entry.published.isoformat()
        assert len(article["content_hash"]) == 64


def last_whole_copy_a_day_ago(workspace) -> None:
    """Every feed last came whole 25 hours ago: its next poll asks for it whole again."""
    db = open_database(workspace.database_url, migrate=False)
    try:
        with db.session() as session:
            session.execute(update(Feed).values(fetched_whole_at=datetime.now(UTC) - timedelta(hours=25)))
    finally:
        db.dispose()


def test_second_poll_gets_304_and_stores_nothing(web, workspace):
    entries = make_entries(web, "a", 3)
    workspace.write_config([{"name": "A", "url": serve_feed(web, "/a.xml", entries)}])
    workspace.cli("poll")
    pages_fetched = len([r for r in web.requests if r.path.startswith("/a/")])
    web.clear_requests()

    report = workspace.json("poll")
    assert [(r["feed"], r["outcome"], r["status"], r["new_articles"]) for r in report] == [
        ("A", "unchanged", 304, 0)
    ]
    feed_requests = web.requests_for("/a.xml")
    assert len(feed_requests) == 1 and feed_requests[0].status == 304
    assert feed_requests[0].headers["if-none-match"]
    assert not [r for r in web.requests if r.path.startswith("/a/")]  # no page fetched again
    assert pages_fetched == 3
    assert len(workspace.json("articles")) == 3


def test_last_modified_alone_gives_a_conditional_get(web, workspace):
    entries = make_entries(web, "lm", 2)
    url = serve_feed(web, "/lm.xml", entries, etag=False, last_modified="Mon, 09 Sep 2024 08:00:00 GMT")
    workspace.write_config([{"name": "LM", "url": url}])
    workspace.cli("poll")
    report = workspace.json("poll")
    assert report[0]["outcome"] == "unchanged"
    assert web.requests_for("/lm.xml")[-1].headers["if-modified-since"] == "Mon, 09 Sep 2024 08:00:00 GMT"


def test_a_server_answering_304_to_a_changed_feed_hides_its_news_for_a_day_at_most(web, workspace):
    stuck = "Mon, 09 Sep 2024 08:00:00 GMT"  # a Last-Modified taken from something that never changes
    entries = make_entries(web, "stuck", 2)
    url = serve_feed(web, "/stuck.xml", entries, etag=False, last_modified=stuck)
    workspace.write_config([{"name": "Stuck", "url": url}])
    workspace.cli("poll")
    serve_feed(
        web, "/stuck.xml", make_entries(web, "stuck", 1, start=2) + entries, etag=False, last_modified=stuck
    )
    # Within the day the server's 304 is believed: that is what validators are for.
    assert workspace.json("poll")[0]["outcome"] == "unchanged"
    # A day after the feed last came whole, it is asked for without its validators, and its news is read.
    last_whole_copy_a_day_ago(workspace)
    report = workspace.json("poll")
    assert (report[0]["outcome"], report[0]["new_articles"]) == ("ok", 1)
    whole = web.requests_for("/stuck.xml")[-1]
    assert "if-modified-since" not in whole.headers and whole.status == 200
    # That whole fetch starts the day again: the next poll sends its validators.
    assert workspace.json("poll")[0]["outcome"] == "unchanged"
    assert web.requests_for("/stuck.xml")[-1].headers["if-modified-since"] == stuck


def _counting_parses(monkeypatch) -> list[str]:
    parsed: list[str] = []
    parse = pipeline_module.parse_feed

    def counting(body, **options):
        parsed.append(options["url"])
        return parse(body, **options)

    monkeypatch.setattr(pipeline_module, "parse_feed", counting)
    return parsed


def test_a_feed_without_validators_is_known_unchanged_by_its_bytes_and_read_in_full_daily(
    web, workspace, monkeypatch
):
    """A server that sends neither ETag nor Last-Modified answers every poll with the whole feed: the same
    bytes as last time are not parsed again (nor its entries sorted), a changed document is, and once a day
    the same bytes are read in full all the same (what keeps retention's pruned entries known)."""
    parsed = _counting_parses(monkeypatch)
    entries = make_entries(web, "bare", 3)
    workspace.write_config([{"name": "Bare", "url": serve_feed(web, "/bare.xml", entries, etag=False)}])
    assert workspace.json("poll")[0]["new_articles"] == 3 and len(parsed) == 1
    web.clear_requests()

    report = workspace.json("poll")
    assert [(r["outcome"], r["status"], r["new_articles"]) for r in report] == [("unchanged", 200, 0)]
    assert len(parsed) == 1 and not [r for r in web.requests if r.path.startswith("/bare/")]
    assert "if-none-match" not in web.requests_for("/bare.xml")[-1].headers

    serve_feed(web, "/bare.xml", make_entries(web, "bare", 1, start=3) + entries, etag=False)
    report = workspace.json("poll")
    assert (report[0]["outcome"], report[0]["new_articles"]) == ("ok", 1) and len(parsed) == 2
    assert workspace.json("poll")[0]["outcome"] == "unchanged" and len(parsed) == 2

    last_whole_copy_a_day_ago(workspace)
    report = workspace.json("poll")
    assert (report[0]["outcome"], report[0]["new_articles"]) == ("ok", 0) and len(parsed) == 3
    assert workspace.json("poll")[0]["outcome"] == "unchanged" and len(parsed) == 3


def test_entries_waiting_in_a_document_are_read_from_it_again_though_its_bytes_are_the_same(
    web, workspace, monkeypatch
):
    parsed = _counting_parses(monkeypatch)
    first = make_entries(web, "held", 1)
    url = serve_feed(web, "/held.xml", first, etag=False)
    workspace.write_config([{"name": "Held", "url": url}], max_entries_per_poll=1)
    assert workspace.json("poll")[0]["new_articles"] == 1  # read whole: nothing waits
    # Three new entries, one stored a poll: the document stays the same while two of them wait in it.
    serve_feed(web, "/held.xml", make_entries(web, "held", 3, start=1) + first, etag=False)
    stored = [workspace.json("poll")[0]["new_articles"] for _ in range(3)]
    assert stored == [1, 1, 1] and len(parsed) == 4
    assert workspace.json("poll")[0]["outcome"] == "unchanged" and len(parsed) == 4
    assert len(workspace.json("articles")) == 4


def test_a_feed_that_gains_one_entry_adds_exactly_one_article(web, workspace):
    entries = make_entries(web, "n", 4)
    workspace.write_config([{"name": "N", "url": serve_feed(web, "/n.xml", entries)}])
    workspace.cli("poll")
    web.clear_requests()

    newer = make_entries(web, "n", 1, start=4)
    serve_feed(web, "/n.xml", newer + entries)
    report = workspace.json("poll")
    assert report[0]["outcome"] == "ok" and report[0]["new_articles"] == 1
    assert [r.path for r in web.requests if r.path.startswith("/n/")] == ["/n/4"]
    assert len(workspace.json("articles")) == 5


def test_a_failing_host_does_not_stop_the_others(web, workspace):
    good = make_entries(web, "good", 3, host="127.0.0.3")
    web.set("/broken.xml", Route(status=500), host="127.0.0.2")
    workspace.write_config(
        [
            {"name": "Refused", "url": "http://127.0.0.1:9/feed.xml"},
            {"name": "Broken", "url": web.url("/broken.xml", host="127.0.0.2")},
            {"name": "Good", "url": serve_feed(web, "/good.xml", good, host="127.0.0.3")},
        ]
    )
    report = {r["feed"]: r for r in workspace.json("poll")}
    assert report["Good"]["outcome"] == "ok" and report["Good"]["new_articles"] == 3
    assert report["Refused"]["error_kind"] == "connection"
    assert report["Broken"]["error_kind"] == "http_5xx" and report["Broken"]["status"] == 500

    feeds = {f["name"]: f for f in workspace.json("feeds")}
    assert feeds["Refused"]["last_error_kind"] == "connection"
    assert feeds["Refused"]["consecutive_failures"] == 1
    assert feeds["Broken"]["last_error_kind"] == "http_5xx"
    assert feeds["Good"]["last_error_kind"] is None and feeds["Good"]["articles"] == 3
    # Back-off: a failing feed is next due later than its interval would say.
    next_refused = datetime.fromisoformat(feeds["Refused"]["next_poll_at"])
    assert next_refused > datetime.now(UTC) + timedelta(minutes=29)

    table = workspace.cli("feeds").stdout
    assert "Refused" in table and "failing" in table


def test_retry_after_delays_only_that_feed(web, workspace):
    web.set("/busy.xml", Route(status=429, headers={"Retry-After": "3600"}))
    calm = make_entries(web, "calm", 2)
    workspace.write_config(
        [
            {"name": "Busy", "url": web.url("/busy.xml")},
            {
                "name": "Calm",
                "url": serve_feed(web, "/calm.xml", calm),
                "interval": "10m",
            },  # fixed, to measure
        ]
    )
    report = {r["feed"]: r for r in workspace.json("poll")}
    assert report["Busy"]["error_kind"] == "rate_limited"
    assert report["Calm"]["outcome"] == "ok"

    feeds = {f["name"]: f for f in workspace.json("feeds")}
    held_until = datetime.fromisoformat(feeds["Busy"]["retry_after_until"])
    assert timedelta(minutes=59) < held_until - datetime.now(UTC) <= timedelta(hours=1)
    assert datetime.fromisoformat(feeds["Busy"]["next_poll_at"]) >= held_until
    assert feeds["Calm"]["retry_after_until"] is None
    calm_next = datetime.fromisoformat(feeds["Calm"]["next_poll_at"]) - datetime.now(UTC)
    assert timedelta(minutes=9) < calm_next <= timedelta(minutes=10)

    # Even a manual poll leaves the busy feed alone until the server's time has come.
    report = {r["feed"]: r for r in workspace.json("poll")}
    assert report["Busy"]["outcome"] == "held"
    assert report["Calm"]["outcome"] == "unchanged"
    assert len(web.requests_for("/busy.xml")) == 1


def test_an_oversized_feed_is_refused_and_its_kind_recorded(web, workspace):
    big = make_entries(web, "big", 1) * 1
    body = rss("Big", web.url("/"), big) + "<!--" + "x" * 300_000 + "-->"
    web.set("/big.xml", Route(body, headers=RSS))
    web.set("/stream.xml", Route(stream_bytes=5_000_000, headers=RSS))
    workspace.write_config(
        [
            {"name": "Big", "url": web.url("/big.xml")},
            {"name": "Stream", "url": web.url("/stream.xml")},
        ],
        max_bytes="100KB",
    )
    report = {r["feed"]: r for r in workspace.json("poll", expect=1)}
    assert report["Big"]["error_kind"] == "too_large"
    assert report["Stream"]["error_kind"] == "too_large"
    feeds = {f["name"]: f for f in workspace.json("feeds")}
    assert feeds["Big"]["last_error_kind"] == "too_large"
    assert feeds["Stream"]["articles"] == 0


def test_gone_feed_stops_being_polled_and_says_so(web, workspace):
    web.set("/old.xml", Route(status=410))
    workspace.write_config([{"name": "Old", "url": web.url("/old.xml")}])
    workspace.cli("poll", expect=1)
    report = workspace.json("poll")
    assert report[0]["outcome"] == "held"
    assert len(web.requests_for("/old.xml")) == 1
    feeds = workspace.json("feeds")
    assert feeds[0]["gone_at"] is not None and feeds[0]["last_error_kind"] == "gone"
    assert "gone (410)" in workspace.cli("feeds").stdout


def test_one_article_in_two_feeds_is_stored_once_and_linked_to_both(web, workspace):
    shared = make_entries(web, "shared", 2)
    # The second feed links to the same pages with tracking parameters and its own GUIDs.
    tracked = [
        Entry(
            e.slug,
            e.title,
            e.summary,
            e.url + "?utm_source=rss&utm_medium=feed&fbclid=abc",
            guid=f"other:{e.slug}",
            published=e.published,
        )
        for e in shared
    ]
    workspace.write_config(
        [
            {"name": "First", "url": serve_feed(web, "/first.xml", shared)},
            {"name": "Second", "url": serve_feed(web, "/second.xml", tracked)},
        ]
    )
    workspace.cli("poll", "--feed", "First")
    web.clear_requests()
    report = workspace.json("poll", "--feed", "Second")
    assert report[0]["new_articles"] == 0 and report[0]["linked"] == 2
    assert not [r for r in web.requests if r.path.startswith("/shared/")]
    articles = workspace.json("articles")
    assert len(articles) == 2
    assert all(a["feeds"] == ["First", "Second"] for a in articles)
    assert len(workspace.json("articles", "--feed", "Second")) == 2


def test_a_rel_canonical_naming_another_site_does_not_credit_that_site(web, workspace):
    # A page of one site naming a newsroom's article as its canonical address was stored under it: its
    # words credited to the newsroom, later shown under the newsroom's name with a link to the page.
    newsroom = web.url("/news/real-article", host="127.0.0.2")
    web.set("/fake", article_html("Minister resigns", paragraphs_for("fake"), canonical=newsroom))
    web.set("/news/real-article", article_html("Talks resume", paragraphs_for("real")), host="127.0.0.2")
    fake = Entry("f", "Minister resigns", "s", web.url("/fake"), guid="f")
    real = Entry("r", "Talks resume", "s", newsroom, guid="r")
    workspace.write_config(
        [
            {"name": "Blog", "url": serve_feed(web, "/blog.xml", [fake])},
            {"name": "Newsroom", "url": serve_feed(web, "/news.xml", [real], host="127.0.0.2")},
        ]
    )
    assert sum(r["new_articles"] for r in workspace.json("poll")) == 2
    by_feed = {a["feeds"][0]: a for a in workspace.json("articles")}
    assert (
        by_feed["Blog"]["canonical_url"] == web.url("/fake")
        and by_feed["Blog"]["title"] == "Minister resigns"
    )
    assert by_feed["Newsroom"]["canonical_url"] == newsroom and by_feed["Newsroom"]["title"] == "Talks resume"


def test_rel_canonical_joins_two_links_to_one_article(web, workspace):
    text = paragraphs_for("canon")
    web.set("/story", article_html("Canonical story", text, canonical=web.url("/story")))
    web.set("/amp/story", article_html("Canonical story", text, canonical=web.url("/story")))
    entries = [
        Entry("c1", "Canonical story", "s", web.url("/story"), guid="c1"),
        Entry("c2", "Canonical story (mobile)", "s", web.url("/amp/story"), guid="c2"),
    ]
    workspace.write_config([{"name": "Canon", "url": serve_feed(web, "/canon.xml", entries)}])
    report = workspace.json("poll")
    assert report[0]["new_articles"] == 1
    articles = workspace.json("articles")
    assert len(articles) == 1 and articles[0]["canonical_url"] == web.url("/story")
    # Both entry keys are remembered: the next change of the feed fetches neither page again.
    web.clear_requests()
    serve_feed(web, "/canon.xml", list(reversed(entries)))
    assert workspace.json("poll")[0]["new_articles"] == 0
    assert not web.requests_for("/story") and not web.requests_for("/amp/story")


def test_feed_text_is_used_when_the_page_fails_and_the_reason_kept(web, workspace):
    web.set("/robots.txt", "User-agent: *\nDisallow: /private/\n")
    entries = [
        Entry(
            "missing", "Missing page", "The feed's own summary of the missing page.", web.url("/gone/1"), "m1"
        ),
        Entry(
            "private",
            "Private page",
            "The feed's own summary of the private page.",
            web.url("/private/1"),
            "p1",
        ),
    ]
    web.set("/private/1", article_html("Private", paragraphs_for("private")))
    workspace.write_config([{"name": "Fallback", "url": serve_feed(web, "/fb.xml", entries)}])
    workspace.cli("poll")
    stored = {a["guid"]: a for a in workspace.json("articles")}
    assert stored["m1"]["body_source"] == "feed"
    assert stored["m1"]["body"] == "The feed's own summary of the missing page."
    assert "http_4xx" in stored["m1"]["body_note"]
    assert stored["p1"]["body_source"] == "feed" and "robots.txt" in stored["p1"]["body_note"]
    assert not web.requests_for("/private/1")


def test_a_page_not_up_when_its_entry_came_is_fetched_again(web, workspace):
    # Sites put an entry in their feed minutes before its page is up: a 404 is tried again twice, then left.
    entries = [
        Entry("early", "Early", "The feed's own summary.", web.url("/early/1"), "e1"),
        Entry("dead", "Dead", "A link that stays dead.", web.url("/dead/1"), "d1"),
    ]
    web.set_sequence(
        "/early/1", [Route(status=404), Route(body=article_html("Early", paragraphs_for("early")))]
    )
    web.set("/dead/1", Route(status=404))
    workspace.write_config([{"name": "Early", "url": serve_feed(web, "/early.xml", entries)}])
    workspace.cli("poll")
    stored = {a["guid"]: a for a in workspace.json("articles")}
    assert stored["e1"]["body_source"] == "feed" and stored["e1"]["page_retry_at"] is not None

    for _ in range(3):
        make_page_retries_due(workspace.database_url)
        workspace.cli("poll")
    stored = {a["guid"]: a for a in workspace.json("articles")}
    assert stored["e1"]["body_source"] == "extracted"
    assert paragraphs_for("early")[2] in stored["e1"]["body"]
    assert stored["d1"]["body_source"] == "feed" and stored["d1"]["page_retry_at"] is None
    assert len(web.requests_for("/dead/1")) == 3  # the first fetch and two retries


def test_monitor_feeds_says_when_a_feeds_pages_stop_giving_their_text(web, workspace):
    """A site that starts refusing its pages (a block, a paywall) while its feed answers: its news comes as
    the feed's summaries. ``monitor feeds`` counts the week's articles without their page's text, and why;
    a feed whose pages are not fetched by choice has nothing missing; a page that gives its text on a later
    try no longer counts."""
    blocked = make_entries(web, "blocked", 3)
    web.set("/blocked/1", Route(body="Access denied", status=403))
    web.set("/blocked/2", Route(body="Overloaded", status=503))  # a failure that passes: tried again
    workspace.write_config(
        [
            {"name": "Blocked", "url": serve_feed(web, "/blocked.xml", blocked)},
            {
                "name": "Summaries",
                "url": serve_feed(web, "/sum.xml", make_entries(web, "sum", 2)),
                "fetch_pages": False,
            },
        ]
    )
    metrics = PrometheusMetrics()
    db = open_database(workspace.database_url, migrate=False)
    try:
        poll_every_feed(load_config(workspace.config_path), db, metrics=metrics)
    finally:
        db.dispose()
    # What an alert follows: the share of new articles whose page gave no text, among those that had one.
    bodies = {
        source: metrics.registry.get_sample_value("monitor_article_bodies_total", {"source": source})
        for source in ("page", "feed_fallback", "failed", "no_page")
    }
    assert bodies == {"page": 1, "feed_fallback": 2, "failed": 0, "no_page": 2}
    rows = {row["name"]: row for row in workspace.json("feeds")}
    assert rows["Blocked"]["pages"] == {
        "articles": 3,
        "without_text": 2,
        "reasons": {"page fetch failed (http_4xx)": 1, "page fetch failed (http_5xx)": 1},
    }
    assert rows["Summaries"]["pages"] == {"articles": 2, "without_text": 0, "reasons": {}}
    table = workspace.cli("feeds").stdout  # narrow: a cell's words wrap among the other columns'
    assert table.count("pages:") == 1

    # The overloaded page answers at its retry, on a later poll: one article is left without its text.
    web.set("/blocked/2", article_html("Report blocked-2", paragraphs_for("blocked-2")))
    make_page_retries_due(workspace.database_url)
    workspace.cli("poll")
    [row] = [row for row in workspace.json("feeds") if row["name"] == "Blocked"]
    assert row["pages"] == {"articles": 3, "without_text": 1, "reasons": {"page fetch failed (http_4xx)": 1}}


def test_broken_feed_is_parsed_as_far_as_it_goes_with_a_warning(web, workspace):
    entries = make_entries(web, "br", 2)
    broken = rss("Broken", web.url("/"), entries).replace(
        "</channel></rss>", "<item><title>Cut off</title><item><b>"
    )
    web.set("/broken.xml", Route(broken, headers=RSS))
    web.set("/page.html", article_html("Not a feed", paragraphs_for("nf")))
    workspace.write_config(
        [
            {"name": "Broken", "url": web.url("/broken.xml")},
            {"name": "NotAFeed", "url": web.url("/page.html")},
        ]
    )
    report = {r["feed"]: r for r in workspace.json("poll")}
    assert report["Broken"]["outcome"] == "ok" and report["Broken"]["new_articles"] == 3
    assert "malformed" in report["Broken"]["warning"]
    cut_off = [a for a in workspace.json("articles") if a["title"] == "Cut off"]
    assert cut_off[0]["body_source"] == "failed" and cut_off[0]["body_note"] == "entry has no link"
    assert report["NotAFeed"]["error_kind"] == "not_a_feed"
    feeds = {f["name"]: f for f in workspace.json("feeds")}
    assert "malformed" in feeds["Broken"]["last_warning"]


def test_articles_filters_by_feed_and_since(web, workspace):
    workspace.write_config(
        [
            {"name": "One", "url": serve_feed(web, "/one.xml", make_entries(web, "one", 2))},
            {"name": "Two", "url": serve_feed(web, "/two.xml", make_entries(web, "two", 3))},
        ]
    )
    workspace.cli("poll")
    assert len(workspace.json("articles", "--feed", "Two")) == 3
    assert len(workspace.json("articles", "--since", "1h")) == 5
    assert workspace.json("articles", "--since", "2999-01-01") == []
    assert "Report one-1" in workspace.cli("articles").stdout
    bad = workspace.cli("articles", "--since", "yesterday", expect=2)
    assert "--since" in bad.stderr
    typo = workspace.cli("articles", "--feed", "Tow", expect=2)
    assert "no feed named 'Tow'" in typo.stderr and "'Two'" in typo.stderr
    # A negative limit listed the whole table (SQLite reads it as none), one past 64 bits ended in a traceback.
    for command in ("articles", "stories", "matches", "deliveries"):
        for limit in ("-1", "100000000000000000000"):
            refused = workspace.cli(command, "--limit", limit, expect=2)
            assert "--limit" in refused.stderr and "Traceback" not in refused.stderr, (command, limit)


def test_articles_come_the_last_stored_first_with_both_times_shown(web, workspace):
    # The feed later lists an entry dated the day before: it was stored last, and is listed first, where
    # the table showed its date alone under "published" and looked out of order.
    recent = replace(make_entries(web, "recent", 1)[0], published=datetime.now(UTC) - timedelta(hours=1))
    workspace.write_config([{"name": "One", "url": serve_feed(web, "/one.xml", [recent])}])
    workspace.cli("poll")
    late = replace(make_entries(web, "late", 1)[0], published=datetime.now(UTC) - timedelta(days=1))
    serve_feed(web, "/one.xml", [recent, late])
    workspace.cli("poll")

    listed = workspace.json("articles")
    assert [row["title"] for row in listed] == ["Report late-0", "Report recent-0"]
    table = workspace.cli("articles").stdout
    assert "the last stored first" in table and "stored" in table and "published" in table
    assert table.index("Report late-0") < table.index("Report recent-0")


def test_poll_of_an_unknown_feed_name_is_an_error_with_a_hint(web, workspace):
    workspace.write_config([{"name": "Only", "url": web.url("/x.xml")}])
    result = workspace.cli("poll", "--feed", "Nope", expect=2)
    assert "Nope" in result.stderr and "Only" in result.stderr


def test_a_page_that_failed_for_a_passing_reason_is_fetched_again_later(web, workspace):
    entries = [
        Entry("flaky", "Flaky page", "The feed's own summary of the flaky page.", web.url("/flaky/1"), "f1"),
        Entry(
            "down",
            "Down page",
            "The feed's own summary of the page that stays down.",
            web.url("/down/1"),
            "d1",
        ),
        Entry(
            "missing", "Missing page", "The feed's own summary of the missing page.", web.url("/gone/1"), "g1"
        ),
    ]
    web.set_sequence(
        "/flaky/1", [Route(status=503), Route(body=article_html("Flaky", paragraphs_for("flaky")))]
    )
    web.set("/down/1", Route(status=502))
    web.set("/gone/1", Route(status=403))
    workspace.write_config([{"name": "Retry", "url": serve_feed(web, "/retry.xml", entries)}])
    started = datetime.now(UTC)
    workspace.cli("poll")
    first = {a["guid"]: a for a in workspace.json("articles")}
    assert first["f1"]["body_source"] == "feed" and "http_5xx" in first["f1"]["body_note"]
    retry_at = datetime.fromisoformat(first["f1"]["page_retry_at"])
    assert started + timedelta(minutes=14) < retry_at < datetime.now(UTC) + timedelta(minutes=16)
    assert first["g1"]["page_retry_at"] is None  # a 403 is not tried again

    make_page_retries_due(workspace.database_url)
    web.clear_requests()
    report = workspace.json("poll")
    assert [r["outcome"] for r in report] == ["unchanged"]
    after = {a["guid"]: a for a in workspace.json("articles")}
    assert after["f1"]["body_source"] == "extracted" and paragraphs_for("flaky")[2] in after["f1"]["body"]
    assert after["f1"]["page_retry_at"] is None and after["f1"]["body_note"] is None
    assert after["f1"]["wire_cluster_id"] is not None  # deduplicated again with its new text
    # The page still down waits longer each time; the forbidden one is not asked for again.
    assert after["d1"]["body_source"] == "feed" and after["d1"]["page_retries"] == 1
    assert datetime.fromisoformat(after["d1"]["page_retry_at"]) > datetime.now(UTC) + timedelta(minutes=55)
    assert "after 2 attempts" in after["d1"]["body_note"]
    assert not web.requests_for("/gone/1") and len(web.requests_for("/down/1")) == 1


def test_at_most_concurrency_feeds_are_fetched_ahead_of_sorting_their_entries(web, workspace, monkeypatch):
    # The first poll of many feeds must not fetch and parse them all before any feed's pages are asked for:
    # a feed holds a place in the feed stage (`concurrency` of them) from its fetch until its entries are
    # sorted. Sorting is slowed here so that, without the stage, every feed would be parsed and waiting.
    feeds = [
        {"name": f"Feed {n}", "url": serve_feed(web, f"/f{n}.xml", make_entries(web, f"f{n}", 1))}
        for n in range(8)
    ]
    workspace.write_config(feeds, concurrency=2)
    lock, waiting, most = threading.Lock(), [0], [0]
    parse, sort = pipeline_module.parse_feed, pipeline_module.Pipeline._sort_entries

    def counted_parse(*args, **kwargs):
        with lock:
            waiting[0] += 1
            most[0] = max(most[0], waiting[0])
        return parse(*args, **kwargs)

    def slow_sort(self, sorts):
        time.sleep(0.05)
        try:
            return sort(self, sorts)
        finally:
            with lock:
                waiting[0] -= len(sorts)

    monkeypatch.setattr(pipeline_module, "parse_feed", counted_parse)
    monkeypatch.setattr(pipeline_module.Pipeline, "_sort_entries", slow_sort)

    result = workspace.cli("poll")
    assert "8 ok" in result.stdout and "8 new articles" in result.stdout
    assert 1 <= most[0] <= 2, most[0]


def test_feeds_parsed_together_have_their_entries_sorted_together(web, workspace):
    """Feeds whose entries are sorted at the same moment share the lookups (and one transaction); each still
    gets its own answer: its new entries, the changed one, and the article it shares with another feed."""
    from monitor.config import load_config
    from monitor.store.db import open_database

    entries = {f"F{n}": make_entries(web, f"f{n}", 2) for n in range(10)}
    shared = make_entries(web, "both", 1)
    entries["F0"] += shared
    workspace.write_config(
        [{"name": name, "url": serve_feed(web, f"/{name}.xml", feed)} for name, feed in entries.items()],
        per_host=12,  # all at once from the one test server, so that they are parsed together
    )
    config, db = load_config(workspace.config_path), open_database(workspace.database_url)
    lookups = statements_where(
        db.engine,
        lambda sql: (
            "FROM article_feeds WHERE" in sql and "entry_key IN (" in sql and "entry_hash" not in sql
        ),  # the keys a feed gave before, not what it said of them
    )

    first = poll_every_feed(config, db)
    assert {name: r.new_articles for name, r in first.items()} == {n: 3 if n == "F0" else 2 for n in entries}
    assert 1 <= len(lookups) < len(entries), f"{len(lookups)} entry lookups for {len(entries)} feeds"
    # Each feed changes in its own way: F1 lists F0's shared article too, F2 edits an entry, F3 gains one.
    edited = entries["F2"][0]
    entries["F1"] += shared
    entries["F2"][0] = type(edited)(
        edited.slug,
        edited.title + " (updated)",
        edited.summary,
        edited.url,
        guid=edited.guid,
        published=edited.published,
    )
    entries["F3"] += make_entries(web, "f3", 1, start=2)
    for name in ("F1", "F2", "F3"):
        serve_feed(web, f"/{name}.xml", entries[name])
    web.clear_requests()
    second = poll_every_feed(config, db)
    db.dispose()
    assert (second["F1"].new_articles, second["F1"].linked) == (0, 1)
    assert (second["F2"].new_articles, second["F2"].linked) == (0, 0)
    assert (second["F3"].new_articles, second["F3"].linked) == (1, 0)
    articles = by_url(workspace.json("articles"))
    assert len(articles) == 22
    assert articles[shared[0].url]["feeds"] == ["F0", "F1"]
    # The changed entry's page is read again (it is the same page: the article stays as it was); the shared
    # one, known from F0, is not; nor is any other feed's.
    pages = sorted(
        r.path for r in web.requests if r.path.startswith(("/f", "/both")) and ".xml" not in r.path
    )
    assert pages == ["/f2/0", "/f3/2"]


def test_a_large_feed_document_does_not_hold_up_the_parsing_of_the_others(web, workspace, monkeypatch):
    """A 10 MB document of empty items took 20 s to parse in the one reader thread, every other feed's
    parse queued behind it: a large one is parsed in a thread of its own."""
    parse = pipeline_module.parse_feed
    small_parsed = threading.Event()
    released_by_small = []

    def watched(body, **kwargs):
        if len(body) > pipeline_module.LARGE_FEED_BYTES:
            released_by_small.append(small_parsed.wait(timeout=10))
        else:
            small_parsed.set()
        return parse(body, **kwargs)

    monkeypatch.setattr(pipeline_module, "parse_feed", watched)
    large = make_entries(web, "large", 1)
    large[0] = replace(large[0], summary="padding " * 150_000)  # 1.2 MB of text, first in line
    workspace.write_config(
        [
            {"name": "Large", "url": serve_feed(web, "/large.xml", large)},
            {"name": "Small", "url": serve_feed(web, "/small.xml", make_entries(web, "small", 1), delay=0.5)},
        ],
        per_host=2,
    )
    config, db = load_config(workspace.config_path), open_database(workspace.database_url)
    reports = poll_every_feed(config, db)
    db.dispose()
    assert released_by_small == [True]
    assert {name: report.new_articles for name, report in reports.items()} == {"Large": 1, "Small": 1}
