"""Whether a WebSub push carries the signature of our secret (``X-Hub-Signature``).

The hub signs the body of each push with the ``hub.secret`` we gave it: the header reads
``method=hexdigest``, an HMAC of the exact bytes received (WebSub, section 8). sha1, sha256,
sha384 and sha512 are taken; anything else, a missing header, or a digest that does not
match is a bad signature. The comparison is :func:`hmac.compare_digest`, whose time does not
depend on how much of the digest matched, so a forger cannot find it byte by byte.
"""

from __future__ import annotations

import hmac

__all__ = ["METHODS", "sign", "signature_valid"]

METHODS = frozenset({"sha1", "sha256", "sha384", "sha512"})


def signature_valid(secret: str, body: bytes, header: str | None) -> bool:
    """True if *header* is an HMAC of *body* under *secret* by one of :data:`METHODS`."""
    if not header:
        return False
    method, _, given = header.strip().partition("=")
    method = method.strip().lower()
    if method not in METHODS or not given:
        return False
    expected = hmac.new(secret.encode(), body, method).hexdigest()
    # As bytes: compare_digest refuses a str with characters outside ASCII, which a forged
    # header may well carry.
    return hmac.compare_digest(expected.encode(), given.strip().lower().encode())


def sign(secret: str, body: bytes, method: str = "sha256") -> str:
    """The header value a hub sends for *body* (for the hub stand-in in the tests)."""
    return f"{method}={hmac.new(secret.encode(), body, method).hexdigest()}"
