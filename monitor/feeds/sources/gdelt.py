"""The GDELT DOC 2.0 API in ArtList JSON mode (``type: gdelt``): news in 65 languages.

feeds.yaml names a query, in GDELT's own syntax (https://blog.gdeltproject.org/gdelt-doc-2-0-api-debuts/)::

    - type: gdelt
      name: GDELT naira
      query: 'naira (devaluation OR "parallel market")'
      url: https://api.gdeltproject.org/api/v2/doc/doc   # the default; a mirror may be named

The source's URL is the request itself (:func:`request_url`): the API's address with
``query``, ``mode=ArtList``, ``format=json``, and ``maxrecords=75`` and ``sort=DateDesc``
unless the given URL sets them, so each query is one source with its own poll state.

Each article keeps what GDELT says of its outlet: the language (as an ISO 639-1 code where
pycountry knows GDELT's English name for it, else that name) and the source country. GDELT
gives a title and a link, no text: ``fulltext: true`` fetches each new story's page.

GDELT asks for about one request every 5 seconds; :mod:`monitor.feeds.pacing` starts each
GDELT source's request no sooner than ``MONITOR_GDELT_MIN_GAP`` after the previous request to
its host ended. GDELT answers a query it refuses (too short, too common, too many requests)
with a line of plain text and status 200: that line becomes the source's error. An empty
answer (``{}``) is a healthy source with nothing new.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pycountry

from monitor.entities import whole_characters
from monitor.feeds.fetcher import FetchResult
from monitor.feeds.parser import ParsedFeed
from monitor.feeds.sources.context import SourceContext

__all__ = ["API_URL", "api_base", "language_code", "read", "request_url"]

API_URL = "https://api.gdeltproject.org/api/v2/doc/doc"
# The parameters a source's request always carries, set from its query and type.
_OWN = ("query", "mode", "format")
_DEFAULTS = (("maxrecords", "75"), ("sort", "DateDesc"))


def request_url(query: str, base: str | None = None) -> str:
    """The ArtList JSON request for *query* at *base* (GDELT's API by default). The same
    query and base give the same URL, and so does the URL given back as *base*."""
    parts = urlsplit(base or API_URL)
    kept = [
        (key, value)
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
        if key.lower() not in _OWN
    ]
    present = {key.lower() for key, _value in kept}
    kept += [(key, value) for key, value in _DEFAULTS if key not in present]
    params = [("query", query), ("mode", "ArtList"), ("format", "json"), *kept]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(params), ""))


def api_base(url: str) -> str | None:
    """What of a source's request URL feeds.yaml writes as ``url:``: None for GDELT's own API
    with the default parameters, else the URL without the parameters the source sets."""
    parts = urlsplit(url)
    kept = [
        (key, value)
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
        if key.lower() not in _OWN and (key, value) not in _DEFAULTS
    ]
    base = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(kept), ""))
    return None if base == API_URL else base


def read(result: FetchResult, context: SourceContext) -> ParsedFeed:
    text = result.body.decode("utf-8-sig", "replace").strip()
    try:
        # Escapes of lone surrogates ("\ud800") decode to no character: made U+FFFD.
        data = whole_characters(json.loads(text)) if text else {}
    except (ValueError, RecursionError):
        return ParsedFeed(entries=[], is_feed=False, problem=f"GDELT answered: {_line(text)}")
    if not isinstance(data, dict):
        return ParsedFeed(entries=[], is_feed=False, problem="GDELT answered JSON without articles")
    articles = data.get("articles") or []
    if not isinstance(articles, list):
        return ParsedFeed(entries=[], is_feed=False, problem="GDELT's 'articles' is not a list")
    limit = context.limits.max_entries
    entries = [entry for entry in map(_entry, articles[:limit]) if entry is not None]
    left_out = max(len(articles) - limit, 0)
    return ParsedFeed(
        entries=entries,
        title="GDELT",
        version="gdelt",
        left_out=left_out,
        problem=f"{left_out:,} articles left out: a poll reads at most {limit:,}"
        if left_out
        else None,
    )


def _entry(article: Any) -> dict[str, Any] | None:
    if not isinstance(article, dict) or not str(article.get("url") or "").lower().startswith(
        ("http://", "https://")
    ):
        return None
    entry: dict[str, Any] = {
        "link": article["url"],
        "title": str(article.get("title") or ""),
        "published_parsed": _seen(article.get("seendate")),
    }
    language = language_code(article.get("language"))
    if language:
        entry["title_detail"] = {"language": language}
    country = article.get("sourcecountry")
    if isinstance(country, str) and country.strip():
        entry["source_country"] = country.strip()
    return entry


def language_code(name: Any) -> str | None:
    """GDELT's English name of a language as an ISO 639-1 code where there is one (the form
    feeds use), else as GDELT wrote it."""
    if not isinstance(name, str) or not name.strip():
        return None
    text = str(name).strip()
    try:
        language = pycountry.languages.lookup(text)
    except LookupError:
        return text[:35]
    return str(getattr(language, "alpha_2", "") or text)[:35]


def _seen(value: Any) -> time.struct_time | None:
    # GDELT's 'seendate' is when it first saw the story, in UTC: 20260302T101500Z.
    if not isinstance(value, str):
        return None
    try:
        when = datetime.strptime(value.strip(), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None
    return when.utctimetuple()


def _line(text: str, limit: int = 200) -> str:
    line = " ".join(text.split()) or "an empty body"
    return line if len(line) <= limit else line[: limit - 1] + "…"
