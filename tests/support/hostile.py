"""Servers on loopback that misbehave on purpose, for the adversarial tests.

- :class:`TrickleServer` answers every request by sending bytes one at a time, slowly: a
  status line, headers or a body that never quite arrives.
- :class:`RecordingServer` answers every GET with a small feed (or a redirect) and records
  what it was sent, on a loopback address of the test's choosing (127.0.0.2 stands for a
  public one in the rebinding tests).
- :class:`SNIServer` records the server name a TLS client asks for, then drops the handshake
  (it has no certificate to offer).

Each stops, and lets its connections go, on :meth:`stop` (or at the end of a ``with``).
"""

from __future__ import annotations

import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler
from types import TracebackType
from typing import Any, Self

from tests.support.httpserver import QuietHTTPServer

__all__ = ["RecordingServer", "SNIServer", "TrickleServer"]

FEED = (
    b"<?xml version='1.0'?><rss version='2.0'><channel><title>Checked</title>"
    b"<item><guid>1</guid><title>Reached the checked address</title></item></channel></rss>"
)


class _Server:
    """A listening socket and the threads that serve it, stopped together."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._listener = socket.create_server((host, port))
        self._stopped = threading.Event()
        self._threads: list[threading.Thread] = []
        self._connections: list[socket.socket] = []
        self._lock = threading.Lock()

    @property
    def port(self) -> int:
        return int(self._listener.getsockname()[1])

    def start(self) -> Self:
        thread = threading.Thread(target=self._accept, daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stopped.set()
        self._listener.close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            connection.close()
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _accept(self) -> None:
        # A closed listening socket does not wake a thread blocked in accept(): poll instead.
        self._listener.settimeout(0.1)
        while not self._stopped.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            connection.settimeout(None)
            with self._lock:
                self._connections.append(connection)
            thread = threading.Thread(target=self._serve, args=(connection,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, connection: socket.socket) -> None:
        raise NotImplementedError


class TrickleServer(_Server):
    """Reads a request's head, sends *prefix* at once, then *trickle* one byte every
    *interval* seconds, then closes the connection."""

    def __init__(self, *, prefix: bytes = b"", trickle: bytes, interval: float) -> None:
        super().__init__()
        self.prefix, self.trickle, self.interval = prefix, trickle, interval
        self.requests = 0

    def url(self, path: str = "/feed") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _serve(self, connection: socket.socket) -> None:
        with connection:
            try:
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = connection.recv(65536)
                    if not chunk:
                        return
                    head += chunk
                self.requests += 1
                connection.sendall(self.prefix)
                for byte in self.trickle:
                    if self._stopped.wait(self.interval):
                        return
                    connection.sendall(bytes([byte]))
            except OSError:
                return


class RecordingServer:
    """Answers every GET with *body*, a small feed (or a redirect to *location*); keeps the
    path and headers of each request."""

    def __init__(
        self, host: str, port: int = 0, *, location: str | None = None, body: bytes = FEED
    ) -> None:
        self.requests: list[tuple[str, dict[str, str]]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                owner.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                if location:
                    self.send_response(302)
                    self.send_header("Location", location)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = QuietHTTPServer((host, port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class SNIServer(_Server):
    """Records the server name (SNI) of each TLS handshake, which then fails: no certificate."""

    def __init__(self, host: str) -> None:
        super().__init__(host)
        self.names: list[str | None] = []
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._context.sni_callback = self._record

    def _record(self, _socket: Any, name: str | None, _context: Any) -> None:
        self.names.append(name)

    def _serve(self, connection: socket.socket) -> None:
        with connection:
            try:
                self._context.wrap_socket(connection, server_side=True)
            except (OSError, ssl.SSLError):
                return
