"""Normalising and tokenising text, the same way for queries and for articles.

Folding is defined one character at a time (NFKC, case folding, accents removed, curly quotes
and apostrophes made straight, Unicode hyphens made '-', other symbols such as '£' or '–' made
spaces, which they already were to the tokeniser), so the offsets of a folded token can
always be traced back to the original text for snippets. Then the folded text is cut into
tokens:

* a token is a run of letters and digits; digits joined by ``.`` or ``,`` stay one token
  (``N1,572``, ``3.5``), and letters and digits together stay one token (``IP4``);
* a possessive ``'s`` is dropped (``NATO’s`` -> ``nato``), other apostrophes are removed
  (``O'Neill`` -> ``oneill``);
* a hyphenated word gives its parts at consecutive positions *and* the joined form at the
  position of the first part (``Indo-Pacific`` -> ``indo``, ``pacific`` and ``indopacific``),
  so that it matches ``Indo Pacific``, ``Indo-Pacific`` and ``IndoPacific``.
"""

from __future__ import annotations

import bisect
import contextlib
import itertools
import re
import unicodedata
from collections.abc import Iterator, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from types import MappingProxyType

from monitor.matching.scripts import has_cjk, is_cjk
from monitor.matching.scripts import pieces as cjk_pieces

__all__ = [
    "NO_TOKENS",
    "FieldTokens",
    "Token",
    "fold",
    "is_word_character",
    "offset_spans",
    "query_tokens",
    "tokenise",
    "tokens_with_offsets",
    "word_places",
]

_QUOTES = {
    "\u2018": "'",
    "\u2019": "'",
    "\u201a": "'",
    "\u201b": "'",
    "\u2032": "'",
    "\u02bc": "'",
    "`": "'",
    "\u00b4": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u201e": '"',
    "\u201f": '"',
    "\u2033": '"',
    "\u00ab": '"',
    "\u00bb": '"',
    "\u2010": "-",
    "\u2011": "-",
}


def _fold_char(char: str) -> str:
    if char in _QUOTES:
        return _QUOTES[char]
    text = unicodedata.normalize("NFKC", char).casefold()
    # NFKC makes half-width katakana full width; the rest stays as it is. The ranges of
    # monitor.matching.scripts hold unassigned code points too, which separate words as any
    # other symbol does.
    if is_cjk(text) and text.isalnum():
        return text
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    # Any other character that is neither ASCII nor a word character ("£", "–", a byte-order
    # mark) separates words just as a space does. A space keeps most news text ASCII once
    # folded, and tokenising ASCII text has fast paths (see _cut).
    return "".join(
        _QUOTES.get(c, c) if c.isascii() or c.isalnum() or c == "_" or c in _QUOTES else " "
        for c in text
    )


class _FoldTable(dict[int, str]):
    """``str.translate`` table that computes (and remembers) each character's folding."""

    def __missing__(self, code: int) -> str:
        folded = _fold_char(chr(code))
        self[code] = folded
        return folded


_TABLE = _FoldTable()
# fold() goes run by run through a text whose characters beyond ASCII are few: when the
# extra bytes they take in UTF-8 are fewer than one per this many characters. (On the
# masakhanews articles that are not all ASCII, 8 to 16 did alike: 66 -> 39 µs per article.)
_FEW_BEYOND_ASCII = 12
_BEYOND_ASCII = re.compile(r"([^\x00-\x7f]+)")


def fold(text: str) -> str:
    """Case-, accent- and quote-folded text (see the module docstring)."""
    if text.isascii():
        return text.lower().replace("`", "'")
    # str.translate with a mapping costs per character once a text is not all ASCII. Most
    # such news text is ASCII but for a few curly quotes or accented names: only the runs
    # beyond ASCII go through the table then, and the ASCII between them is lowered in C
    # (only there: beyond ASCII, lower() and the table disagree). No character's folding
    # holds a backtick, so replacing them at the end changes nothing in the runs. Where
    # such characters are many (Yorùbá with its tone marks), the pieces cost more than
    # they save.
    # ("surrogatepass": a lone surrogate, which a feed's JSON or numeric entity can carry,
    # must not stop the count; its folding is a space like any other non-word character.)
    if (len(text.encode("utf-8", "surrogatepass")) - len(text)) * _FEW_BEYOND_ASCII > len(text):
        return text.translate(_TABLE)
    parts = _BEYOND_ASCII.split(text)
    parts[0::2] = map(str.lower, parts[0::2])
    parts[1::2] = map(str.translate, parts[1::2], itertools.repeat(_TABLE))
    return "".join(parts).replace("`", "'")


_BLOCK = 64  # see FieldTokens.to_text
# How many words FieldTokens.word_positions finds by scanning before it indexes them all. On
# a 400-word field a scan costs about 5 µs and indexing every word about 36 µs (a 10,000-word
# one: 80 µs and 1 ms), so eight scans cost about what the index would have.
_SCANS = 8
_NOTHING: Mapping[str, AbstractSet[str]] = MappingProxyType({})


def folds_in_place(text: str) -> bool:
    """Whether folding keeps every character of *text* where it was (one for one), so that
    an offset into the folded text is the same offset into *text*."""
    return text.isascii() or all(len(_TABLE[ord(c)]) == 1 for c in set(text))


# A run of word characters, continued by digit-separator-digit, an apostrophe or a hyphen.
# (Plain \w, underscore included, is measurably faster than excluding '_', and news text
# has next to no underscores.)
_TOKEN = re.compile(r"\w+(?:(?<=\d)[.,](?=\d)\w+|['-]\w+)*")
_ASCII_TOKEN = re.compile(_TOKEN.pattern, re.ASCII)


# str.translate tables for _cut (folded text that is all ASCII, as most news text is once
# accents are folded): a character that can be part of a token stays, any other becomes a
# space.
_ASCII_SEPARATORS = {
    code: chr(code) if re.fullmatch(r"[\w.,'-]", chr(code)) else " " for code in range(128)
}

_ASCII_SPACES = {code: " " if char in ".,'-" else char for code, char in _ASCII_SEPARATORS.items()}
# Without a digit-separator-digit anywhere in the text, "." and "," join nothing: they are
# separators too, and far fewer chunks need the regular expression.
_ASCII_WORD_SEPARATORS = {
    code: " " if char in ".," else char for code, char in _ASCII_SEPARATORS.items()
}
# Every ASCII digit made "0", so that str.find (in C) tells whether a digit-separator-digit
# occurs: several times faster than a regular expression looking at each character.
_DIGITS_AS_ZERO = {code: "0" if chr(code).isdigit() else chr(code) for code in range(128)}


def _has_digit_separator(folded: str) -> bool:
    """Whether ASCII *folded* holds a digit, a '.' or ',', and a digit, in a row."""
    if not any(map(folded.__contains__, "0123456789")):
        return False
    marked = folded.translate(_DIGITS_AS_ZERO)
    return "0.0" in marked or "0,0" in marked


# The same tables for the UTF-8 bytes of folded text that is not all ASCII, for which
# str.translate has no fast path (it makes objects per character) and bytes.translate is a
# table lookup per byte. Folding leaves no character beyond ASCII that is not a word
# character (see _fold_char), so every byte of one stays as it is.
def _byte_table(ascii_table: Mapping[int, str], beyond: bytes = bytes(range(128, 256))) -> bytes:
    return bytes(ord(ascii_table[code]) for code in range(128)) + beyond


_BYTE_SPACES = _byte_table(_ASCII_SPACES)
_BYTE_SEPARATORS = _byte_table(_ASCII_SEPARATORS)
_BYTE_WORD_SEPARATORS = _byte_table(_ASCII_WORD_SEPARATORS)
# Every byte of a character beyond ASCII counts as a digit too (some such characters are
# digits): a digit-separator-digit is then at worst suspected where there is none, which
# only sends more chunks through the regular expression.
_BYTE_DIGITS_AS_ZERO = _byte_table(_DIGITS_AS_ZERO, b"0" * 128)


def _raw_tokens(folded: str) -> list[str]:
    """What ``_TOKEN.findall(folded)`` returns, faster."""
    return _cut(folded)[0]


def _cut(folded: str) -> tuple[list[str], list[int]]:
    """What ``_TOKEN.findall(folded)`` returns, and the indexes of the tokens in it that hold
    an apostrophe or a hyphen.

    Every character that can't be part of a token becomes a space, so a translation and
    str.split (both in C) cut the text into chunks. A chunk that is all letters and digits
    is one token, which is nearly every chunk; the rest ("N1,572", "NATO's",
    "Indo-Pacific") go through the regular expression, with the same result as running it
    over the whole text since no token spans a separator. This is several times faster than
    the regular expression over the whole text, whose word-character test costs per
    character. (Text that is not all ASCII is translated as UTF-8 bytes.)"""
    marks = "'" in folded or "-" in folded
    if folded.isascii():
        digits = _has_digit_separator(folded)
        if not marks and not digits:
            # Nothing can join two runs of word characters: the tokens are exactly those runs.
            return folded.translate(_ASCII_SPACES).split(), []
        table = _ASCII_SEPARATORS if digits else _ASCII_WORD_SEPARATORS
        chunks = folded.translate(table).split()
        findall = _ASCII_TOKEN.findall
    elif has_cjk(folded):
        return _cut_pieces(folded)
    else:
        encoded = folded.encode()
        marked = encoded.translate(_BYTE_DIGITS_AS_ZERO)
        digits = b"0.0" in marked or b"0,0" in marked
        if not marks and not digits:
            return encoded.translate(_BYTE_SPACES).decode().split(), []
        spaced = encoded.translate(_BYTE_SEPARATORS if digits else _BYTE_WORD_SEPARATORS)
        chunks = spaced.decode().split()
        findall = _TOKEN.findall
    out: list[str] = []
    odd: list[int] = []
    for chunk in chunks:
        if chunk.isalnum():
            out.append(chunk)
            continue
        for token in findall(chunk):
            if "'" in token or "-" in token:
                odd.append(len(out))
            out.append(token)
    return out, odd


def _cut_pieces(folded: str) -> tuple[list[str], list[int]]:
    """:func:`_cut` for text with characters cut into pairs (monitor.matching.scripts)."""
    out = [raw for raw, _, _ in cjk_pieces(folded)]
    return out, [n for n, raw in enumerate(out) if "'" in raw or "-" in raw]


def _clean(raw: str) -> str:
    if "'" in raw:
        if raw.endswith("'s"):
            raw = raw[:-2]
        raw = raw.replace("'", "")
    return raw


class FieldTokens:
    """One field's tokens in order, its vocabulary, and (built on first use) their positions.

    Most watchlists only ask whether a word is present; positions are needed only for phrases
    and NEAR, so they are computed lazily.
    """

    __slots__ = (
        "_blocks",
        "_in_place",
        "_positions",
        "_some",
        "altered",
        "folded",
        "joined",
        "vocabulary",
        "words",
    )

    def __init__(
        self,
        words: list[str] | None = None,
        joined: dict[str, list[tuple[int, int]]] | None = None,
        folded: str = "",
        altered: Mapping[str, AbstractSet[str]] = _NOTHING,
    ) -> None:
        self.words: list[str] = words or []
        self.joined: dict[str, list[tuple[int, int]]] = joined or {}
        self.vocabulary: set[str] = set(self.words)
        if self.joined:
            self.vocabulary.update(self.joined)
        self.folded = folded  # the folded text, kept for finding a match's characters
        # Tokens that are not written as such in the folded text, with how they are written
        # there: joined hyphen forms ("indopacific": "indo-pacific") and words with an
        # apostrophe taken out ("obrien": "o'brien"). Every other token can be found in it
        # with str.find.
        self.altered = altered
        self._positions: dict[str, list[int]] | None = None
        self._some: dict[str, list[int]] | None = None  # positions of the words asked about
        self._in_place: bool | None = None  # see folds_in_place
        self._blocks: list[int] | None = None  # see to_text

    @classmethod
    def from_spans(cls, spans: list[tuple[str, int, int, int, int]]) -> FieldTokens:
        """Tokens from :func:`offset_spans` tuples (positions need not start at 0)."""
        positions: dict[str, list[int]] = {}
        joined: dict[str, list[tuple[int, int]]] = {}
        for token, position, _, _, last in spans:
            if position == last:
                positions.setdefault(token, []).append(position)
            else:
                joined.setdefault(token, []).append((position, last))
        made = cls(joined=joined)
        made._positions = positions
        made.vocabulary.update(positions)
        return made

    @property
    def length(self) -> int:
        return len(self.words)

    @property
    def positions(self) -> dict[str, list[int]]:
        if self._positions is None:
            positions: dict[str, list[int]] = {}
            for number, word in enumerate(self.words):
                found = positions.get(word)
                if found is None:
                    positions[word] = [number]
                else:
                    found.append(number)
            self._positions = positions
        return self._positions

    def word_positions(self, token: str) -> list[int]:
        """Where *token* occurs as a plain word.

        A phrase or NEAR asks about two or three words of a 400-word article: finding those
        with ``list.index`` (a scan in C) is several times cheaper than indexing every word.
        Past _SCANS words, every word is indexed in one pass instead, so the cost stays linear
        in the field's length: a wildcard under NEAR asks about every word it matches, and
        a scan for each of the thousands of distinct ``econom…`` words of a 40,000-word
        article took 34 s.
        """
        if self._positions is not None:
            return self._positions.get(token, [])
        if self._some is None:
            self._some = {}
        found = self._some.get(token)
        if found is None:
            if len(self._some) >= _SCANS:
                return self.positions.get(token, [])
            found = []
            index, at = self.words.index, -1
            with contextlib.suppress(ValueError):  # no more occurrences
                while True:
                    at = index(token, at + 1)
                    found.append(at)
            self._some[token] = found
        return found

    def folds_in_place(self, text: str) -> bool:
        """:func:`folds_in_place` for *text*, the text these tokens came from (remembered)."""
        if self._in_place is None:
            self._in_place = folds_in_place(text)
        return self._in_place

    def to_text(self, text: str, at: int) -> int | None:
        """The offset in *text* (the text these tokens came from) of the character that
        ``folded[at]`` came from (None past the end).

        Folding is per character, so the text is folded again in blocks of _BLOCK characters
        (in C), and only the last block is walked character by character: a full map of
        offsets costs milliseconds for a long article."""
        if self._blocks is None:
            pieces = (text[i : i + _BLOCK] for i in range(0, len(text), _BLOCK))
            self._blocks = list(itertools.accumulate(map(len, map(fold, pieces))))
        block = bisect.bisect_right(self._blocks, at)
        reached = self._blocks[block - 1] if block else 0
        offset = block * _BLOCK
        while offset < len(text):
            size = len(_TABLE[ord(text[offset])])
            if reached + size > at:
                return offset
            reached += size
            offset += 1
        return None

    def spans(self, token: str) -> list[tuple[int, int]]:
        """[start, end] word positions (inclusive) where *token* occurs."""
        if token not in self.vocabulary:
            return []
        found = [(p, p) for p in self.word_positions(token)]
        more = self.joined.get(token)
        if more:
            found.extend(more)
        return found

    def __contains__(self, token: object) -> bool:
        return token in self.vocabulary


# The tokens of a field that is not searched, shared by every article: made once rather than
# once an article. Its positions are set (to none), so that asking about a word (which
# spans() and phrase_spans() do only for words in its empty vocabulary) stores nothing.
NO_TOKENS = FieldTokens()
NO_TOKENS._positions = {}


def tokenise(text: str) -> FieldTokens:
    """Index *text* by token. The fast path: no character offsets are kept."""
    if not text:
        return FieldTokens()
    folded = fold(text)
    raw, odd = _cut(folded)
    if not odd:
        return FieldTokens(raw, folded=folded)
    words: list[str] = []
    joined: dict[str, list[tuple[int, int]]] = {}
    altered: dict[str, set[str]] = {}
    done = 0
    for index in odd:  # the plain tokens between are copied over in slices
        words.extend(raw[done:index])
        done = index + 1
        token = raw[index]
        chunks = token.split("-")
        parts = [p for p in map(_clean, chunks) if p]
        if len(parts) > 1:
            whole = "".join(parts)
            joined.setdefault(whole, []).append((len(words), len(words) + len(parts) - 1))
            altered.setdefault(whole, set()).add(token)
        words.extend(parts)
        for chunk in chunks:
            # A possessive 's is only cut off the end: the rest is still in the text.
            if "'" in chunk.removesuffix("'s"):
                altered.setdefault(_clean(chunk), set()).add(chunk)
    words.extend(raw[done:])
    return FieldTokens(words, joined, folded, altered)


@dataclass(frozen=True, slots=True)
class Token:
    """A token with its word position and its [start, end) character span in the original."""

    text: str
    position: int
    start: int
    end: int
    last: int  # the position of its last word (differs from position for joined forms)


def tokens_with_offsets(text: str) -> list[Token]:
    """Every token of *text* (including joined hyphen forms) with offsets into *text*.

    Slower than :func:`tokenise`; used only to build snippets for hits.
    """
    return [Token(*item) for item in offset_spans(text)]


def offset_spans(
    text: str, *, since: int = 0, until: int | None = None
) -> list[tuple[str, int, int, int, int]]:
    """``(token, position, start, end, last)`` tuples for the words from position *since* to
    *until* (the ones before are only counted)."""
    if not text:
        return []
    folded = fold(text)
    origin: list[int] | None = None  # None: folding kept every character in place
    if not folds_in_place(text):
        origin = _origins(text)

    # ASCII text can use the ASCII-only form of the pattern: same tokens, faster per character.
    pattern = _ASCII_TOKEN if folded.isascii() else _TOKEN
    cjk = has_cjk(folded)
    if "-" not in folded and "'" not in folded and not cjk:
        # Here every raw token is one word: skip the first `since` in C, not in bytecode,
        # and build the tuples in one comprehension.
        stop = None if until is None else until + 1
        words = itertools.islice(pattern.finditer(folded), since, stop)
        if origin is None:
            return [(m[0], n, m.start(), m.end(), n) for n, m in enumerate(words, since)]
        return [
            (m[0], n, origin[m.start()], origin[m.end() - 1] + 1, n)
            for n, m in enumerate(words, since)
        ]
    out: list[tuple[str, int, int, int, int]] = []
    pos = 0
    matches: Iterator[tuple[str, int, int]] = (
        cjk_pieces(folded)
        if cjk
        else ((m[0], m.start(), m.end()) for m in pattern.finditer(folded))
    )
    for raw, a, b in matches:
        if until is not None and pos > until:
            break
        simple = "-" not in raw and "'" not in raw
        if pos < since:
            count = 1 if simple else sum(1 for x in raw.split("-") if _clean(x))
            if pos + count <= since:
                pos += count
                continue
            # A hyphenated word that straddles `since`: its parts from `since` on are kept
            # (a match on 'japan' in 'nato-japan-office' must still get its offsets).
        if simple:
            if origin is None:
                out.append((raw, pos, a, b, pos))
            else:
                out.append((raw, pos, origin[a], origin[b - 1] + 1, pos))
            pos += 1
            continue
        if origin is None:
            origin = list(range(len(text) + 1))
        pieces: list[tuple[str, int, int]] = []
        for chunk in raw.split("-"):
            cleaned = _clean(chunk)
            if cleaned:
                pieces.append((cleaned, a, a + len(chunk)))
            a += len(chunk) + 1
        if not pieces:
            continue
        if len(pieces) > 1 and pos >= since:
            joined = "".join(p[0] for p in pieces)
            last = pos + len(pieces) - 1
            out.append((joined, pos, origin[pieces[0][1]], origin[pieces[-1][2] - 1] + 1, last))
        for cleaned, start, end in pieces:
            if pos >= since:
                out.append((cleaned, pos, origin[start], origin[end - 1] + 1, pos))
            pos += 1
    return out


_WORD_REST = re.compile(r"\w*")


def is_word_character(char: str) -> bool:
    """Whether *char* (folded) can be part of a token."""
    return char.isalnum() or char == "_"


def word_places(folded: str, needle: str, *, whole: bool) -> list[tuple[int, int]] | None:
    """[start, end) characters of the tokens of *folded* (folded text) that are *needle*
    (*whole*) or begin with it (a wildcard's prefix), found with ``str.find``: a scan in C,
    several times cheaper than looking at each token. Tokens written otherwise in the
    folded text (:attr:`FieldTokens.altered`: joined hyphen forms, words with an apostrophe
    taken out) are not found; the caller knows which those are.

    None where the text alone cannot tell: the needle inside a word with an apostrophe
    ("o'brien" holds no "brien"), or against digits a '.' or ',' joins ("1,572" holds no
    "1"). A hyphen only separates tokens; a possessive 's is included with its word, as the
    tokenising path marks it. None too for text with characters cut into pairs, whose tokens
    the characters either side do not tell (monitor.matching.scripts)."""
    if has_cjk(folded) or has_cjk(needle):
        return None
    size, out = len(folded), []
    at = folded.find(needle)
    while at != -1:
        end = at + len(needle)
        if at == 0 or not is_word_character(folded[at - 1]):
            if at >= 2 and is_word_character(folded[at - 2]):
                before = folded[at - 1]
                if before == "'" or (
                    before in ".," and folded[at - 2].isdecimal() and folded[at].isdecimal()
                ):
                    return None
            if not whole:  # a wildcard: the whole word it begins
                rest = _WORD_REST.match(folded, end)
                end = rest.end() if rest else end
            if end == size or not is_word_character(folded[end]):
                if end + 1 < size and is_word_character(folded[end + 1]):
                    after = folded[end]
                    if (
                        after in ".,"
                        and folded[end - 1].isdecimal()
                        and folded[end + 1].isdecimal()
                    ):
                        return None
                    if after == "'":
                        if not folded.startswith("'s", end) or (
                            end + 2 < size and is_word_character(folded[end + 2])
                        ):
                            return None
                        end += 2
                out.append((at, end))
        at = folded.find(needle, end)
    return out


def _origins(text: str) -> list[int]:
    """For each character of ``fold(text)``, the offset in *text* it came from (then
    len(text))."""
    folded_chars = [_TABLE[ord(c)] for c in text]
    origin = [index for index, piece in enumerate(folded_chars) for _ in piece]
    origin.append(len(text))
    return origin


def query_tokens(text: str) -> list[list[str]]:
    """The words of a query term or phrase: each word is a list of its hyphen parts.

    ``Indo-Pacific ocean`` -> ``[["indo", "pacific"], ["ocean"]]``.
    """
    words: list[list[str]] = []
    folded = fold(text)
    raws = [raw for raw, _, _ in cjk_pieces(folded)] if has_cjk(folded) else _TOKEN.findall(folded)
    for raw in raws:
        parts = [p for p in (_clean(x) for x in raw.split("-")) if p]
        if parts:
            words.append(parts)
    return words
