"""A whole batch of new articles put into stories in a fixed number of statements, however
many articles the batch holds.

:func:`assign_stories` applies the same rules as :func:`monitor.clustering.assign.assign_story`
(near-duplicates first, then the same headline from a new host, only within the window), but
decides every article in memory first and writes afterwards: one read of the stories added
since the last call, one read of the hosts already in the stories a headline could join, one
INSERT of the new stories, one INSERT of their claims, one UPDATE of the joined stories'
counts and one UPDATE of the articles' ``story_id``. Copies inside the batch join the story an
earlier article of the same batch started, as they would one by one.

A claim of a new story that another story holds is mostly one the batch saw and rightly did
not join (the same headline from the same host, a MinHash value shared by chance): the new
story goes on without it, as one by one, at the cost of two more statements for the whole
batch. Two cases only the one-article path handles, because they need a decision made again
after reading the database: a story the batch meant to join was deleted by retention
meanwhile, or the claim's holder is a story the new one should have joined (another worker
started the same story at the same moment). Both raise :class:`OneByOne`; the caller rolls
the batch back and assigns its articles one at a time. Both are rare: the first needs a
prune mid-batch, the second two workers with copies of one story in the same second.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

import numpy as np
from sqlalchemy import Table, case, func, select, text, tuple_, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from monitor.bulk import insert_rows
from monitor.clustering.assign import _host, _own_candidates, _unique, claim_keys
from monitor.clustering.fingerprints import (
    NUM_PERM,
    Fingerprint,
    article_fingerprint,
    by_similarity,
    near_duplicate,
    normalised_title,
    same_headline,
    signature_array,
)
from monitor.clustering.pending import pending_stories
from monitor.clustering.shared import shared_index
from monitor.config import Settings
from monitor.metrics import STORY_ASSIGNMENT_SECONDS, STORY_ASSIGNMENTS
from monitor.models import Article, Story, StoryKey

__all__ = ["OneByOne", "assign_stories"]

_STORIES = cast(Table, Story.__table__)
_ARTICLES = cast(Table, Article.__table__)
# Stories this batch starts are named by a number above any real id until they are inserted,
# so they sort after every stored story ('ties: the oldest') and after each other in order.
_VIRTUAL = 1 << 62


class OneByOne(Exception):
    """The batch needs a decision only the one-article path can make: roll back, assign one
    article at a time."""


@dataclass(slots=True)
class _NewStory:
    fp: Fingerprint
    title: str
    hosts: set[str | None] = field(default_factory=set)
    articles: list[Article] = field(default_factory=list)

    @property
    def signature(self) -> np.ndarray[Any, np.dtype[np.uint32]] | None:
        return None if self.fp.is_short else self.fp.hashvalues


class _BatchStories:
    """The stories this batch starts, compared with each next article the way
    :func:`near_duplicate` and :func:`same_headline` compare one pair, but all at once: their
    signatures sit in one array, so an article costs one vectorised comparison instead of one
    call per story (a poll of 500 new stories would otherwise cost 125,000 calls)."""

    def __init__(self) -> None:
        self._signatures = np.empty((16, NUM_PERM), dtype=np.uint32)
        self._long: list[int] = []  # the row of each long story: its index in the batch
        self._count = 0
        # Normalised headline -> (index, whether the story is short), for rule 3.
        self._titles: dict[str, list[tuple[int, bool]]] = {}

    def add(self, fp: Fingerprint) -> None:
        index = self._count
        self._count += 1
        if not fp.is_short:
            if len(self._long) == len(self._signatures):
                self._signatures = np.concatenate(
                    [self._signatures, np.empty_like(self._signatures)]
                )
            self._signatures[len(self._long)] = fp.hashvalues
            self._long.append(index)
        self._titles.setdefault(fp.title_key, []).append((index, fp.is_short))

    def candidates(
        self, fp: Fingerprint, *, threshold: float
    ) -> tuple[list[tuple[float, int]], list[int]]:
        """(similarity, story) of the near-duplicates of *fp*, and the stories it may join by
        its headline, stories named ``_VIRTUAL`` + their index in the batch."""
        similar: list[tuple[float, int]] = []
        if not fp.is_short and self._long:
            same = np.count_nonzero(self._signatures[: len(self._long)] == fp.hashvalues, axis=1)
            for row in np.flatnonzero(same >= threshold * NUM_PERM - 1).tolist():
                # As Fingerprint.jaccard computes it, so the threshold cuts exactly as there.
                similarity = float(same[row]) / NUM_PERM
                if similarity >= threshold:
                    similar.append((similarity, _VIRTUAL + self._long[row]))
        titled: list[int] = []
        if fp.title_can_match:
            # Rule 3 pairs a short item with any story, and a long one with short stories only.
            titled = [
                _VIRTUAL + index
                for index, short in self._titles.get(fp.title_key, ())
                if fp.is_short or short
            ]
        return similar, titled


def assign_stories(
    session: Session, articles: Sequence[Article], *, settings: Settings, now: datetime
) -> dict[int, int]:
    """Put each article of *articles* that has no story yet into one; return article id ->
    story id. Runs in the caller's transaction, does not commit, and expects the caller to
    commit before assigning anything else in it (the stories it starts are not kept among the
    transaction's pending ones)."""
    todo = [a for a in articles if a.story_id is None]
    if not todo:
        return {}
    started = time.perf_counter()
    since = now - timedelta(hours=settings.story_window_hours)
    threshold = settings.cluster_threshold
    fps = [article_fingerprint(a) for a in todo]

    pending = pending_stories(session)
    shared = shared_index(settings)
    with shared.lock:
        shared.refresh(session, since=since, skip=frozenset(p.story.id for p in pending))
        index = shared.index
        found = [
            (index.near_duplicates(fp, since=since), index.same_title(fp, since=since))
            for fp in fps
        ]
    own = [_own_candidates(pending, fp, since=since, threshold=threshold) for fp in fps]
    hosts = _story_hosts(
        session,
        {
            sid
            for (_, titled), (_, mine) in zip(found, own, strict=True)
            for sid in [*titled, *mine]
        },
    )

    new: list[_NewStory] = []
    started_here = _BatchStories()
    joins: dict[int, int] = {}  # stored story -> articles joining it
    chosen: list[int] = []  # per article: a stored story id, or _VIRTUAL + index into new
    outcomes = {"joined": 0, "new_story": 0}
    for article, fp, (similar, titled), (own_similar, own_titled) in zip(
        todo, fps, found, own, strict=True
    ):
        batch_similar, batch_titled = started_here.candidates(fp, threshold=threshold)
        near = [
            sid for _, sid in sorted([*similar, *own_similar, *batch_similar], key=by_similarity)
        ]
        ordered = _unique([*near, *sorted([*titled, *own_titled, *batch_titled])])
        host = _host(article.url)
        target: int | None = None
        for sid in ordered:
            known = new[sid - _VIRTUAL].hosts if sid >= _VIRTUAL else hosts.setdefault(sid, set())
            if sid in near or host is None or host not in known:
                target = sid
                known.add(host)
                break
        if target is None:
            target = _VIRTUAL + len(new)
            new.append(_NewStory(fp, article.title, {host}))
            started_here.add(fp)
            outcomes["new_story"] += 1
        else:
            outcomes["joined"] += 1
        if target >= _VIRTUAL:
            new[target - _VIRTUAL].articles.append(article)
        else:
            joins[target] = joins.get(target, 0) + 1
        chosen.append(target)

    story_ids = _insert_stories(session, new, since=since, now=now, threshold=threshold)
    _count_joins(session, joins)
    assigned: dict[int, int] = {}
    for article, target in zip(todo, chosen, strict=True):
        assigned[article.id] = story_ids[target - _VIRTUAL] if target >= _VIRTUAL else target
        # The caller writes story_id with the batch's other article columns, in one UPDATE;
        # the object learns it now, without a flush.
        set_committed_value(article, "story_id", assigned[article.id])

    per_article = (time.perf_counter() - started) / len(todo)
    for outcome, count in outcomes.items():
        if count:
            STORY_ASSIGNMENTS.labels(outcome=outcome).inc(count)
    for _ in todo:
        STORY_ASSIGNMENT_SECONDS.observe(per_article)
    return assigned


def _story_hosts(session: Session, story_ids: set[int]) -> dict[int, set[str | None]]:
    """The hosts of each story's articles, for rule 3 (one statement for all of them)."""
    hosts: dict[int, set[str | None]] = {sid: set() for sid in story_ids}
    if story_ids:
        rows = session.execute(
            select(Article.story_id, Article.url).where(Article.story_id.in_(sorted(story_ids)))
        )
        for story_id, url in rows:
            if story_id is not None:
                hosts[story_id].add(_host(url))
    return hosts


def _insert_stories(
    session: Session,
    new: list[_NewStory],
    *,
    since: datetime,
    now: datetime,
    threshold: float,
) -> list[int]:
    """Insert the batch's new stories, each counting its articles, and claim their keys;
    return their ids in order. A claim held by a story a new one should join raises
    :class:`OneByOne` (:func:`_settle`)."""
    if not new:
        return []
    rows = [
        {
            "first_seen_at": now,
            "title": story.title,
            "article_count": len(story.articles),
            "signature": None if story.fp.is_short else story.fp.signature(),
        }
        for story in new
    ]
    ids = _story_ids(session, len(rows))
    owner = dict(zip(ids, new, strict=True))
    for story_id, row in zip(ids, rows, strict=True):
        row["id"] = story_id
    insert_rows(session, _STORIES, rows)
    # Each key once: two new stories of one batch that share a key by chance (they were not
    # the same story, or they would have joined) leave it to the first, as one by one the
    # second would lose it and keep its own story. Sorted, so workers lock keys in one order.
    claims: dict[tuple[int, int], int] = {}
    for story_id, story in zip(ids, new, strict=True):
        for claim in story.fp.claim_keys():
            claims.setdefault(claim, story_id)
    if claims:
        won = set(claim_keys(session, sorted(claims.items()), seen=now, since=since))
        lost = {claim: story_id for claim, story_id in claims.items() if claim not in won}
        if lost:
            _settle(session, lost, owner, since=since, threshold=threshold)
    return ids


def _settle(
    session: Session,
    lost: dict[tuple[int, int], int],
    owner: dict[int, _NewStory],
    *,
    since: datetime,
    threshold: float,
) -> None:
    """Claims of the batch's new stories that another story holds. Mostly a story the batch
    saw and rightly did not join (the same headline from the same host, a key shared by
    chance): the new story keeps going without that claim, as one by one. A holder the new
    story would have joined was started by another worker meanwhile: :class:`OneByOne`, whose
    path joins it. Two statements for all of them: the holders, and their hosts."""
    holders = session.execute(
        select(StoryKey.band, StoryKey.key, Story.id, Story.title, Story.signature)
        .join(Story, Story.id == StoryKey.story_id)
        .where(tuple_(StoryKey.band, StoryKey.key).in_(sorted(lost)), Story.first_seen_at >= since)
    ).all()
    titled: list[tuple[_NewStory, int]] = []
    for band, key, holder, title, signature in holders:
        story = owner[lost[(band, key)]]
        hashvalues = signature_array(signature)
        if near_duplicate(story.fp, hashvalues, threshold=threshold) is not None:
            raise OneByOne("another worker started the same story at the same moment")
        if same_headline(story.fp, normalised_title(title), hashvalues):
            titled.append((story, holder))
    if titled:
        hosts = _story_hosts(session, {holder for _, holder in titled})
        for story, holder in titled:
            if (
                _host(story.articles[0].url) not in hosts[holder]
                or _host(story.articles[0].url) is None
            ):
                raise OneByOne("another worker started a story with the same headline")


def _story_ids(session: Session, count: int) -> list[int]:
    """Ids for *count* new stories, taken before the INSERT so each story is known by its id
    in one multi-row statement (RETURNING in the order of the rows would cost SQLite one
    statement per row)."""
    if session.get_bind().dialect.name == "postgresql":
        sequence = "pg_get_serial_sequence('stories', 'id')"
        taken = session.execute(
            text(f"SELECT nextval({sequence}) FROM generate_series(1, :n)"), {"n": count}
        )
        return sorted(int(value) for value in taken.scalars())
    # SQLite: the batch's claim was a write, so this transaction holds the database's one
    # write lock until it commits and no other writer can take these ids meanwhile; they are
    # the ones SQLite would give itself (the largest id plus one, and on).
    top = session.execute(select(func.max(_STORIES.c.id))).scalar() or 0
    return list(range(top + 1, top + 1 + count))


def _count_joins(session: Session, joins: dict[int, int]) -> None:
    """Add the batch's articles to the stored stories they joined: one atomic increment per
    story in one statement (two workers adding copies at once must both count). A story that
    is gone (retention removed it) raises :class:`OneByOne`."""
    if not joins:
        return
    statement = (
        update(_STORIES)
        .where(_STORIES.c.id.in_(sorted(joins)))
        .values(article_count=_STORIES.c.article_count + case(joins, value=_STORIES.c.id))
        .returning(_STORIES.c.id)
    )
    updated = set(session.execute(statement).scalars())
    if len(updated) < len(joins):
        raise OneByOne("a story was removed while the batch joined it")
    for story_id in joins:
        story = session.identity_map.get(session.identity_key(Story, story_id))
        if story is not None:
            # The UPDATE went around the ORM: a loaded Story must re-read its count.
            session.expire(story, ["article_count"])
