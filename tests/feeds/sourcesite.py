"""A news site without a usable feed, served on loopback: listing pages, sitemaps, GDELT.

:func:`serve_site` scripts a :class:`FeedServer` with the documents of ``testdata/sources``
(a homepage with navigation, a 'more like this' aside and ``<link rel=alternate>``; a
central bank's circulars page, and the same page after a redesign; a Google News sitemap and
a monthly sitemap index; GDELT's ArtList JSON) and a story page for every link they give.
"""

from __future__ import annotations

from pathlib import Path

from tests.feeds.conftest import rss
from tests.support.feedserver import FeedServer

DATA = Path(__file__).parent / "testdata" / "sources"
HTML = "text/html; charset=utf-8"
XML = "application/xml; charset=utf-8"

#: Story pages: path -> (title, first paragraph). Every story is about the naira.
STORIES = {
    "/2026/03/02/naira-firms-at-parallel-market/": (
        "Naira firms at the parallel market as CBN sells dollars to BDCs",
        "The naira gained at the parallel market in Lagos on Monday after the central bank "
        "sold dollars to licensed Bureau de Change operators.",
    ),
    "/2026/03/02/senate-passes-budget/": (
        "Senate passes 2026 budget after a late-night sitting",
        "The budget assumes a naira exchange rate of N1,400 to the dollar.",
    ),
    "/ha/2026/03/01/farashin-naira/": (
        "Farashin naira ya tashi a kasuwar bayan fage",
        "Darajar naira ta karu a kasuwar bayan fage a Kano ranar Lahadi.",
    ),
    "/2026/03/01/bdc-operators-recapitalise/": (
        "BDC operators given six months to recapitalise",
        "Operators who trade the naira must raise new capital within six months.",
    ),
    "/out/2026/circulars/TED-FEM-014.html": (
        "Revised Guidelines for the Operations of Bureau de Change",
        "Further to its circular of January, the Bank has revised the guidelines: the naira "
        "may be sold at the parallel market only by licensed operators.",
    ),
    "/out/2026/circulars/BSD-DIR-002.html": (
        "Cash Withdrawal Limits: Clarification",
        "The weekly limits on naira cash withdrawals apply to individuals and companies.",
    ),
    "/out/2026/circulars/PSM-009.html": (
        "Exposure Draft: Framework for Open Banking",
        "The Bank invites comments on a framework for open banking, payable in naira.",
    ),
    "/gdelt/premium-naira": (
        "Naira closes weaker at the parallel market in Lagos",
        "The naira closed weaker at the parallel market in Lagos on Monday.",
    ),
}
#: Child sitemaps of the index that are old: a poll must never fetch them.
OLD_SITEMAPS = [f"/sitemaps/posts-2025-{month:02d}.xml" for month in range(1, 13)]


def document(name: str, base: str) -> bytes:
    return (DATA / name).read_text(encoding="utf-8").replace("{base}", base).encode()


def story_page(path: str, base: str) -> bytes:
    title, body = STORIES[path]
    page = (DATA / "article.html").read_text(encoding="utf-8")
    return (
        page.replace("{title}", title)
        .replace("{body}", body)
        .replace("{url}", base + path)
        .encode()
    )


def serve_site(server: FeedServer) -> None:
    """Script *server* with the whole site."""
    base = server.base_url
    server.set("/", document("homepage.html", base), content_type=HTML)
    server.set("/feed/", rss(("a", "Naira firms at the parallel market"), title="The Lagos Ledger"))
    server.set("/comments/feed/", rss(("c", "Comment"), title="Comments"))
    server.set(
        "/out/circulars.html", document("circulars.html", base), content_type=HTML, etag='"c1"'
    )
    server.set(
        "/out/circulars-v2.html", document("circulars-redesigned.html", base), content_type=HTML
    )
    server.set("/news-sitemap.xml", document("news-sitemap.xml", base), content_type=XML)
    server.set("/sitemap_index.xml", document("sitemap-index.xml", base), content_type=XML)
    server.set("/sitemaps/posts-2026-03.xml", document("posts-2026-03.xml", base), content_type=XML)
    for month in ("2026-02", "2026-01"):
        server.set(
            f"/sitemaps/posts-{month}.xml",
            b'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"/>',
            content_type=XML,
        )
    server.set(
        "/api/v2/doc/doc", document("gdelt-artlist.json", base), content_type="application/json"
    )
    for path in STORIES:
        server.set(path, story_page(path, base), content_type=HTML)
