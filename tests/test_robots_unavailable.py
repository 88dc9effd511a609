"""A robots.txt that cannot be read for a passing reason holds its pages back, truthfully noted, and they
are fetched on the page-retry schedule once it answers; one that disallows is still noted as disallowing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from support.httpserver import Route
from support.news import Entry, article_html, paragraphs_for, rss
from support.pageretries import make_page_retries_due

RSS = {"Content-Type": "application/rss+xml; charset=utf-8"}


def _serve(web, entries):
    web.set("/robots-feed.xml", Route(rss("Feed", web.url("/"), entries), headers=RSS))
    return web.url("/robots-feed.xml")


def test_a_robots_txt_answering_503_holds_the_page_back_until_a_retry(web, workspace):
    entry = Entry("held", "Held page", "The feed's own summary of the held page.", web.url("/held/1"), "h1")
    web.set("/held/1", Route(body=article_html("Held", paragraphs_for("held"))))
    web.set_sequence("/robots.txt", [Route(status=503), Route(body="User-agent: *\nAllow: /\n")])
    workspace.write_config([{"name": "Held", "url": _serve(web, [entry])}])
    started = datetime.now(UTC)

    workspace.cli("poll")
    [first] = workspace.json("articles")
    assert first["body_source"] == "feed" and first["body"] == entry.summary
    assert first["body_note"] == "robots.txt unavailable (http_5xx); page not fetched yet"
    assert "disallows" not in first["body_note"]
    retry_at = datetime.fromisoformat(first["page_retry_at"])
    assert started + timedelta(minutes=14) < retry_at < datetime.now(UTC) + timedelta(minutes=16)
    assert not web.requests_for("/held/1")  # not fetched while robots.txt could not be read

    make_page_retries_due(workspace.database_url)
    workspace.cli("poll")
    [after] = workspace.json("articles")
    assert after["body_source"] == "extracted" and paragraphs_for("held")[2] in after["body"]
    assert after["body_note"] is None and after["page_retry_at"] is None
    assert len(web.requests_for("/held/1")) == 1


def test_a_robots_txt_that_stays_down_is_tried_on_the_schedule_and_one_that_disallows_is_not(web, workspace):
    down = Entry(
        "down",
        "Down page",
        "The feed's own summary of the page behind a dead robots.txt.",
        web.url("/down/1"),
        "d1",
    )
    workspace.write_config([{"name": "Down", "url": _serve(web, [down])}])
    web.set("/robots.txt", Route(status=429))
    workspace.cli("poll")
    make_page_retries_due(workspace.database_url)
    workspace.cli("poll")
    [article] = workspace.json("articles")
    assert article["page_retries"] == 1
    assert article["body_note"] == (
        "robots.txt unavailable (rate_limited); page not fetched yet (after 2 attempts)"
    )
    assert datetime.fromisoformat(article["page_retry_at"]) > datetime.now(UTC) + timedelta(minutes=55)


def test_a_robots_txt_that_disallows_is_noted_so_and_not_retried(web, workspace):
    entry = Entry(
        "private",
        "Private page",
        "The feed's own summary of a page robots.txt disallows.",
        web.url("/private/1"),
        "p1",
    )
    web.set("/robots.txt", "User-agent: *\nDisallow: /private/\n")
    workspace.write_config([{"name": "Private", "url": _serve(web, [entry])}])
    workspace.cli("poll")
    [article] = workspace.json("articles")
    assert article["body_note"] == "robots.txt disallows fetching the page"
    assert article["page_retry_at"] is None


def test_a_sitemap_behind_a_robots_txt_answering_503_is_not_said_to_be_disallowed(web, workspace):
    web.set("/robots.txt", Route(status=503))
    web.set("/news.xml", Route(body="<urlset><url><loc>" + web.url("/a/1") + "</loc></url></urlset>"))
    workspace.write_config([{"name": "Agency", "url": web.url("/news.xml"), "kind": "sitemap"}])
    workspace.cli("poll", expect=1)
    [feed] = workspace.json("feeds")
    assert feed["last_error_kind"] == "http_5xx"
    assert "robots.txt unavailable" in feed["last_error"] and "disallows" not in feed["last_error"]
