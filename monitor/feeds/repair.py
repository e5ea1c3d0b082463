"""Reading the feeds feedparser raises on, rather than losing all their entries.

feedparser reports most broken documents as 'bozo' and reads what it can. A few shapes make it
raise instead, and one such feed would then lose every entry on every poll:

- an XML declaration whose encoding name is not text, or holds a NUL (UnicodeDecodeError,
  LookupError, ValueError);
- some nestings of ``<link>``, ``<image>``, ``<source>`` and ``<guid>``, badly nested or even
  well-formed, on which it indexes lists that are not there (KeyError, IndexError), or a
  mistyped tag in an ``<image>`` (TypeError).

:func:`read_repaired` tries the document in three steps, the lightest first, and says what it
had to do in the problem it returns (which the feed's health shows):

1. as UTF-8 text, with control characters (NUL included) and the declared encoding taken out;
2. rebuilt by libxml2's recovering parser (lxml), which closes and drops tags as a browser
   does, and serialised well-formed;
3. that tree read one entry at a time: an entry feedparser still cannot read is left out on
   its own and counted, and if the feed's own elements are what it cannot read, those that hold
   other elements (an ``<image>``, say) are left out.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from lxml import etree

__all__ = ["read_repaired"]

# Parse bytes the way parser.py does (feedparser, with the response's headers bound).
Parse = Callable[[bytes], Any]

_ENCODING_ATTRIBUTE = re.compile(r"""\sencoding\s*=\s*(['"]).*?\1""", re.S)
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
_ROOT = re.compile(rb"<(?:[A-Za-z][\w.-]*:)?(?:rss|feed|RDF)[\s>/]")
_ENTRY_NAMES = frozenset({"item", "entry"})


def read_repaired(
    body: bytes, parse: Parse, error: Exception, *, out_of_time: Callable[[], bool] = bool
) -> Any:
    """feedparser's reading of a repaired *body*, flagged bozo with what was wrong.

    *error* is what feedparser raised on *body* as it came; it is raised again when no repair
    can be read, or when *out_of_time* says the parse time is spent before one could be.
    Entry by entry, the entries not yet read when the time is spent are left out and counted.
    """
    text = _as_utf8(body)
    try:
        return _flagged(parse(text), error)
    except Exception:  # noqa: S110 - feedparser's bugs raise anything; go on mending
        pass
    # dict.fromkeys: each distinct version once (the text often equals the body, and starts
    # at its root already).
    for source in dict.fromkeys((body, text, _from_root(text))):
        if out_of_time():
            break
        root, mended = _rebuilt(source)
        if root is None:
            continue
        # A well-formed document that feedparser still raises on mends nothing: say why.
        mended = mended or f"unreadable as a whole ({type(error).__name__}: {error})"
        try:
            return _flagged(parse(_serialised(root)), ValueError(mended))
        except Exception:  # still unreadable as a whole: read it piecewise
            parsed = _entry_by_entry(root, parse, mended, out_of_time)
            if parsed is not None:
                return parsed
    raise error


def _as_utf8(body: bytes) -> bytes:
    # Control characters are not XML (libxml2 gives up on the whole document at one in a
    # comment), and nothing in a feed needs them.
    text = _CONTROL.sub("", body.decode("utf-8", "replace"))
    return (_ENCODING_ATTRIBUTE.sub("", text[:1024], count=1) + text[1024:]).encode()


def _from_root(text: bytes) -> bytes:
    """*text* from its feed's root element on: libxml2 finds no tree at all in a document
    that starts with stray text (a fragment, or bytes before the markup)."""
    found = _ROOT.search(text)
    return text[found.start() :] if found else text


def _flagged(parsed: Any, problem: Exception) -> Any:
    parsed["bozo"], parsed["bozo_exception"] = 1, problem
    return parsed


def _rebuilt(body: bytes) -> tuple[Any, str]:
    """*body*'s tree as a recovering XML parser builds it, and the first thing it mended."""
    # No entity expansion, no DTD, no network: the document is hostile. huge_tree stays off,
    # which bounds depth and the size of a text node.
    xml_parser = etree.XMLParser(
        recover=True, resolve_entities=False, no_network=True, load_dtd=False
    )
    try:
        root = etree.fromstring(body, xml_parser)
    except (etree.Error, ValueError):
        return None, ""
    first = xml_parser.error_log[0] if xml_parser.error_log else None
    mended = f"line {first.line}: {first.message.strip()} (repaired)" if first else ""
    return root, mended


def _serialised(root: Any) -> bytes:
    return bytes(etree.tostring(root, encoding="utf-8", xml_declaration=True))


def _entry_by_entry(
    root: Any, parse: Parse, mended: str, out_of_time: Callable[[], bool]
) -> Any | None:
    """The feed read as its shell (everything but the entries) and then each entry in it on its
    own; None if not even the shell can be read."""
    entries = list(_entries(root))
    parents = [entry.getparent() for entry in entries]
    for entry, parent in zip(entries, parents, strict=True):
        parent.remove(entry)
    parsed = _shell(root, parse, set(parents))
    if parsed is None:
        return None
    read: list[Any] = []
    tried = 0
    for entry, parent in zip(entries, parents, strict=True):
        if out_of_time():
            break
        tried += 1
        parent.append(entry)
        try:
            read.extend(_one_entry(root, entry, parse))
        except Exception:  # noqa: S112 - this entry alone is lost, and counted
            continue
        finally:
            parent.remove(entry)
    lost = tried - len(read)
    problem = f"{mended}; read entry by entry"
    if lost > 0:
        problem += f", {lost} of {len(entries)} unreadable and left out"
    if tried < len(entries):
        problem += (
            f", {len(entries) - tried} of {len(entries)} left out when the parse time ran out"
        )
    parsed["entries"] = read
    return _flagged(parsed, ValueError(problem))


def _one_entry(root: Any, entry: Any, parse: Parse) -> list[Any]:
    try:
        return list(parse(_serialised(root)).get("entries", []))
    except Exception:  # noqa: S110 - try it once more with only its plain elements
        pass
    for child in list(entry):
        if isinstance(child.tag, str) and len(child):
            entry.remove(child)
    return list(parse(_serialised(root)).get("entries", []))


def _entries(root: Any) -> Iterator[Any]:
    """The outermost ``<item>`` and ``<entry>`` elements, in document order."""
    for element in root.iter(tag=etree.Element):
        if _local(element.tag) in _ENTRY_NAMES and not any(
            _local(above.tag) in _ENTRY_NAMES for above in element.iterancestors()
        ):
            yield element


def _local(tag: str) -> str:
    # Not etree.QName: a recovered tree can hold names it rejects (a 'content:encoded' whose
    # prefix was never declared).
    return tag.rpartition("}")[2].rpartition(":")[2]


def _shell(root: Any, parse: Parse, parents: set[Any]) -> Any | None:
    try:
        return parse(_serialised(root))
    except Exception:  # noqa: S110 - the feed's own elements are what it cannot read
        pass
    # Keep the path from the document element to the entries' places (or to RSS's channel,
    # where there are none), and, along it, only the children that hold no other elements.
    channels = root.xpath("/*/*[local-name()='channel']")
    path = {root, *channels[:1]} if not parents else set()
    for parent in parents:
        path.update((parent, *parent.iterancestors()))
    for element in path:
        for child in list(element):
            if isinstance(child.tag, str) and len(child) and child not in path:
                element.remove(child)
    try:
        return parse(_serialised(root))
    except Exception:
        return None
