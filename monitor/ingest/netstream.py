"""An httpcore network backend on asyncio's own transports.

httpcore's default backend for asyncio goes through anyio, and at thousands of requests a poll its layers
were a measurable part of the CLI's CPU: every read and write opened a cancel scope, every connect a task
group for happy eyeballs (the address is already chosen by ``GuardedBackend``), and every check of an idle
pooled connection (``is_readable``, once per idle connection per request) rebuilt a dictionary of the
socket's attributes and asked the kernel for its peer. Here a connection is an ``asyncio.Protocol`` that
keeps what arrived in a buffer: a read takes from it or waits on one future, a timeout is one timer, and an
idle connection is known to be dead when the server's close (EOF) or unasked-for bytes are in the buffer.

The stream honours httpcore's contract exactly as ``httpcore.AnyIOBackend`` does: ``read`` returns b"" at
the end of the stream, timeouts raise ``ReadTimeout``/``WriteTimeout``/``ConnectTimeout``, a reset or a
closed stream ``ReadError``/``WriteError``/``ConnectError``, and TLS is started on the same connection with
the host's name (SNI and certificate checks unchanged).
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import httpcore

READ_BUFFER_HIGH = 256 * 1024
"""Bytes buffered before the transport stops reading from the socket (back-pressure on a fast server)."""


class _Connection(asyncio.Protocol):
    """What one connection has received, and who waits for more (one reader at a time, as httpcore reads)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.received = bytearray()
        self.at_eof = False
        self.lost: BaseException | None = None
        self.closed = False
        self._reading_paused = False
        self._writing_paused = False
        self._read_waiter: asyncio.Future[None] | None = None
        self._drain_waiter: asyncio.Future[None] | None = None

    # -- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.received += data
        if len(self.received) > READ_BUFFER_HIGH and not self._reading_paused and self.transport is not None:
            self._reading_paused = True
            self.transport.pause_reading()
        self._wake_reader()

    def eof_received(self) -> bool:
        self.at_eof = True
        self._wake_reader()
        return False  # close the transport: httpcore never half-closes

    def connection_lost(self, exc: Exception | None) -> None:
        self.at_eof = True
        self.closed = True
        self.lost = exc
        self._wake_reader()
        waiter, self._drain_waiter = self._drain_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        waiter, self._drain_waiter = self._drain_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- for the stream

    def take(self, max_bytes: int) -> bytes:
        data = bytes(self.received[:max_bytes])
        del self.received[:max_bytes]
        if (
            self._reading_paused
            and len(self.received) <= READ_BUFFER_HIGH // 4
            and self.transport is not None
        ):
            self._reading_paused = False
            self.transport.resume_reading()
        return data

    def readable_waiter(self) -> asyncio.Future[None]:
        self._read_waiter = asyncio.get_running_loop().create_future()
        return self._read_waiter

    def drain_waiter(self) -> asyncio.Future[None] | None:
        if not self._writing_paused or self.closed:
            return None
        self._drain_waiter = asyncio.get_running_loop().create_future()
        return self._drain_waiter

    def _wake_reader(self) -> None:
        waiter, self._read_waiter = self._read_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


async def _within(waiter: asyncio.Future[Any], timeout: float | None) -> bool:
    """Await ``waiter`` for at most ``timeout`` seconds (None: without limit); False when time ran out.

    One timer rather than a task or a cancel scope: this runs for every read that finds nothing buffered.
    """
    if timeout is None:
        await waiter
        return True
    loop = asyncio.get_running_loop()
    expired = False

    def expire() -> None:
        nonlocal expired
        if not waiter.done():
            expired = True
            waiter.cancel()

    timer = loop.call_later(max(0.0, timeout), expire)
    try:
        await waiter
    except asyncio.CancelledError:
        if not expired:
            raise  # the caller was cancelled, not timed out
        return False
    finally:
        timer.cancel()
    return True


class AsyncioStream(httpcore.AsyncNetworkStream):
    """One connection, as httpcore reads and writes it."""

    def __init__(self, connection: _Connection) -> None:
        self._connection = connection

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        connection = self._connection
        if not connection.received and not connection.at_eof:
            if not await _within(connection.readable_waiter(), timeout):
                raise httpcore.ReadTimeout(f"nothing was read in {timeout} s")
        if connection.received:
            return connection.take(max_bytes)
        if connection.lost is not None:
            raise httpcore.ReadError(str(connection.lost) or type(connection.lost).__name__)
        return b""

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        connection = self._connection
        transport = connection.transport
        if transport is None or connection.closed or transport.is_closing():
            raise httpcore.WriteError("the connection is closed")
        transport.write(buffer)
        waiter = connection.drain_waiter()
        if waiter is not None and not await _within(waiter, timeout):
            raise httpcore.WriteTimeout(f"the data was not sent in {timeout} s")
        if connection.closed and connection.lost is not None:
            raise httpcore.WriteError(str(connection.lost) or type(connection.lost).__name__)

    async def aclose(self) -> None:
        transport = self._connection.transport
        if transport is not None and not transport.is_closing():
            transport.close()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        connection = self._connection
        transport = connection.transport
        if transport is None or connection.closed:
            raise httpcore.ConnectError("the connection closed before TLS started")
        loop = asyncio.get_running_loop()
        try:
            tls = await loop.start_tls(
                transport,
                connection,
                ssl_context,
                server_hostname=server_hostname,
                ssl_handshake_timeout=timeout,
            )
        except TimeoutError as exc:
            transport.close()
            raise httpcore.ConnectTimeout(f"TLS handshake took over {timeout} s") from exc
        except (OSError, ssl.SSLError, ConnectionError) as exc:
            transport.close()
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        if tls is None:  # the peer closed during the handshake
            raise httpcore.ConnectError("the connection closed during the TLS handshake")
        connection.transport = tls
        return self

    def get_extra_info(self, info: str) -> Any:
        transport = self._connection.transport
        if info == "is_readable":
            # Idle in the pool, a connection the server closed shows its EOF here; bytes nobody asked for
            # make it as unusable. Either way httpcore drops it rather than send a request down it.
            return self._connection.at_eof or bool(self._connection.received)
        if transport is None:
            return None
        if info == "ssl_object":
            return transport.get_extra_info("ssl_object")
        if info in ("client_addr", "server_addr"):
            # (host, port), as anyio gives it: an IPv6 address's flow and scope are left off.
            address = transport.get_extra_info("sockname" if info == "client_addr" else "peername")
            return tuple(address[:2]) if address else None
        if info == "socket":
            return transport.get_extra_info("socket")
        return None


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    """Plain TCP connections on the running asyncio loop (the address is already resolved and checked)."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        connection = _Connection()
        connect = loop.create_connection(
            lambda: connection,
            host,
            port,
            local_addr=(local_address, 0) if local_address else None,
        )
        try:
            if timeout is None:
                transport, _ = await connect
            else:
                async with asyncio.timeout(timeout):
                    transport, _ = await connect
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"no connection to {host}:{port} in {timeout} s") from exc
        except OSError as exc:
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        sock = transport.get_extra_info("socket")
        for option in socket_options or ():
            if sock is not None:
                sock.setsockopt(*option)
        return AsyncioStream(connection)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not supported")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


__all__ = ["AsyncioBackend", "AsyncioStream"]
