"""HTTP fetching: conditional GET, size caps, politeness, and failures sorted into kinds.

One ``Fetcher`` serves a whole poll pass, feeds and article pages alike, so every request to a host goes
through the same gate. Nothing here raises for network trouble: ``fetch`` always returns a ``FetchResult``,
and a failed one carries a ``Failure`` whose kind comes from the single function ``classify_exception``
or ``classify_status``. Exceptions seen from httpx, and where they land::

    httpx.TimeoutException ............................ timeout
    httpx.ConnectError   (socket.gaierror inside) ..... dns
                         (ssl.SSLError inside) ........ tls
                         (anything else) .............. connection
    httpx.TooManyRedirects ............................ redirects
    httpx.UnsupportedProtocol / InvalidURL ............ invalid_url
    httpx.TransportError (read, write, protocol) ...... connection
    httpx.DecodingError (unknown or corrupt encoding) . other
    ResponseTooLarge (ours, while streaming) .......... too_large
    BlockedAddress (monitor.ingest.addressguard, at connect) . blocked_address

A URL that cannot be parsed (or has a port out of range) is refused before any request, as invalid_url.

Every request has a reach (``monitor.ingest.addressguard.Reach``): a configured URL is fetched wherever it is, and
its redirects reach non-public addresses only if it is on one itself; a link's reach is given by the
caller (``links_reach`` of the feed's result), directly or for a whole stage with ``reaching``.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import functools
import http.cookiejar
import logging
import socket
import ssl
import time
import urllib.request
import zlib
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from urllib.parse import urlsplit

import httpcore
import httpx

from monitor import __version__
from monitor.errors import MonitorError
from monitor.ingest.addressguard import AddressGuard, BlockedAddress, Reach
from monitor.ingest.hostpools import REACH_EXTENSION, PerHostTransport
from monitor.ingest.pagebuffer import Place
from monitor.ingest.politeness import HostGate, Turn
from monitor.runtime.metrics import NO_METRICS, Metrics
from monitor.runtime.priority import PriorityGate

log = logging.getLogger(__name__)

MAX_RETRY_AFTER = timedelta(days=7)


class FailureKind(StrEnum):
    """The small set of ways a fetch (or the feed it returned) can fail; stored on the feed's row."""

    TIMEOUT = "timeout"
    DNS = "dns"
    TLS = "tls"
    CONNECTION = "connection"
    REDIRECTS = "redirects"
    INVALID_URL = "invalid_url"
    HTTP_4XX = "http_4xx"
    HTTP_5XX = "http_5xx"
    RATE_LIMITED = "rate_limited"
    GONE = "gone"
    TOO_LARGE = "too_large"
    NOT_A_FEED = "not_a_feed"
    ROBOTS = "robots"
    BLOCKED_ADDRESS = "blocked_address"  # a link to a non-public address, from a public feed: never fetched
    EXTRACTION = "extraction"  # a page fetched, whose extraction workers ended under it
    OTHER = "other"


@dataclass(frozen=True)
class Failure:
    kind: FailureKind
    message: str
    retry_after: timedelta | None = None
    status: int | None = None
    """The HTTP status that failed, when an answer came."""


@dataclass(frozen=True)
class FetchResult:
    """What one GET produced. ``body`` is the decompressed payload; empty on 304 and on failure."""

    url: str
    final_url: str
    status: int | None
    headers: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    body: bytes = b""
    elapsed: float = 0.0
    failure: Failure | None = None
    peer: str | None = None
    """The IP address the (final) answer came from, when the connection says so."""
    moved_to: str | None = None
    """Where ``url`` has moved for good: the URL its permanent redirects (301, 308) led to, hop after hop from
    the first, before any temporary one (302, 303, 307); None when its first answer was no permanent redirect,
    or the last no answer (a failure). RFC 9110 (15.4.2) asks a client that can edit its links to use the new
    URL from then on."""

    @property
    def ok(self) -> bool:
        return self.failure is None and self.status is not None and 200 <= self.status < 300

    @property
    def not_modified(self) -> bool:
        return self.failure is None and self.status == 304

    @property
    def etag(self) -> str | None:
        return self.headers.get("etag")

    @property
    def last_modified(self) -> str | None:
        return self.headers.get("last-modified")

    @property
    def cache_lifetime(self) -> timedelta | None:
        """How long the response says it stays fresh (Cache-Control max-age, else Expires), less its Age."""
        return parse_cache_lifetime(self.headers)


class ResponseTooLarge(MonitorError):
    """The response passed the size cap, before or after decompression."""

    hint = "raise the feed's max_bytes in feeds.yaml if the document is meant to be this large"


def default_user_agent(contact: str | None = None) -> str:
    """An honest User-Agent: who we are, and how a site owner reaches whoever runs us."""
    reach = f"; +{contact}" if contact else ""
    return f"monitor/{__version__} (news monitoring feed reader{reach})"


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> timedelta | None:
    """Retry-After as seconds or an HTTP date; None when absent or unreadable. Capped at a week."""
    if not value:
        return None
    value = value.strip()
    if _is_ascii_digits(value):
        # Cap before building the timedelta, which a hostile "99999999999999" would overflow, and before
        # int(), which refuses a number of thousands of digits (the feed would fail as "other").
        cap = int(MAX_RETRY_AFTER.total_seconds())
        digits = value.lstrip("0") or "0"
        return timedelta(seconds=cap if len(digits) > len(str(cap)) else min(int(digits), cap))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delay = when - (now or datetime.now(UTC))
    return max(timedelta(0), min(delay, MAX_RETRY_AFTER))


def parse_cache_lifetime(headers: Mapping[str, str], *, now: datetime | None = None) -> timedelta | None:
    """The freshness left to a response, as RFC 9111 reckons it: Cache-Control max-age, else Expires minus
    Date (or ``now`` without a Date), less the Age a cache on the way added. None when the response names no
    lifetime, forbids reuse (no-store, no-cache), or its values are unreadable; capped like Retry-After."""
    directives = [part.strip().lower() for part in headers.get("cache-control", "").split(",")]
    if "no-store" in directives or "no-cache" in directives:
        return None
    ages = [
        _http_seconds(value)
        for name, _, value in (part.partition("=") for part in directives)
        if name.strip() == "max-age"
    ]
    lifetime: timedelta | None = None
    if ages:
        readable = [age for age in ages if age is not None]
        lifetime = min(readable) if readable else None  # two max-age values: the more cautious one
    elif expires := _http_date(headers.get("expires")):
        # Expires is on the server's clock: against its own Date, a skew of our clock does not matter.
        lifetime = expires - (_http_date(headers.get("date")) or now or datetime.now(UTC))
    if lifetime is None:
        return None
    lifetime -= _http_seconds(headers.get("age", "")) or timedelta(0)
    return min(lifetime, MAX_RETRY_AFTER) if lifetime > timedelta(0) else None


def _http_seconds(value: str) -> timedelta | None:
    """A delta-seconds value ("600", '"600"'), capped before it becomes a timedelta; None if unreadable."""
    value = value.strip().strip('"')
    if not _is_ascii_digits(value):
        return None
    return timedelta(seconds=min(int(value), int(MAX_RETRY_AFTER.total_seconds())))


def _http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        when = email.utils.parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when


def _is_ascii_digits(value: str) -> bool:
    """True for "120", False for "", "-1", "1.5" and non-ASCII digits such as "²" (which int() refuses)."""
    return value.isascii() and value.isdigit()


def classify_status(status: int, headers: Mapping[str, str]) -> Failure | None:
    """Sort an HTTP status into a failure kind; None for success and 304."""
    if status < 300 or status == 304:
        return None
    if status < 400:
        # Redirects with a usable Location were followed; what is left is a dead end (300, 305, no Location).
        return Failure(
            FailureKind.OTHER, f"HTTP {status}: redirect without a Location to follow", status=status
        )
    retry_after = parse_retry_after(headers.get("retry-after"))
    if status == 410:
        # Said of feeds and pages alike ("the publisher removed this feed" was an article page's note too).
        return Failure(FailureKind.GONE, "HTTP 410 Gone: removed by the publisher", status=status)
    if status == 429:
        return Failure(FailureKind.RATE_LIMITED, "HTTP 429 Too Many Requests", retry_after, status)
    if status >= 500:
        return Failure(FailureKind.HTTP_5XX, f"HTTP {status}", retry_after if status == 503 else None, status)
    return Failure(FailureKind.HTTP_4XX, f"HTTP {status}", status=status)


def classify_exception(exc: BaseException) -> Failure:
    """Sort an exception raised while fetching into a failure kind."""
    if isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        # anyio can wrap a single low-level error in a group (e.g. OverflowError for a bad port).
        return classify_exception(exc.exceptions[0])
    message = str(exc) or type(exc).__name__
    if isinstance(exc, BlockedAddress):
        return Failure(FailureKind.BLOCKED_ADDRESS, message)
    if isinstance(exc, ResponseTooLarge):
        return Failure(FailureKind.TOO_LARGE, message)
    if isinstance(exc, httpx.TimeoutException | asyncio.TimeoutError):
        return Failure(FailureKind.TIMEOUT, f"timed out: {message}")
    if isinstance(exc, httpx.TooManyRedirects):
        return Failure(FailureKind.REDIRECTS, message)
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return Failure(FailureKind.INVALID_URL, message)
    if isinstance(exc, httpx.ConnectError):
        causes = _causes(exc)
        if any(isinstance(c, socket.gaierror) for c in causes) or "Name or service not known" in message:
            return Failure(FailureKind.DNS, _dns_failure(message))
        if any(isinstance(c, ssl.SSLError) for c in causes) or "SSL" in message or "certificate" in message:
            return Failure(FailureKind.TLS, f"TLS failed: {message}")
        return Failure(FailureKind.CONNECTION, f"connection failed: {message}")
    if isinstance(exc, httpx.DecodingError):
        return Failure(FailureKind.OTHER, f"could not decode the response body: {message}")
    if any(isinstance(c, socket.gaierror) for c in _causes(exc)):
        return Failure(FailureKind.DNS, _dns_failure(message))
    if isinstance(exc, httpx.TransportError | OSError):
        return Failure(FailureKind.CONNECTION, f"connection broken: {message}")
    return Failure(FailureKind.OTHER, f"{type(exc).__name__}: {message}")


def _dns_failure(message: str) -> str:
    # The address guard's own message names the host ("DNS lookup of example.com failed: ..."): said once.
    return message if message.startswith("DNS lookup") else f"DNS lookup failed: {message}"


def _causes(exc: BaseException) -> list[BaseException]:
    chain, seen = [], set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


PERMANENT_REDIRECTS = frozenset({301, 308})
"""Redirects that say the resource has a new URL for good (RFC 9110 15.4.2, RFC 9110 15.4.9)."""

DROPPED_CONNECTION = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)
"""The connection broke under a request, without a timeout: the errors after which a GET is sent once more."""


class _Decoder:
    """Decompresses gzip/deflate bodies in bounded steps, so a small bomb cannot expand past the cap.

    "deflate" is meant to be zlib-wrapped (RFC 9110) but many servers send raw deflate; both are read,
    as browsers and httpx do. Unknown or stacked encodings, and corrupt data, raise ``httpx.DecodingError``.
    """

    def __init__(self, encoding: str, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self.parts: list[bytes] = []
        codings = [c.strip().lower() for c in encoding.split(",")]
        codings = [c for c in codings if c not in ("", "identity")]
        self.encoding = ", ".join(codings)
        self._zlib: zlib._Decompress | None = None
        self._head = b""  # deflate only: bytes held until we know whether a zlib header is present
        if not codings:
            self._mode = None
        elif len(codings) > 1:
            raise httpx.DecodingError(f"unsupported Content-Encoding {self.encoding!r} (stacked encodings)")
        elif codings[0] in ("gzip", "x-gzip"):
            self._mode = "gzip"
            self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif codings[0] == "deflate":
            self._mode = "deflate"
        else:
            raise httpx.DecodingError(
                f"unsupported Content-Encoding {self.encoding!r} (we asked for gzip or deflate only)"
            )

    def feed(self, chunk: bytes) -> None:
        if self._mode is None:
            self._keep(chunk)
            return
        if self._zlib is None:  # deflate, header not seen yet
            self._head += chunk
            if len(self._head) < 2:
                return
            chunk, self._head = self._head, b""
            zlib_wrapped = chunk[0] & 0x0F == 8 and int.from_bytes(chunk[:2], "big") % 31 == 0
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS if zlib_wrapped else -zlib.MAX_WBITS)
        data = chunk
        try:
            while data:
                out = self._zlib.decompress(data, self.limit - self.size + 1)
                self._keep(out)
                data = self._zlib.unconsumed_tail
        except zlib.error as exc:
            raise httpx.DecodingError(f"corrupt {self.encoding} body: {exc}") from exc

    def finish(self) -> bytes:
        if self._mode is not None:
            if self._zlib is None:
                if self._head:
                    raise httpx.DecodingError(f"corrupt {self.encoding} body: truncated")
            else:
                try:
                    self._keep(self._zlib.flush())
                except zlib.error as exc:
                    raise httpx.DecodingError(f"corrupt {self.encoding} body: {exc}") from exc
        return b"".join(self.parts)

    def _keep(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.limit:
            raise ResponseTooLarge(f"response larger than {self.limit} bytes after decompression")
        self.parts.append(data)


DRAIN_LIMIT = 64 * 1024
FORM_ANSWER_BYTES = 4096  # of the answer to a POST (a hub's "202 Accepted" and its reason, if any)

# What each kind of request asks for: servers label feeds loosely, so anything is taken, in this order.
FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml, application/feed+json, "
    "application/xml;q=0.9, text/xml;q=0.9, application/json;q=0.8, */*;q=0.5"
)
PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"
SITEMAP_ACCEPT = "application/xml, text/xml;q=0.9, application/x-gzip;q=0.8, text/plain;q=0.7, */*;q=0.5"
DRAIN_SECONDS = 2.0
"""Bytes of an unwanted body (a 304's, a redirect's, an error page's) read to keep the connection, and the
time it may take: a slow error page must not hold the answer we already have."""


async def _drain(response: httpx.Response) -> None:
    """Read a small unwanted body to its end, so that the connection can carry the next request.

    A response closed before its end closes its connection, even a 304's empty one (the HTTP parser has
    not yet seen its end): unchanged feeds would each cost a new TCP (and TLS) connection. A body larger
    than DRAIN_LIMIT is left, and its connection closed: reading it would cost more than a new one.
    """
    received = 0
    try:
        async with asyncio.timeout(DRAIN_SECONDS):
            async for chunk in response.aiter_raw():
                received += len(chunk)
                if received > DRAIN_LIMIT:
                    return
    except (httpx.HTTPError, TimeoutError):
        pass  # the answer is already in hand; the connection is closed, as it would have been


_LINK_REACH: ContextVar[Reach | None] = ContextVar("monitor_link_reach", default=None)


@contextlib.contextmanager
def reaching(reach: Reach) -> Iterator[None]:
    """Fetches made in this block (robots.txt included) are a link's, of ``reach``, unless told otherwise."""
    token = _LINK_REACH.set(reach)
    try:
        yield
    finally:
        _LINK_REACH.reset(token)


def _peer_address(response: httpx.Response) -> str | None:
    """The IP address of the server that answered, from the connection httpcore lends the response."""
    stream = response.extensions.get("network_stream")
    try:
        address = stream.get_extra_info("server_addr") if stream is not None else None
    except Exception:  # noqa: BLE001 - a stream that cannot tell is one we know nothing about
        return None
    return str(address[0]) if address else None


def _no_cookies() -> http.cookiejar.CookieJar:
    """A jar that takes no cookie, as feed readers keep none. A client's jar keeps every cookie of every site
    for as long as it runs and sends them back: a site that sets a new one on each answer tells its polls
    apart, then refuses them once their Cookie header outgrows its limit, and the daemon's memory grows."""
    # Neither kind of cookie is accepted: the jar does not even parse a Set-Cookie header.
    return http.cookiejar.CookieJar(http.cookiejar.DefaultCookiePolicy(netscape=False, rfc2965=False))


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """The CA bundle, loaded once per process: loading it costs ~30 ms, once for every client otherwise."""
    return httpx.create_ssl_context()


def _reported(fetch):
    """``Fetcher.fetch``, each result reported to the fetcher's metrics (time, by result or failure kind)."""

    @functools.wraps(fetch)
    async def reported(self, *args, **kwargs) -> FetchResult:
        result = await fetch(self, *args, **kwargs)
        self.metrics.fetched(result)
        return result

    return reported


class Fetcher:
    """An async HTTP client that is polite to every host and never raises for network trouble.

    Args:
        user_agent: sent with every request.
        timeout: seconds for connect, read and write each.
        max_bytes: cap on the body, checked on Content-Length, while streaming and after decompression.
        max_redirects: redirects followed before giving up.
        concurrency: requests in flight over all hosts.
        gate: per-host limits (concurrency, minimum delay between requests).
        metrics: told of every fetch's result and time (``monitor.runtime.metrics``).
        transport: an httpx transport, for tests (the address guard is then not applied: it connects nowhere).
        guard: the address guard every connection goes through (``settings.allow_networks``).
    """

    def __init__(
        self,
        *,
        user_agent: str,
        timeout: float = 30.0,
        max_bytes: int = 10_000_000,
        max_redirects: int = 5,
        concurrency: int = 16,
        gate: HostGate | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        metrics: Metrics = NO_METRICS,
        guard: AddressGuard | None = None,
    ) -> None:
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        self.metrics = metrics
        self.gate = gate or HostGate()
        self._slots = PriorityGate(concurrency)  # requests in flight over all hosts, by ``Turn``
        self.guard = guard or AddressGuard()
        # Where the address guard looks: at each connection (our transport), at a lookup before each request
        # (through a proxy, which connects for us: a weaker check), or nowhere (a test's transport).
        self._guard_at: str | None = None if transport is not None else "lookup"
        if transport is None and not urllib.request.getproxies():
            # Through a proxy every connection goes to the proxy, and httpx's own shared pool (which honours
            # the proxy variables) is the right one; else each site gets its own (see monitor.ingest.hostpools).
            transport = PerHostTransport(
                connections=self.gate.concurrency, verify=_tls_context(), guard=self.guard
            )
            self._guard_at = "connect"
        self._client = httpx.AsyncClient(
            headers={
                "User-Agent": user_agent,
                "Accept-Encoding": "gzip, deflate",
            },
            timeout=httpx.Timeout(timeout),
            verify=_tls_context(),
            follow_redirects=False,
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
            transport=transport,
            cookies=_no_cookies(),
        )
        self._timeout = timeout

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    @_reported
    async def fetch(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        accept: str | None = None,
        allow: Callable[[str], Awaitable[bool]] | None = None,
        reach: Reach | None = None,
        place: Place | None = None,
        priority: Turn | None = None,
    ) -> FetchResult:
        """GET ``url``, conditionally when validators are given. Never raises for network failures.

        Redirects are followed hop by hop, each through its host's gate; ``allow`` (robots.txt) is asked
        about every URL redirected to. ``reach`` is how far every hop may go (a link's); without it (nor a
        ``reaching`` block) ``url`` is a configured one: fetched wherever it is, its redirects checked.
        ``place`` (in a ``monitor.ingest.pagebuffer.PageBuffer``) is taken when a hop's turn at its host has come
        and kept with the answer: the caller gives it back once done with the body. ``priority`` is the
        request's place in its host's line: by default an article page's (``Turn.PAGE``) when it has a
        ``place``, else ``Turn.OTHER``.
        """
        if priority is None:
            priority = Turn.PAGE if place is not None else Turn.OTHER
        reach = reach or _LINK_REACH.get()
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        if accept:
            headers["Accept"] = accept
        started = time.monotonic()
        current = url
        hop_reach = reach or Reach.ANY
        moved: str | None = None  # see ``FetchResult.moved_to``
        permanent = True  # every hop so far was a permanent redirect
        try:
            for hop in range(self.max_redirects + 1):
                try:
                    parts = urlsplit(current)
                    parts.port  # noqa: B018 - raises ValueError for a port out of range
                except ValueError as exc:
                    failure = Failure(FailureKind.INVALID_URL, f"invalid URL {current!r}: {exc}")
                    return FetchResult(url, current, None, failure=failure)
                if self._guard_at == "lookup" and hop_reach is Reach.PUBLIC:
                    await self.guard.resolve(parts.hostname or "", parts.port or 0, hop_reach)
                # Each hop waits its turn at its own host: a redirect to another site is a request to that site.
                async with self.gate.slot(
                    parts.hostname or "",
                    then=self._slots,
                    priority=priority,
                    on_turn=place.take if place is not None else None,
                ):
                    host = parts.hostname or ""
                    try:
                        result = await self._request(host, current, headers, hop_reach)
                    except DROPPED_CONNECTION as exc:
                        # Most often a kept-alive connection that the server closed as we reused it. A GET
                        # is safe to repeat: once, at once, and the pool gives it a fresh connection.
                        log.debug("connection dropped (%s), asking once more", exc, extra={"url": current})
                        result = await self._request(host, current, headers, hop_reach)
                if isinstance(result, FetchResult):
                    if result.failure is not None and result.failure.retry_after:
                        self.gate.hold_off(parts.hostname or "", result.failure.retry_after.total_seconds())
                    # Only to an answer: a move to an error is no address to use instead; back to the URL
                    # asked for, nothing moved.
                    moved_to = moved if moved != url and result.failure is None else None
                    return replace(result, url=url, elapsed=time.monotonic() - started, moved_to=moved_to)
                if place is not None:
                    # Not held while the next hop is checked (its robots.txt may be fetched) and waits its turn.
                    place.give_back()
                current, peer, status = result
                if urlsplit(current).scheme not in ("http", "https"):
                    # Said as it is, before robots.txt is asked about an address no robots.txt can speak for.
                    failure = Failure(
                        FailureKind.INVALID_URL, f"redirected to {current}, not an http(s) address"
                    )
                    return FetchResult(
                        url, current, None, elapsed=time.monotonic() - started, failure=failure
                    )
                permanent = permanent and status in PERMANENT_REDIRECTS
                if permanent:
                    moved = current
                if reach is None and hop == 0:
                    # A configured URL's redirects go where its own server could send us: to non-public
                    # addresses only if that server is on one.
                    hop_reach = await self._reach_of(urlsplit(url), peer)
                if allow is not None and not await allow(current):
                    return FetchResult(
                        url,
                        current,
                        None,
                        elapsed=time.monotonic() - started,
                        failure=Failure(
                            FailureKind.ROBOTS, f"redirected to {current}, which robots.txt disallows"
                        ),
                    )
            raise httpx.TooManyRedirects(f"more than {self.max_redirects} redirects, last to {current}")
        except Exception as exc:  # noqa: BLE001 - every failure becomes a classified result
            failure = classify_exception(exc)
            log.debug("fetch failed", extra={"url": url, "kind": failure.kind})
            return FetchResult(url, current, None, elapsed=time.monotonic() - started, failure=failure)

    @_reported
    async def post_form(self, url: str, form: Mapping[str, str], *, reach: Reach) -> FetchResult:
        """POST ``form`` to ``url`` (a WebSub hub): one request through the host's gate and the address guard
        at ``reach``; a redirect is not followed (a POST is not repeated elsewhere). Never raises for network
        failures; a 3xx comes back as a failure with its status."""
        started = time.monotonic()
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises ValueError for a port out of range
            if self._guard_at == "lookup" and reach is Reach.PUBLIC:
                await self.guard.resolve(parts.hostname or "", parts.port or 0, reach)
            async with self.gate.slot(parts.hostname or "", then=self._slots):
                status, headers, answer, peer = await self._with_deadline(self._post(url, form, reach))
            failure = classify_status(status, headers)
            if failure is None and 300 <= status < 400:
                failure = Failure(
                    FailureKind.REDIRECTS, f"HTTP {status}: a redirect, not followed for a POST"
                )
            return FetchResult(
                url, url, status, headers, answer, time.monotonic() - started, failure=failure, peer=peer
            )
        except Exception as exc:  # noqa: BLE001 - every failure becomes a classified result
            return FetchResult(
                url, url, None, elapsed=time.monotonic() - started, failure=classify_exception(exc)
            )

    async def _post(self, url: str, form: Mapping[str, str], reach: Reach):
        async with self._client.stream(
            "POST", url, data=dict(form), extensions={REACH_EXTENSION: reach}
        ) as response:
            answer = b""
            async for chunk in response.aiter_bytes():  # a hub's answer is a line of text: keep its start
                answer += chunk[: FORM_ANSWER_BYTES - len(answer)]
                if len(answer) >= FORM_ANSWER_BYTES:
                    break
            headers = MappingProxyType({k.lower(): v for k, v in response.headers.items()})
            return response.status_code, headers, answer, _peer_address(response)

    async def _request(
        self, host: str, url: str, headers: dict[str, str], reach: Reach
    ) -> FetchResult | tuple[str, str | None, int]:
        """``_get`` within the whole-request deadline; the host's gate learns how long it took to answer
        (``HostGate.observe``), a timeout as a failure that took all the time it was given."""
        started = time.monotonic()
        try:
            return await self._with_deadline(self._get(url, headers, started, reach, host))
        except (TimeoutError, httpx.ConnectTimeout, httpx.ReadTimeout, httpx.WriteTimeout):
            self.gate.observe(host, time.monotonic() - started, failed=True)
            raise
        finally:
            self.metrics.hosts_slowed(self.gate.slowed)

    async def _with_deadline(self, request):
        """Whole-request deadline: httpx's timeouts are per read, so a slow drip could run forever."""
        deadline = self._timeout * 3
        scope = asyncio.timeout(deadline)
        try:
            async with scope:
                return await request
        except TimeoutError as exc:
            if not scope.expired():
                raise
            raise TimeoutError(f"no complete response within {deadline:g} s") from exc

    async def links_reach(self, feed: FetchResult | str) -> Reach:
        """How far the links of a feed may go: anywhere when the feed is on a non-public address.

        A fetched feed is judged by the address its answer came from; a feed's URL by a lookup.
        """
        if isinstance(feed, str):
            return await self._reach_of(urlsplit(feed), None)
        return await self._reach_of(urlsplit(feed.final_url), feed.peer)

    async def refusal(self, url: str, reach: Reach) -> Failure | None:
        """The blocked_address failure a request of ``reach`` to ``url`` would meet, looked up now; None when
        its host's addresses pass (or cannot be looked up: the request itself will say why)."""
        if self._guard_at is None or reach is Reach.ANY:
            return None
        try:
            parts = urlsplit(url)
            await self.guard.resolve(parts.hostname or "", parts.port or 0, reach)
        except BlockedAddress as exc:
            return Failure(FailureKind.BLOCKED_ADDRESS, str(exc))
        except (OSError, ValueError, httpx.HTTPError, httpcore.ConnectError):  # UnicodeError is a ValueError
            return None
        return None

    async def _reach_of(self, origin, peer: str | None) -> Reach:
        if self._guard_at is None:
            return Reach.ANY  # a test's transport: nothing is connected to, there is nothing to guard
        if self._guard_at != "connect":
            peer = None  # through a proxy the peer is the proxy
        try:
            port = origin.port or (443 if origin.scheme == "https" else 80)
        except ValueError:
            port = 0
        return await self.guard.reach_of_origin(origin.hostname or "", port, peer)

    async def _get(
        self, url: str, headers: dict[str, str], started: float, reach: Reach, host: str
    ) -> FetchResult | tuple[str, str | None, int]:
        """One request: its result, or the absolute URL it redirects to, the address that said so and the
        redirect's status."""
        async with self._client.stream(
            "GET", url, headers=headers, extensions={REACH_EXTENSION: reach}
        ) as response:
            # The time to the answer's headers, as AutoThrottle measures it: the body's download is the
            # network's and the page's size, not the server's load.
            self.gate.observe(host, time.monotonic() - started, failed=response.status_code >= 400)
            response_headers = MappingProxyType({k.lower(): v for k, v in response.headers.items()})
            final_url = str(response.url)
            status = response.status_code
            peer = _peer_address(response)
            if response.is_redirect and response.next_request is not None:
                await _drain(response)
                return str(response.next_request.url), peer, status
            failure = classify_status(status, response_headers)
            if failure is not None or status == 304:
                await _drain(response)
                return FetchResult(
                    url,
                    final_url,
                    status,
                    response_headers,
                    elapsed=time.monotonic() - started,
                    failure=failure,
                    peer=peer,
                )
            declared = response_headers.get("content-length", "")
            if _is_ascii_digits(declared) and int(declared) > self.max_bytes:
                raise ResponseTooLarge(f"Content-Length {declared} is over the {self.max_bytes}-byte cap")
            if response.is_stream_consumed:
                # The transport loaded (and httpx decoded) the body already, as httpx.MockTransport does
                # with content=: there is nothing left to stream, only the cap to check.
                decoder = _Decoder("", self.max_bytes)
                decoder.feed(response.content)
            else:
                decoder = _Decoder(response_headers.get("content-encoding", ""), self.max_bytes)
                received = 0
                async for chunk in response.aiter_raw():
                    received += len(chunk)
                    if received > self.max_bytes:
                        raise ResponseTooLarge(
                            f"response passed the {self.max_bytes}-byte cap while streaming"
                        )
                    decoder.feed(chunk)
            body = decoder.finish()
        return FetchResult(
            url, final_url, status, response_headers, body, time.monotonic() - started, peer=peer
        )
