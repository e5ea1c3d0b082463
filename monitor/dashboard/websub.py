"""The WebSub callback: hubs verify our subscriptions here and push feeds' new entries.

``/websub/<token>`` is open without a login, like ``/healthz``: a hub cannot log in. What
guards it is the token, unguessable and one per subscription, and for a push the
``X-Hub-Signature`` under that subscription's own secret (monitor.feeds.push). A GET is the
hub's verification of intent (answered with its ``hub.challenge`` only for a request we
made, monitor.feeds.websub); a POST is a push. A verified push is stored by the poll's own
path before the answer, so a 2xx means nothing is lost; it is then matched and its alerts
sent in this process right after the answer, the same functions a worker runs, so the alert
does not wait for a poll or a sweep. A process killed in between leaves the articles
unmatched, and the worker's sweep matches them.
"""

from __future__ import annotations

import threading

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import PlainTextResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from monitor import pipeline
from monitor.alerts.send import deliver
from monitor.config import Settings
from monitor.dashboard.deps import Dashboard, DashboardDep
from monitor.db import session_scope
from monitor.feeds.push import PushOutcome, receive_push
from monitor.feeds.websub import CALLBACK_PREFIX, verify_intent
from monitor.logs import get_logger
from monitor.models import utcnow
from monitor.watchlists import WatchlistRegistry

__all__ = ["router"]

log = get_logger(__name__)

router = APIRouter()

_registry: dict[str, WatchlistRegistry] = {}
_registry_lock = threading.Lock()


@router.get(CALLBACK_PREFIX + "{token}", include_in_schema=False)
def verification(token: str, request: Request, dashboard: DashboardDep) -> Response:
    params = dict(request.query_params)
    with dashboard.sessions() as session:
        answer = verify_intent(session, token, params, settings=dashboard.settings, now=utcnow())
    if answer is None:
        return PlainTextResponse("no such subscription request", status_code=404)
    return PlainTextResponse(answer)


@router.post(CALLBACK_PREFIX + "{token}", include_in_schema=False)
async def push(
    token: str, request: Request, dashboard: DashboardDep, background: BackgroundTasks
) -> Response:
    limit = dashboard.settings.fetch_max_bytes
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return PlainTextResponse(f"larger than {limit} bytes", status_code=413)
    headers = dict(request.headers)
    outcome = await run_in_threadpool(_take, dashboard, token, bytes(body), headers)
    if outcome.status == "unknown":
        return PlainTextResponse("no such subscription", status_code=404)
    if outcome.new_article_ids:
        background.add_task(alert_now, dashboard.settings, outcome.new_article_ids)
    # 2xx for a bad signature too (WebSub, section 8): the push is ignored all the same.
    return Response(status_code=202)


def _take(dashboard: Dashboard, token: str, body: bytes, headers: dict[str, str]) -> PushOutcome:
    with dashboard.sessions() as session:
        return receive_push(
            session, token, body, headers, settings=dashboard.settings, now=utcnow()
        )


def alert_now(settings: Settings, article_ids: list[int]) -> None:
    """Match the pushed articles and send their alerts, as the worker's tasks would."""
    try:
        with session_scope(settings) as session:
            registry = _watchlists(settings, session)
            if registry is None:
                return
            delivery_ids = pipeline.match_articles(
                session, article_ids, registry=registry, settings=settings, now=utcnow()
            )
            for delivery_id in delivery_ids:
                deliver(session, delivery_id, settings=settings)
    except Exception:
        # Nothing is lost: unmatched articles and unsent deliveries wait for the sweep.
        log.exception("alerting a push failed", article_id=article_ids)


def _watchlists(settings: Settings, session: Session) -> WatchlistRegistry | None:
    """This process's watchlists, loaded once and re-read when their files change (the same
    hot reload as a worker's), written to the database before a hit can refer to them.

    None when this process finds no watchlist at all: its MONITOR_WATCHLISTS is not the
    workers' folder, and mirroring an empty folder would show every watchlist as gone. The
    pushed articles then wait for the worker's sweep, which matches them."""
    key = str(settings.watchlists)
    with _registry_lock:
        registry = _registry.get(key)
        first = registry is None
        if registry is None:
            registry = _registry[key] = pipeline.load_registry(settings)
        if not registry.specs and not registry.errors:
            log.warning("no watchlists here: pushed articles are left for the worker's sweep")
            return None
        if pipeline.sync_registry(session, registry, force=first):
            session.commit()
    return registry
