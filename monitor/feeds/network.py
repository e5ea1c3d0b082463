"""The connections the fetcher makes: to checked addresses only, within one deadline.

Two rules that httpx cannot keep by itself are kept here, in an httpcore network backend (the
layer under httpx that opens the sockets):

- **Pinned addresses.** Checking a host name and then letting httpx resolve it again is open
  to DNS rebinding: the name answers a public address to the check and 127.0.0.1 to the
  connection. So the name is resolved once, every address it gives is checked
  (:mod:`monitor.feeds.addresses`), and the socket connects to those very addresses, in the
  resolver's order. The request still names the host: httpx sends ``Host`` from the URL, and
  TLS is given the host name for SNI and for the certificate check, whatever address the
  socket reached. Each connection is checked when it is opened, so every redirect hop and
  every full-text page is too.
- **One deadline.** Connect and read timeouts bound each wait on the network, so a server
  that sends a byte every few seconds never trips them (a status line trickled that way held
  a worker for over 300 s). :func:`deadline` sets, for the fetch running in this thread, the
  moment by which it must be done; every connect, TLS handshake, read and write is given at
  most the time left, and a wait that would go past it fails as a timeout. (Python's TLS
  socket counts its timeout over the whole handshake, not per byte, so a trickled handshake
  is bounded too.) Name resolution is the one wait left to the system resolver's own timeout:
  ``getaddrinfo`` cannot be interrupted.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import httpcore
import httpx

from monitor.feeds.addresses import Address, is_public, resolve

__all__ = [
    "RefusedAddress",
    "checked_addresses",
    "deadline",
    "expired",
    "guarded_transport",
    "time_left",
]

# The deadline of the fetch running in this thread (each thread has its own context), as a
# time.monotonic() value; None outside a fetch.
_deadline: ContextVar[float | None] = ContextVar("monitor_fetch_deadline", default=None)


class RefusedAddress(Exception):
    """The host is, or resolves to, an address that is not public."""


@contextmanager
def deadline(seconds: float) -> Iterator[float]:
    """Every network wait in the block ends by *seconds* from now; yields that moment."""
    at = time.monotonic() + seconds
    token = _deadline.set(at)
    try:
        yield at
    finally:
        _deadline.reset(token)


def expired() -> bool:
    """Whether the deadline of the fetch running in this thread has passed (or as good as: a
    socket timeout set to the time left may fire a few milliseconds before it)."""
    at = _deadline.get()
    return at is not None and time.monotonic() >= at - _SLACK


_SLACK = 0.05


def time_left(timeout: float | None, expired: type[Exception]) -> float | None:
    """*timeout*, shortened to the time left before the deadline; *expired* once it is past."""
    at = _deadline.get()
    if at is None:
        return timeout
    left = at - time.monotonic()
    if left <= 0:
        raise expired("the fetch deadline passed")
    return left if timeout is None else min(timeout, left)


def checked_addresses(host: str, port: int) -> list[Address]:
    """*host*'s addresses, resolved once; :class:`RefusedAddress` if any is not public."""
    try:
        addresses = resolve(host, port)
    except (OSError, UnicodeError) as exc:
        raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from None
    for address in addresses:
        if not is_public(address):
            raise RefusedAddress(
                f"{host} resolves to a private address ({address}); "
                "set MONITOR_ALLOW_PRIVATE_FEEDS=1 to allow it"
            )
    return addresses


def guarded_transport(*, allow_private: bool, limits: httpx.Limits) -> httpx.HTTPTransport:
    """An httpx transport whose connections keep both rules above."""
    transport = httpx.HTTPTransport(limits=limits, trust_env=False)
    # httpx has no argument for httpcore's network backend, so its pool (which has opened
    # nothing yet) is swapped for the same pool built with ours.
    transport._pool = httpcore.ConnectionPool(
        ssl_context=httpx.create_ssl_context(trust_env=False),
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=_GuardedBackend(allow_private=allow_private),
    )
    return transport


class _GuardedBackend(httpcore.NetworkBackend):
    def __init__(self, *, allow_private: bool) -> None:
        self._allow_private = allow_private
        self._sockets = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        # With private addresses allowed nothing is checked, so the name may be resolved by
        # the socket layer as usual.
        targets = [host] if self._allow_private else [str(a) for a in checked_addresses(host, port)]
        failure: Exception = httpcore.ConnectError(f"no address to connect to for {host}")
        for target in targets:
            try:
                stream = self._sockets.connect_tcp(
                    target,
                    port,
                    timeout=time_left(timeout, httpcore.ConnectTimeout),
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
                continue
            return _DeadlineStream(stream)
        raise failure

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("feeds are fetched over TCP only")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every wait ends by the deadline of the fetch using it."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, time_left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, time_left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        timeout = time_left(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)
