"""A WebSub hub on 127.0.0.1 for tests: takes subscriptions, verifies them, pushes content.

    with WebSubHub() as hub:
        ...  # a feed names hub.url as its <link rel="hub">; the service subscribes
        hub.wait_for_subscription(topic)          # the request came and was verified
        hub.publish(topic, body)                  # signed with the subscriber's secret

It behaves as the Recommendation asks of a hub (sections 5 and 6): a subscription request
is a form POST answered 202, and is then verified *after* the answer, by a GET to the
callback with ``hub.mode``, ``hub.topic``, ``hub.challenge`` and ``hub.lease_seconds``; it
counts as verified only if the callback answers 2xx with the challenge as its body. A push is
a POST of the content to each verified callback, with ``X-Hub-Signature`` made from that
subscriber's ``hub.secret`` (a test may sign with another secret or method, or none).
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from types import TracebackType
from urllib.parse import parse_qs

import httpx

from monitor.feeds.signature import sign
from tests.support.httpserver import QuietHTTPServer

__all__ = ["Subscription", "WebSubHub"]


@dataclass
class Subscription:
    callback: str
    topic: str
    secret: str
    lease_seconds: int | None
    requests: int = 1
    # Filled in by the verification: what the callback answered.
    verified: bool = False
    verification_status: int | None = None
    verification_body: str = ""
    challenge: str = ""
    forms: list[dict[str, str]] = field(default_factory=list)


class _Server(QuietHTTPServer):
    owner: WebSubHub


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        hub = self.server.owner
        length = int(self.headers.get("content-length") or 0)
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        hub.forms.append(form)
        if hub.refuse_with is not None:
            self.send_response(hub.refuse_with)
            self.end_headers()
            self.wfile.write(b"subscriptions are closed")
            return
        self.send_response(202)
        self.end_headers()
        # Verified after the answer, in its own thread, as a real hub does.
        threading.Thread(target=hub.verify, args=(form,), daemon=True).start()


class WebSubHub:
    def __init__(self, *, lease_seconds: int | None = None) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        # The lease the hub grants (None: the one asked for).
        self.lease_seconds = lease_seconds
        self.refuse_with: int | None = None
        self.forms: list[dict[str, str]] = []
        self.subscriptions: dict[tuple[str, str], Subscription] = {}
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/"

    def __enter__(self) -> WebSubHub:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()

    def verify(self, form: dict[str, str]) -> None:
        callback, topic = form.get("hub.callback", ""), form.get("hub.topic", "")
        asked = form.get("hub.lease_seconds")
        lease = self.lease_seconds or (int(asked) if asked else 86_400)
        with self._lock:
            key = (callback, topic)
            sub = self.subscriptions.get(key)
            if sub is None:
                sub = self.subscriptions[key] = Subscription(
                    callback, topic, form.get("hub.secret", ""), lease
                )
            else:
                sub.requests += 1
                sub.secret = form.get("hub.secret", "")
                sub.lease_seconds = lease
            sub.forms.append(form)
        self.ask(sub, mode="subscribe", lease_seconds=lease)

    def ask(
        self, sub: Subscription, *, mode: str, lease_seconds: int | None = None, topic: str = ""
    ) -> httpx.Response:
        """Send a verification of intent to *sub*'s callback and record what it answered."""
        challenge = secrets.token_urlsafe(16)
        params = {"hub.mode": mode, "hub.topic": topic or sub.topic, "hub.challenge": challenge}
        if lease_seconds is not None:
            params["hub.lease_seconds"] = str(lease_seconds)
        response = httpx.get(sub.callback, params=params, timeout=10)
        if mode == "subscribe" and not topic:
            sub.challenge = challenge
            sub.verification_status = response.status_code
            sub.verification_body = response.text
            sub.verified = response.is_success and response.text == challenge
        return response

    def deny(self, sub: Subscription, reason: str) -> httpx.Response:
        params = {"hub.mode": "denied", "hub.topic": sub.topic, "hub.reason": reason}
        return httpx.get(sub.callback, params=params, timeout=10)

    def wait_for_subscription(self, topic: str, *, requests: int = 1) -> Subscription:
        """The subscription to *topic*, once its *requests*-th request has been verified."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with self._lock:
                found = [s for s in self.subscriptions.values() if s.topic == topic]
            if found and found[0].requests >= requests and found[0].verification_status:
                return found[0]
            time.sleep(0.02)
        raise AssertionError(f"no verified subscription to {topic}; forms: {self.forms}")

    def publish(
        self,
        sub: Subscription,
        body: bytes,
        *,
        method: str = "sha256",
        secret: str | None = None,
        signature: str | None = None,
        content_type: str = "application/rss+xml",
    ) -> httpx.Response:
        """Push *body* to *sub*'s callback, signed with its secret (or *secret*) by *method*;
        *signature* replaces the header whole ('' sends none)."""
        headers: dict[str, str | bytes] = {
            "Content-Type": content_type,
            "Link": f'<{self.url}>; rel="hub"',
        }
        header = sign(secret if secret is not None else sub.secret, body, method)
        if signature is not None:
            header = signature
        if header:
            # As UTF-8 bytes: a forger's header need not be ASCII.
            headers["X-Hub-Signature"] = header.encode()
        return httpx.post(sub.callback, content=body, headers=headers, timeout=30)
