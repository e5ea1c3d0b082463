"""The overview page: stories and articles per watchlist over time (from the hourly roll-up
and live after it, the same either way), polls by outcome, new articles, deliveries."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import delete
from sqlalchemy.orm import Session

from monitor.config import Settings
from monitor.dashboard.app import create_app
from monitor.dashboard.overview import overview
from monitor.models import Delivery, DeliveryHit, HitArticle
from monitor.trends.polls import count_poll
from monitor.trends.rollup import roll_up, rolled_until
from tests.alerts.conftest import World

NOW = datetime(2026, 3, 9, 12, 30, tzinfo=UTC)


def seed(world: World, session: Session, settings: Settings, now: datetime = NOW) -> None:
    """Watchlist 'floods' (named with markup): per hour over the last 30 hours, one story
    carried by three outlets (one hit, two copies) and one story of its own; 'fires': one hit
    a day."""
    floods = world.watchlist("floods", "Floods <b>& co</b>")
    fires = world.watchlist("fires", "Fires")
    for h in range(30):
        moment = now - timedelta(hours=h, minutes=10)
        story = world.story()
        first = world.article(
            f"Flood {h}", story_id=story, published_at=moment, first_seen_at=moment
        )
        world.hit(floods, first, settings=settings, now=moment)
        for n in range(2):
            copy = world.article(
                f"Flood {h} copy {n}", story_id=story, published_at=moment, first_seen_at=moment
            )
            world.hit(floods, copy, settings=settings, now=moment + timedelta(minutes=n + 1))
        alone = world.article(f"Flood {h} alone", published_at=moment, first_seen_at=moment)
        world.hit(floods, alone, settings=settings, now=moment + timedelta(minutes=5))
    for d in range(3):
        moment = now - timedelta(days=d, hours=1)
        world.hit(
            fires,
            world.article(f"Fire {d}", published_at=moment, first_seen_at=moment),
            settings=settings,
            now=moment,
        )
    for outcome, times in (("new", 5), ("unchanged", 7), ("error", 2)):
        for _ in range(times):
            count_poll(session, outcome, now=now - timedelta(hours=2))
    # The instant alerts the hits made are replaced by three deliveries of known status.
    session.execute(delete(DeliveryHit))
    session.execute(delete(Delivery))
    for n, status in enumerate(("sent", "sent", "failed")):
        session.add(
            Delivery(
                dedupe_key=f"d{n}",
                destination="console",
                channel="console",
                status=status,
                created_at=now - timedelta(hours=1),
            )
        )
    session.commit()


def test_it_counts_stories_and_articles_per_hour_the_same_rolled_up_or_live(
    session: Session, settings: Settings, world: World
) -> None:
    seed(world, session, settings)
    assert session.query(HitArticle).count() == 60
    live = overview(session, range_="24h", now=NOW)
    assert roll_up(session, now=NOW) > 0
    assert rolled_until(session) == datetime(2026, 3, 9, 12, 0, tzinfo=UTC)
    rolled = overview(session, range_="24h", now=NOW)
    for data in (live, rolled):
        assert data.bucket == "hour" and len(data.buckets) == 24
        floods = next(w for w in data.watchlists if w.id == "floods")
        # 24 hours hold 24 x (one story in three outlets + one story alone).
        assert (sum(floods.stories), sum(floods.articles)) == (48, 96)
        assert floods.stories[-2:] == [2, 2] and floods.articles[-1] == 4
        assert data.polls == {
            "error": [0] * 21 + [2, 0, 0],
            "new": [0] * 21 + [5, 0, 0],
            "unchanged": [0] * 21 + [7, 0, 0],
        }
        assert data.deliveries == {"failed": 1, "sent": 2}
    assert [(w.id, w.stories) for w in live.watchlists] == [
        (w.id, w.stories) for w in rolled.watchlists
    ]
    # A bucket's link opens that hour of that watchlist's hits.
    floods = next(w for w in rolled.watchlists if w.id == "floods")
    assert (
        rolled.link(floods, -1)
        == "./?watchlist=floods&range=custom&from=2026-03-09T12%3A00&to=2026-03-09T13%3A00"
    )
    fires = next(w for w in rolled.watchlists if w.id == "fires")  # one hit a day
    assert [rolled.link(fires, i) is None for i in range(24)] == [not n for n in fires.articles]
    assert 0 < fires.articles.count(0) < 24


def test_it_draws_days_for_30_days_and_rolls_up_idempotently(
    session: Session, settings: Settings, world: World
) -> None:
    seed(world, session, settings)
    roll_up(session, now=NOW)
    assert roll_up(session, now=NOW) == 0  # nothing new: no hour counted twice
    data = overview(session, range_="30d", now=NOW)
    assert data.bucket == "day" and len(data.buckets) == 30
    floods = next(w for w in data.watchlists if w.id == "floods")
    assert (sum(floods.stories), sum(floods.articles)) == (60, 120)
    assert floods.stories[-2:] == [2 * 17, 2 * 13]  # 12:20 back to 00:20 today: 13 hours
    assert sum(data.new_articles) == 30 * 4 + 3


def test_the_page_shows_charts_with_axes_values_and_links(
    session: Session, settings: Settings, world: World
) -> None:
    now = datetime.now(UTC)
    seed(world, session, settings, now=now)
    roll_up(session, now=now)
    with TestClient(create_app(settings)) as client:
        page = client.get("/overview?range=90d")
        assert page.status_code == 200
        html = page.text
        assert "Floods &lt;b&gt;&amp; co&lt;/b&gt;" in html and "<b>& co</b>" not in html
        charts = re.findall(r'<svg class="chart ([\w-]+)"[^>]*data-total="(\d+)"', html)
        assert ("watchlist-chart", str(60 + 120)) in charts
        assert ("polls-chart", "14") in charts and ("deliveries-chart", "3") in charts
        assert 'class="tick"' in html and 'text-anchor="end">0</text>' in html
        # A click on a bucket opens its days of hits: the script adds each bucket's bounds
        # to this prefix (tests/trends/test_overview_browser.py clicks one).
        assert 'data-href="./?watchlist=floods&amp;range=custom" data-start="' in html
        assert 'data-step="86400"' in html and '<script src="/static/charts.js"' in html
        assert client.get("/static/charts.js").status_code == 200
        assert client.get("/overview?range=1y").status_code == 400
        assert 'href="/overview"' in client.get("/feeds").text
