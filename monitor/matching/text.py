"""Normalising and tokenising text, the same way for queries and for articles.

Folding is defined one character at a time (NFKC, case folding, accents removed, curly quotes
and apostrophes made straight, Unicode hyphens made '-'), so the offsets of a folded token can
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

import re
import unicodedata
from dataclasses import dataclass, field

__all__ = [
    "FieldTokens",
    "Token",
    "fold",
    "query_tokens",
    "tokenise",
    "tokens_with_offsets",
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
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    return "".join(_QUOTES.get(c, c) for c in text)


class _FoldTable(dict[int, str]):
    """``str.translate`` table that computes (and remembers) each character's folding."""

    def __missing__(self, code: int) -> str:
        folded = _fold_char(chr(code))
        self[code] = folded
        return folded


_TABLE = _FoldTable()


def fold(text: str) -> str:
    """Case-, accent- and quote-folded text (see the module docstring)."""
    if text.isascii():
        return text.lower().replace("`", "'")
    return text.translate(_TABLE)


# A run of word characters, continued by digit-separator-digit, an apostrophe or a hyphen.
_TOKEN = re.compile(r"[^\W_]+(?:(?<=\d)[.,](?=\d)[^\W_]+|'[^\W_]+|-[^\W_]+)*")


def _clean(raw: str) -> str:
    if "'" in raw:
        if raw.endswith("'s"):
            raw = raw[:-2]
        raw = raw.replace("'", "")
    return raw


@dataclass(slots=True)
class FieldTokens:
    """One field's tokens: start positions per token, and the spans of joined hyphen forms."""

    positions: dict[str, list[int]] = field(default_factory=dict)
    joined: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    length: int = 0

    def spans(self, token: str) -> list[tuple[int, int]]:
        """[start, end] word positions (inclusive) where *token* occurs."""
        found = [(p, p) for p in self.positions.get(token, ())]
        more = self.joined.get(token)
        if more:
            found.extend(more)
        return found

    def __contains__(self, token: object) -> bool:
        return token in self.positions or token in self.joined


def tokenise(text: str) -> FieldTokens:
    """Index *text* by token. The fast path: no character offsets are kept."""
    out = FieldTokens()
    if not text:
        return out
    positions = out.positions
    pos = 0
    for raw in _TOKEN.findall(fold(text)):
        if "-" in raw or "'" in raw:
            parts = [p for p in (_clean(x) for x in raw.split("-")) if p]
            if not parts:
                continue
            if len(parts) > 1:
                out.joined.setdefault("".join(parts), []).append((pos, pos + len(parts) - 1))
            for part in parts:
                positions.setdefault(part, []).append(pos)
                pos += 1
            continue
        found = positions.get(raw)
        if found is None:
            positions[raw] = [pos]
        else:
            found.append(pos)
        pos += 1
    out.length = pos
    return out


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
    if not text:
        return []
    folded_parts: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        piece = char.lower() if char.isascii() else _TABLE[ord(char)]
        if char == "`":
            piece = "'"
        folded_parts.append(piece)
        origin.extend([index] * len(piece))
    folded = "".join(folded_parts)
    origin.append(len(text))

    def span(a: int, b: int) -> tuple[int, int]:
        return origin[a], origin[b - 1] + 1 if b > a else origin[a]

    tokens: list[Token] = []
    pos = 0
    for match in _TOKEN.finditer(folded):
        raw = match.group()
        if "-" not in raw and "'" not in raw:
            start, end = span(match.start(), match.end())
            tokens.append(Token(raw, pos, start, end, pos))
            pos += 1
            continue
        offset = match.start()
        pieces: list[tuple[str, int, int]] = []
        for chunk in raw.split("-"):
            cleaned = _clean(chunk)
            if cleaned:
                pieces.append((cleaned, offset, offset + len(chunk)))
            offset += len(chunk) + 1
        if not pieces:
            continue
        if len(pieces) > 1:
            start, end = span(pieces[0][1], pieces[-1][2])
            joined = "".join(p[0] for p in pieces)
            tokens.append(Token(joined, pos, start, end, pos + len(pieces) - 1))
        for cleaned, a, b in pieces:
            start, end = span(a, b)
            tokens.append(Token(cleaned, pos, start, end, pos))
            pos += 1
    return tokens


def query_tokens(text: str) -> list[list[str]]:
    """The words of a query term or phrase: each word is a list of its hyphen parts.

    ``Indo-Pacific ocean`` -> ``[["indo", "pacific"], ["ocean"]]``.
    """
    words: list[list[str]] = []
    for raw in _TOKEN.findall(fold(text)):
        parts = [p for p in (_clean(x) for x in raw.split("-")) if p]
        if parts:
            words.append(parts)
    return words
