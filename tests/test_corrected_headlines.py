"""A headline corrected in the feed hours after its entry was first read ("CORRECTED: ..."), the text
unchanged: the stored article takes the corrected title, which digests show from then on and topics match
on; a date bumped on the same text changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import yaml
from support.httpserver import Route
from support.news import Entry, article_html, rss

RSS = {"Content-Type": "application/rss+xml; charset=utf-8"}
NOW = datetime.now(UTC).replace(microsecond=0)
TITLE = "Kaldoria opens the Varn river dam after twelve years of works"
CORRECTED = "CORRECTED: Kaldoria opens the Varn river dam after eleven years of works"
PARAGRAPHS = [
    "The Varn river dam in northern Kaldoria opened on Monday after eleven years of construction, flooding a "
    "valley of four villages whose families were moved to new homes near the capital.",
    "Engineers said the turbines would supply a third of the country's electricity by next winter, while "
    "farmers downstream warned that the reservoir had already cut the spring floods they rely on.",
    "The opposition called for an inquiry into the cost, which tripled during the works.",
]


def publish(web, title: str, published: datetime) -> None:
    web.set("/news/dam", article_html(title, PARAGRAPHS, site_name="Varn Times"))
    entry = Entry("dam", title, PARAGRAPHS[0][:100], web.url("/news/dam"), "urn:varn:dam", published)
    web.set("/feed.xml", Route(rss("Varn Times", web.url("/"), [entry]), headers=RSS))


def configure(workspace, web) -> None:
    workspace.write_config([{"name": "Varn Times", "url": web.url("/feed.xml")}])
    watchlist = {"topics": [{"name": "corrections", "query": "CORRECTED"}]}
    digest = {"name": "morning", "schedule": "0 7 * * *", "timezone": "UTC", "channels": {}}
    with workspace.config_path.open("a", encoding="utf-8") as file:
        file.write(yaml.safe_dump({"watchlist": watchlist, "digests": [digest]}, sort_keys=False))


def test_a_corrected_headline_replaces_the_stored_title(workspace, web, tmp_path):
    configure(workspace, web)
    publish(web, TITLE, NOW - timedelta(hours=5))
    workspace.cli("poll")
    publish(web, CORRECTED, NOW - timedelta(hours=5))
    workspace.cli("poll")

    [article] = workspace.json("articles")
    assert article["title"] == CORRECTED and article["revisions"] == 1
    assert [m["topic"] for m in workspace.json("matches")] == ["corrections"]
    preview = tmp_path / "morning.html"
    workspace.cli("digest", "morning", "--preview", str(preview))
    html = preview.read_text(encoding="utf-8")
    assert "after eleven years" in html and "after twelve years" not in html


def test_a_date_bumped_on_the_same_text_is_no_revision(workspace, web):
    configure(workspace, web)
    publish(web, TITLE, NOW - timedelta(hours=5))
    workspace.cli("poll")
    publish(web, TITLE, NOW - timedelta(minutes=5))
    workspace.cli("poll")

    [article] = workspace.json("articles")
    assert article["title"] == TITLE and article["revisions"] == 0
    assert workspace.json("matches") == []
