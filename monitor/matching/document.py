"""The article tokenised once: its tokens per field, and the sets that queries and the index
look words up in.

The ``lede`` field is a view of the article rather than one of its fields
(:func:`monitor.matching.sentences.lede`): its tokens are the summary's when there is a
summary, else those of the content's opening, and it is tokenised only when a watchlist
searches it or a hit asks for it.

Every watchlist that is a candidate for an article is evaluated on this one object, and its
caches (the tokens joined for wildcard searches, the tokens' first characters, the last window
of character offsets for snippets) serve all of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from operator import itemgetter

from monitor.matching.query import FIELDS
from monitor.matching.sentences import lede
from monitor.matching.text import (
    NO_TOKENS,
    FieldTokens,
    fold,
    offset_spans,
    tokenise,
    word_places,
)
from monitor.matching.types import Document

__all__ = ["TokenisedDocument"]


class TokenisedDocument:
    """An article's tokens per field, plus the sets used for candidate lookup."""

    __slots__ = (
        "_beginnings",
        "_doc",
        "_joined",
        "_lede",
        "_lede_folded",
        "_lede_tokens",
        "_offsets",
        "_places",
        "_prefix_cache",
        "body",
        "every",
        "fields",
        "sets",
    )

    def __init__(self, doc: Document, fields: tuple[str, ...] = FIELDS) -> None:
        self._doc = doc
        self._lede: str | None = None
        self._lede_folded: int | None = None
        self._lede_tokens: FieldTokens | None = None
        # Fields no watchlist searches (often url and source) are not tokenised at all.
        self.fields: dict[str, FieldTokens] = {
            name: tokenise(getattr(doc, name)) if name in fields else FieldTokens()
            for name in _ARTICLE_FIELDS
        }
        self.fields["lede"] = self.lede_tokens() if "lede" in fields else NO_TOKENS
        self.sets: dict[str, set[str]] = {n: t.vocabulary for n, t in self.fields.items()}
        # Copying the largest set and adding the small ones in place makes no intermediate
        # set: measurably cheaper than title | summary | content.
        self.body: set[str] = self.sets["content"].copy()
        self.body |= self.sets["title"]
        self.body |= self.sets["summary"]
        url, source = self.sets["url"], self.sets["source"]
        self.every: set[str] = self.body | url | source if url or source else self.body
        self._joined: str | None = None
        self._beginnings: dict[int, set[str]] = {}
        self._prefix_cache: dict[str, list[str]] = {}
        self._offsets: dict[str, _FieldOffsets] = {}
        self._places: dict[tuple[str, str, bool], list[tuple[int, int]] | None] = {}

    def text(self, name: str) -> str:
        """The text of field *name* (the lede is made once, on first use)."""
        if name != "lede":
            text: str = getattr(self._doc, name)
            return text
        if self._lede is None:
            self._lede = lede(self._doc)
        return self._lede

    def word_places(self, name: str, needle: str, *, whole: bool) -> list[tuple[int, int]] | None:
        """:func:`~monitor.matching.text.word_places` in field *name*'s folded text, kept: a
        hit's score finds every mention with it, and its snippet then looks up the first one
        and those in the sentence shown rather than searching again."""
        key = (name, needle, whole)
        if key not in self._places:
            self._places[key] = word_places(self.fields[name].folded, needle, whole=whole)
        return self._places[key]

    def known_places(self, name: str, needle: str, *, whole: bool) -> list[tuple[int, int]] | None:
        """What :meth:`word_places` found already, else None (nothing is searched here)."""
        return self._places.get((name, needle, whole))

    def lede_folded_length(self) -> int:
        """How long the lede is once folded: where it ends in the folded text of the field it
        opens (folding goes character by character, so it folds to the start of that)."""
        if self._lede_folded is None:
            text = self.text("lede")
            self._lede_folded = len(text) if text.isascii() else len(fold(text))
        return self._lede_folded

    def lede_tokens(self) -> FieldTokens:
        """The lede's tokens: the summary's when the lede is the summary (tokenised once for
        both), else those of the content's opening."""
        if self._lede_tokens is None:
            text = self.text("lede")
            summary = self.fields["summary"]  # empty when no watchlist searches it
            if summary.folded and text == self._doc.summary:
                self._lede_tokens = summary
            else:
                self._lede_tokens = tokenise(text)
        return self._lede_tokens

    def offsets(self, name: str, text: str, since: int, until: int | None) -> _FieldOffsets:
        """A field's tokens with character offsets, at least for the words from position
        *since* to *until* (None: to the end). The last window is kept, so hits whose
        snippets fall in it share the work (only snippets that the quick path of
        :mod:`monitor.matching.snippets` could not place come here)."""
        found = self._offsets.get(name)
        if (
            found is not None
            and found.since <= since
            and (found.until is None or (until is not None and until <= found.until))
        ):
            return found
        tuples = offset_spans(text, since=since, until=until)
        exact: dict[tuple[int, int], tuple[int, int]] = {}
        for _, position, start, end, last in tuples:
            exact.setdefault((position, last), (start, end))
        found = _FieldOffsets(FieldTokens.from_spans(tuples), exact, since, until)
        self._offsets[name] = found
        return found

    def have_prefixes(self, prefixes: list[str]) -> list[bool]:
        """For each of *prefixes* (none empty), whether some token (any field) starts with
        it.

        Each is looked for in the article's tokens joined by spaces (a scan in C, a few
        times cheaper than testing each token in Python). Nearly every prefix asked about
        begins no word of the article (with 100,000 watchlists, one in a hundred does), so
        when there are many, the set of the tokens' first few characters turns most away
        first."""
        if len(prefixes) <= _SCANS:
            spaced = self._spaced()
            return [(" " + p) in spaced for p in prefixes]
        starts = self.starts(_START)
        held = [
            p[:_START] in starts if len(p) >= _START else p in self.starts(len(p)) for p in prefixes
        ]
        if not any(held):  # most articles, with 100,000 watchlists: no need to join
            return held
        spaced = self._spaced()
        return [h and (" " + p) in spaced for p, h in zip(prefixes, held, strict=True)]

    def _spaced(self) -> str:
        """The article's distinct tokens, each after a space, then a closing space."""
        if self._joined is None:
            self._joined = " " + " ".join(self.every) + " "
        return self._joined

    def starts(self, size: int) -> set[str]:
        """The first *size* characters of every token (all of a shorter one)."""
        found = self._beginnings.get(size)
        if found is None:
            found = self._beginnings[size] = set(map(itemgetter(slice(0, size)), self.every))
        return found

    def prefix_tokens(self, prefix: str) -> list[str]:
        """The article's distinct tokens that start with *prefix* (any field)."""
        found = self._prefix_cache.get(prefix)
        if found is None:
            spaced, needle = self._spaced(), " " + prefix
            found = []
            at = spaced.find(needle)
            while at != -1:
                end = spaced.index(" ", at + 1)  # the closing space ends the last token
                found.append(spaced[at + 1 : end])
                at = spaced.find(needle, end)
            self._prefix_cache[prefix] = found
        return found


# The fields an article has; the lede is made from two of them.
_ARTICLE_FIELDS = tuple(name for name in FIELDS if name != "lede")
# How many first characters of each token have_prefixes sets apart (a wildcard has at least 3
# before the '*'): 4 tells nearly all absent prefixes apart.
_START = 4
# Up to how many prefixes have_prefixes looks for in the joined tokens straight away, rather
# than building the set of first characters first. On a 400-word article joining costs about
# 6 µs and each search 0.8 µs; the set costs about 15 µs, then 0.1 µs per prefix, and with
# 100,000 watchlists two articles in three need no search after it.
_SCANS = 14


@dataclass(frozen=True, slots=True)
class _FieldOffsets:
    tokens: FieldTokens
    # (first word position, last word position) -> [start, end) characters in the text
    exact: dict[tuple[int, int], tuple[int, int]]
    since: int  # the word positions covered
    until: int | None
