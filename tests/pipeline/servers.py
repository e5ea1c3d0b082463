"""Loopback stand-ins the pipeline tests drive: a feed publisher and Slack's Web API.

Both are real HTTP servers on 127.0.0.1 with knobs the fault tests need: a delay per request
(to widen the window a worker can be killed in), a count of concurrent requests per path (to
show that no feed is polled twice at once), and timestamps (to measure latency).
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from tests.support.httpserver import QuietHTTPServer


def _peer_gone(sock: socket.socket) -> bool:
    """True when the client closed its end (a killed worker) while we were 'working'."""
    readable, _, _ = select.select([sock], [], [], 0)
    if not readable:
        return False
    try:
        return sock.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


class _Base:
    def __init__(self) -> None:
        self.delay = 0.0
        self.lock = threading.Lock()
        self.server = QuietHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError


@dataclass
class Item:
    guid: str
    title: str
    body: str
    published: float = field(default_factory=time.time)


class FeedServer(_Base):
    """RSS feeds at ``/feeds/<name>.xml``; :meth:`publish` adds an item to one."""

    def __init__(self) -> None:
        self.items: dict[str, list[Item]] = defaultdict(list)
        self.requests: dict[str, int] = defaultdict(int)
        self.active: dict[str, int] = defaultdict(int)
        self.max_active: dict[str, int] = defaultdict(int)
        self.published_at: dict[str, float] = {}
        # When a poll first carried each item away: latency from here is the pipeline's own,
        # without the wait for the next poll.
        self.served_at: dict[str, float] = {}
        # A WebSub hub the feeds name (<atom:link rel="hub">), when set.
        self.hub: str | None = None
        self._rendered: dict[str, tuple[tuple[int, str | None], bytes]] = {}
        super().__init__()

    def url(self, name: str) -> str:
        return f"{self.base_url}/feeds/{name}.xml"

    def publish(self, name: str, title: str, body: str = "", *, guid: str | None = None) -> Item:
        with self.lock:
            item = Item(guid=guid or f"{name}-{len(self.items[name]) + 1}", title=title, body=body)
            self.items[name].append(item)
            self.published_at[item.guid] = item.published
        return item

    def render(self, name: str) -> bytes:
        # A publisher serves the same bytes until something changes; rendering 200 items
        # again for every poll would add the stand-in's own time to each fetch.
        with self.lock:
            key = (len(self.items[name]), self.hub)
            cached = self._rendered.get(name)
            if cached is not None and cached[0] == key:
                return cached[1]
            items = list(self.items[name])[-200:]
        body = self._render(name, items)
        with self.lock:
            self._rendered[name] = (key, body)
        return body

    def _render(self, name: str, items: list[Item]) -> bytes:
        entries = "".join(
            f"<item><title>{escape(i.title)}</title>"
            f"<link>https://news.example.org/{escape(i.guid)}</link>"
            f'<guid isPermaLink="false">{escape(i.guid)}</guid>'
            f"<description>{escape(i.body)}</description>"
            f"<pubDate>{formatdate(i.published, usegmt=True)}</pubDate></item>"
            for i in reversed(items)
        )
        hub = ""
        if self.hub:
            hub = (
                f'<atom:link xmlns:atom="http://www.w3.org/2005/Atom" rel="hub" '
                f'href="{escape(self.hub)}"/>'
            )
        return (
            '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>{escape(name)}</title><link>https://news.example.org/</link>{hub}"
            f"<description>test feed</description>{entries}</channel></rss>"
        ).encode()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                with server.lock:
                    server.requests[path] += 1
                    server.active[path] += 1
                    server.max_active[path] = max(server.max_active[path], server.active[path])
                try:
                    if server.delay:
                        time.sleep(server.delay)
                    name = path.removeprefix("/feeds/").removesuffix(".xml")
                    body = server.render(name)
                    self.send_response(200)
                    self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
                    self.send_header("Content-Length", str(len(body)))
                    self.send_header("Cache-Control", "no-cache")
                    self.end_headers()
                    with contextlib.suppress(OSError):
                        self.wfile.write(body)
                    served = time.time()
                    with server.lock:
                        for item in server.items[name]:
                            server.served_at.setdefault(item.guid, served)
                finally:
                    with server.lock:
                        server.active[path] -= 1

        return Handler


@dataclass
class Posted:
    channel: str
    text: str
    accepted_at: float
    raw: dict[str, Any]


class SlackStandIn(_Base):
    """``chat.postMessage`` at ``/api/``; a message counts as accepted only if the client is
    still there when we answer, which is when Slack itself would have posted it."""

    def __init__(self) -> None:
        self.posted: list[Posted] = []
        # A Slack error code to answer every post with (``channel_not_found``), or None.
        self.refuse: str | None = None
        self.abandoned = 0
        self.active = 0
        super().__init__()

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/"

    def texts(self) -> list[str]:
        with self.lock:
            return [p.text for p in self.posted]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                with server.lock:
                    server.active += 1
                try:
                    self._post()
                finally:
                    with server.lock:
                        server.active -= 1

            def _post(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode()
                if "json" in (self.headers.get("Content-Type") or ""):
                    args: dict[str, Any] = json.loads(raw or "{}")
                else:
                    args = {k: v[0] for k, v in parse_qs(raw).items()}
                if server.delay:
                    time.sleep(server.delay)
                if _peer_gone(self.connection):
                    with server.lock:
                        server.abandoned += 1
                    return
                if server.refuse:
                    self._answer({"ok": False, "error": server.refuse})
                    return
                blocks = args.get("blocks")
                text = str(args.get("text") or "")
                if blocks and not text:
                    text = blocks if isinstance(blocks, str) else json.dumps(blocks)
                ts = f"{time.time():.6f}"
                with server.lock:
                    server.posted.append(
                        Posted(str(args.get("channel", "")), text, time.time(), args)
                    )
                self._answer({"ok": True, "channel": "C0STANDIN", "ts": ts})

            def _answer(self, answer: dict[str, Any]) -> None:
                # Slack answers 200 with ok false for an API error.
                body = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                with contextlib.suppress(OSError):
                    self.wfile.write(body)

        return Handler
