"""End to end: how soon each feed is polled again follows its publications and the server's cache headers
(feeds served on 127.0.0.1, the real CLI, a real database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from support.httpserver import Route
from support.inprocess import poll_every_feed, statements_where
from support.news import Entry, rss

RSS = {"Content-Type": "application/rss+xml; charset=utf-8"}
MIN = timedelta(minutes=1)
DAY = timedelta(days=1)


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
    # 96 publications in the week's window: ~13.7 a day, one every 105 min; sqrt(105 min x 5 min) = 23 min.
    assert 20 * MIN < wait["Busy"] <= 23 * MIN
    # Its old entry counts as one publication, when first seen, in a week: sqrt(7 days x 5 min) = 3 h 44 min.
    assert 3 * timedelta(hours=1) + 40 * MIN < wait["Quiet"] <= 3 * timedelta(hours=1) + 45 * MIN
    # As busy as Busy, but the server says its feed stays fresh for two hours.
    assert timedelta(hours=2) - 2 * MIN < wait["Cached"] <= timedelta(hours=2)
    assert 9 * MIN < wait["Fixed"] <= 10 * MIN

    rhythms = {f["name"]: f["rhythm"] for f in workspace.json("feeds")}
    assert rhythms == {
        "Busy": "~14/day, every 23m",
        "Cached": "~14/day, every 23m",
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
    # 13 publications in the week now: one every 13 h; sqrt(13 h x 5 min) = 62 min.
    assert 55 * MIN < waits()["Quiet"] <= 63 * MIN


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
