"""The "remote" news sites of the ingest benchmark, served at little CPU cost.

The sites run in the benchmark's own process, on the cores whose work is being measured: whatever they
spend is taken from the poll. ``tests/support/httpserver.LocalWebServer`` (a thread and a full
``http.server`` parse for each connection) suits tests, which need its streams, sequences and faults; it
spent about a millisecond of CPU a request here, some 0.6-0.9 s of a many-hosts run, where real sites would
spend nothing of ours. This server answers the same static routes from one asyncio loop in one thread, with
responses rendered once: the same bytes, headers, delays and conditional answers (ETag / If-None-Match ->
304) the benchmark relies on, and the same request log (``RequestRecord``).

It speaks just enough HTTP/1.1 for an HTTP client fetching static pages: GET and HEAD, keep-alive, one
request at a time per connection (clients do not pipeline), no request bodies, no compression.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import socket
import threading
import time
from collections.abc import Sequence

from support.httpserver import RequestRecord, Route

__all__ = ["StaticSites"]

_BIND_ATTEMPTS = 50
_MAX_HEAD = 64 * 1024
_REASONS = {200: "OK", 304: "Not Modified", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}


class _Rendered:
    """A route's answer, rendered once: the head and body of a 200, and the 304 for its ETag."""

    __slots__ = ("delay", "etag", "full", "head_only", "not_modified", "status")

    def __init__(self, route: Route) -> None:
        body = route.body.encode("utf-8") if isinstance(route.body, str) else bytes(route.body)
        self.status, self.delay = int(route.status), max(0.0, float(route.delay))
        headers = dict(route.headers)
        if not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = "text/html; charset=utf-8"
        self.etag = f'"{hashlib.sha1(body).hexdigest()}"' if route.etag and self.status == 200 else None
        if self.etag:
            headers["ETag"] = self.etag
        lines = [f"HTTP/1.1 {self.status} {_REASONS.get(self.status, 'Status')}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        head = "\r\n".join([*lines, f"Content-Length: {len(body)}", "", ""]).encode("latin-1")
        self.head_only, self.full = head, head + body
        self.not_modified = (
            f"HTTP/1.1 304 Not Modified\r\nETag: {self.etag}\r\n\r\n".encode("latin-1") if self.etag else b""
        )


def _plain(status: int, text: bytes) -> _Rendered:
    return _Rendered(Route(body=text, status=status, etag=False, headers={"Content-Type": "text/plain"}))


_NOT_FOUND, _BAD_REQUEST, _NOT_ALLOWED = (
    _plain(404, b"not found"),
    _plain(400, b"bad request"),
    _plain(405, b"method not allowed"),
)


class _Connection(asyncio.Protocol):
    def __init__(self, sites: StaticSites) -> None:
        self.sites = sites
        self.buffer = b""
        self.busy = False  # a request is being answered (its delay running)
        self.transport: asyncio.Transport | None = None
        self.host, self.port, self.client_port = "", 0, 0

    def connection_made(self, transport) -> None:  # type: ignore[override]
        self.transport = transport
        self.sites._connections.add(self)
        self.host, self.port = transport.get_extra_info("sockname")[:2]
        self.client_port = transport.get_extra_info("peername")[1]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) > _MAX_HEAD and b"\r\n\r\n" not in self.buffer:
            self._close()
            return
        self._next()

    def _next(self) -> None:
        if self.busy or self.transport is None or b"\r\n\r\n" not in self.buffer:
            return
        raw, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        arrived = time.monotonic()
        lines = raw.decode("latin-1").split("\r\n")
        try:
            method, target, _version = lines[0].split(" ", 2)
        except ValueError:
            self._answer(_BAD_REQUEST.full, close=True)
            return
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            key = name.strip().lower()
            headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
        route = self.sites.route(self.host, target)
        status, answer = route.status, route.full
        if method not in ("GET", "HEAD"):
            status, answer = 405, _NOT_ALLOWED.full
        elif route.etag and route.etag in headers.get("if-none-match", ""):
            status, answer = 304, route.not_modified
        elif method == "HEAD":
            answer = route.head_only
        close = headers.get("connection", "").lower() == "close"
        record = RequestRecord(
            host=self.host,
            port=self.port,
            path=target,
            method=method,
            headers=headers,
            status=status,
            at=arrived,
            client_port=self.client_port,
        )
        self.busy = True
        self.sites.loop.call_later(route.delay, self._respond, record, answer, close)

    def _respond(self, record: RequestRecord, answer: bytes, close: bool) -> None:
        self.busy = False
        if self.transport is None or self.transport.is_closing():
            return
        self.sites.requests.append(record)  # logged just before the answer, as LocalWebServer does
        self._answer(answer, close=close)
        self._next()

    def _answer(self, answer: bytes, *, close: bool) -> None:
        assert self.transport is not None
        self.transport.write(answer)
        if close:
            self._close()

    def _close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.sites._connections.discard(self)


class StaticSites:
    """Static routes served on several loopback addresses sharing one port, from one asyncio thread.

    The part of ``LocalWebServer``'s interface the ingest benchmark uses: ``hosts``, ``port``, ``set``,
    ``url``, ``requests``, ``clear_requests`` and ``stop``, and use as a context manager.
    """

    def __init__(self, hosts: Sequence[str]) -> None:
        self.hosts = list(hosts)
        self.requests: list[RequestRecord] = []
        self._routes: dict[tuple[str | None, str], _Rendered] = {}
        self._rendered: dict[int, tuple[Route, _Rendered]] = {}
        self._sockets = self._bind_all(self.hosts)
        self.port: int = self._sockets[0].getsockname()[1]
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=f"sites:{self.port}", daemon=True)
        self._servers: list[asyncio.AbstractServer] = []
        self._connections: set[_Connection] = set()

    @staticmethod
    def _bind_all(hosts: list[str]) -> list[socket.socket]:
        for _ in range(_BIND_ATTEMPTS):
            bound: list[socket.socket] = []
            try:
                port = 0
                for host in hosts:
                    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                    bound.append(sock)
                    sock.bind((host, port))
                    sock.listen(128)
                    sock.setblocking(False)
                    port = sock.getsockname()[1]
                return bound
            except OSError as exc:
                for sock in bound:
                    sock.close()
                if exc.errno != errno.EADDRINUSE:
                    raise
        raise OSError(errno.EADDRINUSE, f"no port free on all of {len(hosts)} hosts")

    def __enter__(self) -> StaticSites:
        self._thread.start()  # a server is entered once
        asyncio.run_coroutine_threadsafe(self._serve(), self.loop).result(30)
        return self

    async def _serve(self) -> None:
        for sock in self._sockets:
            self._servers.append(await self.loop.create_server(lambda: _Connection(self), sock=sock))

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def stop(self) -> None:
        """Close the listeners and the connections, and end the thread (again: nothing)."""
        if self.loop.is_closed():
            return

        async def close() -> None:
            for server in self._servers:
                server.close()
            for connection in list(self._connections):
                connection._close()

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(30)
        self.loop.close()

    def set(self, path: str, route: Route, host: str | None = None) -> None:
        # One rendering for a route served at many paths (the benchmark reuses its pages round robin).
        rendered = self._rendered.get(id(route))
        if rendered is None or rendered[0] is not route:
            rendered = self._rendered[id(route)] = (route, _Rendered(route))
        self._routes[(host, path)] = rendered[1]

    def route(self, host: str, target: str) -> _Rendered:
        path = target.split("?", 1)[0]
        routes = self._routes
        for key in ((host, target), (None, target), (host, path), (None, path)):
            found = routes.get(key)
            if found is not None:
                return found
        return _NOT_FOUND

    def url(self, path: str = "/", host: str | None = None) -> str:
        return f"http://{host or self.hosts[0]}:{self.port}{path}"

    def clear_requests(self) -> None:
        self.requests.clear()
