"""A scriptable HTTP server on 127.0.0.1 for feed tests (real sockets, no mocks).

    with FeedServer() as server:
        server.set("/rss", body=b"<rss>...</rss>", etag='"v1"')
        url = server.url("/rss")
        ...
        assert server.count("/rss") == 1

Each path answers what :meth:`FeedServer.set` last said: status, body, headers, an ETag and a
Last-Modified (both honoured for conditional GET: a matching ``If-None-Match`` or an
``If-Modified-Since`` not older than ``last_modified`` gets a 304), gzip or deflate encoding,
and a delay before answering (to exceed a client's timeout). Requests are counted per path and
their headers kept, and the greatest number of requests in flight at once is recorded.
"""

from __future__ import annotations

import gzip
import threading
import time
import zlib
from collections import defaultdict
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from tests.support.httpserver import QuietHTTPServer

__all__ = ["FeedServer", "Route"]


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/rss+xml; charset=utf-8"
    etag: str | None = None
    last_modified: str | None = None
    encoding: str | None = None  # "gzip" or "deflate"
    delay: float = 0.0


class _Server(QuietHTTPServer):
    request_queue_size = 256
    owner: FeedServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; without this, Nagle's algorithm and the
    # client's delayed ACK add 40 ms to every response.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.owner._serve(self)

    def do_HEAD(self) -> None:
        self.server.owner._serve(self)


class FeedServer:
    """Start with :meth:`start` (or ``with``), stop with :meth:`stop`."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: dict[str, int] = defaultdict(int)
        self.request_headers: dict[str, list[dict[str, str]]] = defaultdict(list)
        # When each request to a path arrived (time.monotonic()), for pacing tests.
        self.request_times: dict[str, list[float]] = defaultdict(list)
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.keep_headers = True

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> FeedServer:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FeedServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start the server first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    # -- scripting ---------------------------------------------------------------------
    def set(self, path: str, body: bytes | str = b"", **options: Any) -> Route:
        """Answer *path* with *body* and the given :class:`Route` options from now on."""
        if isinstance(body, str):
            body = body.encode("utf-8")
        route = Route(body=body, **options)
        with self._lock:
            self.routes[path] = route
        return route

    def redirect(self, path: str, target: str, *, status: int = 301) -> Route:
        return self.set(path, status=status, headers={"Location": target}, content_type="")

    def count(self, path: str) -> int:
        with self._lock:
            return self.requests[path]

    def last_headers(self, path: str) -> dict[str, str]:
        with self._lock:
            return self.request_headers[path][-1]

    def reset_counts(self) -> None:
        with self._lock:
            self.requests.clear()
            self.request_headers.clear()
            self.request_times.clear()
            self.max_in_flight = 0

    # -- serving -----------------------------------------------------------------------
    def _serve(self, handler: _Handler) -> None:
        path = urlsplit(handler.path).path
        with self._lock:
            self.requests[path] += 1
            self.request_times[path].append(time.monotonic())
            if self.keep_headers:
                self.request_headers[path].append(
                    {k.lower(): v for k, v in handler.headers.items()}
                )
            route = self.routes.get(path)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if route is None:
                route = Route(body=b"not found", status=404, content_type="text/plain")
            if route.delay:
                time.sleep(route.delay)
            self._respond(handler, route)
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            with self._lock:
                self.in_flight -= 1

    def _respond(self, handler: _Handler, route: Route) -> None:
        status, body = route.status, route.body
        if status == 200 and _not_modified(handler, route):
            status, body = 304, b""
        headers = dict(route.headers)
        if route.etag:
            headers["ETag"] = route.etag
        if route.last_modified:
            headers["Last-Modified"] = route.last_modified
        if body and route.encoding == "gzip":
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        elif body and route.encoding == "deflate":
            body = zlib.compress(body)
            headers["Content-Encoding"] = "deflate"
        handler.send_response(status)
        if route.content_type and status != 304:
            handler.send_header("Content-Type", route.content_type)
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if handler.command != "HEAD" and body:
            handler.wfile.write(body)


def _not_modified(handler: _Handler, route: Route) -> bool:
    if_none_match = handler.headers.get("If-None-Match")
    if route.etag and if_none_match:
        return route.etag in [tag.strip() for tag in if_none_match.split(",")]
    since = handler.headers.get("If-Modified-Since")
    if route.last_modified and since:
        try:
            return parsedate_to_datetime(since) >= parsedate_to_datetime(route.last_modified)
        except (TypeError, ValueError):
            return False
    return False
