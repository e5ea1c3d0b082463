"""Hits recorded without alerts: old news, a new feed's backlog, and the throttle's reason.

Each hit is stored with its match; what changes is whether it owes deliveries, and
``hits.not_alerted`` says why not. On SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.alerts.record import record_hits
from monitor.config import Settings
from monitor.models import Delivery, Hit
from monitor.states import NotAlerted
from tests.alerts.conftest import NOW, Result, World, alerts

HOUR = timedelta(hours=1)


def _deliveries(session: Session) -> int:
    return int(session.scalar(select(func.count(Delivery.id))) or 0)


@pytest.mark.parametrize(
    ("published", "first_seen", "reason"),
    [
        (NOW - 47 * HOUR, NOW - 47 * HOUR, None),
        (NOW - 49 * HOUR, NOW - 49 * HOUR, NotAlerted.TOO_OLD),
        # Years old, seen only now (a feed that re-lists its archive): still old news.
        (datetime(2016, 5, 4, tzinfo=NOW.tzinfo), NOW, NotAlerted.TOO_OLD),
        # No date: its age runs from when it was first seen.
        (None, NOW - 10 * HOUR, None),
        (None, NOW - 72 * HOUR, NotAlerted.TOO_OLD),
        # A date in the future counts as first seen: a wrong clock cannot make old news fresh.
        (NOW + 500 * HOUR, NOW - 72 * HOUR, NotAlerted.TOO_OLD),
        (NOW + 500 * HOUR, NOW - HOUR, None),
    ],
    ids=[
        "47h-alerted",
        "49h-too-old",
        "2016-seen-now",
        "undated-fresh",
        "undated-old",
        "future-date-seen-long-ago",
        "future-date-seen-now",
    ],
)
def test_it_alerts_only_articles_younger_than_the_max_age(
    session: Session,
    settings: Settings,
    world: World,
    published: datetime | None,
    first_seen: datetime,
    reason: NotAlerted | None,
) -> None:
    spec = world.watchlist("floods", alerts=alerts("slack:#desk", "email:a@example.org"))
    article = world.article(published_at=published, first_seen_at=first_seen)

    sent = world.hit(spec, article, settings=settings, now=NOW)

    hit = session.scalars(select(Hit)).one()
    assert hit.not_alerted == reason
    assert len(sent) == (0 if reason else 2)
    assert _deliveries(session) == len(sent)


def test_it_reads_the_max_age_from_the_setting(
    session: Session, settings: Settings, world: World
) -> None:
    spec = world.watchlist("floods")
    strict = settings.model_copy(update={"alert_max_age": 3600})
    fresh = world.article(published_at=NOW - timedelta(minutes=59))
    stale = world.article(published_at=NOW - timedelta(minutes=61))

    assert len(world.hit(spec, fresh, settings=strict, now=NOW)) == 1
    assert world.hit(spec, stale, settings=strict, now=NOW) == []
    reasons = session.scalars(select(Hit.not_alerted).order_by(Hit.id)).all()
    assert reasons == [None, NotAlerted.TOO_OLD]


def test_it_records_a_new_feeds_backlog_without_alerts(
    session: Session, settings: Settings, world: World
) -> None:
    spec = world.watchlist("floods", alerts=alerts("slack:#desk"), throttle="10/hour")
    backlog = world.article(published_at=NOW - HOUR, first_poll=True)
    fresh = world.article(published_at=NOW)

    assert world.hit(spec, backlog, settings=settings, now=NOW) == []
    assert len(world.hit(spec, fresh, settings=settings, now=NOW)) == 1

    rows = session.execute(select(Hit.article_id, Hit.not_alerted).order_by(Hit.id)).all()
    assert rows == [(backlog.id, NotAlerted.FIRST_POLL), (fresh.id, None)]
    # No summary, no digest place either: the backlog owes nothing at all.
    assert _deliveries(session) == 1


def test_it_calls_an_old_article_too_old_even_in_a_first_poll(
    session: Session, settings: Settings, world: World
) -> None:
    spec = world.watchlist("floods")
    article = world.article(published_at=NOW - 400 * 24 * HOUR, first_poll=True)
    world.hit(spec, article, settings=settings, now=NOW)
    assert session.scalars(select(Hit.not_alerted)).one() == NotAlerted.TOO_OLD


def test_it_says_throttled_for_hits_in_the_summary_and_counts_no_silent_hit(
    session: Session, settings: Settings, world: World
) -> None:
    spec = world.watchlist("floods", alerts=alerts("slack:#desk"), throttle="2/hour")
    # A new feed's backlog of five in the same hour uses none of the throttle's limit.
    for n in range(5):
        backlog = world.article(f"Backlog {n}", published_at=NOW - HOUR, first_poll=True)
        world.hit(spec, backlog, settings=settings, now=NOW + timedelta(minutes=n))
    sent = [
        world.hit(spec, f"Fresh {n}", settings=settings, now=NOW + timedelta(minutes=10 + n))
        for n in range(3)
    ]

    assert [len(ids) for ids in sent] == [1, 1, 0]
    reasons = session.scalars(select(Hit.not_alerted).order_by(Hit.id)).all()
    assert reasons == [NotAlerted.FIRST_POLL] * 5 + [None, None, NotAlerted.THROTTLED]
    summary = session.scalars(select(Delivery).where(Delivery.kind == "throttle")).one()
    assert [link.hit.not_alerted for link in summary.hits] == [NotAlerted.THROTTLED]


def test_it_alerts_the_first_fresh_copy_of_a_story_known_only_from_a_backlog(
    session: Session, settings: Settings, world: World
) -> None:
    spec = world.watchlist("floods", alerts=alerts("slack:#desk"), escalate_at=2)
    story = world.story()
    backlog = world.article("Copy A", story_id=story, first_poll=True)
    old_copy = world.article("Copy B", story_id=story, first_poll=True)
    fresh = world.article("Copy C", story_id=story, feed=world.feed_named("Wire C"))
    later = world.article("Copy D", story_id=story, feed=world.feed_named("Wire D"))

    assert world.hit(spec, backlog, settings=settings, now=NOW) == []
    # Another copy in a backlog joins the silent hit: counted, with no escalation.
    assert world.hit(spec, old_copy, settings=settings, now=NOW) == []
    # The first fresh copy is news to the reader: a hit and an alert of its own...
    assert len(world.hit(spec, fresh, settings=settings, now=NOW + HOUR)) == 1
    # ...and the next copy joins that alerted hit (escalate_at 2: one escalation).
    escalation = world.hit(spec, later, settings=settings, now=NOW + 2 * HOUR)

    hits = session.scalars(select(Hit).order_by(Hit.id)).all()
    assert [(h.article_id, h.not_alerted, h.source_count) for h in hits] == [
        (backlog.id, NotAlerted.FIRST_POLL, 2),
        (fresh.id, None, 2),
    ]
    kinds = session.scalars(select(Delivery.kind).where(Delivery.id.in_(escalation))).all()
    assert kinds == ["escalation"]


def test_it_sends_no_reply_or_escalation_for_an_old_copy_of_an_alerted_story(
    session: Session, settings: Settings, world: World
) -> None:
    spec = world.watchlist("floods", alerts=alerts("slack:#desk"), escalate_at=2)
    story = world.story()
    first = world.article("Copy A", story_id=story)
    stale = world.article("Copy B", story_id=story, published_at=NOW - 100 * HOUR)

    assert len(world.hit(spec, first, settings=settings, now=NOW)) == 1
    assert world.hit(spec, stale, settings=settings, now=NOW + HOUR) == []

    hit = session.scalars(select(Hit)).one()
    assert (hit.source_count, hit.escalated_at) == (2, None)
    assert _deliveries(session) == 1


def test_it_stores_the_matchers_score_and_refuses_one_that_cannot_be_sorted(
    session: Session, settings: Settings, world: World
) -> None:
    specs = {"floods": world.watchlist("floods"), "fires": world.watchlist("fires")}
    article = world.article()
    results = [Result("floods", score=0.75), Result("fires", score=float("nan"))]
    record_hits(session, article, results, watchlists=specs, settings=settings, now=NOW)
    session.commit()
    session.expire_all()
    scores = dict(session.execute(select(Hit.watchlist_id, Hit.score)).all())
    assert scores == {"floods": 0.75, "fires": 0.0}
