"""One small connection pool per site, instead of one large pool shared by every site.

httpcore's pool looks at every connection it holds each time a request comes or goes (and asks the socket of
every idle one whether the server closed it): with one pool of N connections spread over many hosts, each
request costs O(N) work and system calls, and a busy host's new connections evict another host's kept-alive
ones, so they are opened again. A pool per origin, sized to the per-host limit, keeps each host's connections
alive between requests and makes that bookkeeping O(per-host limit).

Pools of sites not asked for a while are closed (a daemon polls thousands of hosts over months; each idle
pool would otherwise hold its server-closed sockets until that host's next poll).

Each pool connects through the address guard (``monitor.ingest.addressguard``): a request's reach (the
``REACH_EXTENSION`` of the request, set by the fetcher) picks a pool whose connections were opened under
that reach, so a connection opened for a trusted feed is never lent to a link that may not go there.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import AsyncIterator

import httpcore
import httpx

from monitor.ingest.addressguard import AddressGuard, GuardedBackend, Reach

IDLE_CLOSE_AFTER = 30.0
"""Seconds a site's pool stays open with nothing in flight (servers close kept-alive connections sooner)."""

REACH_EXTENSION = "monitor.reach"
"""The request extension that carries its ``Reach``; a request without it is trusted (``Reach.ANY``)."""

SWEEP_EVERY = 10.0
"""Seconds between looks for idle pools (done on the way of a request: no background task to manage)."""


class _Pool:
    __slots__ = ("in_flight", "last_used", "transport")

    def __init__(self, transport: httpx.AsyncHTTPTransport) -> None:
        self.transport = transport
        self.in_flight = 0
        self.last_used = time.monotonic()


class _TrackedStream(httpx.AsyncByteStream):
    """A response body that tells its pool when it is closed, so the pool is known to be idle."""

    def __init__(self, stream: httpx.AsyncByteStream, pool: _Pool) -> None:
        self._stream = stream
        self._pool: _Pool | None = pool

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for part in self._stream:
            yield part

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            self._done()

    def _done(self) -> None:
        if self._pool is not None:  # closing twice must not count twice
            self._pool.in_flight -= 1
            self._pool.last_used = time.monotonic()
            self._pool = None


class PerHostTransport(httpx.AsyncBaseTransport):
    """Routes each request to its origin's own connection pool.

    Args:
        connections: connections per origin (the per-host request limit: more would only sit idle).
        verify: the TLS context shared by every pool.
        idle_close_after: seconds after which an unused origin's pool is closed.
        guard: resolves hosts and checks every address connected to (by default: the system resolver, no
            allowed networks); requests of ``Reach.ANY`` connect wherever their host resolves.
    """

    def __init__(
        self,
        *,
        connections: int,
        verify: ssl.SSLContext,
        idle_close_after: float = IDLE_CLOSE_AFTER,
        guard: AddressGuard | None = None,
    ) -> None:
        self._limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        self._verify = verify
        self._idle_close_after = idle_close_after
        self._guard = guard or AddressGuard()
        self._pools: dict[tuple[bytes, bytes, int | None, Reach], _Pool] = {}
        self._next_sweep = time.monotonic() + SWEEP_EVERY

    @property
    def open_pools(self) -> int:
        return len(self._pools)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        reach = Reach(request.extensions.get(REACH_EXTENSION, Reach.ANY))
        origin = (url.raw_scheme, url.raw_host, url.port, reach)
        pool = self._pools.get(origin)
        if pool is None:
            pool = self._pools[origin] = _Pool(self._guarded_transport(reach))
        now = time.monotonic()
        pool.in_flight += 1
        pool.last_used = now
        try:
            response = await pool.transport.handle_async_request(request)
        except BaseException:
            pool.in_flight -= 1
            raise
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _TrackedStream(response.stream, pool)
        if now >= self._next_sweep:
            await self.close_idle(older_than=self._idle_close_after)
        return response

    def _guarded_transport(self, reach: Reach) -> httpx.AsyncHTTPTransport:
        """httpx's transport, its connections opened through the address guard.

        httpx takes no network backend, so its httpcore pool is replaced by one built with the same settings
        and ours: httpx keeps mapping requests, responses and errors, httpcore keeps the connections.
        """
        transport = httpx.AsyncHTTPTransport(verify=self._verify, limits=self._limits)
        transport._pool = httpcore.AsyncConnectionPool(
            ssl_context=self._verify,
            max_connections=self._limits.max_connections,
            max_keepalive_connections=self._limits.max_keepalive_connections,
            keepalive_expiry=self._limits.keepalive_expiry,
            network_backend=GuardedBackend(self._guard, reach),
        )
        return transport

    async def close_idle(self, *, older_than: float = 0.0) -> None:
        """Close the pools with nothing in flight and no use in the last ``older_than`` seconds."""
        now = time.monotonic()
        self._next_sweep = now + SWEEP_EVERY
        idle = [
            origin
            for origin, pool in self._pools.items()
            if pool.in_flight == 0 and now - pool.last_used >= older_than
        ]
        for origin in idle:
            await self._pools.pop(origin).transport.aclose()

    async def aclose(self) -> None:
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            await pool.transport.aclose()
