"""The dashboard's HTML pages: recent hits, one hit, watchlists, feeds and deliveries.

Each page is rendered on the server from ``templates/`` and carries the signed CSRF token
(``csrf.py``) that the one form (a delivery's Retry button) sends back. The pages are not part
of the OpenAPI document; the JSON API in ``api.py`` is.

An error a browser meets (a missing hit, a mistyped address) is an HTML page too
(:func:`html_errors`); the API under ``/api`` and any client that does not ask for HTML keep
JSON errors (one line naming the parameter, for a request FastAPI could not read).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from monitor.alerts.sweep import retry_deliveries
from monitor.dashboard import csrf, overview, queries
from monitor.dashboard.actions import ACTIONS, form_nonce
from monitor.dashboard.deps import (
    SEARCH_MAX_CHARS,
    Dashboard,
    DashboardDep,
    FiltersDep,
    bad_request,
    hit_or_404,
    principal,
    row_id_or_404,
    templates,
)
from monitor.dashboard.precision import PERIOD_DAYS
from monitor.models import utcnow
from monitor.precision import precision_by_watchlist
from monitor.triage.history import hit_triage

__all__ = ["html_errors", "router"]

router = APIRouter(include_in_schema=False)


def _page(
    request: Request, dashboard: Dashboard, name: str, context: dict[str, Any]
) -> HTMLResponse:
    """Template *name* rendered with *context*, with the request's CSRF token if this server
    signed it for this session, else a new one."""
    token = csrf.issue(request, dashboard.key, principal(request))
    context = {"writes": dashboard.settings.dashboard_writes, "csrf": token, **context}
    response = templates.TemplateResponse(request, name, context)
    csrf.set_cookie(response, request, token)
    return response


@router.get("/", response_class=HTMLResponse)
def home(
    request: Request, dashboard: DashboardDep, f: FiltersDep, cursor: str | None = None
) -> HTMLResponse:
    rows, more = dashboard.read(queries.recent_hits, f.hits, limit=50, cursor=cursor)
    watchlists, feeds = dashboard.read(queries.filter_choices)
    return _page(
        request,
        dashboard,
        "hits.html",
        {
            "rows": rows,
            "f": f.hits,
            "query": urlencode(f.params),
            "next_query": urlencode({**f.params, "cursor": more}) if more else None,
            "watchlists": watchlists,
            "feeds": feeds,
            "since": f.params.get("from", ""),
            "until": f.params.get("to", ""),
            "first_cursor": rows[0]["cursor"] if rows else "",
            "paged": cursor is not None,
            # New hits come in at the top of the newest-first order only.
            "live": cursor is None and f.hits.sort == "time",
        },
    )


@router.get("/hits/{hit_id}", response_class=HTMLResponse)
def hit_page(
    request: Request, dashboard: DashboardDep, hit_id: int, act: int | None = None
) -> HTMLResponse:
    hit = hit_or_404(dashboard, hit_id)
    query = dashboard.read(queries.marked_hit_query, hit_id)
    # Its label, mute, snoozes and acts, and the action buttons (monitor.dashboard.actions).
    triage = dashboard.read(hit_triage, hit_id, now=utcnow())
    context: dict[str, Any] = {"hit": hit, "query": query, "triage": triage, "act": act}
    context |= {"actions": ACTIONS, "nonce": form_nonce()}
    return _page(request, dashboard, "hit.html", context)


@router.get("/watchlists", response_class=HTMLResponse)
def watchlists_page(
    request: Request,
    dashboard: DashboardDep,
    after: str | None = None,
    q: str | None = Query(None, max_length=SEARCH_MAX_CHARS),
    limit: int = Query(100, ge=1, le=1000),
) -> HTMLResponse:
    rows, more = dashboard.read(queries.watchlist_stats, limit=limit, after=after, search=q)
    context: dict[str, Any] = {"rows": rows, "next": more, "paged": after is not None}
    context["q"] = q or ""
    # What people said of each watchlist's hits (monitor.precision), over the same period.
    since = utcnow() - timedelta(days=PERIOD_DAYS)
    counted = dashboard.read(
        precision_by_watchlist, since=since, watchlist_ids=[r["id"] for r in rows]
    )
    context["precision"] = {row.watchlist_id: row for row in counted}
    return _page(request, dashboard, "watchlists.html", context)


@router.get("/feeds", response_class=HTMLResponse)
def feeds_page(request: Request, dashboard: DashboardDep, sort: str = "status") -> HTMLResponse:
    context = {
        "rows": dashboard.read(queries.feed_health, sort),
        "sort": sort,
        "problems": dashboard.read(queries.feeds_file_problems),
    }
    return _page(request, dashboard, "feeds.html", context)


@router.get("/overview", response_class=HTMLResponse)
def overview_page(
    request: Request,
    dashboard: DashboardDep,
    range_: str = Query("7d", alias="range"),
    bucket: str | None = Query(None, description="hour or day"),
) -> HTMLResponse:
    if range_ not in overview.RANGES:
        raise HTTPException(400, "range: expected 24h, 7d, 30d or 90d")
    data = dashboard.read(overview.overview, range_=range_, bucket=bucket)
    context = {"data": data, "charts": overview.charts(data), "ranges": list(overview.RANGES)}
    return _page(request, dashboard, "overview.html", context)


@router.get("/deliveries", response_class=HTMLResponse)
def deliveries_page(
    request: Request,
    dashboard: DashboardDep,
    done: int | None = None,
    cursor: str | None = None,
) -> HTMLResponse:
    rows, more = dashboard.read(queries.deliveries, limit=100, cursor=cursor)
    context = {"rows": rows, "done": done, "next": more, "paged": cursor is not None}
    return _page(request, dashboard, "deliveries.html", context)


@router.post("/deliveries/{delivery_id}/retry")
def retry(
    request: Request, dashboard: DashboardDep, delivery_id: int, token: str = Form("", alias="csrf")
) -> Response:
    if not dashboard.settings.dashboard_writes:
        raise HTTPException(403, "the dashboard is read-only (MONITOR_DASHBOARD_WRITES)")
    if not csrf.valid(request, token, dashboard.key, principal(request)):
        raise HTTPException(403, "CSRF check failed: reload the page and try again")
    row_id_or_404(delivery_id, "delivery")
    with dashboard.sessions() as session:
        count = retry_deliveries(session, ids=[delivery_id])
        session.commit()
    return RedirectResponse(f"/deliveries?done={count}", status_code=303)


def _wants_html(request: Request) -> bool:
    """A browser asking for a page: not the JSON API, and HTML accepted."""
    path = request.url.path
    if path == "/api" or path.startswith("/api/"):
        return False
    return "text/html" in request.headers.get("accept", "")


async def html_errors(request: Request, exc: Exception) -> Response:
    """An HTTP error (or a request FastAPI could not read) as an HTML page for a browser,
    else as FastAPI's JSON. A path parameter that is not an id (``/hits/abc``) names no
    page: a 404, like an id that names no hit."""
    if isinstance(exc, RequestValidationError):
        if not _wants_html(request):
            return bad_request(exc)
        in_path = any(error.get("loc", ("",))[0] == "path" for error in exc.errors())
        status, message = (404, "Not Found") if in_path else (400, "Bad request")
        headers = None
    elif isinstance(exc, StarletteHTTPException):
        if not _wants_html(request):
            return await http_exception_handler(request, exc)
        status, message, headers = exc.status_code, str(exc.detail), exc.headers
    else:  # registered for those two classes only
        raise exc
    if status == 404 and message == "Not Found":
        message = "There is no page at this address."
    context = {"status": status, "message": message, "writes": False}
    return templates.TemplateResponse(
        request, "error.html", context, status_code=status, headers=headers
    )
