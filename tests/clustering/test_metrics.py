"""The clustering metrics move as articles are assigned."""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import REGISTRY
from sqlalchemy.orm import Session

from monitor.clustering import assign_story
from monitor.config import Settings
from monitor.metrics import exposition
from tests.clustering.conftest import add_article
from tests.clustering.texts import FLOOD, FLOOD_OTHER, with_byline

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def _assignments(outcome: str) -> float:
    value = REGISTRY.get_sample_value("monitor_story_assignments_total", {"outcome": outcome})
    return value or 0.0


def _timed() -> float:
    return REGISTRY.get_sample_value("monitor_story_assignment_seconds_count") or 0.0


def test_it_counts_assignments_by_outcome_and_times_each(
    session: Session, settings: Settings
) -> None:
    new, joined, timed = _assignments("new_story"), _assignments("joined"), _timed()
    for title, body in [
        ("Floods hit Abeokuta", FLOOD),
        ("Floods hit Abeokuta", with_byline(FLOOD)),
        ("Kebbi rice farmers count flood losses", FLOOD_OTHER),
    ]:
        assign_story(session, add_article(session, title=title, body=body), settings=settings)
        session.commit()
    assert _assignments("new_story") == new + 2
    assert _assignments("joined") == joined + 1
    assert _timed() == timed + 3


def test_it_does_not_count_an_article_that_already_has_a_story(
    session: Session, settings: Settings
) -> None:
    article = add_article(session, title="Floods hit Abeokuta", body=FLOOD)
    assign_story(session, article, settings=settings, now=NOW)
    timed = _timed()
    assign_story(session, article, settings=settings, now=NOW)
    assert _timed() == timed


def test_it_serves_the_clustering_metrics() -> None:
    text = exposition().decode()
    for name in [
        "monitor_story_assignments_total",
        "monitor_story_assignment_seconds_bucket",
        "monitor_story_index_loads_total",
    ]:
        assert name in text
