"""The dashboard's FastAPI application, put together from its routers by :func:`create_app`.

The routes live in ``pages.py`` (HTML), ``api.py`` (JSON under ``/api``) and ``ops.py``
(``/healthz``, ``/metrics``); what they share is in ``deps.py``, and access control in
``security.py``. Pages are rendered on the server with autoescaping Jinja2; the only script is
``static/app.js`` (live refresh), so the CSP can forbid inline script. Everything from a feed
is escaped.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from monitor.config import Settings
from monitor.dashboard import api, ops, pages
from monitor.dashboard.deps import Dashboard
from monitor.dashboard.security import AccessGuard

__all__ = ["create_app"]

STATIC = Path(__file__).parent / "static"


def create_app(settings: Settings) -> FastAPI:
    """The dashboard for *settings*: pages, JSON API, ops endpoints and static files, behind
    the access guard."""
    app = FastAPI(title="monitor dashboard", docs_url=None, redoc_url=None)
    app.state.dashboard = Dashboard.for_settings(settings)  # what deps.get_dashboard returns
    app.add_middleware(AccessGuard, settings=settings)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(pages.router)
    app.include_router(api.router)
    app.include_router(ops.router)
    app.add_exception_handler(RequestValidationError, _bad_request)
    return app


async def _bad_request(request: Request, exc: Exception) -> JSONResponse:
    """A parameter the routes cannot take, as a 400 naming it in one line (FastAPI's default
    is a 422 with pydantic's list, which echoes the whole input: 50,000 characters of it)."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    first = errors[0] if errors else {}
    name = str((first.get("loc") or ("", "request"))[-1])
    message = str(first.get("msg") or "invalid request")
    return JSONResponse({"detail": f"{name}: {message}"}, status_code=400)
