"""Recording a whole batch's hits and the instant deliveries they owe in a fixed number of
statements, in the matching transaction.

:func:`record_batch` makes the same rows :func:`monitor.alerts.record.record_hits` would,
article after article, for the hits that need no decision from rows the batch is writing:
a new hit whose story this watchlist has no hit for yet, either silent (old news, a new
feed's backlog) or sent at once to each destination. Those cost one read of the hits the
batch's articles already have, one read of the hits already made for their stories, one
INSERT of the hits, one of the destinations, one of the deliveries and one of the links
between them, however many articles the batch holds.

The rest goes through ``record_hits``' own path one hit at a time, after the batch's new hits
are written, so it sees them as it would one by one: a later copy of a story the watchlist
already has a hit for (attached to that hit, perhaps a thread reply or an escalation), and a
hit of a watchlist with a throttle or a digest (counted against the window, grouped with
other hits). Those are the cases where a hit's outcome depends on the hits before it.

Every row keeps its unique key (``uq_hits_watchlist_article``, ``deliveries.dedupe_key``),
written with ``ON CONFLICT DO NOTHING``, so recording the same article twice adds nothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from monitor.alerts.record import _key, _open_transaction, _record_one
from monitor.alerts.silence import silent_reason
from monitor.config import Settings
from monitor.destinations import AlertSpec, WatchlistAlerts, destinations_for
from monitor.matching import MatchResult
from monitor.metrics import HITS
from monitor.models import Article, Delivery, DeliveryHit, Destination, Hit
from monitor.states import DeliveryKind, DeliveryStatus, NotAlerted

__all__ = ["record_batch"]

_HITS = Hit.__table__
_DELIVERIES = Delivery.__table__
_LINKS = DeliveryHit.__table__
_DESTINATIONS = Destination.__table__


@dataclass(frozen=True, slots=True)
class _Pending:
    article: Article
    result: MatchResult
    watchlist: WatchlistAlerts | None
    silent: NotAlerted | None
    alerts: tuple[AlertSpec, ...]


def record_batch(
    session: Session,
    matched: Sequence[tuple[Article, Sequence[MatchResult]]],
    *,
    watchlists: Mapping[str, WatchlistAlerts],
    settings: Settings,
    now: datetime,
) -> list[int]:
    """Store a hit per result and its deliveries for every article of the batch, in the
    caller's transaction (no commit); return the ids of the deliveries to send now (those of
    the batched hits first). Recording the same articles again adds nothing."""
    items = [(article, results) for article, results in matched if results]
    if not items:
        return []
    _open_transaction(session)
    article_ids = [article.id for article, _ in items]
    done = {
        (watchlist_id, article_id)
        for watchlist_id, article_id in session.execute(
            select(Hit.watchlist_id, Hit.article_id).where(Hit.article_id.in_(article_ids))
        )
    }
    story_ids = sorted({a.story_id for a, _ in items if a.story_id is not None})
    watchlist_ids = sorted({r.watchlist_id for _, results in items for r in results})
    told: set[tuple[str, int | None]] = set()
    if story_ids:
        told = {
            (watchlist_id, story_id)
            for watchlist_id, story_id in session.execute(
                select(Hit.watchlist_id, Hit.story_id)
                .where(
                    Hit.story_id.in_(story_ids),
                    Hit.watchlist_id.in_(watchlist_ids),
                    Hit.created_at >= now - timedelta(hours=settings.story_window_hours),
                )
                .distinct()
            )
        }

    fast: list[_Pending] = []
    slow: list[_Pending] = []
    for article, results in items:
        silent = silent_reason(article, settings=settings, now=now)
        for result in results:
            if (result.watchlist_id, article.id) in done:
                continue
            watchlist = watchlists.get(result.watchlist_id)
            alerts = tuple(destinations_for(watchlist, settings.default_alerts))
            item = _Pending(article, result, watchlist, silent, alerts)
            story = (result.watchlist_id, article.story_id)
            copy = article.story_id is not None and story in told
            grouped = silent is None and (
                bool(watchlist is not None and watchlist.throttle)
                or any(alert.schedule is not None for alert in alerts)
            )
            (slow if copy or grouped else fast).append(item)
            if article.story_id is not None:
                told.add(story)

    delivery_ids = _record_fast(session, fast, now=now)
    for item in slow:
        delivery_ids.extend(
            _record_one(
                session,
                item.article,
                item.result,
                item.watchlist,
                settings,
                now,
                silent=item.silent,
            )
        )
    return delivery_ids


def _record_fast(session: Session, items: list[_Pending], *, now: datetime) -> list[int]:
    if not items:
        return []
    insert: Any = postgresql.insert if _dialect(session) == "postgresql" else sqlite.insert
    rows = [_hit_row(item, now) for item in items]
    inserted = session.execute(
        insert(_HITS)
        .on_conflict_do_nothing(index_elements=["watchlist_id", "article_id"])
        .returning(_HITS.c.id, _HITS.c.watchlist_id, _HITS.c.article_id),
        rows,
    ).all()
    # A hit missing here was stored by another worker at the same moment: it owes nothing more.
    hit_ids = {(watchlist_id, article_id): hit_id for hit_id, watchlist_id, article_id in inserted}
    owed: list[tuple[int, AlertSpec]] = []
    for item in items:
        hit_id = hit_ids.get((item.result.watchlist_id, item.article.id))
        if hit_id is None:
            continue
        HITS.labels(item.result.watchlist_id).inc()
        if item.silent is None:
            owed.extend((hit_id, alert) for alert in item.alerts)
    if not owed:
        return []

    destinations = {alert.key: alert.channel for _, alert in owed}
    session.execute(
        insert(_DESTINATIONS).on_conflict_do_nothing(index_elements=["key"]),
        [{"key": key, "channel": channel} for key, channel in sorted(destinations.items())],
    )
    watchlist_of = {hit_id: watchlist_id for (watchlist_id, _), hit_id in hit_ids.items()}
    deliveries = [
        {
            "dedupe_key": _key("hit", hit_id, alert.key),
            "kind": DeliveryKind.INSTANT,
            "hit_id": hit_id,
            "watchlist_id": watchlist_of[hit_id],
            "destination": alert.key,
            "channel": alert.channel,
            "status": DeliveryStatus.PENDING,
            "next_attempt_at": now,
            "payload": {},
            "created_at": now,
        }
        for hit_id, alert in owed
    ]
    # The hits are new, so their dedupe keys are too: nothing conflicts here unless a hit id
    # came back from the dead, and then the existing delivery is the one owed.
    ids = dict(
        (key, delivery_id)
        for delivery_id, key in session.execute(
            insert(_DELIVERIES)
            .on_conflict_do_nothing(index_elements=["dedupe_key"])
            .returning(_DELIVERIES.c.id, _DELIVERIES.c.dedupe_key),
            deliveries,
        )
    )
    fresh = [row for row in deliveries if row["dedupe_key"] in ids]
    if fresh:
        session.execute(
            insert(_LINKS).on_conflict_do_nothing(),
            [{"delivery_id": ids[row["dedupe_key"]], "hit_id": row["hit_id"]} for row in fresh],
        )
    missing = [row["dedupe_key"] for row in deliveries if row["dedupe_key"] not in ids]
    if missing:
        found = session.execute(
            select(Delivery.dedupe_key, Delivery.id).where(Delivery.dedupe_key.in_(missing))
        )
        ids.update({key: delivery_id for key, delivery_id in found})
    return [int(ids[row["dedupe_key"]]) for row in deliveries if row["dedupe_key"] in ids]


def _hit_row(item: _Pending, now: datetime) -> dict[str, Any]:
    result = item.result
    return {
        "watchlist_id": result.watchlist_id,
        "article_id": item.article.id,
        "story_id": item.article.story_id,
        "created_at": now,
        "matched": list(result.matched),
        "fields": list(result.fields),
        "explanation": {k: list(v) for k, v in result.explanation.items()},
        "snippet": result.snippet,
        "highlights": [list(span) for span in result.highlights],
        "source_count": 1,
        # A score the database cannot order (NaN, infinity) would break sorting by score.
        "score": result.score if math.isfinite(result.score) else 0.0,
        "not_alerted": item.silent,
    }


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name
