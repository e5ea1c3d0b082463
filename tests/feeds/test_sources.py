"""Sources beyond RSS polled against a real site on loopback: listing pages read with CSS
selectors, news sitemaps and sitemap indexes, and GDELT's ArtList JSON."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor import db as storage
from monitor.config import Settings
from monitor.feeds import poll_feed
from monitor.feeds.sources import gdelt
from monitor.models import Article, ArticleFeed, Feed
from tests.conftest import make_settings
from tests.feeds.conftest import NOW, add_feed
from tests.feeds.sourcesite import OLD_SITEMAPS, serve_site
from tests.support.feedserver import FeedServer

CIRCULARS = {
    "items": "ul.circular-list li.circular",
    "title": "h3.circular-title",
    "link": "a.download",
    "date": "time",
    "summary": "p.summary",
}


@pytest.fixture
def site(server: FeedServer) -> FeedServer:
    serve_site(server)
    return server


@pytest.fixture
def source_settings(tmp_path: Path) -> Settings:
    settings = make_settings(tmp_path, gdelt_min_gap=0.0)
    storage.upgrade(settings)
    return settings


@pytest.fixture
def db(source_settings: Settings) -> Iterator[Session]:
    with storage.sessionmaker_for(source_settings)() as session:
        yield session


def articles_of(db: Session, feed: Feed) -> list[Article]:
    query = (
        select(Article)
        .join(ArticleFeed, ArticleFeed.article_id == Article.id)
        .where(ArticleFeed.feed_id == feed.id)
        .order_by(Article.id)
    )
    return list(db.scalars(query, execution_options={"populate_existing": True}))


def reload(db: Session, feed: Feed) -> Feed:
    return db.get_one(Feed, feed.id, populate_existing=True)


def html_source(db: Session, url: str, **options: Any) -> Feed:
    return add_feed(db, url, kind="html", source={**CIRCULARS, **options})


# -- type: html ---------------------------------------------------------------------------


def test_it_reads_each_item_of_a_listing_page_as_an_article(
    site: FeedServer, db: Session, source_settings: Settings
) -> None:
    feed = html_source(db, site.url("/out/circulars.html"))

    outcome = poll_feed(db, feed.id, settings=source_settings, now=NOW)

    assert outcome.outcome == "new" and len(outcome.new_article_ids) == 3, outcome
    articles = articles_of(db, feed)
    assert [a.title for a in articles] == [
        "Revised Guidelines for the Operations of Bureau de Change in Testland",
        "Cash Withdrawal Limits: Clarification",
        "Exposure Draft: Framework for Open Banking",
    ]
    # Relative links resolved against the page; dates from datetime attributes, else text.
    assert articles[0].url == site.url("/out/2026/circulars/TED-FEM-014.html")
    assert [a.published_at.isoformat() for a in articles if a.published_at] == [
        "2026-03-02T08:30:00+00:00",
        "2026-02-27T00:00:00+00:00",
        "2026-02-20T00:00:00+00:00",
    ]
    assert articles[0].summary.startswith("All BDC operators are to recapitalise")
    assert articles[2].summary == ""
    # Each item's page is fetched for its main text: the story, not the 'more like this' box.
    assert "may be sold at the parallel market only by licensed" in articles[0].content
    assert all("Boko Haram" not in a.content for a in articles)
    feed = reload(db, feed)
    assert (feed.last_error, feed.error_streak, feed.kind) == (None, 0, "html")
    assert feed.language == "en" and feed.title == "Circulars | Central Bank of Testland"


def test_it_marks_a_page_whose_markup_changed_as_erroring_not_empty(
    site: FeedServer, db: Session, source_settings: Settings
) -> None:
    feed = html_source(db, site.url("/out/circulars-v2.html"))

    outcome = poll_feed(db, feed.id, settings=source_settings, now=NOW)

    assert outcome.outcome == "error"
    assert outcome.error is not None and outcome.error.startswith("items: matched nothing")
    feed = reload(db, feed)
    assert feed.error_streak == 1 and feed.last_success_at is None
    assert feed.last_error is not None and "items: matched nothing" in feed.last_error
    assert feed.next_poll_at is not None and feed.next_poll_at > NOW
    assert articles_of(db, feed) == []


def test_it_says_when_no_item_has_both_a_title_and_a_link(
    site: FeedServer, db: Session, source_settings: Settings
) -> None:
    feed = html_source(db, site.url("/out/circulars.html"), link="a.no-such-link")

    outcome = poll_feed(db, feed.id, settings=source_settings, now=NOW)

    assert outcome.outcome == "error"
    assert outcome.error == (
        "title/link: none of the 3 items has both a title ('h3.circular-title') "
        "and a link ('a.no-such-link')"
    )


def test_it_asks_a_listing_page_with_its_validators_and_fetches_nothing_more_on_304(
    site: FeedServer, db: Session, source_settings: Settings
) -> None:
    feed = html_source(db, site.url("/out/circulars.html"))
    poll_feed(db, feed.id, settings=source_settings, now=NOW)
    site.reset_counts()

    outcome = poll_feed(db, feed.id, settings=source_settings, now=NOW)

    assert outcome.outcome == "unchanged" and outcome.http_status == 304
    assert site.last_headers("/out/circulars.html")["if-none-match"] == '"c1"'
    assert site.count("/out/2026/circulars/TED-FEM-014.html") == 0


def test_it_refuses_a_listing_page_on_a_private_address(
    site: FeedServer, db: Session, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, allow_private_feeds=False)
    feed = html_source(db, site.url("/out/circulars.html"))

    outcome = poll_feed(db, feed.id, settings=settings, now=NOW)

    assert outcome.outcome == "error" and "private address" in (outcome.error or "")
    assert site.count("/out/circulars.html") == 0


# -- type: sitemap ------------------------------------------------------------------------


def test_it_reads_a_news_sitemap_with_its_titles_dates_and_languages(
    site: FeedServer, db: Session, source_settings: Settings
) -> None:
    feed = add_feed(db, site.url("/news-sitemap.xml"), kind="sitemap")

    outcome = poll_feed(db, feed.id, settings=source_settings, now=NOW)

    assert outcome.outcome == "new" and len(outcome.new_article_ids) == 3, outcome
    by_title = {a.title: a for a in articles_of(db, feed)}
    naira = by_title["Naira firms at the parallel market as CBN sells dollars to BDCs"]
    assert naira.url == site.url("/2026/03/02/naira-firms-at-parallel-market/")
    assert naira.published_at is not None
    assert naira.published_at.isoformat() == "2026-03-02T07:15:00+00:00"
    assert naira.language == "en" and naira.author == "The Lagos Ledger"
    assert by_title["Farashin naira ya tashi a kasuwar bayan fage"].language == "ha"
    # The sitemap gives no text: each story's page is fetched for it.
    assert "sold dollars to licensed Bureau de Change operators" in naira.content
    assert reload(db, feed).last_error is None


def test_it_fetches_only_the_pages_of_urls_it_has_not_seen(
    site: FeedServer, db: Session, source_settings: Settings
) -> None:
    feed = add_feed(db, site.url("/news-sitemap.xml"), kind="sitemap")
    poll_feed(db, feed.id, settings=source_settings, now=NOW)
    assert site.count("/2026/03/02/senate-passes-budget/") == 1
    # The sitemap grows by one story (and its server sends no validators).
    added = """<url><loc>{base}/2026/03/01/bdc-operators-recapitalise/</loc>
      <news:news><news:publication><news:name>The Lagos Ledger</news:name>
      <news:language>en</news:language></news:publication>
      <news:publication_date>2026-03-02T11:00:00Z</news:publication_date>
      <news:title>BDC operators given six months to recapitalise</news:title></news:news></url>
    </urlset>""".replace("{base}", site.base_url)
    body = site.routes["/news-sitemap.xml"].body.decode().replace("</urlset>", added)
    site.set("/news-sitemap.xml", body, content_type="application/xml")

    outcome = poll_feed(db, feed.id, settings=source_settings, now=NOW)

    assert len(outcome.new_article_ids) == 1
    assert site.count("/2026/03/01/bdc-operators-recapitalise/") == 1
    assert site.count("/2026/03/02/senate-passes-budget/") == 1
    assert site.count("/2026/03/02/naira-firms-at-parallel-market/") == 1


def test_it_follows_a_sitemap_index_to_its_newest_children_only(
    site: FeedServer, db: Session, source_settings: Settings
) -> None:
    feed = add_feed(db, site.url("/sitemap_index.xml"), kind="sitemap")

    outcome = poll_feed(db, feed.id, settings=source_settings, now=NOW)

    assert outcome.outcome == "new" and len(outcome.new_article_ids) == 2, outcome
    for newest in ("2026-03", "2026-02", "2026-01"):
        assert site.count(f"/sitemaps/posts-{newest}.xml") == 1
    assert [site.count(path) for path in [*OLD_SITEMAPS, "/sitemaps/pages.xml"]] == [0] * 13
    # A plain sitemap names no title: the story's page gives it.
    titles = sorted(a.title for a in articles_of(db, feed))
    assert titles == [
        "BDC operators given six months to recapitalise",
        "Naira firms at the parallel market as CBN sells dollars to BDCs",
    ]


def test_it_reads_an_index_afresh_each_poll_as_its_newest_child_grows(
    site: FeedServer, db: Session, source_settings: Settings
) -> None:
    index = site.routes["/sitemap_index.xml"].body
    site.set("/sitemap_index.xml", index, content_type="application/xml", etag='"i1"')
    feed = add_feed(db, site.url("/sitemap_index.xml"), kind="sitemap")
    poll_feed(db, feed.id, settings=source_settings, now=NOW)
    child = site.routes["/sitemaps/posts-2026-03.xml"].body.decode()
    grown = child.replace(
        "</urlset>",
        f"<url><loc>{site.url('/out/2026/circulars/PSM-009.html')}</loc></url></urlset>",
    )
    site.set("/sitemaps/posts-2026-03.xml", grown, content_type="application/xml")

    outcome = poll_feed(db, feed.id, settings=source_settings, now=NOW)

    assert "if-none-match" not in site.last_headers("/sitemap_index.xml")
    assert len(outcome.new_article_ids) == 1
    assert site.count("/out/2026/circulars/PSM-009.html") == 1


def test_it_reads_the_children_it_can_and_says_which_failed(
    site: FeedServer, db: Session, source_settings: Settings
) -> None:
    site.set("/sitemaps/posts-2026-02.xml", b"gone", status=404, content_type="text/plain")
    feed = add_feed(db, site.url("/sitemap_index.xml"), kind="sitemap")

    outcome = poll_feed(db, feed.id, settings=source_settings, now=NOW)

    assert len(outcome.new_article_ids) == 2
    assert reload(db, feed).last_error == site.url("/sitemaps/posts-2026-02.xml") + ": HTTP 404"


def test_it_holds_child_sitemaps_to_the_size_cap(
    site: FeedServer, db: Session, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, fetch_max_bytes=2048)
    big = b'<?xml version="1.0"?><urlset>' + b"<url><loc>x</loc></url>" * 200 + b"</urlset>"
    site.set("/sitemaps/posts-2026-03.xml", big, content_type="application/xml")
    child = site.url("/sitemaps/posts-2026-03.xml")
    index = (
        '<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"<sitemap><loc>{child}</loc></sitemap></sitemapindex>"
    ).encode()
    site.set("/small-index.xml", index, content_type="application/xml")
    feed = add_feed(db, site.url("/small-index.xml"), kind="sitemap")

    outcome = poll_feed(db, feed.id, settings=settings, now=NOW)

    assert outcome.outcome == "error"
    assert outcome.error == f"{child}: body larger than 2048 bytes (Content-Length {len(big)})"


def test_it_says_a_page_is_not_a_sitemap(
    site: FeedServer, db: Session, source_settings: Settings
) -> None:
    feed = add_feed(db, site.url("/"), kind="sitemap")

    outcome = poll_feed(db, feed.id, settings=source_settings, now=NOW)

    assert outcome.outcome == "error"
    assert outcome.error == "not a sitemap: not well-formed XML"


# -- type: gdelt --------------------------------------------------------------------------


def gdelt_source(db: Session, server: FeedServer, query: str = "naira") -> Feed:
    url = gdelt.request_url(query, server.url("/api/v2/doc/doc"))
    return add_feed(db, url, kind="gdelt", source={"query": query})


def test_it_reads_gdelt_artlist_keeping_each_outlets_country_and_language(
    site: FeedServer, db: Session, source_settings: Settings
) -> None:
    feed = gdelt_source(db, site, 'naira "parallel market"')

    outcome = poll_feed(db, feed.id, settings=source_settings, now=NOW)

    assert outcome.outcome == "new" and len(outcome.new_article_ids) == 3
    request = site.last_headers("/api/v2/doc/doc")
    assert request["accept"].startswith("application/rss+xml")
    rows = [(a.title, a.language, a.source_country) for a in articles_of(db, feed)]
    assert rows == [
        ("Naira closes weaker at the parallel market in Lagos", "en", "Nigeria"),
        ("Darajar naira ta fadi a kasuwar bayan fage", "ha", "United Kingdom"),
        ("円相場、1ドル=150円台で推移", "ja", "Japan"),
    ]
    first = articles_of(db, feed)[0]
    assert first.published_at is not None
    assert first.published_at.isoformat() == "2026-03-02T08:15:00+00:00"
    # GDELT gives no text; without fulltext: true no page is fetched.
    assert site.count("/gdelt/premium-naira") == 0


def test_it_shows_gdelts_refusal_as_the_sources_error(
    site: FeedServer, db: Session, source_settings: Settings
) -> None:
    site.set(
        "/api/v2/doc/doc",
        b"Please limit requests to one every 5 seconds or contact kalev.leetaru5@gmail.com.\n",
        content_type="text/html",
    )
    feed = gdelt_source(db, site)

    outcome = poll_feed(db, feed.id, settings=source_settings, now=NOW)

    assert outcome.outcome == "error"
    assert outcome.error == (
        "GDELT answered: Please limit requests to one every 5 seconds or contact "
        "kalev.leetaru5@gmail.com."
    )
    assert reload(db, feed).error_streak == 1


def test_it_counts_an_empty_gdelt_answer_as_healthy(
    site: FeedServer, db: Session, source_settings: Settings
) -> None:
    site.set("/api/v2/doc/doc", b"{}", content_type="application/json")
    feed = gdelt_source(db, site)

    outcome = poll_feed(db, feed.id, settings=source_settings, now=NOW)

    assert (outcome.outcome, outcome.error) == ("unchanged", None)
    assert reload(db, feed).error_streak == 0


def test_it_spaces_requests_to_gdelt_by_the_minimum_gap(
    site: FeedServer, db: Session, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, gdelt_min_gap=0.4)
    feeds = [gdelt_source(db, site, query) for query in ("naira", "cedi", "rand")]

    for feed in feeds:
        assert poll_feed(db, feed.id, settings=settings, now=NOW).outcome in ("new", "unchanged")

    times = site.request_times["/api/v2/doc/doc"]
    assert len(times) == 3
    # Each request starts at least 0.4 s after the one before it ended.
    assert min(b - a for a, b in pairwise(times)) >= 0.4
