"""A TCP server on a loopback address whose answers are written byte by byte by the test (stdlib only).

``LocalWebServer`` speaks correct HTTP; a hostile server does not. Here every connection is handed, once its
request head is read, to the *behaviour* set for the request's path: a function given a ``RawConnection``
that writes whatever it likes on the raw socket (a status line with no end, a body that lies about its
length, a reset), as slowly as it likes::

    def drip(conn):
        conn.send(b"HTTP/1.1 200 OK\\r\\nContent-Length: 100000\\r\\n\\r\\n")
        while conn.pause(0.1):
            conn.send(b"x")

    with RawServer() as server:
        server.route("/feed.xml", drip)
        httpx.get(server.url("/feed.xml"))

A behaviour ends when it returns (the connection is then closed) or when the server stops: ``pause`` returns
False and ``send`` raises ``Stopped`` once ``stop()`` is called, so that a behaviour meant to last forever
lasts until the test is over. Each connection has its own thread. Paths without a behaviour get a 404.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["RawConnection", "RawRequest", "RawServer", "Stopped", "answer"]

_MAX_HEAD = 64 * 1024


class Stopped(Exception):
    """The server is stopping, or the client went away: the behaviour is to end."""


@dataclass(frozen=True)
class RawRequest:
    method: str
    path: str  # with its query string
    headers: dict[str, str]  # lower-cased names

    @property
    def path_only(self) -> str:
        return self.path.split("?", 1)[0]


@dataclass
class RawConnection:
    """One accepted connection, its request read; what a behaviour writes with."""

    sock: socket.socket
    request: RawRequest
    stopping: threading.Event = field(repr=False)

    def send(self, data: bytes) -> None:
        if self.stopping.is_set():
            raise Stopped
        try:
            self.sock.sendall(data)
        except OSError as exc:  # the client hung up (broken pipe, reset): nothing more to write
            raise Stopped from exc

    def pause(self, seconds: float) -> bool:
        """Sleep ``seconds``; False (at once) when the server is stopping."""
        return not self.stopping.wait(seconds)

    def reset(self) -> None:
        """Close with a TCP reset (RST) rather than an orderly end (FIN): the client sees ECONNRESET."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        self.sock.close()


Behaviour = Callable[[RawConnection], None]


def answer(
    conn: RawConnection, body: bytes = b"", *, status: str = "200 OK", headers: dict[str, str] | None = None
) -> None:
    """A well-formed answer, for the clean routes beside the hostile ones."""
    head = {"Content-Length": str(len(body)), "Connection": "close", **(headers or {})}
    lines = "".join(f"{name}: {value}\r\n" for name, value in head.items())
    # UTF-8, not Latin-1: a hostile header may hold any bytes, and these are the ones a server would send.
    conn.send(f"HTTP/1.1 {status}\r\n{lines}\r\n".encode() + body)


class RawServer:
    """Listens on ``host`` (a free port unless given) until ``stop()``; see the module."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self._routes: dict[str, Behaviour] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._listener = socket.create_server((host, port))
        self.port = self._listener.getsockname()[1]
        self._threads: list[threading.Thread] = []
        self._open: set[socket.socket] = set()
        self.requests: list[RawRequest] = []

    def url(self, path: str, host: str | None = None) -> str:
        return f"http://{host or self.host}:{self.port}{path}"

    def route(self, path: str, behaviour: Behaviour) -> None:
        with self._lock:
            self._routes[path] = behaviour

    def requests_for(self, path: str) -> list[RawRequest]:
        with self._lock:
            return [request for request in self.requests if request.path_only == path]

    def start(self) -> RawServer:
        thread = threading.Thread(target=self._accept, name="raw-server", daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stopping.set()
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread; close() alone does not
        except OSError:
            pass
        self._listener.close()
        with self._lock:
            for sock in list(self._open):
                try:
                    sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in recv or send
                except OSError:
                    pass
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> RawServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return  # the listener was closed: stop() was called
            thread = threading.Thread(target=self._serve, args=(sock,), name="raw-connection", daemon=True)
            with self._lock:
                self._open.add(sock)
                self._threads.append(thread)
            thread.start()

    def _serve(self, sock: socket.socket) -> None:
        try:
            request = self._read_request(sock)
            if request is None:
                return
            with self._lock:
                self.requests.append(request)
                behaviour = self._routes.get(request.path_only, _not_found)
            try:
                behaviour(RawConnection(sock, request, self._stopping))
            except Stopped:
                pass
        finally:
            with self._lock:
                self._open.discard(sock)
            try:
                sock.close()
            except OSError:
                pass

    @staticmethod
    def _read_request(sock: socket.socket) -> RawRequest | None:
        """The request line and headers (a GET has no body to read); None if the client sent no whole head."""
        data = b""
        while b"\r\n\r\n" not in data:
            try:
                chunk = sock.recv(4096)
            except OSError:
                return None
            if not chunk or len(data) > _MAX_HEAD:
                return None
            data += chunk
        head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
        method, path, _ = (head[0].split(" ") + ["", ""])[:3]
        headers = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return RawRequest(method, path, headers)


def _not_found(conn: RawConnection) -> None:
    answer(conn, b"not found", status="404 Not Found", headers={"Content-Type": "text/plain"})
