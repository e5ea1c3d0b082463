"""The dashboard's JSON API under ``/api``: hits and their export, watchlists, feeds, deliveries.

Each answers with the rows its page shows. Lists are paged: hits and deliveries by keyset
cursor, watchlists by the last id, feeds by position in their health order; every list answers
``{"items": [...], "next": ...}`` with ``next`` null on the last page. ``/openapi.json``
describes them all.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from monitor.dashboard import queries
from monitor.dashboard.deps import SEARCH_MAX_CHARS, DashboardDep, FiltersDep, hit_or_404

__all__ = ["router"]

router = APIRouter()

next_page = Query(None, description="next page: the 'next' of the previous page")


def _csv_cell(value: Any) -> str:
    text = "" if value is None else str(value)
    # A cell starting with = + - @ (or a tab/CR) is a formula to spreadsheet programs.
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


def _csv(rows: list[dict[str, Any]], columns: list[str]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    writer.writerows([_csv_cell(row[c]) for c in columns] for row in rows)
    return buffer.getvalue()


@router.get("/api/hits")
def api_hits(
    dashboard: DashboardDep,
    f: FiltersDep,
    cursor: str | None = next_page,
    after: str | None = Query(None, description="only hits newer than this cursor"),
    limit: int = Query(50, ge=1, le=500),
) -> dict[str, Any]:
    rows, more = dashboard.read(
        queries.recent_hits, f.hits, limit=limit, cursor=cursor, after=after
    )
    return {"items": rows, "next": more}


@router.get("/api/hits/export")
def api_export(
    dashboard: DashboardDep,
    f: FiltersDep,
    format: str = Query("csv", pattern="^(csv|json)$"),
    max_rows: int = Query(10000, ge=1, le=100000),
) -> Response:
    rows: list[dict[str, Any]] = []
    cursor = None
    while len(rows) < max_rows:
        limit = min(1000, max_rows - len(rows))
        batch, cursor = dashboard.read(queries.recent_hits, f.hits, limit=limit, cursor=cursor)
        rows.extend(batch)
        if cursor is None:
            break
    if format == "json":
        body, media_type = json.dumps(rows), "application/json"
    else:
        columns = ["id", "created_at", "watchlist", "title", "url", "source", "snippet"]
        # The later columns come last, so that spreadsheets built on the first ones still fit.
        later = ["published_at", "watchlist_name", "score", "alerted", "not_alerted"]
        later += ["label", "labelled_by", "labelled_at", "language"]
        body = _csv(rows, [*columns, "delivery_status", *later])
        media_type = "text/csv; charset=utf-8"
    disposition = f'attachment; filename="hits.{format}"'
    return Response(body, media_type=media_type, headers={"Content-Disposition": disposition})


# After /api/hits/export, which this path would otherwise match (and refuse: not an id).
@router.get("/api/hits/{hit_id}")
def api_hit(dashboard: DashboardDep, hit_id: int) -> dict[str, Any]:
    return hit_or_404(dashboard, hit_id)


@router.get("/api/watchlists")
def api_watchlists(
    dashboard: DashboardDep,
    after: str | None = Query(None, description="the last id of the previous page"),
    q: str | None = Query(
        None, max_length=SEARCH_MAX_CHARS, description="ids and names containing this text"
    ),
    limit: int = Query(100, ge=1, le=1000),
) -> dict[str, Any]:
    rows, more = dashboard.read(queries.watchlist_stats, limit=limit, after=after, search=q)
    return {"items": rows, "next": more}


@router.get("/api/feeds")
def api_feeds(
    dashboard: DashboardDep,
    sort: str = "status",
    offset: int = Query(0, ge=0, description="the 'next' of the previous page"),
    limit: int = Query(1000, ge=1, le=5000),
) -> dict[str, Any]:
    # Sorted by health, which is computed per feed: paged by position in that order.
    rows = dashboard.read(queries.feed_health, sort)
    more = offset + limit if len(rows) > offset + limit else None
    # 'problems': the entries of feeds.yaml not in force, one 'file:line: problem' line each.
    problems = dashboard.read(queries.feeds_file_problems)
    return {"items": rows[offset : offset + limit], "next": more, "problems": problems}


@router.get("/api/deliveries")
def api_deliveries(
    dashboard: DashboardDep,
    watchlist: str | None = Query(None, description="watchlist id"),
    cursor: str | None = next_page,
    limit: int = Query(100, ge=1, le=500),
) -> dict[str, Any]:
    rows, more = dashboard.read(queries.deliveries, watchlist=watchlist, limit=limit, cursor=cursor)
    return {"items": rows, "next": more}
