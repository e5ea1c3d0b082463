"""Scripts written without spaces between words (Chinese, Japanese) and Hangul, whose words
carry their particles (북한이), cut into overlapping pairs of characters.

A run of such characters is not one word but a string of them with no marked boundaries.
It is cut as Lucene's CJK analyzer cuts it: every two adjacent characters make a token
(東京都庁 -> 東京, 京都, 都庁), and a character standing alone is a token by itself. The
article and the query are cut the same way, so a query word of two characters is found
anywhere inside a run, and a longer one becomes the phrase of its pairs, which matches only
where its characters stand adjacent and in order. docs/watchlists.md gives the figures this
was chosen on against dictionary segmenters, and its known false hit (京都, Kyoto, inside
東京都, the Tokyo Metropolis).

Characters of these scripts separate them from other words: ``NATO東京`` is ``nato`` then
``東京``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

__all__ = ["CJK_CLASS", "has_cjk", "is_cjk", "pieces"]

# Han (with its extensions and compatibility ideographs), the iteration and zero marks,
# hiragana and katakana (with the prolonged sound mark), and Hangul syllables and jamo: each
# a letter (str.isalnum), so a word character to the tokeniser, and kept as it is by folding
# (decomposing a Hangul syllable into jamo, or dropping the voicing mark of が, would change
# the word).
CJK_CLASS = (
    "\u1100-\u11ff\u3005\u3007\u3041-\u3096\u309d-\u309f\u30a1-\u30fa\u30fc-\u30ff"
    "\u3131-\u318e\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\ua960-\ua97c\uac00-\ud7a3"
    "\ud7b0-\ud7fb\uf900-\ufaff\U00020000-\U0003134f"
)
_CJK = re.compile(f"[{CJK_CLASS}]")
# A token where such characters may occur: one of them, or a word of other characters (with
# the digit separators, apostrophes and hyphens that join one, as monitor.matching.text).
_OTHER = f"[^\\W{CJK_CLASS}]"
_PIECE = re.compile(f"([{CJK_CLASS}])|{_OTHER}+(?:(?<=\\d)[.,](?=\\d){_OTHER}+|['-]{_OTHER}+)*")


def is_cjk(char: str) -> bool:
    """Whether *char* is one of the characters cut into pairs."""
    return _CJK.match(char) is not None


# Every byte but those that begin a character of three or four bytes in UTF-8 from U+1100
# on (0xE1 to 0xED, 0xEF, 0xF0), which all of these characters are.
_NOT_LEADING = bytes(b for b in range(256) if not (0xE1 <= b <= 0xED or b in (0xEF, 0xF0)))


def has_cjk(folded: str) -> bool:
    """Whether *folded* holds any character cut into pairs (ASCII text, most news, none).

    Folded text beyond ASCII is nearly all letters of two bytes in UTF-8 (Hausa's ɗ, the
    vowels of Yorùbá once their marks are folded away): deleting every byte but those that
    begin a longer character (in C) clears such text in 1 to 3 µs a 2,000-character article,
    where the regular expression alone takes 22 µs."""
    if folded.isascii() or not folded.encode("utf-8", "surrogatepass").translate(
        None, _NOT_LEADING
    ):
        return False
    return _CJK.search(folded) is not None


def pieces(folded: str) -> Iterator[tuple[str, int, int]]:
    """The raw tokens of folded text that holds such characters, with their [start, end)
    offsets: each word of other characters as the tokeniser finds it, and each run of these
    cut into its overlapping pairs (a lone character is a token by itself)."""
    run: list[int] = []  # offsets of the current run of adjacent characters to pair
    for match in _PIECE.finditer(folded):
        start = match.start()
        if match.group(1) is None:
            yield from _pairs(folded, run)
            run = []
            yield match.group(), start, match.end()
            continue
        if run and run[-1] + 1 != start:
            yield from _pairs(folded, run)
            run = []
        run.append(start)
    yield from _pairs(folded, run)


def _pairs(folded: str, run: list[int]) -> Iterator[tuple[str, int, int]]:
    if len(run) == 1:
        yield folded[run[0]], run[0], run[0] + 1
        return
    for first in run[:-1]:
        yield folded[first : first + 2], first, first + 2
