"""Hostile publishers against the fetch and parse path (issue #19): each attack that got
through on a live instance, replayed on loopback, must now end quickly, small and explained.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import pytest

from monitor import db as storage
from monitor.config import Settings
from monitor.feeds import addresses
from monitor.feeds.fetcher import PrivateAddressError, fetch
from tests.conftest import make_settings


def quick_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"fetch_connect_timeout": 1.0, "fetch_read_timeout": 1.0}
    values.update(overrides)
    settings = make_settings(tmp_path, **values)
    storage.upgrade(settings)
    return settings


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
