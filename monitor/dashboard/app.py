"""The dashboard's FastAPI application, put together from its routers by :func:`create_app`.

The routes live in ``pages.py`` (HTML), ``api.py`` (JSON under ``/api``) and ``ops.py``
(``/healthz``, ``/metrics``); what they share is in ``deps.py``, and access control in
``security.py``. Pages are rendered on the server with autoescaping Jinja2; the scripts are
files of our own (``static/app.js``, live refresh; ``static/charts.js``, the overview's
tooltips and bucket links), so the CSP can forbid inline script. Everything from a feed is
escaped.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from monitor.config import Settings
from monitor.dashboard import actions, api, ops, pages, precision, slack, websub
from monitor.dashboard.compression import CompressPages
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
    app.add_middleware(CompressPages)  # the overview only: compression.py says why
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(pages.router)
    app.include_router(actions.router)
    app.include_router(precision.router)
    app.include_router(api.router)
    app.include_router(ops.router)
    app.include_router(websub.router)
    app.include_router(slack.router)  # POST /slack/interactions, signed by Slack
    # A browser gets an HTML page for a missing hit or page; /api keeps JSON errors.
    app.add_exception_handler(StarletteHTTPException, pages.html_errors)
    app.add_exception_handler(RequestValidationError, pages.html_errors)
    return app
