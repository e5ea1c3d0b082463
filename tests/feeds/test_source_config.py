"""feeds.yaml's source types: their keys, the errors with file and line, and the feeds table."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.config import Settings
from monitor.errors import ConfigError
from monitor.feeds import sync_feeds
from monitor.feeds.config import load_feeds_file, save_feeds_file
from monitor.feeds.sources import gdelt
from monitor.models import Feed

SOURCES = """\
feeds:
  - url: https://www.cbt.example/out/circulars.html
    name: CBT circulars
    type: html
    items: "ul.circular-list li.circular"
    title: h3
    link: a.download
    date: time
  - url: https://www.ledger.example/news-sitemap.xml
    type: sitemap
  - type: gdelt
    name: GDELT naira
    query: 'naira "parallel market"'
  - type: gdelt
    query: cedi
    url: https://gdelt-mirror.example/api/v2/doc/doc?timespan=1d
  - https://www.ledger.example/feed/
"""


def test_it_stores_each_sources_type_and_options(session: Session, settings: Settings) -> None:
    Path(settings.feeds).write_text(SOURCES, encoding="utf-8")

    sync_feeds(session, settings, force=True)

    rows = {f.url: (f.kind, f.source) for f in session.scalars(select(Feed))}
    assert rows == {
        "https://www.cbt.example/out/circulars.html": (
            "html",
            {
                "items": "ul.circular-list li.circular",
                "title": "h3",
                "link": "a.download",
                "date": "time",
            },
        ),
        "https://www.ledger.example/news-sitemap.xml": ("sitemap", None),
        gdelt.request_url('naira "parallel market"'): (
            "gdelt",
            {"query": 'naira "parallel market"'},
        ),
        "https://gdelt-mirror.example/api/v2/doc/doc?query=cedi&mode=ArtList&format=json"
        "&timespan=1d&maxrecords=75&sort=DateDesc": ("gdelt", {"query": "cedi"}),
        "https://www.ledger.example/feed/": ("feed", None),
    }


def test_it_writes_the_keys_of_each_type_back_as_they_were_given(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text(SOURCES, encoding="utf-8")
    specs = load_feeds_file(path).specs

    save_feeds_file(path, specs)

    assert load_feeds_file(path).specs == specs
    written = path.read_text(encoding="utf-8")
    assert "api.gdeltproject.org" not in written
    assert "url: 'https://gdelt-mirror.example/api/v2/doc/doc?timespan=1d'" in written


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            "  - url: https://a.example/\n    type: html\n    title: h2\n",
            ":3: type html needs 'items', 'link'",
        ),
        (
            "  - url: https://a.example/\n    type: html\n    items: 'li['\n"
            "    title: h2\n    link: a\n",
            ":4: items: not a CSS selector: 'li['",
        ),
        ("  - url: https://a.example/\n    title: h2\n", ":2: 'title' does not apply to type feed"),
        (
            "  - url: https://a.example/\n    type: sitemap\n    query: x\n",
            ":3: 'query' does not apply to type sitemap",
        ),
        ("  - type: gdelt\n    name: no query\n", ":2: type gdelt needs 'query'"),
        (
            "  - type: gdelt\n    query: x\n    items: li\n",
            ":2: 'items' does not apply to type gdelt",
        ),
        (
            "  - url: https://a.example/\n    type: rss-bridge\n",
            ":3: type: Input should be 'feed', 'html', 'sitemap' or 'gdelt'",
        ),
        (
            "  - type: gdelt\n    query: x\n  - type: gdelt\n    query: x\n",
            ":4: duplicate feed https://api.gdeltproject.org/",
        ),
    ],
    ids=[
        "html-without-items-and-link",
        "bad-selector",
        "selector-on-a-feed",
        "query-on-a-sitemap",
        "gdelt-without-query",
        "selector-on-gdelt",
        "unknown-type",
        "same-gdelt-query-twice",
    ],
)
def test_it_names_file_and_line_of_a_broken_source(
    tmp_path: Path, entry: str, message: str
) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text("feeds:\n" + entry, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_feeds_file(path)
    assert str(caught.value).startswith(f"{path}{message}")
    assert "\n" not in str(caught.value)
