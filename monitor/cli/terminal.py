"""Outside text made safe to print on a terminal: one line, no control character and no escape
sequence.

A feed's title, an article's URL, a server's error message: whatever a feed or a server sent can
hold ESC sequences that recolour the terminal, rewrite its title, move the cursor to overwrite
earlier lines, or (in some terminals) make a link or answer back. Every CLI line that carries
such text goes through :func:`printable`: escape sequences (CSI, OSC and the other string
commands, two-character ones, and their one-byte C1 forms) are removed whole; line breaks,
tabs and the like become a space, so one item stays on one line; every other C0 or C1 control
character, DEL, and the bidirectional overrides that reorder what a line appears to say are
removed. ``monitor match`` prints JSON, whose encoder escapes control characters already.
"""

from __future__ import annotations

import re

__all__ = ["printable"]

_SEQUENCE = re.compile(
    r"""
      (?:\x1b\[|\x9b) [0-?]* [ -/]* [@-~]?           # CSI: parameters, then a final byte
    | (?:\x1b[]PX^_]|[\x90\x98\x9d\x9e\x9f])         # OSC, DCS, SOS, PM, APC: a string ...
      .*? (?:\x07|\x1b\\|\x9c|\Z)                   # ... up to its terminator, or the end
    | \x1b [ -/]* [0-~]?                             # any other ESC sequence (ESC c, ESC ( B)
    """,
    re.VERBOSE | re.DOTALL,
)
# Characters that end or space out a line: one space each.
_BREAKS = re.compile(r"[\t\n\v\f\r\x1c-\x1f\x85\u2028\u2029]")
# Every other C0 and C1 control, DEL, and the bidirectional embeddings, overrides and isolates.
_CONTROLS = re.compile(r"[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """*text* on one line, without escape sequences or control characters (see above)."""
    if text.isprintable():  # nearly always: no work
        return text
    text = _SEQUENCE.sub("", text)
    return _CONTROLS.sub("", _BREAKS.sub(" ", text))
