"""The ingest benchmark's lean web server (bench/_sites.py) answers as the benchmark relies on."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from _sites import StaticSites  # noqa: E402
from support.httpserver import Route, free_loopback_hosts  # noqa: E402


def test_routes_by_host_delays_conditional_answers_and_the_request_log():
    hosts = free_loopback_hosts(2)
    page = Route(body="<html>one</html>", delay=0.2, etag=False, headers={"Content-Type": "text/html"})
    with StaticSites(hosts=hosts) as sites:
        sites.set("/a.html", page, host=hosts[0])
        sites.set("/feed.xml", Route(body=b"<rss/>", headers={"Content-Type": "application/rss+xml"}))
        with httpx.Client() as client:
            started = time.monotonic()
            answer = client.get(sites.url("/a.html", host=hosts[0]))
            assert time.monotonic() - started >= 0.2
            assert (answer.status_code, answer.text, answer.headers["content-type"]) == (
                200,
                "<html>one</html>",
                "text/html",
            )
            assert "etag" not in answer.headers
            # A route set for one host is not served on another; one set for any host is served on each.
            assert client.get(sites.url("/a.html", host=hosts[1])).status_code == 404
            feed = client.get(sites.url("/feed.xml?x=1", host=hosts[1]))
            assert feed.content == b"<rss/>"
            again = client.get(
                sites.url("/feed.xml", host=hosts[0]), headers={"If-None-Match": feed.headers["etag"]}
            )
            assert (again.status_code, again.content) == (304, b"")
            head = client.head(sites.url("/feed.xml"))
            assert (head.status_code, head.headers["content-length"], head.content) == (200, "6", b"")
            assert client.post(sites.url("/feed.xml")).status_code == 405
        records = [(r.host, r.path, r.method, r.status) for r in sites.requests]
        assert records == [
            (hosts[0], "/a.html", "GET", 200),
            (hosts[1], "/a.html", "GET", 404),
            (hosts[1], "/feed.xml?x=1", "GET", 200),
            (hosts[0], "/feed.xml", "GET", 304),
            (hosts[0], "/feed.xml", "HEAD", 200),
            (hosts[0], "/feed.xml", "POST", 405),
        ]
        # The requests of one client came on one kept-alive connection per host.
        assert len({(r.host, r.client_port) for r in sites.requests}) == 2
        assert "if-none-match" in sites.requests[3].headers
        sites.clear_requests()
        assert sites.requests == []
    sites.stop()  # a second stop does nothing
