"""The spike check: each watchlist with a ``spike:`` block, judged by :mod:`.spike` on its
distinct stories, and one alert to its destinations when a spike starts.

A spike's state lives in ``spike_states``. ``spiking_since`` goes from NULL to the check's
time by compare-and-set, and only the check whose update changed the row queues the alert, so
the scheduler and ``monitor run --once`` running at the same moment send one. It goes back to
NULL only when the volume is normal again (both windows calm), so a long burst sends nothing
more, and the next burst after it is news again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.cas import compare_and_set
from monitor.config import Settings, parse_duration
from monitor.destinations import AlertSpec, destinations_for
from monitor.logs import get_logger
from monitor.models import Article, Hit, HitArticle, SpikeState, Watchlist, source_name, utcnow
from monitor.states import DeliveryKind
from monitor.trends.outbox import queue_alert
from monitor.trends.rows import state_row
from monitor.trends.spike import WINDOWS, Assessment, SpikeRule, WindowCount, assess

__all__ = ["SpikeCheck", "check_spikes", "rule_of", "story_times"]

log = get_logger(__name__)

HEADLINES = 3
TOP = 3


@dataclass(frozen=True, slots=True)
class SpikeCheck:
    """What one check found for one watchlist."""

    watchlist_id: str
    assessment: Assessment
    started: bool  # this check started a spike (and queued its alert)
    ended: bool  # this check saw the spike end
    delivery_ids: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class _Alerts:
    """The part of a watchlist that destinations_for reads, from its stored definition."""

    id: str
    name: str
    alerts: Sequence[AlertSpec]
    throttle: str | None = None
    escalate_at: int | None = None


def rule_of(definition: dict[str, Any]) -> SpikeRule | None:
    """The spike rule of a stored watchlist definition, or None when it has none."""
    block = definition.get("spike")
    if not isinstance(block, dict):
        return None
    return SpikeRule(
        baseline=timedelta(seconds=parse_duration(block.get("baseline", "14d"))),
        min_stories=int(block.get("min_stories", 5)),
        sensitivity=block.get("sensitivity", "normal"),
    )


def story_times(
    session: Session, watchlist_id: str, *, since: datetime, now: datetime
) -> dict[int, tuple[datetime, int]]:
    """Each distinct story of the watchlist published since *since*: its time and one hit.

    A story is its ``story_id`` (an article without one is a story of its own), placed at the
    earliest published time of its hits' articles, and never later than we first saw it: a
    date in the future from a feed would otherwise hold a story back. Hits are recorded after
    their articles are published, so rows recorded before *since* cannot count."""
    rows = session.execute(
        select(Hit.id, Hit.story_id, Hit.article_id, Article.published_at, Article.first_seen_at)
        .join(Article, Article.id == Hit.article_id)
        .where(Hit.watchlist_id == watchlist_id, Hit.created_at >= since)
    )
    stories: dict[int, tuple[datetime, int]] = {}
    for hit_id, story_id, article_id, published, seen in rows:
        moment = min(published or seen, seen)
        if moment < since or moment > now:
            continue
        key = story_id if story_id is not None else -article_id
        if key not in stories or moment < stories[key][0]:
            stories[key] = (moment, hit_id)
    return stories


def check_spikes(
    session: Session, *, settings: Settings, now: datetime | None = None
) -> list[SpikeCheck]:
    """Judge every enabled watchlist with a ``spike:`` block; queue an alert for each spike
    that starts. One broken watchlist is logged and the others still run. Commits each
    watchlist's outcome."""
    now = now or utcnow()
    checks: list[SpikeCheck] = []
    rows = session.execute(
        select(Watchlist.id, Watchlist.name, Watchlist.definition).where(
            Watchlist.enabled.is_(True), Watchlist.in_files.is_(True)
        )
    ).all()
    for watchlist_id, name, definition in rows:
        try:
            rule = rule_of(definition or {})
            if rule is None:
                continue
            checks.append(_check_one(session, watchlist_id, name, definition, rule, settings, now))
            session.commit()
        except Exception:
            session.rollback()
            log.exception("the spike check failed", watchlist=watchlist_id)
    return checks


def _check_one(
    session: Session,
    watchlist_id: str,
    name: str,
    definition: dict[str, Any],
    rule: SpikeRule,
    settings: Settings,
    now: datetime,
) -> SpikeCheck:
    since = now - rule.baseline - max(WINDOWS)
    stories = story_times(session, watchlist_id, since=since, now=now)
    verdict = assess([moment for moment, _ in stories.values()], now=now, rule=rule)
    state = state_row(
        session, SpikeState, watchlist_id, watchlist_id=watchlist_id, observed=0, expected=0.0
    )
    worst = verdict.worst
    state.checked_at, state.observed, state.expected = now, worst.observed, worst.expected
    session.flush()
    started = ended = False
    ids: list[int] = []
    if verdict.improbable and state.spiking_since is None:
        started = compare_and_set(
            session,
            SpikeState,
            SpikeState.watchlist_id == watchlist_id,
            SpikeState.spiking_since.is_(None),
            spiking_since=now,
        )
        if started:
            window = next(w for w in sorted(verdict.windows, key=lambda w: w.p))
            ids = _queue(session, watchlist_id, name, definition, window, stories, settings, now)
            log.info(
                "spike started",
                watchlist=watchlist_id,
                observed=window.observed,
                expected=round(window.expected, 2),
            )
    elif verdict.calm and state.spiking_since is not None:
        ended = compare_and_set(
            session,
            SpikeState,
            SpikeState.watchlist_id == watchlist_id,
            SpikeState.spiking_since == state.spiking_since,
            spiking_since=None,
        )
        if ended:
            log.info("spike over", watchlist=watchlist_id)
    return SpikeCheck(watchlist_id, verdict, started, ended, tuple(ids))


def _queue(
    session: Session,
    watchlist_id: str,
    name: str,
    definition: dict[str, Any],
    window: WindowCount,
    stories: dict[int, tuple[datetime, int]],
    settings: Settings,
    now: datetime,
) -> list[int]:
    start = now - window.length
    hit_ids = [hit_id for moment, hit_id in stories.values() if start <= moment < now]
    hits = list(session.scalars(select(Hit).where(Hit.id.in_(hit_ids))))
    # The headlines: the stories most outlets carried, then the best matches, then the newest
    # (what the surge is about now).
    hits.sort(key=lambda h: (-h.source_count, -h.score, -h.id))
    sources: Counter[str] = Counter()
    terms: Counter[str] = Counter()
    for hit in hits:
        terms.update(str(term) for term in dict.fromkeys(hit.matched or []))
        sources[hit.article.source_name] += 1
    copies = session.execute(
        select(Article)
        .join(HitArticle, HitArticle.article_id == Article.id)
        .where(HitArticle.hit_id.in_([h.id for h in hits]))
    ).scalars()
    for article in copies:
        sources[source_name(article.source_feed, article.url)] += 1
    sources.pop("", None)
    alerts = [AlertSpec.model_validate(a) for a in definition.get("alerts") or []]
    destinations = destinations_for(_Alerts(watchlist_id, name, alerts), settings.default_alerts)
    payload = {
        "name": name or watchlist_id,
        "window": window.label,
        "observed": window.observed,
        "expected": round(window.expected, 2),
        "p": window.p,
        "start": start.isoformat(),
        "end": now.isoformat(),
        "sources": sources.most_common(TOP),
        "terms": [term for term, _ in terms.most_common(TOP)],
    }
    return queue_alert(
        session,
        destinations,
        kind=DeliveryKind.SPIKE,
        event=f"spike:{watchlist_id}:{now.isoformat()}",
        now=now,
        watchlist_id=watchlist_id,
        hit_ids=[h.id for h in hits[:HEADLINES]],
        payload=payload,
    )
