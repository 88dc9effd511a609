"""A feed that gives its entries new GUIDs under the same addresses (a CMS that puts a timestamp in them, a
site whose RSS became Atom with other ids) lists nothing new: its pages are not fetched again, its articles
are not counted again nor taken for news of other feeds, and it is not polled as a feed whose every entry is
new."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from support.httpserver import Route
from support.news import Entry, article_html, rss

RSS = {"Content-Type": "application/rss+xml; charset=utf-8"}
NOW = datetime.now(UTC).replace(microsecond=0)
SLUGS = ("dam", "strike", "vaccine")


def atom(entries: list[Entry], link: str) -> str:
    items = "".join(
        f"<entry><title>{e.title}</title><link href='{e.url}'/><id>{e.guid}</id>"
        f"<updated>{e.published.isoformat()}</updated><summary>{e.summary}</summary></entry>"
        for e in entries
    )
    return (
        "<?xml version='1.0' encoding='utf-8'?><feed xmlns='http://www.w3.org/2005/Atom'><title>Varn</title>"
        f"<id>urn:varn</id><updated>{NOW.isoformat()}</updated><link href='{link}'/>{items}</feed>"
    )


def entries(web, guid_of) -> list[Entry]:
    listed = []
    for age, slug in enumerate(SLUGS):
        title = f"Kaldoria {slug} report"
        paragraphs = [
            f"Report {n} from Kaldoria on the {slug}, paragraph {n} of four. " * 3 for n in range(4)
        ]
        web.set(f"/news/{slug}", article_html(title, paragraphs, site_name="Varn Times"))
        listed.append(
            Entry(
                slug,
                title,
                paragraphs[0][:80],
                web.url(f"/news/{slug}"),
                guid_of(slug),
                NOW - timedelta(days=3 + age),
            )
        )
    return listed


def pages_fetched(web, since: int) -> list[str]:
    return [r.path for r in web.requests[since:] if r.path.startswith("/news/")]


def test_guids_that_change_at_every_poll_bring_nothing_new(workspace, web):
    workspace.write_config([{"name": "Varn", "url": web.url("/feed.xml")}])
    for poll in range(3):
        listed = entries(web, lambda slug, poll=poll: f"{slug}?ts={poll}")
        web.set("/feed.xml", Route(rss("Varn", web.url("/"), listed), headers=RSS))
        before = len(web.requests)
        result = workspace.cli("poll")

        if poll:
            assert pages_fetched(web, before) == []
            assert "already stored from other feeds" not in result.stdout
    [feed] = workspace.json("feeds")
    assert feed["articles"] == 3
    polled = datetime.fromisoformat(feed["last_polled_at"])
    assert datetime.fromisoformat(feed["next_poll_at"]) - polled > timedelta(minutes=30)  # not min_interval


def test_a_feed_turned_from_rss_to_atom_keeps_its_articles(workspace, web):
    workspace.write_config([{"name": "Varn", "url": web.url("/feed.xml")}])
    web.set(
        "/feed.xml", Route(rss("Varn", web.url("/"), entries(web, lambda s: f"urn:rss:{s}")), headers=RSS)
    )
    workspace.cli("poll")
    listed = entries(web, lambda s: f"tag:varn.example,2026:{s}")
    web.set("/feed.xml", Route(atom(listed, web.url("/")), headers={"Content-Type": "application/atom+xml"}))
    before = len(web.requests)
    result = workspace.cli("poll")
    assert pages_fetched(web, before) == []
    assert "already stored from other feeds" not in result.stdout
    assert len(workspace.json("articles")) == 3
    [feed] = workspace.json("feeds")
    assert feed["articles"] == 3

    # From then on the Atom entries are the feed's: a later correction of one is read as such.
    corrected = [
        Entry(
            e.slug,
            f"CORRECTED: {e.title}" if e.slug == "dam" else e.title,
            e.summary,
            e.url,
            e.guid,
            e.published,
        )
        for e in listed
    ]
    web.set(
        "/feed.xml", Route(atom(corrected, web.url("/")), headers={"Content-Type": "application/atom+xml"})
    )
    workspace.cli("poll")
    titles = {a["title"] for a in workspace.json("articles")}
    assert "CORRECTED: Kaldoria dam report" in titles
