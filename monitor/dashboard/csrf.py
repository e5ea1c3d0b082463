"""Cross-site request forgery defences for the dashboard's forms: where a POST comes from, and
a token signed by the server and bound to the session.

Two checks, both needed:

1. **Origin.** Browsers say where a request comes from: ``Sec-Fetch-Site`` (every current
   browser) must be ``same-origin``; without it, ``Origin`` must be this dashboard's own
   origin. ``same-site`` is refused too: a page on another port of the same host is the same
   *site* (cookies ignore ports), and that is exactly where the attack came from. A request
   with neither header is not from a browser page (curl, a script), and only the token
   decides. Checked for every unsafe method by the access guard, before any route runs.
2. **A signed token.** The plain double-submit cookie trusted any cookie whose value matched
   the form, and a page on another port of the same host can set (toss) cookies for this
   one. The token is now ``<nonce>.<signature>``, the signature an HMAC, under the server's
   secret (``signing.server_key``), of the nonce and of who the session is (the basic-auth
   user, the token holder, or the open loopback session). The form field must equal the
   cookie *and* carry a signature this server made for this session: a tossed cookie has no
   valid signature, and one user's token is refused for another.
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from monitor.dashboard.signing import sign

__all__ = ["COOKIE", "cross_origin", "issue", "set_cookie", "valid"]

COOKIE = "monitor_csrf"
_PURPOSE = "csrf"
_DEFAULT_PORTS = {"http": 80, "https": 443}


def cross_origin(request: Request) -> str | None:
    """Why a state-changing request must be refused as coming from elsewhere, or None."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        if site.strip().lower() == "same-origin":
            return None
        return f"cross-origin request refused (Sec-Fetch-Site: {site[:20]})"
    origin = request.headers.get("origin")
    if origin is not None and _origin(origin) != _origin(str(request.base_url)):
        return "cross-origin request refused (Origin is not this dashboard)"
    return None


def issue(request: Request, key: bytes, principal: str) -> str:
    """The request's token if this server signed it for *principal*, else a new one."""
    current = request.cookies.get(COOKIE, "")
    if _signed(current, key, principal):
        return current
    nonce = secrets.token_urlsafe(18)
    return f"{nonce}.{sign(key, _PURPOSE, principal, nonce)}"


def set_cookie(response: Response, request: Request, value: str) -> None:
    response.set_cookie(
        COOKIE,
        value,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def valid(request: Request, form_token: str | None, key: bytes, principal: str) -> bool:
    """The form's token equals the cookie and carries this server's signature for *principal*."""
    cookie = request.cookies.get(COOKIE, "")
    if not cookie or not form_token:
        return False
    same = hmac.compare_digest(cookie.encode(), form_token.encode())
    return same and _signed(cookie, key, principal)


def _signed(value: str, key: bytes, principal: str) -> bool:
    nonce, dot, signature = value.partition(".")
    if not dot or not nonce:
        return False
    expected = sign(key, _PURPOSE, principal, nonce)
    return hmac.compare_digest(signature.encode(), expected.encode())


def _origin(url: str) -> tuple[str, str, int | None] | None:
    """(scheme, host, port) with the default port filled in; None for ``null`` or garbage."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if not scheme or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port or _DEFAULT_PORTS.get(scheme)
