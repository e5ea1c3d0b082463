"""Silent feeds: a feed that still answers but has published nothing for several times its
usual gap between items, and the one ops message when it falls silent and when it recovers.

The rule (docs/feeds.md, "Silent feeds"):

- A feed's items are placed at their published time, never later than when we first saw
  them in that feed. Its *usual gap* is the median gap between its last ``RECENT`` items; a
  feed with fewer than ``MIN_ITEMS`` items has no usual gap yet and is never silent.
- It is *silent* when it is enabled, its last poll succeeded (it still answers; a feed that
  errors is already shown as erroring), and its newest item is older than
  ``MONITOR_FEED_SILENT_FACTOR`` (4) times its usual gap, and at least ``MIN_SILENCE``.
- It *recovers* when an item newer than that arrives.

``feed_silences.silent_since`` goes from NULL to a time and back by compare-and-set, so the
ops destinations (``MONITOR_OPS_ALERTS``) get one message each way however many checks run.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.cas import compare_and_set
from monitor.config import Settings
from monitor.destinations import parse_destinations
from monitor.logs import get_logger
from monitor.models import Article, ArticleFeed, Feed, FeedSilence, utcnow
from monitor.redaction import scrub
from monitor.states import DeliveryKind
from monitor.trends.outbox import queue_alert
from monitor.trends.rows import state_row

__all__ = ["MIN_ITEMS", "MIN_SILENCE", "SilenceCheck", "check_silent_feeds", "usual_gap"]

log = get_logger(__name__)

RECENT = 30
MIN_ITEMS = 5
# However busy a feed, an hour without items is not news.
MIN_SILENCE = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class SilenceCheck:
    """What one check found for one feed."""

    feed_id: int
    silent: bool
    fell_silent: bool
    recovered: bool
    usual_gap: timedelta | None
    delivery_ids: tuple[int, ...] = ()


def usual_gap(times: Sequence[datetime]) -> timedelta | None:
    """The median gap between consecutive *times* (any order), or None with too few."""
    if len(times) < MIN_ITEMS:
        return None
    ordered = sorted(times)
    gaps = [(b - a).total_seconds() for a, b in pairwise(ordered)]
    return timedelta(seconds=statistics.median(gaps))


def _item_times(session: Session, feed_id: int) -> list[datetime]:
    rows = session.execute(
        select(Article.published_at, ArticleFeed.seen_at)
        .join(Article, Article.id == ArticleFeed.article_id)
        .where(ArticleFeed.feed_id == feed_id)
        .order_by(ArticleFeed.seen_at.desc())
        .limit(RECENT * 2)
    )
    times = [min(published or seen, seen) for published, seen in rows]
    return sorted(times)[-RECENT:]


def check_silent_feeds(
    session: Session, *, settings: Settings, now: datetime | None = None
) -> list[SilenceCheck]:
    """Flag every enabled feed that answers but stopped publishing, clear the ones that
    recovered, and queue one ops message for each change. Commits per feed; one feed's
    problem is logged and the others still run."""
    now = now or utcnow()
    factor = settings.feed_silent_factor
    checks = []
    feeds = session.execute(
        select(Feed.id, Feed.name, Feed.title, Feed.url, Feed.error_streak, Feed.last_success_at)
        .where(Feed.enabled.is_(True))
        .order_by(Feed.id)
    ).all()
    for feed_id, name, title, url, error_streak, last_success in feeds:
        try:
            times = _item_times(session, feed_id)
            gap = usual_gap(times)
            answers = last_success is not None and not error_streak
            last_item = times[-1] if times else None
            silent = bool(
                answers
                and gap is not None
                and last_item is not None
                and now - last_item > max(gap * factor, MIN_SILENCE)
            )
            state = state_row(session, FeedSilence, feed_id, feed_id=feed_id)
            state.usual_gap_seconds = gap.total_seconds() if gap is not None else None
            state.last_item_at, state.checked_at = last_item, now
            session.flush()
            label = name or title or scrub(url) or f"#{feed_id}"
            changed, ids = _change(session, state, silent, label, gap, last_item, settings, now)
            checks.append(
                SilenceCheck(
                    feed_id,
                    silent,
                    fell_silent=changed and silent,
                    recovered=changed and not silent,
                    usual_gap=gap,
                    delivery_ids=tuple(ids),
                )
            )
            session.commit()
        except Exception:
            session.rollback()
            log.exception("the silent-feed check failed", feed=feed_id)
    return checks


def _change(
    session: Session,
    state: FeedSilence,
    silent: bool,
    label: str,
    gap: timedelta | None,
    last_item: datetime | None,
    settings: Settings,
    now: datetime,
) -> tuple[bool, list[int]]:
    """Move the feed's state to *silent* by compare-and-set; on a change, queue the ops
    message. Returns whether this check made the change, and the deliveries."""
    feed_id = state.feed_id
    if silent and state.silent_since is None:
        changed = compare_and_set(
            session,
            FeedSilence,
            FeedSilence.feed_id == feed_id,
            FeedSilence.silent_since.is_(None),
            silent_since=now,
        )
        event = f"feed-silent:{feed_id}:{now.isoformat()}"
        heading = (
            f"Feed silent: {label} still answers but has published nothing since "
            f"{last_item:%Y-%m-%d %H:%M} UTC (it usually publishes every {_span(gap)})"
            if last_item is not None
            else f"Feed silent: {label}"
        )
    elif not silent and state.silent_since is not None:
        since = state.silent_since
        changed = compare_and_set(
            session,
            FeedSilence,
            FeedSilence.feed_id == feed_id,
            FeedSilence.silent_since == since,
            silent_since=None,
        )
        event = f"feed-recovered:{feed_id}:{since.isoformat()}"
        heading = (
            f"Feed recovered: {label} is publishing again (silent since {since:%Y-%m-%d %H:%M} UTC)"
        )
    else:
        return False, []
    if not changed:
        return False, []
    log.info(heading.split(":", 1)[0].lower(), feed=feed_id)
    alerts = parse_destinations(settings.ops_alerts) if settings.ops_alerts.strip() else []
    if not alerts:
        return True, []
    ids = queue_alert(
        session, alerts, kind=DeliveryKind.OPS, event=event, now=now, payload={"heading": heading}
    )
    return True, ids


def _span(gap: timedelta | None) -> str:
    if gap is None:
        return "now and then"
    minutes = gap.total_seconds() / 60
    if minutes < 90:
        return f"{minutes:.0f} minutes"
    if minutes < 48 * 60:
        return f"{minutes / 60:.1f} hours"
    return f"{minutes / 1440:.1f} days"
