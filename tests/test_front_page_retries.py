"""Page retries of a front page's articles: the page's headline replaces the link's text, and a retry waits
for its feed's reach to be known."""

import asyncio

from sqlalchemy import update
from support.httpserver import Route
from support.news import article_html, paragraphs_for
from support.pageretries import make_page_retries_due
from test_e2e_sources import FRONT_PAGE

from monitor.config import load_config
from monitor.pipeline import Pipeline
from monitor.store.db import open_database
from monitor.store.models import Feed

PATH = "/world/2024/09/09/talks-resume-in-geneva"


def _front_page_whose_article_fails_first(web, workspace, *, published: str | None = None) -> None:
    page = article_html("Headline 0", paragraphs_for("front-0"))
    if published:
        page = page.replace(
            "<title>", f'<meta property="article:published_time" content="{published}"><title>'
        )
    web.set_sequence(PATH, [Route(status=503), Route(body=page)])
    web.set("/front", FRONT_PAGE.format(links=f'<h2><a href="{PATH}">Read more</a></h2>'))
    workspace.write_config([{"name": "Front", "url": web.url("/front"), "kind": "page"}])
    workspace.json("poll")
    (first,) = workspace.json("articles")
    assert first["body_source"] != "extracted" and first["title"] == "Read more"


def test_front_page_title_after_page_retry(web, workspace):
    # The retry's page kept the link's text as the title ("Read more").
    _front_page_whose_article_fails_first(web, workspace)
    make_page_retries_due(workspace.database_url)
    workspace.json("poll")
    (after,) = workspace.json("articles")
    assert after["body_source"] == "extracted"
    assert after["title"] == "Headline 0", after["title"]


def test_an_undated_article_takes_its_page_s_date_when_the_page_comes_at_last(web, workspace):
    # A front page dates no link: the article's date is its page's, which a retry had left unread.
    _front_page_whose_article_fails_first(web, workspace, published="2024-09-09T07:30:00+00:00")
    assert workspace.json("articles")[0]["published_at"] is None
    make_page_retries_due(workspace.database_url)
    workspace.json("poll")
    (after,) = workspace.json("articles")
    assert after["body_source"] == "extracted"
    assert after["published_at"].startswith("2024-09-09")  # the page's address dates it to the day


def test_a_page_retry_waits_for_its_feed_s_reach_to_be_recorded(web, workspace):
    """After the upgrade that records a feed's reach, until its next poll: judged as a public feed's link,
    a link of a feed on a private address was refused, and its page given up for good."""
    _front_page_whose_article_fails_first(web, workspace)
    db = open_database(workspace.database_url)
    with db.session() as session:
        session.execute(update(Feed).values(links_reach=None))  # as the upgrade leaves it
    make_page_retries_due(workspace.database_url)
    config = load_config(workspace.config_path)

    async def retry() -> int:
        async with Pipeline(config, db) as pipeline:
            return await pipeline.retry_pages()

    try:
        requests = len(web.requests_for(PATH))
        assert asyncio.run(retry()) == 0 and len(web.requests_for(PATH)) == requests  # it waits
        (waiting,) = workspace.json("articles")
        assert "blocked_address" not in (waiting["body_note"] or "") and waiting["page_retry_at"] is not None
        workspace.json("poll")  # the feed's poll records its reach; the retry then goes
        make_page_retries_due(workspace.database_url)
        assert asyncio.run(retry()) == 1
    finally:
        db.dispose()
    (after,) = workspace.json("articles")
    assert after["body_source"] == "extracted"
