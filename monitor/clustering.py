"""Near-duplicate stories: one story, however many outlets carry it.

A wire piece republished by a dozen outlets with a new byline, a changed word or two and a
shorter ending is a dozen articles (different URLs, different identities) but one *story*.
:func:`assign_story` puts each newly stored article into a story, so that alerting can send
one alert per story and attach the other copies to it.

How two articles are judged to be the same story (the rules, in order):

1. The text compared is the title followed by the opening of the body (the content, else the
   summary): the first :data:`OPENING_WORDS` words. Markup is stripped; text is NFKC-folded,
   lower-cased, accents removed and cut into words (letters and digits). Endings are left out
   on purpose: outlets cut wire copy from the bottom and append their own boilerplate there.
2. That word sequence is cut into overlapping :data:`SHINGLE_WORDS`-word shingles and
   summarised by a MinHash of :data:`NUM_PERM` permutations (datasketch). Two articles belong
   to one story when the Jaccard similarity of their shingle sets, estimated from the MinHash,
   is at least ``settings.cluster_threshold`` (default 0.5: two copies that were each edited
   a little are often below 0.8 against each other, while different stories share almost no
   5-word shingles; docs/clustering.md has the measurements).
   Candidates come from LSH banding tuned towards recall; every candidate is then checked
   against the threshold, and the most similar one wins (ties: the oldest).
3. An item with fewer than :data:`MIN_SHINGLES` shingles (a title-only item, a one-line
   summary) is too short for a similarity estimate: a single changed word moves it past any
   threshold, and two different six-word headlines share no shingle at all, or all of them.
   Such an item joins a story only when its normalised title is *exactly* the story's title,
   the title has at least :data:`MIN_TITLE_WORDS` words (so 'Live updates' never merges
   anything), and the article comes from a host the story does not already have (the same
   outlet repeating a headline is a recurring column, not a republished story). A long item
   with no near-duplicate may join a short story by the same title rule.
4. Only stories first seen within ``settings.story_window_hours`` (default 72) are candidates.
   After that a copy starts a new story, and so a new alert.

Exact copies (same GUID or canonical URL) never get here: ingestion stores them once.

Speed: :func:`assign_story` runs in the matching transaction before the matcher, so it must
be cheap. Each process keeps an LSH index of the stories in the window (:class:`StoryIndex`)
and on every call reads only the stories added since its high-water mark, through the caller's
session, so several workers stay in step without talking to each other. Stories this
transaction created but has not committed yet stay out of the shared index (a rollback would
leave a ghost there); they are kept beside the session and checked too.
After a restart the index is rebuilt from ``stories.signature``.

Two workers that start the same story at the same moment cannot see each other's uncommitted
story. A new story therefore claims keys (its first MinHash values and its headline) in the
``story_keys`` table, whose primary key makes the second claim collide with the first: the
second worker then joins the first's story and deletes its own (:func:`_claim`).
"""

from __future__ import annotations

import functools
import hashlib
import heapq
import re
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import numpy as np
from datasketch import MinHash
from sqlalchemy import (
    TextClause,
    bindparam,
    event,
    func,
    inspect,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from monitor.config import Settings
from monitor.db import get_engine
from monitor.entities import unescape
from monitor.errors import DatabaseUnavailable
from monitor.logs import get_logger
from monitor.metrics import STORY_ASSIGNMENT_SECONDS, STORY_ASSIGNMENTS, STORY_INDEX_LOADS
from monitor.models import Article, Story, StoryKey, UTCDateTime, utcnow

__all__ = [
    "CLAIM_VALUES",
    "MIN_SHINGLES",
    "MIN_TITLE_WORDS",
    "NUM_PERM",
    "OPENING_WORDS",
    "SHINGLE_WORDS",
    "TITLE_BAND",
    "Fingerprint",
    "StoryIndex",
    "assign_story",
    "band_shape",
    "fingerprint",
    "normalise_words",
    "reset_story_indexes",
    "warm_story_index",
]

log = get_logger(__name__)

#: Words taken from the start of the body. Long enough that a changed word or an added
#: byline moves the Jaccard similarity by a few points only, short enough that a cut ending
#: does not matter and the MinHash stays cheap. See docs/clustering.md for the measurements.
OPENING_WORDS = 100
#: Shingle length in words.
SHINGLE_WORDS = 5
#: Below this many shingles an item is 'short' and clusters by exact title only (rule 3).
MIN_SHINGLES = 20
#: A short item's title needs at least this many words to be matched at all.
MIN_TITLE_WORDS = 4
#: MinHash permutations: 128 gives a Jaccard estimate within about ±0.035 near 0.8.
NUM_PERM = 128
#: The datasketch permutation scheme, pinned: stored signatures are only comparable with
#: signatures made by the same scheme and seed.
SCHEME = "affine32"
SEED = 1
#: Candidates come from LSH banding: the signature is cut into bands of r values, and two
#: signatures that agree on a whole band are candidates. r is the largest band size that still
#: makes a pair *at* the threshold a candidate with this probability: candidates are re-checked
#: against the threshold, so a false candidate costs one comparison while a missed one is a
#: second alert for the same story.
BAND_RECALL = 0.97
#: Stories added one by one wait in small dicts; they are merged into the sorted band arrays
#: when they reach this share of the index (or MERGE_MIN), which keeps merging amortised.
MERGE_SHARE = 0.1
MERGE_MIN = 2000
#: A load of more stories than this (a start, a long pause) is added in one sort.
BULK_LOAD = 200
#: How long an id that is missing below the high-water mark is looked for again: a story
#: inserted by a transaction that had not committed when a later one had (PostgreSQL hands out
#: ids at insert, not at commit). A transaction open longer than this is dead or rolled back.
GAP_SECONDS = 600.0
MAX_GAPS = 5000

_TAG = re.compile(r"<[^>]*>")
_WORD = re.compile(r"\w+")
# Combining marks (accents, Yoruba tone marks and dots below) left separate by NFKD.
_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
_PENDING_KEY = "monitor.clustering.pending"
#: A new story claims this many of its MinHash values in ``story_keys`` (see
#: :func:`_claim`). Two texts share any one value with probability equal to their Jaccard
#: similarity, so two copies at the threshold 0.5 share at least one of 8 with probability
#: 1 - 0.5**8 = 0.996 (at 0.7: 0.99993), while unrelated stories, which share almost no
#: shingles, almost never do. Bands of several values would need many more rows per story.
CLAIM_VALUES = 8
#: The band of a headline's claim in ``story_keys`` (MinHash positions are numbered from 0).
TITLE_BAND = -1


# -- fingerprints (pure) ------------------------------------------------------------------


def normalise_words(text: str, *, limit: int | None = None) -> list[str]:
    """The words of *text*, folded so that typography and accents do not count (the first
    *limit* of them, if given)."""
    text = unescape(_TAG.sub(" ", text))
    if limit is not None:
        # Folding is per character: only fold what can hold the opening (a long article
        # is thousands of words and only the first few hundred are used).
        text = text[: limit * 16]
    text = text.casefold()
    if not text.isascii():  # most English text is: skip the per-character pass
        text = unicodedata.normalize("NFKD", text)
        text = _COMBINING.sub("", text)
    words = _WORD.findall(text)
    return words if limit is None else words[:limit]


@dataclass(frozen=True, slots=True, eq=False)
class Fingerprint:
    """What clustering knows about one article's text."""

    title_key: str  # the normalised title words joined by spaces
    title_words: int
    shingles: int  # number of distinct shingles
    hashvalues: np.ndarray[Any, np.dtype[np.uint32]] = field(repr=False)

    @property
    def is_short(self) -> bool:
        return self.shingles < MIN_SHINGLES

    def jaccard(self, other: np.ndarray[Any, np.dtype[np.uint32]]) -> float:
        """The Jaccard similarity estimated from two signatures."""
        return float(np.count_nonzero(self.hashvalues == other)) / len(self.hashvalues)

    def claim_keys(self) -> list[tuple[int, int]]:
        """The (band, key) pairs a new story with this fingerprint claims in ``story_keys``:
        the first :data:`CLAIM_VALUES` MinHash values, each on its own (band = position), and
        band :data:`TITLE_BAND` for a headline rule 3 may match. Sorted, so two workers claim
        in one order and cannot deadlock each other."""
        claims = []
        if not self.is_short:
            values = self.hashvalues[:CLAIM_VALUES].astype(np.int64).tolist()
            claims = list(enumerate(values))
        if self.title_words >= MIN_TITLE_WORDS:
            digest = hashlib.blake2b(self.title_key.encode(), digest_size=8).digest()
            claims.append((TITLE_BAND, int.from_bytes(digest, "big", signed=True)))
        return sorted(claims)

    def signature(self) -> list[int]:
        """The MinHash as a JSON-friendly list, for ``stories.signature``."""
        return [int(v) for v in self.hashvalues]


_permutations_lock = threading.Lock()
_permutations: Any = None


def _template() -> MinHash:
    # Generating the permutations is the slow part of a MinHash; do it once per process.
    global _permutations
    with _permutations_lock:
        if _permutations is None:
            _permutations = MinHash(num_perm=NUM_PERM, seed=SEED, scheme=SCHEME).permutations
    return MinHash(num_perm=NUM_PERM, permutations=_permutations, scheme=SCHEME)


def fingerprint(title: str, body: str) -> Fingerprint:
    """Fingerprint an article from its title and body (rules 1 and 2 above)."""
    title_words = normalise_words(title)
    words = title_words + normalise_words(body, limit=OPENING_WORDS)
    shingles = {
        " ".join(words[i : i + SHINGLE_WORDS]).encode()
        for i in range(len(words) - SHINGLE_WORDS + 1)
    }
    minhash = _template()
    if shingles:
        minhash.update_batch(list(shingles))
    return Fingerprint(
        title_key=" ".join(title_words),
        title_words=len(title_words),
        shingles=len(shingles),
        hashvalues=np.asarray(minhash.hashvalues, dtype=np.uint32),
    )


def article_fingerprint(article: Article) -> Fingerprint:
    body = article.content if len(article.content or "") >= len(article.summary or "") else ""
    return fingerprint(article.title or "", body or article.summary or "")


def _host(url: str | None) -> str | None:
    if not url:
        return None
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    return host.removeprefix("www.") if host else None


# -- the index of stories in the window ---------------------------------------------------


@dataclass(slots=True)
class _Entry:
    first_seen_at: datetime
    title_key: str
    hashvalues: np.ndarray[Any, np.dtype[np.uint32]] | None


def band_shape(threshold: float) -> tuple[int, int]:
    """(bands, rows per band) for *threshold*: see :data:`BAND_RECALL`."""
    for rows in range(NUM_PERM, 0, -1):
        bands = NUM_PERM // rows
        if 1 - (1 - threshold**rows) ** bands >= BAND_RECALL:
            return bands, rows
    return NUM_PERM, 1


class _Bands:
    """LSH banding over story signatures, compact enough for 100,000 stories.

    datasketch's ``MinHashLSH`` keeps a Python set and a bytes key per band and story (about
    10 KB a story at the band counts used here, a gigabyte for 100,000 stories), so the
    banding is done here with numpy: each band of a signature is hashed to one 64-bit key,
    and per band a sorted key array with the story ids beside it answers a lookup by binary
    search. New stories wait in dicts until a merge re-sorts. Removed stories are dropped at
    the next merge and filtered by the caller meanwhile.
    """

    def __init__(self, threshold: float) -> None:
        self.bands, self.rows = band_shape(threshold)
        multipliers = np.random.default_rng(20260601).integers(
            1, 2**63, size=self.rows, dtype=np.uint64
        )
        self._multipliers = multipliers | np.uint64(1)
        self._keys = np.empty((self.bands, 0), dtype=np.uint64)
        self._ids = np.empty((self.bands, 0), dtype=np.int64)
        self._recent: list[dict[int, list[int]]] = [{} for _ in range(self.bands)]
        self._recent_rows: list[tuple[int, np.ndarray[Any, np.dtype[np.uint64]]]] = []
        self._dead: set[int] = set()

    def keys(self, hashvalues: np.ndarray[Any, Any]) -> np.ndarray[Any, np.dtype[np.uint64]]:
        """One key per band: a multiply-add hash of the band's values (wrapping mod 2**64).
        Two different bands that collide only add a candidate, which is re-checked."""
        width = self.bands * self.rows
        values = np.asarray(hashvalues)[..., :width].astype(np.uint64)
        shaped = values.reshape(*values.shape[:-1], self.bands, self.rows)
        keys: np.ndarray[Any, np.dtype[np.uint64]] = (shaped * self._multipliers).sum(
            axis=-1, dtype=np.uint64
        )
        return keys

    def add(self, story_id: int, hashvalues: np.ndarray[Any, Any]) -> None:
        row = self.keys(hashvalues)
        for band, key in enumerate(row.tolist()):
            self._recent[band].setdefault(key, []).append(story_id)
        self._recent_rows.append((story_id, row))
        self._dead.discard(story_id)
        if len(self._recent_rows) >= max(MERGE_MIN, MERGE_SHARE * self._keys.shape[1]):
            self._merge([], np.empty((0, self.bands), dtype=np.uint64))

    def add_many(self, story_ids: list[int], signatures: np.ndarray[Any, Any]) -> None:
        """Add many stories at once (the first load): one sort instead of many inserts."""
        if story_ids:
            self._dead.difference_update(story_ids)
            # In slices: the keys of 100,000 signatures at once would need a few hundred
            # megabytes of temporaries.
            keys = np.concatenate(
                [self.keys(signatures[i : i + 8192]) for i in range(0, len(signatures), 8192)]
            )
            self._merge(story_ids, keys)

    def remove(self, story_id: int) -> None:
        self._dead.add(story_id)

    def _merge(self, story_ids: list[int], keys: np.ndarray[Any, Any]) -> None:
        if self._recent_rows:
            story_ids = [*story_ids, *(i for i, _ in self._recent_rows)]
            keys = np.vstack([keys, *(row for _, row in self._recent_rows)])
        ids = np.asarray(story_ids, dtype=np.int64)
        all_keys = np.concatenate([self._keys, keys.T], axis=1)
        all_ids = np.concatenate([self._ids, np.broadcast_to(ids, (self.bands, len(ids)))], axis=1)
        if self._dead:
            # Every band holds the same ids, each band in its own order.
            alive = ~np.isin(all_ids, np.fromiter(self._dead, dtype=np.int64))
            count = int(alive[0].sum())
            all_keys = all_keys[alive].reshape(self.bands, count)
            all_ids = all_ids[alive].reshape(self.bands, count)
            self._dead.clear()
        order = np.argsort(all_keys, axis=1)
        self._keys = np.take_along_axis(all_keys, order, axis=1)
        self._ids = np.take_along_axis(all_ids, order, axis=1)
        self._recent = [{} for _ in range(self.bands)]
        self._recent_rows = []

    def query(self, hashvalues: np.ndarray[Any, Any]) -> set[int]:
        row = self.keys(hashvalues)
        found: set[int] = set()
        for band, key in enumerate(row.tolist()):
            keys = self._keys[band]
            # The key as a uint64 scalar: a Python int above 2**63 would make numpy convert
            # the whole array before searching.
            low = int(np.searchsorted(keys, row[band], side="left"))
            if low < len(keys) and int(keys[low]) == key:
                high = int(np.searchsorted(keys, row[band], side="right"))
                found.update(self._ids[band, low:high].tolist())
            found.update(self._recent[band].get(key, ()))
        return found - self._dead


class StoryIndex:
    """The stories of the window in memory: an LSH index of their signatures plus a map
    from normalised title to story, with eviction by first-seen time. No database access:
    :class:`_SharedIndex` feeds it from the table."""

    def __init__(self, *, threshold: float) -> None:
        self.threshold = threshold
        self._bands = _Bands(threshold)
        self._entries: dict[int, _Entry] = {}
        self._titles: dict[str, set[int]] = {}
        self._expiry: list[tuple[datetime, int]] = []

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, story_id: object) -> bool:
        return story_id in self._entries

    def add(
        self,
        story_id: int,
        *,
        first_seen_at: datetime,
        title_key: str,
        hashvalues: np.ndarray[Any, np.dtype[np.uint32]] | None,
    ) -> None:
        if story_id in self._entries:
            return
        self._entries[story_id] = _Entry(first_seen_at, title_key, hashvalues)
        if hashvalues is not None:
            self._bands.add(story_id, hashvalues)
        if title_key:
            self._titles.setdefault(title_key, set()).add(story_id)
        heapq.heappush(self._expiry, (first_seen_at, story_id))

    def add_many(
        self,
        stories: Sequence[tuple[int, datetime, str, np.ndarray[Any, np.dtype[np.uint32]] | None]],
    ) -> None:
        """Add many (id, first seen, title key, signature) at once: the load after a start."""
        with_signature: list[int] = []
        signatures: list[np.ndarray[Any, np.dtype[np.uint32]]] = []
        for story_id, first_seen_at, title_key, hashvalues in stories:
            if story_id in self._entries:
                continue
            self._entries[story_id] = _Entry(first_seen_at, title_key, hashvalues)
            if hashvalues is not None:
                with_signature.append(story_id)
                signatures.append(hashvalues)
            if title_key:
                self._titles.setdefault(title_key, set()).add(story_id)
            self._expiry.append((first_seen_at, story_id))
        heapq.heapify(self._expiry)
        if signatures:
            self._bands.add_many(with_signature, np.stack(signatures))

    def holds(
        self,
        story_id: int,
        title_key: str,
        hashvalues: np.ndarray[Any, np.dtype[np.uint32]] | None,
    ) -> bool:
        """Whether the index has this story with this title and signature."""
        entry = self._entries.get(story_id)
        if entry is None or entry.title_key != title_key:
            return False
        if entry.hashvalues is None or hashvalues is None:
            return entry.hashvalues is None and hashvalues is None
        return bool(np.array_equal(entry.hashvalues, hashvalues))

    def remove(self, story_id: int) -> None:
        entry = self._entries.pop(story_id, None)
        if entry is None:
            return
        if entry.hashvalues is not None:
            self._bands.remove(story_id)
        ids = self._titles.get(entry.title_key)
        if ids is not None:
            ids.discard(story_id)
            if not ids:
                del self._titles[entry.title_key]

    def evict_before(self, cutoff: datetime) -> int:
        """Forget stories first seen before *cutoff*; return how many."""
        evicted = 0
        while self._expiry and self._expiry[0][0] < cutoff:
            _, story_id = heapq.heappop(self._expiry)
            if story_id in self._entries:
                self.remove(story_id)
                evicted += 1
        return evicted

    def near_duplicates(self, fp: Fingerprint, *, since: datetime) -> list[tuple[float, int]]:
        """Stories whose signature is within the threshold of *fp*, most similar first."""
        if fp.is_short:
            return []
        found = []
        for story_id in self._bands.query(fp.hashvalues):
            entry = self._entries.get(story_id)
            if entry is None:
                continue
            if entry.first_seen_at < since or entry.hashvalues is None:
                continue
            similarity = fp.jaccard(entry.hashvalues)
            if similarity >= self.threshold:
                found.append((similarity, story_id))
        found.sort(key=_by_similarity)
        return found

    def same_title(self, fp: Fingerprint, *, since: datetime) -> list[int]:
        """Stories with exactly this title that rule 3 allows *fp* to join (oldest first).

        A short item may join any story by title; a long item only a short story (two long
        texts are compared by their text, not their headline).
        """
        if fp.title_words < MIN_TITLE_WORDS:
            return []
        found = []
        for story_id in self._titles.get(fp.title_key, ()):
            entry = self._entries[story_id]
            if entry.first_seen_at < since:
                continue
            if fp.is_short or entry.hashvalues is None:
                found.append(story_id)
        return sorted(found)


# -- the process-wide index, kept in step with the table ----------------------------------


class _SharedIndex:
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
                hashvalues = _signature_array(signature)
                title_key = " ".join(normalise_words(title or ""))
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


def _signature_array(signature: Any) -> np.ndarray[Any, np.dtype[np.uint32]] | None:
    # Signatures made with other parameters (an older NUM_PERM) cannot be compared: such a
    # story is still found by its title, and ages out of the window.
    if not isinstance(signature, list) or len(signature) != NUM_PERM:
        return None
    return np.asarray(signature, dtype=np.uint32)


_shared: dict[tuple[str, float], _SharedIndex] = {}
_shared_lock = threading.Lock()


def _shared_index(settings: Settings) -> _SharedIndex:
    key = (settings.sqlalchemy_url, settings.cluster_threshold)
    with _shared_lock:
        shared = _shared.get(key)
        if shared is None:
            shared = _shared[key] = _SharedIndex(threshold=settings.cluster_threshold)
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
    shared = _shared_index(settings)
    with shared.lock:
        shared.refresh(engine, since=now - timedelta(hours=settings.story_window_hours))
        return len(shared.index)


def reset_story_indexes() -> None:
    """Forget every process-local index (what a restart does; tests call it)."""
    with _shared_lock:
        _shared.clear()


# -- stories created by the caller's transaction, not yet committed -----------------------


@dataclass(slots=True)
class _Pending:
    story: Story
    fp: Fingerprint


def _pending(session: Session) -> list[_Pending]:
    pending: list[_Pending] | None = session.info.get(_PENDING_KEY)
    if pending is None:
        pending = session.info[_PENDING_KEY] = []

        # Once committed they are in the table and the shared index will read them.
        def _clear(_session: Session) -> None:
            session.info.get(_PENDING_KEY, []).clear()

        event.listen(session, "after_commit", _clear)
        event.listen(session, "after_rollback", _clear)
    # A story whose savepoint was rolled back is no longer persistent: drop it.
    pending[:] = [p for p in pending if inspect(p.story).persistent]
    return pending


# -- the entry point ----------------------------------------------------------------------


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

    pending = _pending(session)
    shared = _shared_index(settings)
    with shared.lock:
        own = frozenset(p.story.id for p in pending)
        shared.refresh(session, since=since, skip=own)
        index = shared.index
        similar = index.near_duplicates(fp, since=since)
        titled = index.same_title(fp, since=since)

    own_similar, own_titled = _own_candidates(
        pending, fp, since=since, threshold=settings.cluster_threshold
    )
    # Rule 5: the most similar first (ties: the oldest), then stories by title.
    near = [story_id for _, story_id in sorted([*similar, *own_similar], key=_by_similarity)]
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
    pending.append(_Pending(story, fp))
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
    params: dict[str, Any] = {"story": story.id, "seen": story.first_seen_at, "since": since}
    for n, (band, key) in enumerate(claims):
        params[f"b{n}"], params[f"k{n}"] = band, key
    won = {(band, key) for band, key in session.execute(_claim_statement(len(claims)), params)}
    return [claim for claim in claims if claim not in won]


@functools.cache
def _claim_statement(rows: int) -> TextClause:
    # One multi-row INSERT in the syntax SQLite and PostgreSQL share, one round trip. The ORM
    # or an executemany with RETURNING spends more time in Python than the database does here.
    values = ", ".join(f"(:b{n}, :k{n}, :story, :seen)" for n in range(rows))
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
        hashvalues = _signature_array(signature)
        if hashvalues is not None and not fp.is_short:
            similarity = fp.jaccard(hashvalues)
            if similarity >= settings.cluster_threshold:
                near.append((similarity, story_id))
                continue
        if (
            (fp.is_short or hashvalues is None)
            and fp.title_words >= MIN_TITLE_WORDS
            and " ".join(normalise_words(title or "")) == fp.title_key
            and _host_is_new(session, story_id, host)
        ):
            titled.append(story_id)
    return [story_id for _, story_id in sorted(near, key=_by_similarity)] + sorted(titled)


def _own_candidates(
    pending: Sequence[_Pending], fp: Fingerprint, *, since: datetime, threshold: float
) -> tuple[list[tuple[float, int]], list[int]]:
    """Near-duplicate and same-title stories among those this transaction created."""
    near: list[tuple[float, int]] = []
    titled: list[int] = []
    for item in pending:
        if item.story.first_seen_at < since:
            continue
        if not fp.is_short and not item.fp.is_short:
            similarity = fp.jaccard(item.fp.hashvalues)
            if similarity >= threshold:
                near.append((similarity, item.story.id))
        elif (
            fp.title_words >= MIN_TITLE_WORDS
            and fp.title_key == item.fp.title_key
            and (fp.is_short or item.fp.is_short)
        ):
            titled.append(item.story.id)
    return near, titled


def _by_similarity(pair: tuple[float, int]) -> tuple[float, int]:
    return (-pair[0], pair[1])


def _unique(story_ids: Iterable[int]) -> list[int]:
    return list(dict.fromkeys(story_ids))


def _host_is_new(session: Session, story_id: int, host: str | None) -> bool:
    """Whether *host* is not yet among the story's articles (rule 3). Unknown hosts pass."""
    if host is None:
        return True
    urls = session.scalars(select(Article.url).where(Article.story_id == story_id))
    return all(_host(url) != host for url in urls)


def _join(session: Session, article: Article, story_id: int) -> bool:
    # An atomic increment: two workers adding copies at once must both count.
    result = session.execute(
        update(Story)
        .where(Story.id == story_id)
        .values(article_count=Story.article_count + 1)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        return False
    story = session.identity_map.get(session.identity_key(Story, story_id))
    if story is not None:
        # The UPDATE went around the ORM: a loaded Story must re-read its count.
        session.expire(story, ["article_count"])
    article.story_id = story_id
    session.flush()
    return True
