"""End to end: how soon each feed is polled again follows its publications and the server's cache headers
(feeds served on 127.0.0.1, the real CLI, a real database)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from support.httpserver import Route
from support.inprocess import poll_every_feed, statements_where
from support.news import Entry, rss

RSS = {"Content-Type": "application/rss+xml; charset=utf-8"}
MIN = timedelta(minutes=1)
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)


def entries_every(
    web, prefix: str, gap: timedelta, count: int, *, ago: timedelta = timedelta(0)
) -> list[Entry]:
    """``count`` entries, the newest published ``ago`` + ``gap`` before now, the others ``gap`` apart."""
    now = datetime.now(UTC)
    return [
        Entry(
            slug=f"{prefix}-{i}",
            title=f"Report {prefix} {i}",
            summary=f"Summary of {prefix} {i}.",
            url=web.url(f"/{prefix}/{i}"),
            guid=f"urn:test:{prefix}:{i}",
            published=now - ago - gap * i,
        )
        for i in range(1, count + 1)
    ]


def serve(web, path: str, entries: list[Entry], **headers: str) -> str:
    web.set(path, Route(rss(path, web.url("/"), entries), headers={**RSS, **headers}))
    return web.url(path)


def feed(name: str, url: str, **options) -> dict:
    return {"name": name, "url": url, "fetch_pages": False, **options}  # the schedule needs no page


def test_a_busy_feed_is_polled_sooner_than_a_quiet_one_and_a_cache_lifetime_holds_it_off(web, workspace):
    busy = entries_every(web, "busy", 15 * MIN, 96)  # a day of news, every quarter of an hour
    # Nothing for two weeks. One entry: a backlog stored across a minute's turn would count as two moments.
    quiet = entries_every(web, "quiet", timedelta(days=10), 1, ago=timedelta(days=5))
    workspace.write_config(
        [
            feed("Busy", serve(web, "/busy.xml", busy)),
            feed("Quiet", serve(web, "/quiet.xml", quiet)),
            feed(
                "Cached",
                serve(
                    web,
                    "/cached.xml",
                    entries_every(web, "cached", 15 * MIN, 96),
                    **{"Cache-Control": "public, max-age=7200"},
                ),
            ),
            feed(
                "Fixed", serve(web, "/fixed.xml", entries_every(web, "fixed", 15 * MIN, 96)), interval="10m"
            ),
        ]
    )
    report = {r["feed"]: r for r in workspace.json("poll")}
    assert all(r["outcome"] == "ok" for r in report.values()), report

    def waits() -> dict[str, timedelta]:
        now = datetime.now(UTC)
        return {f["name"]: datetime.fromisoformat(f["next_poll_at"]) - now for f in workspace.json("feeds")}

    wait = waits()
    # 96 publications over the day its listing reaches back (a new feed: the rest of the week was not in
    # view), one every 15 min; sqrt(15 min x 5 min) = 8.7 min. Counted over the whole week, as if it had
    # been watched all week, it would pass for one every 105 min, and be polled every 23.
    assert 8 * MIN < wait["Busy"] <= 9 * MIN
    # Its old entry counts as one publication, when first seen, in a week: sqrt(7 days x 5 min) = 3 h 44 min.
    assert 3 * timedelta(hours=1) + 40 * MIN < wait["Quiet"] <= 3 * timedelta(hours=1) + 45 * MIN
    # As busy as Busy, but the server says its feed stays fresh for two hours.
    assert timedelta(hours=2) - 2 * MIN < wait["Cached"] <= timedelta(hours=2)
    assert 9 * MIN < wait["Fixed"] <= 10 * MIN

    rhythms = {f["name"]: f["rhythm"] for f in workspace.json("feeds")}
    assert rhythms == {
        "Busy": "~96/day, every 9m",
        "Cached": "~96/day, every 9m",
        "Fixed": "fixed 10m",
        "Quiet": "~1/week, every 3h44m",
    }
    table = workspace.cli("feeds").stdout
    assert "rhythm" in table and "fixed 10m" in table
    checked = {f["name"]: f["interval"] for f in workspace.json("check")["feeds"]}
    assert checked == {"Busy": "adaptive", "Quiet": "adaptive", "Cached": "adaptive", "Fixed": "10m"}

    # The quiet feed has news: each new publication brings its next poll forward.
    fresh = entries_every(web, "quiet-news", 20 * MIN, 12)  # the last four hours
    serve(web, "/quiet.xml", fresh + quiet)
    report = {r["feed"]: r for r in workspace.json("poll", "--feed", "Quiet")}
    assert report["Quiet"]["new_articles"] == 12
    # 13 publications in the week now (its old entry shows that its listing reaches back past the week):
    # one every 13 h; sqrt(13 h x 5 min) = 62 min.
    assert 55 * MIN < waits()["Quiet"] <= 63 * MIN


def test_a_feeds_ttl_holds_off_the_polls_after_a_304_too(web, workspace):
    """A feed's <ttl> says how long its readers may wait: the poll after a 304 (or after the same bytes
    again) reads no document, and the last one read in full still holds the next poll off."""
    busy = entries_every(web, "ttl", 15 * MIN, 96)  # busy enough for the minimum interval, but for its TTL
    web.set("/ttl.xml", Route(rss("/ttl.xml", web.url("/"), busy, ttl=120), headers=RSS))
    workspace.write_config([feed("TTL", web.url("/ttl.xml"))])
    for outcome in ("ok", "unchanged", "unchanged"):
        [report] = workspace.json("poll")
        assert report["outcome"] == outcome
        [row] = workspace.json("feeds")
        wait = datetime.fromisoformat(row["next_poll_at"]) - datetime.now(UTC)
        assert timedelta(hours=2) - 2 * MIN < wait <= timedelta(hours=2), (outcome, wait)


def test_feeds_finishing_together_each_learn_their_own_rhythm_from_shared_lookups(web, workspace):
    """Feeds that finish a poll together have their sightings read by one query; each still gets its own."""
    from monitor.config import load_config
    from monitor.store.db import open_database

    per_day = {f"F{n}": n for n in range(1, 13)}  # twelve feeds, 1 to 12 publications a day for a week
    workspace.write_config(
        [
            # The newest half a gap ago: all 7 x n within the week's window.
            feed(name, serve(web, f"/{name}.xml", entries_every(web, name, DAY / n, 7 * n, ago=-DAY / n / 2)))
            for name, n in per_day.items()
        ],
        per_host=12,  # all at once from the one test server, so that they finish together
    )
    config, db = load_config(workspace.config_path), open_database(workspace.database_url)
    lookups = statements_where(db.engine, lambda sql: "feed_id IN (" in sql and "first_seen_at >" in sql)
    reports = list(poll_every_feed(config, db).values())
    db.dispose()
    assert sorted(r.outcome for r in reports) == ["ok"] * 12
    rhythms = {f["name"]: f["rhythm"] for f in workspace.json("feeds")}
    assert {name: rhythm.split(",")[0] for name, rhythm in rhythms.items()} == {
        name: f"~{n}/day" for name, n in per_day.items()
    }, rhythms
    assert 1 <= len(lookups) < len(per_day), f"{len(lookups)} sightings queries for {len(per_day)} feeds"


def test_a_new_wire_feed_is_polled_before_its_listing_turns_over(web, workspace):
    # A wire feed lists its latest 20 entries, one every 2 minutes: its listing reaches back 40 minutes. Its
    # rate is counted over those 40 minutes, not over a week it was not watched (as if it published 20 times
    # a week, it would wait 50 minutes: 25 publications, five of them scrolled out unseen).
    wire = entries_every(web, "wire", 2 * MIN, 20)
    workspace.write_config([feed("Wire", serve(web, "/wire.xml", wire))])
    assert [r["outcome"] for r in workspace.json("poll")] == ["ok"]
    (state,) = workspace.json("feeds")
    wait = datetime.fromisoformat(state["next_poll_at"]) - datetime.now(UTC)
    assert 4 * MIN < wait <= 5 * MIN  # min_interval: it publishes more often than that
    # Counted over the hour that MIN_SPAN makes of its 40 minutes (a minute shorter: its first entry).
    assert state["rhythm"].endswith("every 5m") and 450 <= state["publications_per_day"] <= 500, state


def test_a_listing_that_turned_over_since_the_last_poll_is_polled_again_at_the_minimum(
    web, workspace, caplog
):
    # A quiet feed (ten entries, a day apart, its rate known: every 2 h) breaks news: by its next poll every
    # entry it lists is new, so more may have scrolled out unseen. It is polled again at min_interval.
    old = entries_every(web, "calm", DAY, 10, ago=timedelta(hours=1))
    workspace.write_config([feed("Desk", serve(web, "/desk.xml", old))])
    assert [r["outcome"] for r in workspace.json("poll")] == ["ok"]
    (state,) = workspace.json("feeds")
    assert datetime.fromisoformat(state["next_poll_at"]) - datetime.now(UTC) > timedelta(hours=1)

    breaking = entries_every(web, "breaking", MIN, 10)
    serve(web, "/desk.xml", breaking)
    (report,) = workspace.json("poll")
    assert report["new_articles"] == 10
    (state,) = workspace.json("feeds")
    assert 4 * MIN < datetime.fromisoformat(state["next_poll_at"]) - datetime.now(UTC) <= 5 * MIN

    # One old entry still listed: the listing did not turn over, the rate alone decides.
    serve(web, "/desk.xml", entries_every(web, "more", MIN, 5) + breaking[:1])
    (report,) = workspace.json("poll")
    assert report["new_articles"] == 5
    (state,) = workspace.json("feeds")
    assert datetime.fromisoformat(state["next_poll_at"]) - datetime.now(UTC) > 5 * MIN


def test_a_week_after_the_daemon_was_stopped_a_feed_keeps_the_rate_it_had(web, workspace):
    """A feed publishing every two hours, watched for six days, then the daemon stopped for four: the poll
    that ends the absence finds a listing that turned over. The stretch its listing cannot show is left out
    of the feed's rate, which stays about twelve a day, instead of reading as four quiet days (eight a day,
    and slower polls for the week the window takes to forget them)."""
    import sqlalchemy

    now = datetime.now(UTC)
    stop = now - 4 * DAY
    every = 2 * timedelta(hours=1)
    # Seventy-two entries up to the stop, then the newest twenty a feed lists four days later.
    before = entries_every(web, "before", every, 72, ago=now - stop)
    after = entries_every(web, "after", every, 20, ago=timedelta(hours=1) - every)
    workspace.write_config([feed("Desk", serve(web, "/desk.xml", before))])
    assert [r["outcome"] for r in workspace.json("poll")] == ["ok"]

    # Make that first poll history: the feed watched since ten days ago, each entry seen a minute after it
    # came out, the last poll at the stop, the next one due 25 minutes later.
    engine = sqlalchemy.create_engine(workspace.database_url)
    due = stop + 25 * MIN
    with engine.begin() as connection:
        connection.execute(
            sqlalchemy.text(
                "UPDATE feeds SET created_at = :created, last_polled_at = :stop, last_success_at = :stop, "
                "next_poll_at = :due"
            ),
            {"created": _stored(now - 10 * DAY), "stop": _stored(stop), "due": _stored(due)},
        )
        for entry in before:
            connection.execute(
                sqlalchemy.text(
                    "UPDATE article_feeds SET first_seen_at = :seen WHERE article_id = "
                    "(SELECT id FROM articles WHERE guid = :guid)"
                ),
                {"seen": _stored(entry.published + MIN), "guid": entry.guid},
            )
    engine.dispose()

    serve(web, "/desk.xml", after)
    (report,) = workspace.json("poll")
    assert report["new_articles"] == 20
    (state,) = workspace.json("feeds")
    (spell,) = state["unwatched"]
    # From the due time to the oldest entry the listing still shows: what came between scrolled out unseen.
    assert abs(datetime.fromisoformat(spell["from"]) - due) < timedelta(seconds=1)
    assert abs(datetime.fromisoformat(spell["until"]) - after[-1].published) < timedelta(seconds=1)
    # 36 publications in the three days watched before the stop (the rest of the six are past the week),
    # 20 in the 39 hours the listing shows: 56 in 4.6 days. Counted over the whole week: 8 a day.
    assert 11 < state["publications_per_day"] < 13, state

    # The next poll finds one more, the listing still holding the others: the rate alone decides, and the
    # feed is polled every sqrt(2 h x 5 min) = 24 min, where eight a day would make it 30.
    serve(web, "/desk.xml", entries_every(web, "later", MIN, 1) + after)
    (report,) = workspace.json("poll")
    assert report["new_articles"] == 1
    (state,) = workspace.json("feeds")
    wait = datetime.fromisoformat(state["next_poll_at"]) - datetime.now(UTC)
    assert 22 * MIN < wait <= 26 * MIN, state


def _stored(moment: datetime):
    """A time as the store writes it: naive UTC (monitor.store.models.UTCDateTime)."""
    return moment.astimezone(UTC).replace(tzinfo=None)


def test_news_delay_counts_what_the_schedule_and_a_stuck_feed_add_not_a_backlog_or_a_late_entry(
    web, workspace
):
    """``monitor_news_delay_seconds``: from an entry's publication to its storage, for entries published
    after their feed was last read whole. A first poll's backlog and an entry dated before the last read are
    not the schedule's doing; the day a server's stuck 304 hid news is."""
    from prometheus_client.parser import text_string_to_metric_families
    from sqlalchemy import update

    from monitor.config import load_config
    from monitor.runtime.metrics import PrometheusMetrics
    from monitor.store.db import open_database
    from monitor.store.models import Feed

    stuck = "Mon, 09 Sep 2024 08:00:00 GMT"  # a Last-Modified that never changes: a 304 for ever
    fresh, stale = (
        entries_every(web, "fresh", DAY, 2, ago=3 * DAY),
        entries_every(web, "stale", DAY, 2, ago=3 * DAY),
    )
    serve(web, "/fresh.xml", fresh)
    web.set(
        "/stale.xml", Route(rss("stale", web.url("/"), stale), headers=RSS, etag=False, last_modified=stuck)
    )
    workspace.write_config([feed("Fresh", web.url("/fresh.xml")), feed("Stale", web.url("/stale.xml"))])
    config, db, metrics = (
        load_config(workspace.config_path),
        open_database(workspace.database_url),
        PrometheusMetrics(),
    )

    def read_whole(name: str, ago: timedelta) -> None:
        """As if the feed had last come whole ``ago`` (polls are made here seconds apart)."""
        with db.session() as session:
            session.execute(
                update(Feed).where(Feed.name == name).values(fetched_whole_at=datetime.now(UTC) - ago)
            )

    def delays() -> dict[str, float]:
        text = metrics.exposition()[0].decode()
        return {
            sample.name.rsplit("_", 1)[-1] + sample.labels.get("le", ""): sample.value
            for family in text_string_to_metric_families(text)
            if family.name == "monitor_news_delay_seconds"
            for sample in family.samples
            if sample.labels["via"] == "poll"
        }

    try:
        first = poll_every_feed(config, db, metrics=metrics)
        assert [first[name].new_articles for name in ("Fresh", "Stale")] == [2, 2]
        assert delays()["count"] == 0  # a feed's first read is its backlog

        # The fresh feed was last read an hour ago; since then it published one entry 20 minutes ago, and
        # listed one dated two hours ago (it reached the feed late: the publisher's delay, not ours).
        read_whole("Fresh", timedelta(hours=1))
        now = datetime.now(UTC)
        late = [
            Entry(
                "fresh-new", "Report new", "Summary.", web.url("/fresh/new"), "urn:fresh:new", now - 20 * MIN
            ),
            Entry(
                "fresh-late",
                "Report late",
                "Summary.",
                web.url("/fresh/late"),
                "urn:fresh:late",
                now - 2 * 60 * MIN,
            ),
        ]
        serve(web, "/fresh.xml", late + fresh)
        # The stale feed published too, 23 hours ago; its server answers 304 all the same.
        hidden = Entry(
            "stale-new",
            "Report hidden",
            "Summary.",
            web.url("/stale/new"),
            "urn:stale:new",
            now - 23 * 60 * MIN,
        )
        web.set(
            "/stale.xml",
            Route(rss("stale", web.url("/"), [hidden, *stale]), headers=RSS, etag=False, last_modified=stuck),
        )
        second = poll_every_feed(config, db, metrics=metrics)
        assert (second["Fresh"].new_articles, second["Stale"].outcome) == (2, "unchanged")
        seen = delays()
        assert seen["count"] == 1 and 20 * 60 <= seen["sum"] < 25 * 60, seen
        assert (seen["bucket900.0"], seen["bucket1800.0"]) == (0, 1)

        # A day of 304s later the feed is asked for whole, and its news comes 23 hours late: the metric says so.
        read_whole("Stale", timedelta(hours=25))
        third = poll_every_feed(config, db, metrics=metrics)
        assert (third["Stale"].outcome, third["Stale"].new_articles) == ("ok", 1)
        seen = delays()
        assert seen["count"] == 2 and (seen["bucket43200.0"], seen["bucket86400.0"]) == (1, 2), seen
    finally:
        db.dispose()
    # Each feed's freshness, kept with the links that brought its news in: `monitor feeds` says it.
    rows = {row["name"]: row for row in workspace.json("feeds")}
    assert rows["Fresh"]["news_delays"] == 1 and 20 * 60 <= rows["Fresh"]["news_delay_median"] < 25 * 60
    assert rows["Stale"]["news_delays"] == 1 and 23 * 3600 <= rows["Stale"]["news_delay_median"] < 24 * 3600
    table = workspace.cli("feeds").stdout  # the rhythm's cell wraps: "found in" over "~20m"
    assert table.count("found in") == 2 and ("~20m" in table or "~21m" in table) and "~23h" in table


def test_a_feed_that_answers_but_stopped_publishing_is_shown_silent(web, workspace):
    """A feed that answers every poll but has listed nothing new for ten of its usual gaps fails silently:
    ``monitor feeds`` says since when, and how often it published before."""
    workspace.write_config(
        [
            # Daily for two weeks, then nothing for eleven days (a feed its publisher moved, a stuck cache).
            feed("Stopped", serve(web, "/stopped.xml", entries_every(web, "stopped", DAY, 14, ago=10 * DAY))),
            feed("Daily", serve(web, "/daily.xml", entries_every(web, "daily", DAY, 14, ago=-DAY / 2))),
            # Weekly, the last one eight days ago: late by a day, not silent.
            feed("Weekly", serve(web, "/weekly.xml", entries_every(web, "weekly", 7 * DAY, 3, ago=DAY))),
            # Weekly for ten weeks, then nothing for four: silent (three of its longest gaps), not after ten.
            feed("Gone", serve(web, "/gone.xml", entries_every(web, "gone", 7 * DAY, 10, ago=21 * DAY))),
        ]
    )
    assert [r["outcome"] for r in workspace.json("poll")] == ["ok"] * 4
    rows = {row["name"]: row for row in workspace.json("feeds")}
    stopped = rows["Stopped"]
    last = datetime.fromisoformat(stopped["silent_since"])
    assert timedelta(days=10, hours=23) < datetime.now(UTC) - last < timedelta(days=11, minutes=5)
    assert round(stopped["silent_was_per_day"]) == 1
    assert rows["Daily"]["silent_since"] is None and rows["Weekly"]["silent_since"] is None
    gone = datetime.now(UTC) - datetime.fromisoformat(rows["Gone"]["silent_since"])
    assert timedelta(days=27, hours=23) < gone < timedelta(days=28, minutes=5)
    table = workspace.cli("feeds").stdout
    assert table.count("silent") == 2 and "~1/day)" in table and "~1/week)" in table  # (was ...)


def test_a_feed_dead_when_it_is_added_is_silent_from_its_first_poll(web, workspace):
    """An old subscription list's feed whose newest entry is two years old (its site moved on, its CMS stopped
    updating it) answers every poll: it is shown silent since that entry from its first poll, not a year
    later, and a live feed's old entries (a backlog within the year) are judged by its gaps as before."""
    workspace.write_config(
        [
            feed("Dead", serve(web, "/dead.xml", entries_every(web, "dead", 7 * DAY, 3, ago=730 * DAY))),
            feed("Live", serve(web, "/live.xml", entries_every(web, "live", DAY, 10, ago=HOUR))),
        ]
    )
    polled = workspace.cli("poll", "--json")
    assert [r["outcome"] for r in json.loads(polled.stdout)] == ["ok", "ok"]
    warned = [line for line in polled.stderr.splitlines() if "listed nothing new" in line]
    assert len(warned) == 1 and "feed=Dead has listed nothing new since" in warned[0], polled.stderr
    rows = {row["name"]: row for row in workspace.json("feeds")}
    dead = datetime.now(UTC) - datetime.fromisoformat(rows["Dead"]["silent_since"])
    assert timedelta(days=737) < dead < timedelta(days=738)  # its newest: 730 days and a gap ago
    assert rows["Live"]["silent_since"] is None
    assert "listed nothing new" not in workspace.cli("poll").stderr  # still dead: shown, not warned again
    assert {row["name"]: row for row in workspace.json("feeds")}["Dead"]["silent_since"] == rows["Dead"][
        "silent_since"
    ]


def test_the_daemon_warns_once_of_a_feed_gone_silent_and_keeps_it_so_until_it_publishes(
    web, workspace, caplog
):
    from sqlalchemy import select

    from monitor.config import load_config
    from monitor.runtime.metrics import PrometheusMetrics
    from monitor.store.db import open_database
    from monitor.store.models import Article, ArticleFeed, Feed

    workspace.write_config(
        [
            feed("Stopped", serve(web, "/stopped.xml", entries_every(web, "stopped", DAY, 14, ago=10 * DAY))),
            feed("Weekly", serve(web, "/weekly.xml", entries_every(web, "weekly", 7 * DAY, 3, ago=DAY))),
            # A fixed interval decides when a feed is polled, not whether it publishes.
            feed(
                "Fixed",
                serve(web, "/fixed.xml", entries_every(web, "fixed", DAY / 2, 20, ago=5 * DAY)),
                interval="15m",
            ),
        ]
    )
    config, db, metrics = (
        load_config(workspace.config_path),
        open_database(workspace.database_url),
        PrometheusMetrics(),
    )
    try:
        with caplog.at_level("WARNING", logger="monitor.pipeline"):
            poll_every_feed(config, db, metrics=metrics)
            warned = sorted(r.getMessage() for r in caplog.records if "listed nothing new" in r.getMessage())
            assert [message.split(" has ")[0] for message in warned] == ["feed=Fixed", "feed=Stopped"]
            assert "published ~2/day before" in warned[0] and "published ~1/day before" in warned[1]
            caplog.clear()
            poll_every_feed(config, db, metrics=metrics)  # still silent: said once, shown by `monitor feeds`
            assert not [r for r in caplog.records if "listed nothing new" in r.getMessage()]
        # An alert can follow the count: one silence, counted once.
        assert metrics.registry.get_sample_value("monitor_feeds_gone_silent_total") == 2
        silent = {row["name"]: row["silent_since"] for row in workspace.json("feeds")}
        assert silent["Stopped"] and silent["Fixed"] and silent["Weekly"] is None
        since = datetime.fromisoformat(silent["Stopped"])

        # Over a year on, its last publications are out of the year its gaps are judged from: it is still
        # shown silent since then, its old pace still read from its latest entries however old, and not
        # warned of again. Weekly, which published too rarely to be judged by its gaps, has now had a year
        # without anything: silent at last, and warned of once.
        month = timedelta(days=400)
        with db.session() as session:  # the dates as they would stand a month later, moved back instead
            for link in session.scalars(select(ArticleFeed)):
                link.first_seen_at -= month
            for article in session.scalars(select(Article)):
                article.published_at = article.published_at and article.published_at - month
            for row in session.scalars(select(Feed).where(Feed.silent_since.is_not(None))):
                row.silent_since -= month
            session.commit()
        with caplog.at_level("WARNING", logger="monitor.pipeline"):
            caplog.clear()
            poll_every_feed(config, db, metrics=metrics)
            warned = [r.getMessage() for r in caplog.records if "listed nothing new" in r.getMessage()]
            assert [message.split(" has ")[0] for message in warned] == ["feed=Weekly"], warned
            assert "published" not in warned[0]  # three publications: no pace to speak of
        assert metrics.registry.get_sample_value("monitor_feeds_gone_silent_total") == 3
        rows = {row["name"]: row for row in workspace.json("feeds")}
        assert datetime.fromisoformat(rows["Stopped"]["silent_since"]) == since - month
        assert round(rows["Stopped"]["silent_was_per_day"]) == 1
        assert rows["Weekly"]["silent_since"] is not None and rows["Weekly"]["silent_was_per_day"] is None
        assert workspace.cli("feeds").stdout.count("silent") == 3  # Stopped, Fixed and Weekly

        # It publishes again: no longer silent, and a later silence would be told of anew.
        fresh = entries_every(web, "again", DAY, 1, ago=-DAY + MIN)  # published a minute ago
        serve(web, "/stopped.xml", fresh + entries_every(web, "stopped", DAY, 14, ago=10 * DAY))
        poll_every_feed(config, db, metrics=metrics)
        rows = {row["name"]: row for row in workspace.json("feeds")}
        assert rows["Stopped"]["silent_since"] is None and rows["Fixed"]["silent_since"] is not None
    finally:
        db.dispose()


def test_news_held_back_by_max_entries_per_poll_counts_its_wait(web, workspace):
    """Entries over ``max_entries_per_poll`` wait for the next poll: their delay counts from the read before
    the one that listed them, so what the cap holds back shows in ``monitor_news_delay_seconds``."""
    from sqlalchemy import update

    from monitor.config import load_config
    from monitor.runtime.metrics import PrometheusMetrics
    from monitor.store.db import open_database
    from monitor.store.models import Feed

    serve(web, "/capped.xml", entries_every(web, "old", DAY, 1, ago=DAY))
    workspace.write_config([feed("Capped", web.url("/capped.xml"))], max_entries_per_poll=1)
    config, db, metrics = (
        load_config(workspace.config_path),
        open_database(workspace.database_url),
        PrometheusMetrics(),
    )

    def counted() -> tuple[float | None, float | None]:
        labels = {"via": "poll"}
        return (
            metrics.registry.get_sample_value("monitor_news_delay_seconds_count", labels),
            metrics.registry.get_sample_value("monitor_news_delay_seconds_sum", labels),
        )

    try:
        assert poll_every_feed(config, db, metrics=metrics)["Capped"].new_articles == 1  # the backlog
        with db.session() as session:  # as if that read had been an hour ago
            session.execute(update(Feed).values(fetched_whole_at=datetime.now(UTC) - timedelta(hours=1)))
        # Two entries since, 30 and 20 minutes ago: the poll takes the newer, and the other waits.
        serve(web, "/capped.xml", entries_every(web, "new", 10 * MIN, 2, ago=10 * MIN))
        assert poll_every_feed(config, db, metrics=metrics)["Capped"].new_articles == 1
        count, total = counted()
        assert count == 1 and 20 * 60 <= total < 25 * 60
        assert poll_every_feed(config, db, metrics=metrics)["Capped"].new_articles == 1
        count, total = counted()
        assert count == 2 and (20 + 30) * 60 <= total < 60 * 60, total
    finally:
        db.dispose()


def test_feeds_says_so_when_feeds_yaml_cannot_be_read_for_the_rhythms(web, workspace):
    # An edit breaks the file (the daemon keeps the configuration in force): `monitor feeds` still lists
    # what the database holds, and says that the rhythms are reckoned without the file, which showed a feed
    # polled every 10 minutes as adaptive with no word.
    web.set(
        "/fixed.xml", Route(rss("Fixed", web.url("/"), entries_every(web, "fixed", 15 * MIN, 4)), headers=RSS)
    )
    workspace.write_config([feed("Fixed", web.url("/fixed.xml"), interval="10m")])
    workspace.json("poll")
    assert [f["rhythm"] for f in workspace.json("feeds")] == ["fixed 10m"]
    workspace.config_path.write_text(
        workspace.config_path.read_text().replace("feeds:", "feeds:\n\t- oops", 1)
    )

    result = workspace.cli("feeds")

    assert "Fixed" in result.stdout
    assert "cannot be read" in result.stderr and "default settings" in result.stderr
    assert str(workspace.config_path) in result.stderr.replace("\n", "")


def test_a_feed_never_read_has_no_rhythm_yet(web, workspace):
    # Its polls have all failed: "quiet, every 1d" said it publishes nothing, which nobody knows yet.
    web.set("/down.xml", Route("unavailable", status=503))
    web.set(
        "/up.xml",
        Route(rss("Up", web.url("/"), entries_every(web, "up", timedelta(days=10), 1)), headers=RSS),
    )
    workspace.write_config([feed("Down", web.url("/down.xml")), feed("Up", web.url("/up.xml"))])
    workspace.json("poll")  # one feed read: exit status 0

    rhythms = {f["name"]: f["rhythm"] for f in workspace.json("feeds")}

    assert rhythms["Down"] == "not read yet"
    assert rhythms["Up"].startswith("~1/")
