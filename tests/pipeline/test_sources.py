"""Every source type, polled in one cycle with feeds: stories become articles and hits, a
story carried by two sources is one article, and a broken source shows as an error while
the others go on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from monitor import db as storage
from monitor.dashboard.app import create_app
from monitor.feeds.sources import gdelt
from monitor.models import Article, ArticleFeed, Feed, Hit
from monitor.pipeline import run_once
from tests.conftest import make_settings
from tests.feeds.sourcesite import serve_site
from tests.support.feedserver import FeedServer


@pytest.fixture
def site() -> Iterator[FeedServer]:
    with FeedServer() as server:
        serve_site(server)
        yield server


def configure(tmp_path: Path, site: FeedServer) -> None:
    feeds = [
        {"url": site.url("/feed/"), "name": "Ledger RSS"},
        {
            "url": site.url("/out/circulars.html"),
            "name": "CBT circulars",
            "type": "html",
            "items": "ul.circular-list li.circular",
            "title": "h3.circular-title",
            "link": "a.download",
            "date": "time",
            "summary": "p.summary",
        },
        {
            "url": site.url("/out/circulars-v2.html"),
            "name": "CBT circulars (redesigned)",
            "type": "html",
            "items": "ul.circular-list li.circular",
            "title": "h3.circular-title",
            "link": "a.download",
        },
        {"url": site.url("/news-sitemap.xml"), "name": "Ledger news sitemap", "type": "sitemap"},
        {"url": site.url("/sitemap_index.xml"), "name": "Ledger sitemaps", "type": "sitemap"},
        {
            "type": "gdelt",
            "name": "GDELT naira",
            "query": 'naira "parallel market"',
            "url": site.url("/api/v2/doc/doc"),
        },
    ]
    (tmp_path / "feeds.yaml").write_text(yaml.safe_dump({"feeds": feeds}), encoding="utf-8")
    watchlists = tmp_path / "watchlists"
    watchlists.mkdir()
    (watchlists / "naira.yaml").write_text(
        yaml.safe_dump(
            {
                "id": "naira",
                "query": 'naira AND ("parallel market" OR "bayan fage" OR BDC OR '
                '"Bureau de Change")',
                "alerts": [{"console": True}],
            }
        ),
        encoding="utf-8",
    )
    # Only the 'more like this' boxes of the pages mention Boko Haram: no hit may come of them.
    (watchlists / "boko-haram.yaml").write_text(
        yaml.safe_dump(
            {"id": "boko-haram", "query": '"Boko Haram"', "alerts": [{"console": True}]}
        ),
        encoding="utf-8",
    )


def test_it_turns_every_source_types_stories_into_hits_and_isolates_the_broken_one(
    tmp_path: Path, site: FeedServer, database_url: str
) -> None:
    configure(tmp_path, site)
    settings = make_settings(tmp_path, database_url=database_url, gdelt_min_gap=0.0)

    summary = run_once(settings)

    assert (summary.feeds_due, summary.feeds_polled, summary.feeds_failed) == (6, 5, 1)
    assert summary.errors == [
        "feed CBT circulars (redesigned): items: matched nothing "
        "('ul.circular-list li.circular'); has the page changed?"
    ]
    with storage.session_scope(settings) as session:
        hits = session.execute(
            select(Feed.kind, Feed.name, Article.title)
            .select_from(Hit)
            .join(Article, Article.id == Hit.article_id)
            .join(Feed, Feed.id == Article.source_feed_id)
            .where(Hit.watchlist_id == "naira")
        ).all()
        by_kind: dict[str, set[str]] = {}
        for kind, _name, title in hits:
            by_kind.setdefault(kind, set()).add(title)
        assert by_kind["html"] == {
            "Revised Guidelines for the Operations of Bureau de Change in Testland"
        }
        assert "Farashin naira ya tashi a kasuwar bayan fage" in by_kind["sitemap"]
        assert by_kind["gdelt"] == {
            "Naira closes weaker at the parallel market in Lagos",
            "Darajar naira ta fadi a kasuwar bayan fage",
        }
        assert (
            session.scalar(select(func.count(Hit.id)).where(Hit.watchlist_id == "boko-haram")) == 0
        )

        # The news sitemap and the index both list one story: one article, seen in both.
        story = site.url("/2026/03/02/naira-firms-at-parallel-market/")
        article_ids = session.scalars(select(Article.id).where(Article.url == story)).all()
        assert len(article_ids) == 1
        carried_by = session.scalars(
            select(Feed.kind).join(ArticleFeed).where(ArticleFeed.article_id == article_ids[0])
        ).all()
        assert sorted(carried_by) == ["sitemap", "sitemap"]
        assert site.count("/2026/03/02/naira-firms-at-parallel-market/") == 1

        broken = session.scalars(
            select(Feed).where(Feed.name == "CBT circulars (redesigned)")
        ).one()
        assert broken.error_streak == 1 and broken.kind == "html"
        assert broken.last_error is not None and broken.last_error.startswith(
            "items: matched nothing"
        )
        gdelt_feed = session.scalars(select(Feed).where(Feed.kind == "gdelt")).one()
        assert gdelt_feed.url == gdelt.request_url(
            'naira "parallel market"', site.url("/api/v2/doc/doc")
        )


def test_it_shows_the_country_and_language_gdelt_gives_on_the_hit(
    tmp_path: Path, site: FeedServer
) -> None:
    configure(tmp_path, site)
    settings = make_settings(tmp_path, gdelt_min_gap=0.0)
    storage.upgrade(settings)
    run_once(settings)
    with storage.session_scope(settings) as session:
        hit_id = session.scalars(
            select(Hit.id)
            .join(Article, Article.id == Hit.article_id)
            .where(Article.title == "Darajar naira ta fadi a kasuwar bayan fage")
        ).one()
    client = TestClient(create_app(settings))

    row = client.get(f"/api/hits/{hit_id}").json()
    page = client.get(f"/hits/{hit_id}").text

    assert (row["source"], row["source_country"], row["language"]) == (
        "GDELT naira",
        "United Kingdom",
        "ha",
    )
    assert "<dd>GDELT naira (United Kingdom)</dd>" in page
    # GDELT says Hausa; a headline this short is not enough for the detector to differ.
    assert "<dt>Language</dt><dd>ha" in page
