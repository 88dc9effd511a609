"""The address guard: which addresses links from feeds may reach, checked where the connection is made.

End to end, a feed's host is *declared* public for the test: an injected resolver maps ``public.test`` to
127.0.0.1, and an injected classifier counts 127.0.0.1 as public, so that the feed is a public one while
its links point at 127.0.0.2, a loopback address that must then be refused. Nothing leaves 127.0.0.0/8.
"""

from __future__ import annotations

import asyncio
import ipaddress
from datetime import UTC, datetime

import pytest
from support.httpserver import Route
from support.news import Entry, article_html, paragraphs_for, rss
from support.pageretries import make_page_retries_due

from monitor.config import ConfigError, load_config
from monitor.ingest.addressguard import AddressGuard, Reach, embedded_ipv4, ip_literal, non_public_reason
from monitor.ingest.fetch import FailureKind
from monitor.pipeline import Pipeline
from monitor.store.db import open_database
from monitor.store.websub import Subscription

NOT_PUBLIC = {
    "0.0.0.0": "unspecified",
    "::": "unspecified",
    "127.0.0.1": "loopback",
    "2130706433": "loopback",
    "0x7f.1": "loopback",
    "127.1": "loopback",
    "[::1]": "loopback",
    "::ffff:127.0.0.1": "loopback",
    "2002:7f00:1::": "loopback",  # 6to4 around 127.0.0.1
    "64:ff9b::7f00:1": "loopback",  # NAT64 around 127.0.0.1
    "::ffff:169.254.169.254": "link-local",
    "10.1.2.3": "private",
    "172.16.0.1": "private",
    "192.168.1.1": "private",
    "fd00::1": "private",
    "169.254.169.254": "link-local",
    "fe80::1": "link-local",
    "224.0.0.1": "multicast",
    "239.255.255.250": "multicast",
    "ff02::1": "multicast",
    "240.0.0.1": "",  # reserved (Python files it under private too)
    "100.64.0.1": "not globally routable",  # carrier-grade NAT
    "fec0::1": "site-local",
}


@pytest.mark.parametrize("host", sorted(NOT_PUBLIC))
def test_every_non_public_form_is_named(host):
    address = ip_literal(host)
    assert address is not None
    reason = non_public_reason(address)
    assert reason is not None and NOT_PUBLIC[host] in reason


@pytest.mark.parametrize(
    "host", ["93.184.216.34", "2606:4700::1", "::ffff:93.184.216.34", "64:ff9b::5db8:d822"]
)
def test_public_addresses_pass(host):
    assert non_public_reason(ip_literal(host)) is None


def test_names_are_not_literals():
    assert ip_literal("example.com") is None and ip_literal("news.123abc") is None
    assert embedded_ipv4(ipaddress.ip_address("2606:4700::1")) is None


def test_allow_networks_let_a_listed_network_through_in_every_form():
    guard = AddressGuard(["10.1.0.0/16"])
    assert guard.refusal("10.1.2.3", Reach.PUBLIC) is None
    assert guard.refusal("::ffff:10.1.2.3", Reach.PUBLIC) is None
    assert "private" in guard.refusal("10.2.0.1", Reach.PUBLIC)
    assert guard.refusal("10.2.0.1", Reach.ANY) is None


def test_a_name_with_one_private_answer_among_public_ones_is_refused():
    async def resolver(host, port):
        return ["93.184.216.34", "127.0.0.1"]

    from monitor.ingest.addressguard import BlockedAddress

    with pytest.raises(BlockedAddress, match="loopback"):
        asyncio.run(AddressGuard(resolver=resolver).resolve("mixed.test", 80, Reach.PUBLIC))


def test_allow_networks_is_validated_and_shown(workspace):
    workspace.write_config(
        [{"name": "F", "url": "http://127.0.0.1/feed.xml"}], allow_networks=["10.1.0.0/16"]
    )
    assert "10.1.0.0/16" in workspace.cli("check").stdout
    workspace.write_config(
        [{"name": "F", "url": "http://127.0.0.1/feed.xml"}], allow_networks=["10.1.2.3/16"]
    )
    with pytest.raises(ConfigError, match="allow_networks"):
        load_config(workspace.config_path)


# --- end to end ------------------------------------------------------------------------------------------

DECLARED_PUBLIC = ipaddress.ip_address("127.0.0.1")


def test_guard(allow=(), rebinding_host="rebind.test"):
    """A guard for which public.test is 127.0.0.1 and public, and rebind.test answers public once, then not."""
    lookups: dict[str, int] = {}

    async def resolver(host: str, port: int) -> list[str]:
        lookups[host] = lookups.get(host, 0) + 1
        if host == "public.test":
            return ["127.0.0.1"]
        if host == rebinding_host:
            return ["127.0.0.1"] if lookups[host] == 1 else ["127.0.0.2"]
        literal = ip_literal(host)
        assert literal is not None and literal in ipaddress.ip_network("127.0.0.0/8"), host
        return [str(literal)]

    def classify(address):
        return None if address == DECLARED_PUBLIC else non_public_reason(address)

    return AddressGuard(allow, resolver=resolver, classify=classify)


test_guard.__test__ = False  # a helper, not a test


def _poll(workspace, guard):
    config, db = load_config(workspace.config_path), open_database(workspace.database_url)

    async def run():
        async with Pipeline(config, db, guard=guard) as pipeline:
            pipeline.sync_feeds()
            return await pipeline.poll(due_only=False)

    try:
        reports = asyncio.run(run())
        articles = {a["url"]: a for a in workspace.json("articles")}
    finally:
        db.dispose()
    return reports, articles


def _page(web, path, host=None):
    web.set(path, article_html(f"Story {path}", paragraphs_for(path)), host=host)


def test_links_from_a_public_feed_to_loopback_are_refused_and_the_rest_stored(web, workspace):
    port = web.port
    public = f"http://public.test:{port}"
    _page(web, "/a/ok", host="127.0.0.1")
    _page(web, "/a/secret", host="127.0.0.2")
    _page(web, "/a/rebound", host="127.0.0.2")
    web.set(
        "/a/hop",
        Route(status=302, headers={"Location": f"http://127.0.0.2:{port}/a/secret"}),
        host="127.0.0.1",
    )
    links = {
        "ok": f"{public}/a/ok",
        "loopback": f"http://127.0.0.2:{port}/a/secret",
        "hex": f"http://0x7f.2:{port}/a/secret",
        "redirect": f"{public}/a/hop",
        "rebinding": f"http://rebind.test:{port}/a/rebound",
    }
    entries = [
        Entry(name, f"Entry {name}", f"What the feed says of {name}.", url) for name, url in links.items()
    ]
    web.set("/feed.xml", rss("Public", public, entries), host="127.0.0.1")
    workspace.write_config([{"name": "Public", "url": f"{public}/feed.xml"}])

    reports, articles = _poll(workspace, test_guard())

    assert reports[0].outcome == "ok" and reports[0].new_articles == 5
    assert articles[links["ok"]]["body_source"] == "extracted"
    for name in ("loopback", "hex", "redirect", "rebinding"):
        article = articles[links[name]]
        assert article["body_source"] == "feed", name
        assert "blocked_address" in article["body_note"], (name, article["body_note"])
        assert article["page_retry_at"] is None, name  # never retried
    assert "127.0.0.2 is a loopback address" in articles[links["loopback"]]["body_note"]
    # Nothing at all reached 127.0.0.2: not the pages, not their robots.txt, not the redirect's target.
    assert [r.path for r in web.requests if r.host == "127.0.0.2"] == []
    assert web.requests_for("/a/hop")  # the public hop was asked; its target was not


def test_allow_networks_lets_a_listed_network_through(web, workspace):
    port = web.port
    _page(web, "/a/intranet", host="127.0.0.2")
    link = f"http://127.0.0.2:{port}/a/intranet"
    web.set(
        "/feed.xml",
        rss("Public", "http://public.test/", [Entry("i", "Intranet", "Summary.", link)]),
        host="127.0.0.1",
    )
    workspace.write_config(
        [{"name": "Public", "url": f"http://public.test:{port}/feed.xml"}], allow_networks=["127.0.0.2/32"]
    )

    reports, articles = _poll(workspace, test_guard(allow=["127.0.0.2/32"]))

    assert reports[0].outcome == "ok" and articles[link]["body_source"] == "extracted"


def test_a_feed_on_a_private_address_may_link_to_private_addresses(web, workspace):
    _page(web, "/a/neighbour", host="127.0.0.2")
    link = web.url("/a/neighbour", host="127.0.0.2")
    web.set("/feed.xml", rss("Intranet", web.url("/"), [Entry("n", "Neighbour", "Summary.", link)]))
    workspace.write_config([{"name": "Intranet", "url": web.url("/feed.xml")}])

    reports, articles = _poll(workspace, AddressGuard())  # 127.0.0.1 is what it is: not public

    assert reports[0].outcome == "ok" and articles[link]["body_source"] == "extracted"


def test_a_public_feed_redirected_to_loopback_fails_as_blocked_address(web, workspace):
    port = web.port
    web.set(
        "/feed.xml",
        Route(status=301, headers={"Location": f"http://127.0.0.2:{port}/feed.xml"}),
        host="127.0.0.1",
    )
    web.set("/feed.xml", rss("Hidden", "http://x/", []), host="127.0.0.2")
    workspace.write_config([{"name": "Moved", "url": f"http://public.test:{port}/feed.xml"}])

    reports, _ = _poll(workspace, test_guard())

    assert reports[0].outcome == "failed" and reports[0].error_kind == FailureKind.BLOCKED_ADDRESS
    assert web.requests_for("/feed.xml", host="127.0.0.2") == []


def test_discover_on_a_public_site_does_not_fetch_what_it_names_on_private_addresses(web):
    """`monitor discover` is given a site's address; the feeds its page advertises and the sitemaps its
    robots.txt names are that stranger's links, guarded as a feed's links are."""
    from monitor.config.schema import Settings
    from monitor.ingest.discover import discover
    from monitor.ingest.fetchtools import fetcher_for

    port = web.port
    private = f"http://127.0.0.2:{port}"
    web.set(
        "/",
        '<html><head><title>Site</title><link rel="alternate" type="application/rss+xml" '
        f'href="{private}/internal.xml"></head><body>x</body></html>',
        host="127.0.0.1",
    )
    web.set("/robots.txt", f"User-agent: *\nSitemap: {private}/sitemap.xml\n", host="127.0.0.1")
    web.set("/internal.xml", rss("Internal", private, []), host="127.0.0.2")
    web.set("/sitemap.xml", "<urlset><url><loc>http://x.example/a</loc></url></urlset>", host="127.0.0.2")

    async def run():
        async with fetcher_for(Settings(host_delay=0), guard=test_guard()) as fetcher:
            return await discover(f"http://public.test:{port}/", fetcher, max_probes=5)

    found = asyncio.run(run())
    assert not found.feeds and not found.sitemaps
    assert web.requests_for("/internal.xml", host="127.0.0.2") == []
    assert web.requests_for("/sitemap.xml", host="127.0.0.2") == []


def _turning_guard(turned: dict[str, bool]) -> AddressGuard:
    """feed.test and page.test answer 127.0.0.1 (declared public) until ``turned["now"]``, then 127.0.0.2:
    their owner points the names at a private address after the poll (DNS rebinding)."""

    async def resolver(host: str, port: int) -> list[str]:
        if host in ("feed.test", "page.test"):
            return ["127.0.0.2" if turned["now"] else "127.0.0.1"]
        literal = ip_literal(host)
        assert literal is not None, host
        return [str(literal)]

    def classify(address):
        return None if address == DECLARED_PUBLIC else non_public_reason(address)

    return AddressGuard((), resolver=resolver, classify=classify)


def test_pushed_links_and_retried_pages_reach_as_far_as_the_feeds_last_poll_found_not_a_later_lookup(
    web, workspace
):
    """A public feed's owner turns its name to a private address after the poll: a lookup of the feed's host
    made for pushed content or a page retry then granted its links every address, and the private page was
    fetched and stored (to be sent in digests)."""
    port = web.port
    secret = "SECRET intranet page " + " ".join(paragraphs_for("secret"))
    web.set("/a/later", Route("busy", status=503), host="127.0.0.1")  # fails at the poll, for a while
    web.set("/a/later", article_html("Later", [secret]), host="127.0.0.2")
    web.set("/a/pushed", article_html("Pushed", [secret]), host="127.0.0.2")
    later = f"http://page.test:{port}/a/later"
    web.set(
        "/feed.xml",
        rss("Public", "http://feed.test/", [Entry("l", "Later", "What the feed says.", later)]),
        host="127.0.0.1",
    )
    workspace.write_config([{"name": "Public", "url": f"http://feed.test:{port}/feed.xml"}])
    config, db = load_config(workspace.config_path), open_database(workspace.database_url)
    turned = {"now": False}
    pushed = f"http://127.0.0.2:{port}/a/pushed"
    content = rss("Public", "http://feed.test/", [Entry("p", "Pushed", "What the hub says.", pushed)])

    async def run():
        async with Pipeline(config, db, guard=_turning_guard(turned)) as pipeline:
            pipeline.sync_feeds()
            [report] = await pipeline.poll(due_only=False)
            assert report.outcome == "ok" and report.new_articles == 1
            turned["now"] = True
            make_page_retries_due(workspace.database_url)
            retried = await pipeline.retry_pages()
            subscription = Subscription(
                1,
                1,
                "Public",
                "http://hub.test/",
                "http://feed.test/",
                "t",
                "s",
                "active",
                None,
                datetime.now(UTC),
            )
            await pipeline.accept_push(
                subscription, content.encode(), {"content-type": "application/rss+xml"}
            )
            return retried

    try:
        retried = asyncio.run(run())
        articles = {a["url"]: a for a in workspace.json("articles")}
    finally:
        db.dispose()
    assert retried == 0
    assert "blocked_address" in articles[later]["body_note"], articles[later]["body_note"]
    assert "blocked_address" in articles[pushed]["body_note"], articles[pushed]["body_note"]
    assert all("SECRET" not in (a["body"] or "") for a in articles.values())
    assert [r.path for r in web.requests if r.host == "127.0.0.2"] == []
