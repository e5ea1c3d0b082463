"""Watchlist queries and the indexed matching engine. Pure: no I/O anywhere in here.

The query language is described, for the analysts who write watchlists, at the top of
:mod:`monitor.matching.query`. The other modules, each one idea:

- :mod:`~monitor.matching.types`: the shapes shared with the rest of the service;
- :mod:`~monitor.matching.text`: normalising and tokenising text;
- :mod:`~monitor.matching.scripts`: Chinese, Japanese and Korean cut into pairs of characters;
- :mod:`~monitor.matching.language`: an article's language, detected and settled;
- :mod:`~monitor.matching.stemming`: ``stem: true``, a query's words standing for their forms;
- :mod:`~monitor.matching.document`: the article tokenised once;
- :mod:`~monitor.matching.compile`: a parsed query compiled into a predicate;
- :mod:`~monitor.matching.anchors`: the words a query requires;
- :mod:`~monitor.matching.rarity`: how rare a word is, to choose among them;
- :mod:`~monitor.matching.pairs`: the table of watchlists filed under those words;
- :mod:`~monitor.matching.engine`: the matcher and its index;
- :mod:`~monitor.matching.snippets`: why a watchlist matched, with a highlighted snippet.
"""

from __future__ import annotations

from monitor.matching.engine import Matcher
from monitor.matching.query import FIELDS, Query, QuerySyntaxError, parse_query
from monitor.matching.snippets import explain
from monitor.matching.types import Document, MatchResult, WatchlistLike

__all__ = [
    "FIELDS",
    "Document",
    "MatchResult",
    "Matcher",
    "Query",
    "QuerySyntaxError",
    "WatchlistLike",
    "explain",
    "parse_query",
]
