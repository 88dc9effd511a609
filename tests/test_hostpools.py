"""Tests for monitor.ingest.hostpools: a connection pool per site, closed when the site is left alone."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from monitor.ingest.fetch import _tls_context
from monitor.ingest.hostpools import PerHostTransport

try:
    from support.httpserver import LocalWebServer, Route, free_loopback_hosts
except ImportError:  # pragma: no cover - run from elsewhere
    from tests.support.httpserver import LocalWebServer, Route, free_loopback_hosts


@pytest.fixture(scope="module")
def two_sites():
    with LocalWebServer(hosts=free_loopback_hosts(2)) as srv:
        srv.set("/page", Route(body="page " * 50))
        srv.set("/slow", Route(body="slow", delay=0.3))
        yield srv


def _client(transport: PerHostTransport) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=transport)


def test_each_site_gets_its_own_pool_and_keeps_its_connections(two_sites):
    a, b = (two_sites.url("/page", host=host) for host in two_sites.hosts)
    two_sites.clear_requests()

    async def main():
        transport = PerHostTransport(connections=2, verify=_tls_context())
        async with _client(transport) as client:
            for url in (a, b, a, b, a):
                assert (await client.get(url)).status_code == 200
            return transport.open_pools

    assert asyncio.run(main()) == 2
    by_host: dict[str, set[int]] = {}
    for record in two_sites.requests_for("/page"):
        by_host.setdefault(record.host, set()).add(record.client_port)
    assert {host: len(ports) for host, ports in by_host.items()} == {host: 1 for host in two_sites.hosts}


def test_a_pool_holds_no_more_connections_than_its_limit(two_sites):
    url = two_sites.url("/slow", host=two_sites.hosts[0])
    two_sites.clear_requests()

    async def main():
        async with _client(PerHostTransport(connections=2, verify=_tls_context())) as client:
            await asyncio.gather(*(client.get(url) for _ in range(6)))

    asyncio.run(main())
    assert len({r.client_port for r in two_sites.requests_for("/slow")}) == 2


def test_idle_pools_are_closed_and_busy_ones_kept(two_sites):
    fast, slow = (
        two_sites.url("/page", host=two_sites.hosts[0]),
        two_sites.url("/slow", host=two_sites.hosts[1]),
    )

    async def main():
        transport = PerHostTransport(connections=2, verify=_tls_context())
        async with _client(transport) as client:
            await client.get(fast)
            async with client.stream("GET", slow) as response:  # in flight while we sweep
                await transport.close_idle()
                assert transport.open_pools == 1
                await response.aread()
            await transport.close_idle(older_than=60)
            assert transport.open_pools == 1  # used just now
            await transport.close_idle()
            assert transport.open_pools == 0
            assert (await client.get(fast)).status_code == 200  # a closed site's pool comes back on demand
            return transport.open_pools

    assert asyncio.run(main()) == 1


def test_a_failed_request_does_not_leave_its_pool_busy():
    async def main():
        transport = PerHostTransport(connections=1, verify=_tls_context())
        async with _client(transport) as client:
            with pytest.raises(httpx.ConnectError):
                await client.get("http://127.0.0.1:9/")  # discard port: nothing listens
            await transport.close_idle()
            return transport.open_pools

    assert asyncio.run(main()) == 0
