"""How much a hit is about what matched it: how often the query's satisfied terms are
mentioned, and a score from those mentions. A watchlist may drop the hits below either
(``min_mentions:``, ``min_score:``).

Mentions are the occurrences of the terms that count towards the hit
(:mod:`monitor.matching.satisfied`: not those under NOT or an unsatisfied branch, and under
NEAR only those within the distance), over all fields; two terms found at the same place
(``naira`` and ``naira*``) are one mention, and the lede's words are the summary's or the
content's, not counted twice.

The score weighs each mention by where it is: the title most (``TITLE_WEIGHT``), then the lede
(the summary, else the content's first three sentences: ``LEDE_WEIGHT``), then anywhere else
(``BODY_WEIGHT``); and saturates as BM25's term frequency does, ``w / (w + SATURATION)`` for
the weighted sum ``w``, so a tenth mention adds little and the score stays below 1. With the
defaults: one mention in the body scores 0.2, two 0.33, one in the lede 0.33, one in the
title 0.43, the title and the lede 0.56, the title, the lede and three more 0.67. A hit with
no term to count (a NOT-only query) scores 0.

It is computed only for hits: an article that matches nothing costs nothing here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from monitor.matching.document import TokenisedDocument
from monitor.matching.query import Prefix, Term
from monitor.matching.satisfied import Evidence, occurrences_counted
from monitor.matching.sentences import MAX_LEDE, is_lede
from monitor.matching.types import WatchlistLike

__all__ = [
    "BODY_WEIGHT",
    "LEDE_WEIGHT",
    "SATURATION",
    "TITLE_WEIGHT",
    "Controls",
    "Relevance",
    "controls_of",
    "relevance",
]

TITLE_WEIGHT = 3.0
LEDE_WEIGHT = 2.0
BODY_WEIGHT = 1.0  # the rest of the summary and content, the url and the source
# The weighted mentions at which the score reaches one half.
SATURATION = 4.0


class Relevance(NamedTuple):
    """A hit's mentions and score (a named tuple: one is made for every hit)."""

    mentions: int
    score: float


_NOTHING = Relevance(0, 0.0)


@dataclass(frozen=True, slots=True)
class Controls:
    """A watchlist's relevance controls: a hit needs at least *min_mentions* mentions and a
    score of at least *min_score* (0 and 0.0: no control)."""

    min_mentions: int = 0
    min_score: float = 0.0

    def keeps(self, found: Relevance) -> bool:
        return found.mentions >= self.min_mentions and found.score >= self.min_score

    def __bool__(self) -> bool:
        return bool(self.min_mentions or self.min_score)


def controls_of(watchlist: WatchlistLike) -> Controls:
    """The controls a watchlist sets. Read only where present: the matcher also takes
    stand-ins that carry just the fields of :class:`~monitor.matching.types.WatchlistLike`."""
    mentions = getattr(watchlist, "min_mentions", None)
    score = getattr(watchlist, "min_score", None)
    return Controls(int(mentions or 0), float(score or 0.0))


def relevance(found: list[Evidence], d: TokenisedDocument) -> Relevance:
    """The mentions and score of a hit from what counts towards it (see the module
    docstring)."""
    if not found:
        return _NOTHING
    has_summary = is_lede(d.text("summary"))
    # The lede's words are its source's: the summary's, or the content's first ones.
    by_field: dict[str, list[Evidence]] = {}
    for evidence in found:
        name = evidence.field
        if name == "lede":
            name = "summary" if has_summary else "content"
        by_field.setdefault(name, []).append(evidence)
    mentions, weight = 0, 0.0
    for name, counted in by_field.items():
        starts, lede_end = _places(name, counted, d, lede=name == "content" and not has_summary)
        mentions += len(starts)
        if name == "title":
            weight += TITLE_WEIGHT * len(starts)
        elif name == "summary" or lede_end is not None:
            in_lede = len(starts) if lede_end is None else sum(1 for s in starts if s < lede_end)
            weight += LEDE_WEIGHT * in_lede + BODY_WEIGHT * (len(starts) - in_lede)
        else:
            weight += BODY_WEIGHT * len(starts)
    return Relevance(mentions, weight / (weight + SATURATION))


def _places(
    name: str, counted: list[Evidence], d: TokenisedDocument, *, lede: bool
) -> tuple[set[int], int | None]:
    """Where in field *name* the terms of *counted* are mentioned, as a set of starts (two
    terms at one place are one mention), and, when *lede*, where the lede ends in the same
    units (the content's opening is the lede of an article without a summary).

    Plain words and wildcards are found in the field's folded text with ``str.find``
    (character offsets): a scan in C, where looking up their word positions scans the
    field's words one by one in Python's comparisons, several times slower on a
    400-word article. Phrases, NEAR's occurrences, lede-scoped terms and words the folded
    text does not show as such take word positions."""
    starts = _character_starts(name, counted, d)
    if starts is not None:
        if lede and starts and min(starts) >= MAX_LEDE and d.text(name).isascii():
            # Past the longest lede, in text that folds character for character: no need
            # to find where the lede ends.
            return starts, 0
        return starts, d.lede_folded_length() if lede else None
    positions = {start for e in counted for start, _ in occurrences_counted(e, d)}
    return positions, d.lede_tokens().length if lede else None


def _character_starts(name: str, counted: list[Evidence], d: TokenisedDocument) -> set[int] | None:
    """Character offsets in field *name*'s folded text where *counted* are mentioned, or None
    when that cannot be told from the folded text alone (see :func:`_places`)."""
    starts: set[int] = set()
    altered = d.fields[name].altered
    for evidence in counted:
        leaf = evidence.leaf
        if evidence.spans is not None or evidence.field == "lede":
            return None
        if isinstance(leaf, Term):
            if leaf.token in altered:
                return None
            places = d.word_places(name, leaf.token, whole=True)
        elif isinstance(leaf, Prefix):
            if altered and any(token in altered for token in d.prefix_tokens(leaf.prefix)):
                return None
            places = d.word_places(name, leaf.prefix, whole=False)
        else:
            return None
        if places is None:
            return None
        starts.update(start for start, _ in places)
    return starts
