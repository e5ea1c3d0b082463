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
   is at least ``settings.cluster_threshold`` (default 0.8). Candidates come from an LSH index
   tuned towards recall; every candidate is then checked against the threshold, and the most
   similar one wins.
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
and on every call reads only the stories committed since its high-water mark, through its own
short connection, so several workers stay in step without talking to each other. Stories this
transaction created but has not committed yet are kept beside the session and checked too.
After a restart the index is rebuilt from ``stories.signature``.
"""

from __future__ import annotations

import hashlib
import heapq
import html
import re
import threading
import time
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import numpy as np
from datasketch import MinHash, MinHashLSH
from sqlalchemy import Connection, event, inspect, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from monitor.config import Settings
from monitor.logs import get_logger
from monitor.models import Article, Story, utcnow

__all__ = [
    "MIN_SHINGLES",
    "MIN_TITLE_WORDS",
    "NUM_PERM",
    "OPENING_WORDS",
    "SHINGLE_WORDS",
    "Fingerprint",
    "StoryIndex",
    "assign_story",
    "fingerprint",
    "normalise_words",
    "reset_story_indexes",
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
#: LSH weights (false positives, false negatives). Candidates are re-checked against the
#: threshold, so a false positive costs one comparison while a false negative is a second
#: alert: the index is tilted towards recall.
LSH_WEIGHTS = (0.2, 0.8)
#: How long an id that is missing below the high-water mark is looked for again: a story
#: inserted by a transaction that had not committed when a later one had (PostgreSQL hands out
#: ids at insert, not at commit). A transaction open longer than this is dead or rolled back.
GAP_SECONDS = 600.0
MAX_GAPS = 5000

_TAG = re.compile(r"<[^>]*>")
_WORD = re.compile(r"\w+")
_PENDING_KEY = "monitor.clustering.pending"


# -- fingerprints (pure) ------------------------------------------------------------------


def normalise_words(text: str, *, limit: int | None = None) -> list[str]:
    """The words of *text*, folded so that typography and accents do not count (the first
    *limit* of them, if given)."""
    text = html.unescape(_TAG.sub(" ", text))
    if limit is not None:
        # Folding is per character: only fold what can hold the opening (a long article
        # is thousands of words and only the first few hundred are used).
        text = text[: limit * 16]
    text = unicodedata.normalize("NFKD", text.casefold())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
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


def _minhash(values: np.ndarray[Any, np.dtype[np.uint32]]) -> MinHash:
    return MinHash(num_perm=NUM_PERM, hashvalues=values, scheme=SCHEME)


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


def _band_key(data: bytes) -> bytes:
    # The LSH keeps one bucket key per band and story; 8 bytes instead of r*4 keeps 100,000
    # stories in tens of megabytes. A collision only adds a candidate, which is re-checked.
    return hashlib.blake2b(data, digest_size=8).digest()


class StoryIndex:
    """The stories of the window in memory: an LSH index of their signatures plus a map
    from normalised title to story, with eviction by first-seen time. No database access:
    :class:`_SharedIndex` feeds it from the table."""

    def __init__(self, *, threshold: float) -> None:
        self.threshold = threshold
        self._lsh = MinHashLSH(
            threshold=threshold, num_perm=NUM_PERM, weights=LSH_WEIGHTS, hashfunc=_band_key
        )
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
            self._lsh.insert(story_id, _minhash(hashvalues), check_duplication=False)
        if title_key:
            self._titles.setdefault(title_key, set()).add(story_id)
        heapq.heappush(self._expiry, (first_seen_at, story_id))

    def remove(self, story_id: int) -> None:
        entry = self._entries.pop(story_id, None)
        if entry is None:
            return
        if entry.hashvalues is not None:
            self._lsh.remove(story_id)
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
        for story_id in self._lsh.query(_minhash(fp.hashvalues)):
            entry = self._entries[story_id]
            if entry.first_seen_at < since or entry.hashvalues is None:
                continue
            similarity = fp.jaccard(entry.hashvalues)
            if similarity >= self.threshold:
                found.append((similarity, story_id))
        found.sort(key=lambda pair: (-pair[0], pair[1]))
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
        self.index = StoryIndex(threshold=threshold)
        self.lock = threading.Lock()
        self.high_water = 0
        self.loaded = False
        # id -> monotonic time it was first found missing below the high-water mark.
        self.gaps: dict[int, float] = {}
        self.last_load_rows = 0
        self.last_load_seconds = 0.0

    def refresh(self, engine: Engine, *, since: datetime) -> None:
        """Read the stories committed since the last call (own connection: committed rows
        only, so a rolled-back story never enters the shared index)."""
        started = time.perf_counter()
        self.index.evict_before(since)
        clock = time.monotonic()
        self.gaps = {i: t for i, t in self.gaps.items() if clock - t < GAP_SECONDS}
        query = select(Story.id, Story.first_seen_at, Story.title, Story.signature).where(
            Story.first_seen_at >= since
        )
        if self.gaps:
            query = query.where(or_(Story.id > self.high_water, Story.id.in_(list(self.gaps))))
        else:
            query = query.where(Story.id > self.high_water)
        rows = 0
        seen: list[int] = []
        with engine.connect() as connection:
            for story_id, first_seen_at, title, signature in connection.execute(query):
                rows += 1
                seen.append(story_id)
                self.gaps.pop(story_id, None)
                self.index.add(
                    story_id,
                    first_seen_at=first_seen_at,
                    title_key=" ".join(normalise_words(title or "")),
                    hashvalues=_signature_array(signature),
                )
        if not self.loaded:
            # The first load covers the whole window; from here on only newer ids.
            self.high_water = max(seen, default=0)
            self.loaded = True
        elif seen:
            newest = max(seen)
            if newest > self.high_water:
                present = set(seen)
                missing = [i for i in range(self.high_water + 1, newest) if i not in present]
                for story_id in missing[:MAX_GAPS]:
                    self.gaps.setdefault(story_id, clock)
                self.high_water = newest
        self.last_load_rows = rows
        self.last_load_seconds = time.perf_counter() - started


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
    now = now or utcnow()
    since = now - timedelta(hours=settings.story_window_hours)
    fp = article_fingerprint(article)
    if article.id is None:
        session.flush()

    shared = _shared_index(settings)
    with shared.lock:
        shared.refresh(_engine(session), since=since)
        index = shared.index
        candidates = [story_id for _, story_id in index.near_duplicates(fp, since=since)]
        title_candidates = index.same_title(fp, since=since)

    pending = _pending(session)
    own = _own_candidates(pending, fp, since=since, threshold=settings.cluster_threshold)
    ordered = _merge_candidates(own[0], candidates) + _merge_candidates(own[1], title_candidates)
    host = _host(article.url)
    near = set(candidates) | {story_id for _, story_id in own[0]}
    for story_id in ordered:
        if story_id not in near and not _host_is_new(session, story_id, host):
            continue
        if _join(session, article, story_id):
            log.debug("article joined story", article_id=article.id, story=story_id)
            return story_id
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
    article.story_id = story.id
    session.flush()
    pending.append(_Pending(story, fp))
    log.debug("article started a story", article_id=article.id, story=story.id)
    return story.id


def _own_candidates(
    pending: Sequence[_Pending], fp: Fingerprint, *, since: datetime, threshold: float
) -> tuple[list[tuple[float, int]], list[tuple[float, int]]]:
    """Near-duplicate and same-title stories among those this transaction created."""
    near: list[tuple[float, int]] = []
    titled: list[tuple[float, int]] = []
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
            titled.append((0.0, item.story.id))
    return near, titled


def _merge_candidates(first: Iterable[tuple[float, int]], rest: Iterable[int]) -> list[int]:
    ordered = [story_id for _, story_id in sorted(first, key=lambda p: (-p[0], p[1]))]
    ordered += [story_id for story_id in rest if story_id not in ordered]
    return ordered


def _engine(session: Session) -> Engine:
    bind = session.get_bind()
    return bind.engine if isinstance(bind, Connection) else bind


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
