"""Hits recorded without an alert: old news, and the backlog a new feed brings.

An article is matched and its hits are stored whatever its age, so the dashboard, the API and
backtests see everything; but an alert is a promise that something is new. Two rules keep
that promise, and each hit kept silent says which one applied (``hits.not_alerted``):

- **too old**: the article came out longer than ``MONITOR_ALERT_MAX_AGE`` ago (48 hours by
  default). It came out when it was published, or when we first saw it if it carries no date
  or a date later than that (a clock ahead, or a date typed wrong, must not make old news
  look fresh);
- **first poll**: the feed's poller marked it as part of what the feed already held at its
  first successful poll (``articles.first_poll``), unless the feed says
  ``alert_first_poll: true`` in feeds.yaml.

The two other reasons are set elsewhere: ``throttled`` where a hit goes into a throttle
summary (:mod:`monitor.alerts.record`), and ``muted`` for a story a person muted for the
watchlist (:mod:`monitor.triage`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from monitor.config import Settings
from monitor.models import Article
from monitor.states import NotAlerted

__all__ = ["STALE", "article_age", "silent_reason"]

#: The reasons that belong to the article rather than to the watchlist: a story's first fresh
#: copy is alerted even when an earlier copy of it was kept silent for one of these.
STALE = (NotAlerted.TOO_OLD, NotAlerted.FIRST_POLL)


def article_age(article: Article, *, now: datetime) -> timedelta:
    """How long ago the article came out: from its published time, or from when we first saw
    it if it has none or one later than that."""
    seen = article.first_seen_at or now
    published = article.published_at
    came_out = published if published is not None and published <= seen else seen
    return now - came_out


def silent_reason(article: Article, *, settings: Settings, now: datetime) -> NotAlerted | None:
    """Why the hits of *article* are recorded without alerts, or None to alert them.

    Too old wins over first poll: it holds whatever the feed's settings say."""
    if article_age(article, now=now) > timedelta(seconds=settings.alert_max_age):
        return NotAlerted.TOO_OLD
    if article.first_poll:
        return NotAlerted.FIRST_POLL
    return None
