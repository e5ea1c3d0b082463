"""Access control, CSRF and security headers for the dashboard.

With neither a token nor users configured the dashboard is open, which is only allowed on a
loopback address (the CLI refuses otherwise). Tokens are compared in constant time and never
echoed into pages or logs.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import secrets

from starlette.requests import Request

from monitor.config import Settings

__all__ = [
    "CSP",
    "CSRF_COOKIE",
    "SESSION_COOKIE",
    "auth_configured",
    "check_csrf",
    "is_authorised",
    "is_loopback",
    "security_headers",
    "token",
    "users",
]

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'; "
    "frame-ancestors 'none'"
)
SESSION_COOKIE = "monitor_session"
CSRF_COOKIE = "monitor_csrf"


def security_headers() -> dict[str, str]:
    return {
        "Content-Security-Policy": CSP,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "Cache-Control": "no-store",
    }


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def users(settings: Settings) -> dict[str, str]:
    if settings.dashboard_users is None:
        return {}
    out = {}
    for pair in settings.dashboard_users.get_secret_value().split(","):
        name, sep, password = pair.strip().partition(":")
        if sep and name:
            out[name] = password
    return out


def token(settings: Settings) -> str | None:
    """The configured token; an empty MONITOR_DASHBOARD_TOKEN counts as none."""
    if settings.dashboard_token is None:
        return None
    return settings.dashboard_token.get_secret_value().strip() or None


def auth_configured(settings: Settings) -> bool:
    return token(settings) is not None or bool(users(settings))


def _token_ok(settings: Settings, given: str | None) -> bool:
    expected = token(settings)
    if expected is None or not given:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def _basic_ok(settings: Settings, header: str) -> bool:
    try:
        decoded = base64.b64decode(header, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return False
    name, _, password = decoded.partition(":")
    known = users(settings)
    # Compare against something even for unknown names, so timing does not reveal them.
    expected = known.get(name, secrets.token_hex(16))
    return name in known and hmac.compare_digest(password.encode(), expected.encode())


def is_authorised(settings: Settings, request: Request) -> bool:
    if not auth_configured(settings):
        return True
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and _token_ok(settings, value.strip()):
        return True
    if scheme.lower() == "basic" and _basic_ok(settings, value.strip()):
        return True
    return _token_ok(settings, request.cookies.get(SESSION_COOKIE))


def check_csrf(request: Request, form_token: str | None) -> bool:
    """Double-submit: the form field must equal the cookie set when the page was rendered."""
    cookie = request.cookies.get(CSRF_COOKIE)
    return bool(cookie and form_token and hmac.compare_digest(cookie, form_token))
