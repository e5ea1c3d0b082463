"""Fixtures for the alerting tests: stand-in watchlists and match results (the shapes of
docs/architecture.md), a few stored articles, the Slack stand-in and a real SMTP server."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.orm import Session

from monitor.alerts.record import record_hits
from monitor.config import Settings
from monitor.destinations import AlertSpec
from monitor.models import Article, Feed, Watchlist
from tests.support.slack_standin import SlackStandIn
from tests.support.smtp import SMTPServer

NOW = datetime(2026, 3, 2, 9, 15, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Result:
    """The attributes of monitor.matching.MatchResult the outbox reads."""

    watchlist_id: str
    matched: tuple[str, ...] = ("flood",)
    fields: tuple[str, ...] = ("title",)
    explanation: dict[str, list[str]] = field(default_factory=lambda: {"title": ["flood"]})
    snippet: str = "Heavy flood hits Lagos after a night of rain."
    highlights: tuple[tuple[int, int], ...] = ((6, 11),)
    score: float = 0.0


@dataclass(frozen=True, slots=True)
class Spec:
    """The attributes of monitor.watchlists.WatchlistSpec the outbox reads."""

    id: str
    name: str = ""
    alerts: Sequence[AlertSpec] = ()
    throttle: str | None = None
    escalate_at: int | None = None


def alerts(*texts: str, digest: str | None = None) -> list[AlertSpec]:
    """AlertSpecs from short forms: alerts('slack:#desk', 'email:a@x.org')."""
    from monitor.destinations import parse_destination

    specs = [parse_destination(t) for t in texts]
    if digest:
        specs = [s.model_copy(update={"digest": digest}) for s in specs]
    return specs


class World:
    """Rows the outbox needs: a feed, watchlists, articles."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._numbers = itertools.count(1)
        self.feed = Feed(url="http://127.0.0.1/feed.xml", name="Daily Wire")
        session.add(self.feed)
        session.flush()

    def watchlist(self, watchlist_id: str, name: str | None = None, **spec: Any) -> Spec:
        if self.session.get(Watchlist, watchlist_id) is None:
            self.session.add(Watchlist(id=watchlist_id, name=name or watchlist_id.title()))
            self.session.flush()
        return Spec(id=watchlist_id, name=name or watchlist_id.title(), **spec)

    def article(
        self,
        title: str = "Heavy flood hits Lagos",
        *,
        url: str | None = None,
        story_id: int | None = None,
        feed: Feed | None = None,
        published_at: datetime | None = NOW,
        **values: Any,
    ) -> Article:
        """A stored article; *values* sets other columns (first_seen_at, first_poll)."""
        number = next(self._numbers)
        article = Article(
            identity=f"identity-{number}",
            url=url if url is not None else f"https://news.example/{number}",
            title=title,
            summary="",
            published_at=published_at,
            source_feed_id=(feed or self.feed).id,
            story_id=story_id,
            **values,
        )
        self.session.add(article)
        self.session.flush()
        return article

    def hit(
        self,
        spec: Spec,
        article: Article | str | None = None,
        *,
        settings: Settings,
        now: datetime = NOW,
    ) -> list[int]:
        """Record an article (a new one, or a new one with this title, published at *now*)
        as matched by *spec*, as the pipeline does; the ids of the deliveries to send now."""
        if not isinstance(article, Article):
            title = "Heavy flood hits Lagos" if article is None else article
            article = self.article(title, published_at=now)
        return record_hits(
            self.session,
            article,
            [Result(spec.id)],
            watchlists={spec.id: spec},
            settings=settings,
            now=now,
        )

    def feed_named(self, name: str) -> Feed:
        feed = Feed(url=f"http://127.0.0.1/{name}.xml", name=name)
        self.session.add(feed)
        self.session.flush()
        return feed

    def story(self) -> int:
        from monitor.models import Story

        story = Story(title="a story")
        self.session.add(story)
        self.session.flush()
        return story.id


@pytest.fixture
def world(session: Session) -> World:
    return World(session)


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with SlackStandIn() as standin:
        yield standin


@pytest.fixture
def smtp() -> Iterator[SMTPServer]:
    with SMTPServer() as server:
        yield server
