"""The publish → alert latency histogram: observed when a delivery is sent, from the article's
published time (else when we first saw it) to the send, and served by /metrics."""

from __future__ import annotations

from datetime import timedelta

from prometheus_client import REGISTRY
from sqlalchemy.orm import Session

from monitor.alerts.latency import waited
from monitor.alerts.send import deliver
from monitor.config import Settings
from monitor.metrics import exposition
from tests.alerts.conftest import NOW, World, alerts


def _sample(name: str, since: str, kind: str = "instant") -> float:
    labels = {"channel": "console", "kind": kind, "since": since}
    return REGISTRY.get_sample_value(f"monitor_alert_latency_seconds_{name}", labels) or 0.0


def test_it_measures_from_publication_to_the_sent_alert(
    session: Session, settings: Settings, world: World
) -> None:
    spec = world.watchlist("floods", alerts=alerts("console"))
    article = world.article(
        published_at=NOW - timedelta(minutes=10), first_seen_at=NOW - timedelta(minutes=2)
    )
    (delivery_id,) = world.hit(spec, article, settings=settings)
    session.commit()
    count, total = _sample("count", "published"), _sample("sum", "published")

    outcome = deliver(session, delivery_id, settings=settings, now=NOW + timedelta(seconds=30))

    assert outcome.sent
    assert _sample("count", "published") == count + 1
    assert _sample("sum", "published") == total + 630
    text = exposition().decode()
    assert (
        'monitor_alert_latency_seconds_bucket{channel="console",kind="instant",le="900.0",'
        'since="published"}'
    ) in text


def test_it_measures_from_first_sight_when_the_feed_gives_no_earlier_time(
    session: Session, settings: Settings, world: World
) -> None:
    spec = world.watchlist("floods", alerts=alerts("console"))
    # A date in the future says nothing about when the article came out.
    article = world.article(
        published_at=NOW + timedelta(hours=1), first_seen_at=NOW - timedelta(seconds=45)
    )
    (delivery_id,) = world.hit(spec, article, settings=settings)
    session.commit()
    count, total = _sample("count", "first_seen"), _sample("sum", "first_seen")

    deliver(session, delivery_id, settings=settings, now=NOW)

    assert _sample("count", "first_seen") == count + 1
    assert _sample("sum", "first_seen") == total + 45


def test_it_observes_nothing_for_an_alert_not_sent(
    session: Session, settings: Settings, world: World
) -> None:
    spec = world.watchlist("floods", alerts=alerts("console"))
    (delivery_id,) = world.hit(spec, settings=settings)
    session.commit()
    deliver(session, delivery_id, settings=settings, now=NOW)
    count = _sample("count", "published") + _sample("count", "first_seen")

    # Already sent: the second call claims nothing and sends nothing.
    deliver(session, delivery_id, settings=settings, now=NOW + timedelta(minutes=1))

    assert _sample("count", "published") + _sample("count", "first_seen") == count


def test_the_clock_starts_at_the_earlier_of_publication_and_first_sight() -> None:
    assert waited(NOW - timedelta(seconds=90), NOW - timedelta(seconds=5), now=NOW) == (
        90.0,
        "published",
    )
    assert waited(None, NOW - timedelta(seconds=5), now=NOW) == (5.0, "first_seen")
    assert waited(NOW + timedelta(days=1), NOW, now=NOW) == (0.0, "first_seen")
    assert waited(None, None, now=NOW) is None
