"""The words a query requires: clauses of words (or wildcard prefixes) that every article it
matches contains, one word of each clause at least.

For a word or a wildcard, one clause of itself; for a phrase, one clause per word; for an AND
or a NEAR, the clauses of its sides; for an OR, one clause holding the best clause of each of
its sides (none if a side has none); a NOT adds none, so a query made only of NOT has no
clause at all. The matcher files each watchlist under words of its most selective clauses
(see :mod:`monitor.matching.engine`). *rarity* says which clauses are most selective: it
changes how fast matching is, never what matches.
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet

from monitor.matching.query import And, Node, Not, Or, Phrase, Prefix, Term
from monitor.matching.rarity import Rarity

__all__ = ["Anchor", "anchors", "requirements"]


Anchor = tuple[str, str]  # ("t", token) or ("p", prefix)

GUESS = Rarity()  # no sample: word length stands in for rarity


def cost(anchors: AbstractSet[Anchor], rarity: Rarity = GUESS) -> float:
    """What filing a query under one clause costs: its words' costs added up, lower is rarer."""
    return sum(rarity.cost(kind, text) for kind, text in anchors)


def requirements(node: Node, rarity: Rarity = GUESS) -> list[frozenset[Anchor]] | None:
    """Clauses that every matching article satisfies, each a set of words (or prefixes) one
    of which it must contain; None if there are none (a NOT-only query). *rarity* picks the
    best side of an OR."""
    if isinstance(node, Term):
        return [frozenset({("t", node.token)})]
    if isinstance(node, Prefix):
        return [frozenset({("p", node.prefix)})]
    if isinstance(node, Phrase):
        return [frozenset({("t", token)}) for token in dict.fromkeys(node.tokens)]
    if isinstance(node, Not):
        return None
    if isinstance(node, Or):
        # Any side may be the one that matched: one clause, the union of each side's best.
        union: set[Anchor] = set()
        for child in node.children:
            found = requirements(child, rarity)
            if found is None:
                return None
            union |= min(found, key=lambda clause: cost(clause, rarity))
        return [frozenset(union)]
    children = node.children if isinstance(node, And) else (node.left, node.right)
    clauses: list[frozenset[Anchor]] = []
    for child in children:
        found = requirements(child, rarity)
        if found is not None:
            clauses.extend(c for c in found if c not in clauses)
    return clauses or None


def anchors(node: Node, rarity: Rarity = GUESS) -> frozenset[Anchor] | None:
    """The most selective clause of :func:`requirements`."""
    found = requirements(node, rarity)
    return None if found is None else min(found, key=lambda clause: cost(clause, rarity))
