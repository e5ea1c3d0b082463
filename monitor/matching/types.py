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
    watchlist_id: str
    matched: tuple[str, ...]  # terms and phrases that matched, as the query wrote them
    fields: tuple[str, ...]  # fields they matched in: title, summary, content, url, source
    explanation: dict[str, list[str]]  # field -> matched terms
    snippet: str  # plain text: the sentence(s) around the first match
    highlights: tuple[tuple[int, int], ...]  # [start, end) character spans in snippet


class WatchlistLike(Protocol):
    """What the matcher reads from a watchlist (``monitor.watchlists.WatchlistSpec``)."""

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
