"""Turn feed entries into clean articles.

Each entry becomes an :class:`ArticleData` with:

- ``identity``: sha256 of, in order of preference, the entry's GUID, its canonical link, or its
  title and content. A GUID that is globally unique by construction (a URL, a ``tag:`` or
  ``urn:`` URI) is used as it is, so the same story carried by two feeds is one article; a bare
  GUID such as ``"123"`` is only unique within its feed, so it is scoped by the feed's URL.
- ``url``: the canonical link: scheme and host lower-cased, default port, fragment and tracking
  parameters (``utm_*``, ``fbclid``, ``gclid``, ...) removed; only http(s) links are kept.
- ``title``, ``summary``, ``content``: plain text: markup removed, entities decoded, whitespace
  collapsed, Unicode NFC. Nothing from a feed keeps its markup, so no script or event handler
  can reach a page or a Slack message through us. Each is held to its limit in characters
  (:mod:`monitor.feeds.limits`: 1,000, 20,000 and 200,000; the author 300), cut at a word and
  marked '…'; markup far past the limit is not even read.
- ``published_at``: aware UTC; the first-seen time when the entry has no date, and clamped to
  now when it claims to come from the future (a wrong clock or time zone at the publisher).
- ``language``: the entry's own (xml:lang) when given, else the feed's.
"""

from __future__ import annotations

import calendar
import hashlib
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from monitor import entities
from monitor.feeds.limits import (
    AUTHOR_CHARS,
    CONTENT_CHARS,
    MARKUP_FACTOR,
    SUMMARY_CHARS,
    TITLE_CHARS,
    FeedLimits,
    capped,
)
from monitor.feeds.parser import ParsedFeed, parse_feed

__all__ = [
    "ArticleData",
    "article_from_entry",
    "articles_from_bytes",
    "articles_from_parsed",
    "canonical_url",
    "clean_text",
]


@dataclass(frozen=True, slots=True)
class ArticleData:
    identity: str
    url: str
    title: str
    summary: str
    content: str
    author: str | None
    published_at: datetime | None
    language: str | None
    # The outlet's country, where the source says it (GDELT).
    source_country: str | None = None


def articles_from_bytes(
    body: bytes,
    *,
    url: str = "",
    headers: Mapping[str, str] | None = None,
    now: datetime | None = None,
    limits: FeedLimits | None = None,
) -> list[ArticleData]:
    """Parse a feed document and return its entries as articles (no I/O, no database).

    *url* is the feed's URL: relative links are resolved against it and bare GUIDs are scoped
    to it. *headers* are the HTTP response headers (``Content-Type`` carries the charset).
    """
    parsed = parse_feed(body, headers=headers, limits=limits)
    return articles_from_parsed(parsed, url=url, now=now)


def articles_from_parsed(
    parsed: ParsedFeed, *, url: str = "", now: datetime | None = None, scope: str | None = None
) -> list[ArticleData]:
    """Articles of a parsed feed. *scope* names the feed for identities that are only unique
    within it (bare GUIDs); it defaults to *url*. The poller passes the feed's id, so that a
    feed whose URL moves (a 301) keeps its articles' identities."""
    now = now or datetime.now(UTC)
    articles: list[ArticleData] = []
    seen: set[str] = set()
    for entry in parsed.entries:
        article = article_from_entry(
            entry, feed_url=url, feed_language=parsed.language, now=now, scope=scope
        )
        # Some feeds repeat an item; one article per identity.
        if article.identity in seen:
            continue
        seen.add(article.identity)
        articles.append(article)
    return articles


def article_from_entry(
    entry: Mapping[str, Any],
    *,
    feed_url: str,
    feed_language: str | None,
    now: datetime,
    scope: str | None = None,
) -> ArticleData:
    link = _first_link(entry, feed_url)
    title = _clean(entry.get("title"), TITLE_CHARS)
    summary = _clean(entry.get("summary"), SUMMARY_CHARS)
    content = _content(entry)
    if content == summary:
        # RSS puts the only text in <description>; feedparser may report it as both.
        content = ""
    return ArticleData(
        identity=identity_of(
            entry, link=link, title=title, content=content or summary, feed_url=scope or feed_url
        ),
        url=link,
        title=title,
        summary=summary,
        content=content,
        author=_clean(entry.get("author"), AUTHOR_CHARS) or None,
        published_at=_published(entry, now),
        language=_entry_language(entry) or feed_language,
        source_country=_clean(entry.get("source_country"), 100) or None,
    )


# -- identity ---------------------------------------------------------------------------

_GLOBAL_GUID = re.compile(r"^(https?://|tag:|urn:)", re.IGNORECASE)


def identity_of(
    entry: Mapping[str, Any], *, link: str, title: str, content: str, feed_url: str
) -> str:
    guid = str(entry.get("id") or "").strip()
    if guid:
        if _GLOBAL_GUID.match(guid):
            key = "guid:" + (canonical_url(guid) if guid[:4].lower() == "http" else guid)
        else:
            key = f"guid:{feed_url}#{guid}"
    elif link:
        key = "url:" + link
    else:
        key = f"text:{feed_url}\n{title}\n{content}"
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


# -- URLs -------------------------------------------------------------------------------

_TRACKING_EXACT = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "twclid",
        "igshid",
        "mc_cid",
        "mc_eid",
        "_hsenc",
        "_hsmi",
        "mkt_tok",
        "oly_anon_id",
        "oly_enc_id",
        "vero_id",
        "rb_clickid",
        "s_cid",
        "ncid",
        "cmpid",
        "ito",
    }
)
_TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "hsa_")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def canonical_url(url: str | None, *, base: str = "") -> str:
    """The canonical form of an http(s) link, or ``""`` for anything else (``javascript:``...)."""
    if not url:
        return ""
    url = url.strip()
    if base and not url.startswith(("http://", "https://")):
        try:
            url = urljoin(base, url)
        except ValueError:
            return ""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return ""
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return ""
    host = parts.hostname.lower().rstrip(".")
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if port and port != _DEFAULT_PORTS[scheme]:
        host = f"{host}:{port}"
    if parts.username:
        # Credentials in a link are never wanted in an article URL.
        pass
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        kept = [(k, v) for k, v in pairs if not _is_tracking(k)]
        if len(kept) != len(pairs):
            query = urlencode(kept)
    path = parts.path or "/"
    return urlunsplit((scheme, host, path, query, ""))


def _is_tracking(key: str) -> bool:
    lower = key.lower()
    return lower in _TRACKING_EXACT or lower.startswith(_TRACKING_PREFIXES)


def _first_link(entry: Mapping[str, Any], base: str) -> str:
    """The first candidate that is an http(s) link: <link>, an alternate link, a permalink GUID."""
    candidates: list[Any] = [entry.get("link")]
    for candidate in entry.get("links", ()) or ():
        if isinstance(candidate, Mapping) and candidate.get("rel", "alternate") == "alternate":
            candidates.append(candidate.get("href"))
    if entry.get("guidislink"):
        candidates.append(entry.get("id"))
    for candidate in candidates:
        if candidate:
            link = canonical_url(str(candidate), base=base)
            if link:
                return link
    return ""


# -- text -------------------------------------------------------------------------------

_DROP_BLOCKS = re.compile(
    r"<(script|style|noscript|template|iframe|object)\b[^>]*>.*?</\1\s*>", re.IGNORECASE | re.DOTALL
)
_COMMENT = re.compile(r"<!--.*?(?:-->|$)|<!\[CDATA\[|\]\]>", re.DOTALL)
_BLOCK_TAG = re.compile(
    r"</?(?:p|div|br|li|ul|ol|h[1-6]|tr|td|th|table|blockquote|pre|section|article|hr)\b[^>]*>",
    re.IGNORECASE,
)
_TAG = re.compile(r"</?[A-Za-z!?/][^<>]*>?")
_DROP_PROBE = re.compile(r"<(?:script|style|noscript|template|iframe|object)\b", re.IGNORECASE)
# Control characters are invalid in XML text and PostgreSQL refuses NUL in text columns.
_CONTROL_TABLE = dict.fromkeys(
    [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), *range(0x7F, 0xA0)]
)
_UNSAFE_SCHEME = re.compile(r"(?i)\b(?:javascript|vbscript|livescript)\s*:")


def clean_text(value: Any) -> str:
    """Plain text from a fragment of HTML or text: tags removed, entities decoded, whitespace
    collapsed, NFC. Safe to put anywhere once escaped for that place."""
    if not value:
        return ""
    text = str(value)
    if "<" in text or "&" in text:
        text = _strip_markup(text)
        # Markup that was escaped once (&lt;script&gt;) becomes markup after decoding; strip
        # again so that no tag survives as text either.
        if "<" in text:
            text = _strip_markup(text, unescape=False)
    if ":" in text and _UNSAFE_SCHEME.search(text):
        text = _UNSAFE_SCHEME.sub("", text)
    if not text.isprintable():
        text = text.translate(_CONTROL_TABLE)
    # str.split() with no argument splits on any run of whitespace, at C speed.
    text = " ".join(text.split())
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)
    return text


def _clean(value: Any, limit: int) -> str:
    """clean_text of *value*, held to *limit* characters. The raw text is cut first, well past
    the limit, so that cleaning a 5 MB title costs no more than cleaning a long one."""
    if not value:
        return ""
    text = str(value)
    if len(text) > limit * MARKUP_FACTOR:
        text = text[: limit * MARKUP_FACTOR]
    return capped(clean_text(text), limit)


def _strip_markup(text: str, *, unescape: bool = True) -> str:
    if "<" in text:
        if _DROP_PROBE.search(text):
            text = _DROP_BLOCKS.sub(" ", text)
        if "<!" in text or "]]>" in text:
            text = _COMMENT.sub(" ", text)
        text = _BLOCK_TAG.sub(" ", text)
        text = _TAG.sub("", text)
    if unescape and "&" in text:
        text = entities.unescape(text)
    return text


def _content(entry: Mapping[str, Any]) -> str:
    parts: Iterable[Any] = entry.get("content", ()) or ()
    best = ""
    for part in parts:
        value = part.get("value", "") if isinstance(part, Mapping) else ""
        text = _clean(value, CONTENT_CHARS)
        # Atom may offer text and html alternatives of the same content: keep the fullest.
        if len(text) > len(best):
            best = text
    return best


# -- dates and language -----------------------------------------------------------------


def _published(entry: Mapping[str, Any], now: datetime) -> datetime:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(key)
        if value:
            try:
                when = datetime.fromtimestamp(calendar.timegm(value), UTC)
            except (OverflowError, ValueError, OSError, TypeError):
                continue
            return min(when, now)
    return now


def _entry_language(entry: Mapping[str, Any]) -> str | None:
    for key in ("title_detail", "summary_detail"):
        detail = entry.get(key)
        if isinstance(detail, Mapping) and detail.get("language"):
            return str(detail["language"]).strip().replace("_", "-")[:35] or None
    for part in entry.get("content", ()) or ():
        if isinstance(part, Mapping) and part.get("language"):
            return str(part["language"]).strip().replace("_", "-")[:35] or None
    return None
