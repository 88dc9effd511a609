"""Tests for monitor.ingest.fetch: the polite HTTP client and how its failures are sorted.

Everything runs against servers on 127.0.0.x started here, or ``httpx.MockTransport``; no name is ever
resolved (DNS and TLS failures are checked on constructed exceptions).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
import zlib
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpcore
import httpx
import pytest
from support.countingtransport import CountingTransport
from support.socketservers import DripServer, DroppingServer, closed_port

from monitor import __version__
from monitor.ingest.fetch import (
    MAX_RETRY_AFTER,
    Failure,
    FailureKind,
    Fetcher,
    FetchResult,
    ResponseTooLarge,
    _Decoder,
    classify_exception,
    classify_status,
    default_user_agent,
    parse_cache_lifetime,
    parse_retry_after,
)
from monitor.ingest.politeness import HostGate

try:
    from support.httpserver import LocalWebServer, Route, free_loopback_hosts
except ImportError:  # pragma: no cover - run from elsewhere
    from tests.support.httpserver import LocalWebServer, Route, free_loopback_hosts

UA = "monitor-test/1.0 (+mailto:ops@example.invalid)"
MB = 1024 * 1024


@pytest.fixture(scope="module")
def _shared_server():
    with LocalWebServer() as srv:
        yield srv


@pytest.fixture
def server(_shared_server):
    """One server for the module (starting and stopping one costs more than most tests here).

    Each test sets the routes it uses; paths that must 404 are never set by any test.
    """
    _shared_server.clear_requests()
    return _shared_server


def _fetcher(**kwargs) -> Fetcher:
    kwargs.setdefault("user_agent", UA)
    kwargs.setdefault("timeout", 5.0)
    kwargs.setdefault("gate", HostGate(concurrency=10, delay=0))
    return Fetcher(**kwargs)


def fetch(url: str, *, etag=None, last_modified=None, accept=None, **fetcher_kwargs) -> FetchResult:
    """One fetch with a fresh Fetcher, run to completion."""

    async def main():
        async with _fetcher(**fetcher_kwargs) as fetcher:
            return await fetcher.fetch(url, etag=etag, last_modified=last_modified, accept=accept)

    return asyncio.run(main())


def fetch_all(urls, **fetcher_kwargs) -> list[FetchResult]:
    async def main():
        async with _fetcher(**fetcher_kwargs) as fetcher:
            return await asyncio.gather(*(fetcher.fetch(u) for u in urls))

    return asyncio.run(main())


def mock(handler) -> httpx.MockTransport:
    return httpx.MockTransport(handler)


class Body(httpx.AsyncByteStream):
    """A response body handed over as it would come off the wire (``content=`` makes httpx pre-read it)."""

    def __init__(self, data: bytes, chunk: int = 16 * 1024) -> None:
        self.data = data
        self.chunk = chunk

    async def __aiter__(self):
        for i in range(0, len(self.data), self.chunk):
            yield self.data[i : i + self.chunk]


def raw_response(data: bytes, **headers: str) -> httpx.Response:
    headers = {k.replace("_", "-"): v for k, v in headers.items()}
    return httpx.Response(200, headers=headers, stream=Body(data))


def gzip_bytes(payload_chunks, wbits: int = 31) -> bytes:
    z = zlib.compressobj(9, zlib.DEFLATED, wbits)
    return b"".join(z.compress(c) for c in payload_chunks) + z.flush()


# ----------------------------------------------------------------------------------- user agent


def test_default_user_agent_names_us_and_the_contact():
    assert default_user_agent() == f"monitor/{__version__} (news monitoring feed reader)"
    ua = default_user_agent("mailto:news@example.org")
    assert ua.startswith(f"monitor/{__version__} ")
    assert "+mailto:news@example.org" in ua


# ----------------------------------------------------------------------------------- success


def test_200_returns_body_and_lower_case_headers(server):
    server.set(
        "/feed.xml",
        Route(
            body=b"<rss>hello</rss>", headers={"X-Custom-Thing": "Yes", "Content-Type": "application/rss+xml"}
        ),
    )
    url = server.url("/feed.xml")
    result = fetch(url)
    assert result.failure is None
    assert result.ok and not result.not_modified
    assert result.status == 200
    assert result.body == b"<rss>hello</rss>"
    assert result.url == result.final_url == url
    assert all(key == key.lower() for key in result.headers)
    assert result.headers["x-custom-thing"] == "Yes"
    assert result.headers["content-type"] == "application/rss+xml"
    assert result.etag and result.etag.startswith('"')
    assert result.elapsed >= 0
    with pytest.raises(TypeError):
        result.headers["x-new"] = "no"  # type: ignore[index]  # frozen like the rest of the result


def test_user_agent_accept_and_accept_encoding_are_sent(server):
    server.set("/feed.xml", "<rss/>")
    fetch(server.url("/feed.xml"), accept="application/rss+xml")
    (request,) = server.requests_for("/feed.xml")
    assert request.headers["user-agent"] == UA
    assert request.headers["accept"] == "application/rss+xml"
    assert "gzip" in request.headers["accept-encoding"]
    assert "if-none-match" not in request.headers
    assert "if-modified-since" not in request.headers


def test_gzip_body_is_decompressed(server):
    text = b"<rss>" + b"news " * 10_000 + b"</rss>"
    server.set("/feed.xml", Route(body=text, gzip=True))
    result = fetch(server.url("/feed.xml"))
    assert result.ok
    assert result.headers["content-encoding"] == "gzip"
    assert int(result.headers["content-length"]) < len(text)
    assert result.body == text


def test_empty_body_is_fine(server):
    server.set("/empty", Route(body=b""))
    result = fetch(server.url("/empty"))
    assert result.ok and result.body == b""


# ----------------------------------------------------------------------------------- conditional GET


def test_conditional_get_with_etag_gives_not_modified(server):
    server.set("/feed.xml", "<rss>v1</rss>")
    url = server.url("/feed.xml")
    first = fetch(url)
    assert first.ok and first.etag
    second = fetch(url, etag=first.etag)
    assert second.status == 304
    assert second.not_modified
    assert not second.ok
    assert second.failure is None
    assert second.body == b""
    assert server.requests_for("/feed.xml")[1].headers["if-none-match"] == first.etag


def test_conditional_get_with_last_modified_gives_not_modified(server):
    stamp = "Wed, 01 May 2024 10:00:00 GMT"
    server.set("/feed.xml", Route(body="<rss/>", etag=False, last_modified=stamp))
    url = server.url("/feed.xml")
    first = fetch(url)
    assert first.ok and first.last_modified == stamp and first.etag is None
    second = fetch(url, last_modified=first.last_modified)
    assert second.not_modified and second.body == b""
    assert server.requests_for("/feed.xml")[1].headers["if-modified-since"] == stamp


def test_conditional_get_sends_both_validators(server):
    server.set("/feed.xml", "<rss>v2</rss>")
    result = fetch(server.url("/feed.xml"), etag='"old"', last_modified="Mon, 01 Jan 2024 00:00:00 GMT")
    assert result.ok and result.body == b"<rss>v2</rss>"  # changed: a full answer
    request = server.requests_for("/feed.xml")[0]
    assert request.headers["if-none-match"] == '"old"'
    assert request.headers["if-modified-since"] == "Mon, 01 Jan 2024 00:00:00 GMT"


# ----------------------------------------------------------------------------------- statuses


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, FailureKind.HTTP_4XX),
        (401, FailureKind.HTTP_4XX),
        (403, FailureKind.HTTP_4XX),
        (404, FailureKind.HTTP_4XX),
        (410, FailureKind.GONE),
        (429, FailureKind.RATE_LIMITED),
        (500, FailureKind.HTTP_5XX),
        (502, FailureKind.HTTP_5XX),
        (503, FailureKind.HTTP_5XX),
    ],
)
def test_error_statuses_are_sorted_into_kinds(server, status, kind):
    server.set("/x", Route(status=status, body=b"nope"))
    result = fetch(server.url("/x"))
    assert result.status == status
    assert result.failure is not None and result.failure.kind is kind
    assert str(status) in result.failure.message
    assert result.body == b""
    assert not result.ok and not result.not_modified


def test_404_for_a_missing_route(server):
    result = fetch(server.url("/nothing-here"))
    assert result.status == 404 and result.failure.kind is FailureKind.HTTP_4XX


def test_503_with_retry_after_seconds(server):
    server.set("/x", Route(status=503, headers={"Retry-After": "120"}))
    result = fetch(server.url("/x"))
    assert result.failure.kind is FailureKind.HTTP_5XX
    assert result.failure.retry_after == timedelta(seconds=120)


def test_503_with_retry_after_http_date(server):
    when = datetime.now(UTC) + timedelta(hours=1)
    server.set("/x", Route(status=503, headers={"Retry-After": format_datetime(when, usegmt=True)}))
    result = fetch(server.url("/x"))
    assert result.failure.kind is FailureKind.HTTP_5XX
    assert timedelta(minutes=55) <= result.failure.retry_after <= timedelta(hours=1)


def test_500_ignores_retry_after(server):
    server.set("/x", Route(status=500, headers={"Retry-After": "120"}))
    assert fetch(server.url("/x")).failure.retry_after is None


def test_429_is_rate_limited_with_retry_after(server):
    server.set("/x", Route(status=429, headers={"Retry-After": "3600"}))
    result = fetch(server.url("/x"))
    assert result.failure.kind is FailureKind.RATE_LIMITED
    assert result.failure.retry_after == timedelta(hours=1)


def test_429_without_retry_after(server):
    server.set("/x", Route(status=429))
    result = fetch(server.url("/x"))
    assert result.failure.kind is FailureKind.RATE_LIMITED and result.failure.retry_after is None


def test_hostile_retry_after_still_gives_the_right_kind(server):
    server.set("/x", Route(status=503, headers={"Retry-After": "9" * 40}))
    result = fetch(server.url("/x"))
    assert result.failure.kind is FailureKind.HTTP_5XX
    assert result.failure.retry_after == MAX_RETRY_AFTER


def test_gone(server):
    server.set("/x", Route(status=410))
    result = fetch(server.url("/x"))
    assert result.failure.kind is FailureKind.GONE
    assert "410" in result.failure.message


@pytest.mark.parametrize("status", [300, 302])
def test_redirect_without_location_is_a_failure(server, status):
    server.set("/x", Route(status=status, body=b"<html>elsewhere</html>"))
    result = fetch(server.url("/x"))
    assert result.status == status
    assert result.failure is not None and result.failure.kind is FailureKind.OTHER
    assert "Location" in result.failure.message


# ----------------------------------------------------------------------------------- redirects


def test_redirect_is_followed_and_final_url_recorded(server):
    server.set("/old", Route(status=301, headers={"Location": "/middle"}))
    server.set("/middle", Route(status=302, headers={"Location": server.url("/new")}))
    server.set("/new", "<rss/>")
    result = fetch(server.url("/old"))
    assert result.ok and result.body == b"<rss/>"
    assert result.url == server.url("/old")
    assert result.final_url == server.url("/new")


def test_permanent_redirects_say_where_a_url_moved_up_to_the_first_temporary_one(server):
    """RFC 9110: a 301 or 308 gives the resource a new URL for good; a 302, 303 or 307 does not, nor does any
    hop after it (a temporary detour's own permanent redirect moves the detour, not the URL asked for)."""
    server.set("/a", Route(status=301, headers={"Location": "/b"}))
    server.set("/b", Route(status=308, headers={"Location": server.url("/c")}))
    server.set("/c", Route(status=302, headers={"Location": "/d"}))
    server.set("/d", Route(status=301, headers={"Location": "/e"}))
    server.set("/e", "<rss/>")
    assert fetch(server.url("/a")).moved_to == server.url("/c")  # 301 then 308: both for good
    assert fetch(server.url("/c")).moved_to is None  # a 302 first: nothing moved for good
    assert fetch(server.url("/d")).moved_to == server.url("/e")
    assert fetch(server.url("/e")).moved_to is None  # no redirect at all
    # A 304 behind a permanent redirect still says where the URL went; a failure says nothing.
    server.set("/f", Route(status=301, headers={"Location": "/g"}))
    server.set("/g", Route("<rss/>"))
    first = fetch(server.url("/f"))
    assert fetch(server.url("/f"), etag=first.etag).not_modified and first.moved_to == server.url("/g")
    assert fetch(server.url("/f"), etag=first.etag).moved_to == server.url("/g")
    server.set("/g", Route(status=404))
    assert fetch(server.url("/f")).moved_to is None


def test_a_permanent_redirect_back_to_the_url_asked_for_moved_nothing(server):
    server.set("/here", Route(status=301, headers={"Location": "/here?x=1"}))
    server.set("/here?x=1", Route(status=301, headers={"Location": "/there"}))
    server.set("/there", Route(status=301, headers={"Location": "/here"}))
    assert fetch(server.url("/here")).failure.kind is FailureKind.REDIRECTS  # a circle is no answer
    server.set("/back", Route(status=307, headers={"Location": "/back2"}))
    server.set("/back2", "ok")
    assert fetch(server.url("/back")).moved_to is None


def test_redirect_loop_fails_as_redirects(server):
    server.set("/loop", Route(status=302, headers={"Location": "/loop"}))
    result = fetch(server.url("/loop"), max_redirects=3)
    assert result.failure is not None and result.failure.kind is FailureKind.REDIRECTS
    assert result.status is None
    assert len(server.requests_for("/loop")) == 4  # the first request and three redirects followed


def test_redirect_limit_is_exact(server):
    server.set("/r1", Route(status=302, headers={"Location": "/r2"}))
    server.set("/r2", Route(status=302, headers={"Location": "/end"}))
    server.set("/end", "done")
    assert fetch(server.url("/r1"), max_redirects=2).ok
    assert fetch(server.url("/r1"), max_redirects=1).failure.kind is FailureKind.REDIRECTS


def test_a_redirect_to_another_host_waits_for_that_hosts_turn():
    """Each hop goes through the gate of the host it goes to, not only the first one."""
    with LocalWebServer(hosts=free_loopback_hosts(2)) as web:
        web.set(
            "/moved",
            Route(status=301, headers={"Location": web.url("/feed", host="127.0.0.2")}),
            host="127.0.0.1",
        )
        web.set("/feed", "<rss/>", host="127.0.0.2")
        web.set("/other", "<rss/>", host="127.0.0.2")

        async def main():
            async with _fetcher(gate=HostGate(concurrency=1, delay=0.4)) as fetcher:
                return await asyncio.gather(
                    fetcher.fetch(web.url("/other", host="127.0.0.2")),
                    fetcher.fetch(web.url("/moved", host="127.0.0.1")),
                )

        other, moved = asyncio.run(main())
        assert other.ok and moved.ok and moved.final_url == web.url("/feed", host="127.0.0.2")
        starts = sorted(r.at for r in web.requests if r.host == "127.0.0.2")
        assert starts[1] - starts[0] >= 0.4 - 0.05


def test_allow_is_asked_about_every_redirect_target(server):
    server.set("/hop", Route(status=302, headers={"Location": "/private/page"}))
    server.set("/private/page", "secret")
    asked = []

    async def allow(url):
        asked.append(url)
        return "/private/" not in url

    async def main():
        async with _fetcher() as fetcher:
            return await fetcher.fetch(server.url("/hop"), allow=allow)

    result = asyncio.run(main())
    assert asked == [server.url("/private/page")]
    assert result.failure.kind is FailureKind.ROBOTS and "robots.txt" in result.failure.message
    assert server.requests_for("/private/page") == []


def test_a_redirect_off_the_web_is_named_as_such_not_as_a_robots_refusal(server):
    server.set("/hop", Route(status=302, headers={"Location": "file:///etc/passwd"}))
    asked = []

    async def allow(url):
        asked.append(url)
        return False

    async def main():
        async with _fetcher() as fetcher:
            return await fetcher.fetch(server.url("/hop"), allow=allow)

    result = asyncio.run(main())
    assert asked == [] and result.failure.kind is FailureKind.INVALID_URL, result.failure
    assert "not an http(s) address" in result.failure.message and "robots" not in result.failure.message


def test_redirect_to_an_unsupported_scheme(server):
    server.set("/x", Route(status=302, headers={"Location": "ftp://127.0.0.1/feed"}))
    result = fetch(server.url("/x"))
    assert result.failure.kind is FailureKind.INVALID_URL


# ----------------------------------------------------------------------------------- size caps


def test_content_length_over_the_cap_is_refused(server):
    server.set("/big", Route(body=b"x" * 5000))
    result = fetch(server.url("/big"), max_bytes=1000)
    assert result.failure.kind is FailureKind.TOO_LARGE
    assert "Content-Length" in result.failure.message
    assert result.body == b""


def test_content_length_over_the_cap_is_refused_before_reading():
    class Tripwire(httpx.AsyncByteStream):
        read = False

        async def __aiter__(self):
            Tripwire.read = True
            yield b"x" * 1024

    def handler(request):
        return httpx.Response(200, headers={"Content-Length": str(10**12)}, stream=Tripwire())

    result = fetch("http://feeds.test/huge", max_bytes=MB, transport=mock(handler))
    assert result.failure.kind is FailureKind.TOO_LARGE
    assert not Tripwire.read


def test_body_exactly_at_the_cap_is_accepted(server):
    server.set("/edge", Route(body=b"x" * 1000))
    assert fetch(server.url("/edge"), max_bytes=1000).body == b"x" * 1000
    assert fetch(server.url("/edge"), max_bytes=999).failure.kind is FailureKind.TOO_LARGE


@pytest.mark.parametrize("close_delimited", [False, True], ids=["chunked", "close-delimited"])
def test_stream_over_the_cap_is_refused_while_streaming(server, close_delimited):
    server.set("/stream", Route(stream_bytes=50 * MB, lie_length=close_delimited))
    transport = CountingTransport()
    started = time.monotonic()
    result = fetch(server.url("/stream"), max_bytes=MB, transport=transport)
    elapsed = time.monotonic() - started
    assert result.failure is not None and result.failure.kind is FailureKind.TOO_LARGE
    assert "while streaming" in result.failure.message
    assert "content-length" not in result.headers
    # The client stopped soon after the cap: it did not pull the other 49 MB.
    assert MB < transport.received < 4 * MB
    assert elapsed < 10  # finishes fast (a wide margin)


def test_stream_under_the_cap_is_read_whole(server):
    server.set("/stream", Route(stream_bytes=300_000))
    result = fetch(server.url("/stream"), max_bytes=MB)
    assert result.ok and result.body == b"x" * 300_000


def test_gzip_bomb_from_the_server_is_refused(server):
    server.set("/bomb", Route(body=b"\0" * (8 * MB), gzip=True))  # about 8 KB on the wire
    result = fetch(server.url("/bomb"), max_bytes=MB)
    assert result.failure.kind is FailureKind.TOO_LARGE
    assert "decompression" in result.failure.message


def test_gzip_bomb_built_with_zlib_is_refused_fast():
    zeros = b"\0" * MB
    bomb = gzip_bytes(zeros for _ in range(64))  # 64 MB of zeros in about 64 KB
    assert len(bomb) < MB

    def handler(request):
        return raw_response(bomb, Content_Encoding="gzip")

    started = time.monotonic()
    result = fetch("http://feeds.test/bomb", max_bytes=MB, transport=mock(handler))
    assert result.failure is not None and result.failure.kind is FailureKind.TOO_LARGE
    assert "decompression" in result.failure.message
    assert time.monotonic() - started < 10  # a wide margin; inflating all 64 MB is not needed


@pytest.mark.parametrize("wbits", [15, -15], ids=["zlib-wrapped", "raw"])
def test_deflate_works(wbits):
    text = b"<rss>" + b"deflated news " * 2000 + b"</rss>"
    body = gzip_bytes([text], wbits=wbits)

    def handler(request):
        assert "deflate" in request.headers["accept-encoding"]
        return raw_response(body, Content_Encoding="deflate")

    result = fetch("http://feeds.test/deflate", transport=mock(handler))
    assert result.ok
    assert result.body == text


@pytest.mark.parametrize("encoding", ["gzip", "x-gzip", "GZIP", " gzip ", "identity, gzip"])
def test_gzip_encoding_names(encoding):
    text = b"<rss>spelled differently</rss>"

    def handler(request):
        return raw_response(gzip_bytes([text]), Content_Encoding=encoding)

    assert fetch("http://feeds.test/f", transport=mock(handler)).body == text


@pytest.mark.parametrize("encoding", ["br", "zstd", "compress", "gzip, br"])
def test_unknown_content_encoding_is_a_clear_failure(encoding):
    def handler(request):
        return raw_response(b"\x8b\x00\x01garbage", Content_Encoding=encoding)

    result = fetch("http://feeds.test/f", transport=mock(handler))
    assert result.failure is not None and result.failure.kind is FailureKind.OTHER
    assert "Content-Encoding" in result.failure.message
    assert encoding in result.failure.message
    assert result.body == b""


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_corrupt_compressed_body_is_a_clear_failure(encoding):
    def handler(request):
        return raw_response(b"this is not compressed", Content_Encoding=encoding)

    result = fetch("http://feeds.test/f", transport=mock(handler))
    assert result.failure is not None and result.failure.kind is FailureKind.OTHER
    assert "corrupt" in result.failure.message and encoding in result.failure.message


def test_mock_transport_with_preloaded_content_works():
    # httpx.MockTransport with content= reads (and decodes) the body before the Fetcher sees it.
    text = b"<rss>mocked</rss>"

    def handler(request):
        return httpx.Response(200, headers={"Content-Encoding": "gzip"}, content=gzip_bytes([text]))

    result = fetch("http://feeds.test/f", transport=mock(handler))
    assert result.ok and result.body == text


def test_mock_transport_with_preloaded_content_respects_the_cap():
    def handler(request):
        return httpx.Response(200, content=b"x" * 2000, headers={"Content-Length": "10"})

    result = fetch("http://feeds.test/f", max_bytes=1000, transport=mock(handler))
    assert result.failure.kind is FailureKind.TOO_LARGE


# ----------------------------------------------------------------------------------- _Decoder


def _decode(encoding: str, data: bytes, limit: int, step: int) -> bytes:
    decoder = _Decoder(encoding, limit)
    for i in range(0, len(data), step):
        decoder.feed(data[i : i + step])
    return decoder.finish()


@pytest.mark.parametrize("step", [1, 2, 7, 4096, 10**9])
@pytest.mark.parametrize(("encoding", "wbits"), [("gzip", 31), ("deflate", 15), ("deflate", -15)])
def test_decoder_any_chunking(encoding, wbits, step):
    text = bytes(range(256)) * 40
    assert _decode(encoding, gzip_bytes([text], wbits=wbits), 10**6, step) == text


def test_decoder_identity_and_limits():
    assert _decode("", b"abc", 3, 1) == b"abc"
    assert _decode("identity", b"abc", 3, 2) == b"abc"
    with pytest.raises(ResponseTooLarge):
        _decode("", b"abcd", 3, 10)


def test_decoder_limit_is_exact_after_decompression():
    data = gzip_bytes([b"a" * 1000])
    assert _decode("gzip", data, 1000, 100) == b"a" * 1000
    with pytest.raises(ResponseTooLarge):
        _decode("gzip", data, 999, 100)


def test_decoder_never_holds_much_more_than_the_limit():
    decoder = _Decoder("gzip", 10_000)
    with pytest.raises(ResponseTooLarge):
        decoder.feed(gzip_bytes([b"\0" * (16 * MB)]))
    assert decoder.size <= 10_001


def test_decoder_unknown_encoding():
    with pytest.raises(httpx.DecodingError, match="br"):
        _Decoder("br", 100)


def test_decoder_truncated_deflate_header():
    decoder = _Decoder("deflate", 100)
    decoder.feed(b"x")
    with pytest.raises(httpx.DecodingError):
        decoder.finish()


# ----------------------------------------------------------------------------------- network trouble


def test_connection_refused():
    url = f"http://127.0.0.1:{closed_port()}/feed.xml"
    result = fetch(url)
    assert result.failure is not None and result.failure.kind is FailureKind.CONNECTION
    assert result.status is None and result.url == url


def test_read_timeout(server):
    server.set("/slow", Route(body="late", delay=1.5))
    result = fetch(server.url("/slow"), timeout=0.2)
    assert result.failure is not None and result.failure.kind is FailureKind.TIMEOUT
    assert result.failure.message.startswith("timed out")


def test_whole_request_deadline_stops_a_drip():
    # Each byte arrives well within the per-read timeout, so only the whole-request deadline can stop it.
    with DripServer(interval=0.05) as drip:
        started = time.monotonic()
        result = fetch(drip.url, timeout=0.3)
        elapsed = time.monotonic() - started
    assert result.failure is not None and result.failure.kind is FailureKind.TIMEOUT
    assert "within" in result.failure.message
    assert elapsed >= 0.3  # it did drip for a while: the deadline, not a read timeout
    assert elapsed < 10  # and stopped (the whole body would take 5000 s)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://127.0.0.1/x",
        "file:///etc/passwd",
        "not a url",
        "",
        "http://",
        "http://[::1",
        "http://127.0.0.1:99999/",
        "http://127.0.0.1:abc/",
    ],
)
def test_invalid_url(url):
    result = fetch(url)
    assert result.failure is not None and result.failure.kind is FailureKind.INVALID_URL, result.failure
    assert result.url == url and result.status is None


# ----------------------------------------------------------------------------------- concurrency


def test_global_concurrency_limit_over_hosts():
    hosts = free_loopback_hosts(6)
    delay = 0.4
    with LocalWebServer(hosts=hosts) as srv:
        srv.set("/slow", Route(body="ok", delay=delay))
        urls = [srv.url("/slow", host=h) for h in hosts]
        results = fetch_all(urls, concurrency=2, gate=HostGate(concurrency=10, delay=0))
        arrivals = sorted(r.at for r in srv.requests_for("/slow"))
    assert all(r.ok for r in results)
    assert len(arrivals) == 6
    # A third request can only reach the server once one of the two before it was answered, and each
    # answer takes at least `delay`: so arrival i+2 is at least `delay` after arrival i.
    for first, third in zip(arrivals, arrivals[2:]):
        assert third - first >= delay - 0.02, arrivals
    assert arrivals[1] - arrivals[0] < delay  # and two did run side by side


# Arrival times are taken by server threads, which a loaded machine may wake late: spacing checks on
# them allow half the delay (without the gate the gaps would be a few milliseconds).


def test_fetcher_goes_through_the_host_gate(server):
    delay = 0.2
    server.set("/a", "a")
    results = fetch_all([server.url("/a")] * 3, gate=HostGate(concurrency=5, delay=delay))
    assert all(r.ok for r in results)
    arrivals = sorted(r.at for r in server.requests_for("/a"))
    for a, b in zip(arrivals, arrivals[1:]):
        assert b - a >= delay / 2, arrivals


def test_host_spacing_holds_when_the_global_limit_is_the_bottleneck():
    # One global slot, busy with a slow request to another host; two requests to host A queue behind it.
    # When the slot frees up they must still start `delay` apart, not back to back.
    delay = 0.2
    a, b = free_loopback_hosts(2)
    with LocalWebServer(hosts=[a, b]) as srv:
        srv.set("/slow", Route(body="slow", delay=0.3), host=b)
        srv.set("/a", "a", host=a)

        async def main():
            async with _fetcher(concurrency=1, gate=HostGate(concurrency=2, delay=delay)) as fetcher:
                hog = asyncio.create_task(fetcher.fetch(srv.url("/slow", host=b)))
                await asyncio.sleep(0.1)  # the hog holds the global slot now
                return await asyncio.gather(hog, *(fetcher.fetch(srv.url("/a", host=a)) for _ in range(2)))

        results = asyncio.run(main())
        arrivals = sorted(r.at for r in srv.requests_for("/a", host=a))
    assert all(r.ok for r in results)
    assert arrivals[1] - arrivals[0] >= delay / 2, arrivals


def test_fetch_never_raises_for_many_kinds_of_trouble(server):
    server.set("/ok", "fine")
    server.set("/gone", Route(status=410))
    urls = [server.url("/ok"), server.url("/gone"), f"http://127.0.0.1:{closed_port()}/", "ftp://x/"]
    results = fetch_all(urls)
    assert [r.failure.kind if r.failure else None for r in results] == [
        None,
        FailureKind.GONE,
        FailureKind.CONNECTION,
        FailureKind.INVALID_URL,
    ]


# ----------------------------------------------------------------------------------- parse_retry_after

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("value", [None, "", "   ", "soon", "-5", "1.5", "²", "12abc", "Mon, 99 Foo 2024"])
def test_parse_retry_after_unreadable(value):
    assert parse_retry_after(value, now=NOW) is None


def test_parse_retry_after_seconds():
    assert parse_retry_after("0", now=NOW) == timedelta(0)
    assert parse_retry_after(" 120 ", now=NOW) == timedelta(seconds=120)


def test_parse_retry_after_is_capped_at_a_week():
    assert parse_retry_after(str(30 * 86400), now=NOW) == MAX_RETRY_AFTER
    assert parse_retry_after("9" * 40, now=NOW) == MAX_RETRY_AFTER
    assert parse_retry_after("9" * 5000, now=NOW) == MAX_RETRY_AFTER  # past the digits int() reads
    assert parse_retry_after("0" * 5000 + "120", now=NOW) == timedelta(seconds=120)
    assert parse_retry_after("Fri, 01 Jan 2100 00:00:00 GMT", now=NOW) == MAX_RETRY_AFTER


def test_parse_retry_after_http_date():
    assert parse_retry_after("Wed, 01 May 2024 13:30:00 GMT", now=NOW) == timedelta(minutes=90)


def test_parse_retry_after_date_in_the_past_is_zero():
    assert parse_retry_after("Wed, 01 May 2024 11:00:00 GMT", now=NOW) == timedelta(0)


def test_parse_retry_after_date_without_zone_is_utc():
    assert parse_retry_after("Wed, 01 May 2024 12:10:00 -0000", now=NOW) == timedelta(minutes=10)


def test_parse_retry_after_date_defaults_to_the_real_clock():
    later = datetime.now(UTC) + timedelta(minutes=10)
    delay = parse_retry_after(format_datetime(later, usegmt=True))
    assert timedelta(minutes=9) <= delay <= timedelta(minutes=10)


# ----------------------------------------------------------------------------------- parse_cache_lifetime


def _lifetime(**headers: str) -> timedelta | None:
    return parse_cache_lifetime({name.replace("_", "-"): value for name, value in headers.items()}, now=NOW)


def test_cache_lifetime_from_max_age_less_age():
    assert _lifetime(cache_control="public, max-age=600") == timedelta(minutes=10)
    assert _lifetime(cache_control='max-age="600"', age="120") == timedelta(minutes=8)
    assert _lifetime(cache_control="MAX-AGE=60, s-maxage=9999") == timedelta(minutes=1)


def test_cache_lifetime_max_age_wins_over_expires():
    assert _lifetime(cache_control="max-age=60", expires="Wed, 01 May 2024 18:00:00 GMT") == timedelta(
        minutes=1
    )


def test_cache_lifetime_from_expires_against_the_servers_date():
    # The server's clock is an hour behind ours: its Date, not our clock, measures its Expires.
    assert _lifetime(expires="Wed, 01 May 2024 11:30:00 GMT", date="Wed, 01 May 2024 11:00:00 GMT") == (
        timedelta(minutes=30)
    )
    assert _lifetime(expires="Wed, 01 May 2024 12:45:00 GMT") == timedelta(minutes=45)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"cache-control": "no-cache, max-age=600"},
        {"cache-control": "no-store"},
        {"cache-control": "max-age=0"},
        {"cache-control": "max-age=-5"},
        {"cache-control": "max-age=soon"},
        {"cache-control": "max-age=²"},
        {"cache-control": ",,,=,max-age"},
        {"cache-control": "max-age=600", "age": "900"},
        {"expires": "0"},
        {"expires": "-1"},
        {"expires": "Mon, 99 Foo 2024"},
        {"expires": "Wed, 01 May 2024 11:00:00 GMT"},  # in the past
    ],
)
def test_cache_lifetime_none_when_absent_expired_forbidden_or_garbage(headers):
    assert parse_cache_lifetime(headers, now=NOW) is None


def test_cache_lifetime_is_capped_at_a_week():
    assert _lifetime(cache_control="max-age=" + "9" * 40) == MAX_RETRY_AFTER
    assert _lifetime(expires="Fri, 31 Dec 9999 23:59:59 GMT") == MAX_RETRY_AFTER


def test_cache_lifetime_unreadable_age_is_ignored():
    assert _lifetime(cache_control="max-age=600", age="old") == timedelta(minutes=10)


def test_a_fetch_result_reports_its_cache_lifetime():
    result = FetchResult("http://x/", "http://x/", 200, {"cache-control": "max-age=3600"})
    assert result.cache_lifetime == timedelta(hours=1)
    assert FetchResult("http://x/", "http://x/", 200).cache_lifetime is None


# ----------------------------------------------------------------------------------- classify_status


@pytest.mark.parametrize("status", [200, 201, 203, 204, 206, 304])
def test_classify_status_success(status):
    assert classify_status(status, {}) is None


def test_classify_status_retry_after_only_where_it_means_something():
    headers = {"retry-after": "60"}
    assert classify_status(503, headers).retry_after == timedelta(seconds=60)
    assert classify_status(429, headers).retry_after == timedelta(seconds=60)
    assert classify_status(500, headers).retry_after is None
    assert classify_status(404, headers).retry_after is None
    assert classify_status(410, headers).kind is FailureKind.GONE


# ----------------------------------------------------------------------------------- classify_exception


def _request() -> httpx.Request:
    return httpx.Request("GET", "http://feeds.example.invalid/feed.xml")


def _chained(outer: BaseException, *causes: BaseException) -> BaseException:
    exc = outer
    for cause in causes:
        exc.__cause__ = cause
        exc = cause
    return outer


def test_classify_dns_failure():
    gai = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    exc = _chained(httpx.ConnectError("[Errno -2] Name or service not known", request=_request()), gai)
    failure = classify_exception(exc)
    assert failure.kind is FailureKind.DNS
    assert failure.message.startswith("DNS lookup failed")


def test_classify_dns_failure_through_httpcore():
    # How httpx really raises it: httpx.ConnectError <- httpcore.ConnectError <- socket.gaierror.
    gai = socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
    exc = _chained(
        httpx.ConnectError("[Errno -3] Temporary failure in name resolution"),
        httpcore.ConnectError(str(gai)),
        gai,
    )
    assert classify_exception(exc).kind is FailureKind.DNS


def test_a_dns_failure_the_address_guard_named_is_said_once():
    gai = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    said = f"DNS lookup of feeds.example.invalid failed: {gai}"
    exc = _chained(httpx.ConnectError(said), httpcore.ConnectError(said), gai)
    failure = classify_exception(exc)
    assert failure.kind is FailureKind.DNS
    assert failure.message == said


def test_classify_dns_failure_by_context():
    exc = httpx.ConnectError("lookup failed")
    exc.__context__ = socket.gaierror(socket.EAI_NONAME, "nope")
    assert classify_exception(exc).kind is FailureKind.DNS


def test_classify_tls_failure():
    tls = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    exc = _chained(httpx.ConnectError("handshake failed"), httpcore.ConnectError("handshake failed"), tls)
    failure = classify_exception(exc)
    assert failure.kind is FailureKind.TLS
    assert failure.message.startswith("TLS failed")


def test_classify_tls_failure_plain_ssl_error():
    tls = ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number")
    exc = _chained(httpx.ConnectError("boom"), tls)
    assert classify_exception(exc).kind is FailureKind.TLS


def test_classify_plain_connect_error():
    refused = ConnectionRefusedError(111, "refused")
    exc = _chained(httpx.ConnectError("[Errno 111] Connection refused"), refused)
    failure = classify_exception(exc)
    assert failure.kind is FailureKind.CONNECTION
    assert "refused" in failure.message


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (httpx.ReadTimeout("read timed out"), FailureKind.TIMEOUT),
        (httpx.ConnectTimeout("connect timed out"), FailureKind.TIMEOUT),
        (httpx.PoolTimeout("pool"), FailureKind.TIMEOUT),
        (TimeoutError(), FailureKind.TIMEOUT),
        (TimeoutError(), FailureKind.TIMEOUT),
        (httpx.TooManyRedirects("Exceeded maximum allowed redirects."), FailureKind.REDIRECTS),
        (httpx.UnsupportedProtocol("unsupported protocol 'ftp://'."), FailureKind.INVALID_URL),
        (httpx.InvalidURL("Invalid port: 'abc'"), FailureKind.INVALID_URL),
        (httpx.ReadError("connection reset"), FailureKind.CONNECTION),
        (httpx.WriteError("broken pipe"), FailureKind.CONNECTION),
        (httpx.RemoteProtocolError("peer closed connection"), FailureKind.CONNECTION),
        (ConnectionResetError(104, "reset"), FailureKind.CONNECTION),
        (ResponseTooLarge("too big"), FailureKind.TOO_LARGE),
        (httpx.DecodingError("unsupported Content-Encoding 'br'"), FailureKind.OTHER),
        (ValueError("something else"), FailureKind.OTHER),
        (ExceptionGroup("wrapped", [httpx.ReadError("reset")]), FailureKind.CONNECTION),
    ],
)
def test_classify_exception_kinds(exc, kind):
    failure = classify_exception(exc)
    assert isinstance(failure, Failure)
    assert failure.kind is kind
    assert failure.message  # never empty, even for exceptions without a message
    assert failure.retry_after is None


def test_classify_exception_message_names_an_anonymous_exception():
    assert "TimeoutError" in classify_exception(TimeoutError()).message
    assert "ValueError" in classify_exception(ValueError("x")).message


def test_a_dropped_connection_is_asked_once_more():
    with DroppingServer(drops=1) as flaky:
        result = fetch(flaky.url)
    assert result.ok and result.body == b"ok" and flaky.requests == 2


def test_a_connection_dropped_twice_is_a_connection_failure():
    with DroppingServer(drops=5) as flaky:
        result = fetch(flaky.url)
    assert result.failure is not None and result.failure.kind is FailureKind.CONNECTION
    assert flaky.requests == 2  # one retry, not a loop


# ------------------------------------------------------------------------------------ kept-alive connections


def _fetch_in_turn(calls) -> list[FetchResult]:
    """Run (url, kwargs) fetches one after another through one Fetcher."""

    async def main():
        async with _fetcher() as fetcher:
            return [await fetcher.fetch(url, **kwargs) for url, kwargs in calls]

    return asyncio.run(main())


def _connections(server, *paths) -> set[int]:
    return {r.client_port for path in paths for r in server.requests_for(path)}


def test_unchanged_answers_keep_the_connection(server):
    # A 304 has no body, but closing it unread would close its connection: every unchanged feed would then
    # cost a new TCP (and TLS) handshake.
    server.set("/kept/feed.xml", Route(body="<rss/>"))
    first = fetch(server.url("/kept/feed.xml"))
    server.clear_requests()
    results = _fetch_in_turn([(server.url("/kept/feed.xml"), {"etag": first.etag})] * 4)
    assert [r.status for r in results] == [304] * 4
    assert len(_connections(server, "/kept/feed.xml")) == 1


def test_redirects_and_small_error_pages_keep_the_connection(server):
    server.set("/kept/old", Route(status=301, headers={"Location": "/kept/new"}, body="moved"))
    server.set("/kept/new", Route(body="here"))
    server.set("/kept/missing", Route(status=404, body="not here " * 100))
    results = _fetch_in_turn(
        [(server.url("/kept/old"), {}), (server.url("/kept/missing"), {}), (server.url("/kept/new"), {})]
    )
    assert [r.status for r in results] == [200, 404, 200]
    assert results[0].body == b"here" and results[1].failure.kind is FailureKind.HTTP_4XX
    assert len(_connections(server, "/kept/old", "/kept/new", "/kept/missing")) == 1


def test_a_large_error_page_is_not_read_to_keep_its_connection(server):
    from monitor.ingest.fetch import DRAIN_LIMIT

    server.set("/kept/huge-error", Route(status=500, body=b"x" * (DRAIN_LIMIT * 4)))
    server.set("/kept/after", Route(body="ok"))
    results = _fetch_in_turn([(server.url("/kept/huge-error"), {}), (server.url("/kept/after"), {})])
    assert results[0].failure.kind is FailureKind.HTTP_5XX and results[1].ok
    assert len(_connections(server, "/kept/huge-error", "/kept/after")) == 2


def test_a_proxy_from_the_environment_carries_the_requests(monkeypatch):
    # Behind a proxy there are no per-site pools: every request goes to the proxy, as httpx sends it.
    with LocalWebServer() as proxy:
        proxy.set("http://news.example.invalid/feed.xml", Route(body="<rss>via proxy</rss>"))
        monkeypatch.setenv("HTTP_PROXY", proxy.url("/"))
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        result = fetch("http://news.example.invalid/feed.xml")
    assert result.ok and result.body == b"<rss>via proxy</rss>"
    assert [r.path for r in proxy.requests] == ["http://news.example.invalid/feed.xml"]


def test_cookies_are_neither_kept_nor_sent_back(server):
    # A site whose every answer sets a new cookie (a load balancer's, a tracker's). Kept, they went back with
    # every request to it, telling it which instance was polling, until the requests grew past what the
    # server takes and every fetch of the site failed; and a daemon's memory grew with them for months.
    cookie = "v" * 3000
    server.set_sequence(
        "/cookies/feed.xml",
        [
            Route(body="<rss/>", etag=False, headers={"Set-Cookie": f"c{n}={cookie}; Path=/; Max-Age=999999"})
            for n in range(40)
        ],
    )
    server.set("/cookies/old", Route(status=302, headers={"Location": "/cookies/new", "Set-Cookie": "a=1"}))
    server.set("/cookies/new", Route(body="here"))
    results = _fetch_in_turn(
        [(server.url("/cookies/feed.xml"), {})] * 40 + [(server.url("/cookies/old"), {})]
    )
    assert [r.status for r in results] == [200] * 41
    sent = server.requests_for("/cookies/feed.xml") + server.requests_for("/cookies/new")
    assert len(sent) == 41
    assert not [r for r in sent if "cookie" in r.headers]


def test_the_ca_bundle_is_loaded_once_per_process():
    # Loading it takes ~30 ms: a poll makes a client for its fetches, and a reload another.
    from monitor.ingest.fetch import _tls_context

    assert _tls_context() is _tls_context()
