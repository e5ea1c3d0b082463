"""Turn the bytes of a response into feed entries, with feedparser (and JSON Feed).

feedparser is given the body *and* the response headers, never a URL: it then honours the
charset of ``Content-Type`` (which wins over the XML declaration, as HTTP says it should) and
does no network I/O of its own (it has no timeout). The body goes to it as a file object:
given bytes, feedparser first tries them as the name of a local file to open.

Before feedparser reads anything, the document is held to the limits of
:mod:`monitor.feeds.limits`: a stray gzip body is inflated no further than the byte limit, the
entities its DTD declares may not expand past it (:mod:`monitor.feeds.dtd`), and a document
with too many entries or elements is cut down to the newest that fit
(:mod:`monitor.feeds.trim`). feedparser's own HTML
sanitizer and relative-link resolver are off: normalisation strips every tag anyway, and the
two cost three times the rest of the parse on markup-heavy text (9 MB of escaped tags: 7.7 s
with them, 2.0 s without).

Three outcomes a caller must tell apart:

- a well-formed feed;
- a malformed ('bozo') feed: whatever entries feedparser could recover are used, and the problem
  is reported in :attr:`ParsedFeed.problem` so the poller can record it on the feed;
- something that is not a feed at all (an HTML page, a JSON error, an empty body):
  :attr:`ParsedFeed.is_feed` is false, so it is reported as 'not a feed' instead of being stored
  as a feed with zero items; :attr:`ParsedFeed.refused` says it was refused for a limit.

Entries left out for a limit are counted in :attr:`ParsedFeed.left_out`, and said in
:attr:`ParsedFeed.problem`.
"""

from __future__ import annotations

import calendar
import io
import json
import re
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import feedparser

from monitor.entities import whole_characters
from monitor.feeds.dtd import check_entities
from monitor.feeds.limits import FeedLimits, Refused, newest_first
from monitor.feeds.repair import read_repaired
from monitor.feeds.trim import trim

__all__ = ["ParsedFeed", "inflated", "parse_feed"]

# Charset disagreements between HTTP and the XML declaration are normal on the web; feedparser
# flags them as bozo but parses correctly, so they are not worth an error on the feed.
_HARMLESS_BOZO = ("CharacterEncodingOverride",)


@dataclass(slots=True)
class ParsedFeed:
    entries: list[Any]
    title: str = ""
    site_url: str = ""
    language: str | None = None
    ttl_seconds: int | None = None
    version: str = ""
    problem: str | None = None
    is_feed: bool = True
    feed: Mapping[str, Any] = field(default_factory=dict)
    # Refused whole for a limit (too large once inflated, entities expanding past the limit).
    refused: bool = False
    # Entries left out for the entry, element or time limit (the newest were kept).
    left_out: int = 0


def parse_feed(
    body: bytes, *, headers: Mapping[str, str] | None = None, limits: FeedLimits | None = None
) -> ParsedFeed:
    """Parse *body* (the raw bytes of the response) into a :class:`ParsedFeed`.

    *headers* are the HTTP response headers (any case); ``Content-Type`` carries the charset.
    *limits* default to the settings' defaults, counting the parse time from now.
    """
    limits = limits or FeedLimits()
    response_headers = {k.lower(): v for k, v in (headers or {}).items()}
    try:
        body = _gunzip_stray(body, limits.max_bytes)
        if _looks_like_json(body):
            json_feed = _parse_json_feed(body)
            if json_feed is not None:
                return _newest_entries(json_feed, limits)
        check_entities(body, limit=limits.max_bytes)
        trimmed = trim(body, max_entries=limits.max_entries, max_elements=limits.max_elements)
    except Refused as refused:
        return ParsedFeed(entries=[], problem=f"refused: {refused}", is_feed=False, refused=True)
    if trimmed is not None:
        # lxml serialised the tree it cut down as UTF-8, whatever the header said.
        body = trimmed.body
        response_headers["content-type"] = "application/xml; charset=utf-8"
    # The body has already been decompressed by the fetcher; a stale Content-Encoding header
    # would make feedparser try to decompress it again.
    response_headers.pop("content-encoding", None)
    response_headers.setdefault("content-location", "")
    try:
        parsed = _read(_valid_character_references(body), response_headers, limits)
    except UnreadableFeed as unreadable:
        return ParsedFeed(entries=[], problem=str(unreadable), is_feed=False)
    feed: Mapping[str, Any] = parsed.get("feed", {}) or {}
    entries = list(parsed.get("entries", []) or [])
    version = str(parsed.get("version", "") or "")

    problem: str | None = None
    if parsed.get("bozo"):
        exc = parsed.get("bozo_exception")
        if type(exc).__name__ not in _HARMLESS_BOZO:
            problem = _one_line(f"malformed feed: {exc}" if exc else "malformed feed")

    # feedparser returns an empty result (no version, no entries, no title) for HTML pages and
    # other non-feeds. A real feed with no items still has a version or a title.
    is_feed = bool(version or entries or feed.get("title"))
    result = ParsedFeed(
        entries=entries,
        title=str(feed.get("title", "") or ""),
        site_url=str(feed.get("link", "") or ""),
        language=_language(feed.get("language")),
        ttl_seconds=_ttl_seconds(feed.get("ttl")),
        version=version,
        # An HTML page's syntax error says nothing useful: it is simply not a feed.
        problem=problem if is_feed else None,
        is_feed=is_feed,
        feed=feed,
    )
    if trimmed is not None and trimmed.left_out:
        _left_out(result, trimmed.left_out, trimmed.entries, limits)
    return _newest_entries(result, limits)


def _newest_entries(parsed: ParsedFeed, limits: FeedLimits) -> ParsedFeed:
    """*parsed* with its newest ``max_entries`` entries, in document order. trim.py has cut
    documents down already where it could; this holds JSON Feed and any count it missed."""
    entries = parsed.entries
    if len(entries) <= limits.max_entries:
        return parsed
    order = newest_first([_entry_time(entry) for entry in entries])
    kept = sorted(order[: limits.max_entries])
    parsed.entries = [entries[index] for index in kept]
    _left_out(parsed, len(entries) - len(kept), len(entries) + parsed.left_out, limits)
    return parsed


def _left_out(parsed: ParsedFeed, count: int, total: int, limits: FeedLimits) -> None:
    parsed.left_out += count
    note = (
        f"{parsed.left_out:,} of {total:,} entries left out: a poll reads at most "
        f"{limits.max_entries:,} entries and {limits.max_elements:,} elements, newest first"
    )
    parsed.problem = f"{parsed.problem}; {note}" if parsed.problem else note


def _entry_time(entry: Mapping[str, Any]) -> float | None:
    # The same dates, in the same order, as normalise's published_at.
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(key)
        if value:
            try:
                return float(calendar.timegm(value))
            except (OverflowError, TypeError, ValueError):
                continue
    return None


# A numeric character reference (decimal or hex, with or without its ';'; the entity-encoded
# form too, as feeds escape HTML inside XML) that names no character (a surrogate half or a
# number past U+10FFFF), or whose digits are too many for int() (over 4,300, leading zeros
# included). feedparser raises on these (UnicodeEncodeError, ValueError, OverflowError), and
# one in one entry would fail the whole feed on every poll.
_CHARACTER_REFERENCE = re.compile(rb"&(amp;)?#(?:([xX])([0-9a-fA-F]+)|([0-9]+));?")
_REPLACEMENT = b"&#xFFFD;"


def _valid_character_references(body: bytes) -> bytes:
    """*body* with every character reference that names no character made U+FFFD (as an
    HTML parser does), and every overlong one cut down to its value."""
    if b"&#" not in body and b"&amp;#" not in body:
        return body
    return _CHARACTER_REFERENCE.sub(_checked_reference, body)


def _checked_reference(match: re.Match[bytes]) -> bytes:
    amp, marker = match.group(1) or b"", match.group(2) or b""
    digits = match.group(3) if marker else match.group(4)
    value = digits.lstrip(b"0") or b"0"
    if len(value) > 8:  # past U+10FFFF in either base
        return _REPLACEMENT
    code = int(value, 16 if marker else 10)
    if 0xD800 <= code <= 0xDFFF or code > 0x10FFFF:
        return _REPLACEMENT
    if len(digits) > 8:
        return b"&" + amp + b"#" + marker + value + b";"
    return match.group(0)


def _read(body: bytes, headers: dict[str, str], limits: FeedLimits) -> Any:
    try:
        return _feedparser(body, headers)
    except Exception as error:  # feedparser's bugs raise anything; see repair
        plain = {**headers, "content-type": "application/xml; charset=utf-8"}
        try:
            return read_repaired(
                body,
                lambda repaired: _feedparser(repaired, plain),
                error,
                out_of_time=limits.out_of_time,
            )
        except Exception:
            reason = _one_line(f"{type(error).__name__}: {error}")
            if limits.out_of_time():
                raise UnreadableFeed(
                    f"feedparser raised {reason}, and the parse time limit of "
                    f"{limits.parse_seconds:g} s ran out while repairing it"
                ) from error
            raise UnreadableFeed(
                f"feedparser raised {reason}, and no repair of it could be read"
            ) from error


class UnreadableFeed(ValueError):
    """feedparser raised on the document, and on every repair of it."""


def _feedparser(body: bytes, headers: dict[str, str]) -> Any:
    # A file object, not bytes: feedparser opens bytes as a file name when it can (a body of
    # b"/etc/hostname" would be read from our disk).
    return feedparser.parse(
        io.BytesIO(body),
        response_headers=headers,
        sanitize_html=False,
        resolve_relative_uris=False,
    )


# A gzip file served without 'Content-Encoding: gzip' (a .xml.gz behind a misconfigured
# server) still reaches us compressed. Decompress it, no further than the byte limit: a 777 KB
# body inflated to 50 MB and 107,015 entries before this limit.
_GZIP_MAGIC = b"\x1f\x8b"


def inflated(body: bytes, limit: int) -> bytes:
    """*body* inflated if it is a gzip file served as it is (a sitemap.xml.gz), no further
    than *limit* bytes (:class:`Refused` past it); any other body unchanged."""
    return _gunzip_stray(body, limit)


def _gunzip_stray(body: bytes, limit: int) -> bytes:
    if not body.startswith(_GZIP_MAGIC):
        return body
    try:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        inflated = inflater.decompress(body, limit + 1)
    except zlib.error:
        return body
    if len(inflated) > limit:
        raise Refused(f"body larger than {limit} bytes once inflated (gzip without its header)")
    return inflated if inflated else body


def _looks_like_json(body: bytes) -> bool:
    return body[:64].lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{")


def _parse_json_feed(body: bytes) -> ParsedFeed | None:
    """JSON Feed 1.0 and 1.1 (https://jsonfeed.org), which feedparser 6 does not read.

    Items become mappings with the keys feedparser would give an entry, so normalisation
    treats both alike. Anything that is JSON but not a JSON Feed is 'not a feed'.
    """
    try:
        data = whole_characters(json.loads(body.decode("utf-8-sig")))
    except (UnicodeDecodeError, ValueError, RecursionError):
        # RecursionError: arrays nested thousands deep, which json.loads refuses that way.
        return ParsedFeed(entries=[], is_feed=False, problem="malformed JSON")
    # Lenient: some publishers write "version": "1.1" instead of the jsonfeed.org URL.
    if not isinstance(data, dict) or not (
        "jsonfeed.org/version" in str(data.get("version", ""))
        or (isinstance(data.get("items"), list) and ("title" in data or "feed_url" in data))
    ):
        return ParsedFeed(entries=[], is_feed=False)
    language = _language(data.get("language"))
    entries: list[Any] = []
    items = data.get("items")
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        entry: dict[str, Any] = {
            "id": str(item.get("id") or "") or None,
            "title": item.get("title") or "",
            "link": item.get("url") or item.get("external_url") or "",
            "summary": item.get("summary") or "",
            "content": [
                {"value": value}
                for value in (item.get("content_html"), item.get("content_text"))
                if isinstance(value, str) and value
            ],
            "published_parsed": _json_date(item.get("date_published")),
            "updated_parsed": _json_date(item.get("date_modified")),
        }
        authors = item.get("authors") or ([item["author"]] if item.get("author") else [])
        names = [a.get("name") for a in authors if isinstance(a, dict) and a.get("name")]
        if names:
            entry["author"] = ", ".join(str(n) for n in names)
        if item.get("language"):
            entry["title_detail"] = {"language": str(item["language"])}
        entries.append(entry)
    return ParsedFeed(
        entries=entries,
        title=str(data.get("title") or ""),
        site_url=str(data.get("home_page_url") or ""),
        language=language,
        version="json1",
        feed=data,
    )


def _json_date(value: Any) -> time.struct_time | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        when = datetime.fromisoformat(value.strip().replace("z", "Z"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.utctimetuple()


def _language(value: Any) -> str | None:
    if not value or not isinstance(value, str):
        return None
    text = value.strip().replace("_", "-")
    return text[:35] or None


def _ttl_seconds(value: Any) -> int | None:
    # RSS <ttl> is in minutes.
    try:
        minutes = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return minutes * 60 if minutes > 0 else None


def _one_line(text: str, limit: int = 300) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
