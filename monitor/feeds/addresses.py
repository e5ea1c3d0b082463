"""Which network addresses a feed may be fetched from: public ones only, unless allowed.

A feed URL is user input, and so is every redirect and every article link: without this rule
one of them could reach the internal network (SSRF). An address is public when Python's
``ipaddress`` calls it global, it is not multicast, and every IPv4 address embedded in it is
public too. The embeddings matter because a router or the host itself turns them back into
IPv4 traffic, and ``ipaddress`` calls most of them global whatever they carry:

- IPv4-mapped ``::ffff:a.b.c.d`` and IPv4-translated ``::ffff:0:a.b.c.d`` (RFC 2765);
- IPv4-compatible ``::a.b.c.d`` (deprecated, still routed by some stacks);
- NAT64 ``64:ff9b::a.b.c.d`` (RFC 6052), which a NAT64 gateway sends to that IPv4 address;
- 6to4 ``2002:AABB:CCDD::/48`` (RFC 3056), IPv4 address in bits 16 to 48;
- Teredo ``2001::/32`` (RFC 4380): the server's IPv4 address and the client's, inverted
  (``ipaddress`` calls all of Teredo not global already; the check stays should that change).

Two ranges are refused whole: site-local ``fec0::/10`` (deprecated, but still private where it
is used) and local-use NAT64 ``64:ff9b:1::/48`` (RFC 8215: a network's own translator, with the
IPv4 address at a place only that network knows).
"""

from __future__ import annotations

import ipaddress
import socket

__all__ = ["Address", "embedded_ipv4", "is_public", "resolve"]

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")
_COMPATIBLE = ipaddress.IPv6Network("::/96")
_NEVER_PUBLIC = (
    ipaddress.IPv6Network("fec0::/10"),
    ipaddress.IPv6Network("64:ff9b:1::/48"),
)


def is_public(address: Address) -> bool:
    """Whether a feed may be fetched from *address* without ``MONITOR_ALLOW_PRIVATE_FEEDS``."""
    if not address.is_global or address.is_multicast:
        return False
    if isinstance(address, ipaddress.IPv6Address):
        if any(address in network for network in _NEVER_PUBLIC):
            return False
        return all(is_public(inner) for inner in embedded_ipv4(address))
    return True


def embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses that *address* carries, by the embeddings listed above."""
    if address.ipv4_mapped is not None:
        return [address.ipv4_mapped]
    if address.teredo is not None:
        return list(address.teredo)
    if address.sixtofour is not None:
        return [address.sixtofour]
    low = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in _NAT64 or address in _TRANSLATED:
        return [low]
    # :: and ::1 are the unspecified and loopback addresses, not IPv4-compatible ones;
    # ipaddress already calls them not global.
    if address in _COMPATIBLE and int(address) > 1:
        return [low]
    return []


def resolve(host: str, port: int) -> list[Address]:
    """*host*'s addresses (itself, if it is an address), in the resolver's order, once each."""
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    # A scope id (fe80::1%eth0) is not part of the address ipaddress reads.
    found = (ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos)
    return list(dict.fromkeys(found))
