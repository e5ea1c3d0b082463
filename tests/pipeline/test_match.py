"""match_articles: each article claimed once, matched, recorded in one transaction.

The alerting side (``record_batch``) is replaced by a recorder here so these tests pin the
pipeline's own promises; the end-to-end tests run the real one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor import pipeline
from monitor.config import Settings
from monitor.documents import recent_documents
from monitor.matching import Matcher
from monitor.models import Article, ArticleFeed, Feed

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Spec:
    id: str
    query: str
    enabled: bool = True
    feeds: list[str] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)


class Registry:
    def __init__(self, *specs: Spec) -> None:
        self.specs = list(specs)
        self.matcher = Matcher(self.specs)


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, list[str]]]:
    calls: list[tuple[int, list[str]]] = []

    def record_batch(
        session: Session,
        matched: list[tuple[Article, list[Any]]],
        *,
        watchlists: Any,
        settings: Settings,
        now: datetime,
    ) -> list[int]:
        ids = []
        for article, results in matched:
            calls.append((article.id, [r.watchlist_id for r in results]))
            ids.extend([1000 + article.id] if results else [])
        return ids

    monkeypatch.setattr(pipeline, "record_batch", record_batch)
    return calls


def _article(session: Session, n: int, title: str, *, feed: Feed | None = None) -> Article:
    article = Article(
        identity=hashlib.sha256(str(n).encode()).hexdigest(),
        url=f"https://news.example.org/{n}",
        title=title,
        source_feed_id=feed.id if feed else None,
    )
    session.add(article)
    session.flush()
    if feed is not None:
        session.add(ArticleFeed(article_id=article.id, feed_id=feed.id))
    session.commit()
    return article


REGISTRY = Registry(Spec("lagos", '"Lagos port"'), Spec("oil", "oil AND price"))


def test_it_matches_records_and_returns_deliveries(
    session: Session, settings: Settings, recorded: list[Any]
) -> None:
    a = _article(session, 1, "Congestion at the Lagos port eases")
    b = _article(session, 2, "Weather today")
    ids = pipeline.match_articles(
        session, [a.id, b.id], registry=REGISTRY, settings=settings, now=NOW
    )
    assert ids == [1000 + a.id]
    assert recorded == [(a.id, ["lagos"]), (b.id, [])]
    matched = session.execute(select(Article.matched_at).order_by(Article.id)).scalars().all()
    assert matched == [NOW, NOW]


def test_it_never_matches_an_article_twice(
    session: Session, settings: Settings, recorded: list[Any]
) -> None:
    a = _article(session, 1, "Oil price jumps")
    first = pipeline.match_articles(session, [a.id], registry=REGISTRY, settings=settings, now=NOW)
    again = pipeline.match_articles(session, [a.id], registry=REGISTRY, settings=settings, now=NOW)
    assert first == [1000 + a.id]
    assert again == []
    assert len(recorded) == 1


def test_it_leaves_an_article_for_the_sweep_when_recording_fails(
    session: Session, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> list[int]:
        raise RuntimeError("database went away")

    monkeypatch.setattr(pipeline, "record_batch", broken)
    a = _article(session, 1, "Oil price jumps")
    b = _article(session, 2, "Weather today")
    ids = pipeline.match_articles(
        session, [a.id, b.id], registry=REGISTRY, settings=settings, now=NOW
    )
    assert ids == []
    # The claim was rolled back with the rest: both are still waiting for the matcher.
    assert pipeline.pending_article_ids(session, older_than=datetime.now(UTC)) == [a.id, b.id]


def test_it_gives_each_matched_article_a_story(
    session: Session, settings: Settings, recorded: list[Any]
) -> None:
    a = _article(session, 1, "Oil price jumps as supply tightens in the delta region")
    pipeline.match_articles(session, [a.id], registry=REGISTRY, settings=settings, now=NOW)
    session.expire_all()
    assert session.get_one(Article, a.id).story_id is not None


def test_the_registry_learns_word_rarity_from_stored_articles(
    session: Session, tmp_path: Path
) -> None:
    from monitor.watchlists import WatchlistRegistry

    for n in range(250):
        session.add(
            Article(
                identity=hashlib.sha256(b"r%d" % n).hexdigest(),
                url=f"https://news.example.org/r{n}",
                title=f"Liaison talks, day {n}",
                content="Japan joins" if n % 10 == 0 else "No news",
            )
        )
    session.commit()
    latest = recent_documents(session, limit=3)
    assert [d.title for d in latest] == [f"Liaison talks, day {n}" for n in (249, 248, 247)]

    (tmp_path / "nato.yaml").write_text("query: liaison japan\n", encoding="utf-8")
    registry = WatchlistRegistry(tmp_path)
    assert not registry.rarity.sampled
    pipeline.sync_registry(session, registry)
    assert registry.rarity.documents == 250
    assert registry.rarity.cost("t", "japan") < registry.rarity.cost("t", "liaison")


def test_it_settles_each_article_language_before_matching(
    session: Session, settings: Settings, recorded: list[Any]
) -> None:
    # The feed declared nothing for one and English for the other, a Russian article.
    registry = Registry(Spec("russia", "НАТО", languages=["ru"]), Spec("any", "НАТО"))
    undeclared = _article(session, 1, "НАТО откроет офис в Японии, сообщили источники в Токио")
    wrong = _article(session, 2, "НАТО откроет офис в Японии, сообщили источники в Токио.")
    wrong.language = "en"
    short = _article(session, 3, "НАТО")
    session.commit()
    ids = [undeclared.id, wrong.id, short.id]
    pipeline.match_articles(session, ids, registry=registry, settings=settings, now=NOW)
    session.expire_all()
    stored = [session.get_one(Article, n) for n in ids]
    assert [(a.language, a.detected_language) for a in stored] == [
        ("ru", "ru"),
        ("ru", "ru"),
        (None, None),  # too short to tell: unknown, and it passes languages: as before
    ]
    assert all(0.7 <= (a.language_confidence or 0) <= 1 for a in stored[:2])
    assert stored[2].language_confidence is None
    assert recorded == [(n, ["russia", "any"]) for n in ids]
