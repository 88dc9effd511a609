"""Small socket servers on 127.0.0.1 that each answer every request one fixed, unusual way (stdlib only).

Where ``rawserver.RawServer`` routes each path to a behaviour set by the test, these are single-purpose:
a subclass overrides ``serve`` and every connection gets it, in a thread of its own. ``closed_port`` gives
a port nothing listens on.
"""

from __future__ import annotations

import socket
import threading

__all__ = ["DripServer", "DroppingServer", "ThreadedSocketServer", "closed_port", "read_request"]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ThreadedSocketServer:
    """A bare socket server on 127.0.0.1 for answers no real server library would give; each connection is
    served by ``serve`` in a thread of its own."""

    path = "/"

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}{self.path}"
        self.stopping = threading.Event()
        self.threads: list[threading.Thread] = []

    def __enter__(self):
        t = threading.Thread(target=self._accept, daemon=True)
        t.start()
        self.threads.append(t)
        return self

    def __exit__(self, *exc_info) -> None:
        self.stopping.set()
        for t in self.threads:
            t.join(2)
        self.sock.close()

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            t = threading.Thread(target=self._serve_and_close, args=(conn,), daemon=True)
            t.start()
            self.threads.append(t)

    def _serve_and_close(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.settimeout(2)
                if read_request(conn):
                    self.serve(conn)
            except OSError:
                return

    def serve(self, conn: socket.socket) -> None:
        raise NotImplementedError


def read_request(conn: socket.socket) -> bytes:
    """The request head, or b"" if the client hung up first."""
    request = b""
    while b"\r\n\r\n" not in request:
        data = conn.recv(4096)
        if not data:
            return b""
        request += data
    return request


class DripServer(ThreadedSocketServer):
    """Answers every request with headers promising a big body, then sends one byte per ``interval``."""

    path = "/drip"

    def __init__(self, interval: float = 0.1, length: int = 100_000) -> None:
        super().__init__()
        self.interval = interval
        self.head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % length

    def serve(self, conn: socket.socket) -> None:
        conn.sendall(self.head)
        while not self.stopping.wait(self.interval):
            conn.sendall(b"x")


class DroppingServer(ThreadedSocketServer):
    """Drops the connection without an answer for the first ``drops`` requests, then answers 200. Counts
    the requests."""

    path = "/flaky"

    def __init__(self, drops: int) -> None:
        super().__init__()
        self.drops, self.requests = drops, 0
        self._count = threading.Lock()

    def serve(self, conn: socket.socket) -> None:
        with self._count:
            self.requests += 1
            answer = self.requests > self.drops
        if answer:
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
