"""Access control and security headers for the dashboard, and the guard that applies them.

:class:`AccessGuard` is the middleware that checks every request and adds the headers to every
response. With neither a token nor users configured the dashboard is open, which is only
allowed on a loopback address (``monitor.dashboard.serve`` refuses otherwise: see
``check_exposure``). Tokens and passwords are compared in constant time, unknown user names
included, and never echoed into pages or logs; an empty password never logs in. A POST from
another origin is refused here, before any route runs (``csrf.cross_origin``); the routes
check the form's signed token (``csrf.valid``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import secrets
from typing import Any
from urllib.parse import urlencode

from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from monitor.config import Settings
from monitor.dashboard import csrf
from monitor.feeds.websub import CALLBACK_PREFIX

__all__ = [
    "CSP",
    "LINK_HOLDER",
    "OPEN",
    "SESSION_COOKIE",
    "SLACK_INTERACTIONS",
    "TOKEN_HOLDER",
    "AccessGuard",
    "auth_configured",
    "authorised_as",
    "is_authorised",
    "is_loopback",
    "local_path",
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
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Who a request is, when it is not a basic-auth user: see authorised_as.
OPEN = "open"
TOKEN_HOLDER = "token"  # noqa: S105 (a name for who is asking, not a secret)
# Authenticated by Slack's signature in its route (monitor.dashboard.slack), not here.
SLACK_INTERACTIONS = "/slack/interactions"
# The holder of an email's signed action link: that link is its own credential, for one
# action on one hit (monitor.dashboard.actions), and opens nothing else.
LINK_HOLDER = "link"
LINK_PATHS = "/act/"


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
    """The basic-auth users and their passwords. An entry without a password is dropped:
    Settings refuses one at start, and a settings object made another way must not let it in."""
    if settings.dashboard_users is None:
        return {}
    out = {}
    for pair in settings.dashboard_users.get_secret_value().split(","):
        name, sep, password = pair.strip().partition(":")
        if sep and name and password.strip():
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


def _digest(text: str) -> bytes:
    # Equal lengths for compare_digest, which returns early on unequal ones.
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


# What an unknown user's password is compared with, so that a wrong name costs what a wrong
# password costs.
_NOBODY = _digest(secrets.token_hex(32))


def _basic_user(settings: Settings, header: str) -> str | None:
    """The user a basic-auth header proves, or None.

    The same work whatever the name: every configured name is compared with the given one in
    constant time (no dictionary lookup, no early exit), and then exactly one password
    comparison is made, against the dummy digest when no name matched. Timing tells nothing
    about which names exist."""
    try:
        decoded = base64.b64decode(header, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    name, _, password = decoded.partition(":")
    given_name, given_password = _digest(name), _digest(password)
    user: str | None = None
    expected = _NOBODY
    for known, secret in users(settings).items():
        if hmac.compare_digest(given_name, _digest(known)):
            user, expected = known, _digest(secret)
    password_ok = hmac.compare_digest(given_password, expected)
    return user if user is not None and password_ok and password else None


def authorised_as(settings: Settings, request: Request) -> str | None:
    """Who the request is (``user:<name>``, ``token``, or ``open`` when no login is set up),
    or None when it proves nothing. CSRF tokens are bound to this."""
    if not auth_configured(settings):
        return OPEN
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and _token_ok(settings, value.strip()):
        return TOKEN_HOLDER
    if scheme.lower() == "basic":
        user = _basic_user(settings, value.strip())
        if user is not None:
            return f"user:{user}"
    if _token_ok(settings, request.cookies.get(SESSION_COOKIE)):
        return TOKEN_HOLDER
    return None


def is_authorised(settings: Settings, request: Request) -> bool:
    return authorised_as(settings, request) is not None


def local_path(path: str) -> str:
    """*path* as a redirect target that cannot leave this site.

    Browsers read ``//host`` and ``/\\host`` as another host, and an absolute-form request
    (``GET https://evil.example/``) hands the whole URL over as the path: anything that does
    not start with one '/' followed by something else than '/' or '\\' loses its leading
    slashes and backslashes. Starlette percent-encodes the rest (tabs and newlines included,
    which browsers would otherwise drop before reading the slashes)."""
    if not path.startswith("/"):
        return "/"
    return "/" + path.lstrip("/\\")


class AccessGuard(BaseHTTPMiddleware):
    """Let a request through only when it is authorised, and add the security headers to
    every response, refusals included.

    ``/healthz`` (for load balancers), ``/static/`` and the WebSub callback are open;
    ``POST /slack/interactions`` is too when a Slack signing secret is set, because its route
    checks Slack's signature. A ``?token=`` link logs in: the token moves into an HttpOnly
    cookie and the browser is sent to the same URL without it.
    """

    def __init__(self, app: Any, settings: Settings) -> None:
        super().__init__(app)
        self.settings = settings

    def _slack_signed(self, request: Request) -> bool:
        # Slack's interaction requests carry Slack's signature, which the route verifies;
        # they can carry neither a login nor a CSRF token. Only with a signing secret set.
        return (
            request.url.path == SLACK_INTERACTIONS
            and request.method == "POST"
            and self.settings.slack_signing_secret is not None
        )

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        path = request.url.path
        given = request.query_params.get("token")
        response: Response
        if given is not None and auth_configured(self.settings):
            # ?token= login: set an HttpOnly cookie and redirect, so the token leaves the URL.
            if _token_ok(self.settings, given):
                params = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
                target = local_path(path) + ("?" + urlencode(params) if params else "")
                response = RedirectResponse(target, status_code=303)
                response.set_cookie(SESSION_COOKIE, given, httponly=True, samesite="strict")
            else:
                response = JSONResponse({"detail": "invalid token"}, status_code=401)
        elif (
            path == "/healthz"
            or path.startswith(("/static/", CALLBACK_PREFIX))
            or self._slack_signed(request)
        ):
            # The WebSub callback answers hubs, which cannot log in: its unguessable token
            # and each push's signature guard it (monitor.dashboard.websub). Slack's
            # interactions carry Slack's signature, checked by their route.
            response = await call_next(request)
        elif (principal := self._principal(request)) is None:
            headers = {"WWW-Authenticate": 'Basic realm="monitor"'}
            if token(self.settings) and not users(self.settings):
                headers = {"WWW-Authenticate": 'Bearer realm="monitor"'}
            response = JSONResponse(
                {"detail": "authentication required"}, status_code=401, headers=headers
            )
        elif request.method not in SAFE_METHODS and (refusal := csrf.cross_origin(request)):
            response = JSONResponse({"detail": refusal}, status_code=403)
        else:
            request.state.principal = principal  # what csrf tokens are bound to
            response = await call_next(request)
        for name, value in security_headers().items():
            response.headers.setdefault(name, value)
        return response

    def _principal(self, request: Request) -> str | None:
        """Who the request is; on an email link's page, its holder when nobody signed in."""
        who = authorised_as(self.settings, request)
        if who is None and request.url.path.startswith(LINK_PATHS):
            return LINK_HOLDER
        return who
