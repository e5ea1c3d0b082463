"""Compiling a parsed query into a predicate: a closure that says whether a tokenised article
satisfies it.

A watchlist is compiled once and its closure called for every article it is a candidate for,
so the work that depends only on the query (which words an AND needs in the body, which fields
both sides of a NEAR search) is done here, at compile time. Words, wildcards and phrases are
tested against the article's sets of words first; only phrases and NEAR look at word
positions (:func:`occurrences`), and only when those sets allow a match.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from typing import TypeGuard

from monitor.matching.document import TokenisedDocument
from monitor.matching.query import (
    BODY_FIELDS,
    FIELDS,
    And,
    Node,
    Not,
    Or,
    Phrase,
    Prefix,
    Term,
    leaves,
)
from monitor.matching.text import FieldTokens

__all__ = ["Predicate", "compile_query"]


Spans = list[tuple[int, int]]


def phrase_spans(tokens: FieldTokens, words: Sequence[str]) -> Spans:
    """Word spans (first and last position) where *words* occur in a row in a field."""
    current = tokens.spans(words[0])
    for word in words[1:]:
        if not current:
            return current
        by_start: dict[int, list[int]] = {}
        for start, end in tokens.spans(word):
            by_start.setdefault(start, []).append(end)
        current = [(s, e2) for s, e in current for e2 in by_start.get(e + 1, ())]
    return current


def occurrences(node: Node, doc: TokenisedDocument, name: str) -> Spans:
    """Word spans of a positional node (word, wildcard, phrase, OR of those) in one field."""
    if isinstance(node, Term):
        return doc.fields[name].spans(node.token) if name in node.fields else []
    if isinstance(node, Phrase):
        return phrase_spans(doc.fields[name], node.tokens) if name in node.fields else []
    if isinstance(node, Prefix):
        if name not in node.fields:
            return []
        tokens = doc.fields[name]
        spans: Spans = []
        for token in doc.prefix_tokens(node.prefix):
            spans.extend(tokens.spans(token))
        return spans
    if isinstance(node, Or):
        spans = []
        for child in node.children:
            spans.extend(occurrences(child, doc, name))
        return spans
    raise TypeError(f"not positional: {node!r}")  # the parser refuses these


def _near(left: Spans, right: Spans, distance: int, ordered: bool) -> bool:
    if not left or not right:
        return False
    starts = sorted(s for s, _ in right)
    for _, a_end in left:
        # a right-hand span starting within `distance` words after the left one ends
        i = bisect.bisect_right(starts, a_end)
        if i < len(starts) and starts[i] - a_end <= distance:
            return True
    if ordered:
        return False
    ends = sorted(e for _, e in right)
    for a_start, _ in left:
        i = bisect.bisect_left(ends, a_start) - 1
        if i >= 0 and a_start - ends[i] <= distance:
            return True
    return False


def node_fields(node: Node) -> set[str]:
    """The fields any word of *node* is searched in, under NOT or not."""
    return {name for leaf in leaves(node, positive=False) for name in leaf.fields}


Predicate = Callable[[TokenisedDocument], bool]


def _body_word(node: Node) -> TypeGuard[Term]:
    return isinstance(node, Term) and node.fields == BODY_FIELDS


def compile_query(node: Node) -> Predicate:
    """A closure that says whether a tokenised article satisfies *node*."""
    if isinstance(node, Term):
        token = node.token
        if node.fields == BODY_FIELDS:
            return lambda d: token in d.body
        names = node.fields
        return lambda d: any(token in d.sets[n] for n in names)
    if isinstance(node, Prefix):
        prefix, names = node.prefix, node.fields

        def prefix_match(d: TokenisedDocument) -> bool:
            found = d.prefix_tokens(prefix)
            return bool(found) and any(t in d.sets[n] for n in names for t in found)

        return prefix_match
    if isinstance(node, Phrase):
        words, names = node.tokens, node.fields

        def phrase_match(d: TokenisedDocument) -> bool:
            for n in names:
                present = d.sets[n]
                if all(w in present for w in words) and phrase_spans(d.fields[n], words):
                    return True
            return False

        return phrase_match
    if isinstance(node, And):
        # Plain words in the body are tested together, in one call into C and first; with
        # 100,000 watchlists a candidate's closures are out of the CPU's caches, and each
        # one called costs more than the test it makes.
        required = frozenset(child.token for child in node.children if _body_word(child))
        parts = [compile_query(child) for child in node.children if not _body_word(child)]
        if required:
            parts.insert(0, lambda d: required <= d.body)
        if len(parts) == 1:
            return parts[0]

        def all_match(d: TokenisedDocument) -> bool:
            # A plain loop: measurably faster than all() over a generator on the hot path.
            for part in parts:  # noqa: SIM110
                if not part(d):
                    return False
            return True

        return all_match
    if isinstance(node, Or):
        options = frozenset(child.token for child in node.children if _body_word(child))
        parts = [compile_query(child) for child in node.children if not _body_word(child)]
        if options:
            parts.insert(0, lambda d: not options.isdisjoint(d.body))
        if len(parts) == 1:
            return parts[0]

        def any_match(d: TokenisedDocument) -> bool:
            for part in parts:  # noqa: SIM110 (as above)
                if part(d):
                    return True
            return False

        return any_match
    if isinstance(node, Not):
        inner = compile_query(node.child)
        return lambda d: not inner(d)
    left, right = node.left, node.right
    distance, ordered = node.distance, node.ordered
    names = tuple(n for n in FIELDS if n in node_fields(left) and n in node_fields(right))
    left_quick, right_quick = compile_query(left), compile_query(right)

    def near_match(d: TokenisedDocument) -> bool:
        if not (left_quick(d) and right_quick(d)):
            return False
        return any(
            _near(occurrences(left, d, n), occurrences(right, d, n), distance, ordered)
            for n in names
        )

    return near_match
