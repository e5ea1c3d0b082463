"""A news sitemap, or a sitemap index (``type: sitemap``), read into entries.

Many outlets without a usable feed publish a Google News sitemap: one ``<url>`` per story of
the last two days, with the ``news:`` extension (https://www.google.com/schemas/sitemap-news/0.9)
giving its title, publication date and language. Plain ``<url>`` entries (a link and a
``lastmod``) are read too. Each story's page is then fetched for its text, and only for stories
not stored before: a URL already seen is the same identity, so storage finds nothing new.

A sitemap index (``<sitemapindex>``) is followed to its newest children only: the
:data:`MAX_CHILDREN` with the latest ``lastmod`` (in document order where none is given),
each fetched under the same rules as the index. A child that fails is said in the source's
problem while the others are read; an index inside an index is not followed. Entries are
held to the poll's entry limit, newest first.

The XML is parsed by lxml with entities unresolved, no DTD loaded and no network, within the
fetcher's byte cap; a ``.xml.gz`` served without ``Content-Encoding`` is inflated first, no
further than that cap.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from typing import Any

import lxml.etree

from monitor.feeds.fetcher import FetchError, FetchResult
from monitor.feeds.limits import Refused, newest_first
from monitor.feeds.parser import ParsedFeed, inflated
from monitor.feeds.sources.context import SourceContext
from monitor.feeds.sources.dates import struct_time_of

__all__ = ["INDEX_VERSION", "MAX_CHILDREN", "read"]

#: Child sitemaps of an index read per poll: the newest. An index of a big site lists years of
#: monthly sitemaps; only the latest hold news.
MAX_CHILDREN = 3

#: ParsedFeed.version of an index's entries: the poller keeps no validators for it, since an
#: index may stay the same while its newest child grows.
INDEX_VERSION = "sitemapindex"

_NEWS = "{http://www.google.com/schemas/sitemap-news/0.9}"


@dataclass(frozen=True, slots=True)
class _Document:
    kind: str  # "urlset", "sitemapindex", or what the root was instead
    root: Any


def read(result: FetchResult, context: SourceContext) -> ParsedFeed:
    try:
        document = _parse(inflated(result.body, context.limits.max_bytes))
    except Refused as refused:
        return ParsedFeed(entries=[], is_feed=False, problem=f"refused: {refused}", refused=True)
    if document is None:
        return ParsedFeed(entries=[], is_feed=False, problem="not a sitemap: not well-formed XML")
    problems: list[str] = []
    if document.kind == "sitemapindex":
        entries = _from_index(document.root, context, problems)
        if not entries and problems:
            return ParsedFeed(entries=[], is_feed=False, problem="; ".join(problems))
    elif document.kind == "urlset":
        entries = _entries(document.root)
    else:
        return ParsedFeed(
            entries=[],
            is_feed=False,
            problem=f"not a sitemap: the document is <{document.kind}>, not <urlset>",
        )
    limit = context.limits.max_entries
    left_out = max(len(entries) - limit, 0)
    if left_out:
        order = newest_first([_seconds(entry) for entry in entries])
        entries = [entries[index] for index in sorted(order[:limit])]
        problems.append(f"{left_out:,} URLs left out: a poll reads at most {limit:,}, newest first")
    return ParsedFeed(
        entries=entries,
        site_url=result.url,
        version=INDEX_VERSION if document.kind == "sitemapindex" else "sitemap",
        problem="; ".join(problems) or None,
        left_out=left_out,
    )


def _parse(body: bytes) -> _Document | None:
    parser = lxml.etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, recover=False
    )
    try:
        root = lxml.etree.fromstring(body.lstrip(), parser=parser)
    except (lxml.etree.XMLSyntaxError, ValueError):
        return None
    if root is None:
        return None
    return _Document(lxml.etree.QName(root).localname, root)


def _children(root: Any, name: str) -> list[Any]:
    return [child for child in root if _local(child) == name]


def _local(element: Any) -> str:
    tag = element.tag
    return lxml.etree.QName(tag).localname if isinstance(tag, str) else ""


def _child_text(element: Any, name: str) -> str:
    for child in element:
        if _local(child) == name:
            return " ".join((child.text or "").split())
    return ""


def _entries(root: Any) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    for url in _children(root, "url"):
        link = _child_text(url, "loc")
        if not link.lower().startswith(("http://", "https://")):
            continue
        entry: dict[str, Any] = {"link": link}
        news = url.find(f"{_NEWS}news")
        published = _child_text(url, "lastmod")
        if news is not None:
            entry["title"] = _child_text(news, "title")
            published = _child_text(news, "publication_date") or published
            publication = news.find(f"{_NEWS}publication")
            if publication is not None:
                language = _child_text(publication, "language")
                if language:
                    entry["title_detail"] = {"language": language}
                name = _child_text(publication, "name")
                if name:
                    entry["author"] = name
        entry["published_parsed"] = struct_time_of(published)
        entries.append(entry)
    return entries


def _from_index(root: Any, context: SourceContext, problems: list[str]) -> list[dict[str, Any]]:
    children = [
        (_child_text(child, "loc"), struct_time_of(_child_text(child, "lastmod")))
        for child in _children(root, "sitemap")
    ]
    children = [(loc, lastmod) for loc, lastmod in children if loc]
    if not children:
        problems.append("the sitemap index lists no sitemaps")
        return []
    order = newest_first([_stamp(lastmod) for _loc, lastmod in children])
    newest = [children[index][0] for index in order[:MAX_CHILDREN]]
    if context.fetch_more is None:
        problems.append("a sitemap index needs its child sitemaps fetched")
        return []
    entries: list[dict[str, Any]] = []
    for loc in newest:
        problem = _read_child(loc, context, entries)
        if problem:
            problems.append(f"{loc}: {problem}")
    return entries


def _read_child(loc: str, context: SourceContext, entries: list[dict[str, Any]]) -> str | None:
    assert context.fetch_more is not None
    try:
        child = context.fetch_more(loc)
    except FetchError as exc:
        return exc.message
    if child.status != 200:
        return f"HTTP {child.status}"
    try:
        document = _parse(inflated(child.body, context.limits.max_bytes))
    except Refused as refused:
        return f"refused: {refused}"
    if document is None:
        return "not well-formed XML"
    if document.kind != "urlset":
        return f"<{document.kind}> is not followed (only an index's own <urlset> children are)"
    entries.extend(_entries(document.root))
    return None


def _stamp(value: Any) -> float | None:
    return float(calendar.timegm(value)) if value else None


def _seconds(entry: dict[str, Any]) -> float | None:
    return _stamp(entry.get("published_parsed"))
