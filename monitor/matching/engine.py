"""The matcher: every enabled watchlist compiled once and filed in an index under words it
requires, so that each article is checked only against the watchlists it could match.

Matching one article costs time in proportion to its length and to the watchlists it could
match, not to the number of watchlists (the idea of Lucene's Monitor and the Elasticsearch
percolator):

1. At compile time each query becomes a closure (:mod:`monitor.matching.compile`) and is
   reduced to clauses of words it requires (:mod:`monitor.matching.anchors`). It is filed
   under pairs of words, each word of its most selective clause of plain words with each word
   or wildcard prefix of the most selective of its other clauses (:mod:`monitor.matching.pairs`),
   or under the words of that first clause alone when there is no other clause or the pairs
   would be too many. A query with no clause of plain words is filed under its most selective
   clause, words and prefixes. Queries with no clause at all (only NOT) are kept apart and
   evaluated for every article; there are few.
2. The article is tokenised once (:mod:`monitor.matching.document`).
3. Candidates are the watchlists filed under words the article holds (both of a pair) or
   under a prefix of one of them; only those are evaluated in full, by their closures. A
   watchlist with ``translations:`` is filed under the words of each of its queries and
   evaluated by the one of the article's language; one with ``stem: true`` is also filed per
   language under its words' stems, and its query rewritten for the article's forms of them
   (:mod:`monitor.matching.stemming`).
4. Each hit is walked for what counts towards it (:mod:`monitor.matching.satisfied`), given
   its mentions and score (:mod:`monitor.matching.relevance`), dropped if the watchlist's
   ``min_mentions`` or ``min_score`` says so, and explained (:mod:`monitor.matching.snippets`).
   Articles that match nothing never reach this step.

Only the first :data:`MAX_MATCHED_CHARS` characters of each field are matched (and so
explained): the cost of an article is linear in its length, and this bounds the length.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field

from monitor.matching.anchors import GUESS, cost, requirements
from monitor.matching.compile import Predicate, compile_query, node_fields
from monitor.matching.document import TokenisedDocument
from monitor.matching.language import primary
from monitor.matching.pairs import PairTable
from monitor.matching.query import BODY_FIELDS, FIELDS, Node, Query, parse_query
from monitor.matching.rarity import Rarity
from monitor.matching.relevance import Controls, Relevance, controls_of, relevance
from monitor.matching.satisfied import Walk, walker
from monitor.matching.snippets import explain
from monitor.matching.stemming import (
    STEMMERS,
    expand,
    has_other_forms,
    index_root,
    stem_groups,
    word_stems,
)
from monitor.matching.types import Document, MatchResult, WatchlistLike

__all__ = ["MAX_MATCHED_CHARS", "Matcher", "matched_part"]

# How many characters of each field are matched: about 30,000 words, more than the longest
# news article. Past it, the text is not read: an entry of megabytes (an attack, or a whole
# site in one item) once held a worker for minutes; 200,000 characters match in about 0.1 s,
# even under a wildcard in a NEAR that stands for every word of them.
MAX_MATCHED_CHARS = 200_000
# A cut goes back to the last space within this many characters, so no word is cut in two
# (a cut 'economy' would be the word 'econ').
_CUT_BACK = 200


def matched_part(doc: Document) -> Document:
    """*doc* with each field cut to the part that is matched (see :data:`MAX_MATCHED_CHARS`)."""
    if (
        len(doc.content) <= MAX_MATCHED_CHARS
        and len(doc.summary) <= MAX_MATCHED_CHARS
        and len(doc.title) <= MAX_MATCHED_CHARS
        and len(doc.url) <= MAX_MATCHED_CHARS
        and len(doc.source) <= MAX_MATCHED_CHARS
    ):
        return doc  # nearly every article
    return dataclasses.replace(
        doc,
        title=_cut(doc.title),
        summary=_cut(doc.summary),
        content=_cut(doc.content),
        url=_cut(doc.url),
        source=_cut(doc.source),
    )


def _cut(text: str) -> str:
    if len(text) <= MAX_MATCHED_CHARS:
        return text
    if text[MAX_MATCHED_CHARS].isspace():  # the cut falls between two words
        return text[:MAX_MATCHED_CHARS]
    # Any whitespace character separates words for the tokeniser.
    for at in range(MAX_MATCHED_CHARS - 1, MAX_MATCHED_CHARS - 1 - _CUT_BACK, -1):
        if text[at].isspace():
            return text[:at]
    return text[:MAX_MATCHED_CHARS]


@dataclass(frozen=True, slots=True)
class _Variant:
    """One query of a watchlist, compiled: its ``query``, or one of its ``translations``."""

    query: Query
    predicate: Predicate
    walk: Walk  # what counts towards a hit (monitor.matching.satisfied)
    # Per language, the query's plain words with their stems (stem: true), made on first use.
    stems: dict[str | None, tuple[tuple[str, str], ...]] = field(
        default_factory=dict, compare=False
    )

    @classmethod
    def of(cls, query: Query) -> _Variant:
        return cls(query, compile_query(query.root), walker(query.root))


@dataclass(slots=True)
class _Entry:
    id: str
    query: Query
    predicate: Predicate
    feeds: frozenset[str]
    tags: frozenset[str]
    languages: frozenset[str]
    controls: Controls | None  # None: the watchlist sets none
    walk: Walk  # what counts towards a hit (monitor.matching.satisfied)
    # The query for articles in each language its translations: name (by primary code).
    translations: dict[str, _Variant] = field(default_factory=dict)
    stem: bool = False  # plain words match their inflected forms (monitor.matching.stemming)
    default: _Variant | None = None  # query, predicate and walk as one (set once made)

    def variant(self, language: str | None) -> _Variant:
        """The query an article in *language* is matched against."""
        found = self.translations.get(language or "") if self.translations else None
        if found is not None:
            return found
        if self.default is None:
            self.default = _Variant(self.query, self.predicate, self.walk)
        return self.default


@dataclass(slots=True)
class _Index:
    # Each query is filed under words it requires (see monitor.matching.pairs); only a query
    # with no clause of plain words has its most selective clause's prefixes filed here (its
    # words go in the table), and one with no clause at all (only NOT) is evaluated for every
    # article.
    table: PairTable = field(default_factory=PairTable)
    prefixes: dict[str, list[int]] = field(default_factory=dict)
    prefixes_by3: dict[str, list[str]] = field(default_factory=dict)
    unanchored: list[int] = field(default_factory=list)


class Matcher:
    """All enabled watchlists compiled once; :meth:`match` is pure and safe to share.

    With ``filters=False`` the ``feeds`` and ``languages`` restrictions are ignored (for
    checking examples and matching local files, which carry no feed). *rarity* (from a
    sample of recent articles) chooses the words each watchlist is filed under; it changes
    how fast matching is, never what matches. *array_threshold* overrides when the word
    index switches to its array layout (tests use both).
    """

    def __init__(
        self,
        watchlists: Iterable[WatchlistLike],
        *,
        filters: bool = True,
        rarity: Rarity | None = None,
        array_threshold: int | None = None,
    ) -> None:
        self._filters = filters
        self._rarity = rarity or GUESS
        self._entries: list[_Entry] = []
        self._index = _Index(PairTable(threshold=array_threshold))
        # The stem: true watchlists, filed again per language, under the beginnings their
        # words share with their stems in it: made on the first article in that language.
        self._stem_entries: list[int] = []
        self._stem_indexes: dict[str, _Index | None] = {}
        self._threshold = array_threshold
        self._searched: set[str] = set(BODY_FIELDS)
        for spec in watchlists:
            if not spec.enabled:
                continue
            query = parse_query(spec.query)
            feeds = {f for f in spec.feeds or () if not f.startswith("tag:")}
            tags = {f.removeprefix("tag:") for f in spec.feeds or () if f.startswith("tag:")}
            entry = _Entry(
                id=spec.id,
                query=query,
                predicate=compile_query(query.root),
                feeds=frozenset(feeds),
                tags=frozenset(tags),
                languages=frozenset(lang.lower().split("-")[0] for lang in spec.languages or ()),
                controls=controls_of(spec) or None,
                walk=walker(query.root),
                translations={
                    str(primary(code)): _Variant.of(parse_query(text))
                    for code, text in (getattr(spec, "translations", None) or {}).items()
                },
                stem=bool(getattr(spec, "stem", False)),
            )
            self._add(entry)
            self._searched.update(node_fields(query.root))
            for variant in entry.translations.values():
                self._searched.update(node_fields(variant.query.root))
        self._fields = tuple(name for name in FIELDS if name in self._searched)
        self._index.table.seal()

    def _add(self, entry: _Entry) -> None:
        """File *entry* under the words of its query and of each of its translations (as
        they are written: a stem: true watchlist is also filed per language, see
        :meth:`_stem_index`)."""
        number = len(self._entries)
        self._entries.append(entry)
        for root in [entry.query.root, *(v.query.root for v in entry.translations.values())]:
            self._file(self._index, number, root)
        if entry.stem:
            self._stem_entries.append(number)

    def _stem_index(self, language: str | None) -> _Index | None:
        """The stem: true watchlists filed for articles in *language*: each under the
        beginnings the words of the query it takes for that language share with their
        stems (:func:`~monitor.matching.stemming.index_root`). None without a stemmer for
        it, or without such watchlists."""
        if not self._stem_entries or language not in STEMMERS:
            return None
        if language not in self._stem_indexes:
            index = _Index(PairTable(threshold=self._threshold))
            for number in self._stem_entries:
                entry = self._entries[number]
                if self._filters and entry.languages and language not in entry.languages:
                    continue
                root = entry.variant(language).query.root
                self._file(index, number, index_root(root, [language]))
            index.table.seal()
            self._stem_indexes[language] = index
        return self._stem_indexes[language]

    def _file(self, index: _Index, number: int, root: Node | None) -> None:
        rarity = self._rarity
        clauses = None if root is None else requirements(root, rarity)
        if clauses is None:
            if number not in index.unanchored:
                index.unanchored.append(number)
            return
        clauses.sort(key=lambda clause: cost(clause, rarity))
        table = index.table
        words = [c for c in clauses if all(kind == "t" for kind, _ in c)]
        if words:
            # The cheapest all-word clause comes first; the next cheapest clause of any kind
            # second (an OR of many words would file the query under too many pairs).
            first = words[0]
            second = next((c for c in clauses if c is not first), None)
            if second is not None and len(first) * len(second) <= 64:
                for _, word in first:
                    for kind, text in second:
                        table.file(word, text, number, prefix=kind == "p")
                return
            for _, word in first:
                table.file(word, None, number)
            return
        for kind, text in clauses[0]:
            if kind == "t":
                table.file(text, None, number)
            else:
                if text not in index.prefixes:
                    index.prefixes_by3.setdefault(text[:3], []).append(text)
                index.prefixes.setdefault(text, []).append(number)

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def ids(self) -> list[str]:
        return [entry.id for entry in self._entries]

    def _candidates(self, d: TokenisedDocument, language: str | None = None) -> list[int]:
        found = self._lookup(self._index, d)
        stemmed = self._stem_index(language)
        if stemmed is not None:
            found |= self._lookup(stemmed, d)
        return sorted(found)

    def _lookup(self, index: _Index, d: TokenisedDocument) -> set[int]:
        every = d.every
        found: set[int] = set(index.unanchored)
        found.update(index.table.lookup(every, d.have_prefixes))
        if index.prefixes:
            for key in index.prefixes_by3.keys() & d.starts(3):
                wildcards = index.prefixes_by3[key]
                for prefix, present in zip(wildcards, d.have_prefixes(wildcards), strict=True):
                    if present:
                        found.update(index.prefixes[prefix])
        return found

    def _passes_filters(self, entry: _Entry, doc: Document) -> bool:
        if not self._filters:
            return True
        if (entry.feeds or entry.tags) and not (entry.feeds & doc.feeds or entry.tags & doc.tags):
            return False
        language = doc.language
        return not (
            entry.languages and language and language.lower().split("-")[0] not in entry.languages
        )

    def match_ids(self, doc: Document) -> list[str]:
        """The ids of the watchlists that match, without explanations (the fast path)."""
        doc = matched_part(doc)
        d = TokenisedDocument(doc, self._fields)
        return [entry.id for entry, _ in self._hits(doc, d)]

    def match(self, doc: Document) -> list[MatchResult]:
        """Every watchlist that matches *doc* and keeps the hit by its relevance controls,
        each with the reasons why and its score."""
        # Snippets and explanations come from the part of each field that is matched.
        doc = matched_part(doc)
        d = TokenisedDocument(doc, self._fields)
        out = []
        for entry, variant in self._hits(doc, d):
            found = variant.walk(d)
            weight = relevance(found, d)
            if entry.controls is None or entry.controls.keeps(weight):
                query = variant.query
                out.append(explain(entry.id, query, doc, d, found=found, score=weight.score))
        return out

    def weigh(self, doc: Document) -> list[tuple[MatchResult, Relevance]]:
        """Every watchlist that matches *doc*, whether or not its relevance controls keep the
        hit, with the hit's mentions and score: what a backtest shows the controls' trade
        with."""
        # Snippets and explanations come from the part of each field that is matched.
        doc = matched_part(doc)
        d = TokenisedDocument(doc, self._fields)
        out = []
        for entry, variant in self._hits(doc, d):
            found = variant.walk(d)
            weight = relevance(found, d)
            result = explain(entry.id, variant.query, doc, d, found=found, score=weight.score)
            out.append((result, weight))
        return out

    def _hits(self, doc: Document, d: TokenisedDocument) -> list[tuple[_Entry, _Variant]]:
        """The watchlists that match, each with the query it matched through."""
        out = []
        language = primary(doc.language)
        groups: dict[str, list[str]] | None = None  # the article's words by stem, made once
        for entry in map(self._entries.__getitem__, self._candidates(d, language)):
            if not self._passes_filters(entry, doc):
                continue
            if not entry.translations and not entry.stem:  # nearly every watchlist
                if entry.predicate(d):
                    out.append((entry, entry.variant(None)))
                continue
            variant = entry.variant(language)
            if entry.stem:
                if groups is None:
                    groups = stem_groups(d.every, language) or {}
                variant = _stemmed(variant, language, groups)
            if variant.predicate(d):
                out.append((entry, variant))
        return out


def _stemmed(variant: _Variant, language: str | None, groups: dict[str, list[str]]) -> _Variant:
    """*variant* with its plain words standing for their forms in the article (*groups*)."""
    stems = variant.stems.get(language)
    if stems is None:
        stems = variant.stems[language] = word_stems(variant.query.root, language)
    if not has_other_forms(stems, groups):
        return variant
    root = expand(variant.query.root, language, groups)
    if root is variant.query.root:  # no word of it has another form in the article
        return variant
    return _Variant.of(Query(variant.query.text, root))
