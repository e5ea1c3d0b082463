"""A straightforward reference evaluator: no index, no closures, plain lists of tokens.

It shares only the query parser, the offset tokeniser (a different code path from the
engine's fast tokeniser) and the definition of the lede with the engine, so agreement checks
the index, the compiled closures and the fast tokeniser at once.
"""

from __future__ import annotations

from monitor.matching import Document
from monitor.matching.query import And, Near, Node, Not, Or, Phrase, Prefix, Term
from monitor.matching.sentences import lede
from monitor.matching.text import Token, tokens_with_offsets

FIELDS = ("title", "lede", "summary", "content", "url", "source")


def _spans(node: Node, tokens: list[Token]) -> list[tuple[int, int]]:
    if isinstance(node, Term):
        return [(t.position, t.last) for t in tokens if t.text == node.token]
    if isinstance(node, Prefix):
        return [(t.position, t.last) for t in tokens if t.text.startswith(node.prefix)]
    if isinstance(node, Phrase):
        found = []
        for first in tokens:
            if first.text != node.tokens[0]:
                continue
            ends = [first.last]
            for word in node.tokens[1:]:
                ends = [
                    t.last for t in tokens if t.text == word for e in ends if t.position == e + 1
                ]
            found.extend((first.position, e) for e in ends)
        return found
    if isinstance(node, Or):
        return [s for child in node.children for s in _spans(child, tokens)]
    raise TypeError(node)


def _in_fields(node: Term | Prefix | Phrase, fields: dict[str, list[Token]]) -> bool:
    return any(_spans(node, fields[name]) for name in node.fields)


def evaluate(node: Node, fields: dict[str, list[Token]]) -> bool:
    if isinstance(node, Term | Prefix | Phrase):
        return _in_fields(node, fields)
    if isinstance(node, And):
        return all(evaluate(child, fields) for child in node.children)
    if isinstance(node, Or):
        return any(evaluate(child, fields) for child in node.children)
    if isinstance(node, Not):
        return not evaluate(node.child, fields)
    assert isinstance(node, Near)
    for name in FIELDS:
        left = _restricted(node.left, name, fields)
        right = _restricted(node.right, name, fields)
        for a_start, a_end in left:
            for b_start, b_end in right:
                if 1 <= b_start - a_end <= node.distance:
                    return True
                if not node.ordered and 1 <= a_start - b_end <= node.distance:
                    return True
    return False


def _restricted(node: Node, name: str, fields: dict[str, list[Token]]) -> list[tuple[int, int]]:
    if isinstance(node, Or):
        return [s for child in node.children for s in _restricted(child, name, fields)]
    assert isinstance(node, Term | Prefix | Phrase)
    return _spans(node, fields[name]) if name in node.fields else []


def field_tokens(doc: Document) -> dict[str, list[Token]]:
    """Every field's tokens, the lede's included."""
    return {
        name: tokens_with_offsets(lede(doc) if name == "lede" else getattr(doc, name))
        for name in FIELDS
    }


def reference_match(node: Node, doc: Document) -> bool:
    return evaluate(node, field_tokens(doc))


# -- what counts towards a hit ----------------------------------------------------------

# (the leaf's text as the query wrote it, the field, its [first, last] word positions)
Occurrence = tuple[str, str, tuple[int, int]]


def counted(node: Node, fields: dict[str, list[Token]]) -> set[Occurrence] | None:
    """The occurrences that count towards *node* holding (None: it does not hold), by the
    rules of monitor.matching.satisfied, written out plainly: every occurrence of a word in
    its fields; an AND all of its parts' or none; an OR its holding parts'; a NEAR's sides'
    occurrences with a partner within the distance; nothing from NOT."""
    if isinstance(node, Term | Prefix | Phrase):
        found = {
            (node.text, name, span) for name in node.fields for span in _spans(node, fields[name])
        }
        return found or None
    if isinstance(node, And):
        out: set[Occurrence] = set()
        for child in node.children:
            part = counted(child, fields)
            if part is None:
                return None
            out |= part
        return out
    if isinstance(node, Or):
        parts = [counted(child, fields) for child in node.children]
        held = [part for part in parts if part is not None]
        return set().union(*held) if held else None
    if isinstance(node, Not):
        return None if evaluate(node.child, fields) else set()
    assert isinstance(node, Near)
    out = set()
    for name in FIELDS:
        left = [(leaf, s) for leaf in _leaves(node.left) for s in _restricted(leaf, name, fields)]
        right = [(leaf, s) for leaf in _leaves(node.right) for s in _restricted(leaf, name, fields)]
        for a_leaf, (a_start, a_end) in left:
            for b_leaf, (b_start, b_end) in right:
                if 1 <= b_start - a_end <= node.distance or (
                    not node.ordered and 1 <= a_start - b_end <= node.distance
                ):
                    out.add((a_leaf.text, name, (a_start, a_end)))
                    out.add((b_leaf.text, name, (b_start, b_end)))
    return out or None


def _leaves(node: Node) -> list[Term | Prefix | Phrase]:
    if isinstance(node, Or):
        return [leaf for child in node.children for leaf in _leaves(child)]
    assert isinstance(node, Term | Prefix | Phrase)
    return [node]
