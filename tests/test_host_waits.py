"""A wait for one host's turn holds nothing another host needs; the limits on requests still hold exactly.

Timing checks assert orderings and lower bounds (sleeps never end early); where an upper bound is used,
its margin is many times what the work takes, so a busy machine does not break them.
"""

from __future__ import annotations

import asyncio
import time

import httpx
from support.httpserver import LocalWebServer, Route, free_loopback_hosts
from support.news import article_html, make_entries, paragraphs_for, rss

from monitor.ingest import politeness
from monitor.ingest.fetch import Fetcher
from monitor.ingest.pagebuffer import PageBuffer
from monitor.ingest.politeness import HostGate, Turn
from monitor.runtime.metrics import Metrics

TOLERANCE = 0.02  # seconds of slack on lower bounds
RSS = {"Content-Type": "application/rss+xml; charset=utf-8"}


def serve_feed(web, path, entries, *, host):
    web.set(path, Route(rss("Test feed", web.url("/", host=host), entries), headers=RSS), host=host)
    return web.url(path, host=host)


def page_requests(web, host):
    return sorted(r.at for r in web.requests if r.host == host and r.path.startswith("/p"))


def test_on_turn_is_awaited_once_the_turn_has_come_and_kept():
    async def main():
        gate = HostGate(concurrency=2, delay=0.3)
        buffer = PageBuffer(1)
        taken_at = []

        async def one():
            place = buffer.place()

            async def take():
                await place.take()
                taken_at.append(time.monotonic())

            async with gate.slot("a.example", on_turn=take):
                pass
            return place

        first = await one()
        assert buffer.taken == 1  # kept after the slot: the caller gives it back
        first.give_back()
        started = time.monotonic()
        waiting = asyncio.ensure_future(one())
        await asyncio.sleep(0.1)
        assert buffer.taken == 0  # waiting for the host's spacing holds no place
        second = await waiting
        second.give_back()
        return started, taken_at

    started, taken_at = asyncio.run(main())
    assert taken_at[1] - taken_at[0] >= 0.3 - TOLERANCE
    assert taken_at[1] >= started


def test_a_page_waiting_for_its_hosts_delay_holds_no_place_and_no_global_slot():
    # One place in the page buffer and one global slot: while a.example's second page waits out its
    # 2-second Crawl-delay, b.example's pages are fetched one after another all the same.
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"<html>page</html>", headers={"Content-Type": "text/html"})

    async def main():
        gate = HostGate(concurrency=2, delay=0)
        gate.set_crawl_delay("a.example", 2.0)
        buffer = PageBuffer(1)
        fetched: dict[str, float] = {}
        async with Fetcher(
            user_agent="test", concurrency=1, gate=gate, transport=httpx.MockTransport(answer)
        ) as fetcher:

            async def page(url):
                async with buffer.place() as place:
                    result = await fetcher.fetch(url, place=place)
                    assert result.ok and place.held
                    fetched[url] = time.monotonic()
                    await asyncio.sleep(0.01)  # the page's extraction

            await page("http://a.example/1")
            slow = asyncio.ensure_future(page("http://a.example/2"))
            await asyncio.sleep(0.05)
            async with asyncio.timeout(1.5):  # far less than a.example's 2 s: nothing of it is held
                for n in range(5):
                    await page(f"http://b.example/{n}")
            await slow
        return fetched

    fetched = asyncio.run(main())
    assert fetched["http://a.example/2"] - fetched["http://a.example/1"] >= 2.0 - TOLERANCE
    assert max(fetched[f"http://b.example/{n}"] for n in range(5)) < fetched["http://a.example/2"]


def test_the_page_buffer_bounds_pages_held_at_once():
    async def answer(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.02)
        return httpx.Response(200, content=b"<html>page</html>")

    async def main():
        buffer = PageBuffer(3)
        peak = 0
        async with Fetcher(
            user_agent="test",
            concurrency=8,
            gate=HostGate(concurrency=2, delay=0),
            transport=httpx.MockTransport(answer),
        ) as fetcher:

            async def page(url):
                nonlocal peak
                async with buffer.place() as place:
                    result = await fetcher.fetch(url, place=place)
                    peak = max(peak, buffer.taken)
                    await asyncio.sleep(0.02)  # extraction
                    return result.ok

            results = await asyncio.gather(*(page(f"http://h{n % 6}.example/{n}") for n in range(30)))
        return results, peak, buffer.taken

    results, peak, left = asyncio.run(main())
    assert all(results)
    assert peak == 3 and left == 0


def test_a_host_with_a_crawl_delay_does_not_hold_up_another_hosts_pages(web, workspace):
    # Two hosts ask for 2 s between requests, one asks nothing. With a single global slot the two slow
    # hosts' waiting pages would fill every page slot if waits held them; they must not: the fast host's
    # pages are all fetched before either slow host's second page.
    slow, fast = web.hosts[:2], web.hosts[2]
    feeds = []
    for n, host in enumerate(slow):
        web.set("/robots.txt", "User-agent: *\nCrawl-delay: 2\n", host=host)
        feeds.append(
            {
                "name": f"slow{n}",
                "url": serve_feed(web, f"/slow{n}.xml", make_entries(web, f"p{n}", 3, host=host), host=host),
            }
        )
    feeds.append(
        {
            "name": "fast",
            "url": serve_feed(web, "/fast.xml", make_entries(web, "pf", 6, host=fast), host=fast),
        }
    )
    workspace.write_config(feeds, concurrency=1, per_host=2, extract_workers=0)

    report = workspace.json("poll")
    assert sorted((r["feed"], r["outcome"], r["new_articles"]) for r in report) == [
        ("fast", "ok", 6),
        ("slow0", "ok", 3),
        ("slow1", "ok", 3),
    ]
    fast_pages = page_requests(web, fast)
    assert len(fast_pages) == 6
    for host in slow:
        pages = page_requests(web, host)
        assert len(pages) == 3
        assert all(b - a >= 2.0 - TOLERANCE for a, b in zip(pages, pages[1:]))  # the Crawl-delay held
        assert fast_pages[-1] < pages[1]


def test_limits_hold_over_many_hosts(workspace):
    # 8 hosts, 3 pages each; every answer takes 0.2 s. A request that arrived is in flight for at least
    # 0.2 s, so arrivals within any 0.2 s are in flight together: never more than `concurrency`; and the
    # arrivals at one host are `host_delay` apart at least.
    concurrency, host_delay, latency = 3, 0.3, 0.2
    with LocalWebServer(hosts=free_loopback_hosts(8)) as web:
        web.set("/robots.txt", Route(body="User-agent: *\nAllow: /\n", delay=latency))
        feeds = []
        for n, host in enumerate(web.hosts):
            entries = make_entries(web, f"p{n}", 3, host=host)
            for i, entry in enumerate(entries):
                web.set(
                    f"/p{n}/{i}",
                    Route(body=article_html(entry.title, paragraphs_for(entry.slug)), delay=latency),
                    host=host,
                )
            web.set(
                f"/f{n}.xml",
                Route(rss("Feed", web.url("/", host=host), entries), headers=RSS, delay=latency),
                host=host,
            )
            feeds.append({"name": f"feed{n}", "url": web.url(f"/f{n}.xml", host=host)})
        workspace.write_config(
            feeds, concurrency=concurrency, per_host=1, host_delay=f"{host_delay}s", extract_workers=0
        )
        report = workspace.json("poll")
        requests = list(web.requests)
    assert [r["new_articles"] for r in report] == [3] * 8
    arrivals = sorted(r.at for r in requests)
    assert max(sum(1 for t in arrivals if at - latency < t <= at) for at in arrivals) <= concurrency
    for host in free_loopback_hosts(8):
        at_host = sorted(r.at for r in requests if r.host == host and r.path != "/robots.txt")
        assert len(at_host) == 4  # feed, 3 pages (robots.txt is outside the spacing: see Turn)
        assert all(b - a >= host_delay - TOLERANCE for a, b in zip(at_host, at_host[1:]))


def test_a_retry_after_holds_off_that_host_only(web):
    busy, calm = web.hosts[:2]
    web.set_sequence("/busy", [Route(status=429, headers={"Retry-After": "1"}), Route(body="ok")])
    web.set("/calm", "ok")

    async def main():
        fetched: dict[str, float] = {}
        async with Fetcher(
            user_agent="test", concurrency=1, gate=HostGate(concurrency=2, delay=0)
        ) as fetcher:

            async def get(name, host):
                result = await fetcher.fetch(web.url(f"/{name.split('-')[0]}", host=host))
                fetched[name] = time.monotonic()
                return result.status

            first = await get("busy-1", busy)
            again = asyncio.ensure_future(get("busy-2", busy))
            others = [await get(f"calm-{n}", calm) for n in range(3)]
            return first, await again, others, fetched

    first, again, others, fetched = asyncio.run(main())
    assert (first, again, others) == (429, 200, [200, 200, 200])
    assert fetched["busy-2"] - fetched["busy-1"] >= 1.0 - TOLERANCE  # the Retry-After held
    assert max(fetched[f"calm-{n}"] for n in range(3)) < fetched["busy-2"]  # for that host only


def test_a_retry_after_longer_than_any_crawl_delay_is_left_to_the_retry_schedules():
    async def main():
        gate = HostGate(concurrency=1, delay=0, max_crawl_delay=30)
        gate.hold_off("a.example", 3600)
        async with asyncio.timeout(5):  # not held: the feed or page is tried again on its own schedule
            async with gate.slot("a.example"):
                pass

    asyncio.run(main())


def test_robots_then_pages_go_before_the_feeds_waiting_at_a_host():
    async def main():
        gate = HostGate(concurrency=2, delay=0.05)
        order = []

        async def request(name, priority):
            async with gate.slot("a.example", priority=priority):
                order.append(name)

        first = asyncio.ensure_future(request("feed-0", Turn.OTHER))
        await asyncio.sleep(0)
        waiting = [asyncio.ensure_future(request(f"feed-{n}", Turn.OTHER)) for n in (1, 2, 3)]
        await asyncio.sleep(0.01)
        waiting.append(asyncio.ensure_future(request("page", Turn.PAGE)))
        waiting.append(asyncio.ensure_future(request("robots", Turn.ROBOTS)))
        await asyncio.gather(first, *waiting)
        return order

    assert asyncio.run(main()) == ["feed-0", "feed-1", "robots", "page", "feed-2", "feed-3"]


def test_a_waiter_given_up_passes_its_turn_on():
    async def main():
        gate = HostGate(concurrency=1, delay=0.05)
        order = []

        async def request(name, priority=Turn.OTHER):
            async with gate.slot("a.example", priority=priority):
                order.append(name)

        await request("first")
        given_up = asyncio.ensure_future(request("given-up", Turn.PAGE))
        after = asyncio.ensure_future(request("after"))
        await asyncio.sleep(0)
        given_up.cancel()
        async with asyncio.timeout(2):
            await after
        return order, given_up.cancelled()

    assert asyncio.run(main()) == (["first", "after"], True)


def _slow_and_fast_feeds(web, *, latency: float, pages: int) -> list[dict]:
    """A feed on a host whose every answer takes ``latency`` seconds, one on a host that answers at once,
    each with ``pages`` new entries."""
    slow, fast = web.hosts[:2]
    feeds = []
    for name, host, delay in (("slow", slow, latency), ("fast", fast, 0.0)):
        entries = make_entries(web, f"p{name}", pages, host=host)
        for i, entry in enumerate(entries):
            page = Route(body=article_html(entry.title, paragraphs_for(entry.slug)), delay=delay)
            web.set(f"/p{name}/{i}", page, host=host)
        web.set("/robots.txt", Route(body="User-agent: *\nAllow: /\n", delay=delay), host=host)
        web.set(
            f"/{name}.xml",
            Route(rss("Feed", web.url("/", host=host), entries), headers=RSS, delay=delay),
            host=host,
        )
        feeds.append({"name": name, "url": web.url(f"/{name}.xml", host=host)})
    return feeds


def test_a_slow_hosts_pages_are_spaced_by_its_response_time_and_no_other_hosts(web, workspace):
    # Every answer of the slow host takes 1 s; host_delay is 0.1 s and two requests may be in flight. The
    # host's robots.txt and feed teach the gate its pace (0.5 s, then 0.75 s between starts), so its pages
    # are never two at once, while the fast host's pages go 0.1 s apart as configured.
    latency = 1.0
    feeds = _slow_and_fast_feeds(web, latency=latency, pages=4)
    workspace.write_config(feeds, per_host=2, host_delay="0.1s", extract_workers=0)

    report = workspace.json("poll")

    assert sorted((r["feed"], r["outcome"], r["new_articles"]) for r in report) == [
        ("fast", "ok", 4),
        ("slow", "ok", 4),
    ]
    slow_pages, fast_pages = page_requests(web, web.hosts[0]), page_requests(web, web.hosts[1])
    assert len(slow_pages) == len(fast_pages) == 4
    assert all(b - a >= 0.5 - TOLERANCE for a, b in zip(slow_pages, slow_pages[1:]))
    assert fast_pages[-1] < slow_pages[1]  # the slow host's pace is its own


def test_autothrottle_off_keeps_the_configured_spacing_for_a_slow_host(web, workspace):
    latency = 1.0
    feeds = _slow_and_fast_feeds(web, latency=latency, pages=4)
    workspace.write_config(feeds, per_host=2, host_delay="0.1s", extract_workers=0, autothrottle=False)

    workspace.json("poll")

    slow_pages = page_requests(web, web.hosts[0])
    assert len(slow_pages) == 4
    # Two at a time: the second page asked for while the first was still being answered.
    assert slow_pages[1] - slow_pages[0] < latency


def test_the_fetcher_tells_the_gate_each_answers_time_and_the_metrics_the_hosts_slowed(web, monkeypatch):
    monkeypatch.setattr(politeness, "SLOW_HOST", 0.2)
    slow, fast = web.hosts[:2]
    web.set("/slow", Route(body="late", delay=0.6), host=slow)
    web.set("/fast", "at once", host=fast)
    counted: list[int] = []

    class Recorder(Metrics):
        def hosts_slowed(self, count: int) -> None:
            counted.append(count)

    async def main():
        gate = HostGate(concurrency=2, delay=0.0, autothrottle=True)
        async with Fetcher(user_agent="test", concurrency=4, gate=gate, metrics=Recorder()) as fetcher:
            await fetcher.fetch(web.url("/fast", host=fast))
            await fetcher.fetch(web.url("/slow", host=slow))
        return gate

    gate = asyncio.run(main())
    assert gate.delay_for(slow) >= 0.3 - TOLERANCE  # half of its 0.6 s at least
    assert gate.delay_for(fast) < 0.2
    assert counted == [0, 1]
