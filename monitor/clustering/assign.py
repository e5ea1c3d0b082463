"""Putting a newly stored article into a story: the entry point :func:`assign_story`, and the
claim that keeps two workers from starting the same story at once.

:func:`assign_story` runs in the matching transaction before the matcher, so it must be cheap:
it asks the process's shared index (:mod:`monitor.clustering.shared`) and the transaction's
own uncommitted stories (:mod:`monitor.clustering.pending`) for candidates, and joins the
best one the rules allow, or starts a new story.

Two workers that start the same story at the same moment cannot see each other's uncommitted
story. A new story therefore claims keys (its first MinHash values and its headline) in the
``story_keys`` table, whose primary key makes the second claim collide with the first: the
second worker then joins the first's story and deletes its own (:func:`_claim`).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import TextClause, bindparam, select, text, tuple_
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from monitor.cas import update_where
from monitor.clustering.fingerprints import (
    Fingerprint,
    article_fingerprint,
    by_similarity,
    near_duplicate,
    normalised_title,
    same_headline,
    signature_array,
)
from monitor.clustering.pending import PendingStory, pending_stories
from monitor.clustering.shared import shared_index
from monitor.config import Settings
from monitor.logs import get_logger
from monitor.metrics import STORY_ASSIGNMENT_SECONDS, STORY_ASSIGNMENTS
from monitor.models import Article, Story, StoryKey, UTCDateTime, utcnow

__all__ = ["assign_story"]

# The name the lines carried before clustering became a package: log filters keep working.
log = get_logger("monitor.clustering")


def assign_story(
    session: Session, article: Article, *, settings: Settings, now: datetime | None = None
) -> int:
    """Put *article* into a story (an existing near-duplicate's, or a new one) and return
    the story's id.

    Runs in the caller's transaction and does not commit: the pipeline calls it for each new
    article before matching, so the hit can carry the story. Calling it again for an article
    that already has a story changes nothing.
    """
    if article.story_id is not None:
        return article.story_id
    started = time.perf_counter()
    story_id, outcome = _assign(session, article, settings=settings, now=now or utcnow())
    STORY_ASSIGNMENTS.labels(outcome=outcome).inc()
    STORY_ASSIGNMENT_SECONDS.observe(time.perf_counter() - started)
    return story_id


def _assign(
    session: Session, article: Article, *, settings: Settings, now: datetime
) -> tuple[int, str]:
    """:func:`assign_story` itself; returns the story and how it was found (the metric's
    outcome: ``joined``, ``new_story``, or ``joined_concurrent`` when another worker started
    the same story at the same moment)."""
    since = now - timedelta(hours=settings.story_window_hours)
    fp = article_fingerprint(article)
    if article.id is None:
        session.flush()

    pending = pending_stories(session)
    shared = shared_index(settings)
    with shared.lock:
        own = frozenset(p.story.id for p in pending)
        shared.refresh(session, since=since, skip=own)
        index = shared.index
        similar = index.near_duplicates(fp, since=since)
        titled = index.same_title(fp, since=since)

    own_similar, own_titled = _own_candidates(
        pending, fp, since=since, threshold=settings.cluster_threshold
    )
    # Rule 2: near-duplicates, the most similar first (ties: the oldest); then rule 3:
    # stories by title, the oldest first.
    near = [story_id for _, story_id in sorted([*similar, *own_similar], key=by_similarity)]
    ordered = _unique([*near, *sorted([*titled, *own_titled])])
    host = _host(article.url)
    for story_id in ordered:
        if story_id not in near and not _host_is_new(session, story_id, host):
            continue
        if _join(session, article, story_id):
            log.debug("article joined story", article_id=article.id, story=story_id)
            return story_id, "joined"
        # The story is gone (retention removed it): forget it and try the next one.
        with shared.lock:
            shared.index.remove(story_id)

    story = Story(
        first_seen_at=now,
        title=article.title,
        article_count=1,
        signature=None if fp.is_short else fp.signature(),
    )
    session.add(story)
    session.flush()
    lost = _claim(session, story, fp.claim_keys(), since=since)
    if lost:
        # Another worker started a story with some of these keys after our index was read.
        for rival in _rivals(session, story, fp, lost, since=since, host=host, settings=settings):
            if _join(session, article, rival):
                session.delete(story)  # its claims go with it (ON DELETE CASCADE)
                session.flush()
                log.info("article joined a story started concurrently", article_id=article.id)
                return rival, "joined_concurrent"
    article.story_id = story.id
    session.flush()
    pending.append(PendingStory(story, fp))
    log.debug("article started a story", article_id=article.id, story=story.id)
    return story.id, "new_story"


def _claim(
    session: Session, story: Story, claims: Sequence[tuple[int, int]], *, since: datetime
) -> list[tuple[int, int]]:
    """Claim *claims* for the new *story*; return those another story in the window holds.

    A claim held by a story older than the window is taken over. On PostgreSQL a claim that
    an uncommitted transaction holds makes this insert wait until that transaction ends, so
    the rival is seen committed (or its claim is gone); SQLite runs one writer at a time.
    """
    if not claims:
        return []
    won = set(
        claim_keys(
            session, [(claim, story.id) for claim in claims], seen=story.first_seen_at, since=since
        )
    )
    return [claim for claim in claims if claim not in won]


def claim_keys(
    session: Session,
    claims: Sequence[tuple[tuple[int, int], int]],
    *,
    seen: datetime,
    since: datetime,
) -> list[tuple[int, int]]:
    """Insert each ((band, key), story) claim in one statement; return the (band, key) pairs
    won (new, or taken over from a story older than *since*)."""
    if session.get_bind().dialect.name == "postgresql":
        # One statement of a fixed text, the claims as column arrays (see monitor.bulk).
        found = session.connection().exec_driver_sql(
            _CLAIM_ARRAYS,
            (
                _naive(seen),
                [band for (band, _), _ in claims],
                [key for (_, key), _ in claims],
                [story_id for _, story_id in claims],
                _naive(since),
            ),
        )
        return [(band, key) for band, key in found]
    params: dict[str, Any] = {"seen": seen, "since": since}
    for n, ((band, key), story_id) in enumerate(claims):
        params[f"b{n}"], params[f"k{n}"], params[f"s{n}"] = band, key, story_id
    return [(band, key) for band, key in session.execute(_claim_statement(len(claims)), params)]


_POSTGRESQL = postgresql.dialect()  # type: ignore[no-untyped-call]
_CLAIM_ARRAYS = (
    "INSERT INTO story_keys (band, key, story_id, first_seen_at) "
    "SELECT v.band, v.key, v.story_id, %s FROM unnest(%b::smallint[], %b::bigint[], %b::integer[]) "
    "AS v(band, key, story_id) "
    "ON CONFLICT (band, key) DO UPDATE SET "
    "story_id = excluded.story_id, first_seen_at = excluded.first_seen_at "
    "WHERE story_keys.first_seen_at < %s "
    "RETURNING band, key"
)


def _naive(moment: datetime) -> datetime | None:
    """A timestamp as the columns store it: the column type's own rule (naive UTC)."""
    return UTCDateTime().process_bind_param(moment, _POSTGRESQL)


@functools.cache
def _claim_statement(rows: int) -> TextClause:
    # One multi-row INSERT in the syntax SQLite and PostgreSQL share, one round trip. The ORM
    # or an executemany with RETURNING spends more time in Python than the database does here.
    values = ", ".join(f"(:b{n}, :k{n}, :s{n}, :seen)" for n in range(rows))
    return text(
        "INSERT INTO story_keys (band, key, story_id, first_seen_at) "
        f"VALUES {values} "
        "ON CONFLICT (band, key) DO UPDATE SET "
        "story_id = excluded.story_id, first_seen_at = excluded.first_seen_at "
        "WHERE story_keys.first_seen_at < :since "
        "RETURNING band, key"
    ).bindparams(bindparam("seen", type_=UTCDateTime()), bindparam("since", type_=UTCDateTime()))


def _rivals(
    session: Session,
    story: Story,
    fp: Fingerprint,
    lost: Sequence[tuple[int, int]],
    *,
    since: datetime,
    host: str | None,
    settings: Settings,
) -> list[int]:
    """The stories holding *lost* claims that *fp* would have joined had the index known
    them (rules 2 and 3), best first. A band key shared by chance is no reason to join."""
    holders = select(StoryKey.story_id).where(tuple_(StoryKey.band, StoryKey.key).in_(lost))
    rows = session.execute(
        select(Story.id, Story.title, Story.signature).where(
            Story.id.in_(holders), Story.id != story.id, Story.first_seen_at >= since
        )
    )
    near: list[tuple[float, int]] = []
    titled: list[int] = []
    for story_id, title, signature in rows:
        hashvalues = signature_array(signature)
        similarity = near_duplicate(fp, hashvalues, threshold=settings.cluster_threshold)
        if similarity is not None:
            near.append((similarity, story_id))
            continue
        title_key = normalised_title(title)
        if same_headline(fp, title_key, hashvalues) and _host_is_new(session, story_id, host):
            titled.append(story_id)
    return [story_id for _, story_id in sorted(near, key=by_similarity)] + sorted(titled)


def _own_candidates(
    pending: Sequence[PendingStory], fp: Fingerprint, *, since: datetime, threshold: float
) -> tuple[list[tuple[float, int]], list[int]]:
    """Near-duplicate and same-title stories among those this transaction created."""
    near: list[tuple[float, int]] = []
    titled: list[int] = []
    for item in pending:
        if item.story.first_seen_at < since:
            continue
        similarity = near_duplicate(fp, item.signature, threshold=threshold)
        if similarity is not None:
            near.append((similarity, item.story.id))
        elif same_headline(fp, item.fp.title_key, item.signature):
            titled.append(item.story.id)
    return near, titled


def _unique(story_ids: Iterable[int]) -> list[int]:
    return list(dict.fromkeys(story_ids))


def _host(url: str | None) -> str | None:
    if not url:
        return None
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    return host.removeprefix("www.") if host else None


def _host_is_new(session: Session, story_id: int, host: str | None) -> bool:
    """Whether *host* is not yet among the story's articles (rule 3). Unknown hosts pass."""
    if host is None:
        return True
    urls = session.scalars(select(Article.url).where(Article.story_id == story_id))
    return all(_host(url) != host for url in urls)


def _join(session: Session, article: Article, story_id: int) -> bool:
    # An atomic increment: two workers adding copies at once must both count.
    if not update_where(
        session, Story, Story.id == story_id, article_count=Story.article_count + 1
    ):
        return False  # the story was pruned under us
    story = session.identity_map.get(session.identity_key(Story, story_id))
    if story is not None:
        # The UPDATE went around the ORM: a loaded Story must re-read its count.
        session.expire(story, ["article_count"])
    article.story_id = story_id
    session.flush()
    return True
