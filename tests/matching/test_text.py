"""The fast tokeniser paths give exactly what the plain regular expression gives."""

from __future__ import annotations

import re
import string
import unicodedata

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from monitor.matching.scripts import has_cjk, is_cjk, pieces
from monitor.matching.text import (
    _QUOTES,
    _TOKEN,
    _fold_char,
    _has_digit_separator,
    _raw_tokens,
    fold,
    offset_spans,
    tokenise,
)

# Characters that exercise every rule: digit separators, apostrophes, hyphens, underscores,
# punctuation, ASCII control characters that str.split treats as spaces, and accented letters.
ascii_text = st.text(alphabet="ab1 9.,'-_`\"()!?\t\n\x1c\x1fXYZ", max_size=60)
any_text = st.text(max_size=40)
# Text that is not all ASCII takes the UTF-8 byte path: letters beyond ASCII, digits that are
# not ASCII (Arabic-Indic, Devanagari, fullwidth), a title-case digraph, and spaces and
# separators that are not ASCII either, beside the separators that join tokens.
mixed_text = st.text(
    alphabet="aé ọ\u0323ß\u01c5\u0663\u096b\uff151.,'-_\u00a0\u2028\u2019–", max_size=60
)


# Mostly ASCII with a character beyond it here and there, as most news text is: fold() takes
# those runs one by one.
mostly_ascii = st.lists(
    st.one_of(
        st.text(alphabet=string.printable, min_size=1, max_size=40),
        st.characters(min_codepoint=128),
    ),
    max_size=20,
).map("".join)


@given(st.one_of(ascii_text, mixed_text, mostly_ascii, any_text))
@example("NATO’s “office” – Yorùbá")
@example("a lone surrogate \ud800 in otherwise plain text" + "x" * 40)
@example("\udfff")
@example("Cherokee \u13a0\uab70 and \u0130stanbul, \u03a3\u0391\u03a3 \ufb03 \uff40 A" + "x" * 400)
def test_folding_a_text_folds_each_of_its_characters(text: str) -> None:
    # Offsets into folded text are traced back one character at a time (FieldTokens.to_text),
    # so fold() must be exactly the characters' foldings, whichever way it computes them.
    assert fold(text) == "".join(map(_fold_char, text))


@given(st.one_of(ascii_text, mixed_text, any_text))
def test_it_cuts_text_into_the_same_tokens_as_the_regular_expression(text: str) -> None:
    folded = fold(text)
    assert _raw_tokens(folded) == _reference_tokens(folded)


def _reference_tokens(folded: str) -> list[str]:
    """The regular expression's tokens, with runs of Chinese, Japanese or Korean characters
    cut into pairs (monitor.matching.scripts)."""
    if has_cjk(folded):
        return [raw for raw, _, _ in pieces(folded)]
    return _TOKEN.findall(folded)


@given(st.text(alphabet="0123456789., a", max_size=30))
def test_it_finds_digit_separators_as_the_regular_expression_does(text: str) -> None:
    assert _has_digit_separator(text) == bool(re.search(r"[0-9][.,][0-9]", text))


@given(st.one_of(ascii_text, mixed_text, any_text))
def test_it_indexes_the_same_words_as_the_offset_tokeniser(text: str) -> None:
    fast = tokenise(text)
    spans = offset_spans(text)
    assert fast.vocabulary == {token for token, *_ in spans}
    assert fast.length == len({position for _, position, *_ in spans})


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("Ọ̀yọ́ naira, N1,572.50 fell.", ["oyo", "naira", "n1,572.50", "fell"]),
        ("NATO's Indo-Pacific plan_b", ["nato", "indo", "pacific", "plan_b"]),
        ("3.5 - 4 ... end.", ["3.5", "4", "end"]),
        ("The naira fell 3 . 5, today.", ["the", "naira", "fell", "3", "5", "today"]),
        ("Up 1.5 percent", ["up", "1.5", "percent"]),
    ],
    ids=[
        "yoruba-tone-marks-and-amounts",
        "possessive-hyphen-underscore",
        "loose-punctuation",
        "plain-words-only",
        "plain-words-and-a-decimal",
    ],
)
def test_it_keeps_the_documented_tokens(text: str, words: list[str]) -> None:
    assert tokenise(text).words == words


@given(st.one_of(ascii_text, any_text), st.integers(0, 8), st.integers(0, 8))
def test_it_gives_a_window_of_offsets_as_a_slice_of_the_whole(
    text: str, since: int, length: int
) -> None:
    whole = offset_spans(text)
    window = offset_spans(text, since=since, until=since + length)
    # (the parts of a hyphenated word that starts inside the window may run past its end)
    assert [t for t in whole if since <= t[1] <= since + length] == [
        t for t in window if t[1] <= since + length
    ]
    assert all(t in whole and t[1] >= since for t in window)


@given(st.one_of(ascii_text, any_text, st.just("ﬁne Ǆemal straße ﬁnal")))
def test_it_points_each_plain_word_at_its_original_characters(text: str) -> None:
    for token, position, start, end, last in offset_spans(text):
        if position == last and "-" not in text[start:end] and "'" not in fold(text[start:end]):
            # ("¼" folds to "1⁄4": two words from one original character)
            assert token in _reference_tokens(fold(text[start:end]))


def _fold_keeping_symbols(text: str) -> str:
    """Folding as the module docstring describes it, leaving symbols and marks where they are
    (fold turns those into spaces, which must change no token)."""
    out = []
    for char in text:
        if char in _QUOTES:
            out.append(_QUOTES[char])
            continue
        composed = unicodedata.normalize("NFKC", char).casefold()
        if is_cjk(composed):
            out.append(composed)
            continue
        decomposed = unicodedata.normalize("NFKD", composed)
        kept = "".join(c for c in decomposed if not unicodedata.combining(c))
        out.append("".join(_QUOTES.get(c, c) for c in kept))
    return "".join(out)


@given(st.one_of(any_text, st.text(alphabet="ab1 -'.,£€₦–—•\ufeff\u200bƙɗ’é", max_size=40)))
def test_folding_symbols_to_spaces_changes_no_token(text: str) -> None:
    folded = fold(text)
    assert _TOKEN.findall(folded) == _TOKEN.findall(_fold_keeping_symbols(text))
    assert all(c.isascii() or c.isalnum() or c == "_" for c in folded)
