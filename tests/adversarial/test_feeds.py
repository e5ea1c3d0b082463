"""Hostile publishers against the fetch and parse path (issue #19): each attack that got
through on a live instance, replayed on loopback, must now end quickly, small and explained.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from monitor import db as storage
from monitor.config import Settings
from monitor.feeds import addresses, network, poll_feed
from monitor.feeds.fetcher import FetchError, PrivateAddressError, fetch
from monitor.feeds.parser import parse_feed
from monitor.models import Feed
from tests.conftest import make_settings
from tests.feeds.conftest import NOW, add_feed
from tests.support.feedserver import FeedServer
from tests.support.hostile import RecordingServer, SNIServer, TrickleServer

HEAD = b"<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>T</title>"
TAIL = b"</channel></rss>"


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as feed_server:
        yield feed_server


def item(guid: str, title: str) -> bytes:
    return f"<item><guid>{guid}</guid><title>{title}</title></item>".encode()


def quick_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "fetch_connect_timeout": 1.0,
        "fetch_read_timeout": 1.0,
        "fetch_deadline": 2.0,
    }
    values.update(overrides)
    settings = make_settings(tmp_path, **values)
    storage.upgrade(settings)
    return settings


# -- 6. one deadline over the whole fetch ------------------------------------------------

HEADERS = b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nContent-Length: 2000\r\n"


@pytest.mark.parametrize(
    ("prefix", "trickle"),
    [
        (b"", b"HTTP/1.1 200 OK\r\nX-Padding: " + b"a" * 60 + b"\r\n\r\n"),
        (HEADERS, b"X-Padding: " + b"a" * 60 + b"\r\n\r\n"),
        (HEADERS + b"\r\n" + HEAD, b"<item>" * 80),
    ],
    ids=["status-line", "headers", "body"],
)
def test_it_gives_up_on_a_trickled_answer_at_the_deadline(
    tmp_path: Path, prefix: bytes, trickle: bytes
) -> None:
    # One byte every 0.3 s never trips the 1 s read timeout; only the 2 s deadline ends it.
    settings = quick_settings(tmp_path)
    with TrickleServer(prefix=prefix, trickle=trickle, interval=0.3) as slow:
        started = time.monotonic()
        with pytest.raises(FetchError) as caught:
            fetch(slow.url(), settings=settings)
        elapsed = time.monotonic() - started
    assert caught.value.message == "timed out: no complete answer within 2 s"
    assert elapsed < 2.0 + 1.0


def test_it_gives_up_on_slow_redirects_at_the_deadline(server: FeedServer, tmp_path: Path) -> None:
    # Six hops of 0.5 s each: every hop is within the read timeout, all of them are not.
    settings = quick_settings(tmp_path)
    for hop in range(6):
        target = server.url(f"/hop{hop + 1}") if hop < 5 else server.url("/rss")
        server.set(f"/hop{hop}", status=302, headers={"Location": target}, delay=0.5)
    server.set("/rss", HEAD + item("a", "Arrived") + TAIL)
    with storage.sessionmaker_for(settings)() as db:
        feed = add_feed(db, server.url("/hop0"))
        started = time.monotonic()
        outcome = poll_feed(db, feed.id, settings=settings, now=NOW)
        elapsed = time.monotonic() - started
        reloaded = db.get_one(Feed, feed.id, populate_existing=True)
    assert outcome.outcome == "error"
    assert outcome.error == "timed out: no complete answer within 2 s"
    assert reloaded.last_error == outcome.error and reloaded.error_streak == 1
    assert elapsed < 2.0 + 1.0
    assert server.count("/rss") == 0


# -- parsing: the body is never a file name -------------------------------------------


def test_it_never_lets_feedparser_open_a_body_as_a_file_name(tmp_path: Path) -> None:
    # Given bytes, feedparser opens them as a path when it can: a publisher whose feed is the
    # text '/var/lib/monitor/secret.xml' would have us read that file.
    secret = tmp_path / "secret.xml"
    secret.write_bytes(HEAD + item("s", "Local secret") + TAIL)
    parsed = parse_feed(str(secret).encode())
    assert not parsed.is_feed and parsed.entries == []


# -- 11. SSRF: addresses that carry a private IPv4 address, and DNS rebinding -------------


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("64:ff9b::7f00:1", False),  # NAT64 of 127.0.0.1
        ("64:ff9b::a00:1", False),  # NAT64 of 10.0.0.1
        ("64:ff9b::808:808", True),  # NAT64 of 8.8.8.8
        ("64:ff9b:1::a00:1", False),  # local-use NAT64
        ("2002:7f00:1::1", False),  # 6to4 of 127.0.0.1
        ("2002:a9fe:a9fe::1", False),  # 6to4 of 169.254.169.254 (cloud metadata)
        ("2002:808:808::1", True),  # 6to4 of 8.8.8.8
        ("::7f00:1", False),  # IPv4-compatible 127.0.0.1
        ("::a00:1", False),  # IPv4-compatible 10.0.0.1
        ("fec0::1", False),  # site-local
        ("::ffff:127.0.0.1", False),  # IPv4-mapped
        ("::ffff:0:7f00:1", False),  # IPv4-translated
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", False),  # Teredo
        ("2001:0:7f00:1::", False),  # Teredo, server 127.0.0.1
        ("2606:4700:4700::1111", True),
        ("8.8.8.8", True),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("ff02::1", False),
    ],
)
def test_it_judges_an_address_by_the_ipv4_address_it_carries(address: str, public: bool) -> None:
    assert addresses.is_public(ipaddress.ip_address(address)) is public


@pytest.mark.parametrize("host", ["[64:ff9b::7f00:1]", "[2002:7f00:1::1]", "[::7f00:1]"])
def test_it_refuses_a_feed_on_an_address_that_carries_a_private_one(
    tmp_path: Path, host: str
) -> None:
    settings = quick_settings(tmp_path, allow_private_feeds=False)
    with pytest.raises(PrivateAddressError) as caught:
        fetch(f"http://{host}/feed", settings=settings)
    assert "resolves to a private address" in caught.value.message
    assert "MONITOR_ALLOW_PRIVATE_FEEDS=1" in caught.value.message


@pytest.fixture
def rebinding(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """rebind.example answers 127.0.0.2 the first time it is asked and 127.0.0.1 after; for
    these tests 127.0.0.2 counts as public (there is no public address to reach offline)."""
    answers = iter(["127.0.0.2", "127.0.0.1", "127.0.0.1", "127.0.0.1"])
    asked: list[str] = []
    real_resolver = socket.getaddrinfo

    def resolver(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != "rebind.example":
            return real_resolver(host, port, *args, **kwargs)
        asked.append(next(answers))
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (asked[-1], port))]

    real_is_public = network.is_public
    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    monkeypatch.setattr(network, "is_public", lambda a: str(a) == "127.0.0.2" or real_is_public(a))
    return asked


def free_port_on_both() -> tuple[RecordingServer, RecordingServer]:
    for _ in range(20):
        checked = RecordingServer("127.0.0.2")
        try:
            internal = RecordingServer("127.0.0.1", checked.port, body=b"internal service")
            return checked, internal
        except OSError:
            continue
    pytest.fail("no port free on both 127.0.0.1 and 127.0.0.2")


def test_it_connects_to_the_address_it_checked_not_to_a_second_answer(
    tmp_path: Path, rebinding: list[str]
) -> None:
    settings = quick_settings(tmp_path, allow_private_feeds=False)
    checked, internal = free_port_on_both()
    with checked, internal:
        result = fetch(f"http://rebind.example:{checked.port}/feed", settings=settings)
    assert result.status == 200 and b"Reached the checked address" in result.body
    assert rebinding == ["127.0.0.2"]
    assert internal.requests == []
    (path, headers), *_ = checked.requests
    assert path == "/feed" and headers["host"] == f"rebind.example:{checked.port}"


def test_it_names_the_host_in_tls_when_connecting_to_the_checked_address(
    tmp_path: Path, rebinding: list[str]
) -> None:
    settings = quick_settings(tmp_path, allow_private_feeds=False)
    # The stand-in has no certificate to offer, so the handshake fails once it has the name.
    with SNIServer("127.0.0.2") as tls, pytest.raises(FetchError):
        fetch(f"https://rebind.example:{tls.port}/feed", settings=settings)
    assert tls.names == ["rebind.example"]
    assert rebinding == ["127.0.0.2"]


def test_it_checks_each_redirect_hop_as_it_connects(
    server: FeedServer, tmp_path: Path, rebinding: list[str]
) -> None:
    # A public feed that redirects to a name resolving to loopback: refused at that hop.
    settings = quick_settings(tmp_path, allow_private_feeds=False)
    server.set("/internal", HEAD + item("i", "Internal") + TAIL)
    internal = server.url("/internal").replace("127.0.0.1", "localhost")
    with (
        RecordingServer("127.0.0.2", location=internal) as public,
        pytest.raises(PrivateAddressError) as caught,
    ):
        fetch(f"http://rebind.example:{public.port}/feed", settings=settings)
    assert len(public.requests) == 1
    assert caught.value.message.startswith("localhost resolves to a private address")
    assert server.count("/internal") == 0
