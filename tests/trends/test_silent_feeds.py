"""Silent feeds: one that still answers but stopped publishing is flagged on the Feeds page,
in /api/feeds and /metrics, and ops hear once when it falls silent and once when it
recovers, by real email."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.alerts.send import deliver
from monitor.config import Settings
from monitor.dashboard.app import create_app
from monitor.models import Article, ArticleFeed, Delivery, Feed
from monitor.trends.silence import check_silent_feeds, usual_gap
from tests.support.smtp import SMTPServer

START = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
_numbers = itertools.count(1)


@pytest.fixture
def smtp() -> Iterator[SMTPServer]:
    with SMTPServer() as server:
        yield server


def item(session: Session, feed: Feed, moment: datetime) -> None:
    """An item the feed published at *moment*, seen by a poll a few minutes later."""
    number = next(_numbers)
    article = Article(
        identity=f"silence-{number}",
        title=f"Item {number}",
        published_at=moment,
        first_seen_at=moment + timedelta(minutes=3),
        source_feed_id=feed.id,
    )
    session.add(article)
    session.flush()
    session.add(
        ArticleFeed(article_id=article.id, feed_id=feed.id, seen_at=moment + timedelta(minutes=3))
    )
    session.flush()


def answering(session: Session, name: str, url: str) -> Feed:
    feed = Feed(url=url, name=name, enabled=True, error_streak=0, last_status=200)
    session.add(feed)
    session.flush()
    return feed


def test_it_takes_the_median_gap_and_needs_five_items() -> None:
    times = [START + timedelta(hours=h) for h in (0, 1, 2, 3, 10)]
    assert usual_gap(times) == timedelta(hours=1)
    assert usual_gap(times[:4]) is None


def test_it_flags_a_feed_that_answers_but_stopped_publishing_and_tells_ops_once_each_way(
    session: Session, settings: Settings, smtp: SMTPServer
) -> None:
    settings = settings.model_copy(
        update={
            "ops_alerts": "email:ops@example.org",
            "smtp_url": SecretStr(smtp.url),
            "email_from": "monitor@example.org",
        }
    )
    hourly = answering(session, "Hourly Wire <b>", "https://wire.example/rss?token=s3cret")
    busy = answering(session, "Busy Desk", "https://desk.example/rss")
    for h in range(12):
        item(session, hourly, START + timedelta(hours=h))
    last = START + timedelta(hours=11)
    for m in range(0, 24 * 60, 30):
        item(session, busy, START + timedelta(minutes=m))
    for feed in (hourly, busy):
        feed.last_success_at = last + timedelta(hours=10)
    session.commit()

    # Three hours without an item is within four times an hourly gap: not silent yet.
    early = check_silent_feeds(session, settings=settings, now=last + timedelta(hours=3))
    assert [c.silent for c in early] == [False, False]
    # Five hours is past it; a second check changes nothing and sends nothing more.
    later = [
        check_silent_feeds(session, settings=settings, now=last + timedelta(hours=h))
        for h in (5, 6, 7)
    ]
    assert [c.silent for c in later[0]] == [True, False]
    assert [len(c.delivery_ids) for c in later[0]] == [1, 0]
    assert all(not c.delivery_ids for checks in later[1:] for c in checks)
    [silent_alert] = session.scalars(select(Delivery).where(Delivery.kind == "ops"))
    assert silent_alert.destination == "email:ops@example.org"
    assert deliver(session, silent_alert.id, settings=settings, now=last + timedelta(hours=5)).sent
    [message] = smtp.messages
    subject = str(message["Subject"])
    assert subject.startswith("[monitor] Feed silent: Hourly Wire <b> still answers")
    assert "every 60 minutes" in subject and "s3cret" not in message.as_string()

    # Seen on the Feeds page, in /api/feeds and as the metric.
    with TestClient(create_app(settings)) as client:
        feeds = {f["name"]: f for f in client.get("/api/feeds").json()["items"]}
        assert feeds["Hourly Wire <b>"]["silent"] is True
        assert feeds["Busy Desk"]["silent"] is False
        page = client.get("/feeds").text
        assert "s-silent" in page and "Hourly Wire &lt;b&gt;" in page
        assert "Hourly Wire <b>" not in page
        metrics = client.get("/metrics").text
        assert 'monitor_feed_silent{feed="Hourly Wire <b>"} 1.0' in metrics
        assert 'monitor_feed_silent{feed="Busy Desk"} 0.0' in metrics

    # It publishes again: recovered, one message, and no longer flagged.
    item(session, hourly, last + timedelta(hours=8))
    session.commit()
    recovered = check_silent_feeds(
        session, settings=settings, now=last + timedelta(hours=8, minutes=10)
    )
    assert [c.recovered for c in recovered] == [True, False]
    again = check_silent_feeds(
        session, settings=settings, now=last + timedelta(hours=8, minutes=20)
    )
    assert not any(c.delivery_ids for c in again)
    ops = list(
        session.scalars(select(Delivery).where(Delivery.kind == "ops").order_by(Delivery.id))
    )
    assert len(ops) == 2
    assert deliver(session, ops[1].id, settings=settings, now=last + timedelta(hours=9)).sent
    assert str(smtp.messages[-1]["Subject"]).startswith("[monitor] Feed recovered: Hourly Wire <b>")


def test_it_never_calls_a_failing_feed_silent(session: Session, settings: Settings) -> None:
    feed = answering(session, "Broken", "https://broken.example/rss")
    for h in range(8):
        item(session, feed, START + timedelta(hours=h))
    feed.error_streak, feed.last_success_at = 3, START + timedelta(hours=8)
    session.commit()
    [check] = check_silent_feeds(session, settings=settings, now=START + timedelta(days=2))
    assert not check.silent
