"""A listing page read with CSS selectors (``type: html``), for sites that publish no feed.

feeds.yaml gives the selectors::

    - url: https://www.cbn.gov.ng/Out/Circulars.html
      type: html
      items: "table.circulars tr"      # each story on the page
      title: "td.title"                # within an item: its text is the title
      link: "a"                        # within an item: its href (else the first a[href] in it)
      date: "td.date"                  # optional: a datetime or content attribute, else text
      summary: "td.summary"            # optional: its text

Selectors are CSS, compiled by lxml's cssselect (a maintained engine, the one parsel uses),
and checked when feeds.yaml is read, so a broken selector is a line-numbered error there.
``items`` that matches nothing is the source's error ("items: matched nothing"): a site whose
markup changed must show as broken, not as healthy and quiet. So is a page where no item
has both a title and a link. Items past the entry limit are counted, not read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urljoin

import lxml.etree
import lxml.html
from lxml.cssselect import CSSSelector, SelectorError

from monitor.feeds.fetcher import FetchResult
from monitor.feeds.parser import ParsedFeed
from monitor.feeds.sources.context import SourceContext
from monitor.feeds.sources.dates import struct_time_of

__all__ = ["SELECTOR_KEYS", "compile_selector", "read"]

#: The keys of ``type: html``, required first.
SELECTOR_KEYS = ("items", "title", "link", "date", "summary")
REQUIRED_KEYS = ("items", "title", "link")


def compile_selector(selector: str) -> CSSSelector:
    """*selector* compiled, or ValueError saying what is wrong with it."""
    try:
        return CSSSelector(selector)
    except SelectorError as exc:
        raise ValueError(f"not a CSS selector: {selector!r} ({exc})") from None


def read(result: FetchResult, context: SourceContext) -> ParsedFeed:
    options = context.options
    try:
        selectors = {
            key: compile_selector(str(options[key])) for key in SELECTOR_KEYS if options.get(key)
        }
    except ValueError as exc:
        return ParsedFeed(entries=[], is_feed=False, problem=str(exc))
    missing = [key for key in REQUIRED_KEYS if key not in selectors]
    if missing:
        return ParsedFeed(entries=[], is_feed=False, problem=f"{missing[0]}: no selector given")
    root = _page(result.body, result.headers)
    if root is None:
        return ParsedFeed(entries=[], is_feed=False, problem="items: the page is empty")
    items = selectors["items"](root)
    if not items:
        return ParsedFeed(
            entries=[],
            is_feed=False,
            problem=f"items: matched nothing ({options['items']!r}); has the page changed?",
        )
    limit = context.limits.max_entries
    entries: list[dict[str, Any]] = []
    incomplete = 0
    for item in items[:limit]:
        entry = _entry(item, selectors, base=result.url)
        if entry is None:
            incomplete += 1
        else:
            entries.append(entry)
    if not entries:
        return ParsedFeed(
            entries=[],
            is_feed=False,
            problem=(
                f"title/link: none of the {len(items[:limit])} items has both a title "
                f"({options['title']!r}) and a link ({options['link']!r})"
            ),
        )
    notes = []
    if incomplete:
        notes.append(f"{incomplete} of {len(items[:limit])} items had no title or no link")
    left_out = max(len(items) - limit, 0)
    if left_out:
        notes.append(f"{left_out:,} items left out: a poll reads at most {limit:,}")
    title = root.findtext(".//title") or ""
    return ParsedFeed(
        entries=entries,
        title=" ".join(title.split()),
        site_url=result.url,
        language=_language(root),
        version="html",
        problem="; ".join(notes) or None,
        left_out=left_out,
    )


def _page(body: bytes, headers: Mapping[str, str]) -> Any:
    if not body.strip():
        return None
    charset = _charset(headers)
    parser = lxml.html.HTMLParser(encoding=charset, no_network=True, remove_comments=True)
    try:
        return lxml.html.document_fromstring(body, parser=parser)
    except (lxml.etree.ParserError, ValueError, LookupError):
        return None


def _charset(headers: Mapping[str, str]) -> str | None:
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    for part in content_type.split(";")[1:]:
        name, _, value = part.strip().partition("=")
        if name.lower() == "charset" and value.strip("\"' "):
            return value.strip("\"' ")
    # Without one, lxml reads the page's own <meta charset>.
    return None


def _entry(item: Any, selectors: Mapping[str, CSSSelector], *, base: str) -> dict[str, Any] | None:
    title_node = _first(item, selectors["title"])
    link_node = _first(item, selectors["link"])
    title = _text(title_node)
    href = _href(link_node) if link_node is not None else None
    link = urljoin(base, href) if href else ""
    # A javascript: or mailto: link is not a story: the item counts as one without a link.
    if not title or not link.lower().startswith(("http://", "https://")):
        return None
    entry: dict[str, Any] = {"title": title, "link": link}
    if "date" in selectors:
        date_node = _first(item, selectors["date"])
        if date_node is not None:
            stamp = date_node.get("datetime") or date_node.get("content") or _text(date_node)
            entry["published_parsed"] = struct_time_of(stamp)
    if "summary" in selectors:
        entry["summary"] = _text(_first(item, selectors["summary"]))
    return entry


def _first(item: Any, selector: CSSSelector) -> Any:
    found = selector(item)
    return found[0] if found else None


def _text(node: Any) -> str:
    # Plain text only: normalisation cleans it again, as it does a feed's.
    return " ".join(node.text_content().split()) if node is not None else ""


def _href(node: Any) -> str | None:
    href = node.get("href")
    if not href:
        inner = node.xpath(".//a[@href]")
        href = inner[0].get("href") if inner else None
    return href.strip() if href and href.strip() else None


def _language(root: Any) -> str | None:
    value = root.get("lang") or root.get("{http://www.w3.org/XML/1998/namespace}lang") or ""
    return str(value).strip().replace("_", "-")[:35] or None
