"""assign_story against a real database (SQLite and PostgreSQL): joining, creating, the
title rule for short items, the window, restarts, other workers and rolled-back work."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from monitor import db as storage
from monitor.clustering import (
    NUM_PERM,
    assign_story,
    fingerprint,
    reset_story_indexes,
    warm_story_index,
)
from monitor.config import Settings
from monitor.models import Article, Story
from tests.clustering.conftest import add_article
from tests.clustering.texts import FLOOD, FLOOD_OTHER, cut, with_byline, with_edits

TITLE = "Floods hit Abeokuta after Ogun river bursts its banks"
NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def _other_session(settings: Settings) -> Session:
    """A second worker: its own session on the same database."""
    return storage.sessionmaker_for(settings)()


def test_it_puts_near_duplicates_from_other_outlets_into_one_story(
    session: Session, settings: Settings
) -> None:
    bodies = [FLOOD, with_byline(FLOOD), with_edits(FLOOD)]
    ids = []
    for n, body in enumerate(bodies):
        article = add_article(session, title=TITLE, body=body, url=f"https://o{n}.example/a")
        ids.append(assign_story(session, article, settings=settings, now=NOW))
        session.commit()
    assert len(set(ids)) == 1
    story = session.get_one(Story, ids[0])
    session.refresh(story)
    assert story.article_count == 3
    assert story.title == TITLE
    assert story.first_seen_at == NOW
    stored = session.scalars(select(Article.story_id)).all()
    assert stored == [ids[0]] * 3


def test_it_keeps_other_stories_on_the_same_topic_apart(
    session: Session, settings: Settings
) -> None:
    first = add_article(session, title=TITLE, body=FLOOD)
    second = add_article(session, title="Kebbi rice farmers count flood losses", body=FLOOD_OTHER)
    a = assign_story(session, first, settings=settings, now=NOW)
    session.commit()
    b = assign_story(session, second, settings=settings, now=NOW)
    session.commit()
    assert a != b
    assert session.scalars(select(Story.article_count)).all() == [1, 1]


def test_it_stores_the_signature_so_the_index_can_be_rebuilt(
    session: Session, settings: Settings
) -> None:
    article = add_article(session, title=TITLE, body=FLOOD)
    story_id = assign_story(session, article, settings=settings, now=NOW)
    session.commit()
    story = session.get_one(Story, story_id)
    assert story.signature == fingerprint(TITLE, FLOOD).signature()
    assert len(story.signature) == NUM_PERM


def test_it_finds_stories_again_after_a_restart(session: Session, settings: Settings) -> None:
    first = add_article(session, title=TITLE, body=FLOOD)
    story_id = assign_story(session, first, settings=settings, now=NOW)
    session.commit()
    reset_story_indexes()  # a new process: the index is rebuilt from stories.signature
    copy = add_article(session, title=TITLE, body=with_byline(FLOOD))
    assert assign_story(session, copy, settings=settings, now=NOW + timedelta(hours=1)) == story_id


@pytest.mark.parametrize(
    ("hours_later", "same_story"),
    [(1, True), (71, True), (73, False), (200, False)],
    ids=["1h", "71h", "73h-past-window", "200h"],
)
def test_it_only_joins_stories_first_seen_within_the_window(
    session: Session, settings: Settings, hours_later: int, same_story: bool
) -> None:
    first = add_article(session, title=TITLE, body=FLOOD)
    story_id = assign_story(session, first, settings=settings, now=NOW)
    session.commit()
    copy = add_article(session, title=TITLE, body=with_edits(FLOOD))
    later = NOW + timedelta(hours=hours_later)
    assert (assign_story(session, copy, settings=settings, now=later) == story_id) is same_story


@pytest.mark.parametrize(
    ("threshold", "same_story"), [(0.5, True), (0.8, False)], ids=["0.5", "0.8"]
)
def test_it_uses_the_configured_threshold(
    session: Session, settings: Settings, threshold: float, same_story: bool
) -> None:
    # Cutting the text to its first two paragraphs leaves a Jaccard similarity near 0.66.
    tuned = settings.model_copy(update={"cluster_threshold": threshold})
    first = add_article(session, title=TITLE, body=FLOOD)
    story_id = assign_story(session, first, settings=tuned, now=NOW)
    session.commit()
    copy = add_article(session, title=TITLE, body=cut(FLOOD))
    assert (assign_story(session, copy, settings=tuned, now=NOW) == story_id) is same_story


def test_it_uses_the_configured_window(session: Session, settings: Settings) -> None:
    short_window = settings.model_copy(update={"story_window_hours": 2.0})
    first = add_article(session, title=TITLE, body=FLOOD)
    story_id = assign_story(session, first, settings=short_window, now=NOW)
    session.commit()
    copy = add_article(session, title=TITLE, body=with_edits(FLOOD))
    later = NOW + timedelta(hours=3)
    assert assign_story(session, copy, settings=short_window, now=later) != story_id


# (first title, first url, second title, second url, same story?) for title-only items.
TITLE_ONLY = [
    (
        "Senate passes the new electricity tariff bill",
        "https://a.example/1",
        "Senate rejects the new electricity tariff bill",
        "https://b.example/1",
        False,
    ),
    (
        "Tinubu signs minimum wage bill into law",
        "https://a.example/1",
        "Obi criticises minimum wage bill in Lagos",
        "https://b.example/1",
        False,
    ),
    (
        "Tinubu signs minimum wage bill into law",
        "https://a.example/1",
        "Tinubu signs minimum wage bill into law",
        "https://www.b.example/2",
        True,
    ),
    (
        "Tinubu signs Minimum Wage bill into law!",
        "https://a.example/1",
        "TINUBU SIGNS MINIMUM WAGE BILL INTO LAW",
        "https://b.example/2",
        True,
    ),
    (
        "Morning briefing: what you need to know",
        "https://a.example/monday",
        "Morning briefing: what you need to know",
        "https://a.example/tuesday",
        False,
    ),
    ("Live updates", "https://a.example/1", "Live updates", "https://b.example/1", False),
]


@pytest.mark.parametrize(
    ("title_a", "url_a", "title_b", "url_b", "same"),
    TITLE_ONLY,
    ids=[
        "different-six-word-headlines",
        "same-topic-headlines",
        "same-headline-two-outlets",
        "same-headline-case-and-punctuation",
        "same-headline-same-outlet-is-a-column",
        "generic-two-word-headline",
    ],
)
def test_it_merges_title_only_items_only_on_the_same_headline_from_another_outlet(
    session: Session,
    settings: Settings,
    title_a: str,
    url_a: str,
    title_b: str,
    url_b: str,
    same: bool,
) -> None:
    first = add_article(session, title=title_a, url=url_a)
    story_id = assign_story(session, first, settings=settings, now=NOW)
    session.commit()
    second = add_article(session, title=title_b, url=url_b)
    assert (assign_story(session, second, settings=settings, now=NOW) == story_id) is same
    story = session.get_one(Story, story_id)
    assert story.signature is None  # too short to be compared by text


def test_it_lets_a_title_only_item_join_a_full_story_with_that_headline(
    session: Session, settings: Settings
) -> None:
    full = add_article(session, title=TITLE, body=FLOOD, url="https://a.example/full")
    story_id = assign_story(session, full, settings=settings, now=NOW)
    session.commit()
    bare = add_article(session, title=TITLE, url="https://b.example/bare")
    assert assign_story(session, bare, settings=settings, now=NOW) == story_id


def test_it_does_not_merge_two_full_texts_by_headline_alone(
    session: Session, settings: Settings
) -> None:
    a = add_article(session, title=TITLE, body=FLOOD, url="https://a.example/1")
    b = add_article(session, title=TITLE, body=FLOOD_OTHER, url="https://b.example/1")
    first = assign_story(session, a, settings=settings, now=NOW)
    session.commit()
    assert assign_story(session, b, settings=settings, now=NOW) != first


def test_it_joins_copies_stored_in_the_same_uncommitted_transaction(
    session: Session, settings: Settings
) -> None:
    a = add_article(session, title=TITLE, body=FLOOD)
    b = add_article(session, title=TITLE, body=with_byline(FLOOD))
    c = add_article(session, title=TITLE, url="https://short.example/x")
    ids = {assign_story(session, x, settings=settings, now=NOW) for x in (a, b, c)}
    session.commit()
    assert len(ids) == 1
    assert session.scalars(select(Story.article_count)).all() == [3]


def test_it_forgets_stories_whose_transaction_rolled_back(
    session: Session, settings: Settings
) -> None:
    a = add_article(session, title=TITLE, body=FLOOD)
    assign_story(session, a, settings=settings, now=NOW)
    session.rollback()
    b = add_article(session, title=TITLE, body=with_byline(FLOOD))
    story_id = assign_story(session, b, settings=settings, now=NOW)
    session.commit()
    assert session.scalars(select(Story.id)).all() == [story_id]
    assert session.get_one(Story, story_id).article_count == 1


def test_it_forgets_stories_whose_savepoint_rolled_back(
    session: Session, settings: Settings
) -> None:
    with session.begin_nested() as savepoint:
        a = add_article(session, title=TITLE, body=FLOOD)
        assign_story(session, a, settings=settings, now=NOW)
        savepoint.rollback()
    b = add_article(session, title=TITLE, body=with_byline(FLOOD))
    story_id = assign_story(session, b, settings=settings, now=NOW)
    session.commit()
    assert session.scalars(select(Story.id)).all() == [story_id]


def test_it_sees_stories_another_worker_committed_after_its_index_loaded(
    session: Session, settings: Settings
) -> None:
    unrelated = add_article(session, title="Kebbi rice farmers count losses", body=FLOOD_OTHER)
    assign_story(session, unrelated, settings=settings, now=NOW)  # loads this process's index
    session.commit()
    with _other_session(settings) as other:
        theirs = add_article(other, title=TITLE, body=FLOOD)
        their_story = assign_story(other, theirs, settings=settings, now=NOW)
        other.commit()
    ours = add_article(session, title=TITLE, body=with_edits(FLOOD))
    assert assign_story(session, ours, settings=settings, now=NOW) == their_story


def test_it_finds_a_story_committed_after_a_later_one(session: Session, settings: Settings) -> None:
    # PostgreSQL hands out ids at insert: story 1001 can commit after 1002 has been read.
    signature = fingerprint(TITLE, FLOOD).signature()
    other_signature = fingerprint("Kebbi farmers", FLOOD_OTHER).signature()
    warm = add_article(session, title="Unrelated short item here", url="https://z.example/1")
    assign_story(session, warm, settings=settings, now=NOW)  # the index is loaded
    session.commit()
    session.add(Story(id=1000, first_seen_at=NOW, title="x", signature=other_signature))
    session.add(Story(id=1002, first_seen_at=NOW, title="y", signature=other_signature))
    session.commit()
    warm = add_article(session, title="Another unrelated short item", url="https://z.example/2")
    assign_story(session, warm, settings=settings, now=NOW)  # reads 1000 and 1002
    session.commit()
    session.add(Story(id=1001, first_seen_at=NOW, title=TITLE, signature=signature))
    session.commit()
    copy = add_article(session, title=TITLE, body=with_edits(FLOOD))
    assert assign_story(session, copy, settings=settings, now=NOW) == 1001


def test_it_starts_a_new_story_when_the_cached_one_was_deleted(
    session: Session, settings: Settings
) -> None:
    first = add_article(session, title=TITLE, body=FLOOD)
    old_story = assign_story(session, first, settings=settings, now=NOW)
    other = add_article(session, title="Kebbi rice farmers count losses", body=FLOOD_OTHER)
    assign_story(session, other, settings=settings, now=NOW)
    session.commit()
    session.execute(delete(Story).where(Story.id == old_story))
    session.commit()
    copy = add_article(session, title=TITLE, body=with_byline(FLOOD))
    new_story = assign_story(session, copy, settings=settings, now=NOW)
    session.commit()
    assert new_story != old_story
    assert session.get_one(Story, new_story).article_count == 1


def test_it_is_idempotent_for_an_article_that_has_a_story(
    session: Session, settings: Settings
) -> None:
    article = add_article(session, title=TITLE, body=FLOOD)
    first = assign_story(session, article, settings=settings, now=NOW)
    assert assign_story(session, article, settings=settings, now=NOW) == first
    session.commit()
    assert session.get_one(Story, first).article_count == 1


def test_it_counts_copies_added_by_two_workers(session: Session, settings: Settings) -> None:
    first = add_article(session, title=TITLE, body=FLOOD)
    story_id = assign_story(session, first, settings=settings, now=NOW)
    session.commit()
    with _other_session(settings) as other:
        theirs = add_article(other, title=TITLE, body=with_edits(FLOOD))
        assert assign_story(other, theirs, settings=settings, now=NOW) == story_id
        other.commit()
    ours = add_article(session, title=TITLE, body=with_byline(FLOOD))
    assert assign_story(session, ours, settings=settings, now=NOW) == story_id
    session.commit()
    session.expire_all()
    assert session.get_one(Story, story_id).article_count == 3


def test_it_can_load_the_index_before_the_first_article(
    session: Session, settings: Settings
) -> None:
    first = add_article(session, title=TITLE, body=FLOOD)
    story_id = assign_story(session, first, settings=settings, now=NOW)
    old = add_article(session, title="Kebbi rice farmers count losses", body=FLOOD_OTHER)
    assign_story(session, old, settings=settings, now=NOW - timedelta(hours=100))
    session.commit()
    reset_story_indexes()
    assert warm_story_index(settings, now=NOW) == 1  # the story from 100 h ago is outside
    copy = add_article(session, title=TITLE, body=with_byline(FLOOD))
    assert assign_story(session, copy, settings=settings, now=NOW) == story_id


def test_it_keeps_its_own_uncommitted_stories_out_of_the_shared_index(
    session: Session, settings: Settings
) -> None:
    a = add_article(session, title=TITLE, body=FLOOD)
    assign_story(session, a, settings=settings, now=NOW)
    # A second article in the same transaction: the index re-reads the table, which now
    # shows this transaction's story; it must not be taken into the shared index.
    unrelated = add_article(session, title="Kebbi rice farmers count losses", body=FLOOD_OTHER)
    assign_story(session, unrelated, settings=settings, now=NOW)
    session.rollback()
    with _other_session(settings) as other:
        copy = add_article(other, title=TITLE, body=with_byline(FLOOD))
        story_id = assign_story(other, copy, settings=settings, now=NOW)
        other.commit()
        assert other.scalars(select(Story.id)).all() == [story_id]


def test_it_shares_its_own_stories_once_committed(session: Session, settings: Settings) -> None:
    a = add_article(session, title=TITLE, body=FLOOD)
    story_id = assign_story(session, a, settings=settings, now=NOW)
    unrelated = add_article(session, title="Kebbi rice farmers count losses", body=FLOOD_OTHER)
    assign_story(session, unrelated, settings=settings, now=NOW)
    session.commit()
    with _other_session(settings) as other:
        copy = add_article(other, title=TITLE, body=with_byline(FLOOD))
        assert assign_story(other, copy, settings=settings, now=NOW) == story_id
        other.commit()


def test_it_starts_over_when_the_stories_table_was_emptied(
    session: Session, settings: Settings
) -> None:
    # A restored backup, a test database truncated between tests: ids start again at 1 and
    # the cached stories are gone. Nothing old may be joined, and new stories must be seen.
    for n in range(3):
        old = add_article(session, title=f"Old story number {n} here", body=FLOOD_OTHER * (n + 1))
        assign_story(session, old, settings=settings, now=NOW)
        session.commit()
    session.execute(delete(Article))
    session.execute(delete(Story))
    session.commit()
    first = add_article(session, title=TITLE, body=FLOOD)
    story_id = assign_story(session, first, settings=settings, now=NOW)
    session.commit()
    copy = add_article(session, title=TITLE, body=with_byline(FLOOD))
    assert assign_story(session, copy, settings=settings, now=NOW) == story_id
    session.commit()
    assert session.get_one(Story, story_id).article_count == 2


def test_it_sees_a_title_only_story_that_reuses_a_deleted_id(
    session: Session, settings: Settings
) -> None:
    old = add_article(session, title="Tinubu signs minimum wage bill into law")
    assign_story(session, old, settings=settings, now=NOW)
    session.commit()
    session.execute(delete(Article))
    session.execute(delete(Story))
    session.commit()
    first = add_article(session, title=TITLE, url="https://a.example/1")
    story_id = assign_story(session, first, settings=settings, now=NOW)
    session.commit()
    copy = add_article(session, title=TITLE, url="https://b.example/1")
    assert assign_story(session, copy, settings=settings, now=NOW) == story_id
