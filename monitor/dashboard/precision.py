"""The dashboard's precision page for one watchlist, and its JSON: labelled counts and
precision over a period, and the candidate exclusions with the command that backtests each
(:mod:`monitor.precision`)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from monitor.dashboard.deps import DashboardDep, templates
from monitor.models import utcnow
from monitor.precision import candidate_exclusions, precision_by_watchlist

__all__ = ["PERIOD_DAYS", "router", "watchlist_precision"]

router = APIRouter()

#: The period the watchlists page and the precision page count over, unless asked otherwise.
PERIOD_DAYS = 30

days_query = Query(PERIOD_DAYS, ge=1, le=3650, description="the period, in days back from now")


def watchlist_precision(session: Session, watchlist_id: str, *, days: int) -> dict[str, Any] | None:
    """One watchlist's precision and candidate exclusions over the last *days*, or None."""
    since = utcnow() - timedelta(days=days)
    found = precision_by_watchlist(session, since=since, watchlist_ids=[watchlist_id])
    if not found:
        return None
    [row] = found
    return {
        "watchlist": row.watchlist_id,
        "name": row.name,
        "days": days,
        "hits": row.hits,
        "relevant": row.relevant,
        "not_relevant": row.not_relevant,
        "precision": row.precision,
        "candidates": [
            {
                "term": c.term,
                "not_relevant": c.not_relevant,
                "not_relevant_total": c.not_relevant_total,
                "relevant": c.relevant,
                "others": c.others,
                "others_total": c.others_total,
                "backtest": f"monitor watchlists test {row.watchlist_id} --since {days}d "
                f"--exclude {c.term}",
            }
            for c in candidate_exclusions(session, watchlist_id, since=since)
        ],
    }


def _found(dashboard: Any, watchlist_id: str, days: int) -> dict[str, Any]:
    row: dict[str, Any] | None = dashboard.read(watchlist_precision, watchlist_id, days=days)
    if row is None:
        raise HTTPException(404, "no such watchlist")
    return row


@router.get("/api/watchlists/{watchlist_id}/precision")
def api_precision(
    dashboard: DashboardDep, watchlist_id: str, days: int = days_query
) -> dict[str, Any]:
    return _found(dashboard, watchlist_id, days)


@router.get(
    "/watchlists/{watchlist_id}/precision", response_class=HTMLResponse, include_in_schema=False
)
def precision_page(
    request: Request, dashboard: DashboardDep, watchlist_id: str, days: int = days_query
) -> HTMLResponse:
    context = {"p": _found(dashboard, watchlist_id, days), "writes": False}
    return templates.TemplateResponse(request, "precision.html", context)
