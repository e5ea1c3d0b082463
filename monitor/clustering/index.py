"""The stories of the window in memory, found by LSH banding over their MinHash signatures
and by their normalised title.

A :class:`StoryIndex` does no I/O: :mod:`monitor.clustering.shared` keeps one per process in
step with the ``stories`` table. Candidates come from LSH banding tuned towards recall
(:data:`BAND_RECALL`); every candidate is then checked against the threshold, so a false
candidate costs one comparison while a missed one would be a second alert for the same story.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from monitor.clustering.fingerprints import (
    NUM_PERM,
    Fingerprint,
    by_similarity,
    near_duplicate,
    same_headline,
)

__all__ = ["BAND_RECALL", "MERGE_MIN", "MERGE_SHARE", "StoryIndex", "band_shape"]

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
    :class:`~monitor.clustering.shared.SharedIndex` feeds it from the table."""

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
            return []  # never compared by its text (rule 3): the bands need not be asked
        found = []
        for story_id in self._bands.query(fp.hashvalues):
            entry = self._entries.get(story_id)
            if entry is None or entry.first_seen_at < since:
                continue
            similarity = near_duplicate(fp, entry.hashvalues, threshold=self.threshold)
            if similarity is not None:
                found.append((similarity, story_id))
        found.sort(key=by_similarity)
        return found

    def same_title(self, fp: Fingerprint, *, since: datetime) -> list[int]:
        """Stories with exactly this title that rule 3 allows *fp* to join (oldest first).

        A short item may join any story by title; a long item only a short story (two long
        texts are compared by their text, not their headline).
        """
        if not fp.title_can_match:
            return []  # a title of a few words matches nothing (rule 3)
        found = []
        for story_id in self._titles.get(fp.title_key, ()):
            entry = self._entries[story_id]
            if entry.first_seen_at < since:
                continue
            if same_headline(fp, entry.title_key, entry.hashvalues):
                found.append(story_id)
        return sorted(found)
