"""How rare a word is in the news: what the matcher files each watchlist under.

A watchlist filed under a word becomes a candidate for every article that holds the word, so
the best anchor is the word the fewest articles hold (Lucene's Monitor weighs terms the same
way). With a sample of recent articles, rarity is the share of them that hold the word.
Without one, the length of a word stands in for its rarity (long words are rarer), and a short
list of function words is avoided.

Rarity decides only where a watchlist is filed, never whether it matches: any choice gives
the same hits, a better one gives them sooner. With 100,000 watchlists the sample cuts the
index entries each article touches by about 40% (see docs/benchmarks.md).
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Protocol

from monitor.matching.text import tokenise

__all__ = ["MIN_SAMPLE", "Rarity"]

# Fewer sampled articles than this say more about the sample than about the news.
MIN_SAMPLE = 200

# Words too common to make a good anchor when a query offers a better one.
_COMMON = frozenset(
    """a an the and or of in on at to for by with from as is are was were be been it its this
    that these those he she they we you i his her their our not no but if than then so said
    says will would can could has have had do does did new after over into about more most
    also up out one two all""".split()  # noqa: SIM905
)


class _Text(Protocol):
    @property
    def title(self) -> str: ...
    @property
    def summary(self) -> str: ...
    @property
    def content(self) -> str: ...


class Rarity:
    """The cost of anchoring on a word (kind ``"t"``) or a wildcard prefix (kind ``"p"``):
    lower is rarer, and the costs of a clause's alternatives add up."""

    def __init__(self, counts: Mapping[str, int] | None = None, documents: int = 0) -> None:
        self.documents = documents if counts else 0
        self._counts: Mapping[str, int] = counts or {}
        self._sorted: list[str] | None = None  # for prefixes, built on first use
        self._prefixes: dict[str, float] = {}

    @classmethod
    def from_documents(cls, documents: Iterable[_Text]) -> Rarity:
        """Rarity from a sample of articles (their title, summary and content), or the
        length-based guess when the sample is smaller than :data:`MIN_SAMPLE`."""
        counts: Counter[str] = Counter()
        total = 0
        for doc in documents:
            words = tokenise(doc.title).vocabulary
            words |= tokenise(doc.summary).vocabulary
            words |= tokenise(doc.content).vocabulary
            counts.update(words)
            total += 1
        if total < MIN_SAMPLE:
            return cls()
        return cls(counts, total)

    @property
    def sampled(self) -> bool:
        return bool(self.documents)

    def cost(self, kind: str, text: str) -> float:
        guess = _guess(kind, text)
        if not self.documents:
            return guess
        share = self._word(text) if kind == "t" else self._prefix(text)
        if share:
            return share
        # Not in the sample: rarer than anything in it, and among such words the guess
        # still prefers long ones (guesses run from 1 to 50).
        return guess / (100.0 * self.documents)

    def _word(self, word: str) -> float:
        return self._counts.get(word, 0) / self.documents

    def _prefix(self, prefix: str) -> float:
        share = self._prefixes.get(prefix)
        if share is None:
            if self._sorted is None:
                self._sorted = sorted(self._counts)
            at = bisect.bisect_left(self._sorted, prefix)
            total = 0
            while at < len(self._sorted) and self._sorted[at].startswith(prefix):
                total += self._counts[self._sorted[at]]
                at += 1
            # Words sharing a prefix often share articles: the sum is an upper bound.
            share = self._prefixes[prefix] = min(1.0, total / self.documents)
        return share


def _guess(kind: str, text: str) -> float:
    if kind == "p":
        return 20.0 / len(text)
    if text in _COMMON:
        return 50.0
    return 1.0 + 8.0 / len(text)
