"""Turn the bytes of a response into feed entries, with feedparser.

feedparser is given the body *and* the response headers, never a URL: it then honours the
charset of ``Content-Type`` (which wins over the XML declaration, as HTTP says it should) and
does no network I/O of its own (it has no timeout).

Three outcomes a caller must tell apart:

- a well-formed feed;
- a malformed ('bozo') feed: whatever entries feedparser could recover are used, and the problem
  is reported in :attr:`ParsedFeed.problem` so the poller can record it on the feed;
- something that is not a feed at all (an HTML page, a JSON error, an empty body):
  :attr:`ParsedFeed.is_feed` is false, so it is reported as 'not a feed' instead of being stored
  as a feed with zero items.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import feedparser

__all__ = ["ParsedFeed", "parse_feed"]

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


def parse_feed(body: bytes, *, headers: Mapping[str, str] | None = None) -> ParsedFeed:
    """Parse *body* (the raw bytes of the response) into a :class:`ParsedFeed`.

    *headers* are the HTTP response headers (any case); ``Content-Type`` carries the charset.
    """
    response_headers = {k.lower(): v for k, v in (headers or {}).items()}
    # The body has already been decompressed by the fetcher; a stale Content-Encoding header
    # would make feedparser try to decompress it again.
    response_headers.pop("content-encoding", None)
    response_headers.setdefault("content-location", "")
    parsed = feedparser.parse(body, response_headers=response_headers, sanitize_html=True)
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
    return ParsedFeed(
        entries=entries,
        title=str(feed.get("title", "") or ""),
        site_url=str(feed.get("link", "") or ""),
        language=_language(feed.get("language")),
        ttl_seconds=_ttl_seconds(feed.get("ttl")),
        version=version,
        problem=problem,
        is_feed=is_feed,
        feed=feed,
    )


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
