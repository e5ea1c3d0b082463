"""The scheduler's ``monitor.check_trends`` task, run in this process on the embedded
database and broker: a silent feed flagged, its ops message queued, the roll-up moved on."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from monitor import db as storage
from monitor.config import Settings, get_settings
from monitor.models import Article, ArticleFeed, Delivery, Feed, FeedSilence, utcnow
from monitor.trends.rollup import rolled_until


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Settings]:
    """The process-wide settings the task reads, from the environment, forgotten after."""
    monkeypatch.setenv("MONITOR_DATABASE_URL", f"sqlite:///{tmp_path}/monitor.db")
    monkeypatch.setenv("MONITOR_BROKER_URL", f"sqla+sqlite:///{tmp_path}/broker.db")
    monkeypatch.setenv("MONITOR_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("MONITOR_OPS_ALERTS", "console")
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


def test_it_checks_trends_and_rolls_up_from_the_beat_task(settings: Settings) -> None:
    storage.upgrade(settings)
    now = utcnow()
    with storage.sessionmaker_for(settings)() as session:
        feed = Feed(url="https://quiet.example/rss", name="Quiet", error_streak=0)
        feed.last_success_at = now
        session.add(feed)
        session.flush()
        for h in range(10):  # hourly until a day ago
            moment = now - timedelta(days=1, hours=h)
            article = Article(identity=f"q{h}", title=f"Item {h}", published_at=moment)
            article.first_seen_at = moment
            session.add(article)
            session.flush()
            session.add(ArticleFeed(article_id=article.id, feed_id=feed.id, seen_at=moment))
        session.commit()

    from workers import tasks

    summary = tasks.check_trends()

    assert summary == "trends: 0 spikes started, 1 feeds silent"
    with storage.sessionmaker_for(settings)() as session:
        assert session.scalar(select(FeedSilence.silent_since)) is not None
        [ops] = session.scalars(select(Delivery).where(Delivery.kind == "ops"))
        assert ops.destination == "console"
        assert ops.payload["heading"].startswith("Feed silent: Quiet still answers")
        hour = now.replace(minute=0, second=0, microsecond=0)
        assert rolled_until(session) in (hour, hour + timedelta(hours=1))  # the task's hour
