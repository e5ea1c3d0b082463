"""One story index per process and database, kept in step with the ``stories`` table by
reading only the stories added since its high-water mark.

Each process keeps an LSH index of the stories in the window (a
:class:`~monitor.clustering.index.StoryIndex`) and on every call reads only the stories added
since its high-water mark, through the caller's session, so several workers stay in step
without talking to each other. PostgreSQL hands out ids at insert, not at commit, so an id
missing below the mark is looked for again for :data:`GAP_SECONDS`. The newest row comes back
with every read: if the table went back (a restored backup, a test database emptied), the
index starts over. After a restart the index is rebuilt from ``stories.signature``, on the
first call or at worker start (:func:`warm_story_index`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, inspect, or_, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from monitor.clustering.fingerprints import normalised_title, signature_array
from monitor.clustering.index import StoryIndex
from monitor.config import Settings
from monitor.db import get_engine
from monitor.errors import DatabaseUnavailable
from monitor.logs import get_logger
from monitor.metrics import STORY_INDEX_LOADS
from monitor.models import Story, utcnow

__all__ = [
    "BULK_LOAD",
    "GAP_SECONDS",
    "MAX_GAPS",
    "SharedIndex",
    "reset_story_indexes",
    "shared_index",
    "warm_story_index",
]

# The name the lines carried before clustering became a package: log filters keep working.
log = get_logger("monitor.clustering")

#: A load of more stories than this (a start, a long pause) is added in one sort.
BULK_LOAD = 200
#: How long an id that is missing below the high-water mark is looked for again: a story
#: inserted by a transaction that had not committed when a later one had (PostgreSQL hands out
#: ids at insert, not at commit). A transaction open longer than this is dead or rolled back.
GAP_SECONDS = 600.0
MAX_GAPS = 5000


class SharedIndex:
    """A :class:`StoryIndex` plus what is needed to load only what is new each call."""

    def __init__(self, *, threshold: float) -> None:
        self.threshold = threshold
        self.lock = threading.Lock()
        self._start_over()
        self.last_load_rows = 0
        self.last_load_seconds = 0.0

    def _start_over(self) -> None:
        self.index = StoryIndex(threshold=self.threshold)
        self.high_water = 0
        self.loaded = False
        # id -> monotonic time it was first found missing below the high-water mark.
        self.gaps: dict[int, float] = {}

    def refresh(
        self, source: Session | Engine, *, since: datetime, skip: frozenset[int] = frozenset()
    ) -> None:
        """Read the stories committed since the last call.

        *source* is the caller's session (one round trip, no second connection) or, at worker
        start, the engine. *skip* holds the stories the caller's transaction created and has
        not committed: they stay out of the shared index, which must never hold a story that
        may yet be rolled back, and are read again as gaps once committed.
        """
        started = time.perf_counter()
        self.index.evict_before(since)
        clock = time.monotonic()
        self.gaps = {i: t for i, t in self.gaps.items() if clock - t < GAP_SECONDS}
        query = select(Story.id, Story.first_seen_at, Story.title, Story.signature)
        if not self.loaded:
            query = query.where(Story.first_seen_at >= since)
        else:
            # By id only: with a first_seen_at condition too, the planner may walk that
            # index over the whole window on every call. Old rows are dropped below. The
            # newest row always comes back too: if it is below the mark, the table was
            # emptied or its newest stories deleted (SQLite then hands their ids out again),
            # and the index starts over.
            top = select(func.max(Story.id)).scalar_subquery()
            conditions = [Story.id > self.high_water, Story.id == top]
            if self.gaps:
                conditions.append(Story.id.in_(list(self.gaps)))
            query = query.where(or_(*conditions))
        seen: list[int] = []
        batch = []
        if not self.loaded:
            # Streamed: after a start the whole window is read, and a client-side cursor
            # would hold every signature as Python lists at once. Only then: a server-side
            # cursor is planned for a large result, which for 'id > :n' means a full scan.
            query = query.execution_options(yield_per=2000)
        skipped: list[int] = []
        went_back = False
        with _reading(source) as execute:
            for story_id, first_seen_at, title, signature in execute(query):
                if story_id in skip:
                    skipped.append(story_id)
                    continue
                seen.append(story_id)
                was_gap = self.gaps.pop(story_id, None) is not None
                if first_seen_at < since:
                    continue
                hashvalues = signature_array(signature)
                title_key = normalised_title(title)
                if (
                    self.loaded
                    and story_id <= self.high_water
                    and not was_gap
                    and not self.index.holds(story_id, title_key, hashvalues)
                ):
                    # A known id with other contents: the id was handed out again.
                    went_back = True
                batch.append((story_id, first_seen_at, title_key, hashvalues))
        if self.loaded and (seen or skipped) and max(seen + skipped) < self.high_water:
            went_back = True
        if went_back:
            log.info("stories table went back: reloading the story index", story=self.high_water)
            self._start_over()
            self.refresh(source, since=since, skip=skip)
            return
        if len(batch) > BULK_LOAD:
            self.index.add_many(batch)
        else:
            for story_id, first_seen_at, title_key, hashvalues in batch:
                self.index.add(
                    story_id,
                    first_seen_at=first_seen_at,
                    title_key=title_key,
                    hashvalues=hashvalues,
                )
        if not self.loaded:
            # The first load covers the whole window; from here on only newer ids.
            self.high_water = max(seen, default=0)
            self.loaded = True
            STORY_INDEX_LOADS.inc()
        elif seen:
            newest = max(seen)
            if newest > self.high_water:
                present = set(seen)
                missing = [i for i in range(self.high_water + 1, newest) if i not in present]
                for story_id in missing[:MAX_GAPS]:
                    self.gaps.setdefault(story_id, clock)
                self.high_water = newest
        for story_id in skipped:
            if story_id <= self.high_water:
                self.gaps.setdefault(story_id, clock)
        self.last_load_rows = len(seen)
        self.last_load_seconds = time.perf_counter() - started


@contextmanager
def _reading(source: Session | Engine) -> Iterator[Callable[[Any], Any]]:
    if isinstance(source, Session):
        yield source.execute
        return
    with source.connect() as connection:
        yield connection.execute


_shared: dict[tuple[str, float], SharedIndex] = {}
_shared_lock = threading.Lock()


def shared_index(settings: Settings) -> SharedIndex:
    key = (settings.sqlalchemy_url, settings.cluster_threshold)
    with _shared_lock:
        shared = _shared.get(key)
        if shared is None:
            shared = _shared[key] = SharedIndex(threshold=settings.cluster_threshold)
        return shared


def warm_story_index(settings: Settings, *, now: datetime | None = None) -> int:
    """Load the index now (at worker start), so the first article after a start does not
    wait for it; return the number of stories in the window.

    Safe to call as a process starts: an empty database gives 0. A database that has no
    ``stories`` table yet (a worker started before ``monitor db upgrade``) raises
    :class:`DatabaseUnavailable` saying so, which the start-up hook logs as one line; nothing
    is cached, so the first :func:`assign_story` after the upgrade loads the index. Its time is
    bounded by the stories in the window (about 10 s for 100,000; docs/benchmarks.md). An
    :func:`assign_story` in the same process afterwards reads only newer stories. Called
    again, it catches up the same way instead of loading everything again.
    """
    now = now or utcnow()
    engine = get_engine(settings)
    if not inspect(engine).has_table(Story.__tablename__):
        raise DatabaseUnavailable("the database has no stories table yet: run `monitor db upgrade`")
    shared = shared_index(settings)
    with shared.lock:
        shared.refresh(engine, since=now - timedelta(hours=settings.story_window_hours))
        return len(shared.index)


def reset_story_indexes() -> None:
    """Forget every process-local index (what a restart does; tests call it)."""
    with _shared_lock:
        _shared.clear()
