"""Hostile servers: each polled beside a clean feed, in one poll, bounded in time and memory.

A raw-socket server (``support.rawserver``) on 127.0.0.1 plays the hostile feed: it dribbles, lies, bombs,
resets, loops or never answers. The control feed is served correctly on another host (127.0.0.2). Each case
polls twice: first the hostile path serves a clean feed, whose entries are stored; then it turns hostile and
the control feed gains an entry. The second poll must sort the hostile feed into its failure kind (or read
it safely), store the control feed's new entry, leave what was stored before as it was, and stay within
generous bounds of time and memory, on a busy machine too.

The hostile feed's host, ``public.test``, is declared public for these tests by the address guard of
``test_addressguard`` (its resolver maps the name to 127.0.0.1 and its classifier counts 127.0.0.1 as
public), so that a redirect to 127.0.0.3 is a redirect from a public server to a loopback address.
"""

from __future__ import annotations

import asyncio
import functools
import resource
import time
import tracemalloc
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from support.httpserver import Route
from support.news import Entry, article_html, paragraphs_for, rss
from support.rawserver import RawConnection, RawServer, answer
from test_addressguard import test_guard
from test_hostile_feeds import bomb_feed

from monitor.config import load_config
from monitor.ingest.fetch import MAX_RETRY_AFTER, FailureKind
from monitor.pipeline import Pipeline
from monitor.store.db import open_database

HOSTILE_PATH = "/hostile.xml"
MAX_BYTES = 1_000_000
TIMEOUT = 3.0  # seconds per read; a whole request may take three times as long (monitor.ingest.fetch)
# Generous: the longest cases wait out the whole-request deadline, and a dropped connection is asked twice.
TIME_BOUND = 2 * 3 * TIMEOUT + 30
TRACED_PEAK_BOUND = 150_000_000  # bytes; the caps in force allow a few MB
RESIDENT_GROWTH_BOUND = 1_000_000  # KB of peak resident size gained in the hostile poll
RSS_TYPE = "application/rss+xml; charset=utf-8"


# --- what the hostile server does -------------------------------------------------------------------------


def feed_body(title: str, slugs: list[str]) -> bytes:
    entries = [
        Entry(
            slug,
            f"{title} {slug}",
            f"What the feed says of {slug}.",
            f"http://public.test/a/{slug}",
            guid=f"{title}-{slug}",
        )
        for slug in slugs
    ]
    return rss(title, "http://public.test/", entries).encode()


def clean(conn: RawConnection) -> None:
    answer(conn, feed_body("Before", ["one", "two"]), headers={"Content-Type": RSS_TYPE})


def slowloris_head(conn: RawConnection) -> None:
    """The status line and headers one byte at a time, and never their end."""
    for byte in b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nX-Padding: ":
        conn.send(bytes([byte]))
        conn.pause(0.1)
    while conn.pause(0.1):
        conn.send(b"a")


def slowloris_body(conn: RawConnection) -> None:
    """A prompt head, then a body one byte at a time, for ever (each byte well within the read timeout)."""
    head = f"HTTP/1.1 200 OK\r\nContent-Type: {RSS_TYPE}\r\nContent-Length: {MAX_BYTES // 2}\r\n\r\n"
    conn.send(head.encode())
    body = feed_body("Slow", ["never"])
    position = 0
    while conn.pause(0.1):
        conn.send(body[position % len(body) : position % len(body) + 1])
        position += 1


@functools.cache
def gzip_bomb(unpacked: int = 200_000_000) -> bytes:
    """``unpacked`` bytes of a feed's start and zeros, gzipped to a few hundred KB (built in steps)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    parts = [packer.compress(b'<?xml version="1.0"?><rss version="2.0"><channel><title>')]
    block = b"\0" * 1_000_000
    parts += [packer.compress(block) for _ in range(unpacked // len(block))]
    parts.append(packer.flush())
    return b"".join(parts)


def gzip_bomb_encoded(conn: RawConnection) -> None:
    bomb = gzip_bomb()
    assert len(bomb) < MAX_BYTES  # it passes the cap on the wire; only its unpacked size is over
    answer(conn, bomb, headers={"Content-Type": RSS_TYPE, "Content-Encoding": "gzip"})


def gzip_bomb_as_file(conn: RawConnection) -> None:
    """The same bomb served as the body itself (a feed.xml.gz), which the feed parser unpacks."""
    answer(conn, gzip_bomb(), headers={"Content-Type": "application/x-gzip"})


def endless_chunks(conn: RawConnection) -> None:
    conn.send(f"HTTP/1.1 200 OK\r\nContent-Type: {RSS_TYPE}\r\nTransfer-Encoding: chunked\r\n\r\n".encode())
    chunk = b"%x\r\n%s\r\n" % (64 * 1024, b"<item>" * (64 * 1024 // 6) + b"<ite")
    while not conn.stopping.is_set():
        conn.send(chunk)


def length_longer_then_close(conn: RawConnection) -> None:
    """Content-Length promises more than is sent, and the connection is closed."""
    body = feed_body("Short", ["cut"])
    conn.send(
        f"HTTP/1.1 200 OK\r\nContent-Type: {RSS_TYPE}\r\nContent-Length: {len(body) + 5000}\r\n\r\n".encode()
        + body
    )


def length_longer_then_wait(conn: RawConnection) -> None:
    """Content-Length promises more than is sent, and the connection is kept open, silent."""
    length_longer_then_close(conn)
    while conn.pause(0.5):
        pass


def length_shorter(conn: RawConnection) -> None:
    """Content-Length says less than is sent: the rest of the document arrives as garbage after it."""
    body = feed_body("Long", ["first", "second", "third"])
    conn.send(f"HTTP/1.1 200 OK\r\nContent-Type: {RSS_TYPE}\r\nContent-Length: 120\r\n\r\n".encode() + body)


def huge_headers(conn: RawConnection) -> None:
    """Ten thousand headers of a kilobyte each: a head of 10 MB."""
    conn.send(b"HTTP/1.1 200 OK\r\n")
    for n in range(10_000):
        conn.send(b"X-Filler-%d: %s\r\n" % (n, b"f" * 1000))
    conn.send(b"Content-Length: 0\r\n\r\n")


def header_without_end(conn: RawConnection) -> None:
    """One header line that never ends, sent as fast as the client takes it."""
    conn.send(b"HTTP/1.1 200 OK\r\nX-Endless: ")
    block = b"e" * 64 * 1024
    while not conn.stopping.is_set():
        conn.send(block)


def endless_informational(conn: RawConnection) -> None:
    """ "100 Continue" after "100 Continue", promptly, for ever: never the answer itself."""
    while conn.pause(0.01):
        conn.send(b"HTTP/1.1 100 Continue\r\n\r\n")


def error_page_without_end(conn: RawConnection) -> None:
    """A 500 whose error page never ends (read only to keep the connection, and not past a small bound)."""
    conn.send(
        b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"%x\r\n%s\r\n" % (1024, b"<p>oops</p>".ljust(1024))
    while conn.pause(0.001):
        conn.send(chunk)


def empty(conn: RawConnection) -> None:
    answer(conn, headers={"Content-Type": RSS_TYPE})


def redirect_loop(conn: RawConnection) -> None:
    answer(conn, status="302 Found", headers={"Location": HOSTILE_PATH + "?again"})


def reset_mid_body(conn: RawConnection) -> None:
    body = feed_body("Reset", ["half"])
    conn.send(
        f"HTTP/1.1 200 OK\r\nContent-Type: {RSS_TYPE}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body[: len(body) // 2]
    )
    conn.pause(0.2)
    conn.reset()


def never_answers(conn: RawConnection) -> None:
    while conn.pause(0.5):
        pass


def long_etag(conn: RawConnection) -> None:
    answer(
        conn,
        feed_body("Tagged", ["three"]),
        headers={"Content-Type": RSS_TYPE, "ETag": '"' + "e" * 16_000 + '"'},
    )


def html_page(conn: RawConnection) -> None:
    answer(
        conn,
        b"<!doctype html><html><head><title>Welcome</title></head><body><p>Nothing to see.</p></body></html>",
        headers={"Content-Type": "text/html; charset=utf-8"},
    )


def binary(conn: RawConnection) -> None:
    answer(conn, bytes(range(256)) * 400, headers={"Content-Type": "application/octet-stream"})


def billion_laughs(conn: RawConnection) -> None:
    answer(conn, bomb_feed(), headers={"Content-Type": RSS_TYPE})


LONG_NUMBER = "9" * 5000  # past the 4,300 digits Python's int() reads


def long_numbers_rss(conn: RawConnection) -> None:
    body = (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>Numbers</title><ttl>{LONG_NUMBER}</ttl>'
        f"<item><title>Reference &#{LONG_NUMBER}; here</title><guid>numbers-ref</guid></item>"
        "<item><title>Numbers clean</title><guid>numbers-clean</guid></item></channel></rss>"
    )
    answer(conn, body.encode(), headers={"Content-Type": RSS_TYPE})


def long_numbers_json(conn: RawConnection) -> None:
    body = (
        '{"version": "https://jsonfeed.org/version/1.1", "title": "Numbers", "items": ['
        f'{{"id": {LONG_NUMBER}, "title": "Numbers long id", "content_text": "A long id."}}, '
        '{"id": "numbers-clean", "title": "Numbers clean", "content_text": "Clean."}]}'
    )
    answer(conn, body.encode(), headers={"Content-Type": "application/feed+json"})


def xxe(server_port: int) -> Callable[[RawConnection], None]:
    def behaviour(conn: RawConnection) -> None:
        body = f"""<?xml version="1.0"?>
<!DOCTYPE rss [
  <!ENTITY file SYSTEM "file:///etc/passwd">
  <!ENTITY probe SYSTEM "http://127.0.0.1:{server_port}/xxe-probe">
  <!ENTITY % remote SYSTEM "http://127.0.0.1:{server_port}/xxe-dtd"> %remote;
]>
<rss version="2.0"><channel><title>Entities</title>
<item><title>Outside &file;</title><guid>xxe-file</guid><description>Read: &file;</description></item>
<item><title>Probe &probe;</title><guid>xxe-probe</guid><description>Fetched: &probe;</description></item>
</channel></rss>""".encode()
        answer(conn, body, headers={"Content-Type": RSS_TYPE})

    return behaviour


def unavailable(retry_after: str, status: str = "503 Service Unavailable") -> Callable[[RawConnection], None]:
    def behaviour(conn: RawConnection) -> None:
        answer(
            conn, b"busy", status=status, headers={"Content-Type": "text/plain", "Retry-After": retry_after}
        )

    return behaviour


def redirect_to(location: str) -> Callable[[RawConnection], None]:
    def behaviour(conn: RawConnection) -> None:
        answer(conn, status="301 Moved Permanently", headers={"Location": location})

    return behaviour


# --- the cases --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    behaviour: Callable[..., Callable[[RawConnection], None]]
    """Given the raw server and the control server, the behaviour of the hostile path."""
    kind: FailureKind | None
    """The hostile feed's error kind; None when it is read (safely) and its poll is ok."""
    check: Callable[..., None] | None = None
    """More to assert: given the hostile feed's report, its articles, its feed row and both servers."""


def _retry_after_within(low: timedelta | None, high: timedelta | None):
    def check(report, articles, row, raw, web):
        now = datetime.now(UTC)
        wait = report.next_poll_at - now
        assert wait >= timedelta(0)
        if low is not None:
            assert wait >= low - timedelta(minutes=1), wait
        if high is not None:
            assert wait <= high + timedelta(minutes=1), wait
        until = row["retry_after_until"]
        if low is None:
            assert until is None or datetime.fromisoformat(until) <= now + timedelta(minutes=1), until
        else:
            assert until is not None and datetime.fromisoformat(until) >= now + low - timedelta(minutes=1)

    return check


def _nothing_read_at_the_private_address(report, articles, row, raw, web):
    assert "loopback" in report.error
    assert web.requests_for("/secret.xml", host="127.0.0.3") == []
    assert not any("Secret" in (article["title"] or "") for article in articles)


def _etag_dropped_entry_stored(report, articles, row, raw, web):
    assert row["etag"] is None
    assert "Tagged three" in {article["title"] for article in articles}


def _nothing_outside_was_read(report, articles, row, raw, web):
    stored = " ".join(f"{a['title']} {a['summary']} {a['body']}" for a in articles)
    assert "root:" not in stored
    assert raw.requests_for("/xxe-probe") == [] and raw.requests_for("/xxe-dtd") == []
    titles = {article["title"] for article in articles}
    assert {"Outside &file;", "Probe &probe;"} <= titles  # the entries are stored, the references left unread


def _numbers_read(*titles: str):
    def check(report, articles, row, raw, web):
        assert report.new_articles == len(titles)
        assert set(titles) <= {article["title"] for article in articles}

    return check


def _laughs_cut(report, articles, row, raw, web):
    assert "expand past" in (report.warning or "")
    laughing = next(article for article in articles if article["title"] == "Laughing")
    assert len(laughing["summary"] or "") <= MAX_BYTES


def _nothing_past_the_length(report, articles, row, raw, web):
    # The 120 bytes hold the channel's head and no entry; nothing sent past them is taken for the feed.
    assert report.new_articles == 0
    assert not {"Long first", "Long second", "Long third"} & {article["title"] for article in articles}


def _unpacked_within_the_cap(report, articles, row, raw, web):
    # Unpacked to max_bytes (the channel's head and zeros), then read as a feed without entries.
    assert report.new_articles == 0


CASES = {
    "slowloris head": Case(lambda raw, web: slowloris_head, FailureKind.TIMEOUT),
    "slowloris body": Case(lambda raw, web: slowloris_body, FailureKind.TIMEOUT),
    "gzip bomb (Content-Encoding)": Case(lambda raw, web: gzip_bomb_encoded, FailureKind.TOO_LARGE),
    "gzip bomb (a .gz body)": Case(lambda raw, web: gzip_bomb_as_file, None, _unpacked_within_the_cap),
    "endless chunked body": Case(lambda raw, web: endless_chunks, FailureKind.TOO_LARGE),
    "Content-Length longer, then closed": Case(
        lambda raw, web: length_longer_then_close, FailureKind.CONNECTION
    ),
    "Content-Length longer, then silent": Case(lambda raw, web: length_longer_then_wait, FailureKind.TIMEOUT),
    "Content-Length shorter": Case(lambda raw, web: length_shorter, None, _nothing_past_the_length),
    "huge headers": Case(lambda raw, web: huge_headers, FailureKind.CONNECTION),
    "header line without end": Case(lambda raw, web: header_without_end, FailureKind.CONNECTION),
    "redirect loop": Case(lambda raw, web: redirect_loop, FailureKind.REDIRECTS),
    "redirect to loopback from a public feed": Case(
        lambda raw, web: redirect_to(web.url("/secret.xml", host="127.0.0.3")),
        FailureKind.BLOCKED_ADDRESS,
        _nothing_read_at_the_private_address,
    ),
    "redirect to loopback, written as a decimal number": Case(
        lambda raw, web: redirect_to(f"http://2130706435:{web.port}/secret.xml"),
        FailureKind.BLOCKED_ADDRESS,
        _nothing_read_at_the_private_address,
    ),
    "redirect to a file: URL": Case(
        lambda raw, web: redirect_to("file:///etc/passwd"), FailureKind.INVALID_URL
    ),
    "Retry-After negative": Case(
        lambda raw, web: unavailable("-120"), FailureKind.HTTP_5XX, _retry_after_within(None, None)
    ),
    "Retry-After huge": Case(
        lambda raw, web: unavailable("99999999999999999999"),
        FailureKind.HTTP_5XX,
        _retry_after_within(MAX_RETRY_AFTER, MAX_RETRY_AFTER),
    ),
    "Retry-After date in the past": Case(
        lambda raw, web: unavailable("Wed, 21 Oct 2015 07:28:00 GMT"),
        FailureKind.HTTP_5XX,
        _retry_after_within(None, None),
    ),
    "Retry-After of 5000 digits": Case(
        lambda raw, web: unavailable("9" * 5000),
        FailureKind.HTTP_5XX,
        _retry_after_within(MAX_RETRY_AFTER, MAX_RETRY_AFTER),
    ),
    "Retry-After garbage": Case(
        lambda raw, web: unavailable("soon\u2122, or 1e9, or \u00b2"),
        FailureKind.HTTP_5XX,
        _retry_after_within(None, None),
    ),
    "Retry-After far date on a 429": Case(
        lambda raw, web: unavailable("Fri, 31 Dec 9999 23:59:59 GMT", "429 Too Many Requests"),
        FailureKind.RATE_LIMITED,
        _retry_after_within(MAX_RETRY_AFTER, MAX_RETRY_AFTER),
    ),
    "endless 100 Continue": Case(lambda raw, web: endless_informational, FailureKind.TIMEOUT),
    "error page without end": Case(lambda raw, web: error_page_without_end, FailureKind.HTTP_5XX),
    "empty answer": Case(lambda raw, web: empty, FailureKind.NOT_A_FEED),
    "connection reset mid-body": Case(lambda raw, web: reset_mid_body, FailureKind.CONNECTION),
    "accepts and never answers": Case(lambda raw, web: never_answers, FailureKind.TIMEOUT),
    "over-long ETag": Case(lambda raw, web: long_etag, None, _etag_dropped_entry_stored),
    "HTML page": Case(lambda raw, web: html_page, FailureKind.NOT_A_FEED),
    "binary": Case(lambda raw, web: binary, FailureKind.NOT_A_FEED),
    "numbers of 5000 digits in RSS": Case(
        lambda raw, web: long_numbers_rss, None, _numbers_read("Reference \ufffd here", "Numbers clean")
    ),
    "numbers of 5000 digits in JSON Feed": Case(
        lambda raw, web: long_numbers_json, None, _numbers_read("Numbers long id", "Numbers clean")
    ),
    "XXE": Case(lambda raw, web: xxe(raw.port), None, _nothing_outside_was_read),
    "billion laughs": Case(lambda raw, web: billion_laughs, None, _laughs_cut),
}


# --- one poll, measured -----------------------------------------------------------------------------------


@pytest.fixture
def raw():
    with RawServer("127.0.0.1") as server:
        yield server


def _poll(workspace):
    config, db = load_config(workspace.config_path), open_database(workspace.database_url)

    async def run():
        async with Pipeline(config, db, guard=test_guard()) as pipeline:
            pipeline.sync_feeds()
            return await pipeline.poll(due_only=False)

    try:
        return {report.feed: report for report in asyncio.run(run())}
    finally:
        db.dispose()


def _measured_poll(workspace):
    resident_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KB, the peak so far
    tracemalloc.start()
    started = time.monotonic()
    try:
        reports = _poll(workspace)
        elapsed = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return reports, elapsed, peak, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - resident_before


def _serve_control(web, slugs: list[str]) -> str:
    entries = [
        Entry(
            slug,
            f"Control {slug}",
            f"The control feed on {slug}.",
            web.url(f"/c/{slug}", host="127.0.0.2"),
            guid=f"control-{slug}",
        )
        for slug in slugs
    ]
    web.set(
        "/control.xml",
        Route(rss("Control", web.url("/", host="127.0.0.2"), entries), headers={"Content-Type": RSS_TYPE}),
        host="127.0.0.2",
    )
    return web.url("/control.xml", host="127.0.0.2")


@pytest.mark.parametrize("name", list(CASES))
def test_a_hostile_server_costs_only_its_own_feed(name, raw, web, workspace):
    case = CASES[name]
    gzip_bomb()  # built before the clock starts: building it is the server's time, not the poll's
    raw.route(HOSTILE_PATH, clean)
    control_url = _serve_control(web, ["one", "two"])
    web.set(
        "/secret.xml",
        rss("Secret", "http://127.0.0.3/", [Entry("s", "Secret s", "Private.", "http://x/s")]),
        host="127.0.0.3",
    )
    workspace.write_config(
        [
            {"name": "Hostile", "url": f"http://public.test:{raw.port}{HOSTILE_PATH}"},
            {"name": "Control", "url": control_url},
        ],
        fetch_pages=False,
        timeout=f"{TIMEOUT:g}s",
        max_bytes=MAX_BYTES,
    )
    first = _poll(workspace)
    assert first["Hostile"].outcome == "ok" and first["Hostile"].new_articles == 2
    assert first["Control"].outcome == "ok" and first["Control"].new_articles == 2
    before = {article["url"]: article for article in workspace.json("articles", "--limit", "0")}

    raw.route(HOSTILE_PATH, case.behaviour(raw, web))
    _serve_control(web, ["one", "two", "three"])
    reports, elapsed, peak, resident_growth = _measured_poll(workspace)

    hostile, control = reports["Hostile"], reports["Control"]
    if case.kind is None:
        assert hostile.outcome == "ok", (hostile.error_kind, hostile.error)
    else:
        assert (hostile.outcome, hostile.error_kind) == ("failed", case.kind), hostile.error
    assert control.outcome == "ok" and control.new_articles == 1, control
    after = {article["url"]: article for article in workspace.json("articles", "--limit", "0")}
    assert after[web.url("/c/three", host="127.0.0.2")]["title"] == "Control three"
    for url, article in before.items():  # what was stored before is as it was
        assert after[url] == article, url
    feeds = {row["name"]: row for row in workspace.json("feeds")}
    if case.kind is not None:
        assert feeds["Hostile"]["last_error_kind"] == case.kind
        assert feeds["Hostile"]["articles"] == 2
    assert feeds["Control"]["last_error_kind"] is None and feeds["Control"]["articles"] == 3
    if case.check is not None:
        hostile_articles = [a for a in after.values() if "Hostile" in a["feeds"]]
        case.check(hostile, hostile_articles, feeds["Hostile"], raw, web)
    assert elapsed < TIME_BOUND, f"{name}: the poll took {elapsed:.1f} s"
    assert peak < TRACED_PEAK_BOUND, f"{name}: {peak / 1e6:.0f} MB traced at the peak"
    assert resident_growth < RESIDENT_GROWTH_BOUND, f"{name}: peak resident size grew {resident_growth} KB"


# --- hostile pages behind a clean feed --------------------------------------------------------------------

PAGES = {
    "slowloris": (slowloris_body, FailureKind.TIMEOUT),
    "gzip-bomb": (gzip_bomb_encoded, FailureKind.TOO_LARGE),
    "endless": (endless_chunks, FailureKind.TOO_LARGE),
    "reset": (reset_mid_body, FailureKind.CONNECTION),
    "silent": (never_answers, FailureKind.TIMEOUT),
    "to-loopback": (None, FailureKind.BLOCKED_ADDRESS),  # a redirect to 127.0.0.3, set below
}


def test_hostile_pages_cost_only_their_own_articles(raw, web, workspace):
    """A clean public feed whose links lead to hostile pages: each such article keeps the feed's text and a
    note naming the failure, the clean page is extracted, and the poll stays within its bounds."""
    public = f"http://public.test:{raw.port}"
    gzip_bomb()  # built before the clock starts (and before a read timeout could run out while it is)
    raw.route(
        "/robots.txt",
        lambda conn: answer(conn, b"User-agent: *\nAllow: /\n", headers={"Content-Type": "text/plain"}),
    )
    page = article_html("A clean page", paragraphs_for("clean-page")).encode()
    html = {"Content-Type": "text/html; charset=utf-8"}
    raw.route("/p/clean", lambda conn: answer(conn, page, headers=html))
    web.set("/secret.html", article_html("Secret", paragraphs_for("secret")), host="127.0.0.3")
    for slug, (behaviour, _) in PAGES.items():
        raw.route(f"/p/{slug}", behaviour or redirect_to(web.url("/secret.html", host="127.0.0.3")))
    entries = [
        Entry(slug, f"Page {slug}", f"What the feed says of the {slug} page.", f"{public}/p/{slug}")
        for slug in ["clean", *PAGES]
    ]
    feed = rss("Pages", f"{public}/", entries).encode()
    raw.route("/pages.xml", lambda conn: answer(conn, feed, headers={"Content-Type": RSS_TYPE}))
    workspace.write_config(
        [
            {"name": "Pages", "url": f"{public}/pages.xml"},
            {"name": "Control", "url": _serve_control(web, ["one"])},
        ],
        timeout=f"{TIMEOUT:g}s",
        max_bytes=MAX_BYTES,
        per_host=len(PAGES) + 1,
        min_body_chars=50,
    )

    reports, elapsed, peak, resident_growth = _measured_poll(workspace)

    assert reports["Pages"].outcome == "ok" and reports["Pages"].new_articles == len(PAGES) + 1
    assert reports["Control"].outcome == "ok" and reports["Control"].new_articles == 1
    articles = {article["url"]: article for article in workspace.json("articles", "--limit", "0")}
    assert articles[f"{public}/p/clean"]["body_source"] == "extracted"
    for slug, (_, kind) in PAGES.items():
        article = articles[f"{public}/p/{slug}"]
        assert article["body_source"] == "feed", slug
        assert f"({kind})" in article["body_note"], (slug, article["body_note"])
        assert article["body"] == f"What the feed says of the {slug} page.", slug
    assert web.requests_for("/secret.html", host="127.0.0.3") == []
    assert elapsed < TIME_BOUND, f"the poll took {elapsed:.1f} s"
    assert peak < TRACED_PEAK_BOUND, f"{peak / 1e6:.0f} MB traced at the peak"
    assert resident_growth < RESIDENT_GROWTH_BOUND, f"peak resident size grew {resident_growth} KB"
