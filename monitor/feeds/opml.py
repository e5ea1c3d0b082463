"""OPML: lenient import, OPML 2.0 export.

Real OPML files are often not well-formed XML (a bare ``&`` in a title or URL is the usual
fault), are encoded in something other than what they declare, or mix feeds with links. Import
reads what it can, in three steps: parse as XML; if that fails, escape bare ampersands and try
again; if that fails too, pick ``<outline>`` elements out one by one. Every outline that is not
imported is reported with the reason, and a file nothing can be read from is reported too. The
importer never raises for bad content.

Categories come from the enclosing outlines (folders) and from the ``category`` attribute
(comma-separated, each possibly a ``/path``); they become the feed's tags.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime

from monitor.entities import unescape
from monitor.feeds.config import FeedSpec

__all__ = ["OpmlFeed", "OpmlImport", "export_opml", "parse_opml"]


@dataclass(frozen=True, slots=True)
class OpmlFeed:
    url: str
    title: str | None
    tags: tuple[str, ...] = ()
    site_url: str | None = None


@dataclass(slots=True)
class OpmlImport:
    feeds: list[OpmlFeed] = field(default_factory=list)
    # (what, why) for each outline or file that was not imported.
    skipped: list[tuple[str, str]] = field(default_factory=list)
    recovered: str | None = None  # how a malformed file was read, when it was


_BARE_AMP = re.compile(r"&(?!(?:#\d+|#x[0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);)")
_OUTLINE = re.compile(r"<outline\b([^>]*?)/?>", re.IGNORECASE | re.DOTALL)
_ATTR = re.compile(r"([A-Za-z_:][\w:.-]*)\s*=\s*(\"[^\"]*\"|'[^']*')", re.DOTALL)


def parse_opml(data: bytes) -> OpmlImport:
    """Read the feeds of an OPML document; never raises for malformed content."""
    result = OpmlImport()
    if b"<!DOCTYPE" in data[:2000] or b"<!ENTITY" in data:
        # No DTDs: entity expansion is how XML bombs work.
        data = re.sub(rb"<!DOCTYPE[^>]*(\[.*?\])?\s*>", b"", data, flags=re.DOTALL)
    root = _xml(data)
    if root is None:
        root = _xml(_BARE_AMP.sub("&amp;", _text(data)).encode("utf-8"), strip_declaration=True)
        if root is not None:
            result.recovered = "escaped bare '&' characters"
    if root is not None:
        if _local(root.tag) != "opml":
            result.skipped.append(("file", f"not OPML (root element <{_local(root.tag)}>)"))
            return result
        body = next((child for child in root if _local(child.tag) == "body"), None)
        if body is None:
            result.skipped.append(("file", "no <body> element"))
            return result
        _walk(body, (), result)
    else:
        outlines = [_attributes(match.group(1)) for match in _OUTLINE.finditer(_text(data))]
        if not outlines:
            result.skipped.append(("file", "not well-formed XML and no <outline> could be read"))
            return result
        result.recovered = "read outline by outline (not well-formed XML)"
        for attributes in outlines:
            _add(attributes, (), result)
    _dedupe(result)
    return result


def _walk(element: ET.Element, folders: tuple[str, ...], result: OpmlImport) -> None:
    for child in element:
        if _local(child.tag) != "outline":
            continue
        attributes = {_local(k).lower(): v for k, v in child.attrib.items()}
        if _feed_url(attributes):
            _add(attributes, folders, result)
        elif len(child):
            name = (attributes.get("text") or attributes.get("title") or "").strip()
            _walk(child, (*folders, name) if name else folders, result)
        else:
            _add(attributes, folders, result)


def _add(attributes: dict[str, str], folders: tuple[str, ...], result: OpmlImport) -> None:
    label = (attributes.get("text") or attributes.get("title") or "").strip() or None
    url = _feed_url(attributes)
    if not url:
        what = label or "an outline"
        kind = (attributes.get("type") or "").lower()
        if kind == "link" or attributes.get("url") or attributes.get("htmlurl"):
            result.skipped.append((what, "a web link, not a feed (no xmlUrl)"))
        elif label is not None or attributes:
            result.skipped.append((what, "no xmlUrl"))
        return
    try:
        spec = FeedSpec(url=url)
    except ValueError:
        result.skipped.append((label or url, f"not an http(s) URL: {url!r}"))
        return
    tags = [*folders, *_categories(attributes.get("category", ""))]
    result.feeds.append(
        OpmlFeed(
            url=spec.url,
            title=" ".join(label.split()) if label else None,
            tags=tuple(dict.fromkeys(t for t in tags if t)),
            site_url=(attributes.get("htmlurl") or "").strip() or None,
        )
    )


def _feed_url(attributes: dict[str, str]) -> str:
    return (attributes.get("xmlurl") or "").strip()


def _categories(value: str) -> Iterable[str]:
    for item in value.split(","):
        for part in item.strip().strip("/").split("/"):
            if part.strip():
                yield part.strip()


def _dedupe(result: OpmlImport) -> None:
    seen: set[str] = set()
    kept: list[OpmlFeed] = []
    for feed in result.feeds:
        if feed.url in seen:
            result.skipped.append((feed.title or feed.url, "listed twice"))
            continue
        seen.add(feed.url)
        kept.append(feed)
    result.feeds = kept


def _xml(data: bytes, *, strip_declaration: bool = False) -> ET.Element | None:
    if strip_declaration:
        data = re.sub(rb"^\s*<\?xml[^>]*\?>", b"", data)
    try:
        return ET.fromstring(data)  # noqa: S314 (no DTD reaches here, see parse_opml)
    except (ET.ParseError, LookupError):  # LookupError: a declared encoding Python lacks
        return None


def _text(data: bytes) -> str:
    for encoding in ("utf-8", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def _attributes(raw: str) -> dict[str, str]:
    return {_local(name).lower(): unescape(value[1:-1]) for name, value in _ATTR.findall(raw)}


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1].rsplit(":", 1)[-1] if isinstance(tag, str) else ""


def export_opml(
    specs: Iterable[FeedSpec],
    *,
    titles: dict[str, str] | None = None,
    site_urls: dict[str, str] | None = None,
    now: datetime | None = None,
) -> str:
    """An OPML 2.0 document listing *specs*, tags in ``category``."""
    now = now or datetime.now(UTC)
    titles = titles or {}
    site_urls = site_urls or {}
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = "monitor feeds"
    ET.SubElement(head, "dateCreated").text = format_datetime(now, usegmt=True)
    body = ET.SubElement(root, "body")
    for spec in specs:
        text = spec.name or titles.get(spec.url) or spec.url
        attributes = {"type": "rss", "text": text, "title": text, "xmlUrl": spec.url}
        if site_urls.get(spec.url):
            attributes["htmlUrl"] = site_urls[spec.url]
        if spec.tags:
            attributes["category"] = ",".join(spec.tags)
        ET.SubElement(body, "outline", attributes)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
