"""The ops dashboard and its JSON API: recent hits, watchlists, feed health, deliveries.

Pages are rendered on the server with autoescaping Jinja2; the only script is ``static/app.js``
(live refresh), so the CSP can forbid inline script. Everything from a feed is escaped.
"""

from __future__ import annotations

import csv
import io
import json
import secrets
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

from fastapi import Depends, FastAPI, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint

from monitor import db as storage
from monitor.config import Settings
from monitor.dashboard import queries, security
from monitor.errors import MonitorError

__all__ = ["create_app", "highlight", "sparkline"]

HERE = Path(__file__).parent
T = TypeVar("T")


def highlight(text: str, spans: list[Any]) -> Markup:
    """Escape ``text`` and wrap the [start, end) spans in <mark>; bad spans are ignored."""
    out: list[str] = []
    pos = 0
    for span in sorted(s for s in spans if isinstance(s, list | tuple) and len(s) == 2):
        start, end = int(span[0]), int(span[1])
        if start < pos or end <= start or end > len(text):
            continue
        out.append(str(escape(text[pos:start])))
        out.append(f"<mark>{escape(text[start:end])}</mark>")
        pos = end
    out.append(str(escape(text[pos:])))
    return Markup("".join(out))  # noqa: S704 (every piece was escaped above)


def sparkline(counts: list[int], width: int = 150, height: int = 28) -> Markup:
    """Hits per day as an inline SVG bar chart: numbers only, no feed text, no script."""
    top = max(counts) or 1
    bar = width / len(counts)
    rects = []
    for i, n in enumerate(counts):
        h = round(n / top * (height - 2), 1) if n else 0
        rects.append(
            f'<rect x="{i * bar:.1f}" y="{height - h:.1f}" width="{bar - 1:.1f}" height="{h}">'
            f"<title>{n}</title></rect>"
        )
    return Markup(  # noqa: S704 (numbers only)
        f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="hits per day, 30 days">{"".join(rects)}</svg>'
    )


def _csv_cell(value: Any) -> str:
    text = "" if value is None else str(value)
    # A cell starting with = + - @ (or a tab/CR) is a formula to spreadsheet programs.
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


def _parse_time(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise HTTPException(400, f"{name}: expected an ISO date or time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def broker_problem(settings: Settings) -> str | None:
    """None if the broker answers, else one sentence without credentials."""
    url = settings.broker_url
    if settings.broker_is_redis:
        import redis

        try:
            client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
            client.ping()
            client.close()
        except Exception as exc:
            return f"redis broker unreachable ({type(exc).__name__})"
        return None
    path = url.split("///", 1)[-1] if url.startswith("sqla+sqlite") else None
    if path is None:
        return None
    try:
        connection = sqlite3.connect(f"file:{path}?mode=rwc", uri=True, timeout=1)
        connection.execute("SELECT 1")
        connection.close()
    except sqlite3.Error as exc:
        return f"sqlite broker unusable ({type(exc).__name__})"
    return None


class _Guard(BaseHTTPMiddleware):
    def __init__(self, app: Any, settings: Settings) -> None:
        super().__init__(app)
        self.settings = settings

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        path = request.url.path
        token = request.query_params.get("token")
        response: Response
        if token is not None and security.auth_configured(self.settings):
            # ?token= login: set an HttpOnly cookie and redirect, so the token leaves the URL.
            if security._token_ok(self.settings, token):
                params = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
                target = path + ("?" + urlencode(params) if params else "")
                response = RedirectResponse(target, status_code=303)
                response.set_cookie(
                    security.SESSION_COOKIE, token, httponly=True, samesite="strict"
                )
            else:
                response = JSONResponse({"detail": "invalid token"}, status_code=401)
        elif path == "/healthz" or path.startswith("/static/"):
            response = await call_next(request)
        elif not security.is_authorised(self.settings, request):
            headers = {"WWW-Authenticate": 'Basic realm="monitor"'}
            if security.token(self.settings) and not security.users(self.settings):
                headers = {"WWW-Authenticate": 'Bearer realm="monitor"'}
            response = JSONResponse(
                {"detail": "authentication required"}, status_code=401, headers=headers
            )
        else:
            response = await call_next(request)
        for name, value in security.security_headers().items():
            response.headers.setdefault(name, value)
        return response


@dataclass(frozen=True)
class _Filters:
    """The hit filter of one request, and its non-empty parameters as they came (for links)."""

    hits: queries.HitFilter
    params: dict[str, str]


def _hit_filters(
    watchlist: str | None = Query(None, description="watchlist id"),
    feed: str | None = Query(None, description="source feed id"),
    range_: str | None = Query(None, alias="range", description="1h, 24h, 7d or custom"),
    since: str | None = Query(None, alias="from", description="custom range start (ISO 8601)"),
    until: str | None = Query(None, alias="to", description="custom range end (ISO 8601)"),
    q: str | None = Query(None, description="text in the headline or snippet"),
) -> _Filters:
    if range_ and range_ not in queries.RANGES and range_ != "custom":
        raise HTTPException(400, "range: expected 1h, 24h, 7d or custom")
    # Empty form fields arrive as '' and mean "any".
    # isdigit() alone admits '²' (int() refuses it), and a number past 64 bits overflows the
    # database's integer (past 4,300 digits int() refuses it too): all were a 500. Eighteen
    # digits always fit.
    if feed and not (feed.isascii() and feed.isdigit() and len(feed) <= 18):
        raise HTTPException(400, "feed: expected a feed id")
    given = {"watchlist": watchlist, "feed": feed, "range": range_, "from": since, "to": until}
    return _Filters(
        queries.HitFilter(
            watchlist=watchlist or None,
            feed=int(feed) if feed else None,
            range=range_ or None,
            since=_parse_time(since, "from"),
            until=_parse_time(until, "to"),
            q=(q or "").strip() or None,
        ),
        {k: v for k, v in {**given, "q": q}.items() if v},
    )


def _csv(rows: list[dict[str, Any]], columns: list[str]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    writer.writerows([_csv_cell(row[c]) for c in columns] for row in rows)
    return buffer.getvalue()


def create_app(settings: Settings) -> FastAPI:
    app = FastAPI(title="monitor dashboard", docs_url=None, redoc_url=None)
    app.add_middleware(_Guard, settings=settings)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.filters["highlight"] = lambda row: highlight(
        row["snippet"], row.get("highlights") or []
    )
    templates.env.filters["sparkline"] = sparkline
    templates.env.filters["short"] = lambda v: (v or "")[:16].replace("T", " ") if v else "—"
    factory = storage.sessionmaker_for(settings)

    def read(query: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """One session per request (house rule 7); a cursor we did not make is a 400."""
        with factory() as session:
            try:
                return query(session, *args, **kwargs)
            except ValueError:
                raise HTTPException(400, "invalid cursor") from None

    def page(request: Request, name: str, context: dict[str, Any]) -> HTMLResponse:
        csrf = request.cookies.get(security.CSRF_COOKIE) or secrets.token_urlsafe(24)
        context = {"writes": settings.dashboard_writes, "csrf": csrf, **context}
        response = templates.TemplateResponse(request, name, context)
        response.set_cookie(security.CSRF_COOKIE, csrf, httponly=True, samesite="strict")
        return response

    def one_hit(hit_id: int) -> dict[str, Any]:
        row = read(queries.hit_detail, hit_id)
        if row is None:
            raise HTTPException(404, "no such hit")
        return row

    filters = Depends(_hit_filters)
    next_page = Query(None, description="next page: the 'next' of the previous page")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def home(request: Request, f: _Filters = filters, cursor: str | None = None) -> HTMLResponse:
        rows, more = read(queries.recent_hits, f.hits, limit=50, cursor=cursor)
        watchlists, feeds = read(queries.filter_choices)
        return page(
            request,
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
            },
        )

    @app.get("/hits/{hit_id}", response_class=HTMLResponse, include_in_schema=False)
    def hit_page(request: Request, hit_id: int) -> HTMLResponse:
        return page(request, "hit.html", {"hit": one_hit(hit_id)})

    @app.get("/watchlists", response_class=HTMLResponse, include_in_schema=False)
    def watchlists_page(
        request: Request,
        after: str | None = None,
        q: str | None = None,
        limit: int = Query(100, ge=1, le=1000),
    ) -> HTMLResponse:
        rows, more = read(queries.watchlist_stats, limit=limit, after=after, search=q)
        context = {"rows": rows, "next": more, "paged": after is not None, "q": q or ""}
        return page(request, "watchlists.html", context)

    @app.get("/feeds", response_class=HTMLResponse, include_in_schema=False)
    def feeds_page(request: Request, sort: str = "status") -> HTMLResponse:
        return page(request, "feeds.html", {"rows": read(queries.feed_health, sort), "sort": sort})

    @app.get("/deliveries", response_class=HTMLResponse, include_in_schema=False)
    def deliveries_page(
        request: Request, done: int | None = None, cursor: str | None = None
    ) -> HTMLResponse:
        rows, more = read(queries.deliveries, limit=100, cursor=cursor)
        context = {"rows": rows, "done": done, "next": more, "paged": cursor is not None}
        return page(request, "deliveries.html", context)

    @app.post("/deliveries/{delivery_id}/retry", include_in_schema=False)
    def retry(request: Request, delivery_id: int, csrf: str = Form("")) -> Response:
        if not settings.dashboard_writes:
            raise HTTPException(403, "the dashboard is read-only (MONITOR_DASHBOARD_WRITES)")
        if not security.check_csrf(request, csrf):
            raise HTTPException(403, "CSRF check failed: reload the page and try again")
        from monitor.alerts.sweep import retry_deliveries

        with factory() as session:
            count = retry_deliveries(session, ids=[delivery_id])
            session.commit()
        return RedirectResponse(f"/deliveries?done={count}", status_code=303)

    # -- JSON API --------------------------------------------------------------------
    @app.get("/api/hits")
    def api_hits(
        f: _Filters = filters,
        cursor: str | None = next_page,
        after: str | None = Query(None, description="only hits newer than this cursor"),
        limit: int = Query(50, ge=1, le=500),
    ) -> dict[str, Any]:
        rows, more = read(queries.recent_hits, f.hits, limit=limit, cursor=cursor, after=after)
        return {"items": rows, "next": more}

    @app.get("/api/hits/export")
    def api_export(
        f: _Filters = filters,
        format: str = Query("csv", pattern="^(csv|json)$"),
        max_rows: int = Query(10000, ge=1, le=100000),
    ) -> Response:
        rows: list[dict[str, Any]] = []
        cursor = None
        while len(rows) < max_rows:
            limit = min(1000, max_rows - len(rows))
            batch, cursor = read(queries.recent_hits, f.hits, limit=limit, cursor=cursor)
            rows.extend(batch)
            if cursor is None:
                break
        if format == "json":
            body, media_type = json.dumps(rows), "application/json"
        else:
            columns = ["id", "created_at", "watchlist", "title", "url", "source", "snippet"]
            body = _csv(rows, [*columns, "delivery_status"])
            media_type = "text/csv; charset=utf-8"
        disposition = f'attachment; filename="hits.{format}"'
        return Response(body, media_type=media_type, headers={"Content-Disposition": disposition})

    @app.get("/api/hits/{hit_id}")
    def api_hit(hit_id: int) -> dict[str, Any]:
        return one_hit(hit_id)

    @app.get("/api/watchlists")
    def api_watchlists(
        after: str | None = Query(None, description="the last id of the previous page"),
        q: str | None = Query(None, description="ids and names containing this text"),
        limit: int = Query(100, ge=1, le=1000),
    ) -> dict[str, Any]:
        rows, more = read(queries.watchlist_stats, limit=limit, after=after, search=q)
        return {"items": rows, "next": more}

    @app.get("/api/feeds")
    def api_feeds(
        sort: str = "status",
        offset: int = Query(0, ge=0, description="the 'next' of the previous page"),
        limit: int = Query(1000, ge=1, le=5000),
    ) -> dict[str, Any]:
        # Sorted by health, which is computed per feed: paged by position in that order.
        rows = read(queries.feed_health, sort)
        more = offset + limit if len(rows) > offset + limit else None
        return {"items": rows[offset : offset + limit], "next": more}

    @app.get("/api/deliveries")
    def api_deliveries(
        watchlist: str | None = Query(None, description="watchlist id"),
        cursor: str | None = next_page,
        limit: int = Query(100, ge=1, le=500),
    ) -> dict[str, Any]:
        rows, more = read(queries.deliveries, watchlist=watchlist, limit=limit, cursor=cursor)
        return {"items": rows, "next": more}

    @app.get("/healthz")
    def healthz() -> JSONResponse:
        problems: dict[str, str] = {}
        try:
            storage.check_database(settings)
        except MonitorError:
            problems["database"] = "unreachable"
        broker = broker_problem(settings)
        if broker:
            problems["broker"] = broker
        if problems:
            return JSONResponse({"status": "unhealthy", "failed": problems}, status_code=503)
        return JSONResponse({"status": "ok"})

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        from monitor.metrics import CONTENT_TYPE_LATEST, exposition

        return Response(exposition(), media_type=CONTENT_TYPE_LATEST)

    return app
