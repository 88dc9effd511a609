"""Tests for the local test web server (tests/support/httpserver.py)."""

from __future__ import annotations

import gzip
import hashlib
import http.client
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from email.utils import formatdate

import httpx
import pytest

try:
    from tests.support.httpserver import LocalWebServer, RequestRecord, Route, free_loopback_hosts
except ImportError:  # tests/ is not a package: pytest puts tests/ itself on sys.path
    from support.httpserver import LocalWebServer, RequestRecord, Route, free_loopback_hosts


@pytest.fixture
def server():
    with LocalWebServer() as srv:
        yield srv


@pytest.fixture
def client():
    # trust_env=False: never route loopback traffic through a proxy from the environment.
    with httpx.Client(trust_env=False, timeout=5.0) as c:
        yield c


def test_free_loopback_hosts():
    assert free_loopback_hosts(1) == ["127.0.0.1"]
    assert free_loopback_hosts(3) == ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
    with pytest.raises(ValueError):
        free_loopback_hosts(0)


def test_linux_routes_all_of_127_8_to_loopback():
    # 127.0.0.2+ can be bound and reached without any interface setup.
    with socket.socket() as listener:
        listener.bind(("127.0.0.3", 0))
        listener.listen(1)
        with socket.create_connection(listener.getsockname(), timeout=2):
            conn, _ = listener.accept()
            conn.close()


def test_200_with_body_and_headers(server, client):
    body = '<?xml version="1.0"?><rss><channel><title>café</title></channel></rss>'
    server.set("/feed.xml", Route(body=body, headers={"Content-Type": "application/rss+xml", "X-Extra": "1"}))
    r = client.get(server.url("/feed.xml"))
    assert r.status_code == 200
    assert r.http_version == "HTTP/1.1"
    assert r.text == body
    assert r.headers["content-type"] == "application/rss+xml"
    assert r.headers["x-extra"] == "1"
    assert int(r.headers["content-length"]) == len(body.encode("utf-8"))
    assert server.url("/feed.xml") == f"http://127.0.0.1:{server.port}/feed.xml"

    server.set("/plain", b"hello")  # bytes/str shorthand; content type guessed
    server.set("/page", "<!doctype html><html><body>x</body></html>")
    assert client.get(server.url("/plain")).content == b"hello"
    assert client.get(server.url("plain")).headers["content-type"].startswith("text/plain")
    assert client.get(server.url("/page")).headers["content-type"].startswith("text/html")


def test_head_is_get_without_body(server, client):
    server.set("/a", Route(body="0123456789", headers={"X-H": "y"}))
    r = client.head(server.url("/a"))
    assert r.status_code == 200
    assert r.content == b""
    assert r.headers["content-length"] == "10"
    assert r.headers["x-h"] == "y"
    assert client.get(server.url("/a")).text == "0123456789"  # connection still in good shape


def test_keep_alive_reuses_the_connection(server):
    server.set("/k", "k")
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        conn.request("GET", "/k")
        r1 = conn.getresponse()
        assert r1.read() == b"k" and r1.version == 11
        sock = conn.sock
        conn.request("GET", "/nope")
        r2 = conn.getresponse()
        assert r2.status == 404 and r2.read()
        assert conn.sock is sock and sock is not None
    finally:
        conn.close()


def test_etag_304(server, client):
    body = b"<rss>etag</rss>"
    server.set("/e", Route(body=body))
    r = client.get(server.url("/e"))
    etag = r.headers["etag"]
    assert etag == f'"{hashlib.sha1(body).hexdigest()}"'

    r304 = client.get(server.url("/e"), headers={"If-None-Match": etag})
    assert r304.status_code == 304 and r304.content == b""
    assert r304.headers["etag"] == etag
    assert client.get(server.url("/e"), headers={"If-None-Match": f'"other", W/{etag}'}).status_code == 304
    assert client.get(server.url("/e"), headers={"If-None-Match": '"other"'}).status_code == 200
    assert client.head(server.url("/e"), headers={"If-None-Match": etag}).status_code == 304
    assert [rec.status for rec in server.requests_for("/e")] == [200, 304, 304, 200, 304]

    server.set("/noetag", Route(body=body, etag=False))
    r = client.get(server.url("/noetag"), headers={"If-None-Match": etag})
    assert r.status_code == 200 and "etag" not in r.headers


def test_last_modified_304(server, client):
    lm = "Wed, 01 Jan 2025 10:00:00 GMT"
    server.set("/lm", Route(body="x", etag=False, last_modified=lm))
    r = client.get(server.url("/lm"))
    assert r.status_code == 200 and r.headers["last-modified"] == lm
    assert client.get(server.url("/lm"), headers={"If-Modified-Since": lm}).status_code == 304
    later = "Thu, 02 Jan 2025 10:00:00 GMT"
    earlier = "Tue, 31 Dec 2024 10:00:00 GMT"
    assert client.get(server.url("/lm"), headers={"If-Modified-Since": later}).status_code == 304
    assert client.get(server.url("/lm"), headers={"If-Modified-Since": earlier}).status_code == 200
    assert client.get(server.url("/lm"), headers={"If-Modified-Since": "garbage"}).status_code == 200
    # If-None-Match takes precedence over If-Modified-Since.
    server.set("/both", Route(body="x", last_modified=lm))
    r = client.get(server.url("/both"), headers={"If-Modified-Since": later, "If-None-Match": '"nope"'})
    assert r.status_code == 200
    # epoch seconds are formatted as an HTTP-date
    server.set("/epoch", Route(body="x", last_modified=0.0))
    assert client.get(server.url("/epoch")).headers["last-modified"] == formatdate(0, usegmt=True)


def test_set_sequence_429_then_200(server, client):
    server.set_sequence(
        "/busy",
        [
            Route(status=429, body="slow down", headers={"Retry-After": "120"}),
            Route(body="ok"),
        ],
    )
    r1 = client.get(server.url("/busy"))
    assert r1.status_code == 429 and r1.headers["retry-after"] == "120" and r1.text == "slow down"
    assert "etag" not in r1.headers
    assert client.get(server.url("/busy")).text == "ok"
    assert client.get(server.url("/busy")).text == "ok"  # the last route repeats
    assert [rec.status for rec in server.requests_for("/busy")] == [429, 200, 200]


def test_gzip_decoded_by_httpx(server, client):
    body = ("<html><body>" + "lorem ipsum " * 500 + "</body></html>").encode()
    server.set("/gz", Route(body=body, gzip=True))
    r = client.get(server.url("/gz"))
    assert r.headers["content-encoding"] == "gzip"
    assert r.content == body
    assert int(r.headers["content-length"]) == len(gzip.compress(body, mtime=0)) < len(body)
    assert r.headers["vary"] == "Accept-Encoding"
    # a client that does not accept gzip gets the identity body
    r = client.get(server.url("/gz"), headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in r.headers and r.content == body
    assert int(r.headers["content-length"]) == len(body)


def test_stream_bytes_chunked(server, client):
    n = 300_001
    server.set("/big", Route(stream_bytes=n))
    with client.stream("GET", server.url("/big")) as r:
        assert r.headers["transfer-encoding"] == "chunked"
        assert "content-length" not in r.headers
        total = sum(len(c) for c in r.iter_raw())
    assert total == n
    r = client.get(server.url("/big"))
    assert r.content == b"x" * n

    # a client that gives up mid-stream (size cap) must not disturb the server
    server.set("/huge", Route(stream_bytes=50_000_000))
    with client.stream("GET", server.url("/huge")) as r:
        for _ in r.iter_raw():
            break
    assert client.get(server.url("/big")).status_code == 200


def test_stream_bytes_close_delimited(server, client):
    server.set("/cd", Route(stream_bytes=100_000, lie_length=True))
    r = client.get(server.url("/cd"))
    assert "content-length" not in r.headers and "transfer-encoding" not in r.headers
    assert r.headers["connection"] == "close"
    assert len(r.content) == 100_000


def test_delay_is_concurrent(server):
    # Proven by order, not by a time window that a busy machine misses: both requests reached the server
    # before either answer came back, which a server that handled one at a time could not do. The delay is
    # only the time a slow second thread has to send its request; it is a floor for each answer.
    delay = 0.5
    server.set("/slow", Route(body="late", delay=delay))
    answered_at: list[float] = []
    results: list[int] = []
    ready = threading.Barrier(2)

    def fetch():
        with httpx.Client(trust_env=False, timeout=10) as c:
            ready.wait()
            results.append(c.get(server.url("/slow")).status_code)
            answered_at.append(time.monotonic())

    threads = [threading.Thread(target=fetch) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200, 200]
    arrivals = [r.at for r in server.requests_for("/slow")]
    assert len(arrivals) == 2
    assert max(arrivals) < min(answered_at)  # the second arrived while the first was still being delayed
    assert min(answered_at) - min(arrivals) >= delay - 0.02  # and the delay was served, not skipped


def test_several_hosts_same_port_and_per_host_routes(client):
    hosts = free_loopback_hosts(3)
    with LocalWebServer(hosts=hosts) as srv:
        assert [srv.url("/x", host=h) for h in hosts] == [f"http://{h}:{srv.port}/x" for h in hosts]
        srv.set("/shared", "everyone")
        srv.set("/shared", "override", host="127.0.0.3")
        srv.set("/only2", "two", host="127.0.0.2")
        for h in hosts:
            expected = "override" if h == "127.0.0.3" else "everyone"
            assert client.get(srv.url("/shared", host=h)).text == expected
        assert client.get(srv.url("/only2", host="127.0.0.2")).text == "two"
        assert client.get(srv.url("/only2", host="127.0.0.1")).status_code == 404
        assert [r.host for r in srv.requests_for("/shared")] == hosts
        assert [r.status for r in srv.requests_for("/only2")] == [200, 404]
        assert len(srv.requests_for("/only2", host="127.0.0.2")) == 1
        with pytest.raises(ValueError):
            srv.set("/x", "y", host="127.0.0.9")


def test_query_lookup_and_request_log(server, client):
    server.set("/s?q=1", "exact")
    server.set("/s", "any")
    assert client.get(server.url("/s?q=1")).text == "exact"
    assert client.get(server.url("/s?q=2")).text == "any"
    client.post(server.url("/s"), content=b"payload", headers={"X-Probe": "abc"})

    recs = server.requests_for("/s")
    assert [r.path for r in recs] == ["/s?q=1", "/s?q=2", "/s"]
    assert [r.path for r in server.requests_for("/s?q=2")] == ["/s?q=2"]
    rec = recs[-1]
    assert isinstance(rec, RequestRecord)
    assert (rec.host, rec.port, rec.method, rec.status) == ("127.0.0.1", server.port, "POST", 200)
    assert rec.headers["x-probe"] == "abc"
    assert rec.headers["host"] == f"127.0.0.1:{server.port}"
    assert rec.body == b"payload"
    assert all(k == k.lower() for k in rec.headers)
    assert recs[0].at <= recs[1].at <= rec.at <= time.monotonic()

    server.clear_requests()
    assert server.requests == [] and server.requests_for("/s") == []


def test_404_for_unknown_and_remove(server, client):
    r = client.get(server.url("/missing"))
    assert r.status_code == 404 and r.text and int(r.headers["content-length"]) == len(r.content)
    server.set("/tmp", "here")
    assert client.get(server.url("/tmp")).status_code == 200
    server.remove("/tmp")
    assert client.get(server.url("/tmp")).status_code == 404
    assert [r.status for r in server.requests] == [404, 200, 404]


def test_many_concurrent_requests_over_several_hosts():
    hosts = free_loopback_hosts(4)
    with LocalWebServer(hosts=hosts) as srv:
        srv.set("/p", Route(body="p" * 1000, delay=0.05))
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        with httpx.Client(trust_env=False, timeout=10, limits=limits) as c:
            urls = [srv.url(f"/p?i={i}", host=hosts[i % len(hosts)]) for i in range(400)]
            with ThreadPoolExecutor(max_workers=100) as pool:
                statuses = list(pool.map(lambda u: c.get(u).status_code, urls))
        assert statuses == [200] * 400
        assert len(srv.requests) == 400
        assert {r.host for r in srv.requests} == set(hosts)


def test_stop_is_prompt_while_a_delayed_request_is_pending():
    srv = LocalWebServer().start()
    srv.set("/forever", Route(body="never", delay=30))
    errors: list[BaseException] = []

    def fetch():
        try:
            with httpx.Client(trust_env=False, timeout=10) as c:
                c.get(srv.url("/forever"))
        except BaseException as exc:  # noqa: BLE001 - we want to see what the client got
            errors.append(exc)

    t = threading.Thread(target=fetch)
    t.start()
    deadline = time.monotonic() + 2
    while not any(s.connections for s in srv._servers.values()) and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)
    t0 = time.monotonic()
    srv.stop()
    assert time.monotonic() - t0 < 5.0  # the handler would sleep 30 s: a wide margin that load does not eat
    t.join(3)
    assert not t.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], httpx.TransportError)
    assert srv.requests == []  # an interrupted request is neither answered nor logged
    srv.stop()  # idempotent
    with pytest.raises(RuntimeError):
        srv.start()
