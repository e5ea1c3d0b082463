"""The shapes matching shares with the rest of the service: the article it reads, the hit it
returns, and what it reads from a watchlist.

docs/architecture.md shows them beside the other modules' shared shapes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = ["Document", "MatchResult", "WatchlistLike"]


@dataclass(frozen=True, slots=True)
class Document:
    id: str
    title: str = ""
    summary: str = ""
    content: str = ""
    url: str = ""
    source: str = ""  # the feed's name, else the article's host
    language: str | None = None
    feeds: frozenset[str] = frozenset()  # names of the feeds that carried it
    tags: frozenset[str] = frozenset()  # tags of those feeds


@dataclass(frozen=True, slots=True)
class MatchResult:
    """A watchlist matched an article, and why.

    Only the parts of the query the article satisfied are reported
    (:mod:`monitor.matching.satisfied`): a word under an OR branch, an AND or a NEAR that did
    not hold, or under NOT, never appears in ``matched``, ``fields``, ``explanation`` or the
    highlights, and under NEAR only the occurrences within the distance are highlighted.

    ``score`` is the hit's relevance in [0, 1) (:mod:`monitor.matching.relevance`): how often
    those terms occur, a mention in the title weighing most, then one in the lede, then one
    elsewhere, and saturating as mentions add up. A NOT-only query's hit scores 0.
    """

    watchlist_id: str
    matched: tuple[str, ...]  # terms and phrases that matched, as the query wrote them
    fields: tuple[str, ...]  # fields they matched in: title, lede, summary, content, url, source
    explanation: dict[str, list[str]]  # field -> matched terms
    snippet: str  # plain text: the sentence(s) around the first match, or the lede
    highlights: tuple[tuple[int, int], ...]  # [start, end) character spans in snippet
    score: float = 0.0


class WatchlistLike(Protocol):
    """What the matcher reads from a watchlist (``monitor.watchlists.WatchlistSpec``).

    The relevance controls ``min_mentions`` and ``min_score`` are read too where a watchlist
    has them (:func:`monitor.matching.relevance.controls_of`); one without them has none.
    """

    @property
    def id(self) -> str: ...
    @property
    def query(self) -> str: ...
    @property
    def enabled(self) -> bool: ...
    @property
    def feeds(self) -> list[str]: ...
    @property
    def languages(self) -> list[str]: ...
