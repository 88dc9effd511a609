"""A front page's article whose page failed at first keeps the link's text as its title after the
retry fetched the page."""

from support.httpserver import Route
from support.news import article_html, paragraphs_for
from support.pageretries import make_page_retries_due
from test_e2e_sources import FRONT_PAGE


def test_front_page_title_after_page_retry(web, workspace):
    path = "/world/2024/09/09/talks-resume-in-geneva"
    web.set_sequence(
        path, [Route(status=503), Route(body=article_html("Headline 0", paragraphs_for("front-0")))]
    )
    links = f'<h2><a href="{path}">Read more</a></h2>'
    web.set("/front", FRONT_PAGE.format(links=links))
    workspace.write_config([{"name": "Front", "url": web.url("/front"), "kind": "page"}])
    workspace.json("poll")
    (first,) = workspace.json("articles")
    print("first:", first["title"], first["body_source"])
    make_page_retries_due(workspace.database_url)
    workspace.json("poll")
    (after,) = workspace.json("articles")
    assert after["body_source"] == "extracted"
    assert after["title"] == "Headline 0", after["title"]
