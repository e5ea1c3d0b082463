"""On PostgreSQL a match batch claims its articles by locking them, not by writing them: a
second worker skips what the first holds without waiting, a batch that dies leaves its
articles for the next, and the batch writes its articles' columns in one UPDATE with the
hits the compare-and-set claim stores; the feeds that carried an article reach the matcher
as they did when they were loaded with the article.

Everything runs against real SQLite and real PostgreSQL; the concurrent workers are two
sessions on two connections of the real engine.
"""

from __future__ import annotations

import hashlib
import random
import re
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.orm import Session

from monitor import db as storage
from monitor import pipeline
from monitor.clustering import reset_story_indexes
from monitor.config import Settings
from monitor.documents import WITH_FEEDS, carried_feeds, stored_document
from monitor.feeds.normalise import ArticleData
from monitor.feeds.store import store_articles
from monitor.matching.language import settle
from monitor.models import Article, ArticleFeed, Delivery, DeliveryHit, Feed, Hit, HitArticle
from monitor.watchlists import WatchlistRegistry
from tests.conftest import make_settings

NOW = datetime.now(UTC).replace(microsecond=0)
WORDS = [f"w{n}" for n in range(3000)]
TURBINES = "query: turbine\nalerts:\n  - console: true\n"

# The lock claim exists on PostgreSQL only; SQLite keeps the compare-and-set claim.
POSTGRESQL_ONLY = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def _body(seed: str) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(WORDS) for _ in range(80)) + "."


def _item(key: str, title: str, body: str, *, language: str | None = "en") -> ArticleData:
    return ArticleData(
        identity=hashlib.sha256(key.encode()).hexdigest(),
        url=f"https://{key}.example.org/story",
        title=title,
        summary="",
        content=body,
        author=None,
        published_at=NOW - timedelta(minutes=5),
        language=language,
    )


def _stories(tag: str, n: int) -> list[ArticleData]:
    """*n* unrelated stories; the even ones are about a turbine (a hit), the odd ones not."""
    items = []
    for i in range(n):
        subject = "turbine" if i % 2 == 0 else "harvest"
        title = f"Story {tag} {i} about the {subject}"
        items.append(_item(f"{tag}-{i}", title, f"{subject} {_body(f'{tag}-{i}')}"))
    return items


def _setup(session: Session, settings: Settings) -> WatchlistRegistry:
    """The watchlist 'turbines' and the feeds 'wire' and 'agency', in *settings*' database."""
    settings.watchlists.mkdir(parents=True, exist_ok=True)
    watchlist = settings.watchlists / "turbines.yaml"
    if not watchlist.exists():
        watchlist.write_text(TURBINES, encoding="utf-8")
    registry = WatchlistRegistry(settings.watchlists)
    pipeline.sync_registry(session, registry, force=True)
    # The agency's id is the lower, so feeds in the order they carried an article (the wire
    # first) are not in the order of their ids.
    session.add(Feed(url="https://agency.example.org/rss", name="agency", tags=["energy"]))
    session.flush()
    session.add(Feed(url="https://wire.example.org/rss", name="wire", tags=["wire"]))
    session.commit()
    return registry


@pytest.fixture
def registry(settings: Settings, session: Session) -> Iterator[WatchlistRegistry]:
    reset_story_indexes()
    yield _setup(session, settings)
    reset_story_indexes()


def _store(
    session: Session, feed: str, items: list[ArticleData], *, now: datetime = NOW
) -> list[int]:
    feed_id = session.scalar(select(Feed.id).where(Feed.name == feed))
    assert feed_id is not None
    ids = store_articles(session, feed_id, items, now=now)
    session.commit()
    return ids


def _match(
    session: Session, ids: list[int], registry: WatchlistRegistry, settings: Settings
) -> list[int]:
    return pipeline.match_articles(session, ids, registry=registry, settings=settings, now=NOW)


def _matched_at(session: Session, ids: list[int]) -> dict[int, datetime | None]:
    rows = session.execute(select(Article.id, Article.matched_at).where(Article.id.in_(ids)))
    return {article_id: matched_at for article_id, matched_at in rows}


def _hits_per_article(session: Session) -> dict[int, int]:
    rows = session.execute(select(Hit.article_id, func.count(Hit.id)).group_by(Hit.article_id))
    return {article_id: count for article_id, count in rows}


def _articles_of(session: Session, delivery_ids: list[int]) -> list[int]:
    """The articles whose hits the deliveries carry, one entry per delivery and hit."""
    rows = session.scalars(
        select(Hit.article_id)
        .join(DeliveryHit, DeliveryHit.hit_id == Hit.id)
        .where(DeliveryHit.delivery_id.in_(delivery_ids))
    )
    return sorted(rows)


def _count(session: Session, model: Any) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


# -- 1. two workers, one claim ------------------------------------------------------------


@POSTGRESQL_ONLY
def test_a_second_worker_skips_what_the_first_holds_without_waiting_for_it(
    session: Session,
    settings: Settings,
    registry: WatchlistRegistry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ids = _store(session, "wire", _stories("c", 8))
    turbines = set(ids[0::2])
    held, asked = ids[:4], ids[2:]  # worker B's batch overlaps A's in ids[2:4]
    # Falling back to one article at a time would claim with an UPDATE, which waits for A's
    # locks: B must take the batch path.
    monkeypatch.setattr(pipeline, "assign_story", _never)

    make = storage.sessionmaker_for(settings)
    worker_a = make()
    outcome: dict[str, Any] = {}

    def worker_b() -> None:
        try:
            with make() as session_b:
                outcome["deliveries"] = _match(session_b, asked, registry, settings)
        except BaseException as exc:  # reported by the main thread
            outcome["error"] = exc

    thread = threading.Thread(target=worker_b)
    try:
        # A's batch has begun: its articles are claimed and its transaction is open.
        claimed = pipeline._claim_by_lock(worker_a, held)
        assert sorted(article.id for article in claimed) == held
        thread.start()
        # A bound, not a pause: B returns at once unless it waits for A's locks.
        thread.join(timeout=20)
        assert not thread.is_alive(), "worker B waited for the rows worker A holds"
        assert "error" not in outcome, outcome.get("error")

        # B matched only its own articles: none of those A holds got a hit or a delivery.
        mine = [i for i in asked if i not in held]
        assert _articles_of(session, outcome["deliveries"]) == sorted(turbines & set(mine))
        assert set(_hits_per_article(session)) == turbines & set(mine)
        state = _matched_at(session, ids)
        assert {i: state[i] for i in mine} == dict.fromkeys(mine, NOW)
        assert {i: state[i] for i in held} == dict.fromkeys(held)
    finally:
        # A dies before its commit: its transaction, and its locks, go.
        worker_a.rollback()
        worker_a.close()
        if thread.ident is not None:
            thread.join()

    # Nothing A held was lost: its articles wait for the sweep, and are matched once.
    assert pipeline.pending_article_ids(session, older_than=NOW + timedelta(seconds=1)) == held
    deliveries = _match(session, ids, registry, settings)
    assert _articles_of(session, deliveries) == sorted(turbines & set(held))
    assert _hits_per_article(session) == dict.fromkeys(turbines, 1)
    assert _matched_at(session, ids) == dict.fromkeys(ids, NOW)

    # Matched, the same ids again add nothing.
    hits, sent = _count(session, Hit), _count(session, Delivery)
    assert _match(session, ids, registry, settings) == []
    assert (_count(session, Hit), _count(session, Delivery)) == (hits, sent)


def test_a_batch_that_dies_before_its_commit_leaves_its_articles_to_the_next(
    session: Session, settings: Settings, registry: WatchlistRegistry
) -> None:
    ids = _store(session, "wire", _stories("k", 6))
    turbines = set(ids[0::2])

    # The whole batch ran (claim, stories, hits, deliveries) and was not committed.
    started = pipeline._match_batch(session, ids, registry=registry, settings=settings, now=NOW)
    assert len(started) == len(turbines)
    session.rollback()

    assert _matched_at(session, ids) == dict.fromkeys(ids)
    assert (_count(session, Hit), _count(session, Delivery)) == (0, 0)

    deliveries = _match(session, ids, registry, settings)
    assert _articles_of(session, deliveries) == sorted(turbines)
    assert _hits_per_article(session) == dict.fromkeys(turbines, 1)
    assert _matched_at(session, ids) == dict.fromkeys(ids, NOW)
    assert _match(session, ids, registry, settings) == []
    assert (_count(session, Hit), _count(session, Delivery)) == (len(turbines), len(turbines))


@POSTGRESQL_ONLY
def test_a_poll_linking_a_held_article_to_another_feed_does_not_wait_for_the_batch(
    session: Session, settings: Settings, registry: WatchlistRegistry
) -> None:
    item = _stories("p", 1)
    (article_id,) = _store(session, "wire", item)
    make = storage.sessionmaker_for(settings)
    with make() as worker, make() as poller:
        assert [a.id for a in pipeline._claim_by_lock(worker, [article_id])] == [article_id]
        # Any wait for a lock fails the statement at once instead of hanging the test.
        poller.execute(text("SET LOCAL lock_timeout = '500ms'"))
        agency = poller.scalar(select(Feed.id).where(Feed.name == "agency"))
        assert agency is not None
        try:
            store_articles(poller, agency, item, now=NOW + timedelta(minutes=1))
            poller.commit()
        finally:
            worker.rollback()
    carriers = session.scalars(
        select(Feed.name)
        .join(ArticleFeed, ArticleFeed.feed_id == Feed.id)
        .where(ArticleFeed.article_id == article_id)
    ).all()
    assert set(carriers) == {"agency", "wire"}


# -- 2. one UPDATE, the same hits ----------------------------------------------------------


def _mixed_batch() -> list[ArticleData]:
    """Two turbine stories and two about something else, a copy of the first from another
    outlet (it joins that story), and a French one whose feed declared no language."""
    items = _stories("m", 4)
    first = items[0]
    copy = replace(
        first,
        identity=hashlib.sha256(b"m-copy").hexdigest(),
        url="https://other.example.org/copy",
    )
    french = _item(
        "m-fr",
        "La turbine de la centrale est tombée en panne",
        "La turbine principale de la centrale hydroélectrique est tombée en panne mardi "
        "matin, selon les ingénieurs qui travaillent sur le site depuis plusieurs semaines.",
        language=None,
    )
    return [*items, copy, french]


def _outcome(session: Session) -> dict[str, Any]:
    """What a batch left in the database, by article identity instead of row id, so that two
    databases can be compared."""
    identity = dict(session.execute(select(Article.id, Article.identity)).all())
    articles = {
        article.identity: (
            article.matched_at,
            article.language,
            article.detected_language,
            article.language_confidence,
        )
        for article in session.scalars(select(Article))
    }
    groups: dict[int | None, set[str]] = {}
    for article_id, story_id in session.execute(select(Article.id, Article.story_id)):
        groups.setdefault(story_id, set()).add(identity[article_id])
    hits = {
        (hit.watchlist_id, identity[hit.article_id]): (
            hit.created_at,
            hit.matched,
            hit.fields,
            hit.explanation,
            hit.snippet,
            hit.highlights,
            hit.score,
            hit.source_count,
            hit.not_alerted,
            sorted(identity[i] for i in _hit_copies(session, hit.id)),
        )
        for hit in session.scalars(select(Hit))
    }
    return {
        "articles": articles,
        "stories": sorted(sorted(group) for group in groups.values()),
        "hits": hits,
        "deliveries": sorted(
            (d.kind, d.destination, d.status) for d in session.scalars(select(Delivery))
        ),
    }


def _hit_copies(session: Session, hit_id: int) -> list[int]:
    return list(session.scalars(select(HitArticle.article_id).where(HitArticle.hit_id == hit_id)))


@POSTGRESQL_ONLY
def test_a_batch_writes_its_articles_in_one_update_and_the_hits_of_the_old_claim(
    session: Session, settings: Settings, registry: WatchlistRegistry, tmp_path: Path
) -> None:
    items = _mixed_batch()
    ids = _store(session, "wire", items)
    engine = session.get_bind()
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(" ".join(str(args[2]).split()))

    event.listen(engine, "before_cursor_execute", record)
    try:
        _match(session, ids, registry, settings)
    finally:
        event.remove(engine, "before_cursor_execute", record)

    # The claim is a read; the batch's only write to its articles is one UPDATE of all of
    # them, with the claim's matched_at among its columns.
    claims = [s for s in seen if re.search(r"FOR (NO KEY )?UPDATE OF articles SKIP LOCKED", s)]
    updates = [s for s in seen if s.upper().startswith("UPDATE ARTICLES")]
    assert len(claims) == 1, seen
    assert len(updates) == 1, updates
    for column in ("matched_at", "story_id", "language", "detected_language"):
        assert f"{column} = v.{column}" in updates[0], updates[0]

    by_id = {
        row.id: row
        for row in session.execute(
            select(Article.id, Article.matched_at, Article.story_id, Article.language)
        )
    }
    rows = [by_id[i] for i in ids]  # in the order of the batch's items
    assert [(r.matched_at, r.story_id is not None) for r in rows] == [(NOW, True)] * len(ids)
    # Settled against the text: the random words are no language, the French article that
    # came without one is French.
    assert [r.language for r in rows] == [
        settle(i.language, i.title, i.summary, i.content).language for i in items
    ]
    assert rows[-1].language == "fr"
    # The copy joined the first article's story, and each hit is in its article's story.
    assert rows[4].story_id == rows[0].story_id
    for hit in session.scalars(select(Hit)):
        assert hit.story_id == session.get_one(Article, hit.article_id).story_id

    # The same batch claimed by compare-and-set (SQLite's path, and the path before the lock)
    # leaves the same articles, stories, hits and deliveries.
    before = tmp_path / "before"
    before.mkdir()
    reference = make_settings(before, watchlists=settings.watchlists)
    storage.upgrade(reference)
    with storage.sessionmaker_for(reference)() as other:
        other_registry = _setup(other, reference)
        _match(other, _store(other, "wire", items), other_registry, reference)
        expected = _outcome(other)
    actual = _outcome(session)
    assert len(actual["hits"]) == 3  # two turbine stories and the French one
    assert actual == expected


# -- 3. the feeds that carried an article ---------------------------------------------------


def test_the_feeds_read_for_a_batch_are_those_loaded_with_the_article(
    session: Session, settings: Settings, registry: WatchlistRegistry
) -> None:
    both, wire_only = _stories("f", 3)[0::2]
    # The wire carried both first (it is their source feed), the agency one of them a
    # minute later.
    two_feeds, one_feed = _store(session, "wire", [both, wire_only])
    assert _store(session, "agency", [both], now=NOW + timedelta(minutes=1)) == []

    make = storage.sessionmaker_for(settings)
    with make() as fresh:
        # Loaded as a batch loads it, the article brings its source feed (the wire) into the
        # session; the agency is not there and has to be read.
        first = fresh.get_one(Article, two_feeds)
        carried = carried_feeds(fresh, [first])
        assert [feed.display_name for feed in carried[two_feeds]] == ["wire", "agency"]
        articles = [first, fresh.get_one(Article, one_feed)]
        carried = carried_feeds(fresh, articles)
        assert {i: [f.display_name for f in feeds] for i, feeds in carried.items()} == {
            two_feeds: ["wire", "agency"],
            one_feed: ["wire"],
        }
        batch_view = {a.id: stored_document(a, carried[a.id]) for a in articles}
    with make() as fresh:
        loaded = fresh.scalars(
            select(Article).where(Article.id.in_([two_feeds, one_feed])).options(WITH_FEEDS)
        ).all()
        loaded_view = {a.id: stored_document(a) for a in loaded}

    assert batch_view == loaded_view
    assert batch_view[two_feeds].feeds == frozenset({"agency", "wire"})
    assert batch_view[two_feeds].tags == frozenset({"energy", "wire"})
    assert batch_view[one_feed].feeds == frozenset({"wire"})
    assert batch_view[one_feed].tags == frozenset({"wire"})

    # A watchlist for the agency's articles matches, in the batch, the article the agency
    # carried after the wire, and not the one only the wire carried.
    (settings.watchlists / "turbines.yaml").write_text(
        "query: turbine\nfeeds: [agency]\nalerts:\n  - console: true\n", encoding="utf-8"
    )
    agency_desk = WatchlistRegistry(settings.watchlists)
    pipeline.sync_registry(session, agency_desk, force=True)
    session.commit()
    deliveries = _match(session, [two_feeds, one_feed], agency_desk, settings)
    assert _articles_of(session, deliveries) == [two_feeds]
    assert _hits_per_article(session) == {two_feeds: 1}
    assert _matched_at(session, [two_feeds, one_feed]) == dict.fromkeys([two_feeds, one_feed], NOW)


def _never(*args: Any, **kwargs: Any) -> int:
    raise AssertionError("the batch fell back to one article at a time")
