"""A WebSub hub for tests, on a loopback address: takes subscription requests, verifies the subscriber's
intent with a challenge, and publishes content to verified subscribers, signed with their secret."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode


@dataclass
class HubSubscription:
    topic: str
    callback: str
    secret: str
    lease_seconds: int | None
    verified: bool = False
    requests: int = 1  # subscribe requests for this (topic, callback): 2 and more are renewals
    answers: list[tuple[int, str]] = field(default_factory=list)  # what the subscriber answered publications


class LocalHub:
    """``url`` takes ``hub.mode=subscribe`` requests. ``grant_lease`` overrides the lease the hub grants;
    ``refuse`` makes it answer 403."""

    def __init__(self, host: str = "127.0.0.1", *, grant_lease: int | None = None) -> None:
        self.grant_lease = grant_lease
        self.refuse = False
        self.subscriptions: dict[tuple[str, str], HubSubscription] = {}
        self.lock = threading.Lock()
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format, *args):  # noqa: A002 - quiet
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                form = {key: values[0] for key, values in parse_qs(self.rfile.read(length).decode()).items()}
                status = hub._subscribe(form)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._server = ThreadingHTTPServer((host, 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://{host}:{self._server.server_address[1]}/hub"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> LocalHub:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _subscribe(self, form: dict[str, str]) -> int:
        if self.refuse:
            return 403
        if form.get("hub.mode") != "subscribe" or not form.get("hub.topic") or not form.get("hub.callback"):
            return 400
        key = (form["hub.topic"], form["hub.callback"])
        with self.lock:
            known = self.subscriptions.get(key)
            lease = int(form["hub.lease_seconds"]) if form.get("hub.lease_seconds") else None
            if known is None:
                self.subscriptions[key] = HubSubscription(
                    form["hub.topic"], form["hub.callback"], form.get("hub.secret", ""), lease
                )
            else:
                known.requests += 1
                known.secret = form.get("hub.secret", known.secret)
        # Verification of intent happens apart from the request, as real hubs do it.
        threading.Thread(target=self._verify, args=(key,), daemon=True).start()
        return 202

    def _verify(self, key: tuple[str, str]) -> tuple[int, bytes]:
        """Verify the subscriber's intent (again, when called again, as a hub whose answer got lost does):
        what the subscriber answered."""
        subscription = self.subscriptions[key]
        challenge = secrets.token_hex(8)
        lease = self.grant_lease if self.grant_lease is not None else subscription.lease_seconds
        query = {"hub.mode": "subscribe", "hub.topic": subscription.topic, "hub.challenge": challenge}
        if lease is not None:
            query["hub.lease_seconds"] = str(lease)
        status, body = _request(f"{subscription.callback}?{urlencode(query)}")
        with self.lock:
            subscription.verified = status == 200 and body == challenge.encode()
        return status, body

    def verify_again(self, topic: str) -> list[tuple[int, bytes]]:
        """Verify again every subscription of ``topic``: what the subscribers answered."""
        with self.lock:
            keys = [key for key in self.subscriptions if key[0] == topic]
        return [self._verify(key) for key in keys]

    def verified(self) -> list[HubSubscription]:
        with self.lock:
            return [subscription for subscription in self.subscriptions.values() if subscription.verified]

    def publish(
        self,
        topic: str,
        content: bytes,
        *,
        secret: str | None = None,
        content_type: str = "application/rss+xml",
    ) -> list[int]:
        """POST ``content`` to every verified subscriber of ``topic``, signed with its secret (or ``secret``);
        the statuses they answered. A subscriber that answers 410 Gone is dropped, as the spec lets hubs do."""
        statuses = []
        for subscription in self.verified():
            if subscription.topic != topic:
                continue
            key = (secret if secret is not None else subscription.secret).encode()
            signature = "sha256=" + hmac.new(key, content, hashlib.sha256).hexdigest()
            status, _ = _request(
                subscription.callback,
                data=content,
                headers={
                    "Content-Type": content_type,
                    "X-Hub-Signature": signature,
                    "Link": f'<{self.url}>; rel="hub", <{topic}>; rel="self"',
                },
            )
            statuses.append(status)
            if status == 410:
                with self.lock:
                    self.subscriptions.pop((subscription.topic, subscription.callback), None)
        return statuses


def _request(
    url: str, *, data: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(url, data=data, headers=headers or {}, method="POST" if data else "GET")
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except OSError:
        return 0, b""
