"""Seed helpers for the dashboard tests: rows written directly, as the other areas would."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from monitor import db as storage
from monitor.config import Settings
from monitor.dashboard.app import create_app
from monitor.models import (
    Article,
    Delivery,
    DeliveryHit,
    Destination,
    Feed,
    Hit,
    Watchlist,
    utcnow,
)

NOW = utcnow().replace(microsecond=0)


def seed(session: Session, *, hits: int = 30, now: datetime = NOW) -> dict[str, Any]:
    """Two feeds, two watchlists, ``hits`` hits one minute apart (newest = now), alternating
    watchlists and feeds, and a failed and a sent delivery on the newest two."""
    feeds = [
        Feed(url="http://wire.test/rss", name="Wire", error_streak=0, items_per_day=12.0),
        Feed(url="http://blog.test/atom", error_streak=3, last_error="HTTP 500", last_status=500),
    ]
    session.add_all(feeds)
    session.add_all(
        [
            Watchlist(
                id="acme",
                query="acme AND merger",
                definition={"alerts": [{"slack": "#desk"}, {"email": ["a@x.org"]}]},
            ),
            Watchlist(
                id="energy",
                query="solar OR wind",
                definition={"alerts": []},
                load_error="line 3: unknown key 'qurey'",
            ),
        ]
    )
    session.flush()
    made = []
    for i in range(hits):
        title = f"Headline {i} solar" if i % 2 else f"Headline {i} acme merger"
        article = Article(
            identity=f"{i:064d}",
            url=f"http://wire.test/{i}",
            title=title,
            source_feed_id=feeds[i % 2].id,
            published_at=now - timedelta(minutes=i),
        )
        session.add(article)
        session.flush()
        snippet = f"The snippet {i} mentions {'solar' if i % 2 else 'acme'} here."
        word = "solar" if i % 2 else "acme"
        start = snippet.index(word)
        hit = Hit(
            watchlist_id="energy" if i % 2 else "acme",
            article_id=article.id,
            created_at=now - timedelta(minutes=i),
            matched=[word],
            fields=["title"],
            explanation={"title": [word]},
            snippet=snippet,
            highlights=[[start, start + len(word)]],
        )
        session.add(hit)
        made.append(hit)
    session.flush()
    session.add(
        Destination(
            key="slack:#desk", channel="slack", failed_at=now, last_error="channel_not_found"
        )
    )
    session.flush()
    for n, status in list(enumerate(("failed", "sent")))[:hits]:
        delivery = Delivery(
            dedupe_key=f"d{n}",
            hit_id=made[n].id,
            watchlist_id=made[n].watchlist_id,
            destination="slack:#desk",
            channel="slack",
            status=status,
            attempts=5 if status == "failed" else 1,
            last_error="channel_not_found" if status == "failed" else None,
        )
        delivery.hits.append(DeliveryHit(hit_id=made[n].id))
        session.add(delivery)
    session.commit()
    return {"hits": made, "feeds": feeds}


@contextmanager
def seeded(settings: Settings, *, hits: int = 30) -> Iterator[dict[str, Any]]:
    """``seed`` in a session of its own (``made["session"]``); what the block changes or adds
    is committed at its end."""
    with storage.sessionmaker_for(settings)() as session:
        made = seed(session, hits=hits)
        yield {**made, "session": session}
        session.commit()


@pytest.fixture
def client(settings: Settings, session: Session) -> Iterator[TestClient]:
    seed(session)
    with TestClient(create_app(settings)) as c:
        yield c
