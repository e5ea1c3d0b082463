"""Each source's type, where people look at sources: ``monitor feeds list`` (table and
JSON), ``/api/feeds`` and the dashboard's Feeds page."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from fastapi.testclient import TestClient

from monitor import db as storage
from monitor.cli.main import cli
from monitor.config import Settings
from monitor.dashboard.app import create_app
from monitor.feeds import sync_feeds
from tests.conftest import make_settings

FEEDS = """\
feeds:
  - url: https://www.ledger.example/feed/
    name: Ledger
  - url: https://www.cbt.example/out/circulars.html
    name: CBT circulars
    type: html
    items: li.circular
    title: h3
    link: a
  - url: https://www.ledger.example/news-sitemap.xml
    name: Ledger sitemap
    type: sitemap
  - type: gdelt
    name: GDELT naira
    query: naira
"""
TYPES = {
    "Ledger": "feed",
    "CBT circulars": "html",
    "Ledger sitemap": "sitemap",
    "GDELT naira": "gdelt",
}


def configured(tmp_path: Path) -> Settings:
    settings = make_settings(tmp_path)
    Path(settings.feeds).write_text(FEEDS, encoding="utf-8")
    storage.upgrade(settings)
    return settings


def env(settings: Settings) -> dict[str, str]:
    return {
        "MONITOR_DATABASE_URL": settings.database_url,
        "MONITOR_FEEDS": str(settings.feeds),
        "MONITOR_VAR_DIR": str(settings.var_dir),
    }


def test_it_lists_each_sources_type(tmp_path: Path) -> None:
    settings = configured(tmp_path)

    table = CliRunner().invoke(cli, ["feeds", "list"], env=env(settings))
    rows = CliRunner().invoke(cli, ["feeds", "list", "--json"], env=env(settings))

    assert table.exit_code == 0, table.output
    header, *lines = table.stdout.splitlines()
    assert header.split()[:3] == ["NAME", "TYPE", "URL"]
    for line in lines:
        name = max((n for n in TYPES if line.startswith(n + " ")), key=len)
        assert line[25:33].strip() == TYPES[name]
    assert {row["name"]: row["type"] for row in map(json.loads, rows.stdout.splitlines())} == TYPES


def test_it_shows_each_sources_type_in_the_api_and_on_the_feeds_page(tmp_path: Path) -> None:
    settings = configured(tmp_path)
    with storage.session_scope(settings) as session:
        sync_feeds(session, settings, force=True)
        session.commit()
    client = TestClient(create_app(settings))

    items = client.get("/api/feeds?sort=name").json()["items"]
    page = client.get("/feeds?sort=name").text

    assert {item["name"]: item["type"] for item in items} == TYPES
    assert "<th>Type</th>" in page
    assert '<td class="type">gdelt</td>' in page and '<td class="type">html</td>' in page


def test_it_exports_only_feeds_to_opml_and_says_what_it_left_out(tmp_path: Path) -> None:
    settings = configured(tmp_path)

    result = CliRunner().invoke(cli, ["feeds", "export"], env=env(settings))

    assert result.exit_code == 0
    assert 'xmlUrl="https://www.ledger.example/feed/"' in result.stdout
    assert "circulars" not in result.stdout and "gdelt" not in result.stdout
    assert "left out 3 sources that are not feeds" in result.stderr
