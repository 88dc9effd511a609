"""Which network addresses a link taken from a feed may reach, checked on the address actually connected to.

monitor runs next to private services (databases, admin panels, a cloud's metadata endpoint on
169.254.169.254), and feeds are written by strangers: a link or a redirect to such an address must not be
fetched and its answer stored. The rule:

* a feed the user configured is trusted as configured: its own URL is fetched whatever its address;
* a link (an article page, a child sitemap, a redirect) may reach a non-public address only when the feed it
  came from is itself on one (an intranet, a test setup), or when its network is in ``allow_networks``.

The check is made where the connection is opened (``GuardedBackend``, an httpcore network backend): the
host is resolved once, every address is checked, and the connection goes to a checked address, while TLS
(SNI, certificate) and the Host header still use the name. A name that answers "public" to one lookup and
"private" to the next (DNS rebinding) therefore gains nothing: there is no second lookup to fool.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from enum import StrEnum
from typing import Any

import httpcore

from monitor.errors import MonitorError
from monitor.ingest.netstream import AsyncioBackend

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
Classifier = Callable[[IPAddress], "str | None"]

# IPv6 forms that carry an IPv4 address: what they carry is what they reach.
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


class Reach(StrEnum):
    """How far a request may go."""

    ANY = "any"  # a configured feed, or a link from a feed that is itself on a non-public address
    PUBLIC = "public"  # a link from a public feed: public addresses and the allowed networks only


class BlockedAddress(MonitorError):
    """A link led to an address it may not reach; nothing was sent to it."""

    hint = "if the address is meant to be reached, list its network under allow_networks in feeds.yaml"


def ip_literal(host: str) -> IPAddress | None:
    """The address a host names without DNS: ``[::1]``, ``127.0.0.1``, and the old IPv4 forms that
    resolvers still accept (``2130706433``, ``0x7f.1``, ``127.1``); None for a name."""
    host = host.strip().strip("[]")
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    if (
        host
        and all(part and (part.isalnum()) for part in host.split("."))
        and host.split(".")[-1][:1].isdigit()
    ):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))  # what getaddrinfo would make of it
        except OSError:
            return None
    return None


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for: IPv4-mapped, 6to4, NAT64; None otherwise."""
    if address.version != 6:
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if any(address in network for network in _NAT64):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def non_public_reason(address: IPAddress) -> str | None:
    """Why ``address`` is not a public Internet address ("loopback", "private"...); None when it is."""
    inner = embedded_ipv4(address)
    if inner is not None:  # the IPv4 address it carries is the one it reaches
        reason = non_public_reason(inner)
        return f"{reason} ({inner} inside an IPv6 address)" if reason else None
    # Named checks first, for a clear message; is_global last catches the rest (shared 100.64/10, ...).
    for flag, name in (
        ("is_unspecified", "unspecified"),
        ("is_loopback", "loopback"),
        ("is_link_local", "link-local"),
        ("is_multicast", "multicast"),
        ("is_private", "private"),
        ("is_reserved", "reserved"),
    ):
        if getattr(address, flag):
            return name
    if address.version == 6 and address.is_site_local:
        return "site-local"
    if not address.is_global:
        return "not globally routable"
    return None


def parse_networks(values: Iterable[str]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """``allow_networks`` as networks; ValueError names the first that is not one."""
    return tuple(ipaddress.ip_network(value.strip(), strict=True) for value in values)


async def system_resolver(host: str, port: int) -> list[str]:
    """The addresses of ``host`` as the system resolves them (an address is its own answer)."""
    literal = ip_literal(host)
    if literal is not None:
        return [str(literal)]
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class AddressGuard:
    """Resolves hosts and decides which of their addresses a request may connect to.

    Args:
        allow_networks: networks links may always reach (``settings.allow_networks``).
        resolver: host and port to addresses; the system's by default (tests inject their own).
        classify: why an address is not public, or None; ``non_public_reason`` by default.
    """

    def __init__(
        self,
        allow_networks: Iterable[str] = (),
        *,
        resolver: Resolver | None = None,
        classify: Classifier | None = None,
    ) -> None:
        self.allowed = parse_networks(allow_networks)
        self._resolve = resolver or system_resolver
        self._classify = classify or non_public_reason

    def is_public(self, address: str | IPAddress) -> bool:
        return self._classify(_as_ip(address)) is None

    def refusal(self, address: str | IPAddress, reach: Reach) -> str | None:
        """Why a request of ``reach`` may not connect to ``address``; None when it may."""
        ip = _as_ip(address)
        if reach is Reach.ANY:
            return None
        reason = self._classify(ip)
        if reason is None or self._in_allowed(ip):
            return None
        return f"{ip} is a {reason} address"

    def _in_allowed(self, ip: IPAddress) -> bool:
        inner = embedded_ipv4(ip)
        return any(
            candidate in network
            for candidate in (ip, inner)
            if candidate is not None
            for network in self.allowed
            if candidate.version == network.version
        )

    async def resolve(self, host: str, port: int, reach: Reach) -> list[str]:
        """The addresses to connect to for ``host``; BlockedAddress when any of them is refused.

        One refused address refuses the host: a name that mixes public and private answers is a trap.
        """
        try:
            addresses = list(await self._resolve(host, port))
        except socket.gaierror as exc:
            raise httpcore.ConnectError(f"DNS lookup of {host} failed: {exc}") from exc
        if not addresses:
            raise httpcore.ConnectError(f"DNS lookup of {host} gave no address")
        for address in addresses:
            why = self.refusal(address, reach)
            if why is not None:
                raise BlockedAddress(
                    f"link to {host} refused: {why}, and the feed it came from is public "
                    f"(allow the network with settings.allow_networks)"
                )
        return addresses

    async def reach_of_origin(self, host: str, port: int, peer: str | None = None) -> Reach:
        """How far the links of a feed on ``host`` may go: anywhere when the feed is on a non-public address.

        ``peer`` is the address the feed's answer came from, when known; else the host is resolved.
        """
        if peer is not None:
            return Reach.PUBLIC if self.is_public(peer) else Reach.ANY
        try:
            addresses = await self._resolve(host, port)
        except (OSError, UnicodeError):
            return Reach.PUBLIC
        return Reach.ANY if any(not self.is_public(address) for address in addresses) else Reach.PUBLIC


def _as_ip(address: str | IPAddress) -> IPAddress:
    if isinstance(address, str):
        return ipaddress.ip_address(address.split("%", 1)[0])
    return address


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """An httpcore network backend that resolves each host once, checks its addresses, and connects to a
    checked one. httpcore still starts TLS with the host's name, so SNI and certificates are unchanged."""

    def __init__(
        self, guard: AddressGuard, reach: Reach, inner: httpcore.AsyncNetworkBackend | None = None
    ) -> None:
        self._guard = guard
        self._reach = reach
        self._inner = inner or AsyncioBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self._guard.resolve(host, port, self._reach)
        failure: Exception | None = None
        for address in addresses:  # as getaddrinfo ordered them, as a plain connect would try them
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.AsyncNetworkStream:
        raise BlockedAddress("unix sockets are never connected to")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)
