"""A poll's articles go through the pipeline as one batch: stored in one statement, then given
stories, matched and recorded in a fixed number of statements, in one transaction.

The statements are counted with an SQLAlchemy ``before_cursor_execute`` listener on the real
engine (SQLite and PostgreSQL in turn); the recording side is the real one.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from monitor import pipeline
from monitor.clustering import reset_story_indexes
from monitor.config import Settings
from monitor.feeds.normalise import ArticleData
from monitor.feeds.store import store_articles
from monitor.models import Article, Delivery, DeliveryHit, Feed, Hit, Story
from monitor.states import DeliveryKind, NotAlerted
from monitor.triage.mutes import mute_story
from monitor.triage.snoozes import EVERY_DESTINATION, snooze
from monitor.watchlists import WatchlistRegistry

NOW = datetime.now(UTC).replace(microsecond=0)
WORDS = [f"w{n}" for n in range(3000)]


def _body(seed: str) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(WORDS) for _ in range(80)) + "."


def _item(key: str, title: str, body: str) -> ArticleData:
    return ArticleData(
        identity=hashlib.sha256(key.encode()).hexdigest(),
        url=f"https://{key}.example.org/story",
        title=title,
        summary="",
        content=body,
        author=None,
        published_at=NOW - timedelta(minutes=5),
        language="en",
    )


@pytest.fixture
def registry(settings: Settings, session: Session) -> Iterator[WatchlistRegistry]:
    reset_story_indexes()
    settings.watchlists.mkdir(parents=True, exist_ok=True)
    (settings.watchlists / "turbines.yaml").write_text(
        'query: turbine\nalerts:\n  - console: true\n  - slack: "#desk"\n', encoding="utf-8"
    )
    registry = WatchlistRegistry(settings.watchlists)
    pipeline.sync_registry(session, registry, force=True)
    session.add(Feed(url="https://feeds.example.org/rss", name="wire"))
    session.commit()
    yield registry
    reset_story_indexes()


class Statements:
    """Every statement the engine sends, counted as the driver gets it (an executemany is one
    call to the driver)."""

    def __init__(self, session: Session) -> None:
        self.engine = session.get_bind()
        self.seen: list[str] = []
        event.listen(self.engine, "before_cursor_execute", self._count)

    def _count(self, *args: Any) -> None:
        self.seen.append(str(args[2]))

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._count)


def _batch(n: int, *, tag: str, known: list[ArticleData], turbine_copies: bool = False) -> Any:
    """*n* articles in fours: a new story about a turbine (a hit), a copy of a stored story,
    a new story about the harvest, a copy of the article before it. The copies are of harvest
    stories unless *turbine_copies* (then they attach to a hit)."""
    items = []
    subjects = ("turbine", "turbine") if turbine_copies else ("harvest", "harvest")
    for i in range(n):
        if i % 4 == 1 and known:
            copied = known[(i // 4) % len(known)]
            title, body = copied.title, copied.content
        elif i % 4 == 3:
            title, body = items[-1].title, items[-1].content
        else:
            subject = "turbine" if i % 4 == 0 else subjects[1]
            title = f"Story {tag} {i} about the {subject}"
            body = f"{subject} {_body(f'{tag}-{i}')}"
        items.append(_item(f"{tag}-{i}", title, body))
    return items


def _stored(tag: str, subject: str) -> list[ArticleData]:
    return [
        _item(
            f"{tag}-{i}",
            f"Stored story {tag} {i} about the {subject}",
            f"{subject} {_body(tag + str(i))}",
        )
        for i in range(4)
    ]


def _run(session: Session, registry: WatchlistRegistry, settings: Settings, items: Any) -> Any:
    feed_id = session.scalar(select(Feed.id))
    assert feed_id is not None
    counter = Statements(session)
    try:
        ids = store_articles(session, feed_id, items, now=NOW)
        session.commit()
        stored = len(counter.seen)
        deliveries = pipeline.match_articles(
            session, ids, registry=registry, settings=settings, now=NOW
        )
        matched = len(counter.seen) - stored
    finally:
        counter.close()
    return ids, deliveries, stored, matched


def test_a_batch_costs_the_same_statements_for_10_and_100_articles(
    session: Session, settings: Settings, registry: WatchlistRegistry
) -> None:
    # Stories already stored, for the batches' copies to join; and the process's story index
    # loaded, as in a running worker.
    known = _stored("warm", "harvest")
    _run(session, registry, settings, known)

    ids10, deliveries10, stored10, matched10 = _run(
        session, registry, settings, _batch(10, tag="ten", known=known)
    )
    ids100, deliveries100, stored100, matched100 = _run(
        session, registry, settings, _batch(100, tag="hundred", known=known)
    )

    assert (len(ids10), len(ids100)) == (10, 100)
    # Stored with one statement (and its commit), however many articles.
    assert stored10 == stored100 <= 4
    # Stories, matching and recording: the same statements for 10 and for 100 articles.
    assert matched10 == matched100 <= 20, (matched10, matched100)
    # Every article matched; every turbine article is a hit with two deliveries (console and
    # Slack); each copy joined its story.
    unmatched = session.scalar(select(func.count(Article.id)).where(Article.matched_at.is_(None)))
    assert unmatched == 0
    assert session.scalar(select(func.count(Hit.id)).where(Hit.article_id.in_(ids100))) == 25
    assert (len(deliveries10), len(deliveries100)) == (2 * 3, 2 * 25)
    stories = session.scalar(
        select(func.count(func.distinct(Article.story_id))).where(Article.id.in_(ids100))
    )
    assert stories == 25 + 25 + min(25, 4)


def test_stories_and_hits_are_those_one_by_one_would_make(
    session: Session, settings: Settings, registry: WatchlistRegistry
) -> None:
    known = _stored("warm", "turbine")
    _run(session, registry, settings, known)
    items = _batch(40, tag="b", known=known, turbine_copies=True)
    ids, _, _, _ = _run(session, registry, settings, items)

    articles = {a.id: a for a in session.scalars(select(Article).where(Article.id.in_(ids)))}
    by_title: dict[str, set[int | None]] = {}
    for article in articles.values():
        by_title.setdefault(article.title, set()).add(article.story_id)
    # Every copy is in its original's story, and different stories stay apart.
    assert all(len(stories) == 1 for stories in by_title.values())
    assert len({next(iter(s)) for s in by_title.values()}) == len(by_title)
    # Each story counts exactly the articles it holds.
    counts = dict(
        session.execute(
            select(Article.story_id, func.count(Article.id)).group_by(Article.story_id)
        ).all()
    )
    for story in session.scalars(select(Story)):
        assert story.article_count == counts[story.id], story.title
    # One hit per story for the watchlist; the copies are attached to it, not alerted again.
    stories_with_turbines = {a.story_id for a in articles.values() if "turbine" in a.title}
    hit_stories = session.scalars(select(Hit.story_id).where(Hit.story_id.is_not(None))).all()
    assert len(hit_stories) == len(set(hit_stories))
    assert stories_with_turbines <= set(hit_stories)
    # Every delivery carries its hit.
    links = session.scalar(select(func.count()).select_from(DeliveryHit))
    assert links == session.scalar(select(func.count(Delivery.id)))


def test_a_redelivered_batch_adds_nothing(
    session: Session, settings: Settings, registry: WatchlistRegistry
) -> None:
    ids, deliveries, _, _ = _run(session, registry, settings, _batch(20, tag="r", known=[]))
    hits = session.scalar(select(func.count(Hit.id)))
    again = pipeline.match_articles(session, ids, registry=registry, settings=settings, now=NOW)
    assert deliveries and again == []
    assert session.scalar(select(func.count(Hit.id))) == hits


def test_one_broken_article_rolls_back_the_batch_and_stops_no_other(
    session: Session,
    settings: Settings,
    registry: WatchlistRegistry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    items = _batch(12, tag="p", known=[], turbine_copies=True)
    items[5] = _item("poison", "Poison turbine", "turbine " + _body("poison"))
    real = registry.matcher.match

    def match(document: Any) -> Any:
        if document.title == "Poison turbine":
            raise RuntimeError("a bug in the matcher")
        return real(document)

    monkeypatch.setattr(registry.matcher, "match", match)
    _ids, deliveries, _, _ = _run(session, registry, settings, items)

    poison = session.scalar(select(Article.id).where(Article.title == "Poison turbine"))
    # The broken one waits for the sweep; the other eleven are matched and alerted.
    assert pipeline.pending_article_ids(session, older_than=NOW + timedelta(seconds=1)) == [poison]
    # Hits for the new stories 0, 1, 2, 4, 6, 8, 9 and 10 (5 is the broken one; 3, 7 and 11
    # are copies of 2, 6 and 10, attached to their hits), two deliveries each.
    assert session.scalar(select(func.count(Hit.id))) == 8
    assert len(deliveries) == 16


def test_a_recurring_headline_from_the_same_host_stays_in_the_batch(
    session: Session,
    settings: Settings,
    registry: WatchlistRegistry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Title-only items: a story is found by its headline, which the first one claims.
    def headline(key: str, host: str) -> ArticleData:
        item = _item(key, "Turbine maintenance schedule for the coming week", "")
        return replace(item, url=f"https://{host}.example.org/{key}")

    _run(session, registry, settings, [headline("monday", "wire")])
    # The one-article path is not needed: the same outlet repeating its headline is a new
    # story (whose claim is already held), and another outlet's copy joins the first.
    monkeypatch.setattr(pipeline, "assign_story", _never)
    ids, _, _, _ = _run(
        session, registry, settings, [headline("tuesday", "wire"), headline("copy", "other")]
    )

    assert pipeline.pending_article_ids(session, older_than=NOW + timedelta(seconds=1)) == []
    first, repeat, copy = session.scalars(select(Article.story_id).order_by(Article.id)).all()
    assert repeat != first
    assert copy == first
    assert len(ids) == 2


def _never(*args: Any, **kwargs: Any) -> int:
    raise AssertionError("the batch fell back to one article at a time")


def _watchlist(session: Session, settings: Settings, text: str) -> WatchlistRegistry:
    """A registry with only the watchlist 'turbines' written as *text*."""
    (settings.watchlists / "turbines.yaml").write_text(text, encoding="utf-8")
    registry = WatchlistRegistry(settings.watchlists)
    pipeline.sync_registry(session, registry, force=True)
    session.commit()
    return registry


THROTTLED = 'query: turbine\nthrottle: 3/hour\nalerts:\n  - console: true\n  - slack: "#desk"\n'
DIGEST = 'query: turbine\nalerts:\n  - slack: "#desk"\n    digest: hourly\n'


def _turbines(n: int, tag: str) -> list[ArticleData]:
    return [
        _item(f"{tag}-{i}", f"Story {tag} {i} about the turbine", "turbine " + _body(f"{tag}{i}"))
        for i in range(n)
    ]


def test_a_throttled_watchlist_sends_its_limit_and_sums_up_the_rest_of_the_batch(
    session: Session, settings: Settings, registry: WatchlistRegistry
) -> None:
    registry = _watchlist(session, settings, THROTTLED)
    _ids, deliveries, _, _ = _run(session, registry, settings, _turbines(10, "t"))

    hits = session.execute(select(Hit.id, Hit.not_alerted).order_by(Hit.id)).all()
    assert [reason for _, reason in hits] == [None] * 3 + ["throttled"] * 7
    # The first three alerted at once, to both destinations.
    assert len(deliveries) == 6
    # The other seven wait in one summary per destination until the window ends.
    summaries = session.scalars(select(Delivery).where(Delivery.kind == "throttle")).all()
    assert sorted(d.destination for d in summaries) == ["console", "slack:#desk"]
    for summary in summaries:
        carried = session.scalars(
            select(DeliveryHit.hit_id).where(DeliveryHit.delivery_id == summary.id)
        ).all()
        assert sorted(carried) == [hit_id for hit_id, _ in hits[3:]]
        assert summary.status == "scheduled"


def test_a_digest_watchlist_gathers_the_batch_into_one_digest(
    session: Session, settings: Settings, registry: WatchlistRegistry
) -> None:
    registry = _watchlist(session, settings, DIGEST)
    _run(session, registry, settings, _turbines(6, "a"))
    _, deliveries, _, _ = _run(session, registry, settings, _turbines(5, "b"))

    assert deliveries == []
    (digest,) = session.scalars(select(Delivery)).all()
    assert digest.kind == "digest" and digest.status == "scheduled"
    carried = session.scalar(
        select(func.count()).select_from(DeliveryHit).where(DeliveryHit.delivery_id == digest.id)
    )
    assert carried == 11


@pytest.mark.parametrize("text", [THROTTLED, DIGEST], ids=["throttle", "digest"])
def test_throttles_and_digests_cost_statements_per_batch_not_per_article(
    session: Session, settings: Settings, registry: WatchlistRegistry, text: str
) -> None:
    registry = _watchlist(session, settings, text)
    # The window's summary, or the period's digest, exists already: the usual case.
    _run(session, registry, settings, _turbines(5, "first"))
    _, _, _, ten = _run(session, registry, settings, _turbines(10, "ten"))
    _, _, _, hundred = _run(session, registry, settings, _turbines(100, "hundred"))
    assert ten == hundred <= 25, (ten, hundred)
    assert session.scalar(select(func.count(Hit.id))) == 115


def test_a_snoozed_watchlists_batch_goes_into_the_snooze_summary(
    session: Session, settings: Settings, registry: WatchlistRegistry
) -> None:
    # Snoozed at every destination an hour before the batch: nothing goes out now; each new
    # hit waits in the snooze's summary for each destination.
    snooze(session, "turbines", EVERY_DESTINATION, timedelta(hours=1), who="ada", now=NOW)
    session.commit()
    ids, deliveries, _, _ = _run(session, registry, settings, _batch(8, tag="z", known=[]))

    assert deliveries == []
    hits = session.scalars(select(Hit).where(Hit.article_id.in_(ids))).all()
    assert len(hits) == 2
    kinds = session.scalars(select(Delivery.kind).distinct()).all()
    assert kinds == [DeliveryKind.SNOOZE]
    held = session.scalar(select(func.count()).select_from(DeliveryHit))
    assert held == 2 * 2  # two hits, each held for console and Slack


def test_a_muted_story_owes_nothing_even_after_its_story_window(
    session: Session, settings: Settings, registry: WatchlistRegistry
) -> None:
    first = _item("m-0", "Turbine blade cracks at the offshore farm", "turbine " + _body("m"))
    ids, deliveries, _, _ = _run(session, registry, settings, [first])
    assert len(deliveries) == 2
    hit = session.scalars(select(Hit).where(Hit.article_id == ids[0])).one()
    mute_story(session, hit, who="ada", now=NOW)
    # The hit falls out of the story window, so a later copy is a new hit of the story, not
    # a thread reply: it must still be silent, because the story is muted.
    hit.created_at = NOW - timedelta(hours=settings.story_window_hours + 1)
    session.commit()

    copy = replace(first, identity=hashlib.sha256(b"m-1").hexdigest(), url="https://m1.example")
    later, deliveries, _, _ = _run(session, registry, settings, [copy])

    assert deliveries == []
    again = session.scalars(select(Hit).where(Hit.article_id == later[0])).one()
    assert again.story_id == hit.story_id
    assert again.not_alerted == NotAlerted.MUTED
