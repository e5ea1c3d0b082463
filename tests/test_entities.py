"""Decoding character references in outside text never fails on their length."""

from __future__ import annotations

import html

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.entities import unescape, whole_characters


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("&#" + "0" * 5000 + "65; &#x" + "0" * 5000 + "42", "A B"),
        ("a &#" + "9" * 5000 + "; b", "a \ufffd b"),
        ("a &#x" + "f" * 5000 + " b", "a \ufffd b"),
        ("&#x110000; &#8217; &amp; &nbsp;", "\ufffd \u2019 & \xa0"),
    ],
    ids=["long-but-valid", "long-decimal", "long-hex-unterminated", "ordinary"],
)
def test_it_decodes_references_of_any_length(text: str, expected: str) -> None:
    assert unescape(text) == expected


@given(st.text(alphabet="&#xX;0123456789abcdefAB amp", max_size=40))
def test_it_agrees_with_html_unescape_where_that_succeeds(text: str) -> None:
    assert unescape(text) == html.unescape(text)


def test_it_makes_every_lone_surrogate_u_fffd_in_json_values() -> None:
    value = {"a\ud800": ["x\udfff", 1, None, {"k": "\U0001f600 \ud83d"}], "n": 2.5}
    assert whole_characters(value) == {
        "a\ufffd": ["x\ufffd", 1, None, {"k": "\U0001f600 \ufffd"}],
        "n": 2.5,
    }


@given(st.text())
def test_what_it_returns_always_encodes(text: str) -> None:
    whole = whole_characters(text)
    whole.encode("utf-8")
    assert len(whole) == len(text)
