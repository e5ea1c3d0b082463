"""The table that files each watchlist under words it requires, and finds the watchlists
filed under an article's words.

A watchlist is filed under a pair of words it requires when it has two such clauses (or a
word and a wildcard prefix), else under one word: with 100,000 watchlists nearly every word
of an article anchors some watchlist, but few pairs of them do, so pairs keep the
candidates few.

Two layouts give the same answers:

- a dict of small sets, for up to some tens of thousands of entries: it stays in the CPU's
  caches, and each step is one call into C;
- sorted numpy arrays of string hashes, for larger tables: the dict's objects are then
  spread over far more memory than the caches hold, and reading them costs more than the
  work. The arrays are compact, and one article's lookup is a dozen vectorised calls.

Hashes may collide; a collision only adds a candidate, which the watchlist's full query
then rejects. (They are ``hash()`` of the strings, so they are only valid in the process
that built the table, like the rest of a compiled matcher.)
"""

from __future__ import annotations

import bisect
import itertools
import operator
from collections.abc import Callable, Iterable

import numpy as np
import numpy.typing as npt

PrefixTest = Callable[[list[str]], list[bool]]

# Above this many entries the table uses the array layout (see the module docstring). Measured
# on the benchmark's synthetic workload, per article: dicts 160 µs and arrays 166 µs at 10,000
# watchlists (14,000 entries), 214 and 197 µs at 30,000.
ARRAY_THRESHOLD = 25_000

# Second "words" that every article holds: an entry filed under one word alone pairs it with
# ALONE; a wildcard entry pairs its word with PREFIX and is then checked by the caller. They
# contain spaces, so no token can have them.
_ALONE = hash(" alone ")
_PREFIX = hash(" prefix ")
_LAST = np.iinfo(np.int64).max  # above every hash (see _Arrays)
_ALWAYS = (_ALONE, _PREFIX, _LAST)
_SEEN_SIZE = 1 << 20  # see _Arrays.seen: 1 MB; with 80,000 first words, 1 other word in 13 passes


class _Anchor(frozenset[str]):
    """The watchlists filed under one word; as a set, the second words of its pairs (testing
    those against the article runs in C on the hashes the set stores)."""

    __slots__ = ("alone", "pairs", "prefixes")
    alone: list[int]  # filed under this word alone
    pairs: dict[str, list[int]]  # second word -> watchlists filed under both
    prefixes: dict[str, list[int]]  # wildcard prefix -> watchlists filed under both


class PairTable:
    """Filled with :meth:`file`, then :meth:`seal`-ed once; :meth:`lookup` is pure."""

    def __init__(self, *, threshold: int | None = None) -> None:
        self._threshold = ARRAY_THRESHOLD if threshold is None else threshold
        self._entries: list[tuple[str, str | None, bool, int]] = []
        self._size = 0
        self._words: dict[str, _Anchor] = {}
        self._arrays: _Arrays | None = None

    def file(self, word: str, second: str | None, number: int, *, prefix: bool = False) -> None:
        """File watchlist *number* under *word* and *second* (a word, or a wildcard prefix
        when *prefix* is true), or under *word* alone when *second* is None."""
        self._entries.append((word, second, prefix, number))
        self._size += 1

    def __len__(self) -> int:
        return self._size

    @property
    def uses_arrays(self) -> bool:
        return self._arrays is not None

    def seal(self) -> None:
        if len(self._entries) > self._threshold:
            self._arrays = _Arrays(self._entries)
        else:
            self._words = _anchors(self._entries)
        self._entries = []

    def lookup(self, every: set[str], have_prefixes: PrefixTest) -> Iterable[int]:
        """The watchlists filed under words of *every* (perhaps with repeats).
        *have_prefixes* says which of a list of prefixes begin one of its words."""
        if self._arrays is not None:
            return self._arrays.lookup(every, have_prefixes)
        found: list[int] = []
        # The intersection runs in C over the article's words, probing the dict's keys.
        anchors = list(map(self._words.__getitem__, self._words.keys() & every))
        wildcards: list[tuple[str, list[int]]] = []
        for anchor in anchors:
            if anchor.alone:
                found.extend(anchor.alone)
            if anchor.prefixes:
                wildcards.extend(anchor.prefixes.items())
        if wildcards:
            held = have_prefixes([prefix for prefix, _ in wildcards])
            for (_, ids), present in zip(wildcards, held, strict=True):
                if present:
                    found.extend(ids)
        complete = map(operator.not_, map(every.isdisjoint, anchors))
        for anchor in itertools.compress(anchors, complete):
            pairs = anchor.pairs
            for second in anchor & every:
                found.extend(pairs[second])
        return found


def _anchors(entries: list[tuple[str, str | None, bool, int]]) -> dict[str, _Anchor]:
    alone: dict[str, list[int]] = {}
    pairs: dict[str, dict[str, list[int]]] = {}
    prefixes: dict[str, dict[str, list[int]]] = {}
    for word, second, prefix, number in entries:
        if second is None:
            alone.setdefault(word, []).append(number)
        else:
            table = prefixes if prefix else pairs
            table.setdefault(word, {}).setdefault(second, []).append(number)
    words: dict[str, _Anchor] = {}
    for word in alone.keys() | pairs.keys() | prefixes.keys():
        inner = pairs.get(word, {})
        anchor = words[word] = _Anchor(inner)
        anchor.alone = alone.get(word, [])
        anchor.pairs = inner
        anchor.prefixes = prefixes.get(word, {})
    return words


Int64s = npt.NDArray[np.int64]


class _Arrays:
    """Entries sorted by (first word's hash, second's hash), with the distinct first-word
    hashes and where each one's entries start and how many there are.

    An article's lookup is some twenty numpy calls whatever its length, and with a large
    index each costs more than its work (the arrays are out of the CPU's caches by the next
    article), so the layout saves calls: sentinels at the ends of the sorted arrays spare
    bounds checks, and a wildcard entry's target is negative, to be told apart in Python
    among the few rows that survive."""

    def __init__(self, entries: list[tuple[str, str | None, bool, int]]) -> None:
        prefixes: list[tuple[str, int]] = []  # (prefix, watchlist) of wildcard entries
        rows: list[tuple[int, int, int]] = []
        for word, second, prefix, number in entries:
            if second is None:
                rows.append((hash(word), _ALONE, number))
            elif prefix:
                rows.append((hash(word), _PREFIX, -1 - len(prefixes)))
                prefixes.append((second, number))
            elif hash(second) in (_ALONE, _PREFIX, _LAST):  # 1 in 2**62, but not a crash
                rows.append((hash(word), _ALONE, number))
            else:
                rows.append((hash(word), hash(second), number))
        rows.sort()
        # Wildcard entry k is row target -1 - k, which indexes these reversed lists.
        self.prefix_texts = [prefix for prefix, _ in reversed(prefixes)]
        self.prefix_targets = [number for _, number in reversed(prefixes)]
        table = np.array(rows, dtype=np.int64).reshape(-1, 3)
        self.seconds: Int64s = np.ascontiguousarray(table[:, 1])
        self.targets: Int64s = np.ascontiguousarray(table[:, 2])
        firsts, starts = np.unique(table[:, 0], return_index=True)
        sizes = np.diff(np.append(starts, len(rows)))
        # A last first word that no hash exceeds, with no entries: any article word at or
        # past the end lands on it and finds nothing.
        self.firsts: Int64s = np.append(firsts, _LAST).astype(np.int64)
        self.starts: Int64s = np.append(starts, len(rows)).astype(np.int64)
        self.sizes: Int64s = np.append(sizes, 0).astype(np.int64)
        # Which low bits of the first words' hashes occur: most of an article's words are no
        # first word, and one read each here turns them away before the binary search,
        # whose steps through the large array miss the CPU's caches.
        self.seen = np.zeros(_SEEN_SIZE, dtype=bool)
        self.seen[self.firsts & (_SEEN_SIZE - 1)] = True

    def lookup(self, every: set[str], have_prefixes: PrefixTest) -> list[int]:
        # The article's word hashes, the two second "words" every article holds, and a
        # sentinel above every hash (a second that no word matches lands on it).
        held = np.fromiter(
            itertools.chain(map(hash, every), _ALWAYS), dtype=np.int64, count=len(every) + 3
        )
        held.sort()
        maybe = held[self.seen[held & (_SEEN_SIZE - 1)]]  # the sentinel always passes
        at = np.searchsorted(self.firsts, maybe)
        firsts = at[self.firsts[at] == maybe]
        # The entries of every first word the article holds, gathered into one array.
        sizes = self.sizes[firsts]
        ends = np.cumsum(sizes)
        rows = np.arange(int(ends[-1])) + np.repeat(self.starts[firsts] - ends + sizes, sizes)
        # Sorted first, the second words are found among the article's faster: the binary
        # searches then take much the same branches one after another.
        seconds = self.seconds[rows]
        order = np.argsort(seconds)
        seconds, rows = seconds[order], rows[order]
        complete = rows[held[np.searchsorted(held, seconds)] == seconds]
        # Sorted, the wildcard entries (negative) come first, and they index the reversed
        # lists of prefixes directly: both sides are split off without a loop in Python.
        found: list[int] = np.sort(self.targets[complete]).tolist()
        if not found or found[0] >= 0:
            return found
        split = bisect.bisect_left(found, 0)
        wildcards = found[:split]
        begun = have_prefixes(list(map(self.prefix_texts.__getitem__, wildcards)))
        out = found[split:]
        out.extend(itertools.compress(map(self.prefix_targets.__getitem__, wildcards), begun))
        return out
