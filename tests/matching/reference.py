"""A straightforward reference evaluator: no index, no closures, plain lists of tokens.

It shares only the query parser and the offset tokeniser with the engine (a different code
path from the engine's fast tokeniser), so agreement checks the index, the compiled closures
and the fast tokeniser at once.
"""

from __future__ import annotations

from monitor.matching import Document
from monitor.matching.query import And, Near, Node, Not, Or, Phrase, Prefix, Term
from monitor.matching.text import Token, tokens_with_offsets

FIELDS = ("title", "summary", "content", "url", "source")


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


def reference_match(node: Node, doc: Document) -> bool:
    fields = {name: tokens_with_offsets(getattr(doc, name)) for name in FIELDS}
    return evaluate(node, fields)
