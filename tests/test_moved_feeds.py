"""A feed whose address moved for good (301, 308) is said to have moved, kept so while it redirects, and
moved in feeds.yaml by `monitor feeds --move-redirected`, which a running daemon then applies: it polls the
new address, its articles the same ones. And the other feeds that need a look as they age: two feeds
listing the same news, and `monitor feeds --problems` (feeds served on 127.0.0.1, the real CLI and daemon,
a real database)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from support.httpserver import Route
from support.news import make_entries, rss
from support.waiting import wait_for
from test_daemon import start_daemon, stop

from monitor.config import load_config
from monitor.config.edit import Move, move_feeds
from monitor.errors import MonitorError
from monitor.ingest.urls import is_move

RSS = {"Content-Type": "application/rss+xml"}


def serve_feed(web, path: str, name: str, count: int = 2) -> None:
    # Published in the last hours: a feed that publishes, so that its state is its address's alone.
    entries = [
        replace(entry, published=datetime.now(UTC) - timedelta(hours=n + 1))
        for n, entry in enumerate(make_entries(web, name, count))
    ]
    web.set(path, Route(rss(name, web.url("/"), entries), headers=RSS))


def redirect(web, path: str, to: str, status: int = 301) -> None:
    web.set(path, Route(status=status, headers={"Location": to}))


def config_text(web, *, old: str, moved_to_quoted: bool = False) -> str:
    url = f'"{web.url(old)}"' if moved_to_quoted else web.url(old)
    return (
        "# Feeds of the Iran desk.\n"
        "settings:\n"
        "  host_delay: 0s\n"
        "  extract_workers: 0\n"
        "  timeout: 5s\n"
        "  fetch_pages: false\n"
        "  poll_tick: 0.3s\n"
        "  config_check_every: 0.3s\n"
        "feeds:\n"
        "  - name: Wire\n"
        f"    url: {url}  # the agency's world desk\n"
        "    interval: 1s\n"
        "  - {name: Other, url: " + web.url("/other.xml") + ", interval: 1h}\n"
    )


def test_a_daemon_polls_a_moved_feed_at_its_new_address_once_feeds_yaml_says_so(web, workspace, tmp_path):
    serve_feed(web, "/new.xml", "wire")
    serve_feed(web, "/other.xml", "other")
    redirect(web, "/old.xml", web.url("/new.xml"))
    workspace.config_path.write_text(config_text(web, old="/old.xml"))
    log_path = tmp_path / "daemon.log"
    daemon = start_daemon(workspace, log_path)

    def log() -> str:
        return log_path.read_text(errors="replace")

    try:
        assert wait_for(lambda: "feed=Wire has moved" in log(), timeout=60), log()
        assert wait_for(lambda: len(web.requests_for("/old.xml")) >= 3), log()  # said once, polled on
        assert log().count("feed=Wire has moved") == 1
        rows = {row["name"]: row for row in workspace.json("feeds")}
        assert rows["Wire"]["moved_to"] == web.url("/new.xml") and rows["Other"]["moved_to"] is None
        assert "(moved)" in workspace.cli("feeds").stdout

        moved = workspace.json("feeds", "--move-redirected")
        assert moved == {
            "moved": [{"name": "Wire", "old": web.url("/old.xml"), "new": web.url("/new.xml")}],
            "skipped": [],
        }
        text = workspace.config_path.read_text()
        # Only the address changed: the comments, the flow entry and the rest as the user wrote them.
        assert text == config_text(web, old="/new.xml")

        assert wait_for(lambda: "configuration reloaded" in log(), timeout=30), log()
        old_polls = len(web.requests_for("/old.xml"))
        new_polls = len(web.requests_for("/new.xml"))
        assert wait_for(lambda: len(web.requests_for("/new.xml")) >= new_polls + 3), log()
        # A poll of the old address in flight as the change came may finish; none starts after it.
        assert len(web.requests_for("/old.xml")) <= old_polls + 1
    finally:
        code = stop(daemon)
    assert code == 0, log()
    assert "Traceback" not in log()
    rows = {row["name"]: row for row in workspace.json("feeds")}
    assert rows["Wire"]["url"] == web.url("/new.xml")
    assert rows["Wire"]["moved_to"] is None and rows["Wire"]["moved_since"] is None
    # The same entries under the new address are the articles already stored, not new ones.
    titles = [article["title"] for article in workspace.json("articles")]
    assert len(titles) == len(set(titles)) == 4
    # Nothing left to move: said so, and the file untouched.
    assert "no feed redirects for good" in workspace.cli("feeds", "--move-redirected").stdout
    assert workspace.config_path.read_text() == config_text(web, old="/new.xml")


def test_only_a_permanent_redirect_is_a_move_and_it_is_kept_while_it_lasts(web, workspace):
    serve_feed(web, "/feed.xml", "feed")
    redirect(web, "/moved.xml", web.url("/feed.xml"), status=308)
    redirect(web, "/detour.xml", web.url("/feed.xml"), status=302)
    # A redirect to an address too long to configure is followed, and not offered as the new address.
    long_path = "/long/" + "x" * 2100
    serve_feed(web, long_path, "long")
    redirect(web, "/to-long.xml", web.url(long_path))
    workspace.write_config(
        [
            {"name": name, "url": web.url(path), "fetch_pages": False}
            for name, path in (("Moved", "/moved.xml"), ("Detour", "/detour.xml"), ("Long", "/to-long.xml"))
        ]
    )
    assert [r["outcome"] for r in workspace.json("poll")] == ["ok"] * 3
    rows = {row["name"]: row for row in workspace.json("feeds")}
    assert rows["Moved"]["moved_to"] == web.url("/feed.xml")
    assert rows["Detour"]["moved_to"] is None and rows["Long"]["moved_to"] is None
    since = rows["Moved"]["moved_since"]
    assert since is not None

    # Polled again (a 304 behind the redirect): moved since the first time it was seen so.
    assert [r["outcome"] for r in workspace.json("poll", "--feed", "Moved")] == ["unchanged"]
    assert {row["name"]: row for row in workspace.json("feeds")}["Moved"]["moved_since"] == since

    # The publisher takes the redirect back: no longer moved.
    serve_feed(web, "/moved.xml", "feed")
    workspace.json("poll", "--feed", "Moved")
    row = next(row for row in workspace.json("feeds") if row["name"] == "Moved")
    assert row["moved_to"] is None and row["moved_since"] is None

    # Then moves again, elsewhere: moved since this poll.
    redirect(web, "/moved.xml", web.url("/feed.xml"))
    workspace.json("poll", "--feed", "Moved")
    row = next(row for row in workspace.json("feeds") if row["name"] == "Moved")
    assert datetime.fromisoformat(row["moved_since"]) > datetime.fromisoformat(since)


def test_a_failing_poll_keeps_what_is_known_of_a_move(web, workspace):
    serve_feed(web, "/feed.xml", "feed")
    redirect(web, "/old.xml", web.url("/feed.xml"))
    workspace.write_config([{"name": "Old", "url": web.url("/old.xml"), "fetch_pages": False}])
    workspace.json("poll")
    web.set("/feed.xml", Route(status=503))
    assert [r["outcome"] for r in workspace.json("poll", expect=1)] == ["failed"]
    [row] = workspace.json("feeds")
    assert row["moved_to"] == web.url("/feed.xml") and row["last_error_kind"] == "http_5xx"


# ----------------------------------------------------------------------------------- feeds.yaml


def write(tmp_path, text: str):
    path = tmp_path / "feeds.yaml"
    path.write_text(text)
    return path


def test_a_move_keeps_the_quotes_and_comments_and_quotes_what_needs_it(tmp_path):
    path = write(
        tmp_path,
        "feeds:\n"
        "  - name: A\n"
        '    url: "https://a.example/rss"   # quoted\n'
        "  - name: B\n"
        "    url: 'https://b.example/rss'\n"
        "  - {name: C, url: https://c.example/rss, tags: [x]}\n",
    )
    result = move_feeds(
        path,
        [
            Move("A", "https://a.example/rss", "https://a.example/feed"),
            Move(
                "B", "https://b.example/rss", "https://b.example/feed#all"
            ),  # '#' after a space is a comment
            Move("C", "https://c.example/rss", "https://c.example/feed,all"),  # ',' ends a flow value
        ],
    )
    assert [move.name for move in result.moved] == ["A", "B", "C"] and result.skipped == ()
    assert path.read_text() == (
        "feeds:\n"
        "  - name: A\n"
        "    url: https://a.example/feed   # quoted\n"
        "  - name: B\n"
        '    url: "https://b.example/feed#all"\n'
        '  - {name: C, url: "https://c.example/feed,all", tags: [x]}\n'
    )
    assert [feed.url for feed in load_config(path).feeds] == [
        "https://a.example/feed",
        "https://b.example/feed#all",
        "https://c.example/feed,all",
    ]


def test_a_move_is_skipped_where_the_file_does_not_say_it_plainly(tmp_path):
    text = (
        "feeds:\n"
        "  - name: A\n"
        "    url: ${DESK_FEED:-https://a.example/rss}\n"  # from the environment: not written as it is
        "  - name: B\n"
        "    url: https://b.example/new\n"  # already changed by hand since
        "  - name: C\n"
        "    url: https://c.example/rss\n"
        "  - name: D\n"
        "    url: https://c.example/rss#d\n"
    )
    path = write(tmp_path, text)
    result = move_feeds(
        path,
        [
            Move("A", "https://a.example/rss", "https://a.example/feed"),
            Move("B", "https://b.example/rss", "https://b.example/feed"),
            Move("Gone", "https://g.example/rss", "https://g.example/feed"),
        ],
    )
    assert result.moved == ()
    reasons = {move.name: reason for move, reason in result.skipped}
    assert "not written as a url: value" in reasons["A"]
    assert "no longer https://b.example/rss" in reasons["B"] and "no longer" in reasons["Gone"]
    assert path.read_text() == text


def test_a_move_that_would_not_change_the_address_alone_writes_nothing(tmp_path):
    # The one place the old address is written as a url: value is a comment; the feed's own comes from the
    # environment. Writing over the comment would leave the configuration as it was: refused.
    text = (
        "feeds:\n"
        "  - name: A\n"
        "    # url: https://a.example/rss\n"
        "    url: ${DESK_FEED:-https://a.example/rss}\n"
    )
    path = write(tmp_path, text)
    with pytest.raises(MonitorError, match="would not change those addresses alone"):
        move_feeds(path, [Move("A", "https://a.example/rss", "https://a.example/feed")])
    assert path.read_text() == text


def test_a_move_through_a_linked_feeds_yaml_replaces_the_file_it_names(tmp_path):
    (tmp_path / "deploy").mkdir()
    real = write(tmp_path / "deploy", "feeds:\n  - name: A\n    url: https://a.example/rss\n")
    link = tmp_path / "feeds.yaml"
    link.symlink_to(real)
    assert move_feeds(link, [Move("A", "https://a.example/rss", "https://a.example/feed")]).moved
    assert link.is_symlink() and "https://a.example/feed" in real.read_text()


def test_a_feeds_yaml_that_cannot_be_written_is_said_so(tmp_path, monkeypatch):
    path = write(tmp_path, "feeds:\n  - name: A\n    url: https://a.example/rss\n")

    def refused(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("monitor.config.edit.os.replace", refused)
    with pytest.raises(MonitorError, match="cannot write .*Permission denied") as raised:
        move_feeds(path, [Move("A", "https://a.example/rss", "https://a.example/feed")])
    assert raised.value.hint and "https://a.example/rss" in path.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["feeds.yaml"]  # no temporary file left behind


@pytest.mark.parametrize(
    ("url", "moved_to", "offered"),
    [
        ("http://a.example/rss", "https://a.example/rss", True),  # to TLS: the most common move
        ("https://a.example/rss", "https://b.example/rss", True),
        ("https://a.example/rss", "http://a.example/rss", False),  # dropping TLS is followed, not adopted
        ("http://a.example/rss", "http://a.example/" + "x" * 2100, False),  # too long to configure
        ("http://a.example/rss", None, False),
    ],
)
def test_which_permanent_redirects_are_offered_as_new_addresses(url, moved_to, offered):
    assert is_move(url, moved_to) is offered


def test_a_move_onto_another_feeds_address_is_skipped_and_the_others_are_made(tmp_path):
    path = write(
        tmp_path,
        "feeds:\n"
        "  - {name: A, url: http://a.example/rss}\n"
        "  - {name: B, url: https://a.example/rss}\n"  # A's move: the same feed, configured twice
        "  - {name: C, url: http://c.example/rss}\n"
        "  - {name: D, url: http://d.example/rss}\n",
    )
    result = move_feeds(
        path,
        [
            Move("A", "http://a.example/rss", "https://a.example/rss"),
            Move("C", "http://c.example/rss", "https://c.example/rss"),
            Move("D", "http://d.example/rss", "https://c.example/rss"),  # onto C's new address
        ],
    )
    assert [move.name for move in result.moved] == ["C"]
    reasons = {move.name: reason for move, reason in result.skipped}
    assert "already B's address" in reasons["A"] and "already C's address" in reasons["D"]
    assert [feed.url for feed in load_config(path).feeds] == [
        "http://a.example/rss",
        "https://a.example/rss",
        "https://c.example/rss",
        "http://d.example/rss",
    ]


def test_redirects_that_wander_warn_once(web, workspace):
    """A server whose permanent redirect points somewhere new at every poll (a load balancer's, a hostile
    one's) is warned of once; the feed's new address follows the latest."""
    for n in range(3):
        serve_feed(web, f"/mirror-{n}.xml", "feed")
    workspace.write_config([{"name": "Wander", "url": web.url("/feed.xml"), "fetch_pages": False}])
    warnings = []
    for n in range(3):
        redirect(web, "/feed.xml", web.url(f"/mirror-{n}.xml"))
        polled = workspace.cli("poll")
        warnings += [line for line in polled.stderr.splitlines() if "has moved" in line]
        [row] = workspace.json("feeds")
        assert row["moved_to"] == web.url(f"/mirror-{n}.xml")
    assert len(warnings) == 1 and "/mirror-0.xml" in warnings[0]


def test_feeds_problems_lists_only_the_feeds_that_need_a_look(web, workspace):
    serve_feed(web, "/fine.xml", "fine")
    serve_feed(web, "/new.xml", "moved")
    redirect(web, "/moved.xml", web.url("/new.xml"))
    web.set("/down.xml", Route(status=503))
    old = [
        replace(entry, published=datetime.now(UTC) - timedelta(days=800))
        for entry in make_entries(web, "d", 2)
    ]
    web.set("/dead.xml", Route(rss("dead", web.url("/"), old), headers=RSS))
    feeds = {name: web.url(f"/{name.lower()}.xml") for name in ("Fine", "Moved", "Down", "Dead", "Gone")}
    workspace.write_config([{"name": name, "url": url, "fetch_pages": False} for name, url in feeds.items()])
    workspace.cli("poll", expect=None)
    workspace.write_config(
        [{"name": name, "url": url, "fetch_pages": False} for name, url in feeds.items() if name != "Gone"]
    )
    workspace.cli("poll", expect=None)  # writes the configuration: Gone is no longer configured
    listed = {row["name"] for row in workspace.json("feeds", "--problems")}
    assert listed == {"Moved", "Down", "Dead"}
    table = workspace.cli("feeds", "--problems").stdout
    assert "Feeds needing a look (3 of 4)" in table and "Fine" not in table


def test_two_feeds_listing_the_same_news_are_said_to(web, workspace):
    """An address and its mirror (http and https, a proxy service's copy) configured both: one news polled
    twice. Each says the other lists the same news; a feed sharing a few articles with another does not."""
    entries = [
        replace(entry, published=datetime.now(UTC) - timedelta(hours=n + 1))
        for n, entry in enumerate(make_entries(web, "wire", 6))
    ]
    other = [
        replace(entry, published=datetime.now(UTC) - timedelta(hours=n + 1))
        for n, entry in enumerate(make_entries(web, "own", 4))
    ]
    web.set("/feed.xml", Route(rss("wire", web.url("/"), entries), headers=RSS))
    web.set("/mirror.xml", Route(rss("wire", web.url("/"), entries), headers=RSS))
    web.set("/digest.xml", Route(rss("digest", web.url("/"), other + entries[:2]), headers=RSS))
    names = {"Wire": "/feed.xml", "Mirror": "/mirror.xml", "Digest": "/digest.xml"}
    workspace.write_config([{"name": n, "url": web.url(p), "fetch_pages": False} for n, p in names.items()])
    workspace.cli("poll")
    rows = {row["name"]: row for row in workspace.json("feeds")}
    assert rows["Wire"]["same_news_as"] == {"feed": "Mirror", "shared": 6, "articles": 6}
    assert rows["Mirror"]["same_news_as"] == {"feed": "Wire", "shared": 6, "articles": 6}
    assert rows["Digest"]["same_news_as"] is None  # two of its six: no mirror
    assert {row["name"] for row in workspace.json("feeds", "--problems")} == {"Wire", "Mirror"}
