"""``stem: true``: a watchlist's plain words match their inflected forms in the article's
language (``market`` matches ``markets``, ``Япония`` matches ``Японии``).

The stemmers are Snowball's, from PyStemmer (C, the algorithms inside the wheel). Rather than
stemming every article, the query is rewritten for each article it is a candidate for: a
plain word becomes the OR of the article's words with the same stem in the article's
language (:func:`expand`), so the closure, the walk of what counts, the score and the
highlights all see real words of the article, and a hit explains itself as the query wrote
it. Quoted phrases and wildcards are left exact; a word also always matches itself, so an
article of unknown language, or of one without a stemmer, is matched as without ``stem``.

The index files such a watchlist under the stem's beginning as a wildcard prefix
(:func:`index_root`): every form whose stem is the word's stem begins with it.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Iterable
from typing import Any

from monitor.matching.query import And, Near, Node, Not, Or, Prefix, Term, leaves

__all__ = [
    "STEMMERS",
    "expand",
    "has_other_forms",
    "index_root",
    "stem_groups",
    "stemmer",
    "word_stems",
]

# ISO 639-1 (or -3) codes -> Snowball algorithm names.
STEMMERS = {
    "ar": "arabic",
    "hy": "armenian",
    "eu": "basque",
    "ca": "catalan",
    "cs": "czech",
    "da": "danish",
    "nl": "dutch",
    "en": "english",
    "eo": "esperanto",
    "et": "estonian",
    "fi": "finnish",
    "fr": "french",
    "de": "german",
    "el": "greek",
    "hi": "hindi",
    "hu": "hungarian",
    "id": "indonesian",
    "ga": "irish",
    "it": "italian",
    "lt": "lithuanian",
    "ne": "nepali",
    "no": "norwegian",
    "nb": "norwegian",
    "nn": "norwegian",
    "fa": "persian",
    "pl": "polish",
    "pt": "portuguese",
    "ro": "romanian",
    "ru": "russian",
    "sr": "serbian",
    "st": "sesotho",
    "es": "spanish",
    "sv": "swedish",
    "ta": "tamil",
    "tr": "turkish",
    "yi": "yiddish",
}
# A wildcard prefix needs 3 characters (monitor.matching.query); a word whose stem's
# beginning is shorter makes its watchlist one evaluated for every article.
_SHORTEST = 3
# The quotes that open a phrase (monitor.matching.query's lexer).
_QUOTES = '"“”„'


@functools.cache
def stemmer(language: str | None) -> Any | None:
    """The Snowball stemmer for *language* (a primary code such as ``ru``), else None."""
    name = STEMMERS.get(language or "")
    if name is None:
        return None
    import Stemmer  # PyStemmer

    return Stemmer.Stemmer(name)


def stem_groups(words: Iterable[str], language: str | None) -> dict[str, list[str]] | None:
    """The *words* grouped by their stem in *language*; None without a stemmer for it."""
    found = stemmer(language)
    if found is None:
        return None
    listed = list(words)
    groups: dict[str, list[str]] = {}
    for word, stem in zip(listed, found.stemWords(listed), strict=True):
        groups.setdefault(stem, []).append(word)
    return groups


def word_stems(node: Node, language: str | None) -> tuple[tuple[str, str], ...]:
    """Each plain word of *node* (under NOT too) with its stem in *language* (none without
    a stemmer for it)."""
    found = stemmer(language)
    if found is None:
        return ()
    words = dict.fromkeys(
        leaf.token
        for leaf in leaves(node, positive=False)
        if isinstance(leaf, Term) and not _exact(leaf)
    )
    return tuple((word, found.stemWord(word)) for word in words)


def has_other_forms(stems: tuple[tuple[str, str], ...], groups: dict[str, list[str]]) -> bool:
    """Whether the article (its words by stem, *groups*) holds a form of one of the words
    of *stems* (:func:`word_stems`) other than the word itself: whether :func:`expand`
    would change anything. Most candidates hold none, and need no closure of their own."""
    for word, stem in stems:
        forms = groups.get(stem)
        if forms and (len(forms) > 1 or forms[0] != word):
            return True
    return False


def expand(node: Node, language: str | None, groups: dict[str, list[str]]) -> Node:
    """*node* with each plain word made the OR of the article's words (*groups*, by stem in
    *language*) that share its stem; phrases and wildcards as they are."""
    found = stemmer(language)
    if found is None:
        return node
    return _expand(node, found, groups)


def _exact(node: Term) -> bool:
    """Whether *node* was written in quotes: a quoted word is a phrase of one, and exact."""
    return node.text[:1] in _QUOTES


def _expand(node: Node, found: Any, groups: dict[str, list[str]]) -> Node:
    if isinstance(node, Term) and not _exact(node):
        forms = [w for w in groups.get(found.stemWord(node.token), ()) if w != node.token]
        if not forms:
            return node
        terms = [node, *(Term(node.text, w, node.fields, node.span) for w in sorted(forms))]
        return Or(tuple(terms))
    # A node none of whose words has another form in the article is returned as it is (the
    # same object), so that the caller sees at once that nothing needs compiling again.
    if isinstance(node, And | Or):
        children = tuple(_expand(child, found, groups) for child in node.children)
        if all(map(operator.is_, children, node.children)):
            return node
        return And(children) if isinstance(node, And) else Or(children)
    if isinstance(node, Not):
        child = _expand(node.child, found, groups)
        return node if child is node.child else Not(child)
    if isinstance(node, Near):
        left, right = _expand(node.left, found, groups), _expand(node.right, found, groups)
        if left is node.left and right is node.right:
            return node
        return Near(left, right, node.distance, node.ordered)
    return node  # a phrase or a wildcard: exact


def index_root(node: Node, languages: Iterable[str]) -> Node | None:
    """A stand-in for *node* to file in the index: each plain word a wildcard of the part it
    shares with its stem in every one of *languages*, less the last character (which a
    stemmer may change: happy -> happi). None when some word leaves fewer than 3."""
    stemmers = [s for s in map(stemmer, languages) if s is not None]
    try:
        return _index_root(node, stemmers)
    except _TooShort:
        return None


class _TooShort(Exception):
    pass


def _index_root(node: Node, stemmers: list[Any]) -> Node:
    if isinstance(node, Term) and not _exact(node):
        if not stemmers or len(node.token) < _SHORTEST:
            # Snowball leaves a word this short as it is, and no longer one is cut down to it
            # in practice: the word itself is the anchor.
            return node
        shared = min((_common(node.token, s.stemWord(node.token)) for s in stemmers), key=len)
        if len(shared) - 1 >= _SHORTEST:
            return Prefix(node.text, shared[:-1], node.fields, node.span)
        if shared == node.token and len(shared) >= _SHORTEST:
            # A short word that is its own stem (war, oil): its forms begin with it, but for
            # one a stemmer changed at the end (y -> i), which no such short word's forms have.
            return Prefix(node.text, shared, node.fields, node.span)
        raise _TooShort
    if isinstance(node, And):
        return And(tuple(_index_root(child, stemmers) for child in node.children))
    if isinstance(node, Or):
        return Or(tuple(_index_root(child, stemmers) for child in node.children))
    if isinstance(node, Not):
        return node  # requires nothing
    if isinstance(node, Near):
        left, right = _index_root(node.left, stemmers), _index_root(node.right, stemmers)
        return Near(left, right, node.distance, node.ordered)
    return node


def _common(word: str, stem: str) -> str:
    size = 0
    for a, b in zip(word, stem, strict=False):
        if a != b:
            break
        size += 1
    return word[:size]
