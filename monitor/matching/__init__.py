"""Watchlist queries and the indexed matching engine. Pure: no I/O anywhere in here.

The query language is described at the top of :mod:`monitor.matching.query`; normalisation
in :mod:`monitor.matching.text`; the index in :mod:`monitor.matching.engine`.
"""

from __future__ import annotations

from monitor.matching.engine import Matcher, explain
from monitor.matching.query import FIELDS, Query, QuerySyntaxError, parse_query
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
