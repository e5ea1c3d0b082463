"""warm_story_index as a worker's start-up hook calls it: safe on a new database, counted,
and the index it loads is the one later assignments in the process use."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import inspect
from sqlalchemy.orm import Session

from monitor import db as storage
from monitor.clustering import assign_story, reset_story_indexes, warm_story_index
from monitor.config import Settings
from monitor.errors import DatabaseUnavailable
from tests.clustering.conftest import add_article
from tests.clustering.texts import FLOOD, FLOOD_OTHER, with_byline
from tests.conftest import make_settings

TITLE = "Floods hit Abeokuta after Ogun river bursts its banks"
NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def _loads() -> float:
    return REGISTRY.get_sample_value("monitor_story_index_loads_total") or 0.0


def test_it_warms_an_empty_database_to_no_stories(session: Session, settings: Settings) -> None:
    before = _loads()
    assert warm_story_index(settings, now=NOW) == 0
    article = add_article(session, title=TITLE, body=FLOOD)
    assign_story(session, article, settings=settings, now=NOW)
    session.commit()
    assert _loads() == before + 1


def test_it_explains_a_database_without_tables_and_loads_after_the_upgrade(
    tmp_path: Path,
) -> None:
    # A worker may start before `monitor db upgrade` has run: one readable error (the start-up
    # hook logs it as one line), no tables created, and nothing cached that would hide the
    # stories once the tables are there.
    settings = make_settings(tmp_path)
    with pytest.raises(DatabaseUnavailable, match="no stories table yet"):
        warm_story_index(settings, now=NOW)
    assert inspect(storage.get_engine(settings)).get_table_names() == []
    storage.upgrade(settings)
    with storage.sessionmaker_for(settings)() as session:
        first = add_article(session, title=TITLE, body=FLOOD)
        story_id = assign_story(session, first, settings=settings, now=NOW)
        session.commit()
    assert warm_story_index(settings, now=NOW) == 1
    with storage.sessionmaker_for(settings)() as session:
        copy = add_article(session, title=TITLE, body=with_byline(FLOOD))
        assert assign_story(session, copy, settings=settings, now=NOW) == story_id


def test_it_lets_later_assignments_use_the_warm_index(session: Session, settings: Settings) -> None:
    first = add_article(session, title=TITLE, body=FLOOD)
    story_id = assign_story(session, first, settings=settings)
    other = add_article(session, title="Kebbi rice farmers count flood losses", body=FLOOD_OTHER)
    assign_story(session, other, settings=settings)
    session.commit()
    reset_story_indexes()  # a new process

    before = _loads()
    assert warm_story_index(settings) == 2
    assert _loads() == before + 1
    copy = add_article(session, title=TITLE, body=with_byline(FLOOD))
    assert assign_story(session, copy, settings=settings) == story_id
    session.commit()
    assert warm_story_index(settings) == 2  # called again: it catches up, no second load
    assert _loads() == before + 1


def test_it_loads_once_when_an_article_arrives_during_the_warm_up(
    session: Session, settings: Settings
) -> None:
    first = add_article(session, title=TITLE, body=FLOOD)
    story_id = assign_story(session, first, settings=settings)
    session.commit()
    reset_story_indexes()
    before = _loads()
    # As workers/app.py does: the warm-up in a thread, a match task in the meantime.
    warming = threading.Thread(target=warm_story_index, args=(settings,))
    warming.start()
    copy = add_article(session, title=TITLE, body=with_byline(FLOOD))
    assert assign_story(session, copy, settings=settings) == story_id
    session.commit()
    warming.join(timeout=60)
    assert _loads() == before + 1
