"""On a breaking story, outlets reprint an agency's text for hours after it was alerted. An alert pings the
channel for news: a reprint of a text the channel already carried is none, so it waits for the digest, which
counts it among the story's wire copies. A new write-up of the story is still alerted at once.

Real feeds and pages on loopback hosts, the real CLI polling them, the alert runner and the digest posting to
a local Slack receiver."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import yaml
from support.httpserver import LocalWebServer, Route, free_loopback_hosts
from support.news import Entry, article_html, rss

from monitor.config import load_config
from monitor.digest.runner import DigestRunner, alert_period
from monitor.store.db import open_database

RSS = {"Content-Type": "application/rss+xml; charset=utf-8"}
NOW = datetime.now(UTC).replace(microsecond=0)
AGENCY = (
    "Dam bursts above Dravina, flooding the lower town",
    [
        "The Korlin dam above Dravina burst early on Monday after a week of heavy rain, sending a wall of water "
        "through the lower town and cutting the only road to the valley, the regional governor said.",
        "Rescue crews in boats took more than four hundred residents from the roofs of flooded houses near the "
        "river market, and the army sent two helicopters from the garrison at Selmar to search the farms.",
        "Engineers had warned in a report last spring that the spillway of the Korlin dam could not carry a "
        "flood of the size forecast for this autumn, according to a copy seen by the agency.",
    ],
)
WRITE_UP = (
    "Dravina counts the cost as flood waters recede",
    [
        "Shopkeepers in Dravina shovelled mud from their floors on Tuesday as the flood water drained back into "
        "the river, leaving cars piled against the bridge and a smell of diesel over the market square.",
        "The mayor said the town's water works would stay shut for a week and asked residents to boil water. "
        "Insurers sent assessors, and the national railway ran buses in place of the washed-out branch line.",
    ],
)
OUTLETS = ["Wire Agency", "The Courier", "Valley Post", "Evening Star"]


def serve(web: LocalWebServer, pages: dict[int, list[tuple[str, str, list[str]]]]) -> list[dict]:
    """Each outlet's feed listing its pages (slug, title, paragraphs); the feeds to configure."""
    feeds = []
    for index, site in enumerate(OUTLETS):
        host = web.hosts[index]
        entries = []
        for n, (slug, title, paragraphs) in enumerate(pages.get(index, [])):
            web.set(f"/news/{slug}", article_html(title, paragraphs, site_name=site), host=host)
            url = web.url(f"/news/{slug}", host=host)
            entries.append(
                Entry(slug, title, paragraphs[0][:120], url, f"urn:{slug}", NOW - timedelta(minutes=n))
            )
        web.set("/feed.xml", Route(rss(site, web.url("/", host=host), entries), headers=RSS), host=host)
        feeds.append({"name": site, "url": web.url("/feed.xml", host=host)})
    return feeds


def reprint(site: str) -> tuple[str, list[str]]:
    """The agency's text under the reprinting outlet's own headline, header and footer."""
    return f"{AGENCY[0]} ({site})", [f"{site} staff and agencies.", *AGENCY[1], "Read more: world news."]


@pytest.fixture
def web():
    with LocalWebServer(hosts=free_loopback_hosts(4)) as server:
        server.set("/robots.txt", "User-agent: *\nAllow: /\n")
        server.set("/hooks/slack", Route(body="ok"))
        yield server


def configure(workspace, feeds: list[dict], slack_url: str) -> None:
    workspace.write_config(feeds)
    digest = {
        "name": "desk",
        "schedule": "0 7 * * *",
        "lookback": "1d",
        "channels": {"slack": {"webhook_url": slack_url}},
        "alerts": {"min_score": 0, "channels": ["slack"]},
    }
    watchlist = {"topics": [{"name": "dravina", "query": "Dravina AND (dam OR flood*)"}]}
    with workspace.config_path.open("a", encoding="utf-8") as file:
        file.write(yaml.safe_dump({"watchlist": watchlist, "digests": [digest]}, sort_keys=False))


def alert(workspace, database_url, minutes: int):
    """The alert check of ``minutes`` from now, as the daemon runs it."""
    db = open_database(database_url)
    try:
        runner = DigestRunner(db, load_config(workspace.config_path).digests[0], owner="test")
        now = datetime.now(UTC) + timedelta(minutes=minutes)
        [outcome] = runner.run(kind="alert", period=alert_period(timedelta(minutes=1), now), now=now)
    finally:
        db.dispose()
    return outcome


def test_reprints_of_an_alerted_text_wait_for_the_digest(workspace, web, database_url):
    hook = web.url("/hooks/slack")
    pages = {0: [("agency", *AGENCY)]}
    configure(workspace, serve(web, pages), hook)
    workspace.cli("poll")
    assert alert(workspace, database_url, 0).status == "sent"
    assert len(web.requests_for("/hooks/slack")) == 1

    # Two outlets reprint the agency's text: nothing new to alert the desk to.
    pages |= {
        1: [("courier-reprint", *reprint("The Courier"))],
        2: [("post-reprint", *reprint("Valley Post"))],
    }
    configure(workspace, serve(web, pages), hook)
    workspace.cli("poll")
    reprints = [
        web.url("/news/courier-reprint", host=web.hosts[1]),
        web.url("/news/post-reprint", host=web.hosts[2]),
    ]
    assert alert(workspace, database_url, 1).status == "empty"
    assert len(web.requests_for("/hooks/slack")) == 1

    # A write-up of its own is news: alerted at once, without the reprints.
    pages |= {3: [("star-write-up", *WRITE_UP)]}
    configure(workspace, serve(web, pages), hook)
    workspace.cli("poll")
    outcome = alert(workspace, database_url, 2)
    assert outcome.status == "sent" and outcome.articles == 1
    alerted = web.requests_for("/hooks/slack")[-1].body.decode()
    assert "star-write-up" in alerted and not any(url in alerted for url in reprints)

    # The digest carries the reprints, counted as the alerted text's wire copies.
    result = workspace.cli("digest", "desk", "--send-now")
    assert "slack: sent" in result.stdout, result.stdout
    digest = json.loads(web.requests_for("/hooks/slack")[-1].body)
    text = "\n".join(block["text"]["text"] for block in digest["blocks"] if block["type"] == "section")
    assert "Wire copy carried by 2 more outlets" in text and all(url in text for url in reprints)
