"""Two workers that store two copies of a new story at the same instant make one story.

Each worker is a separate process (its own interpreter, index and connection), as Celery
pool processes are. A barrier releases both at once, many times over, so the window between
'no story like this yet' and the commit is hit again and again.
"""

from __future__ import annotations

import multiprocessing
import random
import threading
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import REGISTRY
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from monitor import db as storage
from monitor.clustering import TITLE_BAND, assign_story, fingerprint
from monitor.config import Settings
from monitor.models import Article, Story, StoryKey
from tests.clustering.conftest import add_article
from tests.clustering.texts import FLOOD, with_byline

TITLE = "Floods hit Abeokuta after Ogun river bursts its banks"

ROUNDS = 25
NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def _copy(round_: int, worker: int) -> tuple[str, str]:
    """Round *round_*'s story as worker *worker*'s outlet carries it: a new story each round
    (its own words), copied with a byline by one outlet and with an edit by the other."""
    words = random.Random(round_).choices(FLOOD.split(), k=120)
    if worker:
        words[60] = "edited"
        return f"Story {round_} of the race", " ".join(words)
    return f"Story {round_} of the race", "By Amina Bello (AFP) " + " ".join(words)


def _assign_copies(settings_values: dict[str, Any], worker: int, barrier: Any) -> None:
    # Imported here: this runs in a spawned process.
    from monitor.config import load_settings

    settings = load_settings(**settings_values)
    make_session = storage.sessionmaker_for(settings)
    for round_ in range(ROUNDS):
        title, body = _copy(round_, worker)
        with make_session() as session:
            article = add_article(
                session, title=title, body=body, url=f"https://w{worker}.example/{round_}"
            )
            session.commit()
            barrier.wait(timeout=60)
            assign_story(session, article, settings=settings, now=NOW)
            session.commit()


def test_it_makes_one_story_of_copies_assigned_at_the_same_instant(
    session: Session, settings: Settings
) -> None:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    values = {
        "database_url": settings.database_url,
        "var_dir": settings.var_dir,
        "story_window_hours": settings.story_window_hours,
        "cluster_threshold": settings.cluster_threshold,
    }
    workers = [context.Process(target=_assign_copies, args=(values, n, barrier)) for n in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=240)
    assert [worker.exitcode for worker in workers] == [0, 0]

    stories_by_title: dict[str, set[int | None]] = defaultdict(set)
    for title, story_id in session.execute(select(Article.title, Article.story_id)):
        stories_by_title[title].add(story_id)
    assert len(stories_by_title) == ROUNDS
    split = {title: ids for title, ids in stories_by_title.items() if len(ids) != 1}
    assert split == {}
    assert session.scalar(select(func.count()).select_from(Story)) == ROUNDS


def test_it_joins_a_story_another_worker_started_after_it_looked(settings: Settings) -> None:
    """The same race, step by step in one process: worker B has read the index (no such
    story yet) when worker A's new story commits; B's claim collides with A's and B joins."""
    make_session = storage.sessionmaker_for(settings)
    with make_session() as setup:
        copy_id = add_article(setup, title=TITLE, body=with_byline(FLOOD)).id
        setup.commit()
    before = REGISTRY.get_sample_value(
        "monitor_story_assignments_total", {"outcome": "joined_concurrent"}
    )
    with make_session() as worker_a, make_session() as worker_b:
        ours = add_article(worker_a, title=TITLE, body=FLOOD)
        story_id = assign_story(worker_a, ours, settings=settings, now=NOW)
        copy = worker_b.get_one(Article, copy_id)
        looked = threading.Event()
        # B's first write comes after its index read: the moment A may commit.
        event.listen(worker_b, "before_flush", lambda *_: looked.set())
        found: list[int] = []
        worker = threading.Thread(
            target=lambda: found.append(assign_story(worker_b, copy, settings=settings, now=NOW))
        )
        worker.start()
        assert looked.wait(timeout=30)
        worker_a.commit()
        worker.join(timeout=60)
        worker_b.commit()
    assert found == [story_id]
    with make_session() as check:
        assert check.scalar(select(func.count()).select_from(Story)) == 1
        assert (
            check.scalar(
                select(func.count()).select_from(StoryKey).where(StoryKey.story_id != story_id)
            )
            == 0
        )
    after = REGISTRY.get_sample_value(
        "monitor_story_assignments_total", {"outcome": "joined_concurrent"}
    )
    assert (after or 0) == (before or 0) + 1


def test_it_takes_over_the_claims_of_a_story_that_left_the_window(
    session: Session, settings: Settings
) -> None:
    first = add_article(session, title=TITLE, body=FLOOD)
    old = assign_story(session, first, settings=settings, now=NOW - timedelta(hours=100))
    session.commit()
    copy = add_article(session, title=TITLE, body=with_byline(FLOOD))
    new = assign_story(session, copy, settings=settings, now=NOW)
    session.commit()
    assert new != old
    claims = fingerprint(TITLE, with_byline(FLOOD)).claim_keys()
    held = session.execute(select(StoryKey.band, StoryKey.key).where(StoryKey.story_id == new))
    assert sorted(tuple(row) for row in held) == claims
    # The headline claim was the old story's: taken over, not lost.
    assert claims[0][0] == TITLE_BAND
