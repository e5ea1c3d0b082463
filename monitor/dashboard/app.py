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
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape
from sqlalchemy.orm import Session
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint

from monitor import db as storage
from monitor.config import Settings
from monitor.dashboard import queries, security
from monitor.errors import MonitorError

__all__ = ["create_app", "highlight", "sparkline"]

HERE = Path(__file__).parent


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
        from datetime import UTC

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

    def session() -> Iterator[Session]:
        with factory() as s:
            yield s

    def open_session() -> Session:
        return factory()

    def page(request: Request, name: str, context: dict[str, Any]) -> HTMLResponse:
        csrf = request.cookies.get(security.CSRF_COOKIE) or secrets.token_urlsafe(24)
        context = {"writes": settings.dashboard_writes, "csrf": csrf, **context}
        response = templates.TemplateResponse(request, name, context)
        response.set_cookie(security.CSRF_COOKIE, csrf, httponly=True, samesite="strict")
        return response

    def hit_filter(
        watchlist: str | None,
        feed: str | None,
        range_: str | None,
        since: str | None,
        until: str | None,
        q: str | None,
    ) -> queries.HitFilter:
        if range_ and range_ not in queries.RANGES and range_ != "custom":
            raise HTTPException(400, "range: expected 1h, 24h, 7d or custom")
        # Empty form fields arrive as '' and mean "any".
        if feed and not feed.isdigit():
            raise HTTPException(400, "feed: expected a feed id")
        return queries.HitFilter(
            watchlist=watchlist or None,
            feed=int(feed) if feed else None,
            range=range_ or None,
            since=_parse_time(since, "from"),
            until=_parse_time(until, "to"),
            q=(q or "").strip() or None,
        )

    def fetch(
        f: queries.HitFilter, limit: int, cursor: str | None, after: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        with open_session() as s:
            try:
                return queries.recent_hits(s, f, limit=limit, cursor=cursor, after=after)
            except ValueError:
                raise HTTPException(400, "invalid cursor") from None

    Watch = Query(None, description="watchlist id")
    Feed_ = Query(None, description="source feed id")
    Range = Query(None, alias="range", description="1h, 24h, 7d or custom")
    Since = Query(None, alias="from", description="custom range start (ISO 8601)")
    Until = Query(None, alias="to", description="custom range end (ISO 8601)")
    Text = Query(None, description="text in the headline or snippet")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def home(
        request: Request,
        watchlist: str | None = Watch,
        feed: str | None = Feed_,
        range_: str | None = Range,
        since: str | None = Since,
        until: str | None = Until,
        q: str | None = Text,
        cursor: str | None = None,
    ) -> HTMLResponse:
        f = hit_filter(watchlist, feed, range_, since, until, q)
        rows, more = fetch(f, 50, cursor, None)
        with open_session() as s:
            from sqlalchemy import select

            from monitor.models import Feed, Watchlist

            watchlists = list(s.scalars(select(Watchlist.id).order_by(Watchlist.id)))
            feeds = [(fd.id, fd.display_name) for fd in s.scalars(select(Feed).order_by(Feed.id))]
        params = {
            k: v
            for k, v in {
                "watchlist": watchlist,
                "feed": feed or None,
                "range": range_,
                "from": since,
                "to": until,
                "q": q,
            }.items()
            if v not in (None, "")
        }
        return page(
            request,
            "hits.html",
            {
                "rows": rows,
                "more": more,
                "f": f,
                "params": params,
                "query": urlencode(params),
                "next_query": urlencode({**params, "cursor": more}) if more else None,
                "watchlists": watchlists,
                "feeds": feeds,
                "since": since or "",
                "until": until or "",
                "first_cursor": rows[0]["cursor"] if rows else "",
                "paged": cursor is not None,
            },
        )

    @app.get("/hits/{hit_id}", response_class=HTMLResponse, include_in_schema=False)
    def hit_page(request: Request, hit_id: int) -> HTMLResponse:
        with open_session() as s:
            row = queries.hit_detail(s, hit_id)
        if row is None:
            raise HTTPException(404, "no such hit")
        return page(request, "hit.html", {"hit": row})

    @app.get("/watchlists", response_class=HTMLResponse, include_in_schema=False)
    def watchlists_page(request: Request) -> HTMLResponse:
        with open_session() as s:
            rows = queries.watchlist_stats(s)
        return page(request, "watchlists.html", {"rows": rows})

    @app.get("/feeds", response_class=HTMLResponse, include_in_schema=False)
    def feeds_page(request: Request, sort: str = "status") -> HTMLResponse:
        with open_session() as s:
            rows = queries.feed_health(s, sort)
        return page(request, "feeds.html", {"rows": rows, "sort": sort})

    @app.get("/deliveries", response_class=HTMLResponse, include_in_schema=False)
    def deliveries_page(request: Request, done: int | None = None) -> HTMLResponse:
        with open_session() as s:
            rows = queries.deliveries(s)
        return page(request, "deliveries.html", {"rows": rows, "done": done})

    @app.post("/deliveries/{delivery_id}/retry", include_in_schema=False)
    def retry(request: Request, delivery_id: int, csrf: str = Form("")) -> Response:
        if not settings.dashboard_writes:
            raise HTTPException(403, "the dashboard is read-only (MONITOR_DASHBOARD_WRITES)")
        if not security.check_csrf(request, csrf):
            raise HTTPException(403, "CSRF check failed: reload the page and try again")
        from monitor.alerts import retry_deliveries

        with open_session() as s:
            count = retry_deliveries(s, ids=[delivery_id])
            s.commit()
        return RedirectResponse(f"/deliveries?done={count}", status_code=303)

    # -- JSON API --------------------------------------------------------------------
    @app.get("/api/hits")
    def api_hits(
        watchlist: str | None = Watch,
        feed: str | None = Feed_,
        range_: str | None = Range,
        since: str | None = Since,
        until: str | None = Until,
        q: str | None = Text,
        cursor: str | None = Query(None, description="next page: the 'next' of the last page"),
        after: str | None = Query(None, description="only hits newer than this cursor"),
        limit: int = Query(50, ge=1, le=500),
    ) -> dict[str, Any]:
        f = hit_filter(watchlist, feed, range_, since, until, q)
        rows, more = fetch(f, limit, cursor, after)
        return {"items": rows, "next": more}

    @app.get("/api/hits/export")
    def api_export(
        watchlist: str | None = Watch,
        feed: str | None = Feed_,
        range_: str | None = Range,
        since: str | None = Since,
        until: str | None = Until,
        q: str | None = Text,
        format: str = Query("csv", pattern="^(csv|json)$"),
        max_rows: int = Query(10000, ge=1, le=100000),
    ) -> Response:
        f = hit_filter(watchlist, feed, range_, since, until, q)
        rows: list[dict[str, Any]] = []
        cursor = None
        while len(rows) < max_rows:
            batch, cursor = fetch(f, min(1000, max_rows - len(rows)), cursor, None)
            rows.extend(batch)
            if cursor is None:
                break
        if format == "json":
            return Response(
                json.dumps(rows),
                media_type="application/json",
                headers={"Content-Disposition": 'attachment; filename="hits.json"'},
            )
        cols = ["id", "created_at", "watchlist", "title", "url", "source", "snippet"]
        cols += ["delivery_status"]
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(cols)
        for row in rows:
            writer.writerow([_csv_cell(row[c]) for c in cols])
        return Response(
            buffer.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="hits.csv"'},
        )

    @app.get("/api/hits/{hit_id}")
    def api_hit(hit_id: int) -> dict[str, Any]:
        with open_session() as s:
            row = queries.hit_detail(s, hit_id)
        if row is None:
            raise HTTPException(404, "no such hit")
        return row

    @app.get("/api/watchlists")
    def api_watchlists() -> dict[str, Any]:
        with open_session() as s:
            return {"items": queries.watchlist_stats(s)}

    @app.get("/api/feeds")
    def api_feeds(sort: str = "status") -> dict[str, Any]:
        with open_session() as s:
            return {"items": queries.feed_health(s, sort)}

    @app.get("/api/deliveries")
    def api_deliveries() -> dict[str, Any]:
        with open_session() as s:
            return {"items": queries.deliveries(s)}

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

    del session
    return app
