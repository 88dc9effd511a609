"""monitor.ingest.netstream, the network backend under every fetch: TLS, pooled connections a server closed,
timeouts, resets, back-pressure and cancellation, against real servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpcore
import httpx
import pytest
from support.tls import HAVE_OPENSSL, self_signed_certificate

from monitor.ingest.fetch import _tls_context
from monitor.ingest.hostpools import PerHostTransport
from monitor.ingest.netstream import AsyncioBackend


@contextmanager
def raw_server(serve: Callable[[socket.socket], None]) -> Iterator[int]:
    """A TCP server on 127.0.0.1 that hands each accepted connection to ``serve`` in a thread; its port."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def times_out(
    serve: Callable[[socket.socket], None], request: Callable[[int], Any], error: type[Exception]
) -> None:
    """``request(port)`` against ``serve`` (which holds its connection 3 s) raises ``error`` well before."""
    with raw_server(serve) as port:
        started = time.monotonic()
        with pytest.raises(error):
            asyncio.run(request(port))
        assert time.monotonic() - started < 2.5


def client() -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=PerHostTransport(connections=2, verify=_tls_context()), timeout=2.0)


def test_a_connection_the_server_closed_while_idle_is_not_reused():
    # The server answers with keep-alive, then hangs up a moment later: the pooled connection is dead, and
    # the next request must notice it (the stream's EOF) and open a new one, not fail on the old one.
    connections = []

    def serve(conn: socket.socket) -> None:
        connections.append(conn)
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
        time.sleep(0.05)
        conn.close()

    async def main() -> list[int]:
        async with client() as c:
            statuses = []
            for _ in range(3):
                statuses.append((await c.get(f"http://127.0.0.1:{port}/")).status_code)
                await asyncio.sleep(0.3)
            return statuses

    with raw_server(serve) as port:
        assert asyncio.run(main()) == [200, 200, 200]
    assert len(connections) == 3


def test_keep_alive_connections_are_reused():
    ports = []

    def serve(conn: socket.socket) -> None:
        ports.append(conn.getpeername()[1])
        while read_request(conn):
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        conn.close()

    async def main() -> None:
        async with client() as c:
            for _ in range(4):
                assert (await c.get(f"http://127.0.0.1:{port}/")).text == "ok"

    with raw_server(serve) as port:
        asyncio.run(main())
    assert len(ports) == 1


def test_a_silent_server_is_a_read_timeout():
    def serve(conn: socket.socket) -> None:
        read_request(conn)
        time.sleep(3)
        conn.close()

    async def request(port: int) -> None:
        async with httpx.AsyncClient(
            transport=PerHostTransport(connections=2, verify=_tls_context()), timeout=0.3
        ) as c:
            await c.get(f"http://127.0.0.1:{port}/")

    times_out(serve, request, httpx.ReadTimeout)


def test_a_refused_connection_is_a_connect_error():
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]  # closed again below: nothing listens there

    async def main() -> None:
        async with client() as c:
            await c.get(f"http://127.0.0.1:{port}/")

    with pytest.raises(httpx.ConnectError):
        asyncio.run(main())


def test_a_reset_in_the_middle_of_a_body_is_a_transport_error():
    def serve(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 1000)
        time.sleep(0.1)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        conn.close()  # with a zero linger: a reset, not a FIN

    async def main() -> None:
        async with client() as c:
            await c.get(f"http://127.0.0.1:{port}/")

    with raw_server(serve) as port, pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        asyncio.run(main())


def test_a_large_body_read_slowly_arrives_whole():
    # More than the stream buffers before it stops reading the socket: reading pauses and resumes.
    body = bytes(range(256)) * (4 * 1024 * 1024 // 256)

    def serve(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        conn.close()

    async def main() -> bytes:
        received = bytearray()
        async with client() as c, c.stream("GET", f"http://127.0.0.1:{port}/") as response:
            async for chunk in response.aiter_raw():
                received += chunk
                if len(received) < 1024 * 1024:
                    await asyncio.sleep(0.01)  # let the server get ahead
        return bytes(received)

    with raw_server(serve) as port:
        assert asyncio.run(main()) == body


def test_a_cancelled_request_leaves_the_pool_usable():
    def serve(conn: socket.socket) -> None:
        request = read_request(conn)
        if b"/slow" in request:
            time.sleep(2)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        conn.close()

    async def main() -> str:
        async with client() as c:
            slow = asyncio.ensure_future(c.get(f"http://127.0.0.1:{port}/slow"))
            await asyncio.sleep(0.2)
            slow.cancel()
            with pytest.raises(asyncio.CancelledError):
                await slow
            return (await c.get(f"http://127.0.0.1:{port}/fast")).text

    with raw_server(serve) as port:
        assert asyncio.run(main()) == "ok"


def test_a_write_the_server_never_reads_times_out():
    def serve(conn: socket.socket) -> None:
        time.sleep(3)  # never reads: the kernel's buffers fill and the writer must wait
        conn.close()

    async def request(port: int) -> None:
        stream = await AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=2)
        try:
            await stream.write(b"x" * (64 * 1024 * 1024), timeout=0.3)
        finally:
            await stream.aclose()

    times_out(serve, request, httpcore.WriteTimeout)


def test_the_end_of_a_stream_reads_as_empty():
    def serve(conn: socket.socket) -> None:
        conn.sendall(b"bye")
        conn.close()

    async def main() -> list[bytes]:
        stream = await AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=2)
        try:
            return [await stream.read(2, timeout=2), await stream.read(10, timeout=2), await stream.read(10)]
        finally:
            await stream.aclose()

    with raw_server(serve) as port:
        assert asyncio.run(main()) == [b"by", b"e", b""]


@pytest.mark.skipif(not HAVE_OPENSSL, reason="openssl is needed to make a certificate")
def test_https_is_verified_and_served_through_the_guarded_pool(tmp_path):
    cert, key = self_signed_certificate(tmp_path)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    ports: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            ports.append(self.client_address[1])
            body = f"secret {self.path}".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = server_context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"https://127.0.0.1:{server.server_address[1]}"

    async def main(verify: ssl.SSLContext) -> list[str]:
        transport = PerHostTransport(connections=2, verify=verify)
        async with httpx.AsyncClient(transport=transport, timeout=5) as c:
            return [(await c.get(f"{url}/{n}")).text for n in range(3)]

    try:
        trusting = ssl.create_default_context(cafile=str(cert))
        assert asyncio.run(main(trusting)) == ["secret /0", "secret /1", "secret /2"]
        assert len(set(ports)) == 1  # one TLS connection kept alive for the three
        with pytest.raises(httpx.ConnectError):  # a certificate nobody vouches for is refused
            asyncio.run(main(ssl.create_default_context()))
    finally:
        server.shutdown()
        server.server_close()
