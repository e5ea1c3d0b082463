"""Why a watchlist matched an article: the terms that count towards the hit, per field, and a
snippet of plain text with the character spans of those terms' words.

What counts is decided by walking the query with the article (:mod:`monitor.matching.satisfied`):
a word of an OR branch that did not hold, of a NEAR whose sides are too far apart, or under NOT,
is neither listed nor highlighted. Under NEAR only the occurrences within the distance are
highlighted.

The snippet is the sentence (or two short ones) around the first match, cut to about 320
characters, taken from the first field with a match in the order content, summary, lede. A hit
found in the headline but not in the body (or with no word to show: a NOT-only query) shows
the lede instead (:func:`monitor.matching.sentences.lede`: the summary, else the content's
first sentences), since the headline is on screen already; without a lede, the headline. A
hit found only in the url or the source shows where it was found there.
Finding the highlights is most of the cost of an explained hit, so two paths give the same
answer:

- the quick path finds the first match with ``str.find`` in the field's folded text, cuts the
  sentence around it and looks only at that sentence (:func:`_quick_snippet`); where the hit's
  score found its words' places already (:mod:`monitor.matching.relevance`), it takes them;
- the exact path, when the quick one cannot be certain (and for NEAR, whose occurrences are
  word positions), tokenises the field again with character offsets, up to a little past the
  first match (:func:`_char_spans`).

The renderers (Slack, email, the dashboard) escape the text and mark the spans themselves.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet

from monitor.matching.compile import Spans, phrase_spans
from monitor.matching.document import TokenisedDocument
from monitor.matching.query import FIELDS, Node, Phrase, Prefix, Query, Term
from monitor.matching.relevance import relevance
from monitor.matching.satisfied import Evidence, satisfied
from monitor.matching.scripts import has_cjk
from monitor.matching.sentences import SENTENCE_END as _SENTENCE_END
from monitor.matching.sentences import is_lede
from monitor.matching.text import (
    FieldTokens,
    fold,
    folds_in_place,
    is_word_character,
    offset_spans,
    word_places,
)
from monitor.matching.types import Document, MatchResult

__all__ = ["explain"]


# Where a snippet is looked for first; a hit only in the title shows the lede (see above).
_SNIPPET_ORDER = ("content", "summary", "lede")
_AFTER_LEDE = ("title", "url", "source")
_ENDERS = ".!?…\n"  # what a _SENTENCE_END match can begin with ...
_CLOSERS = frozenset(".!?…\"'”’)]")  # ... and what else, besides spaces, it can hold
_MAX_SNIPPET = 320
_LOOK_BACK = 2 * _MAX_SNIPPET
_LONG_SPACE = re.compile(r"\s{2,}")


def explain(
    watchlist_id: str,
    query: Query,
    doc: Document,
    d: TokenisedDocument | None = None,
    *,
    found: list[Evidence] | None = None,
    score: float | None = None,
) -> MatchResult:
    """Why *query* matched *doc*: the terms that count, per field, a highlighted snippet and
    the hit's score.

    *found* (what :func:`~monitor.matching.satisfied.satisfied` says counts) and *score*
    are given by the matcher, which has them already to apply a watchlist's relevance
    controls."""
    d = d or TokenisedDocument(doc)
    if found is None:
        found = satisfied(query.root, d) or []
    if score is None:
        score = relevance(found, d).score
    matched: list[str] = []
    per_field: dict[str, list[str]] = {}
    by_field: dict[str, list[Evidence]] = {}
    for evidence in found:
        text = evidence.leaf.text
        if text not in matched:
            matched.append(text)
        terms = per_field.setdefault(evidence.field, [])
        if text not in terms:
            terms.append(text)
        by_field.setdefault(evidence.field, []).append(evidence)
    fields = tuple(filter(per_field.__contains__, FIELDS))
    snippet, highlights = _snippet(d, by_field)
    return MatchResult(
        watchlist_id=watchlist_id,
        matched=tuple(matched),
        fields=fields,
        explanation=per_field,
        snippet=snippet,
        highlights=highlights,
        score=score,
    )


def _snippet(d: TokenisedDocument, found: dict[str, list[Evidence]]) -> Snippet:
    for name in _SNIPPET_ORDER:
        if name in found:
            return _field_snippet(d, name, found[name])
    if "title" in found or not found:
        # The lede's opening: the sentence (or two short ones) that starts the summary, else
        # the content; the lede (monitor.matching.sentences) starts the same way.
        summary = d.text("summary")
        opening = summary if is_lede(summary) else d.text("content")
        if opening and not opening.isspace():
            return _window(opening, [])
    for name in _AFTER_LEDE:
        if name in found:
            return _field_snippet(d, name, found[name])
    title = d.text("title")
    return _window(title, []) if title and not title.isspace() else ("", ())


def _field_snippet(d: TokenisedDocument, name: str, found: list[Evidence]) -> Snippet:
    text = d.text(name)
    everywhere: list[Node] = []  # leaves whose every occurrence counts
    only: Spans = []  # word spans that count of the others (NEAR's)
    for evidence in found:
        if evidence.spans is None:
            everywhere.append(evidence.leaf)  # a leaf twice costs a second look, no more
        else:
            only.extend(evidence.spans)
    if not only:
        known = [_known_places(d, name, leaf) for leaf in everywhere]
        quick = _quick_snippet(text, d.fields[name], everywhere, known)
        if quick is not None:
            return quick
    return _window(text, _char_spans(text, d, name, everywhere, only))


Snippet = tuple[str, tuple[tuple[int, int], ...]]
# Per leaf, where its tokens are in the field's folded text when the hit's score found them
# already (monitor.matching.relevance), else None.
Known = list[list[tuple[int, int]] | None]


def _known_places(d: TokenisedDocument, name: str, leaf: Node) -> list[tuple[int, int]] | None:
    if isinstance(leaf, Term):
        return d.known_places(name, leaf.token, whole=True)
    if isinstance(leaf, Prefix):
        return d.known_places(name, leaf.prefix, whole=False)
    return None


# How many look-alikes (the term inside a longer word) _first_characters steps over before it
# leaves the question to the exact path.
_MAX_LOOKALIKES = 16


def _first_characters(leaf: Node, tokens: FieldTokens) -> tuple[int, int] | None:
    """Where *leaf* seems to occur first in a field's folded text, found with ``str.find`` (a
    scan in C) and a look at the characters either side.

    No occurrence can start before the place returned: every token is written in the folded
    text as it is, or else as its :attr:`~FieldTokens.altered` spellings, and all of those
    are looked for. The place may still be a look-alike (the word inside a number), which
    :func:`_quick_snippet` sees when it looks at the sentence. None when too many
    look-alikes come first, and for a phrase (see :func:`_quick_snippet`)."""
    altered = tokens.altered
    if isinstance(leaf, Term):
        word = leaf.token
        spellings = altered.get(word)
        if not spellings:  # most words: written as they are, and only so
            at = _first_bounded(tokens.folded, word, True)
            return None if at is None or at[0] == -1 else at
        needles = [(word, True), *((spelt, True) for spelt in spellings)]
    elif isinstance(leaf, Prefix):
        needles = [(leaf.prefix, False)]
        for token, spellings in altered.items():
            if token.startswith(leaf.prefix):
                needles.extend((spelt, True) for spelt in spellings)
    else:
        return None
    found = [_first_bounded(tokens.folded, needle, whole) for needle, whole in needles]
    if any(at is None for at in found):
        return None
    places = [at for at in found if at is not None and at[0] != -1]
    return min(places) if places else None


def _first_bounded(folded: str, needle: str, whole: bool) -> tuple[int, int] | None:
    """The first place *needle* starts a word in *folded* (and ends one, if *whole*);
    (-1, -1) when it does not occur; None when _MAX_LOOKALIKES come first."""
    size = len(folded)
    at, tries = folded.find(needle), 0
    while at != -1:
        if tries == _MAX_LOOKALIKES:
            return None
        end = at + len(needle)
        if (at == 0 or not is_word_character(folded[at - 1])) and (
            not whole or end == size or not is_word_character(folded[end])
        ):
            return at, end
        at, tries = folded.find(needle, at + 1), tries + 1
    return -1, -1


def _quick_snippet(
    text: str, tokens: FieldTokens, found: list[Node], known: Known | None = None
) -> Snippet | None:
    """The snippet without tokenising the whole field again: find the first match with
    ``str.find``, cut the sentence around it, and tokenise only that sentence (with
    character offsets) to mark the matches. None when that cannot be done with certainty;
    the caller then takes the exact path, which tokenises the field with offsets.

    This is most of the cost of an explained hit: tokenising a 400-word field with offsets
    takes several times longer than matching it."""
    if not tokens.folded or has_cjk(tokens.folded):  # see word_places
        return None
    guesses = []
    for number, leaf in enumerate(found):
        if isinstance(leaf, Phrase):
            # A phrase can run past the end of the sentence ("... NATO. Japan ..."), and the
            # highlights of overlapping matches merge: only the whole field shows where a
            # merged highlight ends. Phrases are about one hit in a hundred.
            return None
        places = known[number] if known else None
        guess = places[0] if places else _first_characters(leaf, tokens)
        if guess is None:  # it may occur before the others' first place: no certainty
            return None
        guesses.append(guess)
    first, first_end = min(guesses)
    if not tokens.folds_in_place(text):  # the guess is an offset in the folded text
        start_at, last_at = tokens.to_text(text, first), tokens.to_text(text, first_end - 1)
        if start_at is None or last_at is None:
            return None
        first, first_end = start_at, last_at + 1
    start, end, prefix, suffix = _bounds(text, first, first_end)
    in_place = known if known and all(known) and tokens.folds_in_place(text) else None
    spans = _region_spans(text, start, end, found, tokens.altered, in_place)
    if not spans or spans[0][0] != first:  # the guess was a look-alike
        return None
    if spans[0][1] != first_end:  # the first match is longer than the guess (a wildcard)
        wider = _bounds(text, first, spans[0][1])
        if wider[0] < start or wider[1] > end:
            return None
        start, end, prefix, suffix = wider
    return _render(text, start, end, prefix, suffix, spans)


def _region_spans(
    text: str,
    start: int,
    end: int,
    found: list[Node],
    altered: Mapping[str, AbstractSet[str]],
    known: Known | None = None,
) -> list[tuple[int, int]]:
    """Character spans of *found* within text[start:end], from looking at only that part
    (widened to whitespace on both sides, so that no word is cut in two). *altered* are the
    field's tokens not written as such (:attr:`FieldTokens.altered`); *known*, where given,
    are every leaf's places in the whole field, in a text that folds in place."""
    # Sentences mostly begin and end next to a space already.
    if not start or text[start - 1] in " \n":
        low = start
    else:
        low = max(text.rfind(" ", 0, start), text.rfind("\n", 0, start)) + 1
    if end >= len(text) or text[end] in " \n":
        high = min(end, len(text))
    else:
        ends = [at for at in (text.find(" ", end), text.find("\n", end)) if at != -1]
        high = min(ends) if ends else len(text)
    if known:  # found in the whole field already: keep those in the region
        inside = [(a, b) for places in known if places for a, b in places if low <= a < high]
        return _merged({}, set(), inside)
    region = text[low:high]
    words = [leaf for leaf in found if isinstance(leaf, _WORDLIKE)]
    if (
        len(words) == len(found)
        and (not altered or not any(_may_be_altered(word, altered) for word in words))
        and folds_in_place(region)
    ):
        # Most hits: words and wildcards whose tokens are all written as they are. They
        # can be found with str.find, without tokenising the sentence.
        folded = fold(region)
        if not _DIGIT_JOIN.search(folded):
            spans: list[tuple[int, int]] | None = []
            for word in words:
                more = _word_spans(folded, word, low)
                if more is None or spans is None:
                    spans = None
                else:
                    spans.extend(more)
            if spans is not None:
                return _merged({}, set(), spans)
    tuples = offset_spans(region)
    tokens = FieldTokens.from_spans(tuples)
    exact: dict[tuple[int, int], tuple[int, int]] = {}
    for _, position, a, b, last in tuples:
        exact.setdefault((position, last), (a + low, b + low))
    wanted: set[tuple[int, int]] = set()
    for leaf in found:
        wanted.update(_local_occurrences(leaf, tokens))
    return _merged(exact, wanted)


def _may_be_altered(leaf: Term | Prefix, altered: Mapping[str, AbstractSet[str]]) -> bool:
    if isinstance(leaf, Term):
        return leaf.token in altered
    return any(token.startswith(leaf.prefix) for token in altered)


_WORDLIKE = (Term, Prefix)
# What joins two runs of word characters into one token, besides an apostrophe or a hyphen.
_DIGIT_JOIN = re.compile(r"\d[.,]\d")


def _word_spans(folded: str, leaf: Term | Prefix, shift: int) -> list[tuple[int, int]] | None:
    """Character spans (plus *shift*) of the tokens *leaf* matches in *folded*
    (:func:`~monitor.matching.text.word_places`); None where the text alone cannot tell."""
    if isinstance(leaf, Term):
        places = word_places(folded, leaf.token, whole=True)
    else:
        places = word_places(folded, leaf.prefix, whole=False)
    if places is None or not shift:
        return places
    return [(a + shift, b + shift) for a, b in places]


def _local_occurrences(leaf: Node, tokens: FieldTokens) -> Spans:
    if isinstance(leaf, Term):
        return tokens.spans(leaf.token)
    if isinstance(leaf, Phrase):
        return phrase_spans(tokens, leaf.tokens)
    prefix = getattr(leaf, "prefix", "")
    return [s for word in tokens.vocabulary if word.startswith(prefix) for s in tokens.spans(word)]


def _first_position(leaf: Node, tokens: FieldTokens, d: TokenisedDocument) -> int | None:
    """Where *leaf* first occurs in a field."""
    if isinstance(leaf, Phrase):
        spans = phrase_spans(tokens, leaf.tokens)
        return min(s for s, _ in spans) if spans else None
    words = [leaf.token] if isinstance(leaf, Term) else d.prefix_tokens(getattr(leaf, "prefix", ""))
    found: list[int] = []
    for word in words:
        if word not in tokens.vocabulary:
            continue
        # word_positions, not a list.index per word: a wildcard may stand for thousands of
        # words, and it keeps the cost linear (see FieldTokens.word_positions).
        found.extend(tokens.word_positions(word)[:1])
        found.extend(start for start, _ in tokens.joined.get(word, ()))
    return min(found) if found else None


def _char_spans(
    text: str,
    d: TokenisedDocument,
    name: str,
    found: list[Node],
    only: Sequence[tuple[int, int]] = (),
) -> list[tuple[int, int]]:
    """The exact path: character spans of every occurrence of *found* in a field, and of the
    word spans *only* (the occurrences NEAR kept)."""
    known = [p for leaf in found if (p := _first_position(leaf, d.fields[name], d)) is not None]
    known.extend(start for start, _ in only)
    if not known:
        return []
    # Only the words up to a little past the first match can fall inside the snippet, so
    # only those are tokenised again, this time with character offsets.
    first = min(known)
    offsets = d.offsets(name, text, first, first + 80)
    wanted: set[tuple[int, int]] = set(only)
    for leaf in found:
        wanted.update(_local_occurrences(leaf, offsets.tokens))
    return _merged(offsets.exact, wanted)


def _merged(
    exact: dict[tuple[int, int], tuple[int, int]],
    wanted: set[tuple[int, int]],
    spans: list[tuple[int, int]] | None = None,
) -> list[tuple[int, int]]:
    """Word spans (*wanted*) to sorted, non-overlapping character spans, added to *spans*.
    Single words and joined hyphen forms are found exactly, longer spans are stitched from
    their ends."""
    spans = spans if spans is not None else []
    for start, end in wanted:
        span = exact.get((start, end))
        if span is None:
            head, tail = exact.get((start, start)), exact.get((end, end))
            if head is None or tail is None:
                continue
            span = (head[0], tail[1])
        spans.append(span)
    spans.sort()
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _window(text: str, spans: list[tuple[int, int]]) -> Snippet:
    """The sentence(s) around the first span, trimmed to a readable length."""
    anchor = spans[0][0] if spans else 0
    anchor_end = spans[0][1] if spans else 0
    return _render(text, *_bounds(text, anchor, anchor_end), spans)


def _bounds(text: str, anchor: int, anchor_end: int) -> tuple[int, int, str, str]:
    """[start, end) of the sentence(s) around text[anchor:anchor_end], and the '…' to put
    before and after where a long sentence was cut."""
    # Only the last sentence end before the anchor matters, and one more than _LOOK_BACK
    # characters back gives the same snippet as the true one: the sentence is then cut
    # _MAX_SNIPPET // 3 characters before the anchor either way.
    start = _sentence_start(text, max(0, anchor - _LOOK_BACK), anchor)
    end_match = _SENTENCE_END.search(text, max(anchor_end, start))
    end = end_match.start() + 1 if end_match else len(text)
    if end - start < 80 and end_match:  # a short sentence: add the next one for context
        following = _SENTENCE_END.search(text, end_match.end())
        end = following.start() + 1 if following else len(text)
    prefix = suffix = ""
    if end - start > _MAX_SNIPPET:
        lo = max(start, anchor - _MAX_SNIPPET // 3)
        hi = min(end, lo + _MAX_SNIPPET)
        if lo > start:
            space = text.find(" ", lo, anchor)
            lo = space + 1 if space != -1 else lo
            prefix = "…"
        if hi < end:
            space = text.rfind(" ", max(anchor_end, lo), hi)
            hi = space if space != -1 else hi
            suffix = "…"
        start, end = lo, hi
    return start, end, prefix, suffix


def _sentence_start(text: str, low: int, anchor: int) -> int:
    """The end of the last _SENTENCE_END match in text[low:anchor] (low if none), as a scan
    from *low* finds it, but looking only near the end: a match can only begin with a
    sentence's last character or a newline, so the scan starts again at the run of
    punctuation and spaces around the last of those (nothing else can belong to a match,
    so no match crosses into that run). Scanning the whole window cost more than the rest
    of a snippet."""
    high = anchor
    while True:
        ender = max(map(text.rfind, _ENDERS, itertools.repeat(low), itertools.repeat(high)))
        if ender == -1:
            return low
        last = ender
        while last > low and (text[last - 1] in _CLOSERS or text[last - 1].isspace()):
            last -= 1
        # ... and the run ends at the first other character after it: no match reaches
        # past that, so the sentence itself is not scanned.
        stop = ender + 1
        while stop < anchor and (text[stop] in _CLOSERS or text[stop].isspace()):
            stop += 1
        matches = list(_SENTENCE_END.finditer(text, last, stop))
        if matches:
            return matches[-1].end()
        high = last


def _render(
    text: str, start: int, end: int, prefix: str, suffix: str, spans: list[tuple[int, int]]
) -> Snippet:
    """text[start:end] with its whitespace tidied, and the spans that fall inside it."""
    raw = text[start:end]
    stripped = raw.strip()
    lead = len(raw) - len(raw.lstrip())
    body = " ".join(stripped.split())
    if body != stripped:  # whitespace was collapsed: map offsets through it
        return _collapse(
            prefix,
            stripped,
            suffix,
            [
                (a - start - lead, b - start - lead)
                for a, b in spans
                if a >= start + lead and b <= end
            ],
        )
    shift = len(prefix) - start - lead
    kept = tuple(
        (a + shift, b + shift)
        for a, b in spans
        if a >= start + lead and b <= start + lead + len(body)
    )
    return prefix + body + suffix, kept


def _collapse(
    prefix: str, text: str, suffix: str, spans: list[tuple[int, int]]
) -> tuple[str, tuple[tuple[int, int], ...]]:
    """*text* (stripped) with each run of whitespace made one space, and *spans* (which
    start and end on non-space characters) moved to match: only runs of two or more
    characters move what follows them."""
    ends: list[int] = []  # where each long run ends ...
    removed: list[int] = []  # ... and how many characters were taken out up to there
    total = 0
    for run in _LONG_SPACE.finditer(text):
        total += run.end() - run.start() - 1
        ends.append(run.end())
        removed.append(total)

    def moved(at: int) -> int:
        i = bisect.bisect_right(ends, at)
        return len(prefix) + at - (removed[i - 1] if i else 0)

    kept = tuple(
        (moved(a), moved(b - 1) + 1) for a, b in spans if 0 <= a < len(text) and 0 < b <= len(text)
    )
    return prefix + " ".join(text.split()) + suffix, kept
