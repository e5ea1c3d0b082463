"""Where a sentence ends, and an article's lede: its summary when it has one, else the first
three sentences of its content.

The lede is what the ``lede:`` scope searches, what a hit found only in the headline shows as
its snippet (the headline is on screen already), and the part of the body whose words weigh
more in a hit's score (:mod:`monitor.matching.relevance`). Snippets are cut at the same
sentence ends (:mod:`monitor.matching.snippets`).

A sentence ends at ``.``, ``!``, ``?`` or ``…`` (with any closing quotes or brackets) followed
by whitespace, or at a blank line. An abbreviation such as ``Mr.`` ends one too: without a
language model there is no telling, and a short lede costs less than a lede that runs on.
"""

from __future__ import annotations

import re

from monitor.matching.types import Document

__all__ = ["LEDE_SENTENCES", "MAX_LEDE", "SENTENCE_END", "is_lede", "lede", "opening"]

SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*\s+|\n\s*\n")
# The characters a sentence end begins with: finding them first and trying SENTENCE_END only
# there is several times faster than letting SENTENCE_END scan the text (its two branches
# are tried at every character).
_ENDER = re.compile(r"[.!?…\n]")
# How many sentences of the content make the lede of an article without a summary ...
LEDE_SENTENCES = 3
# ... and at most how many characters: a text without sentence ends (a transcript, a list)
# would otherwise make all of itself the lede, and 'lede:' would mean 'anywhere'.
MAX_LEDE = 1_000


def opening(text: str, sentences: int = LEDE_SENTENCES, limit: int = MAX_LEDE) -> str:
    """The first *sentences* sentences of *text*, at most *limit* characters.

    The text is cut only after whitespace (the end of a sentence, or the last space before
    *limit*), and no token spans whitespace, so the opening's words are the text's first
    words at the same positions: a word at position 5 of the opening is word 5 of the text.
    """
    end = count = 0
    for candidate in _ENDER.finditer(text, 0, limit + 1):
        at = candidate.start()
        if at < end:  # inside the sentence end just found
            continue
        found = SENTENCE_END.match(text, at, limit + 1)
        if found is None:
            continue
        end, count = found.end(), count + 1
        if count == sentences:
            return text[:end].rstrip()
    if len(text) <= limit:
        return text.rstrip()
    if not end:  # no sentence ends in the first *limit* characters: the last space
        space = max(text.rfind(" ", 0, limit), text.rfind("\n", 0, limit))
        end = space + 1 if space > 0 else 0
    return text[:end].rstrip()


def is_lede(summary: str) -> bool:
    """Whether an article with this summary has it for its lede (it has one at all)."""
    return bool(summary) and not summary.isspace()


def lede(doc: Document) -> str:
    """The article's summary when it has one, else the opening of its content."""
    return doc.summary if is_lede(doc.summary) else opening(doc.content)
