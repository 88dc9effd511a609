"""The daemon's HTTP listener: ``GET /healthz`` and ``GET /metrics``, from a small threaded stdlib server;
with ``settings.websub``, also the WebSub hubs' requests at ``/websub/<token>`` (monitor.ingest.websub).

It runs in threads of its own, beside the event loop, so a scrape never waits for a poll and a stuck loop
shows as a stale tick rather than as a listener that does not answer. /healthz answers 200 while the
scheduler ticks and the database answers, and 503 with the reasons otherwise.
"""

from __future__ import annotations

import io
import json
import logging
import socket
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from monitor.daemon.database import DatabaseOutage
from monitor.errors import MonitorError
from monitor.ingest.websub import Answer, Subscriber, token_of
from monitor.runtime.logs import redact
from monitor.runtime.metrics import Metrics, PrometheusMetrics
from monitor.store.db import Database, ping

log = logging.getLogger(__name__)

PUSH_READ_TIMEOUT = 30.0  # seconds a hub may take between two reads of the content it pushes
PUSH_DEADLINE = 120.0  # seconds a hub may take for the whole of the content it pushes
REQUEST_TIMEOUT = 10.0
"""Seconds a client may take for its whole request line and headers, however it spreads them: a connection
that sends nothing, or a byte now and then (slowloris), would otherwise hold its thread and slot forever."""
REFUSALS_LOGGED_EVERY = 60.0
"""Seconds between two log lines of connections refused past MAX_CONNECTIONS: a flood of them is one line a
minute with their count, not one line each (the disk of the logs is no attacker's to fill)."""
MAX_CONNECTIONS = 64
"""Connections served at once, each in a thread; one more is closed at once. With WebSub the listener faces
the hubs, so the internet: a flood of connections must not grow the daemon's threads without end."""
MIN_STALE_AFTER = 30.0  # seconds without a tick before /healthz fails, however short poll_tick is


class Health:
    """Whether the daemon is doing its job: its scheduler ticks, and its database answers and takes its work.

    Args:
        tick_every: the poll_tick, in seconds; no tick for three times that (at least MIN_STALE_AFTER) fails.
        clock: time.time, or a stand-in for tests.
    """

    def __init__(
        self,
        *,
        db: Database,
        metrics: Metrics,
        tick_every: float,
        outage: DatabaseOutage | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db, self.metrics, self.clock, self.outage = db, metrics, clock, outage
        self.stale_after = max(3 * tick_every, MIN_STALE_AFTER)
        self.started_at = clock()

    def check(self) -> tuple[bool, dict[str, Any]]:
        """(healthy, the JSON body /healthz answers)."""
        now = self.clock()
        problems = []
        last_tick = self.metrics.last_tick_at
        # Either way: a tick "in the future" is a clock stepped back since, and says nothing of the last hour.
        quiet_for = abs(now - (last_tick if last_tick is not None else self.started_at))
        if quiet_for > self.stale_after:
            problems.append(f"no scheduler tick for {quiet_for:.0f}s (limit {self.stale_after:.0f}s)")
        try:
            ping(self.db)
            database = "ok"
        except MonitorError as exc:
            database = "unreachable"
            problems.append(f"database unreachable: {exc.message}")
        else:
            # It answers a query, and yet refused the last work (a full disk takes reads, not writes).
            outage = self.outage
            if outage is not None and outage.since is not None:
                database = "failing"
                problems.append(
                    f"database refusing work since {outage.since:%Y-%m-%dT%H:%M:%SZ}: {outage.cause}"
                )
        body = {
            "status": "ok" if not problems else "unhealthy",
            "last_tick": _iso(last_tick),
            "last_successful_poll": _iso(self.metrics.last_poll_success_at),
            "database": database,
        }
        if problems:
            body["reason"] = redact("; ".join(problems))
        return not problems, body


class Listener:
    """Serves /healthz and /metrics on ``address`` in a background thread; ``stop`` ends it."""

    def __init__(self, address: tuple[str, int], *, health: Health, metrics: PrometheusMetrics) -> None:
        self.health, self.metrics = health, metrics
        self.websub: Subscriber | None = None  # set by the daemon when hubs push to /websub/<token>
        host, port = address
        try:
            self._server = _Server((host, port), _Handler, self)
        except OSError as exc:
            raise MonitorError(
                f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                hint="choose another port with --listen HOST:PORT (or settings.listen)",
            ) from exc
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="monitor-listener", daemon=True
        )

    @property
    def url(self) -> str:
        # What server_address holds (the socket's name), read where it is typed for an IP socket: a str host.
        host, port = self._server.socket.getsockname()[:2]
        return f"http://{f'[{host}]' if ':' in host else host}:{port}"

    def start(self) -> None:
        self._thread.start()
        log.info(
            "serving /healthz and /metrics%s at %s",
            " and /websub/" if self.websub else "",
            self.url,
            extra={"url": self.url},
        )

    def stop(self) -> None:
        if self._thread.is_alive():  # shutdown() waits for serve_forever, forever if it never ran
            self._server.shutdown()
        self._server.server_close()


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a slow scraper never holds up the daemon's exit

    def __init__(self, address: tuple[str, int], handler: type, listener: Listener) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.listener = listener
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self._refused = 0  # connections refused since the last line that said so
        self._refusal_logged_at: float | None = None
        super().__init__(address, handler)

    def process_request(self, request, client_address) -> None:  # socketserver's name
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)
            self._refused += 1  # only the serving thread refuses: no lock needed
            now = time.monotonic()
            if self._refusal_logged_at is None or now - self._refusal_logged_at >= REFUSALS_LOGGED_EVERY:
                log.warning(
                    "listener: %d connections already, %d more closed (the last from %s)",
                    MAX_CONNECTIONS,
                    self._refused,
                    client_address[0],
                )
                self._refused, self._refusal_logged_at = 0, now
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request, client_address) -> None:  # socketserver's name
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request, client_address) -> None:  # socketserver's name
        # socketserver printed the traceback to stderr, outside the logs (and their JSON form): a client
        # that hangs up or stalls is a line of the log; anything else is a bug, logged with its traceback.
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError | TimeoutError):
            log.info("listener: the connection from %s ended: %s", client_address[0], error)
        else:
            log.exception("listener: the request from %s failed", client_address[0])


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "monitor"
    timeout = REQUEST_TIMEOUT  # socketserver's name: the socket's timeout, from the first byte asked for

    def setup(self) -> None:  # socketserver's name
        super().setup()
        # Reads through a reader that gives each request a deadline for the whole of its head (and a push for
        # its body), not only for each read: a byte every few seconds would hold the connection forever.
        self.rfile.close()
        self._reader = _DeadlineReader(self.connection)
        self.rfile = io.BufferedReader(self._reader)

    def handle_one_request(self) -> None:  # http.server's name
        self._reader.give(self.timeout, per_read=self.timeout)  # REQUEST_TIMEOUT, for the whole head
        super().handle_one_request()

    def do_GET(self) -> None:  # http.server's name
        path = self.path.split("?", 1)[0]
        if (websub := self._websub_token()) is not None:
            subscriber, token = websub
            query = {
                key: values[0]
                for key, values in parse_qs(urlsplit(self.path).query, keep_blank_values=True).items()
            }
            self._reply(subscriber.verify(token, query))
        elif path == "/healthz":
            healthy, body = self.server.listener.health.check()
            self._answer(200 if healthy else 503, json.dumps(body).encode(), "application/json")
        elif path == "/metrics":
            payload, content_type = self.server.listener.metrics.exposition()
            self._answer(200, payload, content_type)
        else:
            self._answer(404, b"not found: try /healthz or /metrics\n", "text/plain; charset=utf-8")

    def do_POST(self) -> None:  # http.server's name
        websub = self._websub_token()
        if websub is None:
            self._answer(404, b"not found\n", "text/plain; charset=utf-8")
            return
        subscriber, token = websub
        length = self.headers.get("Content-Length", "")
        if not length.isascii() or not length.isdigit():
            self._answer(411, b"Content-Length required\n", "text/plain; charset=utf-8")
            return
        if int(length) > subscriber.max_push_bytes:
            self.close_connection = True  # the body is not read: the connection cannot be reused
            self._answer(413, b"too large\n", "text/plain; charset=utf-8")
            return
        if not subscriber.takes_pushes(token):
            # Before the body is read: anyone can name a token, and 64 bodies of max_bytes are memory.
            self.close_connection = True
            self._reply(Answer(410, b"no such subscription\n"))
            return
        # A hub that dribbles its body holds only its thread, and only for so long.
        self._reader.give(PUSH_DEADLINE, per_read=PUSH_READ_TIMEOUT)
        body = self.rfile.read(int(length))
        if len(body) < int(length):  # the hub closed its side before the whole body came: nothing to verify
            self.close_connection = True
            self._answer(400, b"body shorter than its Content-Length\n", "text/plain; charset=utf-8")
            return
        headers = {key.lower(): value for key, value in self.headers.items()}
        self._reply(subscriber.push(token, headers, body))

    def _websub_token(self) -> tuple[Subscriber, str] | None:
        subscriber = self.server.listener.websub
        token = token_of(self.path) if subscriber is not None else None
        return (subscriber, token) if subscriber is not None and token is not None else None

    def _reply(self, answer: Answer) -> None:
        self._answer(answer.status, answer.body, answer.content_type)

    def _answer(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")  # the challenge we echo is never a page
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # http.server's name
        log.debug("listener: " + format, *args)


class _DeadlineReader(io.RawIOBase):
    """A connection's bytes, each read waiting no longer than ``per_read`` nor past the deadline ``give`` set."""

    def __init__(self, connection: socket.socket) -> None:
        self._connection = connection
        self._deadline: float | None = None
        self._per_read: float | None = None

    def give(self, seconds: float, *, per_read: float) -> None:
        self._deadline, self._per_read = time.monotonic() + seconds, per_read

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # io's name
        if self._deadline is not None:
            left = self._deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the request took too long")
            self._connection.settimeout(min(left, self._per_read or left))
        return self._connection.recv_into(buffer)


def _iso(timestamp: float | None) -> str | None:
    return None if timestamp is None else datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")
