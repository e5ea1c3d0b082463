"""Thin tasks: each takes ids (JSON), opens its own session, calls one stage in ``monitor/``
and returns a one-line summary for the worker's log.

Chaining: ``schedule_due_feeds`` → ``poll_feed(feed_id)`` on ``poll`` → ``match_articles(ids)``
on ``match`` → ``deliver(delivery_ids)`` on ``alerts``. No task retries itself: a feed's next
poll, an unmatched article and a delivery's ``next_attempt_at`` live in the database, and
``sweep`` re-sends whatever a dead worker dropped. That keeps one retry layer per failure.
"""

# Celery's decorators carry no types; the functions under them are typed.
# mypy: disable-error-code="untyped-decorator"

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from monitor import feeds, pipeline
from monitor.alerts import send as alerts_send
from monitor.alerts import sweep as alerts_sweep
from monitor.config import Settings, get_settings
from monitor.db import session_scope
from monitor.feeds import websub
from monitor.logs import get_logger
from monitor.models import utcnow
from monitor.trends.polls import count_poll
from monitor.trends.rollup import roll_up
from monitor.trends.silence import check_silent_feeds
from monitor.trends.spike_alerts import check_spikes
from workers.app import app

__all__ = [
    "check_trends",
    "deliver",
    "match_articles",
    "poll_feed",
    "prune",
    "schedule_due_feeds",
    "send_deliveries",
    "send_due_digests",
    "sweep",
]

log = get_logger(__name__)

# A poll message older than this is dropped: by then the next scheduling tick has asked again.
POLL_EXPIRES = 120.0
# How often a worker process re-reads the watchlist files (hot reload) before matching.
WATCHLIST_REFRESH = 5.0
# Deliveries per alerts message. Publishing a message costs the matching process about
# 0.15 ms, as much as matching an article: a burst of a thousand alerts goes out in a hundred
# messages, still spread over every alerts worker, and one alert in a message of its own.
DELIVER_CHUNK = 10

_registry: dict[str, Any] = {}


def _watchlists(settings: Settings, session: Any) -> Any:
    """This process's compiled watchlists, re-read from their files every few seconds and
    written to the database, so a hit never refers to a watchlist row that is not there."""
    now = time.monotonic()
    registry = _registry.get("registry")
    if registry is None or now - _registry.get("synced", 0.0) > WATCHLIST_REFRESH:
        first = registry is None
        if registry is None:
            registry = pipeline.load_registry(settings)
            _registry["registry"] = registry
        if pipeline.sync_registry(session, registry, force=first):
            session.commit()
        _registry["synced"] = now
    return registry


@app.task(name="monitor.schedule_due_feeds", ignore_result=True)
def schedule_due_feeds() -> str:
    settings = get_settings()
    with session_scope(settings) as session:
        feed_ids = pipeline.schedule_due_feeds(session, settings=settings, now=utcnow())
    for feed_id in feed_ids:
        poll_feed.apply_async((feed_id,), expires=POLL_EXPIRES)
    return f"{len(feed_ids)} due feeds sent to poll"


@app.task(name="monitor.poll_feed", ignore_result=True)
def poll_feed(feed_id: int) -> str:
    settings = get_settings()
    with session_scope(settings) as session:
        now = utcnow()
        outcome = feeds.poll_feed(session, feed_id, settings=settings, now=now)
        if outcome.outcome != "skipped":
            count_poll(session, outcome.outcome, now=now)
            session.commit()
    new_ids = pipeline.new_article_ids(outcome)
    for batch in pipeline.batches(new_ids):
        match_articles.delay(batch)
    return f"feed {feed_id}: {len(new_ids)} new articles ({outcome})"


@app.task(name="monitor.match_articles", ignore_result=True)
def match_articles(article_ids: list[int]) -> str:
    settings = get_settings()
    with session_scope(settings) as session:
        registry = _watchlists(settings, session)
        delivery_ids = pipeline.match_articles(
            session, article_ids, registry=registry, settings=settings, now=utcnow()
        )
    send_deliveries(delivery_ids)
    return f"{len(article_ids)} articles matched, {len(delivery_ids)} alerts to send"


def send_deliveries(delivery_ids: Iterable[int]) -> None:
    """Queue the deliveries on ``alerts``, :data:`DELIVER_CHUNK` to a message."""
    ids = [int(i) for i in delivery_ids]
    for start in range(0, len(ids), DELIVER_CHUNK):
        chunk = ids[start : start + DELIVER_CHUNK]
        deliver.delay(chunk[0] if len(chunk) == 1 else chunk)


@app.task(name="monitor.deliver", ignore_result=True)
def deliver(delivery_ids: int | list[int]) -> str:
    """Send one delivery, or a few in turn; each is claimed and recorded on its own, so one
    that fails (and will be retried from the database) never holds back the others."""
    ids = [delivery_ids] if isinstance(delivery_ids, int) else [int(i) for i in delivery_ids]
    settings = get_settings()
    outcomes = []
    with session_scope(settings) as session:
        for delivery_id in ids:
            try:
                outcome = alerts_send.deliver(session, delivery_id, settings=settings, now=utcnow())
                session.commit()
            except Exception:
                session.rollback()
                if len(ids) == 1:
                    raise
                log.exception("sending a delivery failed", delivery_id=delivery_id)
                continue
            outcomes.append(f"delivery {delivery_id}: {outcome}")
    return "; ".join(outcomes)


@app.task(name="monitor.send_due_digests", ignore_result=True)
def send_due_digests() -> str:
    settings = get_settings()
    with session_scope(settings) as session:
        delivery_ids = [int(i) for i in alerts_sweep.open_due_digests(session, now=utcnow()) or []]
    send_deliveries(delivery_ids)
    return f"{len(delivery_ids)} digests due"


@app.task(name="monitor.sweep", ignore_result=True)
def sweep() -> str:
    """Re-send the work whose message was lost (a worker killed, a broker restarted), and
    measure how far behind each queue is."""
    settings = get_settings()
    now = utcnow()
    with session_scope(settings) as session:
        _watchlists(settings, session)
        # Work this much older than its message is presumed to have lost it.
        grace = timedelta(seconds=settings.sweep_grace_seconds)
        due = [int(i) for i in alerts_sweep.due_delivery_ids(session, now=now)]
        delivery_ids = pipeline.deliveries_to_resend(session, due, now=now, grace=grace)
        article_ids = pipeline.pending_article_ids(session, older_than=now - grace)
        lag = pipeline.queue_lag(session, now=now)
    for batch in pipeline.batches(article_ids):
        match_articles.delay(batch)
    send_deliveries(delivery_ids)
    if article_ids or delivery_ids:
        log.info("sweep re-sent lost work", articles=len(article_ids), deliveries=len(delivery_ids))
    lags = ", ".join(f"{kind} {seconds:.0f}s" for kind, seconds in lag.items())
    return f"sweep: {len(article_ids)} articles, {len(delivery_ids)} deliveries; lag {lags}"


@app.task(name="monitor.check_trends", ignore_result=True)
def check_trends() -> str:
    """Spike alerts for watchlists with a ``spike:`` block; silent feeds for ops; the
    overview's hourly roll-up."""
    settings = get_settings()
    now = utcnow()
    with session_scope(settings) as session:
        spikes = check_spikes(session, settings=settings, now=now)
        silences = check_silent_feeds(session, settings=settings, now=now)
        # The overview page's hourly counts, for the hours that are over.
        roll_up(session, now=now)
    delivery_ids = [i for check in spikes for i in check.delivery_ids]
    delivery_ids += [i for check in silences for i in check.delivery_ids]
    send_deliveries(delivery_ids)
    started = sum(check.started for check in spikes)
    silent = sum(check.silent for check in silences)
    return f"trends: {started} spikes started, {silent} feeds silent"


@app.task(name="monitor.prune", ignore_result=True)
def prune() -> str:
    settings = get_settings()
    with session_scope(settings) as session:
        count = pipeline.prune(session, settings=settings, now=utcnow())
    return f"pruned {count} articles"


@app.task(name="monitor.websub_subscribe", ignore_result=True)
def websub_subscribe() -> str:
    """Send the due WebSub subscription requests (monitor.feeds.websub)."""
    settings = get_settings()
    with session_scope(settings) as session:
        due = websub.due_subscription_ids(session, now=utcnow())
        lines = [websub.subscribe(session, i, settings=settings, now=utcnow()) for i in due]
    return f"{len(lines)} websub requests" + "".join(f"; {line}" for line in lines)
