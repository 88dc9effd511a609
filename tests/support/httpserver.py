"""A small, dependable local web server for end-to-end tests and benchmarks (stdlib only).

Typical use::

    with LocalWebServer(hosts=free_loopback_hosts(2)) as srv:
        srv.set("/feed.xml", Route(body=rss, headers={"Content-Type": "application/rss+xml"}))
        srv.set("/a/1", "<html>...</html>", host="127.0.0.2")
        srv.set_sequence("/busy", [Route(status=429, headers={"Retry-After": "120"}), Route(body="ok")])
        httpx.get(srv.url("/feed.xml"))
        assert srv.requests_for("/feed.xml")[0].status == 200

Every host in ``hosts`` gets its own ``ThreadingHTTPServer`` bound to the *same* port, so URLs differ only
by host; one thread accepts the connections of all of them.  All of them share one route table and one
request log.  Linux routes the whole of 127.0.0.0/8 to the loopback interface, so 127.0.0.2, 127.0.0.3, ...
can be bound without any setup (not so on macOS).

Semantics worth knowing:

* Route lookup for a request to ``host`` and ``/p?q``: (host, "/p?q"), (any host, "/p?q"), (host, "/p"),
  (any host, "/p").  Nothing found -> 404 with a small text body.
* Routes are snapshotted by ``set()``; mutate a ``Route`` afterwards and call ``set()`` again to apply it.
* For ``set_sequence`` the route is chosen when the request arrives (arrival order), then its ``delay``
  is slept, then it is answered.  The last route repeats.
* ETag / Last-Modified / 304 handling applies to GET and HEAD answering a 2xx route with a body (not to
  streaming routes).  The ETag is ``"<sha1 hex of the uncompressed body>"``; If-None-Match uses the weak
  comparison (``W/`` prefixes are ignored) and ``*`` matches.  If-Modified-Since is only looked at when
  there is no If-None-Match.
* Every answer carries a Content-Length (except 1xx/204/304, which have no body, and streaming routes).
  ``stream_bytes`` sends ``b"x" * stream_bytes`` with ``Transfer-Encoding: chunked``; with
  ``lie_length=True`` it is sent instead as a close-delimited body (neither Content-Length nor chunked,
  ``Connection: close``), the HTTP/1.0 way.
* A request is logged (``requests``) just *before* its answer is written, so the record is visible by the
  time the client has the response.  ``at`` is the arrival time (``time.monotonic()``).  Requests whose
  delay is interrupted by ``stop()`` are not answered and not logged.
* Without a Content-Type in ``headers`` one is guessed from the body (rss/atom/xml/html, else text/plain).
"""

from __future__ import annotations

import email.utils
import errno
import gzip as _gzip
import hashlib
import selectors
import socket
import socketserver
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

__all__ = ["Route", "RequestRecord", "LocalWebServer", "free_loopback_hosts"]

_STREAM_CHUNK = 64 * 1024
_BIND_ATTEMPTS = 50


def free_loopback_hosts(n: int) -> list[str]:
    """The first ``n`` loopback addresses: ["127.0.0.1", ..., "127.0.0.254", "127.0.1.1", ...] (n <= 64,516).

    Anything beyond 127.0.0.1 is bindable without setup on Linux only.
    """
    if not 1 <= n <= 254 * 254:
        raise ValueError(f"n must be between 1 and {254 * 254}, got {n}")
    return [f"127.0.{i // 254}.{i % 254 + 1}" for i in range(n)]


@dataclass
class Route:
    body: bytes | str = b""  # str is encoded UTF-8
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to sleep before answering (interrupted by stop())
    etag: bool = True  # strong ETag (sha1 of body); 304 on a matching If-None-Match
    last_modified: str | datetime | float | None = None  # HTTP-date (or datetime / epoch seconds)
    gzip: bool = False  # gzip the body when the client accepts gzip
    stream_bytes: int | None = None  # stream this many b"x" bytes, chunked, instead of body
    lie_length: bool = False  # with stream_bytes: close-delimited body instead of chunked


@dataclass(frozen=True)
class RequestRecord:
    host: str  # the server address the request reached, e.g. "127.0.0.2"
    port: int
    path: str  # with query string
    method: str
    headers: dict[str, str]  # lowercased keys; repeated headers joined with ", "
    status: int  # what was answered
    at: float  # time.monotonic() at arrival
    body: bytes = b""  # request body, if any
    client_port: int = 0  # the client's end of the connection: requests that share it came on one connection

    @property
    def path_only(self) -> str:
        return self.path.split("?", 1)[0]


# --------------------------------------------------------------------------------------------- internals


def _http_date(value: str | datetime | float) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return email.utils.format_datetime(value.astimezone(UTC), usegmt=True)
    return email.utils.formatdate(float(value), usegmt=True)


def _parse_http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _guess_content_type(body: bytes) -> str:
    head = body[:512].lstrip().lower()
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:].lstrip()
    if head.startswith(b"<?xml"):
        if b"<rss" in head or b"<rdf:rdf" in head:
            return "application/rss+xml"
        if b"<feed" in head:
            return "application/atom+xml"
        return "application/xml"
    if head.startswith(b"<rss"):
        return "application/rss+xml"
    if head.startswith(b"<feed"):
        return "application/atom+xml"
    if head.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<!--")):
        return "text/html; charset=utf-8"
    return "text/plain; charset=utf-8"


def _accepts_gzip(accept_encoding: str | None) -> bool:
    if not accept_encoding:
        return False
    for item in accept_encoding.split(","):
        token, _, params = item.strip().partition(";")
        if token.strip().lower() not in ("gzip", "x-gzip", "*"):
            continue
        q = 1.0
        for param in params.split(";"):
            name, _, val = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(val)
                except ValueError:
                    q = 0.0
        if q > 0:
            return True
    return False


def _etag_matches(if_none_match: str, etag: str) -> bool:
    opaque = etag[2:] if etag.startswith("W/") else etag
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate == "*":
            return True
        if candidate.startswith("W/"):
            candidate = candidate[2:]
        if candidate == opaque:
            return True
    return False


class _Prepared:
    """An immutable snapshot of a Route, with the derived values computed once."""

    __slots__ = (
        "status",
        "headers",
        "delay",
        "body",
        "etag",
        "last_modified",
        "lm_dt",
        "gzip",
        "_gz",
        "stream_bytes",
        "close_delimited",
        "content_type",
    )

    def __init__(self, route: Route):
        body = route.body.encode("utf-8") if isinstance(route.body, str) else bytes(route.body)
        self.status = int(route.status)
        self.headers = dict(route.headers)
        self.delay = max(0.0, float(route.delay))
        self.body = body
        self.stream_bytes = None if route.stream_bytes is None else max(0, int(route.stream_bytes))
        self.close_delimited = bool(route.lie_length)
        streaming = self.stream_bytes is not None
        self.etag = f'"{hashlib.sha1(body).hexdigest()}"' if route.etag and not streaming else None
        self.last_modified = _http_date(route.last_modified) if route.last_modified is not None else None
        self.lm_dt = _parse_http_date(self.last_modified)
        self.gzip = bool(route.gzip) and not streaming
        self._gz: bytes | None = None
        lowered = {k.lower() for k in self.headers}
        if "content-type" in lowered:
            self.content_type = None
        elif streaming:
            self.content_type = "application/octet-stream"
        else:
            self.content_type = _guess_content_type(body)

    def gzipped(self) -> bytes:
        if self._gz is None:  # benign race: both threads compute the same bytes
            self._gz = _gzip.compress(self.body, compresslevel=6, mtime=0)
        return self._gz


class _Entry:
    __slots__ = ("routes", "index")

    def __init__(self, routes: list[_Prepared]):
        self.routes = routes
        self.index = 0

    def next(self) -> _Prepared:  # caller holds the route lock
        route = self.routes[min(self.index, len(self.routes) - 1)]
        self.index += 1
        return route


_CONNECTION_ERRORS = (ConnectionError, TimeoutError, socket.timeout, OSError)
_NO_BODY_STATUSES = frozenset({204, 304})


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "monitor-test-server/1.0"
    sys_version = ""
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - silence stderr logging
        pass

    # every method goes through the same dispatcher
    def _dispatch(self) -> None:
        self.server.owner._handle(self)

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _dispatch

    def read_request_body(self) -> bytes:
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            chunks = []
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise ConnectionError("client closed while sending a chunked body")
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
            return b"".join(chunks)
        length = self.headers.get("Content-Length")
        if length:
            n = int(length)
            if n < 0:
                raise ValueError("negative Content-Length")
            return self.rfile.read(n) if n else b""
        return b""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512
    allow_reuse_address = True
    allow_reuse_port = False  # never share a port with a stranger

    def __init__(self, host: str, port: int, owner: LocalWebServer):
        self.owner = owner
        self.host = host
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__((host, port), _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), which may do a slow reverse DNS lookup.
        socketserver.TCPServer.server_bind(self)
        self.server_name = self.host
        self.server_port = self.server_address[1]

    def process_request(self, request, client_address) -> None:
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self.connections_lock:
            conns = list(self.connections)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request, client_address) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, _CONNECTION_ERRORS) or self.owner._stopping.is_set():
            return  # clients hanging up (e.g. size caps) are routine
        super().handle_error(request, client_address)


# --------------------------------------------------------------------------------------------- public


class LocalWebServer:
    """One or more ThreadingHTTPServer instances, one per loopback address, sharing one route table."""

    def __init__(self, hosts: Sequence[str] = ("127.0.0.1",), port: int = 0):
        hosts = [hosts] if isinstance(hosts, str) else list(hosts)
        if not hosts:
            raise ValueError("at least one host is required")
        if len(set(hosts)) != len(hosts):
            raise ValueError(f"duplicate hosts: {hosts}")
        self.hosts: list[str] = hosts
        self._routes: dict[tuple[str | None, str], _Entry] = {}
        self._routes_lock = threading.Lock()
        self.requests: list[RequestRecord] = []
        self._requests_lock = threading.Lock()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._started = False
        self._stopped = False
        self._servers: dict[str, _Server] = self._bind_all(hosts, port)
        self.port: int = self._servers[hosts[0]].server_address[1]
        self._wake_reader, self._wake_writer = socket.socketpair()  # stop() wakes the accept loop

    # ----------------------------------------------------------------- lifecycle
    def _bind_all(self, hosts: list[str], port: int) -> dict[str, _Server]:
        last_error: OSError | None = None
        for _ in range(_BIND_ATTEMPTS if port == 0 else 1):
            servers: dict[str, _Server] = {}
            try:
                first = _Server(hosts[0], port, self)
                servers[hosts[0]] = first
                chosen = first.server_address[1]
                for host in hosts[1:]:
                    servers[host] = _Server(host, chosen, self)
                return servers
            except OSError as exc:
                for srv in servers.values():
                    srv.server_close()
                if exc.errno == errno.EADDRNOTAVAIL:
                    raise OSError(
                        exc.errno,
                        f"cannot bind {hosts}: {exc.strerror} (on Linux all of "
                        "127.0.0.0/8 is loopback; elsewhere aliases need setup)",
                    ) from exc
                if exc.errno != errno.EADDRINUSE or port != 0:
                    raise
                last_error = exc
        raise OSError(
            errno.EADDRINUSE, f"no port free on all of {hosts} after {_BIND_ATTEMPTS} attempts"
        ) from last_error

    def start(self) -> LocalWebServer:
        if self._stopped:
            raise RuntimeError("a stopped LocalWebServer cannot be restarted; create a new one")
        if self._started:
            return self
        self._started = True
        t = threading.Thread(target=self._accept_loop, name=f"LocalWebServer:{self.port}", daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def _accept_loop(self) -> None:
        """Accept the connections of every host in one thread, each handled in a thread of its own.

        One selector over all the listening sockets, woken by ``stop()``: a ``serve_forever`` per host
        woke every few hundredths of a second to look for a stop, and a server of hundreds of hosts (a
        benchmark) spent a core-second a minute on those wake-ups, taken from the cores it measures.
        """
        with selectors.DefaultSelector() as selector:
            for srv in self._servers.values():
                selector.register(srv, selectors.EVENT_READ, srv)
            selector.register(self._wake_reader, selectors.EVENT_READ, None)
            while not self._stopping.is_set():
                for key, _ in selector.select():
                    if key.data is not None and not self._stopping.is_set():
                        key.data._handle_request_noblock()

    def stop(self) -> None:
        """Stop promptly: wakes delayed handlers, stops accepting, drops open connections."""
        if self._stopped:
            return
        self._stopped = True
        self._stopping.set()
        self._wake_writer.send(b"x")
        for t in self._threads:
            t.join(5)
        for srv in self._servers.values():
            srv.close_connections()
            srv.server_close()
        self._wake_reader.close()
        self._wake_writer.close()

    def open_connections(self) -> int:
        """Connections accepted and not yet closed, over every host: a request can be in flight (waiting out
        its route's delay) before the request log has it."""
        return sum(len(srv.connections) for srv in self._servers.values())

    def __enter__(self) -> LocalWebServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # ----------------------------------------------------------------- routes
    def _check_host(self, host: str | None) -> None:
        if host is not None and host not in self._servers:
            raise ValueError(f"host {host!r} is not served (hosts: {self.hosts})")

    @staticmethod
    def _norm_path(path: str) -> str:
        if path.startswith(("http://", "https://")):
            parts = urlsplit(path)
            path = parts.path + (f"?{parts.query}" if parts.query else "")
        return path if path.startswith("/") else "/" + path

    def url(self, path: str = "/", host: str | None = None) -> str:
        host = self.hosts[0] if host is None else host
        self._check_host(host)
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{self.port}{self._norm_path(path)}"

    def set(self, path: str, route: Route | bytes | str, host: str | None = None) -> None:
        self.set_sequence(path, [route], host=host)

    def set_sequence(self, path: str, routes: Sequence[Route | bytes | str], host: str | None = None) -> None:
        self._check_host(host)
        prepared = [_Prepared(r if isinstance(r, Route) else Route(body=r)) for r in routes]
        if not prepared:
            raise ValueError("set_sequence needs at least one route")
        with self._routes_lock:
            self._routes[(host, self._norm_path(path))] = _Entry(prepared)

    def remove(self, path: str, host: str | None = None) -> None:
        with self._routes_lock:
            self._routes.pop((host, self._norm_path(path)), None)

    def _lookup(self, host: str, path: str) -> _Prepared | None:
        bare = path.split("?", 1)[0]
        keys = [(host, path), (None, path)]
        if bare != path:
            keys += [(host, bare), (None, bare)]
        with self._routes_lock:
            for key in keys:
                entry = self._routes.get(key)
                if entry is not None:
                    return entry.next()
        return None

    # ----------------------------------------------------------------- request log
    def requests_for(self, path: str, host: str | None = None) -> list[RequestRecord]:
        """Records for ``path``; a path without "?" matches any query string, one with "?" must match exactly."""
        path = self._norm_path(path)
        exact = "?" in path
        with self._requests_lock:
            records = list(self.requests)
        return [
            r
            for r in records
            if (r.path == path if exact else r.path_only == path) and (host is None or r.host == host)
        ]

    def clear_requests(self) -> None:
        with self._requests_lock:
            self.requests.clear()

    def _record(self, record: RequestRecord) -> None:
        with self._requests_lock:
            self.requests.append(record)

    # ----------------------------------------------------------------- request handling
    def _handle(self, h: _Handler) -> None:
        arrived = time.monotonic()
        srv = h.server
        if self._stopping.is_set():
            h.close_connection = True
            return
        try:
            req_body = h.read_request_body()
        except (ValueError, TypeError):
            h.close_connection = True
            self._send_simple(h, 400, b"Bad request body\n", arrived, b"")
            return
        route = self._lookup(srv.host, self._norm_path(h.path))  # absolute-form (to a proxy) too
        if route is not None and route.delay > 0:
            if self._stopping.wait(route.delay):
                h.close_connection = True  # stopped while sleeping: hang up without answering
                return
        if route is None:
            self._send_simple(h, 404, f"Not Found: {h.path}\n".encode(), arrived, req_body)
            return
        try:
            self._respond(h, route, arrived, req_body)
        except _CONNECTION_ERRORS:
            h.close_connection = True

    def _log(self, h: _Handler, status: int, arrived: float, req_body: bytes) -> None:
        headers: dict[str, str] = {}
        for name, value in h.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        self._record(
            RequestRecord(
                host=h.server.host,
                port=self.port,
                path=h.path,
                method=h.command,
                headers=headers,
                status=status,
                at=arrived,
                body=req_body,
                client_port=h.client_address[1],
            )
        )

    def _send_simple(self, h: _Handler, status: int, body: bytes, arrived: float, req_body: bytes) -> None:
        self._log(h, status, arrived, req_body)
        h.send_response(status)
        h.send_header("Content-Type", "text/plain; charset=utf-8")
        h.send_header("Content-Length", str(len(body)))
        if h.close_connection:
            h.send_header("Connection", "close")
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(body)

    def _respond(self, h: _Handler, route: _Prepared, arrived: float, req_body: bytes) -> None:
        method = h.command
        status = route.status
        streaming = route.stream_bytes is not None
        conditional_ok = method in ("GET", "HEAD") and 200 <= status < 300 and not streaming

        not_modified = False
        if conditional_ok:
            inm = h.headers.get("If-None-Match")
            if inm is not None:
                not_modified = route.etag is not None and _etag_matches(inm, route.etag)
            elif route.lm_dt is not None:
                ims = _parse_http_date(h.headers.get("If-Modified-Since"))
                not_modified = ims is not None and ims >= route.lm_dt
        if not_modified:
            status = 304

        body = route.body
        use_gzip = route.gzip and not not_modified and _accepts_gzip(h.headers.get("Accept-Encoding"))
        if use_gzip:
            body = route.gzipped()
        has_body = not (status in _NO_BODY_STATUSES or 100 <= status < 200)
        # HTTP/1.0 clients do not understand chunked: fall back to a close-delimited body for them.
        close_delimited = (
            streaming and has_body and (route.close_delimited or h.request_version == "HTTP/1.0")
        )

        self._log(h, status, arrived, req_body)

        h.send_response(status)
        skip = {"content-length", "transfer-encoding", "content-encoding"}
        for name, value in route.headers.items():
            if name.lower() not in skip:
                h.send_header(name, value)
        if route.content_type is not None and has_body:
            h.send_header("Content-Type", route.content_type)
        if route.etag is not None and 200 <= route.status < 300:
            h.send_header("ETag", route.etag)
        if route.last_modified is not None and 200 <= route.status < 300:
            h.send_header("Last-Modified", route.last_modified)
        if route.gzip:
            h.send_header("Vary", "Accept-Encoding")
        if use_gzip:
            h.send_header("Content-Encoding", "gzip")

        if not has_body:
            h.end_headers()
            return
        if not streaming:
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            if method != "HEAD" and body:
                h.wfile.write(body)
            return

        total = route.stream_bytes or 0
        if close_delimited:
            h.close_connection = True
            h.send_header("Connection", "close")
        else:
            h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        if method == "HEAD":
            return
        chunk = b"x" * _STREAM_CHUNK
        remaining = total
        while remaining > 0:
            if self._stopping.is_set():
                h.close_connection = True
                return
            n = min(remaining, _STREAM_CHUNK)
            data = chunk if n == _STREAM_CHUNK else chunk[:n]
            if close_delimited:
                h.wfile.write(data)
            else:
                h.wfile.write(b"%X\r\n%s\r\n" % (n, data))
            remaining -= n
        if not close_delimited:
            h.wfile.write(b"0\r\n\r\n")
