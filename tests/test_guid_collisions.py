"""A GUID is a feed's name for its entry, not the article's name across the web: an entry of one site whose
GUID another site's feed used first (by chance, "42", or on purpose, to have it dropped) is stored as the
article it is, while two feeds of one site, or an aggregator naming the publisher's address, still share one
article."""

from __future__ import annotations

from support.httpserver import Route
from support.news import Entry, article_html, paragraphs_for, rss

RSS = {"Content-Type": "application/rss+xml"}


def _serve(web, path: str, host: str, title: str, entries: list[Entry]) -> dict:
    web.set(path, Route(rss(title, web.url("/", host=host), entries), headers=RSS), host=host)
    return {"name": title, "url": web.url(path, host=host)}


def test_another_sites_entry_under_a_guid_already_used_is_stored(web, workspace):
    blog, ministry = web.hosts[0], web.hosts[1]
    web.set("/post", article_html("A blog post", paragraphs_for("blog")), host=blog)
    web.set("/news/1", article_html("The ministry's statement", paragraphs_for("ministry")), host=ministry)
    feeds = [
        _serve(
            web,
            "/blog.xml",
            blog,
            "Blog",
            [Entry("p", "A blog post", "Blog.", web.url("/post", host=blog), "42")],
        ),
    ]
    workspace.write_config(feeds)
    workspace.cli("poll")
    feeds.append(
        _serve(
            web,
            "/feed.xml",
            ministry,
            "Ministry",
            [Entry("s", "The ministry's statement", "Statement.", web.url("/news/1", host=ministry), "42")],
        )
    )
    workspace.write_config(feeds)
    workspace.cli("poll")

    articles = {a["url"]: a for a in workspace.json("articles")}
    statement = articles[web.url("/news/1", host=ministry)]
    assert statement["title"] == "The ministry's statement" and statement["feeds"] == ["Ministry"]
    assert articles[web.url("/post", host=blog)]["feeds"] == ["Blog"]


def test_feeds_of_one_site_and_an_aggregator_naming_the_address_still_share_the_article(web, workspace):
    site, aggregator = web.hosts[0], web.hosts[1]
    address = web.url("/news/1", host=site)
    web.set("/news/1", article_html("Missiles shipped", paragraphs_for("shipped")), host=site)
    web.set("/r/1", Route(status=404), host=aggregator)
    world = _serve(
        web, "/world.xml", site, "World", [Entry("w", "Missiles shipped", "Text.", address, address)]
    )
    workspace.write_config([world])
    workspace.cli("poll")
    # The same site's other feed lists the article under its GUID, at an address of its own; an aggregator
    # names the publisher's address as its GUID and links through itself.
    top_link = web.url("/news/1?section=top", host=site)
    top = _serve(web, "/top.xml", site, "Top", [Entry("t", "Missiles shipped", "Text.", top_link, address)])
    via = web.url("/r/1", host=aggregator)
    agg = _serve(
        web, "/agg.xml", aggregator, "Aggregator", [Entry("a", "Missiles shipped", "Text.", via, address)]
    )
    workspace.write_config([world, top, agg])
    workspace.cli("poll")

    [article] = workspace.json("articles")
    assert article["url"] == address and sorted(article["feeds"]) == ["Aggregator", "Top", "World"]
