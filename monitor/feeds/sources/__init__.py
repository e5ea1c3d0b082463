"""Sources beyond RSS: each type turns its fetched document into the entries a feed yields.

A feed's ``type:`` in feeds.yaml (``feeds.kind``) says how its document is read. ``feed``
(RSS, Atom, JSON Feed) goes through :func:`monitor.feeds.parser.parse_feed`; every other type
has one module here with one function, ``read(result, context) -> ParsedFeed``, listed in
:data:`READERS`:

- :mod:`~monitor.feeds.sources.html`: a listing page read with CSS selectors;
- :mod:`~monitor.feeds.sources.sitemap`: a news sitemap, or a sitemap index;
- :mod:`~monitor.feeds.sources.gdelt`: the GDELT DOC 2.0 API in ArtList JSON mode.

A reader gives back a :class:`~monitor.feeds.parser.ParsedFeed` whose entries are mappings
with the keys feedparser gives an entry (``link``, ``title``, ``summary``,
``published_parsed``, ``title_detail.language``), so that normalisation, identity, storage,
de-duplication, clustering, matching and feed health are the very code feeds go through. A
source that cannot be read (a selector that matches nothing, a sitemap that is not one, an
error message instead of JSON) comes back with ``is_feed`` false and its ``problem``: the
poller records it as the source's error, never as a healthy source with nothing new.

Every request a reader makes beyond the first (a sitemap index's children) goes through
:attr:`SourceContext.fetch_more`, which the poller gives the same rules as its own fetch:
per-host limit, private-address guard, deadline and size cap.
"""

from __future__ import annotations

from collections.abc import Callable

from monitor.feeds.fetcher import FetchResult
from monitor.feeds.parser import ParsedFeed
from monitor.feeds.sources import gdelt, html, sitemap
from monitor.feeds.sources.context import SourceContext
from monitor.states import SourceKind

__all__ = ["READERS", "Reader", "SourceContext", "read_source", "reads_pages"]


Reader = Callable[[FetchResult, SourceContext], ParsedFeed]

#: One reader per source type other than ``feed``.
READERS: dict[SourceKind, Reader] = {
    SourceKind.HTML: html.read,
    SourceKind.SITEMAP: sitemap.read,
    SourceKind.GDELT: gdelt.read,
}


def read_source(kind: str, result: FetchResult, context: SourceContext) -> ParsedFeed:
    """The entries of *result*, read as a source of type *kind* (not ``feed``)."""
    try:
        reader = READERS[SourceKind(kind)]
    except (KeyError, ValueError):
        return ParsedFeed(entries=[], is_feed=False, problem=f"unknown source type {kind!r}")
    return reader(result, context)


def reads_pages(kind: str) -> bool:
    """Whether each new story's page is always fetched for its text: a listing page and a
    sitemap give a link and a title at most, so the story's text is on its own page."""
    return kind in (SourceKind.HTML, SourceKind.SITEMAP)
