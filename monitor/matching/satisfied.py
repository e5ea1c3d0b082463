"""Which parts of a query an article satisfied: the words, wildcards and phrases that count
towards a hit, the fields they count in and, under NEAR, which of their occurrences.

A hit's explanation, highlights, mentions and score are built from these alone, so that what
people are shown is the reason the article matched, and nothing beside it. The query is
walked with the article:

- a word, wildcard or phrase counts in each of its fields where it occurs;
- an AND counts every one of its parts, and only when all of them hold;
- an OR counts each of its parts that holds;
- a NEAR counts, in each field, only the occurrences of either side that have one of the
  other side within the distance (``vote NEAR/3 count*`` does not make 'country', twenty
  words away, a reason);
- a NOT counts nothing: what an article lacks is no reason to show it.

So ``election* OR (vote NEAR/3 (count* OR result*))`` on an article that mentions the election
and, elsewhere, 'country' counts ``election*`` alone. The walk runs only for hits, after the
compiled predicate (:mod:`monitor.matching.compile`) has said yes; property tests hold it to a
plain reference evaluator.

:func:`marked_query` gives the query text cut into pieces, each word or phrase marked by
whether it counts, for the dashboard's hit page.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Mapping
from typing import NamedTuple

from monitor.matching.compile import Spans, occurrences, phrase_spans
from monitor.matching.document import TokenisedDocument
from monitor.matching.language import primary
from monitor.matching.query import (
    FIELDS,
    And,
    Leaf,
    Near,
    Node,
    Not,
    Or,
    Phrase,
    Prefix,
    QuerySyntaxError,
    Term,
    leaves,
    parse_query,
)
from monitor.matching.stemming import expand, stem_groups
from monitor.matching.types import Document

__all__ = ["Evidence", "QueryPart", "Walk", "marked_query", "satisfied", "walker"]


class Evidence(NamedTuple):
    """A word, wildcard or phrase of the query that counts towards a hit, in one field.

    (A named tuple: a hit makes several, and a frozen dataclass costs about a microsecond
    each to make.)"""

    leaf: Leaf
    field: str
    # The word spans ([first, last] positions) that count; None: every occurrence in the
    # field (only NEAR restricts them).
    spans: tuple[tuple[int, int], ...] | None = None


Walk = Callable[[TokenisedDocument], list[Evidence]]


def walker(root: Node) -> Walk:
    """What counts towards *root* on an article it matched, as a function made once per
    watchlist: most queries need no walk. One made only of NOT counts nothing; one without
    OR and NEAR (outside NOT) counts every positive word wherever it occurs, since all of
    them must hold."""
    positive = tuple(leaves(root))
    if not positive:
        return lambda d: []
    if not _has_choice(root):
        return lambda d: _everywhere(positive, d)
    return lambda d: satisfied(root, d) or []


def _has_choice(node: Node) -> bool:
    """Whether *node* holds an OR or a NEAR that is not under NOT."""
    if isinstance(node, Or | Near):
        return True
    if isinstance(node, And):
        return any(_has_choice(child) for child in node.children)
    return False


def _everywhere(positive: tuple[Leaf, ...], d: TokenisedDocument) -> list[Evidence]:
    counted: list[Evidence] = []
    for leaf in positive:
        found = satisfied(leaf, d)
        if found:
            counted.extend(found)
    return counted


def satisfied(node: Node, d: TokenisedDocument) -> list[Evidence] | None:
    """What counts towards *node* holding for the article, in query order; None when *node*
    does not hold (an empty list: it holds through NOT alone)."""
    if isinstance(node, Term):
        token = node.token
        if token not in d.every:  # most words of a hit's other OR branches: one lookup
            return None
        sets = d.sets
        return [Evidence(node, name) for name in node.fields if token in sets[name]] or None
    if isinstance(node, Prefix):
        found = d.prefix_tokens(node.prefix)
        if not found:
            return None
        sets = d.sets
        return [
            Evidence(node, name)
            for name in node.fields
            if any(token in sets[name] for token in found)
        ] or None
    if isinstance(node, Phrase):
        words = node.tokens
        return [
            Evidence(node, name)
            for name in node.fields
            if all(w in d.sets[name] for w in words) and phrase_spans(d.fields[name], words)
        ] or None
    if isinstance(node, And):
        counted: list[Evidence] = []
        for child in node.children:
            part = satisfied(child, d)
            if part is None:
                return None
            counted.extend(part)
        return counted
    if isinstance(node, Or):
        counted = []
        held = False
        for child in node.children:
            part = satisfied(child, d)
            if part is not None:
                held = True
                counted.extend(part)
        return counted if held else None
    if isinstance(node, Not):
        return None if satisfied(node.child, d) is not None else []
    return _near(node, d)


def _near(node: Near, d: TokenisedDocument) -> list[Evidence] | None:
    """The occurrences of either side that have one of the other within the distance, per
    field (the same test as :func:`monitor.matching.compile.compile_query`'s)."""
    left_leaves, right_leaves = leaves(node.left), leaves(node.right)
    distance, ordered = node.distance, node.ordered
    counted: list[Evidence] = []
    for name in FIELDS:
        left = [(leaf, occurrences(leaf, d, name)) for leaf in left_leaves]
        right = [(leaf, occurrences(leaf, d, name)) for leaf in right_leaves]
        left_all = [span for _, spans in left for span in spans]
        right_all = [span for _, spans in right for span in spans]
        if not left_all or not right_all:
            continue
        right_starts = sorted(s for s, _ in right_all)
        right_ends = sorted(e for _, e in right_all)
        left_starts = sorted(s for s, _ in left_all)
        left_ends = sorted(e for _, e in left_all)
        # A left span (s, e) has a partner when a right one starts within `distance` words
        # after e or (unordered) ends within `distance` words before s; and the same seen
        # from the right.
        for leaf, spans in left:
            kept = [
                (s, e)
                for s, e in spans
                if _any_in(right_starts, e + 1, e + distance)
                or (not ordered and _any_in(right_ends, s - distance, s - 1))
            ]
            if kept:
                counted.append(_kept(leaf, name, spans, kept))
        for leaf, spans in right:
            kept = [
                (s, e)
                for s, e in spans
                if _any_in(left_ends, s - distance, s - 1)
                or (not ordered and _any_in(left_starts, e + 1, e + distance))
            ]
            if kept:
                counted.append(_kept(leaf, name, spans, kept))
    return counted or None


def _kept(leaf: Leaf, name: str, spans: Spans, kept: Spans) -> Evidence:
    # When NEAR keeps every occurrence, say so: the snippet can then be placed by its
    # quick path, which finds words in the text rather than at word positions.
    return Evidence(leaf, name, None if len(kept) == len(spans) else tuple(kept))


def _any_in(ordered_values: list[int], low: int, high: int) -> bool:
    """Whether some value of the sorted list lies in [low, high]."""
    at = bisect.bisect_left(ordered_values, low)
    return at < len(ordered_values) and ordered_values[at] <= high


def occurrences_counted(evidence: Evidence, d: TokenisedDocument) -> Spans:
    """The word spans of *evidence* in its field: those NEAR kept, else all of them."""
    if evidence.spans is not None:
        return list(evidence.spans)
    return occurrences(evidence.leaf, d, evidence.field)


class QueryPart(NamedTuple):
    """A piece of a query's text: a word or phrase that counts towards the hit (True), one
    that does not (False), or what lies between them: operators, brackets, scopes (None)."""

    text: str
    satisfied: bool | None


def marked_query(
    query_text: str,
    doc: Document,
    *,
    translations: Mapping[str, str] | None = None,
    stem: bool = False,
) -> list[QueryPart]:
    """*query_text* in pieces that cover it in order, each word and phrase marked by whether
    it counts towards the article matching (see the module docstring). A query that no
    longer parses is one unmarked piece.

    With *translations*, an article in one of their languages is marked on that query (and
    the pieces are of its text), as the matcher takes it; with *stem*, a word counts through
    its forms in the article's language (:mod:`monitor.matching.stemming`)."""
    language = primary(doc.language)
    chosen = {primary(code): text for code, text in (translations or {}).items()}
    query_text = chosen.get(language, query_text)
    try:
        query = parse_query(query_text)
    except QuerySyntaxError:
        return [QueryPart(query_text, None)]
    d = TokenisedDocument(doc)
    root = query.root
    if stem:
        root = expand(root, language, stem_groups(d.every, language) or {})
    counted = {e.leaf.span for e in satisfied(root, d) or ()}
    parts: list[QueryPart] = []
    at = 0
    for start, end in sorted({leaf.span for leaf in leaves(query.root, positive=False)}):
        if start > at:
            parts.append(QueryPart(query_text[at:start], None))
        parts.append(QueryPart(query_text[start:end], (start, end) in counted))
        at = end
    if at < len(query_text):
        parts.append(QueryPart(query_text[at:], None))
    return parts
