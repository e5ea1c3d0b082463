"""Gzip for the dashboard's large pages that carry no secret: the overview's charts, never a
page with a form.

Compression of a page that holds a secret (a CSRF token) next to text an attacker chooses
(headlines and snippets come from feeds) leaks the secret through the compressed size (BREACH),
so compression is not switched on for the whole app. The overview has no form and no token,
and it is the one page that is large: the 7-day range of 20 watchlists is about 280 KB of SVG,
a few KB gzipped. Starlette's own ``GZipMiddleware`` does the work; this only chooses the paths.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["COMPRESSED", "CompressPages"]

# Pages with no form and no token, large enough to be worth it.
COMPRESSED = ("/overview",)


class CompressPages:
    """Gzip the responses to *paths* (when the client accepts gzip); pass everything else."""

    def __init__(self, app: ASGIApp, *, paths: Iterable[str] = COMPRESSED) -> None:
        self.app = app
        self.paths = frozenset(paths)
        # Level 6: the 7-day overview compresses in about 1 ms, level 9 takes twice that
        # for 7% fewer bytes.
        self.gzip = GZipMiddleware(app, minimum_size=1000, compresslevel=6)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        if path in self.paths:
            await self.gzip(scope, receive, send)
        else:
            await self.app(scope, receive, send)
