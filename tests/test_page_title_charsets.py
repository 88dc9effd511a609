"""The titles of a site's front page (``monitor discover``) and of a ``page`` source's links are read in the
charset pages are read in: a UTF-8 page is UTF-8 whatever its server's default label says, and a page with
no label in its own HTML is read in the charset its header names."""

from __future__ import annotations

from support.httpserver import Route

from monitor.ingest.listing import parse_listing

TITLE = "Вечерние новости – Политика"
LINKS = "".join(
    f'<li><a href="/politics/2024/09/{i}-talks-resume">Переговоры возобновились, день {i}</a></li>'
    for i in range(8)
)
FRONT = f"<!DOCTYPE html><html><head><title>{TITLE}</title></head><body><ul>{LINKS}</ul></body></html>"


def test_a_utf8_listing_labelled_with_a_servers_default_charset_keeps_its_titles():
    body = FRONT.replace("<head>", '<head><meta charset="utf-8">').encode()
    parsed = parse_listing(
        body, url="https://vecher.example/", headers={"content-type": "text/html; charset=ISO-8859-1"}
    )
    assert parsed.title == TITLE
    assert parsed.items[0].title == "Переговоры возобновились, день 0"


def test_a_legacy_charset_page_is_still_read_in_its_label():
    body = FRONT.encode("windows-1251")
    parsed = parse_listing(
        body, url="https://vecher.example/", headers={"content-type": "text/html; charset=windows-1251"}
    )
    assert parsed.title == TITLE


def test_discover_names_a_site_by_its_title_as_its_header_says(web, workspace):
    # UTF-8 named by the header alone, as most servers send it: no <meta charset> in the page.
    web.set("/", Route(body=FRONT, headers={"Content-Type": "text/html; charset=utf-8"}))
    workspace.write_config([])
    report = workspace.json("discover", web.url("/"), "--max-probes", "0")
    assert report["title"] == TITLE
    assert [entry["name"] for entry in report["entries"]] == [TITLE]


def test_discover_reads_a_utf8_page_labelled_latin1_as_utf8(web, workspace):
    web.set("/", Route(body=FRONT, headers={"Content-Type": "text/html; charset=ISO-8859-1"}))
    workspace.write_config([])
    report = workspace.json("discover", web.url("/"), "--max-probes", "0")
    assert report["title"] == TITLE
    assert [entry["name"] for entry in report["entries"]] == [TITLE]
