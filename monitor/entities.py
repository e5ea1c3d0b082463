"""Decoding HTML character references in text from the outside world, safely.

``html.unescape`` parses the digits of a numeric reference with ``int()``, which refuses
more than 4,300 digits (ValueError): a feed, an OPML file or a page that carries
``&#000…0065;`` or ``&#999…9;`` would stop whatever decodes it. Such references are cut
down to their value first (U+FFFD when it names no character, as ``html.unescape`` itself
gives for a number past U+10FFFF).
"""

from __future__ import annotations

import html
import re
from typing import Any

__all__ = ["unescape", "whole_characters"]

# A numeric reference with more digits than any character needs (leading zeros included).
_LONG_REFERENCE = re.compile(r"&#(?:([xX])([0-9a-fA-F]{9,})|([0-9]{9,}));?")


def unescape(text: str) -> str:
    """``html.unescape(text)``, without its failure on very long numeric references."""
    if "&#" in text and _LONG_REFERENCE.search(text):
        text = _LONG_REFERENCE.sub(_shortened, text)
    return html.unescape(text)


def _shortened(match: re.Match[str]) -> str:
    marker = match.group(1) or ""
    digits = (match.group(2) if marker else match.group(3)).lstrip("0") or "0"
    if len(digits) > 8:  # past U+10FFFF in either base
        return "\ufffd"
    return f"&#{marker}{digits};"


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def whole_characters(value: Any) -> Any:
    """*value* (a string, or JSON's lists and objects of strings) with every lone surrogate
    made U+FFFD.

    JSON's ``\\ud800`` escape decodes to half a character (``json`` joins only whole pairs),
    which no UTF-8 encoder takes: SQLite, PostgreSQL and standard output would all raise on
    an article that carried one.
    """
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value) if _LONE_SURROGATE.search(value) else value
    if isinstance(value, list):
        return [whole_characters(item) for item in value]
    if isinstance(value, dict):
        return {whole_characters(k): whole_characters(v) for k, v in value.items()}
    return value
