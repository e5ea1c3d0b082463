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

__all__ = ["unescape"]

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
