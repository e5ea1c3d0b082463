"""The watchlist query language, and its parser.

Rules, for the analysts who write watchlists (docs/watchlists.md has more examples):

1. Words next to each other must all appear, in any order and any field:
   ``naira parallel market`` is ``naira AND parallel AND market``.
2. ``AND``, ``OR`` and ``NOT`` are operators only in capitals; ``and``/``or``/``not`` are words.
   ``NEAR``/``ONEAR`` bind tightest, then ``NOT``, then ``AND`` (written or implied), then
   ``OR``: ``a b OR c`` means ``(a AND b) OR c``. Use parentheses when in doubt.
3. ``-word``, ``-"a phrase"`` and ``-(a OR b)`` mean ``NOT``. A query made only of ``NOT``
   parts matches every article that lacks those words.
4. ``"exact phrase"``: the words in this order, next to each other.
5. ``a NEAR/5 b``: both within 5 words of each other, in either order; ``a ONEAR/5 b``: ``a``
   first. Each side is a word, a phrase or a parenthesised OR-group of those:
   ``(NATO OR alliance) NEAR/10 "liaison office"``. Both must be in the same field.
   The distance counts words from the end of one side to the start of the other, so
   ``a NEAR/1 b`` means adjacent.
6. ``econom*`` matches every word starting with ``econom``; at least 3 letters before ``*``.
7. ``title:``, ``lede:``, ``summary:``, ``content:``, ``url:`` and ``source:`` restrict a word,
   phrase or parenthesised group to one field (``source`` is the feed's name, else the
   site's host; ``lede`` is the summary, else the content's first three sentences, see
   :mod:`monitor.matching.sentences`). Without a field, a word is searched in the title, the
   summary and the content.
8. Matching ignores case, accents (``Yorùbá`` = ``Yoruba``) and the style of quotes and
   apostrophes; a possessive ``'s`` is ignored (``NATO`` matches ``NATO’s``); a hyphenated
   word matches joined and split (``Indo-Pacific`` = ``Indo Pacific`` = ``IndoPacific``);
   letters and digits in one word stay one word (``IP4``, ``N1,572``). Punctuation is ignored,
   so ``U.S.`` is the phrase ``"u s"``.

A syntax error names the column and what was expected, e.g. ``expected a term after 'AND'``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from monitor.matching.text import query_tokens

__all__ = [
    "BODY_FIELDS",
    "FIELDS",
    "And",
    "Near",
    "Node",
    "Not",
    "Or",
    "Phrase",
    "Prefix",
    "Query",
    "QuerySyntaxError",
    "Span",
    "Term",
    "parse_query",
]

# 'lede' is not a field of the article but a view of two of them (the summary, else the
# opening of the content): searched only when a query names it, and never by a word without a
# field, which finds the lede's words in the summary or content already.
FIELDS = ("title", "lede", "summary", "content", "url", "source")
BODY_FIELDS = ("title", "summary", "content")
# Where a word, wildcard or phrase was written in the query text: [start, end) characters.
# Not part of its identity (two 'naira' are the same term), only of the marked query.
Span = tuple[int, int]


class QuerySyntaxError(ValueError):
    """A query that can't be parsed; ``position`` is the 1-based column in the query."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(message, position)
        self.message = message
        self.position = position

    def __str__(self) -> str:
        return f"column {self.position}: {self.message}"


@dataclass(frozen=True, slots=True)
class Term:
    text: str  # as the query wrote it, for explanations
    token: str
    fields: tuple[str, ...] = BODY_FIELDS
    span: Span = field(default=(0, 0), compare=False)


@dataclass(frozen=True, slots=True)
class Prefix:
    text: str
    prefix: str
    fields: tuple[str, ...] = BODY_FIELDS
    span: Span = field(default=(0, 0), compare=False)


@dataclass(frozen=True, slots=True)
class Phrase:
    text: str
    tokens: tuple[str, ...]
    fields: tuple[str, ...] = BODY_FIELDS
    span: Span = field(default=(0, 0), compare=False)


@dataclass(frozen=True, slots=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    child: Node


@dataclass(frozen=True, slots=True)
class Near:
    left: Node
    right: Node
    distance: int
    ordered: bool


Node = Term | Prefix | Phrase | And | Or | Not | Near
Leaf = Term | Prefix | Phrase


@dataclass(frozen=True, slots=True)
class Query:
    text: str
    root: Node


# -- lexer -----------------------------------------------------------------------------

_NEAR = re.compile(r"(O?NEAR)/(.*)")
_SCOPE = re.compile(r"([A-Za-z]+):(?=\S)")


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # word, phrase, lparen, rparen, and, or, not, minus, near, scope, end
    text: str
    column: int
    value: int = 0
    ordered: bool = False


def _lex(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        col = i + 1
        if char.isspace():
            i += 1
        elif char == "(":
            toks.append(_Tok("lparen", "(", col))
            i += 1
        elif char == ")":
            toks.append(_Tok("rparen", ")", col))
            i += 1
        elif char in '"“”„':
            end = i + 1
            while end < n and text[end] not in '"“”„':
                end += 1
            if end >= n:
                raise QuerySyntaxError("unterminated phrase: a closing '\"' is missing", col)
            toks.append(_Tok("phrase", text[i + 1 : end], col))
            i = end + 1
        elif char == "-" and i + 1 < n and not text[i + 1].isspace() and text[i + 1] != "-":
            toks.append(_Tok("minus", "-", col))
            i += 1
        else:
            scope = _SCOPE.match(text, i)
            if scope:
                name = scope.group(1)
                if name.lower() not in FIELDS:
                    raise QuerySyntaxError(
                        f"unknown field {name!r}: use title, lede, summary, content, url or source",
                        col,
                    )
                toks.append(_Tok("scope", name.lower(), col))
                i = scope.end()
                continue
            end = i
            while end < n and not text[end].isspace() and text[end] not in '()"“”„':
                end += 1
            word = text[i:end]
            i = end
            near = _NEAR.fullmatch(word)
            if near:
                if not near.group(2).isdecimal() or not near.group(2).isascii():
                    raise QuerySyntaxError(
                        f"{near.group(1)} needs a distance, like {near.group(1)}/5", col
                    )
                toks.append(_Tok("near", word, col, int(near.group(2)), near.group(1) == "ONEAR"))
            elif word in ("AND", "OR", "NOT"):
                toks.append(_Tok(word.lower(), word, col))
            elif word in ("NEAR", "ONEAR"):
                raise QuerySyntaxError(f"{word} needs a distance, like {word}/5", col)
            else:
                toks.append(_Tok("word", word, col))
    toks.append(_Tok("end", "", len(text) + 1))
    return toks


# -- parser ----------------------------------------------------------------------------


def _describe(tok: _Tok) -> str:
    if tok.kind == "end":
        return "the end of the query"
    return repr(tok.text)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _lex(text)
        self.i = 0

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def parse(self) -> Node:
        if self.peek().kind == "end":
            raise QuerySyntaxError("the query is empty", 1)
        node = self.or_expr(None)
        tok = self.peek()
        if tok.kind == "rparen":
            raise QuerySyntaxError("unexpected ')' without a matching '('", tok.column)
        if tok.kind != "end":  # pragma: no cover - every other token starts a term
            raise QuerySyntaxError(f"unexpected {_describe(tok)}", tok.column)
        return node

    def starts_term(self, tok: _Tok) -> bool:
        return tok.kind in ("word", "phrase", "lparen", "not", "minus", "scope")

    def or_expr(self, scope: str | None) -> Node:
        if self.peek().kind == "or":
            raise QuerySyntaxError("expected a term before 'OR'", self.peek().column)
        children = [self.and_expr(scope)]
        while self.peek().kind == "or":
            op = self.take()
            if not self.starts_term(self.peek()):
                raise QuerySyntaxError(
                    f"expected a term after 'OR', found {_describe(self.peek())}", op.column
                )
            children.append(self.and_expr(scope))
        return children[0] if len(children) == 1 else Or(tuple(children))

    def and_expr(self, scope: str | None) -> Node:
        tok = self.peek()
        if tok.kind == "and":
            raise QuerySyntaxError("expected a term before 'AND'", tok.column)
        if tok.kind == "near":
            raise QuerySyntaxError(f"expected a term before '{tok.text}'", tok.column)
        children = [self.unary(scope)]
        while True:
            tok = self.peek()
            if tok.kind == "and":
                self.take()
                if not self.starts_term(self.peek()):
                    raise QuerySyntaxError(
                        f"expected a term after 'AND', found {_describe(self.peek())}",
                        tok.column,
                    )
                children.append(self.unary(scope))
            elif self.starts_term(tok):
                children.append(self.unary(scope))
            else:
                break
        flat: list[Node] = []
        for child in children:
            flat.extend(child.children if isinstance(child, And) else (child,))
        return flat[0] if len(flat) == 1 else And(tuple(flat))

    def unary(self, scope: str | None) -> Node:
        tok = self.peek()
        if tok.kind in ("not", "minus"):
            self.take()
            if not self.starts_term(self.peek()):
                what = "'NOT'" if tok.kind == "not" else "'-'"
                raise QuerySyntaxError(
                    f"expected a term after {what}, found {_describe(self.peek())}", tok.column
                )
            return Not(self.unary(scope))
        return self.near(scope)

    def near(self, scope: str | None) -> Node:
        left = self.primary(scope)
        while self.peek().kind == "near":
            op = self.take()
            if not self.starts_term(self.peek()) or self.peek().kind in ("not", "minus"):
                raise QuerySyntaxError(
                    f"expected a word, phrase or (group) after '{op.text}', "
                    f"found {_describe(self.peek())}",
                    op.column,
                )
            right = self.primary(scope)
            for side in (left, right):
                if not _positional(side):
                    raise QuerySyntaxError(
                        f"each side of '{op.text}' must be a word, a phrase or a (group) of "
                        "those joined by OR",
                        op.column,
                    )
            left = Near(left, right, op.value, op.ordered)
        return left

    def primary(self, scope: str | None) -> Node:
        tok = self.take()
        if tok.kind == "scope":
            inner = self.peek()
            if inner.kind not in ("word", "phrase", "lparen"):
                raise QuerySyntaxError(
                    f"expected a word, phrase or (group) after '{tok.text}:'", tok.column
                )
            return self.primary(tok.text)
        if tok.kind == "lparen":
            if self.peek().kind == "rparen":
                raise QuerySyntaxError("empty parentheses", tok.column)
            node = self.or_expr(scope)
            close = self.take()
            if close.kind != "rparen":
                raise QuerySyntaxError(
                    f"expected ')' to close the '(' at column {tok.column}, "
                    f"found {_describe(close)}",
                    close.column,
                )
            return node
        if tok.kind == "phrase":
            return self.phrase(tok, scope)
        if tok.kind == "word":
            return self.word(tok, scope)
        if tok.kind == "rparen":
            raise QuerySyntaxError("unexpected ')' without a matching '('", tok.column)
        raise QuerySyntaxError(f"expected a term, found {_describe(tok)}", tok.column)

    def phrase(self, tok: _Tok, scope: str | None) -> Node:
        words = query_tokens(tok.text)
        if not words:
            raise QuerySyntaxError("empty phrase: put words between the quotes", tok.column)
        start = tok.column - 1  # the opening quote; the closing one ends the span
        span = (start, start + len(tok.text) + 2)
        return _sequence(f'"{tok.text}"', words, _fields(scope), span)

    def word(self, tok: _Tok, scope: str | None) -> Node:
        fields = _fields(scope)
        text = tok.text
        span = (tok.column - 1, tok.column - 1 + len(text))
        if "*" in text:
            if text.index("*") != len(text) - 1:
                raise QuerySyntaxError(
                    "'*' is allowed only at the end of a word, as in econom*", tok.column
                )
            words = query_tokens(text[:-1])
            if len(words) != 1 or len(words[0]) != 1 or len(words[0][0]) < 3:
                raise QuerySyntaxError(
                    "a wildcard needs at least 3 letters or digits before '*', as in econom*",
                    tok.column,
                )
            return Prefix(text, words[0][0], fields, span)
        words = query_tokens(text)
        if not words:
            raise QuerySyntaxError(f"{text!r} has no letters or digits to search for", tok.column)
        return _sequence(text, words, fields, span)


def _fields(scope: str | None) -> tuple[str, ...]:
    return (scope,) if scope else BODY_FIELDS


def _sequence(text: str, words: list[list[str]], fields: tuple[str, ...], span: Span) -> Node:
    """A word or phrase: hyphenated words expand to the split and the joined spelling."""
    variants: list[tuple[str, ...]] = [()]
    for parts in words:
        spellings = [tuple(parts)] if len(parts) == 1 else [tuple(parts), ("".join(parts),)]
        variants = [v + s for v in variants for s in spellings][:16]
    nodes: list[Node] = [
        Term(text, v[0], fields, span) if len(v) == 1 else Phrase(text, v, fields, span)
        for v in variants
    ]
    return nodes[0] if len(nodes) == 1 else Or(tuple(nodes))


def _positional(node: Node) -> bool:
    if isinstance(node, Term | Prefix | Phrase):
        return True
    if isinstance(node, Or):
        return all(_positional(child) for child in node.children)
    return False


def parse_query(text: str) -> Query:
    """Parse *text*; raise :class:`QuerySyntaxError` with the column and what was expected."""
    if not isinstance(text, str):
        raise QuerySyntaxError("the query must be text", 1)
    return Query(text, _Parser(text).parse())


def leaves(node: Node, *, positive: bool = True) -> list[Leaf]:
    """The terms, phrases and wildcards of *node*, in query order (only those not under NOT
    when *positive*)."""
    if isinstance(node, Term | Prefix | Phrase):
        return [node]
    if isinstance(node, Not):
        return [] if positive else leaves(node.child, positive=False)
    if isinstance(node, Near):
        return leaves(node.left, positive=positive) + leaves(node.right, positive=positive)
    out: list[Leaf] = []
    for child in node.children:
        out.extend(leaves(child, positive=positive))
    return out
