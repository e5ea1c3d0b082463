"""Finding a site's feed from one of its pages, for ``monitor feeds add https://site/``.

Given a URL, :func:`discover` fetches it (under the fetcher's rules: private-address guard,
deadline, size cap, the host's slot). A feed is kept as it is. An HTML page is searched for
the feeds it announces, in document order: ``<link rel="alternate">`` with an RSS, Atom,
RDF or JSON Feed type (:func:`announced_feeds`, pure). A page that announces none is tried
at the usual paths (:data:`USUAL_PATHS`: WordPress's ``/feed/``, ``/rss.xml``, ``/atom.xml``,
Blogger's, Hugo's ``/index.xml``). Each candidate is fetched and kept only if it reads as a
feed, so a stale ``<link>`` is passed over; at most :data:`MAX_CANDIDATES` are tried.

The result says which feed was chosen and how, and lists every feed the page announced, so
a person adding a site with a comments feed, or a feed per section, can pick another. For a
site with no feed at all, it gives the sitemaps the site's ``robots.txt`` names
(``Sitemap:`` lines), which ``type: sitemap`` can read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import lxml.etree
import lxml.html

from monitor.config import Settings
from monitor.feeds.fetcher import FetchError, FetchResult, fetch
from monitor.feeds.hostlimit import HostBusy, host_slot
from monitor.feeds.parser import parse_feed

__all__ = [
    "MAX_CANDIDATES",
    "USUAL_PATHS",
    "Discovery",
    "FoundFeed",
    "announced_feeds",
    "discover",
    "robots_sitemaps",
]

FEED_TYPES = frozenset(
    {
        "application/rss+xml",
        "application/atom+xml",
        "application/rdf+xml",
        "application/feed+json",
        "application/json",
    }
)
USUAL_PATHS = (
    "/feed/",
    "/rss/",
    "/rss.xml",
    "/feed.xml",
    "/atom.xml",
    "/index.xml",
    "/feeds/posts/default",
)
MAX_CANDIDATES = 10


@dataclass(frozen=True, slots=True)
class FoundFeed:
    url: str
    title: str = ""
    type: str = ""


@dataclass(slots=True)
class Discovery:
    """What :func:`discover` found: the URL to store (None when no feed was found), how it was
    chosen, and the feeds the page announced."""

    url: str | None
    how: str
    announced: list[FoundFeed] = field(default_factory=list)
    # When no feed was found: the sitemaps robots.txt names.
    sitemaps: list[str] = field(default_factory=list)


def announced_feeds(body: bytes, *, base: str) -> list[FoundFeed]:
    """The feeds an HTML page announces with ``<link rel="alternate" type=...>``, in order,
    their URLs made absolute against *base* (or the page's ``<base href>``)."""
    if not body.strip():
        return []
    try:
        root = lxml.html.document_fromstring(body, parser=lxml.html.HTMLParser(no_network=True))
    except (lxml.etree.ParserError, ValueError):
        return []
    base_href = root.xpath("string(//base/@href)")
    base = urljoin(base, str(base_href).strip()) if base_href else base
    found: list[FoundFeed] = []
    seen: set[str] = set()
    for link in root.iter("link"):
        rel = (link.get("rel") or "").lower().split()
        kind = (link.get("type") or "").split(";")[0].strip().lower()
        href = (link.get("href") or "").strip()
        if "alternate" not in rel or kind not in FEED_TYPES or not href:
            continue
        url = urljoin(base, href)
        if url.startswith(("http://", "https://")) and url not in seen:
            seen.add(url)
            found.append(FoundFeed(url, " ".join((link.get("title") or "").split()), kind))
    return found


def discover(url: str, *, settings: Settings) -> Discovery:
    """The feed to store for *url*; FetchError when *url* itself cannot be fetched."""
    page = _get(url, settings)
    if page.status != 200:
        raise FetchError(f"HTTP {page.status}", status=page.status)
    if parse_feed(page.body, headers=page.headers).is_feed:
        return Discovery(page.url, "it is a feed")
    announced = announced_feeds(page.body, base=page.url)
    for candidate in announced[:MAX_CANDIDATES]:
        if _is_feed(candidate.url, settings):
            return Discovery(candidate.url, 'the page\'s <link rel="alternate">', announced)
    for path in USUAL_PATHS:
        candidate_url = urljoin(page.url, path)
        if _is_feed(candidate_url, settings):
            return Discovery(candidate_url, f"the usual path {path}", announced)
    sitemaps = _robots_sitemaps(urljoin(page.url, "/robots.txt"), settings)
    return Discovery(None, "no feed announced or at the usual paths", announced, sitemaps)


def robots_sitemaps(text: str) -> list[str]:
    """The http(s) URLs of the ``Sitemap:`` lines of a robots.txt, in order, once each."""
    found: list[str] = []
    for line in text.splitlines():
        name, _, value = line.partition(":")
        url = value.split("#", 1)[0].strip()
        wanted = name.strip().lower() == "sitemap" and url.startswith(("http://", "https://"))
        if wanted and url not in found:
            found.append(url)
    return found[:MAX_CANDIDATES]


def _robots_sitemaps(url: str, settings: Settings) -> list[str]:
    try:
        result = _get(url, settings)
    except FetchError:
        return []
    if result.status != 200:
        return []
    return robots_sitemaps(result.body.decode("utf-8", "replace"))


def _get(url: str, settings: Settings) -> FetchResult:
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        raise FetchError(f"not a valid URL: {url!r}") from None
    try:
        with host_slot(host, settings=settings):
            return fetch(url, settings=settings)
    except HostBusy as exc:
        raise FetchError(str(exc)) from None


def _is_feed(url: str, settings: Settings) -> bool:
    try:
        result = _get(url, settings)
    except FetchError:
        return False
    return result.status == 200 and parse_feed(result.body, headers=result.headers).is_feed
