"""The endpoints for machines that watch the service: ``/healthz`` and ``/metrics``.

``/healthz`` is open without a login (the access guard lets it through) for load balancers and
container health checks, so what it says names the failing part and never a URL or password.
"""

from __future__ import annotations

import sqlite3

import redis
from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import SQLAlchemyError

from monitor import db as storage
from monitor.config import Settings
from monitor.dashboard import queries
from monitor.dashboard.deps import DashboardDep
from monitor.errors import MonitorError
from monitor.metrics import CONTENT_TYPE_LATEST, FEED_SILENT, exposition

__all__ = ["broker_problem", "router"]

router = APIRouter()


def broker_problem(settings: Settings) -> str | None:
    """None if the broker answers, else one sentence without credentials."""
    url = settings.broker_url
    if settings.broker_is_redis:
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


@router.get("/healthz")
def healthz(dashboard: DashboardDep) -> JSONResponse:
    problems: dict[str, str] = {}
    try:
        storage.check_database(dashboard.settings)
    except MonitorError:
        problems["database"] = "unreachable"
    broker = broker_problem(dashboard.settings)
    if broker:
        problems["broker"] = broker
    if problems:
        return JSONResponse({"status": "unhealthy", "failed": problems}, status_code=503)
    return JSONResponse({"status": "ok"})


@router.get("/metrics", include_in_schema=False)
def metrics(dashboard: DashboardDep) -> Response:
    # The workers' samples, added up from the files they write (see monitor.metricfiles).
    FEED_SILENT.clear()
    try:
        rows = dashboard.read(queries.feed_health)
    except (SQLAlchemyError, MonitorError):
        # A database not set up yet (or unreachable) must not hide the workers' counters:
        # /healthz is where that shows.
        rows = []
    for row in rows:
        if row["status"] != "disabled":
            FEED_SILENT.labels(feed=row["name"]).set(1 if row["silent"] else 0)
    return Response(exposition(dashboard.settings.metrics_path), media_type=CONTENT_TYPE_LATEST)
